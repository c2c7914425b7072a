//! The engine's speed, measured: a bare training step, a whole epoch end to end, evaluation.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::kernels::TrainBackend;
use burn::module::AutodiffModule;

use crate::config::{Hyper, TrainConfig};
use crate::data::Cifar10;
use crate::events::DeviceKind;
use crate::model::{Cnn, CnnSpec};
use crate::objective::Objective;
use crate::optim::Optim;
use crate::runner::{self, DeviceSplit, InputMap, RunInputs, TrainError};
use crate::seeding::StepKey;
use crate::tricks::{self, TrickSet};

/// Images per second, each the figure of one repetition.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Figures {
    /// Forward, backward and Adam on one fixed batch of 64, repeated.
    pub bare_step: f64,
    /// One epoch as `train` runs it: data onto the device, training, evaluation of the test set.
    pub epoch: f64,
    /// Evaluation of the 10,000 test images.
    pub eval: f64,
}

/// The seed's baseline configuration, one epoch, optionally on the first `images` images.
fn baseline(images: Option<usize>) -> TrainConfig {
    let mut cfg = tricks::resolve(
        &TrickSet::new(),
        &Hyper {
            epochs: 1,
            ..Hyper::default()
        },
    );
    cfg.train_limit = images;
    cfg
}

pub fn measure<B: TrainBackend>(
    device: &B::Device,
    kind: DeviceKind,
    data: &Cifar10,
    steps: usize,
    epoch_images: Option<usize>,
) -> Result<Figures, TrainError> {
    let cfg = baseline(epoch_images);

    // Bare step: one batch already on the device, so only the step is timed.
    let batch = DeviceSplit::<B>::upload(&data.train.head(cfg.batch_size), device);
    let input = InputMap::new(None);
    let mut model: Cnn<B> = CnnSpec::from(&cfg).init(cfg.seed, device);
    let mut optim = Optim::new(&cfg, 0);
    let objective = Objective::new(&cfg, 0, device);
    let mut timed = |n: usize, model: &mut Option<Cnn<B>>| {
        for _ in 0..n {
            let xy = batch.range(0, cfg.batch_size, input);
            let (next, _, _) = runner::step(
                model.take().expect("model"),
                &mut optim,
                &objective,
                1e-3,
                StepKey::new(cfg.seed, 0, 0),
                xy,
            );
            *model = Some(next);
        }
        // Queued device work must finish inside the timing.
        let _ = B::sync(device);
    };
    let mut slot = Some(model);
    timed(5, &mut slot);
    let t = Instant::now();
    timed(steps, &mut slot);
    let bare_step = (steps * cfg.batch_size) as f64 / t.elapsed().as_secs_f64();
    model = slot.expect("model");

    let test = DeviceSplit::<B::InnerBackend>::upload(&data.test, device);
    let valid = model.valid();
    let t = Instant::now();
    let _ = runner::evaluate(&valid, &test, input);
    let eval = data.test.len() as f64 / t.elapsed().as_secs_f64();

    let cancel = AtomicBool::new(false);
    let t = Instant::now();
    let job = RunInputs {
        data,
        config: &cfg,
        cancel: &cancel,
        checkpoints: None,
        done: Vec::new(),
        val_points: 0,
        warm_up: false,
    };
    let outcome = runner::train::<B>(device, kind, job, |_| {})?;
    let images = outcome.epochs.len()
        * epoch_images
            .unwrap_or(data.train.len())
            .min(data.train.len());
    let epoch = images as f64 / t.elapsed().as_secs_f64();
    Ok(Figures {
        bare_step,
        epoch,
        eval,
    })
}
