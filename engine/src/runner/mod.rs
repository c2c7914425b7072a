//! One training run: data onto the device, the loop, evaluation after every epoch, events out.
//!
//! [`train`] is prepare → (run_epoch → end_epoch) per epoch → the final report. Tricks act
//! before the loop (inputs, network, init, optimizer: see `prepare` and `crate::tricks`) or
//! through the small functions the loop calls (the rate at an epoch, the objective, the
//! optimizer for an epoch); the loop itself has no trick in it.

mod divergence;
mod evaluate;
mod inputs;
mod order;
mod tally;
mod warm_up;

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

pub use divergence::{Divergence, divergence_fix};
pub(crate) use evaluate::{Evaluation, evaluate};
pub(crate) use inputs::{DeviceSplit, InputMap};
pub use order::epoch_order;

use crate::checkpoint;
use crate::config::TrainConfig;
use crate::data::{CLASSES, Cifar10};
use crate::events::{
    DeviceKind, EpochStats, Outcome, Progress, TrainEvent, VAL_POINT_IMAGES, Validation,
    reports_after,
};
use crate::kernels::TrainBackend;
use crate::metrics::{Confusion, Predictions};
use crate::model::{Cnn, CnnSpec};
use crate::objective::Objective;
use crate::optim::Optim;
use crate::pictures::{InputView, Pictures};
use crate::seeding::StepKey;
use crate::zca::{self, Zca};
use evaluate::evaluate_head;
use inputs::Pixels;
use tally::Tally;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("cancelled")]
    Cancelled,
    #[error("the training set is empty (train_limit = 0?)")]
    NoData,
    #[error(
        "training diverged in epoch {epoch}, step {step}: the training loss reached {loss:.3e} \
         (an untrained net scores {chance:.2}). Fix: {fix}"
    )]
    Diverged {
        epoch: usize,
        step: usize,
        loss: f64,
        chance: f64,
        fix: String,
    },
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
}

/// One training run's inputs.
pub struct RunInputs<'a> {
    pub data: &'a Cifar10,
    pub config: &'a TrainConfig,
    /// Checked between steps; set it to stop the run.
    pub cancel: &'a AtomicBool,
    /// Model and optimizer are saved here after every epoch, and resumed from here. Older
    /// checkpoints are left for the caller to prune once it has recorded the epoch.
    pub checkpoints: Option<checkpoint::Slot<'a>>,
    /// Epochs an earlier process finished (their checkpoint is in `checkpoints`): training
    /// continues after them.
    pub done: Vec<EpochStats>,
    /// Validation points per epoch, the epoch's end included ([`VAL_POINTS`] for a watcher); 0 or
    /// 1: only the epoch's own. They read the model and draw no random number, so the run's
    /// figures are the same either way.
    pub val_points: usize,
    /// Runs each batch shape once on a throwaway copy before the first step, reporting
    /// [`TrainEvent::Preparing`]: a GPU tunes its kernels then, as a phase the user sees, not
    /// as a first step that hangs for minutes. [`crate::run_on`] sets it for GPUs.
    pub warm_up: bool,
}

/// Whether step `step` (1-based) of an epoch of `steps` takes a validation point: `val_points`
/// points evenly spaced, the last being the epoch's end (scored apart, on the whole set).
fn val_point_at(step: usize, steps: usize, val_points: usize) -> bool {
    step < steps && (1..val_points).any(|k| step == (k * steps).div_ceil(val_points))
}

/// One optimisation step, its random numbers (dropout) drawn from `key`. Returns the updated
/// model, the batch's mean cross-entropy and the logits, both detached from the graph.
pub(crate) fn step<B: TrainBackend>(
    model: Cnn<B>,
    optim: &mut Optim<B>,
    objective: &Objective<B>,
    lr: f64,
    key: StepKey,
    (x, y): (Tensor<B, 4>, Tensor<B, 1, Int>),
) -> (
    Cnn<B>,
    Tensor<B::InnerBackend, 1>,
    Tensor<B::InnerBackend, 2>,
) {
    let logits = model.forward_train(x, key);
    let (loss, ce_loss) = objective.of(logits.clone(), y, &model);
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    (
        optim.step(lr, model, grads),
        ce_loss.inner(),
        logits.inner(),
    )
}

/// The network before its first step: drawn from the run's seed alone, so every variant with
/// the same architecture and init starts from the same weights on the same seed (a paired
/// comparison), on every device.
pub fn initial_model<B: Backend>(cfg: &TrainConfig, device: &B::Device) -> Cnn<B> {
    CnnSpec::from(cfg).init(cfg.seed, device)
}

