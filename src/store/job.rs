//! One run end to end, on the calling thread: its history row, its checkpoints, the engine.
//! Shared by the interface and headless mode, so both keep every run the same way.

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
    /// Checkpoints go in `checkpoints/<history file name>/<run id>/` (see [`Places::run_dir`]).
    pub checkpoints: PathBuf,
}

impl Places {
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

/// Writes one run to the history. A write that fails is reported once and the run goes on in
/// memory; later writes are still tried (a full disk may have been freed), so the history ends
/// with what could be recorded.
struct Keeper<'a> {
    store: Option<Store>,
    id: i64,
    notice: &'a mut dyn FnMut(String),
    /// Some write failed: the history may miss epochs.
    lost: bool,
}

impl Keeper<'_> {
    /// Whether the write reached the history.
    fn keep<T>(
        &mut self,
        what: impl FnOnce(&mut Store) -> Result<T, crate::store::StoreError>,
    ) -> bool {
        let Some(store) = self.store.as_mut() else {
            return false;
        };
        match what(store) {
            Ok(_) => true,
            Err(e) => {
                if !self.lost {
                    (self.notice)(format!(
                        "cannot save run #{} to the history ({e}); it goes on in memory",
                        self.id
                    ));
                }
                self.lost = true;
                false
            }
        }
    }
}

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
) -> Result<Outcome, RunError> {
    let Task {
        places,
        id,
        data,
        config,
        device: choice,
        stop,
    } = task;
    let store = match id.map(|_| Store::open(&places.history)) {
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
    // Checkpoints only for a run the history holds: without it there is nothing to resume.
    let stored = store.as_ref().and_then(|s| s.get(id_or_0).ok());
    let owner = stored.as_ref().map(|r| checkpoint::Owner {
        history: places.history_name(),
        run: r.id,
        created: r.created_at.clone(),
    });
    let dir = places.run_dir(id_or_0);
    let slot = owner
        .as_ref()
        .map(|owner| checkpoint::Slot { dir: &dir, owner });
    let before = stored.as_ref().map(|r| r.status);
    let resumed = match (stored, slot) {
        (Some(run), Some(slot)) => resume_point(run, slot, config),
        _ => None,
    };
    let (device, fallback) = cifar_engine::backend::select(choice)?;
    if let Some(n) = fallback {
        notice(n);
    }
    let mut keeper = Keeper {
        store,
        id: id_or_0,
        notice,
        lost: false,
    };
    keeper.keep(|s| s.start(id_or_0, &device.to_string()));

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
        checkpoints: slot,
        done,
    };
    let result = cifar_engine::run_on(device, job, |event| {
        mirror.apply(event.clone());
        match &event {
            TrainEvent::Epoch(e) => {
                abort_point(&format!("epoch-{}-saved", e.epoch));
                // Write, commit, then prune: the older checkpoint goes only once the history
                // vouches for the new one.
                if keeper
                    .keep(|s| s.record_epoch(id_or_0, e, &mirror.losses, mirror.steps_per_point))
                    && slot.is_some()
                {
                    checkpoint::prune(&dir, e.epoch);
                }
                beat = Instant::now();
            }
            TrainEvent::Progress(_) if beat.elapsed() > Duration::from_secs(60) => {
                keeper.keep(|s| s.heartbeat(id_or_0));
                beat = Instant::now();
            }
            _ => {}
        }
        emit(event);
    });
    match &result {
        Ok(outcome) => {
            if keeper.lost {
                // Epochs whose write failed earlier, now that the history may take them.
                for e in &outcome.epochs {
                    keeper.keep(|s| {
                        s.record_epoch(id_or_0, e, &mirror.losses, mirror.steps_per_point)
                    });
                }
            }
            if keeper.keep(|s| s.finish(id_or_0, outcome)) && slot.is_some() {
                places.remove_checkpoints(id_or_0);
            }
        }
        Err(e) => {
            let (status, msg) = end_status(e, stop, before);
            keeper.keep(|s| s.set_status(id_or_0, status, msg.as_deref()));
        }
    }
    result
}

/// How a run that did not finish is recorded. A checkpoint that cannot be read leaves the run
/// as resumable as it was: the files may come back (disk, permissions), and a run marked failed
/// could never be resumed.
fn end_status(e: &RunError, stop: &Stop, before: Option<Status>) -> (Status, Option<String>) {
    let msg = Some(e.to_string());
    match e {
        RunError::Train(TrainError::Cancelled) => (stop.status(), None),
        RunError::Train(TrainError::Diverged { .. }) => (Status::Diverged, msg),
        RunError::Train(TrainError::Checkpoint(_)) => {
            let status = before
                .filter(|s| s.resumable())
                .unwrap_or(Status::Interrupted);
            (status, msg)
        }
        _ => (Status::Failed, msg),
    }
}

/// The stored run trimmed to the epochs that its newest own checkpoint backs, `None` when
/// there is none. Epochs stored after that checkpoint are dropped and trained again.
fn resume_point(
    mut run: StoredRun,
    slot: checkpoint::Slot,
    config: &TrainConfig,
) -> Option<StoredRun> {
    // Only an unbroken 1..=k prefix can be continued.
    let vouched = run
        .epochs
        .iter()
        .enumerate()
        .take_while(|(i, e)| e.epoch == i + 1)
        .count();
    let k = checkpoint::newest(slot, config, vouched)?;
    run.epochs.truncate(k);
    (k > 0).then_some(run)
}
