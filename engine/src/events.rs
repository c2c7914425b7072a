//! The engine's vocabulary: what a run reports and what it ends with. Free of burn types, so
//! the app, the store and headless mode depend on these words, not on the training loop.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::metrics::{Confusion, Report};

/// Training steps between two loss reports. Reading a value back forces the device to finish
/// its queue, so the loop reads once per window instead of once per step.
pub const REPORT_EVERY: usize = 20;

/// Validation points within an epoch when someone watches (the interface): the last one is
/// the epoch's own, on the whole test set; the others are on [`PROBE_IMAGES`] of it.
pub const PROBES: usize = 4;

/// Test images scored at a validation point within an epoch: a tenth of the test set, so
/// three points cost about a third of the epoch's own evaluation.
pub const PROBE_IMAGES: usize = 1000;

/// What a person asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA when a GPU answers, else the CPU.
    #[default]
    Auto,
    Cuda,
    Cpu,
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Cuda => "cuda",
            DeviceChoice::Cpu => "cpu",
        })
    }
}

impl DeviceChoice {
    pub const ALL: [DeviceChoice; 3] = [DeviceChoice::Auto, DeviceChoice::Cuda, DeviceChoice::Cpu];
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|d| d.to_string().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown device `{s}`: use auto, cuda or cpu"))
    }
}

/// The device a run actually trains on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    Cpu,
    Cuda,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        })
    }
}

/// What the engine tells whoever listens (the TUI, the headless printer).
#[derive(Clone, Debug, PartialEq)]
pub enum TrainEvent {
    Started {
        device: Device,
        train_images: usize,
        test_images: usize,
        steps_per_epoch: usize,
    },
    /// Every [`REPORT_EVERY`] steps.
    Progress(Progress),
    /// Within an epoch, when asked for: the model as it is, scored on the first
    /// [`PROBE_IMAGES`] test images.
    Validation(Validation),
    /// The epoch's steps are done; the test set is being scored (seconds on a CPU).
    Evaluating { epoch: usize },
    /// After the epoch's checkpoint (if any) is on disk.
    Epoch(EpochStats),
    /// Something went wrong that does not stop training (e.g. a checkpoint not written).
    Warning(String),
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
#[derive(Clone, Copy, Debug, PartialEq)]
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
    pub device: Device,
    pub epochs: Vec<EpochStats>,
    pub confusion: Confusion,
    pub report: Report,
    pub seconds: f64,
    /// Training images per second over the whole run, evaluation time included.
    pub images_per_sec: f64,
}
