//! The run queue: runs queued, numbered by the history, started as room allows, ended.

use crate::app::{App, Command, DataState, RunEnd, Screen};
use crate::run::replay::Replay;
use crate::run::variants::Seeds;
use crate::run::{Replaying, Run, RunKey, Status};
use cifar_engine::events::{DeviceChoice, DeviceKind, Outcome};
use cifar_engine::tricks::{self, TrickSet};

/// Runs trained at once on a GPU unless asked otherwise: one run of this small network keeps
/// about a tenth of an H200 busy (measured: 9% utilization), so eight share it.
pub const GPU_PARALLEL: usize = 8;

/// Runs trained at once through wgpu unless asked otherwise (see `Setup::parallel_on`).
pub const WGPU_PARALLEL: usize = 2;

/// Most runs at once that `--parallel` and `[app] parallel` accept.
pub const MAX_PARALLEL: usize = 64;

/// [`GPU_PARALLEL`] times the GPUs `device` deals runs over, at most [`MAX_PARALLEL`]; `count`
/// asks the driver, and only under `cuda:all` (a probe starts a process).
pub fn per_gpu(device: DeviceChoice, count: impl FnOnce() -> usize) -> usize {
    let gpus = match device {
        DeviceChoice::CudaAll => count().max(1),
        _ => 1,
    };
    (GPU_PARALLEL * gpus).min(MAX_PARALLEL)
}

impl App {
    /// The seeds a run (`study` false) or each study scenario trains on: as set, else one for
    /// a run, and for a study 3 on the CPU or through wgpu, 5 on a CUDA GPU (asked for, or seen
    /// training).
    pub fn seeds(&self, study: bool) -> Vec<u64> {
        let seen = |d| self.runs.iter().any(|r| r.device == Some(d));
        let device = match self.values.device {
            DeviceChoice::Wgpu => DeviceKind::Wgpu,
            d if d.is_gpu() || seen(DeviceKind::Cuda) => DeviceKind::Cuda,
            _ if seen(DeviceKind::Wgpu) => DeviceKind::Wgpu,
            _ => DeviceKind::Cpu,
        };
        self.values
            .seeds
            .clone()
            .unwrap_or_else(|| Seeds::default_for(study, device))
            .list(self.values.hyper.seed)
    }

    pub(super) fn enqueue(&mut self, tricks: TrickSet, seed: u64, out: &mut Vec<Command>) {
        let mut config = tricks::resolve(&tricks, &self.values.hyper);
        config.train_limit = self.values.train_limit;
        config.seed = seed;
        let run = Run::new(self.next_key(), tricks, config);
        out.push(Command::Enqueue {
            run: run.key,
            name: run.name.clone(),
            config: run.config.clone(),
        });
        self.recording.insert(run.key);
        self.runs.push(run);
    }

    /// Asks for one run's history row again when the History screen shows it, so the screen
    /// follows a run without reading the whole history on every epoch.
    pub(super) fn refresh_row(&self, stored: Option<i64>, out: &mut Vec<Command>) {
        if let (Some(id), Screen::History) = (stored, self.screen) {
            out.push(Command::RefreshRun(id));
        }
    }

    /// Records in the history that a run ended before training (see [`Command::EndQueued`]).
    pub(super) fn end_queued(
        &self,
        (run, stored): (RunKey, Option<i64>),
        status: Status,
        out: &mut Vec<Command>,
    ) {
        out.push(Command::EndQueued {
            run,
            stored,
            status,
        });
        self.refresh_row(stored, out);
    }

    /// Adds a history run to the session (for Results and Compare), unless it is there
    /// already; its key.
    pub(super) fn adopt(&mut self, stored: &Run) -> RunKey {
        if let Some(r) = self.runs.iter().find(|r| r.id == stored.id) {
            return r.key;
        }
        let key = self.next_key();
        self.runs.push(Run {
            key,
            ..stored.clone()
        });
        self.opened.insert(key);
        key
    }

    /// Plays a finished run of the history back on the live screens at `speed` times its
    /// pace: a session run of its own that nothing trains or records.
    pub fn replay(&mut self, stored: &Run, speed: f64, out: &mut Vec<Command>) {
        let Some(replay) = Replay::of(stored) else {
            self.notice = Some(format!(
                "run #{} is {}: only finished runs replay",
                stored.id,
                stored.status.label()
            ));
            return;
        };
        let key = self.next_key();
        let mut run = Run::new(key, stored.tricks.clone(), stored.config.clone());
        run.name = stored.name.clone();
        run.status = Status::Starting;
        run.replaying = Some(Replaying {
            of: stored.id,
            speed,
        });
        self.runs.push(run);
        self.notice = Some(if replay.epochs_only {
            format!(
                "replaying run #{} at {speed}×, epoch by epoch: it was recorded before its \
                 reports were kept · x stops it",
                stored.id
            )
        } else {
            format!("replaying run #{} at {speed}× · x stops it", stored.id)
        });
        self.screen = Screen::Train;
        out.push(Command::Replay {
            run: key,
            replay: Box::new(replay),
            speed,
        });
    }

