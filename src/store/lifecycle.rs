//! One run end to end, on the calling thread: its history row, its checkpoints, the engine.
//! Shared by the interface and headless mode, so both keep every run the same way.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::run::{Run, Status};
use crate::store::runs::Curves;
use crate::store::{Store, StoreError};
use cifar_engine::checkpoint;
use cifar_engine::config::TrainConfig;
use cifar_engine::data::Cifar10;
use cifar_engine::events::DeviceChoice;
use cifar_engine::events::{EpochStats, Outcome, TrainEvent};
use cifar_engine::runner::TrainError;
use cifar_engine::tricks::TrickSet;
use cifar_engine::{self, RunError};

/// Where runs are kept.
#[derive(Clone, Debug)]
pub struct Storage {
    /// The history database.
    pub history: PathBuf,
    /// Checkpoints go in `checkpoints/<history file name>/<run id>/` (see [`Storage::run_dir`]).
    pub checkpoints: PathBuf,
}

impl Storage {
    /// The history's file name: its checkpoints' folder is named after it, so two histories in
    /// one folder never share a run's checkpoints, and moving the folder keeps them.
    fn history_name(&self) -> String {
        self.history
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "history".into())
    }

    /// Where run `id` of this history keeps its checkpoints.
    pub fn run_dir(&self, id: i64) -> PathBuf {
        self.checkpoints
            .join(self.history_name())
            .join(id.to_string())
    }

    /// Removes run `id`'s checkpoints, and this history's folder once it is empty.
    pub fn remove_checkpoints(&self, id: i64) {
        let dir = self.run_dir(id);
        let _ = std::fs::remove_dir_all(&dir);
        if let Some(parent) = dir.parent() {
            // Fails while other runs keep checkpoints there, as it should.
            let _ = std::fs::remove_dir(parent);
        }
    }

    /// The history, with the runs of dead processes marked interrupted: what every reader
    /// of the history should see first.
    pub fn open_history(&self) -> Result<Store, StoreError> {
        let store = Store::open(&self.history)?;
        store.mark_interrupted()?;
        Ok(store)
    }

    /// The history for reading commands (`runs`, `show`, `export`): opened read-only, so they
    /// write nothing, wait for no lock and work on a read-only disk; runs of dead processes read
    /// as interrupted all the same.
    pub fn read_history(&self) -> Result<Store, StoreError> {
        Store::open_read_only(&self.history)
    }
}

/// Why a run did not train, or did not end well.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Run(#[from] RunError),
    /// Another process has the run, or it cannot be resumed: nothing was trained or written.
    #[error(transparent)]
    Claim(StoreError),
}

/// How a run is asked to stop: cancelled by the person, or interrupted (quit, signal) and so
/// left resumable.
#[derive(Debug, Default)]
pub struct Stop {
    flag: AtomicBool,
    interrupted: AtomicBool,
}

impl Stop {
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }
    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::Relaxed);
        self.flag.store(true, Ordering::Relaxed);
    }
    fn status(&self) -> Status {
        if self.interrupted.load(Ordering::Relaxed) {
            Status::Interrupted(None)
        } else {
            Status::Cancelled
        }
    }
}

/// Writes one run to the history. Each write waits for a lock that another process holds (up
/// to a minute, see `Store`); one that still finds it locked is kept and tried again, in order,
/// before the next. Any other failure is reported once and that write is dropped; later writes
/// are still tried (a full disk may have been freed), so the history ends with what could be
/// recorded.
struct Keeper<'a> {
    store: Option<Store>,
    id: i64,
    pending: VecDeque<Write>,
    told_locked: bool,
    notice: &'a mut dyn FnMut(String),
    /// Some write failed: the history may miss epochs.
    lost: bool,
}

type Write = Box<dyn Fn(&mut Store) -> Result<(), StoreError>>;

