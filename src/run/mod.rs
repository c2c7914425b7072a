//! A run: one training of one configuration. The one model every room shares: the app folds
//! engine events into it, the history stores it and reads it back as it, every view draws it.

#[cfg(test)]
pub(crate) mod fixtures;
pub mod points;
pub mod replay;
pub mod variants;

use serde::Serialize;

use cifar_engine::config::TrainConfig;
use cifar_engine::events::DeviceKind;
use cifar_engine::events::{EpochStats, Outcome, Progress, TrainEvent, Validation};
use cifar_engine::pictures::{Filters, InputView};
use cifar_engine::tricks::{self, TrickSet};

pub use points::{MAX_TRAIN_POINTS, TrainPoint};

/// The session's key for a run: engine events and commands name a run by it.
pub type RunKey = u64;

#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Queued,
    /// Data going onto the device, model being built.
    Starting,
    /// Training; the latest report when this process trains it (`None`: another process does,
    /// as read from the history).
    Running(Option<Progress>),
    Finished(Box<Outcome>),
    Cancelled,
    Failed(String),
    /// Stopped because its loss blew up; the reason names the setting to lower. Not resumable:
    /// it would blow up again; it is started anew with a lower learning rate.
    Diverged(String),
    /// Its process stopped before it ended (kill, power loss, hang-up, quit, a checkpoint that
    /// could not be written): resumable. Why, when known.
    Interrupted(Option<String>),
}

impl Status {
    /// The word for it, as lists show it and the history stores it.
    pub fn label(&self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Starting => "starting",
            Status::Running(_) => "running",
            Status::Finished(_) => "finished",
            Status::Cancelled => "cancelled",
            Status::Failed(_) => "failed",
            Status::Diverged(_) => "diverged",
            Status::Interrupted(_) => "interrupted",
        }
    }

    /// Why it ended as it did, when it did not finish.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Status::Failed(why) | Status::Diverged(why) => Some(why),
            Status::Interrupted(why) => why.as_deref(),
            _ => None,
        }
    }

    pub fn is_active(&self) -> bool {
        matches!(self, Status::Starting | Status::Running(_))
    }

    /// Whether `resume` can continue it.
    pub fn resumable(&self) -> bool {
        matches!(self, Status::Interrupted(_) | Status::Cancelled)
    }
}

/// Who trains a run: a process of a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trainer {
    pub pid: i64,
    pub host: String,
}

impl std::fmt::Display for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "process {} on {}", self.pid, self.host)
    }
}

/// What a replayed run plays back: run `of` of the history, at `speed` times its pace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Replaying {
    pub of: i64,
    pub speed: f64,
}