/// Trains one configuration to the end (or until cancelled), sending events as it goes.
pub fn train<B: TrainBackend>(
    device: &B::Device,
    kind: DeviceKind,
    job: RunInputs,
    mut emit: impl FnMut(TrainEvent),
) -> Result<Outcome, TrainError> {
    let started = Instant::now();
    let cfg = job.config;
    let data = prepare::<B>(job.data, cfg, device, job.cancel, &mut emit)?;
    let mut model: Cnn<B> = initial_model(cfg, device);
    let mut epochs = job.done;
    let mut optim = Optim::<B>::new(cfg, epochs.len());
    if let (Some(slot), true) = (job.checkpoints, !epochs.is_empty()) {
        (model, optim) = checkpoint::load(slot, cfg, epochs.len(), model, optim, device)?;
    }
    let n = data.train.len();
    let steps_per_epoch = n.div_ceil(cfg.batch_size);
    emit(TrainEvent::Started {
        device: kind,
        gpu: None,
        train_images: n,
        test_images: data.test.len(),
        steps_per_epoch,
    });
    let inputs = look_at_inputs(job.data, &data);
    emit(TrainEvent::Inputs(inputs.clone()));
    let mut filters = model.first_filters(epochs.len());
    emit(TrainEvent::Filters(filters.clone()));
    if job.warm_up && epochs.len() < cfg.epochs {
        let splits = (&data.train, &data.test, data.input);
        warm_up::warm_up(&model, cfg, epochs.len(), splits, &mut emit);
    }

    let run = Loop {
        cfg,
        data,
        cancel: job.cancel,
        val_points: job.val_points,
        watch: Divergence::new(CLASSES.len()),
        steps_per_epoch,
        started,
        // Time spent by an earlier process on the epochs it finished, so ETAs stay right on
        // resume.
        earlier: epochs.iter().map(|e| e.seconds).sum(),
    };
    let mut last_eval = None;
    for epoch in epochs.len()..cfg.epochs {
        let epoch_start = Instant::now();
        optim = optim.for_epoch(cfg, epoch);
        let trained = run.run_epoch(model, &mut optim, epoch, &mut emit)?;
        let previous = epochs.last();
        let (next, stats, eval) =
            run.end_epoch(trained, &optim, epoch, previous, job.checkpoints, &mut emit)?;
        let stats = EpochStats {
            seconds: epoch_start.elapsed().as_secs_f64(),
            ..stats
        };
        emit(TrainEvent::Epoch(stats));
        filters = next.first_filters(epoch + 1);
        emit(TrainEvent::Filters(filters.clone()));
        epochs.push(stats);
        model = next;
        last_eval = Some(eval);
    }

    // The test set scores the run: the last epoch's validation when it validates, else once
    // now (a held-out split validated; a run resumed after its last epoch).
    let eval = match last_eval {
        Some(e) if run.data.held_out.is_none() => e,
        _ => {
            emit(TrainEvent::Evaluating {
                epoch: epochs.len().saturating_sub(1),
            });
            evaluate(&model.valid(), &run.data.test, run.data.input)
        }
    };
    let test_labels = &run.data.test.host_labels;
    let confusion = Confusion::from_labels(CLASSES.len(), test_labels, &eval.predictions);
    let seconds = started.elapsed().as_secs_f64();
    let trained = epochs.iter().map(|e| e.seconds).sum::<f64>().max(1e-9);
    Ok(Outcome {
        device: kind,
        report: confusion.report(),
        confusion,
        seconds: trained.max(seconds),
        images_per_sec: (n * epochs.len()) as f64 / trained,
        epochs,
        predictions: Predictions::new(test_labels, &eval.predictions, &eval.confidence),
        pictures: Some(Pictures { filters, inputs }),
    })
}

/// One training image of each class as stored and as the network receives it.
fn look_at_inputs<B: TrainBackend>(data: &Cifar10, prepared: &Prepared<B>) -> InputView {
    let n = prepared.train.len();
    let index: Vec<usize> = InputView::pick(&data.train)
        .into_iter()
        .filter(|&i| i < n)
        .collect();
    if index.is_empty() {
        return InputView::default();
    }
    let rows: Vec<i64> = index.iter().map(|&i| i as i64).collect();
    let (x, _) = prepared.train.batch(&rows, prepared.input);
    let seen = x.into_data().to_vec::<f32>().unwrap_or_default();
    InputView::new(&data.train, &index, &seen)
}