impl<'a> Keeper<'a> {
    fn new(store: Option<Store>, id: i64, notice: &'a mut dyn FnMut(String)) -> Keeper<'a> {
        Keeper {
            store,
            id,
            pending: VecDeque::new(),
            told_locked: false,
            notice,
            lost: false,
        }
    }

    /// Whether this write, and every one before it, reached the history.
    fn keep(&mut self, write: impl Fn(&mut Store) -> Result<(), StoreError> + 'static) -> bool {
        let Some(store) = self.store.as_mut() else {
            return false;
        };
        self.pending.push_back(Box::new(write));
        let mut all_landed = true;
        while let Some(next) = self.pending.front() {
            match next(store) {
                Ok(()) => drop(self.pending.pop_front()),
                Err(e @ StoreError::Locked { .. }) => {
                    if !self.told_locked {
                        self.told_locked = true;
                        (self.notice)(format!(
                            "run #{}: {e}; its record is written once the lock is released",
                            self.id
                        ));
                    }
                    return false;
                }
                Err(e) => {
                    if !self.lost {
                        (self.notice)(format!(
                            "cannot save run #{} to the history ({e}); it goes on in memory",
                            self.id
                        ));
                    }
                    self.lost = true;
                    all_landed = false;
                    self.pending.pop_front();
                }
            }
        }
        all_landed
    }

    /// Records every epoch again when an earlier write failed (a disk full then, freed since),
    /// so the history ends whole wherever it can. The loss curve stored is the run's last.
    fn catch_up(&mut self, epochs: &[EpochStats], mirror: &Run) {
        if !self.lost {
            return;
        }
        let id = self.id;
        for &e in epochs {
            let mirror = mirror.clone();
            self.keep(move |s| s.record_epoch(id, &e, Curves::of(&mirror)));
        }
    }

    /// Says what the history never got, when a lock outlived the run.
    fn close(self) {
        if self.store.is_some() && !self.pending.is_empty() {
            (self.notice)(format!(
                "run #{}: the history stayed locked; its last {} write(s) were not saved",
                self.id,
                self.pending.len()
            ));
        }
    }
}

/// How often a training run writes its reports so far to the history (its epochs are written
/// as they end): what another cifar-tui watching it draws, at most this late.
pub const LIVE_EVERY: Duration = Duration::from_secs(2);

/// Aborts the process at a named point when `CIFAR_TUI_TEST_ABORT_AT` names it: tests kill a
/// run at an exact moment (e.g. between its checkpoint and its history commit) that no sleep
/// could hit.
fn abort_point(point: &str) {
    if std::env::var_os("CIFAR_TUI_TEST_ABORT_AT").is_some_and(|p| p == point) {
        std::process::abort();
    }
}

/// What to train, and where it is kept.
pub struct Task<'a> {
    pub storage: &'a Storage,
    /// Its number in the history; `None` trains without saving.
    pub id: Option<i64>,
    pub data: &'a Cifar10,
    pub config: &'a TrainConfig,
    pub device: DeviceChoice,
    pub stop: &'a Stop,
    /// Validation points per epoch ([`cifar_engine::events::VAL_POINTS`] while someone watches
    /// the charts, 1 from scripts: only the epoch's own).
    pub val_points: usize,
}

