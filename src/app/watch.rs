//! Runs another process trains (a headless `run` or `study` in another terminal, a second
//! interface on the same history, a task of the sweep the Sweep screen follows), drawn on
//! Train as they go: read from their history (a sweep task's own), which their process writes
//! every few seconds (`store::lifecycle::LIVE_EVERY`).

use cifar_engine::events::Progress;

use crate::app::{App, Command};
use crate::run::{Run, Status};

/// Seconds between two looks for runs started elsewhere while Train is shown.
const LOOK_EVERY: u64 = 2;

impl App {
    /// Takes a history row: a run that trains in another process is followed from now on; one
    /// followed is brought up to date (its reports, epochs and end).
    pub(super) fn watch(&mut self, row: &Run) {
        if row.id <= 0 {
            return;
        }
        let key = match self.runs.iter().find(|r| r.id == row.id) {
            // Followed until it ends; an ended one keeps its last state.
            Some(r) if self.watched.contains(&r.key) && r.status.is_active() => r.key,
            // Trained, replayed or opened here.
            Some(_) => return,
            None if matches!(row.status, Status::Running(_)) => {
                let key = self.adopt(row);
                self.watched.insert(key);
                key
            }
            None => return,
        };
        self.follow(key, row);
    }

    /// Takes the run of task `task` of the watched sweep, read from the task's history: one
    /// training is followed from now on, like a run of this history (it has no number here).
    pub(super) fn watch_task(&mut self, task: usize, row: &Run) {
        let key = match self.sweep_runs.get(&task) {
            Some(&key) => key,
            None if matches!(row.status, Status::Running(_)) => {
                let key = self.next_key();
                self.runs.push(Run {
                    key,
                    id: 0,
                    ..row.clone()
                });
                self.opened.insert(key);
                self.watched.insert(key);
                self.sweep_runs.insert(task, key);
                key
            }
            None => return,
        };
        if self
            .runs
            .iter()
            .any(|r| r.key == key && r.status.is_active())
        {
            self.follow(key, row);
        }
    }

    /// Brings a followed run up to date with its row: its reports, epochs and end.
    fn follow(&mut self, key: crate::run::RunKey, row: &Run) {
        let Some(r) = self.runs.iter_mut().find(|r| r.key == key) else {
            return;
        };
        r.train_points = row.train_points.clone();
        r.val_points = row.val_points.clone();
        r.epochs = row.epochs.clone();
        r.steps_per_epoch = row.steps_per_epoch;
        r.device = row.device;
        r.gpu = row.gpu.clone();
        // An ended run names no process any more: the one that trained it is kept.
        if row.trainer.is_some() {
            r.trainer = row.trainer.clone();
        }
        r.status = match &row.status {
            Status::Running(_) => Status::Running(last_report(row)),
            ended => ended.clone(),
        };
        if !r.status.is_active() {
            self.notice = Some(match r.accuracy() {
                Some(acc) => format!(
                    "run {} (trained by another process) finished: test accuracy {acc:.4}",
                    r.number()
                ),
                None => format!(
                    "run {} (trained by another process) is {}",
                    r.number(),
                    r.status.label()
                ),
            });
        }
    }

    /// While Train is shown: the runs followed read again every second until they end, and a
    /// look for runs started elsewhere (and for the watched sweep's running tasks) every
    /// [`LOOK_EVERY`].
    pub(super) fn follow_others(&mut self) -> Vec<Command> {
        let active = |r: &&Run| self.watched.contains(&r.key) && r.status.is_active();
        let mut out: Vec<Command> = (self.runs.iter().filter(active))
            .filter(|r| r.id > 0)
            .map(|r| Command::RefreshRun(r.id))
            .collect();
        let look = self.ticks % LOOK_EVERY == 1;
        if look {
            out.push(Command::FindRunning);
        }
        let followed: Vec<usize> = (self.sweep_runs.iter())
            .filter(|(_, key)| self.runs.iter().filter(active).any(|r| r.key == **key))
            .map(|(&task, _)| task)
            .collect();
        if let Some(w) = &mut self.sweep {
            if look {
                out.extend(w.read());
            }
            let mut tasks = w.running();
            tasks.extend(followed);
            tasks.sort_unstable();
            tasks.dedup();
            out.extend(w.read_runs(tasks));
        }
        out
    }

    /// The sweep task a followed run is, if it is one.
    pub(super) fn task_of(&self, key: crate::run::RunKey) -> Option<usize> {
        self.sweep_runs
            .iter()
            .find(|(_, k)| **k == key)
            .map(|(&task, _)| task)
    }
}

/// The report a run's process wrote last, as it sent it: what the gauge and its ETA read.
fn last_report(row: &Run) -> Option<Progress> {
    let p = row.train_points.last()?;
    let per_epoch = row.steps_per_epoch.max(1);
    let epoch = p.step.saturating_sub(1) / per_epoch;
    Some(Progress {
        epoch,
        step: p.step - epoch * per_epoch,
        steps_per_epoch: per_epoch,
        loss: p.loss,
        accuracy: p.accuracy?,
        images_per_sec: p.images_per_sec?,
        elapsed: p.seconds?,
    })
}