/// A run's splits on the device and the map from their pixels to network input.
struct Prepared<B: TrainBackend> {
    train: DeviceSplit<B>,
    test: DeviceSplit<B::InnerBackend>,
    /// The held-out training images that validate the run (`val_split`), if any.
    held_out: Option<DeviceSplit<B::InnerBackend>>,
    input: InputMap,
}

impl<B: TrainBackend> Prepared<B> {
    /// What validates the run: the held-out images, else the test set.
    fn validation(&self) -> &DeviceSplit<B::InnerBackend> {
        self.held_out.as_ref().unwrap_or(&self.test)
    }
}

/// The input tricks, before the loop: the training subset, then ZCA whitening (fitted on the
/// training images, applied once to both splits) or the pixel map (normalized or not).
fn prepare<B: TrainBackend>(
    data: &Cifar10,
    cfg: &TrainConfig,
    device: &B::Device,
    cancel: &AtomicBool,
    emit: &mut dyn FnMut(TrainEvent),
) -> Result<Prepared<B>, TrainError> {
    // Borrowed unless cut: the whole set is 150 MB and is copied to the device next anyway.
    // Held-out images come from its end, so a subset (its start) never holds one.
    let room = data.train.len().saturating_sub(cfg.val_split.unwrap_or(0));
    let train_split = match (cfg.train_limit, cfg.val_split) {
        (None, None) => Cow::Borrowed(&data.train),
        (limit, _) => Cow::Owned(data.train.head(limit.map_or(room, |n| n.min(room)))),
    };
    let held_out = cfg.val_split.map(|n| data.train.tail(n));
    if train_split.is_empty() {
        return Err(TrainError::NoData);
    }
    let classes = train_split.classes_present();
    if classes < CLASSES.len() {
        // The test set scores all ten: the missing ones can only be guessed wrong.
        emit(TrainEvent::Warning(format!(
            "the {} training images hold only {classes} of the 10 classes: the network never \
             sees the other {}, and the test set scores them all (a larger --train-limit \
             fixes it)",
            train_split.len(),
            CLASSES.len() - classes
        )));
    }
    Ok(match cfg.zca {
        // Whitened once here, on the inner backend (no gradients), and kept as input.
        Some(epsilon) => {
            // Minutes on a CPU: said step by step, and a cancel (or quit) is heard.
            let mut step = |k| {
                emit(TrainEvent::FittingZca { step: k });
                !cancel.load(Ordering::Relaxed)
            };
            let fitted =
                Zca::<B::InnerBackend>::fit_split(&train_split, epsilon, device, &mut step)
                    .ok_or(TrainError::Cancelled)?;
            let white = fitted.apply(zca::pixels(&train_split, device));
            let train = DeviceSplit::with_pixels(
                &train_split,
                Pixels::Ready(Tensor::from_inner(white)),
                device,
            );
            let test = DeviceSplit::upload_whitened(&data.test, &fitted, device);
            let held_out = held_out.map(|s| DeviceSplit::upload_whitened(&s, &fitted, device));
            Prepared {
                train,
                test,
                held_out,
                input: InputMap::new(None),
            }
        }
        None => {
            let stats = cfg.normalize.then(|| train_split.channel_stats());
            Prepared {
                train: DeviceSplit::upload(&train_split, device),
                test: DeviceSplit::upload(&data.test, device),
                held_out: held_out.map(|s| DeviceSplit::upload(&s, device)),
                input: InputMap::new(stats),
            }
        }
    })
}

/// What every epoch of a run reads.
struct Loop<'a, B: TrainBackend> {
    cfg: &'a TrainConfig,
    data: Prepared<B>,
    cancel: &'a AtomicBool,
    val_points: usize,
    watch: Divergence,
    steps_per_epoch: usize,
    /// When this process took the run up, and the seconds earlier processes trained it.
    started: Instant,
    earlier: f64,
}

/// An epoch's training: the model after it, its mean loss and accuracy over the epoch, and
/// its seconds of training (validation points excluded).
struct Trained<B: TrainBackend> {
    model: Cnn<B>,
    loss: f64,
    accuracy: f64,
    seconds: f64,
}