/// Trains a task, resuming after the epochs already stored when their checkpoint is there.
pub fn execute(
    task: Task,
    notice: &mut dyn FnMut(String),
    emit: &mut dyn FnMut(TrainEvent),
) -> Result<Outcome, LifecycleError> {
    let Task {
        storage,
        id,
        data,
        config,
        device: choice,
        stop,
        val_points,
    } = task;
    let mut store = match id.map(|_| Store::open(&storage.history)) {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            notice(format!(
                "cannot open the history ({e}); this run is kept in memory"
            ));
            None
        }
        None => None,
    };
    let id_or_0 = id.unwrap_or(0);
    let (place, fallback) = match cifar_engine::backend::select(choice) {
        Ok(picked) => picked,
        Err(e) => {
            let e = RunError::from(e);
            // It never started: failed, not left queued to read as interrupted once this
            // process is gone, and be offered for a resume that would fail the same way.
            if let Some(s) = &store
                && let Err(why) = s.set_status(id_or_0, &Status::Failed(e.to_string()))
            {
                notice(format!("cannot record run #{id_or_0} as failed ({why})"));
            }
            return Err(e.into());
        }
    };
    if let Some(n) = fallback {
        notice(n);
    }
    // Which GPU, where there may be several (`cuda:N`, `cuda:all`).
    if let cifar_engine::backend::Place::Gpu(n) = place {
        tracing::info!("run #{} trains on GPU {n}", id.unwrap_or(0));
    }
    // The run is this process's before anything of it is read or trained: two `resume N` at
    // once must not both train it.
    if let Some(s) = &store {
        // The device as `Run::device_label` reads it back: the GPU's name with its kind.
        let device = match place.gpu_name() {
            Some(gpu) => format!("{}: {gpu}", place.kind()),
            None => place.kind().to_string(),
        };
        match s.claim(id_or_0, &device, data.fingerprint()) {
            Ok(()) => {}
            Err(
                e @ (StoreError::Taken { .. }
                | StoreError::NotResumable { .. }
                | StoreError::OtherData { .. }
                | StoreError::NoRun(_)),
            ) => return Err(LifecycleError::Claim(e)),
            Err(e) => {
                notice(format!(
                    "cannot save run #{id_or_0} to the history ({e}); it goes on in memory"
                ));
                store = None;
            }
        }
    }
    // Checkpoints only for a run the history holds: without it there is nothing to resume.
    let stored = store.as_ref().and_then(|s| s.get(id_or_0).ok());
    let owner = stored.as_ref().map(|r| checkpoint::Owner {
        history: storage.history_name(),
        run: r.id,
        created: r.created_at.clone().unwrap_or_default(),
    });
    let dir = storage.run_dir(id_or_0);
    let slot = owner
        .as_ref()
        .map(|owner| checkpoint::Slot { dir: &dir, owner });
    let stored_epochs = stored.as_ref().map_or(0, |r| r.epochs.len());
    let resumed = match (stored, slot) {
        (Some(run), Some(slot)) => resume_point(run, slot, config),
        _ => None,
    };
    let kept = resumed.as_ref().map_or(0, |r| r.epochs.len());
    if kept < stored_epochs {
        notice(lost_epochs(storage, id_or_0, &dir, kept, stored_epochs));
    }
    let mut keeper = Keeper::new(store, id_or_0, notice);

    // A mirror of the run gives the downsampled loss curve that is stored with each epoch; a
    // resumed run's curve goes on from the stored one.
    let mut mirror = match &resumed {
        Some(stored) => stored.clone(),
        None => Run::new(0, TrickSet::new(), config.clone()),
    };
    let done = resumed.map(|r| r.epochs).unwrap_or_default();
    let mut beat = Instant::now();
    let asked = std::rc::Rc::new(std::cell::Cell::new(false));
    let job = cifar_engine::RunInputs {
        data,
        config,
        cancel: &stop.flag,
        checkpoints: slot,
        done,
        val_points,
        warm_up: false,
    };
    let result = cifar_engine::run_on(place, job, |event| {
        mirror.apply(event.clone());
        match &event {
            TrainEvent::Epoch(e) => {
                abort_point(&format!("epoch-{}-saved", e.epoch));
                // Write, commit, then prune: the older checkpoint goes only once the history
                // vouches for the new one.
                let (e, curves, heard) = (*e, mirror.clone(), asked.clone());
                let landed = keeper.keep(move |s| {
                    s.record_epoch(id_or_0, &e, Curves::of(&curves))?;
                    heard.set(heard.get() || s.cancel_asked(id_or_0)?);
                    Ok(())
                });
                if landed && slot.is_some() {
                    checkpoint::prune(&dir, e.epoch);
                }
                if asked.get() {
                    stop.cancel();
                }
                beat = Instant::now();
            }
            // The reports so far, for viewers in other processes, at a bounded rate; a viewer
            // that asked the run to stop is heard then.
            TrainEvent::Progress(_) if beat.elapsed() > LIVE_EVERY => {
                let (curves, heard) = (mirror.clone(), asked.clone());
                keeper.keep(move |s| {
                    s.record_progress(id_or_0, Curves::of(&curves))?;
                    heard.set(heard.get() || s.cancel_asked(id_or_0)?);
                    Ok(())
                });
                if asked.get() {
                    stop.cancel();
                }
                beat = Instant::now();
            }
            _ => {}
        }
        emit(event);
    });
    match &result {
        Ok(outcome) => {
            keeper.catch_up(&outcome.epochs, &mirror);
            let outcome = outcome.clone();
            // The checkpoints go only once the record says finished: a finish still waiting
            // for a lock may never land, and the run must stay resumable then.
            if keeper.keep(move |s| s.finish(id_or_0, &outcome)) && slot.is_some() {
                storage.remove_checkpoints(id_or_0);
            }
        }
        Err(e) => {
            let status = end_status(e, stop);
            keeper.keep(move |s| s.set_status(id_or_0, &status));
        }
    }
    keeper.close();
    Ok(result?)
}