/// Where a run imported from a sweep was trained (see `store::sweep`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Origin {
    /// The sweep's unique name (its plan's `sweep`).
    pub sweep: String,
    /// The task's index in the sweep (SLURM's array task id).
    pub task: usize,
    /// The scheduler's job id (`ARRAYJOB_TASK` on SLURM), when there was one.
    pub job: Option<String>,
    pub host: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// Its key in this session; 0 for a run read from the history and not opened.
    pub key: RunKey,
    /// Its number in the history: the number users see. 0 (never a history number) while
    /// the history numbers it, or for good when the history is unavailable; see [`Run::stored`].
    pub id: i64,
    /// When it was queued (RFC 3339, UTC), once the history has it.
    pub created_at: Option<String>,
    /// The preset's name, or "custom".
    pub name: String,
    pub tricks: TrickSet,
    pub config: TrainConfig,
    pub status: Status,
    pub device: Option<DeviceKind>,
    /// The GPU's name where its backend gives one ("Apple M2 (Metal)", through wgpu).
    pub gpu: Option<String>,
    /// Mean training loss of each report window with the step it ended at, oldest first (see
    /// [`MAX_TRAIN_POINTS`]).
    pub train_points: Vec<TrainPoint>,
    /// Validation points within the epochs while this session trains it (on the test set's
    /// first [`cifar_engine::events::VAL_POINT_IMAGES`] images; each epoch's own is in `epochs`).
    pub val_points: Vec<Validation>,
    pub epochs: Vec<EpochStats>,
    pub steps_per_epoch: usize,
    /// Scoring the test set after an epoch's steps (the gauge says so, not a frozen ETA).
    pub evaluating: bool,
    /// Kernels compiled and tuned before the first step on a GPU: done of total.
    pub preparing: Option<(usize, usize)>,
    /// ZCA whitening being fitted before anything else: Newton–Schulz steps done.
    pub fitting_zca: Option<usize>,
    /// Where it was trained when it came from a sweep; `None` for runs of this machine.
    pub origin: Option<Origin>,
    /// A run of the history played back here (see [`replay`]): nothing of it is trained or
    /// recorded.
    pub replaying: Option<Replaying>,
    /// The process that trains it, as the history names it, while it is queued or training.
    pub trainer: Option<Trainer>,
    /// The first convolution's filters as of the last epoch this session saw.
    pub filters: Option<Filters>,
    /// Training images as the network receives them, while this session trains it.
    pub inputs: Option<InputView>,
    /// Seconds between two reports within an epoch, smoothed: how often they come.
    pub(crate) report_gap: Option<f64>,
    /// Seconds the process stood still (SIGSTOP, Ctrl-Z) while it trained, left out of the
    /// pace the ETA is drawn from.
    pub(crate) paused: f64,
}

impl Run {
    pub fn new(key: RunKey, tricks: TrickSet, config: TrainConfig) -> Self {
        Self {
            key,
            id: 0,
            created_at: None,
            name: tricks::preset_name(&tricks).unwrap_or("custom").to_string(),
            tricks,
            config,
            status: Status::Queued,
            device: None,
            gpu: None,
            train_points: Vec::new(),
            val_points: Vec::new(),
            epochs: Vec::new(),
            steps_per_epoch: 0,
            evaluating: false,
            preparing: None,
            fitting_zca: None,
            origin: None,
            replaying: None,
            trainer: None,
            filters: None,
            inputs: None,
            report_gap: None,
            paused: 0.0,
        }
    }

    /// The device it trained on, as its outcome records it (the one its figures come from).
    pub fn trained_on(&self) -> Option<DeviceKind> {
        self.outcome().map(|o| o.device).or(self.device)
    }

    /// Where it trained, as the screens and the history name it: "cpu", "cuda",
    /// "wgpu: Apple M2 (Metal)".
    pub fn device_label(&self) -> Option<String> {
        self.device.map(|d| match &self.gpu {
            Some(gpu) => format!("{d}: {gpu}"),
            None => d.to_string(),
        })
    }

    /// Folds one engine event into the run.
    pub fn apply(&mut self, event: TrainEvent) {
        match event {
            TrainEvent::Started {
                device,
                gpu,
                steps_per_epoch,
                ..
            } => {
                self.device = Some(device);
                self.gpu = gpu;
                self.steps_per_epoch = steps_per_epoch;
                // Started comes after the inputs are ready: the fit is over.
                self.fitting_zca = None;
            }
            TrainEvent::Preparing { done, total } => self.preparing = Some((done, total)),
            TrainEvent::FittingZca { step } => self.fitting_zca = Some(step),
            TrainEvent::Progress(p) => {
                self.preparing = None;
                let point = TrainPoint {
                    step: p.epoch * p.steps_per_epoch + p.step,
                    loss: p.loss,
                    accuracy: Some(p.accuracy),
                    images_per_sec: Some(p.images_per_sec),
                    seconds: Some(p.elapsed),
                };
                points::push(&mut self.train_points, point);
                if let Status::Running(Some(last)) = &self.status
                    && last.epoch == p.epoch
                {
                    let gap = p.elapsed - last.elapsed;
                    match self.report_gap {
                        // Far longer than reports come: the process was stopped, not working.
                        Some(usual) if gap > 5.0 * usual + 1.0 => self.paused += gap - usual,
                        Some(usual) => self.report_gap = Some(0.8 * usual + 0.2 * gap),
                        None => self.report_gap = Some(gap),
                    }
                }
                self.status = Status::Running(Some(p));
            }
            TrainEvent::Validation(v) => self.val_points.push(v),
            TrainEvent::Evaluating { .. } => self.evaluating = true,
            TrainEvent::Epoch(e) => {
                self.evaluating = false;
                self.epochs.push(e);
            }
            TrainEvent::Filters(f) => self.filters = Some(f),
            TrainEvent::Inputs(v) => self.inputs = Some(v),
            TrainEvent::Warning(_) => {}
        }
    }