impl<B: TrainBackend> Loop<'_, B> {
    /// One pass over the training set in the epoch's order: a step per batch, a progress
    /// event per report window, validation points where the watcher asked for them.
    fn run_epoch(
        &self,
        mut model: Cnn<B>,
        optim: &mut Optim<B>,
        epoch: usize,
        emit: &mut impl FnMut(TrainEvent),
    ) -> Result<Trained<B>, TrainError> {
        let (cfg, train, input) = (self.cfg, &self.data.train, self.data.input);
        let (n, steps_per_epoch) = (train.len(), self.steps_per_epoch);
        let device = train.labels.device();
        let epoch_start = Instant::now();
        let lr = cfg.lr.at(epoch);
        let order = epoch_order(cfg.order, cfg.seed, epoch, &train.host_labels);
        let objective = Objective::new(cfg, epoch, &device);
        let mut tally = Tally::<B::InnerBackend>::new(&device);
        // Scoring within the epoch is not training: kept out of the speed figures.
        let mut probing = 0.0;
        for (i, chunk) in order.chunks(cfg.batch_size).enumerate() {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(TrainError::Cancelled);
            }
            let (x, y) = train.batch(chunk, input);
            let labels = y.clone().inner();
            let key = StepKey::new(cfg.seed, epoch, i);
            let (next, batch_loss, logits) = step(model, optim, &objective, lr, key, (x, y));
            model = next;
            tally.add(batch_loss, logits, labels);
            let steps = i + 1;
            if reports_after(steps, steps_per_epoch) {
                let (mean, right) = tally.read_window();
                if self.watch.diverged(mean) {
                    return Err(self.diverged(epoch, steps, mean));
                }
                let secs = epoch_start.elapsed().as_secs_f64() - probing;
                let seen = (steps * cfg.batch_size).min(n);
                emit(TrainEvent::Progress(Progress {
                    epoch,
                    step: steps,
                    steps_per_epoch,
                    loss: mean,
                    accuracy: right / seen as f64,
                    images_per_sec: seen as f64 / secs.max(1e-9),
                    elapsed: self.earlier + self.started.elapsed().as_secs_f64(),
                }));
            }
            if val_point_at(steps, steps_per_epoch, self.val_points) {
                let t = Instant::now();
                let v = evaluate_head(
                    &model.valid(),
                    self.data.validation(),
                    input,
                    VAL_POINT_IMAGES,
                );
                emit(TrainEvent::Validation(Validation {
                    at: epoch as f64 + steps as f64 / steps_per_epoch as f64,
                    loss: v.loss,
                    accuracy: v.accuracy,
                    images: v.predictions.len(),
                }));
                probing += t.elapsed().as_secs_f64();
            }
        }
        let seconds = epoch_start.elapsed().as_secs_f64() - probing;
        let (loss_sum, correct) = tally.epoch();
        Ok(Trained {
            model,
            loss: loss_sum / n as f64,
            accuracy: correct / n as f64,
            seconds,
        })
    }

    /// After an epoch's steps: the saturation watch, the test set scored, the checkpoint.
    /// The stats' `seconds` is left for the caller, who timed the whole epoch.
    fn end_epoch(
        &self,
        trained: Trained<B>,
        optim: &Optim<B>,
        epoch: usize,
        previous: Option<&EpochStats>,
        checkpoints: Option<checkpoint::Slot>,
        emit: &mut impl FnMut(TrainEvent),
    ) -> Result<(Cnn<B>, EpochStats, Evaluation), TrainError> {
        let cfg = self.cfg;
        let this = (trained.loss, trained.accuracy);
        // More epochs would not bring a saturated net back: stop and say what to lower.
        let previous = previous.map(|e| (e.train_loss, e.train_accuracy));
        if previous.is_some_and(|p| self.watch.saturated(self.steps_per_epoch, [p, this])) {
            return Err(self.diverged(epoch, self.steps_per_epoch, trained.loss));
        }
        emit(TrainEvent::Evaluating { epoch });
        let model = trained.model;
        let eval = evaluate(&model.valid(), self.data.validation(), self.data.input);
        if let Some(slot) = checkpoints {
            // Losing the checkpoint only costs resumability: the run goes on.
            if let Err(e) = checkpoint::save(slot, cfg, epoch + 1, &model, optim) {
                emit(TrainEvent::Warning(e.to_string()));
            }
        }
        let stats = EpochStats {
            epoch: epoch + 1,
            lr: cfg.lr.at(epoch),
            train_loss: trained.loss,
            train_accuracy: trained.accuracy,
            val_loss: eval.loss,
            val_accuracy: eval.accuracy,
            seconds: 0.0,
            train_images_per_sec: self.data.train.len() as f64 / trained.seconds.max(1e-9),
        };
        Ok((model, stats, eval))
    }

    /// The error for a run that diverged at `step` of 0-based `epoch`.
    fn diverged(&self, epoch: usize, step: usize, loss: f64) -> TrainError {
        TrainError::Diverged {
            epoch: epoch + 1,
            step,
            loss,
            chance: self.watch.chance,
            fix: divergence_fix(self.cfg),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