    pub(super) fn next_key(&mut self) -> RunKey {
        self.next_id += 1;
        self.next_id - 1
    }

    /// A run's end. One that ends without an outcome may never have reached the engine (no
    /// data, no thread, no device): its row is still queued, and is ended here with it.
    pub(super) fn done(
        &mut self,
        run: RunKey,
        result: Result<Box<Outcome>, RunEnd>,
        out: &mut Vec<Command>,
    ) {
        let Some(r) = self.runs.iter_mut().find(|r| r.key == run) else {
            return;
        };
        let stored = r.stored();
        let replayed = r.replaying.is_some();
        let number = match r.replaying {
            Some(p) => format!("#{} (replay)", p.of),
            None => r.number(),
        };
        r.status = match result {
            Ok(outcome) => {
                // A replay is its run again: compared once, as that run. It ends, as a demo
                // does, on its results.
                if replayed {
                    self.results_run = Some(run);
                    if self.screen == Screen::Train {
                        self.screen = Screen::Results;
                    }
                } else {
                    self.compare_selected.insert(run);
                }
                self.last_finished = Some(run);
                // `e` shows the run that just finished, unless Results is open on another.
                if self.screen != Screen::Results && !replayed {
                    self.results_run = None;
                }
                self.notice = Some(format!(
                    "run {number} finished: test accuracy {:.4}{} · e shows its results",
                    outcome.report.accuracy,
                    r.subset_note()
                ));
                Status::Finished(outcome)
            }
            Err(RunEnd::Cancelled) => Status::Cancelled,
            Err(RunEnd::Failed(why)) => {
                self.notice = Some(format!("run {number} failed: {why}"));
                Status::Failed(why)
            }
            Err(RunEnd::Diverged(why)) => {
                self.notice = Some(format!("run {number} diverged: {why}"));
                Status::Diverged(why)
            }
        };
        match &r.status {
            // A replay has no row of its own to write.
            _ if replayed => {}
            Status::Finished(_) => self.refresh_row(stored, out),
            status => {
                let status = status.clone();
                self.end_queued((run, stored), status, out)
            }
        }
    }

    /// Starts the next queued run while fewer than [`App::parallel`] train, the data is in
    /// and the history has numbered it; runs start in the order they were queued.
    pub(super) fn schedule(&mut self) -> Option<Command> {
        // Replays, and runs other processes train, take no training slot here.
        let training = self
            .runs
            .iter()
            .filter(|r| r.status.is_active() && r.replaying.is_none())
            .filter(|r| !self.watched.contains(&r.key))
            .count();
        if training >= self.parallel.max(1) || !matches!(self.data, DataState::Ready { .. }) {
            return None;
        }
        let device = self.values.device;
        let run = self.runs.iter_mut().find(|r| r.status == Status::Queued)?;
        if self.recording.contains(&run.key) {
            return None;
        }
        run.status = Status::Starting;
        Some(Command::Start {
            run: run.key,
            stored: run.stored(),
            config: run.config.clone(),
            device,
        })
    }

    /// Why these history runs cannot be deleted now, if so: a run that is training or queued,
    /// here or in another cifar-tui (the history's rows of dead processes read interrupted),
    /// would go on training with nowhere to save.
    pub(super) fn busy(&self, ids: &[i64]) -> Option<String> {
        ids.iter().find_map(|&id| {
            let here = self.runs.iter().find(|r| {
                r.stored() == Some(id)
                    && (r.status.is_active() || r.status == Status::Queued)
                    && !self.watched.contains(&r.key)
            });
            if let Some(r) = here {
                return Some(format!(
                    "run #{id} is {} in this session: cancel it first with x, then delete it",
                    r.status.label()
                ));
            }
            let row = self.history.rows().iter().find(|r| r.id == id)?;
            matches!(row.status, Status::Running(_) | Status::Queued).then(|| {
                format!(
                    "run #{id} is {} in another cifar-tui: cancel it there first with x, then \
                     delete it",
                    row.status.label()
                )
            })
        })
    }

    /// Queues a stored run to continue after its last stored epoch.
    pub fn resume(&mut self, stored: &Run) -> Result<(), String> {
        let busy = self.runs.iter().any(|r| {
            r.id == stored.id
                && matches!(
                    r.status,
                    Status::Queued | Status::Starting | Status::Running(_)
                )
        });
        if busy {
            return Err(format!("run #{} is already queued", stored.id));
        }
        stored.check_resumable()?;
        let run = Run {
            key: self.next_key(),
            status: Status::Queued,
            ..stored.clone()
        };
        self.notice = Some(format!(
            "resuming run #{} after epoch {}",
            stored.id,
            stored.epochs.len()
        ));
        self.runs.push(run);
        Ok(())
    }
}
