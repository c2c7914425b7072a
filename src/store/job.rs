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

/// Writes one run to the history. A write that fails is reported once; the run goes on in
/// memory.
struct Keeper<'a> {
    store: Option<Store>,
    id: i64,
    notice: &'a mut dyn FnMut(String),
}

impl Keeper<'_> {
    fn keep<T>(&mut self, what: impl FnOnce(&mut Store) -> Result<T, crate::store::StoreError>) {
        if let Some(store) = self.store.as_mut()
            && let Err(e) = what(store)
        {
            (self.notice)(format!(
                "cannot save run #{} to the history ({e}); it goes on in memory",
                self.id
            ));
            self.store = None;
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
    let checkpoints = id.map(|id| places.checkpoints.join(id.to_string()));
    let resumed = match (&store, &checkpoints) {
        (Some(s), Some(dir)) => resume_point(s, id_or_0, dir),
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
        checkpoints: checkpoints.as_deref(),
        done,
    };
    let result = cifar_engine::run_on(device, job, |event| {
        mirror.apply(event.clone());
        match &event {
            TrainEvent::Epoch(e) => {
                keeper.keep(|s| s.record_epoch(id_or_0, e, &mirror.losses, mirror.steps_per_point));
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
            keeper.keep(|s| s.finish(id_or_0, outcome));
            if let Some(dir) = &checkpoints {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        Err(RunError::Train(TrainError::Cancelled)) => {
            keeper.keep(|s| s.set_status(id_or_0, stop.status(), None));
        }
        Err(e) => {
            let msg = e.to_string();
            keeper.keep(|s| s.set_status(id_or_0, Status::Failed, Some(&msg)));
        }
    }
    result
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
