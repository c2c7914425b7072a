//! The training engine: data, tricks, configuration, model, kernels, backends and the loop.
//! It depends on no UI, async runtime or database crate; it talks through [`events`].
#![deny(unsafe_code)]

pub mod backend;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod events;
pub mod kernels;
pub mod metrics;
pub mod model;
pub mod objective;
pub mod optim;
pub mod pictures;
pub mod runner;
pub mod seeding;
pub mod speed;
pub mod stats;
pub mod tricks;
pub mod zca;

use backend::{CpuAd, CudaDevice, GpuAd, GpuError, Place, WgpuAd};
use events::{Outcome, TrainEvent};
use runner::TrainError;

pub use runner::RunInputs;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Train(#[from] TrainError),
}

/// Measures the engine's speed on `device` (see [`speed::measure`]).
pub fn bench_on(
    place: Place,
    data: &data::Cifar10,
    steps: usize,
    epoch_images: Option<usize>,
) -> Result<speed::Figures, RunError> {
    let kind = place.kind();
    Ok(match place {
        Place::Cpu => speed::measure::<CpuAd>(&Default::default(), kind, data, steps, epoch_images),
        Place::Gpu(n) => {
            speed::measure::<GpuAd>(&CudaDevice::new(n), kind, data, steps, epoch_images)
        }
        Place::Wgpu(adapter) => {
            speed::measure::<WgpuAd>(&adapter.device(), kind, data, steps, epoch_images)
        }
    }?)
}

/// Trains a job at `place` (see [`backend::select`]). Blocks: call it from a thread of its own.
pub fn run_on(
    place: Place,
    job: RunInputs,
    mut emit: impl FnMut(TrainEvent),
) -> Result<Outcome, RunError> {
    let kind = place.kind();
    // The loop knows the backend, not the adapter: the start names the GPU here.
    let name = place.gpu_name();
    let emit = |event| match event {
        TrainEvent::Started {
            device,
            gpu: None,
            train_images,
            test_images,
            steps_per_epoch,
        } => emit(TrainEvent::Started {
            device,
            gpu: name.clone(),
            train_images,
            test_images,
            steps_per_epoch,
        }),
        other => emit(other),
    };
    // A GPU compiles and tunes its kernels on first use: in a phase of their own.
    let job = RunInputs {
        warm_up: job.warm_up || place != Place::Cpu,
        ..job
    };
    let outcome = match place {
        Place::Cpu => runner::train::<CpuAd>(&Default::default(), kind, job, emit),
        Place::Gpu(n) => runner::train::<GpuAd>(&CudaDevice::new(n), kind, job, emit),
        Place::Wgpu(adapter) => runner::train::<WgpuAd>(&adapter.device(), kind, job, emit),
    }?;
    Ok(outcome)
}

/// Threads the engine's CPU kernels run on.
pub fn worker_threads() -> usize {
    rayon::current_num_threads()
}
