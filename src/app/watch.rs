//! Runs another process trains (a headless `run` or `study` in another terminal, a second
//! interface on the same history), drawn on Train as they go: read from the history, which
//! their process writes every few seconds (`store::lifecycle::LIVE_EVERY`).

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
    /// look for runs started elsewhere every [`LOOK_EVERY`].
    pub(super) fn follow_others(&self) -> Vec<Command> {
        let mut out: Vec<Command> = self
            .runs
            .iter()
            .filter(|r| self.watched.contains(&r.key) && r.status.is_active())
            .map(|r| Command::RefreshRun(r.id))
            .collect();
        if self.ticks % LOOK_EVERY == 1 {
            out.push(Command::FindRunning);
        }
        out
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
