//! A run as the app sees it: its configuration, status and bounded metric histories. Pure data.

use serde::Serialize;

use cifar_engine::config::TrainConfig;
use cifar_engine::events::Device;
use cifar_engine::events::{EpochStats, Outcome, Progress, TrainEvent};
use cifar_engine::tricks::{self, TrickSet};

pub type RunId = u64;

/// Most loss points a run keeps; older points are merged pairwise beyond that, so a long run
/// costs bounded memory and drawing time.
pub const MAX_LOSS_POINTS: usize = 1024;

#[derive(Clone, Debug, PartialEq)]
pub enum RunStatus {
    Queued,
    /// Data going onto the device, model being built.
    Starting,
    Running(Progress),
    Finished(Box<Outcome>),
    Cancelled,
    Failed(String),
    /// Stopped because its loss blew up; the reason names the setting to lower.
    Diverged(String),
}

impl RunStatus {
    pub fn label(&self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Starting => "starting",
            RunStatus::Running(_) => "running",
            RunStatus::Finished(_) => "finished",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Failed(_) => "failed",
            RunStatus::Diverged(_) => "diverged",
        }
    }

    pub fn is_active(&self) -> bool {
        matches!(self, RunStatus::Starting | RunStatus::Running(_))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub id: RunId,
    /// The preset's name, or "custom".
    pub name: String,
    pub tricks: TrickSet,
    pub config: TrainConfig,
    pub status: RunStatus,
    pub device: Option<Device>,
    /// Mean training loss of each report window, oldest first (see [`MAX_LOSS_POINTS`]).
    pub losses: Vec<f64>,
    /// Training steps each point of `losses` stands for.
    pub steps_per_point: usize,
    pub epochs: Vec<EpochStats>,
    pub steps_per_epoch: usize,
    /// Its number in the history, once recorded there.
    pub stored: Option<i64>,
}

impl Run {
    pub fn new(id: RunId, tricks: TrickSet, config: TrainConfig) -> Self {
        Self {
            id,
            name: tricks::preset_name(&tricks).unwrap_or("custom").to_string(),
            tricks,
            config,
            status: RunStatus::Queued,
            device: None,
            losses: Vec::new(),
            steps_per_point: cifar_engine::events::REPORT_EVERY,
            epochs: Vec::new(),
            steps_per_epoch: 0,
            stored: None,
        }
    }

    /// A run of the history, queued, with the epochs it already has.
    pub fn from_stored(id: RunId, stored: &crate::store::StoredRun) -> Self {
        let tricks: TrickSet = stored.config.tricks.iter().copied().collect();
        let mut run = Run::new(id, tricks, stored.config.clone());
        run.name = stored.name.clone();
        run.stored = Some(stored.id);
        run.epochs = stored.epochs.clone();
        run.losses = stored.losses.clone();
        run.steps_per_point = stored.steps_per_point;
        run
    }

    /// Folds one engine event into the run.
    pub fn apply(&mut self, event: TrainEvent) {
        match event {
            TrainEvent::Started {
                device,
                steps_per_epoch,
                ..
            } => {
                self.device = Some(device);
                self.steps_per_epoch = steps_per_epoch;
            }
            TrainEvent::Progress(p) => {
                self.push_loss(p.loss);
                self.status = RunStatus::Running(p);
            }
            TrainEvent::Epoch(e) => self.epochs.push(e),
            TrainEvent::Warning(_) => {}
        }
    }

    fn push_loss(&mut self, loss: f64) {
        self.losses.push(loss);
        if self.losses.len() > MAX_LOSS_POINTS {
            self.losses = self
                .losses
                .chunks(2)
                .map(|c| c.iter().sum::<f64>() / c.len() as f64)
                .collect();
            self.steps_per_point *= 2;
        }
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.status {
            RunStatus::Finished(o) => Some(o),
            _ => None,
        }
    }

    /// Fraction of the run done, in [0, 1].
    pub fn progress(&self) -> f64 {
        let total = self.config.epochs * self.steps_per_epoch.max(1);
        let done = match &self.status {
            RunStatus::Running(p) => p.epoch * p.steps_per_epoch + p.step,
            RunStatus::Finished(_) => total,
            _ => self.epochs.len() * self.steps_per_epoch,
        };
        (done as f64 / total.max(1) as f64).clamp(0.0, 1.0)
    }

    /// Seconds left, from the pace so far (evaluation included); `None` before a first report.
    pub fn eta(&self) -> Option<f64> {
        let RunStatus::Running(p) = &self.status else {
            return None;
        };
        let done = self.progress();
        (done > 0.0).then(|| p.elapsed / done * (1.0 - done))
    }

    /// " on 20000 imgs" when trained on a subset (quick demos), so figures are read as such.
    pub fn subset_note(&self) -> String {
        match self.config.train_limit {
            Some(n) => format!(" on {n} imgs"),
            None => String::new(),
        }
    }
}

/// The record written for every run: the resolved configuration and every figure.
#[derive(Serialize)]
pub struct RunRecord<'a> {
    pub name: &'a str,
    pub tricks: String,
    pub config: &'a TrainConfig,
    #[serde(flatten)]
    pub outcome: &'a Outcome,
}

#[cfg(test)]
mod tests {
    use super::*;
    use cifar_engine::config::Hyper;

    fn progress(epoch: usize, step: usize) -> Progress {
        Progress {
            epoch,
            step,
            steps_per_epoch: 10,
            loss: 1.0,
            images_per_sec: 100.0,
            elapsed: 30.0,
        }
    }

    #[test]
    fn progress_and_eta_follow_events() {
        let cfg = tricks::resolve(&TrickSet::new(), &Hyper::default());
        let mut run = Run::new(1, TrickSet::new(), cfg);
        assert_eq!(run.name, "baseline");
        run.apply(TrainEvent::Started {
            device: Device::Cpu,
            train_images: 640,
            test_images: 100,
            steps_per_epoch: 10,
        });
        run.apply(TrainEvent::Progress(progress(2, 5)));
        // 25 of 100 steps in 30 s -> 90 s left.
        assert!((run.progress() - 0.25).abs() < 1e-12);
        assert!((run.eta().unwrap() - 90.0).abs() < 1e-9);
        assert_eq!(run.losses.len(), 1);
    }

    #[test]
    fn loss_history_stays_bounded() {
        let cfg = tricks::resolve(&TrickSet::new(), &Hyper::default());
        let mut run = Run::new(1, TrickSet::new(), cfg);
        for i in 0..5000 {
            run.apply(TrainEvent::Progress(Progress {
                loss: i as f64,
                ..progress(0, 1)
            }));
        }
        assert!(run.losses.len() <= MAX_LOSS_POINTS);
        assert!(run.steps_per_point > cifar_engine::events::REPORT_EVERY);
        // Merging keeps the curve's shape: still increasing.
        assert!(run.losses.windows(2).all(|w| w[0] < w[1]));
    }
}
