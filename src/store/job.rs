//! One run end to end, on the calling thread: its history row, its checkpoints, the engine.
//! Shared by the interface and headless mode, so both keep every run the same way.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::app::runs::Run;
use crate::store::{Status, Store, StoreError, StoredRun};
use cifar_engine::checkpoint;
use cifar_engine::config::TrainConfig;
use cifar_engine::data::Cifar10;
use cifar_engine::events::DeviceChoice;
use cifar_engine::events::{Outcome, TrainEvent};
use cifar_engine::runner::TrainError;
use cifar_engine::tricks::TrickSet;
use cifar_engine::{self, RunError};

/// Where runs are kept.
#[derive(Clone, Debug)]
pub struct Places {
    /// The history database.
    pub history: PathBuf,
    /// Checkpoints go in `checkpoints/<run id>/`.
    pub checkpoints: PathBuf,
}

impl Places {
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
pub enum JobError {
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
            Status::Interrupted
        } else {
            Status::Cancelled
        }
    }
}

/// Writes one run to the history. Each write waits for a lock that another process holds (up
/// to a minute, see `Store`); one that still finds it locked is kept and tried again, in order,
/// before the next. Any other failure is reported once, and the run goes on in memory.
struct Keeper<'a> {
    store: Option<Store>,
    id: i64,
    pending: VecDeque<Write>,
    told_locked: bool,
    notice: &'a mut dyn FnMut(String),
}

type Write = Box<dyn Fn(&mut Store) -> Result<(), StoreError>>;

impl Keeper<'_> {
    fn keep(&mut self, write: impl Fn(&mut Store) -> Result<(), StoreError> + 'static) {
        let Some(store) = self.store.as_mut() else {
            return;
        };
        self.pending.push_back(Box::new(write));
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
                    return;
                }
                Err(e) => {
                    (self.notice)(format!(
                        "cannot save run #{} to the history ({e}); it goes on in memory",
                        self.id
                    ));
                    self.store = None;
                    self.pending.clear();
                    return;
                }
            }
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

/// What to train, and where it is kept.
pub struct Task<'a> {
    pub places: &'a Places,
    /// Its number in the history; `None` trains without saving.
    pub id: Option<i64>,
    pub data: &'a Cifar10,
    pub config: &'a TrainConfig,
    pub device: DeviceChoice,
    pub stop: &'a Stop,
}

