//! The engine's vocabulary: what a run reports and what it ends with. Free of burn types, so
//! the app, the store and headless mode depend on these words, not on the training loop.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::metrics::{Confusion, Predictions, Report};
use crate::pictures::{Filters, InputView, Pictures};

/// Training steps between two loss reports. Reading a value back forces the device to finish
/// its queue, so the loop reads once per window instead of once per step.
pub const REPORT_EVERY: usize = 20;

/// Whether a loss report comes after `step` (1-based) of an epoch of `steps_per_epoch` steps:
/// every [`REPORT_EVERY`] steps and after the epoch's last, so an epoch's last window is
/// usually shorter than the others (2 steps of 782 on the full set).
pub fn reports_after(step: usize, steps_per_epoch: usize) -> bool {
    step.is_multiple_of(REPORT_EVERY) || step == steps_per_epoch
}

/// The steps of an epoch after which a loss report comes, in order: what the engine sends,
/// for whoever has to stand in for it (tests, curves stored before reports kept their step).
pub fn report_steps(steps_per_epoch: usize) -> impl Iterator<Item = usize> {
    (1..=steps_per_epoch).filter(move |&s| reports_after(s, steps_per_epoch))
}

/// Validation points within an epoch when someone watches (the interface): the last one is
/// the epoch's own, on the whole test set; the others are on [`VAL_POINT_IMAGES`] of it.
pub const VAL_POINTS: usize = 4;

/// Test images scored at a validation point within an epoch: a tenth of the test set, so
/// three points cost about a third of the epoch's own evaluation.
pub const VAL_POINT_IMAGES: usize = 1000;

/// What a person asks for: `auto`, `cpu`, `cuda` (GPU 0), `cuda:N`, `cuda:all` or `wgpu`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceChoice {
    /// CUDA (GPU 0) when a GPU answers, else a hardware GPU through wgpu, else the CPU.
    #[default]
    Auto,
    /// GPU `N` as `nvidia-smi -L` numbers them (`cuda` is GPU 0).
    Cuda(usize),
    /// Every GPU the driver shows, runs spread over them in turn.
    CudaAll,
    /// The best GPU that wgpu reaches (Vulkan, Metal, DX12): a discrete one, else an
    /// integrated one, else a software one (which is slower than the CPU, and says so).
    Wgpu,
    Cpu,
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cuda(0) => f.write_str("cuda"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceChoice::CudaAll => f.write_str("cuda:all"),
            DeviceChoice::Wgpu => f.write_str("wgpu"),
            DeviceChoice::Cpu => f.write_str("cpu"),
        }
    }
}

impl DeviceChoice {
    /// What the interface's Device row steps through (a GPU's number comes from the config or
    /// the command line).
    pub const ALL: [DeviceChoice; 4] = [
        DeviceChoice::Auto,
        DeviceChoice::Cuda(0),
        DeviceChoice::Wgpu,
        DeviceChoice::Cpu,
    ];

    /// A GPU asked for by name (not `auto`).
    pub fn is_gpu(self) -> bool {
        matches!(
            self,
            DeviceChoice::Cuda(_) | DeviceChoice::CudaAll | DeviceChoice::Wgpu
        )
    }
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        let bad = || {
            format!(
                "unknown device `{s}`: use auto, cpu, cuda, cuda:N (a GPU's number), cuda:all or \
                 wgpu"
            )
        };
        Ok(match s.as_str() {
            "auto" => DeviceChoice::Auto,
            "cpu" => DeviceChoice::Cpu,
            "cuda" => DeviceChoice::Cuda(0),
            "cuda:all" => DeviceChoice::CudaAll,
            "wgpu" => DeviceChoice::Wgpu,
            _ => match s.strip_prefix("cuda:").map(str::parse) {
                Some(Ok(n)) => DeviceChoice::Cuda(n),
                _ => return Err(bad()),
            },
        })
    }
}

impl TryFrom<String> for DeviceChoice {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<DeviceChoice> for String {
    fn from(d: DeviceChoice) -> String {
        d.to_string()
    }
}

/// The kind of device a run actually trains on, as runs record it (which one of its kind is
/// [`crate::backend::Place`]; what the person asked for is [`DeviceChoice`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Cpu,
    Cuda,
    /// A GPU through wgpu (Vulkan, Metal, DX12).
    Wgpu,
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Cuda => "cuda",
            DeviceKind::Wgpu => "wgpu",
        })
    }
}