/// How a run that did not finish is recorded. A checkpoint that cannot be read leaves the run
/// resumable (interrupted): the files may come back (disk, permissions), and a run marked
/// failed could never be resumed.
fn end_status(e: &RunError, stop: &Stop) -> Status {
    let msg = e.to_string();
    match e {
        RunError::Train(TrainError::Cancelled) => stop.status(),
        RunError::Train(TrainError::Diverged { .. }) => Status::Diverged(msg),
        RunError::Train(TrainError::Checkpoint(_)) => Status::Interrupted(Some(msg)),
        _ => Status::Failed(msg),
    }
}

/// The stored run trimmed to the epochs that its newest own checkpoint backs, `None` when
/// there is none. Epochs stored after that checkpoint are dropped and trained again.
/// What a resume says when it cannot continue after every stored epoch: where it looked, and
/// that it trains the rest again (never "resuming after epoch k" and then epoch 1 anew).
fn lost_epochs(storage: &Storage, id: i64, dir: &Path, kept: usize, stored: usize) -> String {
    // Before checkpoints had owners they lay in checkpoints/<run>/, with no manifest to check
    // them by: this version cannot tell whose they are, so it does not read them.
    let legacy = storage.checkpoints.join(id.to_string());
    let why = match checkpoint::epoch_folders(&legacy).max() {
        Some(k) => format!(
            "its checkpoint after epoch {k} is in the old layout ({}), which this version \
             cannot read",
            legacy.display()
        ),
        None => format!(
            "no checkpoint of it after epoch {stored} is in {}",
            dir.display()
        ),
    };
    format!(
        "run #{id}: {why}; it goes on after epoch {kept} of the {stored} stored and trains the \
         rest again"
    )
}

