//! The training engine: configuration, model, backends and the loop. Knows nothing of the UI.

pub mod backend;
pub mod bench;
pub mod checkpoint;
pub mod config;
mod denormals;
pub mod kernels;
pub mod model;
pub mod runner;

use backend::{CpuAd, Device, GpuAd, GpuDevice, NoCuda};
use runner::{Outcome, TrainError, TrainEvent};

pub use runner::Job;

pub use denormals::{enabled as denormals_flushed, install_pool};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    NoCuda(#[from] NoCuda),
    #[error(transparent)]
    Train(#[from] TrainError),
}

/// Measures the engine's speed on `device` (see [`bench::measure`]).
pub fn bench_on(
    device: Device,
    data: &crate::data::Cifar10,
    steps: usize,
    epoch_images: Option<usize>,
) -> Result<bench::Figures, RunError> {
    Ok(match device {
        Device::Cpu => denormals::flushed(|| {
            bench::measure::<CpuAd>(&Default::default(), device, data, steps, epoch_images)
        }),
        Device::Cuda => {
            bench::measure::<GpuAd>(&GpuDevice::new(0), device, data, steps, epoch_images)
        }
    }?)
}

/// Trains a job on `device` (see [`backend::select`]). Blocks: call it from a thread of its own.
pub fn run_on(device: Device, job: Job, emit: impl FnMut(TrainEvent)) -> Result<Outcome, RunError> {
    let outcome = match device {
        Device::Cpu => {
            denormals::flushed(|| runner::train::<CpuAd>(&Default::default(), device, job, emit))
        }
        Device::Cuda => runner::train::<GpuAd>(&GpuDevice::new(0), device, job, emit),
    }?;
    Ok(outcome)
}