/// What the engine tells whoever listens (the TUI, the headless printer).
#[derive(Clone, Debug, PartialEq)]
pub enum TrainEvent {
    Started {
        device: DeviceKind,
        /// The GPU's name where the backend gives one: "Apple M2 (Metal)" (wgpu).
        gpu: Option<String>,
        train_images: usize,
        test_images: usize,
        steps_per_epoch: usize,
    },
    /// ZCA whitening being fitted on the training images, before anything else (minutes on a
    /// CPU): `step` Newton–Schulz steps done, 0 while the covariance is computed; at most
    /// [`crate::zca::MAX_STEPS`]. A cancel stops it between steps.
    FittingZca { step: usize },
    /// Before the first step on a GPU: the kernels of each batch shape the run will use are
    /// compiled and tuned (a new machine's autotune takes seconds each), `done` of `total`.
    Preparing { done: usize, total: usize },
    /// Every [`REPORT_EVERY`] steps.
    Progress(Progress),
    /// Within an epoch, when asked for: the model as it is, scored on the first
    /// [`VAL_POINT_IMAGES`] test images.
    Validation(Validation),
    /// The epoch's steps are done; the test set is being scored (seconds on a CPU).
    Evaluating { epoch: usize },
    /// After the epoch's checkpoint (if any) is on disk.
    Epoch(EpochStats),
    /// Something went wrong that does not stop training (e.g. a checkpoint not written).
    Warning(String),
    /// The first convolution's filters: at the start (the initial or resumed weights), then
    /// after each epoch.
    Filters(Filters),
    /// A few training images as the network receives them, once the input tricks are set up.
    Inputs(InputView),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// 0-based epoch.
    pub epoch: usize,
    /// Steps done in this epoch.
    pub step: usize,
    pub steps_per_epoch: usize,
    /// Mean training loss over the steps since the last report.
    pub loss: f64,
    /// Share of this epoch's training images so far that the model (as it was at each step)
    /// classified right: the running train accuracy.
    pub accuracy: f64,
    /// Training images per second in this epoch so far.
    pub images_per_sec: f64,
    /// Seconds of training so far, earlier processes' included.
    pub elapsed: f64,
}

/// A validation point within an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// Where, in epochs from the start (1.25: a quarter into the second).
    pub at: f64,
    pub loss: f64,
    pub accuracy: f64,
    /// Test images scored.
    pub images: usize,
}

/// One epoch's figures.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based, as people count epochs.
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    /// Wall-clock seconds of the epoch, evaluation included.
    pub seconds: f64,
    pub train_images_per_sec: f64,
}

/// A finished run's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub device: DeviceKind,
    pub epochs: Vec<EpochStats>,
    pub confusion: Confusion,
    pub report: Report,
    pub seconds: f64,
    /// Training images per second over the whole run, evaluation time included.
    pub images_per_sec: f64,
    /// Every test image's class, predicted class and its probability (none in result files
    /// and histories written before they were kept).
    #[serde(default, skip_serializing_if = "Predictions::is_empty")]
    pub predictions: Predictions,
    /// The last filters and the inputs as the network received them (none in result files
    /// and histories written before they were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pictures: Option<Pictures>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_read_and_write_as_people_type_them() {
        for (text, choice) in [
            ("auto", DeviceChoice::Auto),
            ("cpu", DeviceChoice::Cpu),
            ("cuda", DeviceChoice::Cuda(0)),
            ("cuda:3", DeviceChoice::Cuda(3)),
            ("cuda:all", DeviceChoice::CudaAll),
        ] {
            assert_eq!(text.parse::<DeviceChoice>(), Ok(choice));
            assert_eq!(choice.to_string(), text);
        }
        assert_eq!(
            " CUDA:1 ".parse::<DeviceChoice>(),
            Ok(DeviceChoice::Cuda(1))
        );
        assert_eq!(
            "cuda:0".parse::<DeviceChoice>().unwrap().to_string(),
            "cuda"
        );
        for bad in ["gpu", "cuda:", "cuda:-1", "cuda:x", "cuda:1:2"] {
            let e = bad.parse::<DeviceChoice>().unwrap_err();
            assert!(e.contains("cuda:N") && e.contains("cuda:all"), "{e}");
        }
        // As settings files and sweep plans keep them: the same words.
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct File {
            device: DeviceChoice,
        }
        let file = File {
            device: DeviceChoice::Cuda(2),
        };
        let json = serde_json::to_string(&file).unwrap();
        assert_eq!(json, r#"{"device":"cuda:2"}"#);
        assert_eq!(serde_json::from_str::<File>(&json).unwrap(), file);
        assert!(serde_json::from_str::<File>(r#"{"device":"tpu"}"#).is_err());
        assert!(DeviceChoice::CudaAll.is_gpu() && !DeviceChoice::Auto.is_gpu());
    }
}