    /// Validation after each epoch and, while this session trains it, within the epochs: the
    /// figure `of` each point, at its place in epochs, in order.
    pub fn validation(&self, of: impl Fn(f64, f64) -> f64) -> Vec<(f64, f64)> {
        let mut points: Vec<(f64, f64)> = self
            .val_points
            .iter()
            .map(|v| (v.at, of(v.loss, v.accuracy)))
            .chain(
                self.epochs
                    .iter()
                    .map(|e| (e.epoch as f64, of(e.val_loss, e.val_accuracy))),
            )
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points
    }

    /// The running train accuracy at each report that kept it, at its place in epochs (1.5 =
    /// half-way through the second): the chart moves within an epoch.
    pub fn accuracy_curve(&self) -> Vec<(f64, f64)> {
        let per_epoch = self.steps_per_epoch.max(1) as f64;
        self.train_points
            .iter()
            .filter_map(|p| Some((p.step as f64 / per_epoch, p.accuracy?)))
            .collect()
    }

    /// The training loss at its place in epochs (1.5: half-way through the second), each
    /// point where its report window ended.
    pub fn loss_curve(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        let per_epoch = self.steps_per_epoch.max(1) as f64;
        self.train_points
            .iter()
            .map(move |p| (p.step as f64 / per_epoch, p.loss))
    }

    /// Its number in the history, once it has one.
    pub fn stored(&self) -> Option<i64> {
        (self.id > 0).then_some(self.id)
    }

    /// Its number as users see it: the history's ("#13"), or, where the history does not hold
    /// it, the session's ("#s2").
    pub fn number(&self) -> String {
        match self.stored() {
            Some(id) => format!("#{id}"),
            None => format!("#s{}", self.key),
        }
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.status {
            Status::Finished(o) => Some(o),
            _ => None,
        }
    }

    /// Test accuracy (= micro-F1) of a finished run.
    pub fn accuracy(&self) -> Option<f64> {
        self.outcome().map(|o| o.report.accuracy)
    }

    /// The tricks and the settings of LeCun's list that differ from the seed's, described for
    /// lists ("+norm_inputs +lr_schedule", "+norm_inputs optimizer=sgd", "(baseline)").
    pub fn tricks_label(&self) -> String {
        tricks::describe_config(&self.config)
    }

    /// Why it cannot be resumed, if it cannot.
    pub fn check_resumable(&self) -> Result<(), String> {
        if self.status.resumable() {
            return Ok(());
        }
        Err(format!(
            "run #{} is {}: only interrupted or cancelled runs can be resumed",
            self.id,
            self.status.label()
        ))
    }

    /// Fraction of the run done, in [0, 1].
    pub fn progress(&self) -> f64 {
        let total = self.config.epochs * self.steps_per_epoch.max(1);
        let done = match &self.status {
            Status::Running(Some(p)) => p.epoch * p.steps_per_epoch + p.step,
            Status::Finished(_) => total,
            _ => self.epochs.len() * self.steps_per_epoch,
        };
        (done as f64 / total.max(1) as f64).clamp(0.0, 1.0)
    }