/// Trains a task, resuming after the epochs already stored when their checkpoint is there.
pub fn execute(
    task: Task,
    notice: &mut dyn FnMut(String),
    emit: &mut dyn FnMut(TrainEvent),
) -> Result<Outcome, JobError> {
    let Task {
        places,
        id,
        data,
        config,
        device: choice,
        stop,
    } = task;
    let mut store = match id.map(|_| Store::open(&places.history)) {
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
    let (device, fallback) = cifar_engine::backend::select(choice).map_err(RunError::from)?;
    if let Some(n) = fallback {
        notice(n);
    }
    // The run is this process's before anything of it is read or trained: two `resume N` at
    // once must not both train it.
    if let Some(s) = &store {
        match s.claim(id_or_0, &device.to_string()) {
            Ok(()) => {}
            Err(
                e @ (StoreError::Taken { .. }
                | StoreError::NotResumable { .. }
                | StoreError::NoRun(_)),
            ) => return Err(JobError::Claim(e)),
            Err(e) => {
                notice(format!(
                    "cannot save run #{id_or_0} to the history ({e}); it goes on in memory"
                ));
                store = None;
            }
        }
    }
    let checkpoints = id.map(|id| places.checkpoints.join(id.to_string()));
    let resumed = match (&store, &checkpoints) {
        (Some(s), Some(dir)) => resume_point(s, id_or_0, dir),
        _ => None,
    };
    let mut keeper = Keeper {
        store,
        id: id_or_0,
        pending: VecDeque::new(),
        told_locked: false,
        notice,
    };

    // A mirror of the run gives the downsampled loss curve that is stored with each epoch; a
    // resumed run's curve goes on from the stored one.
    let mut mirror = match &resumed {
        Some(stored) => Run::from_stored(0, stored),
        None => Run::new(0, TrickSet::new(), config.clone()),
    };
    let done = resumed.map(|r| r.epochs).unwrap_or_default();
    let mut beat = Instant::now();
    let job = cifar_engine::Job {
        data,
        config,
        cancel: &stop.flag,
        checkpoints: checkpoints.as_deref(),
        done,
    };
    let result = cifar_engine::run_on(device, job, |event| {
        mirror.apply(event.clone());
        match &event {
            TrainEvent::Epoch(e) => {
                let (e, losses, every) = (*e, mirror.losses.clone(), mirror.steps_per_point);
                keeper.keep(move |s| s.record_epoch(id_or_0, &e, &losses, every));
                beat = Instant::now();
            }
            TrainEvent::Progress(_) if beat.elapsed() > Duration::from_secs(60) => {
                keeper.keep(move |s| s.heartbeat(id_or_0));
                beat = Instant::now();
            }
            _ => {}
        }
        emit(event);
    });
    match &result {
        Ok(outcome) => {
            let outcome = outcome.clone();
            keeper.keep(move |s| s.finish(id_or_0, &outcome));
            // The checkpoints go only once the record says finished: a finish still waiting
            // for a lock may never land, and the run must stay resumable then.
            if let Some(dir) = checkpoints.as_ref().filter(|_| keeper.pending.is_empty()) {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        Err(RunError::Train(TrainError::Cancelled)) => {
            let status = stop.status();
            keeper.keep(move |s| s.set_status(id_or_0, status, None));
        }
        Err(e) => {
            let msg = e.to_string();
            keeper.keep(move |s| s.set_status(id_or_0, Status::Failed, Some(&msg)));
        }
    }
    keeper.close();
    Ok(result?)
}

/// The stored run trimmed to the epochs that a checkpoint backs, `None` when there are none.
/// Epochs stored after the last checkpoint (a kill between the two writes) are dropped and
/// trained again.
fn resume_point(store: &Store, id: i64, dir: &std::path::Path) -> Option<StoredRun> {
    let mut run = store.get(id).ok()?;
    let backed = checkpoint::latest(dir).unwrap_or(0);
    // Only an unbroken 1..=k prefix can be continued.
    let k = run
        .epochs
        .iter()
        .enumerate()
        .take_while(|(i, e)| e.epoch == i + 1 && e.epoch <= backed)
        .count();
    run.epochs.truncate(k);
    (k > 0).then_some(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::tests::outcome;
    use cifar_engine::config::Hyper;
    use cifar_engine::tricks;
    use rusqlite::Connection;

    fn cfg() -> TrainConfig {
        tricks::resolve(&TrickSet::new(), &Hyper::default())
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
        let mut keeper = Keeper {
            store: Some(store),
            id,
            pending: VecDeque::new(),
            told_locked: false,
            notice: &mut notice,
        };
        let [first, second] = [0, 1].map(|i| outcome(0.5, 2).epochs[i]);
        keeper.keep(move |s| s.record_epoch(id, &first, &[2.0], 20));
        assert_eq!(keeper.pending.len(), 1, "kept for later, not dropped");
        holder.execute_batch("COMMIT").unwrap();
        keeper.keep(move |s| s.record_epoch(id, &second, &[2.0, 1.0], 20));
        assert!(keeper.pending.is_empty());
        let store = keeper.store.take().unwrap();
        assert_eq!(store.get(id).unwrap().epochs.len(), 2);
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(
            notices[0].contains("is locked by another process"),
            "{notices:?}"
        );
    }

    #[test]
    fn reading_commands_write_nothing_and_wait_for_no_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let places = Places {
            history: tmp.path().join("h.db"),
            checkpoints: tmp.path().join("checkpoints"),
        };
        let store = Store::open(&places.history).unwrap();
        let dead = store.insert("x", &cfg()).unwrap();
        store.start(dead, "cpu").unwrap();
        drop(store);
        let holder = Connection::open(&places.history).unwrap();
        // No process has pid 2^30: the run's process died.
        holder
            .execute("UPDATE runs SET pid = 1073741824 WHERE id = ?1", [dead])
            .unwrap();
        // Held all along: a reader that wrote (marking the dead run) would wait, then fail.
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let reader = places.read_history().unwrap();
        let run = reader.get(dead).unwrap();
        assert_eq!(run.status, Status::Interrupted, "read as it stands");
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