fn resume_point(mut run: Run, slot: checkpoint::Slot, config: &TrainConfig) -> Option<Run> {
    // Only an unbroken 1..=k prefix can be continued.
    let vouched = run
        .epochs
        .iter()
        .enumerate()
        .take_while(|(i, e)| e.epoch == i + 1)
        .count();
    let k = checkpoint::newest(slot, config, vouched)?;
    run.epochs.truncate(k);
    // Reports written within the epoch it was stopped in are trained again, and sent again.
    let end = k * run.steps_per_epoch;
    run.train_points.retain(|p| p.step <= end);
    run.val_points.retain(|v| v.at <= k as f64);
    (k > 0).then_some(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::fixtures::{outcome, train_points};
    use cifar_engine::config::Hyper;
    use cifar_engine::tricks;
    use rusqlite::Connection;

    fn cfg() -> TrainConfig {
        tricks::resolve(&TrickSet::new(), &Hyper::default())
    }

    /// A history in a folder of its own and a data set of 20 training and 10 test images.
    fn tiny() -> (tempfile::TempDir, Storage, cifar_engine::data::Cifar10) {
        use cifar_engine::data::{Cifar10, Split, cifar::IMAGE_BYTES};
        let tmp = tempfile::tempdir().unwrap();
        let storage = Storage {
            history: tmp.path().join("h.db"),
            checkpoints: tmp.path().join("checkpoints"),
        };
        let split = |n: usize| Split {
            images: (0..n * IMAGE_BYTES).map(|i| (i % 251) as u8).collect(),
            labels: (0..n).map(|i| (i % 10) as u8).collect(),
        };
        (tmp, storage, Cifar10::new(split(20), split(10)))
    }

    /// Issue 21: what a second interface reads from the history is, point for point, what the
    /// interface that trains the run drew from its events: every report and validation point.
    #[test]
    fn the_history_holds_the_curves_the_trainer_drew() {
        let (_dir, storage, data) = tiny();
        let mut config = cfg();
        config.epochs = 3;
        config.batch_size = 2;
        let id = Store::open(&storage.history)
            .unwrap()
            .insert("baseline", &config)
            .unwrap();
        let task = Task {
            storage: &storage,
            id: Some(id),
            data: &data,
            config: &config,
            device: cifar_engine::events::DeviceChoice::Cpu,
            stop: &Stop::default(),
            val_points: cifar_engine::events::VAL_POINTS,
        };
        // The trainer's screen: its events folded into a run, as the app does.
        let mut drawn = Run::new(1, TrickSet::new(), config.clone());
        execute(task, &mut |_| {}, &mut |e| drawn.apply(e)).unwrap();
        let read = Store::open(&storage.history).unwrap().get(id).unwrap();
        assert_eq!(
            drawn.train_points.len(),
            3,
            "a report at each end of 10 steps"
        );
        assert_eq!(read.train_points, drawn.train_points);
        assert_eq!(read.val_points.len(), 3 * 3);
        assert_eq!(read.val_points, drawn.val_points);
        assert_eq!(read.steps_per_epoch, drawn.steps_per_epoch);
    }

    /// Issue 21: a viewer in another process asks, through the history, that a run stop; the
    /// process that trains it hears it at its next write and ends it cancelled, resumable.
    #[test]
    fn a_run_stops_when_a_viewer_asks_through_the_history() {
        let (_dir, storage, data) = tiny();
        let mut config = cfg();
        config.epochs = 4;
        config.batch_size = 10;
        let id = Store::open(&storage.history)
            .unwrap()
            .insert("baseline", &config)
            .unwrap();
        let task = Task {
            storage: &storage,
            id: Some(id),
            data: &data,
            config: &config,
            device: cifar_engine::events::DeviceChoice::Cpu,
            stop: &Stop::default(),
            val_points: 0,
        };
        // The viewer: another connection to the history, asking after the first epoch.
        let viewer = Store::open(&storage.history).unwrap();
        let result = execute(task, &mut |_| {}, &mut |e| {
            if let TrainEvent::Epoch(e) = e
                && e.epoch == 1
            {
                assert!(viewer.ask_cancel(id).unwrap(), "it is training");
            }
        });
        assert!(result.is_err(), "cancelled, not finished");
        let run = viewer.get(id).unwrap();
        assert_eq!(run.status, Status::Cancelled);
        assert!(run.status.resumable());
        assert_eq!(
            run.epochs.len(),
            2,
            "it stopped in the epoch after the one it heard in"
        );
        // A resume starts without the old request.
        viewer.claim(id, "cpu", data.fingerprint()).unwrap();
        assert!(!viewer.cancel_asked(id).unwrap());
    }

    /// A run stopped after an epoch whose checkpoint is only in the old layout says so and
    /// trains that epoch again, rather than claiming to go on after it.
    #[test]
    fn a_resume_without_its_checkpoint_says_what_it_trains_again() {
        let (_dir, storage, data) = tiny();
        let mut config = cfg();
        config.epochs = 2;
        config.batch_size = 20;
        let mut store = Store::open(&storage.history).unwrap();
        let id = store.insert("baseline", &config).unwrap();
        store.claim(id, "cpu", data.fingerprint()).unwrap();
        store
            .record_epoch(
                id,
                &outcome(0.5, 2).epochs[0],
                Curves::points(&train_points(&[2.0]), 20),
            )
            .unwrap();
        store.set_status(id, &Status::Interrupted(None)).unwrap();
        std::fs::create_dir_all(storage.checkpoints.join(format!("{id}/epoch-1"))).unwrap();
        drop(store);
        let mut notices = Vec::new();
        let task = Task {
            storage: &storage,
            id: Some(id),
            data: &data,
            config: &config,
            device: cifar_engine::events::DeviceChoice::Cpu,
            stop: &Stop::default(),
            val_points: 0,
        };
        let mut epochs = Vec::new();
        let outcome = execute(task, &mut |n| notices.push(n), &mut |e| {
            if let TrainEvent::Epoch(e) = e {
                epochs.push(e.epoch);
            }
        })
        .unwrap();
        assert_eq!(epochs, [1, 2], "epoch 1 trained again");
        assert_eq!(outcome.epochs.len(), 2);
        let said = notices.join("\n");
        assert!(
            said.contains(&format!(
                "run #{id}: its checkpoint after epoch 1 is in the old layout"
            )) && said.contains("it goes on after epoch 0 of the 1 stored"),
            "{said}"
        );
    }

    #[test]
    fn a_write_that_finds_the_history_still_locked_is_written_after_the_lock_goes() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("h.db");
        let mut store = Store::open(&path).unwrap();
        let id = store.insert("x", &cfg()).unwrap();
        // No waiting at all: the first write gives up at once, as one would after a minute.
        store.set_patience(Duration::ZERO, Duration::ZERO);
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let mut notices = Vec::new();
        let mut notice = |n: String| notices.push(n);
        let mut keeper = Keeper::new(Some(store), id, &mut notice);
        let [first, second] = [0, 1].map(|i| outcome(0.5, 2).epochs[i]);
        keeper.keep(move |s| s.record_epoch(id, &first, Curves::points(&train_points(&[2.0]), 20)));
        assert_eq!(keeper.pending.len(), 1, "kept for later, not dropped");
        holder.execute_batch("COMMIT").unwrap();
        keeper.keep(move |s| {
            s.record_epoch(id, &second, Curves::points(&train_points(&[2.0, 1.0]), 20))
        });
        assert!(keeper.pending.is_empty());
        let store = keeper.store.take().unwrap();
        assert_eq!(store.get(id).unwrap().epochs.len(), 2);
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(
            notices[0].contains("is locked by another process"),
            "{notices:?}"
        );
    }

    /// Item 13: a write that fails for good (a full disk) is reported once and dropped; the
    /// writes after it are still tried, and the epochs it lost are recorded again at the end.
    #[test]
    fn after_a_failed_write_later_writes_land_and_lost_epochs_are_recorded_again() {
        let store = Store::in_memory();
        let id = store.insert("x", &cfg()).unwrap();
        let mut notices = Vec::new();
        let mut notice = |n: String| notices.push(n);
        let mut keeper = Keeper::new(Some(store), id, &mut notice);
        let epochs = outcome(0.5, 3).epochs;
        let full = || {
            StoreError::Sql(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                Some("database or disk is full".into()),
            ))
        };
        assert!(!keeper.keep(move |_| Err(full())), "epoch 1 is lost");
        assert!(!keeper.keep(move |_| Err(full())), "so is epoch 2");
        let third = epochs[2];
        assert!(keeper.keep(move |s| s.record_epoch(
            id,
            &third,
            Curves::points(&train_points(&[1.0]), 47)
        )));
        assert_eq!(
            keeper.store.as_ref().unwrap().get(id).unwrap().epochs.len(),
            1
        );
        let mut mirror = Run::new(0, TrickSet::new(), cfg());
        mirror.train_points = train_points(&[2.0, 1.5, 1.0]);
        mirror.steps_per_epoch = 47;
        keeper.catch_up(&epochs, &mirror);
        let run = keeper.store.take().unwrap().get(id).unwrap();
        assert_eq!(
            run.epochs, epochs,
            "every epoch is in the history at the end"
        );
        assert_eq!(run.train_points, train_points(&[2.0, 1.5, 1.0]));
        assert_eq!(run.steps_per_epoch, 47);
        assert_eq!(notices.len(), 1, "said once: {notices:?}");
        assert!(notices[0].contains("full"), "{notices:?}");
    }

    fn places_in(dir: &std::path::Path) -> Storage {
        Storage {
            history: dir.join("h.db"),
            checkpoints: dir.join("checkpoints"),
        }
    }

    #[test]
    fn a_run_whose_device_cannot_be_had_is_failed_not_resumable() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = places_in(tmp.path());
        let id = Store::open(&storage.history)
            .unwrap()
            .insert("x", &cfg())
            .unwrap();
        let task = Task {
            storage: &storage,
            id: Some(id),
            data: &Default::default(),
            config: &cfg(),
            // No machine that runs the tests has eight NVIDIA GPUs.
            device: DeviceChoice::Cuda(7),
            stop: &Stop::default(),
            val_points: 1,
        };
        assert!(execute(task, &mut |_| {}, &mut |_| {}).is_err());
        let run = storage.read_history().unwrap().get(id).unwrap();
        assert_eq!(run.status.label(), "failed", "{:?}", run.status);
        assert!(run.check_resumable().is_err());
    }

    #[test]
    fn reading_commands_write_nothing_and_wait_for_no_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = places_in(tmp.path());
        let store = Store::open(&storage.history).unwrap();
        let dead = store.insert("x", &cfg()).unwrap();
        store.start(dead, "cpu").unwrap();
        drop(store);
        let holder = Connection::open(&storage.history).unwrap();
        // No process has pid 2^30: the run's process died.
        holder
            .execute("UPDATE runs SET pid = 1073741824 WHERE id = ?1", [dead])
            .unwrap();
        // Held all along: a reader that wrote (marking the dead run) would wait, then fail.
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let reader = storage.read_history().unwrap();
        let run = reader.get(dead).unwrap();
        assert_eq!(run.status.label(), "interrupted", "read as it stands");
        assert_eq!(reader.list().unwrap().len(), 1);
        holder.execute_batch("COMMIT").unwrap();
        let stored: String = holder
            .query_row("SELECT status FROM runs WHERE id = ?1", [dead], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(stored, "running", "nothing written");
    }
}