    /// Seconds left, from the pace so far (evaluation included, time stopped left out);
    /// `None` before a first report.
    pub fn eta(&self) -> Option<f64> {
        let Status::Running(Some(p)) = &self.status else {
            return None;
        };
        let done = self.progress();
        (done > 0.0).then(|| (p.elapsed - self.paused).max(0.0) / done * (1.0 - done))
    }

    /// The name, led by the subset's size when it trained on one ("[3k] baseline"): the size
    /// comes first so that a narrow column cuts the name, never the label.
    pub fn short_name(&self) -> String {
        match self.config.train_limit {
            Some(n) if n >= 1000 && n % 1000 == 0 => format!("[{}k] {}", n / 1000, self.name),
            Some(n) => format!("[{n}] {}", self.name),
            None => self.name.clone(),
        }
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
            accuracy: 0.4,
            images_per_sec: 100.0,
            elapsed: 30.0,
        }
    }

    /// A baseline run of 10 epochs of 10 steps, started on the CPU.
    fn started() -> Run {
        let cfg = tricks::resolve(&TrickSet::new(), &Hyper::default());
        let mut run = Run::new(1, TrickSet::new(), cfg);
        run.apply(TrainEvent::Started {
            device: DeviceKind::Cpu,
            gpu: None,
            train_images: 640,
            test_images: 100,
            steps_per_epoch: 10,
        });
        run
    }

    #[test]
    fn time_stopped_is_not_read_as_a_slow_pace() {
        let mut run = started();
        let at = |step: usize, elapsed: f64| {
            TrainEvent::Progress(Progress {
                elapsed,
                ..progress(0, step)
            })
        };
        // A report a second; SIGSTOP for 100 s after the fourth.
        for k in 1..=4 {
            run.apply(at(k, k as f64));
        }
        run.apply(at(5, 105.0));
        // 5 of 100 steps in 5 s of work: 95 s left, not 1995.
        let eta = run.eta().unwrap();
        assert!((eta - 95.0).abs() < 1.0, "{eta}");
    }

    #[test]
    fn progress_and_eta_follow_events() {
        let mut run = started();
        assert_eq!(run.name, "baseline");
        run.apply(TrainEvent::Progress(progress(2, 5)));
        // 25 of 100 steps in 30 s -> 90 s left.
        assert!((run.progress() - 0.25).abs() < 1e-12);
        assert!((run.eta().unwrap() - 90.0).abs() < 1e-9);
        assert_eq!(run.train_points.len(), 1);
    }

    #[test]
    fn loss_history_stays_bounded() {
        let mut run = started();
        for i in 0..5000 {
            run.apply(TrainEvent::Progress(Progress {
                loss: i as f64,
                ..progress(i / 10, i % 10 + 1)
            }));
        }
        assert!(run.train_points.len() <= MAX_TRAIN_POINTS);
        assert_eq!(run.train_points.last().map(|p| p.step), Some(5000));
        // Merging keeps the curve's shape: still increasing.
        assert!(run.train_points.windows(2).all(|w| w[0].loss < w[1].loss));
    }

    /// Each loss point sits where its window ended, fed as the engine reports: on 3,000 images
    /// (47 steps an epoch) after steps 20, 40 and 47. Placed by their count, the third point
    /// sat at 60/47 of an epoch and the curve ran ahead of the validation points.
    #[test]
    fn each_loss_point_sits_where_its_window_ended() {
        let mut run = started();
        run.steps_per_epoch = 47;
        for epoch in 0..3 {
            for step in cifar_engine::events::report_steps(47) {
                run.apply(TrainEvent::Progress(Progress {
                    steps_per_epoch: 47,
                    ..progress(epoch, step)
                }));
            }
        }
        let at: Vec<f64> = run.loss_curve().map(|p| p.0).collect();
        assert_eq!(at.len(), 9);
        for (k, expected) in [(0, 20.0 / 47.0), (2, 1.0), (5, 2.0), (8, 3.0)] {
            assert!((at[k] - expected).abs() < 1e-12, "point {k} at {}", at[k]);
        }
    }
}
