//! One training run: data onto the device, the loop, evaluation after every epoch, events out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLoss;
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::checkpoint;
use crate::config::{LrPolicy, Optimizer, Order, TrainConfig};
use crate::data::{CLASSES, ChannelStats, Cifar10, Split};
use crate::events::{
    Device, EpochStats, Outcome, PROBE_IMAGES, Progress, REPORT_EVERY, TrainEvent, Validation,
};
use crate::kernels::{self, ModelOps, TrainBackend};
use crate::metrics::Confusion;
use crate::model::{Cnn, CnnSpec};
use crate::objective::Objective;
use crate::optim::Optim;
use crate::seeding::StepKey;
use crate::zca::{self, Zca};

/// Images per forward pass when evaluating (no gradients, so larger batches are cheap).
const EVAL_BATCH: usize = 1000;

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

/// How far above chance a report window's mean loss may go before the run counts as
/// diverged. A net that learns starts near chance (ln 10 = 2.30 for CIFAR-10) and goes down;
/// a window averaging ten times that means its predictions are confidently wrong, which only
/// runaway weights produce. Adam keeps such a loss finite, so a NaN check alone misses it.
const DIVERGED_AT: f64 = 10.0;

/// Tells a diverging run from a learning one, one report window at a time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Divergence {
    /// The cross-entropy of a uniform guess: `ln(classes)`.
    pub chance: f64,
    pub classes: usize,
}

/// Fewest steps in an epoch for it to show saturation (see [`Divergence::saturated`]).
const SATURATION_STEPS: usize = 100;

impl Divergence {
    pub fn new(classes: usize) -> Self {
        Self {
            chance: (classes as f64).ln(),
            classes,
        }
    }

    /// Whether a report window's mean training loss says the run diverged: not finite, or far
    /// above chance.
    pub fn diverged(&self, window_loss: f64) -> bool {
        !window_loss.is_finite() || window_loss > DIVERGED_AT * self.chance
    }

    /// Whether the net has saturated: two whole epochs in a row (`[previous, this]`, each of
    /// `steps`) classify no better than chance while their loss is well above an untrained
    /// net's (confidently wrong). Seen with LeCun's recipe at too high an SGD rate:
    /// cross-entropy 14 at 10% for ten epochs of 782 steps, never above the window threshold.
    /// A net that learns slowly sits near chance with a loss near ln 10, not above twice that;
    /// one epoch is not enough: the recipe's MSE-trained logits score a cross-entropy of 5.9 at
    /// chance in a first epoch on 10,000 images and then learn; and an epoch of a few steps (a
    /// subset, a demo) is too short to judge: a fresh net's first batches can score 5 at chance.
    pub fn saturated(&self, steps: usize, epochs: [(f64, f64); 2]) -> bool {
        steps >= SATURATION_STEPS
            && epochs.iter().all(|&(loss, accuracy)| {
                accuracy <= 1.0 / self.classes as f64 + 0.005 && loss > 2.0 * self.chance
            })
    }
}

/// The settings to change when `cfg` diverges, in the words of config.toml's `[train]`.
pub fn divergence_fix(cfg: &TrainConfig) -> String {
    // SGD trains at `sgd_lr` (its schedule starts at a multiple of it, see `tricks::resolve`).
    let lr = match (cfg.lr, cfg.optimizer) {
        (LrPolicy::Constant { lr }, Optimizer::Adam) => format!("`lr` (now {lr})"),
        (LrPolicy::Exponential { initial, .. }, Optimizer::Adam) => {
            format!("`schedule_lr` (now {initial})")
        }
        (LrPolicy::Constant { lr }, _) => format!("`sgd_lr` (now {lr})"),
        (LrPolicy::Exponential { initial, .. }, _) => {
            format!("`sgd_lr` (the schedule starts at {initial})")
        }
    };
    let mut also = Vec::new();
    if let Some(wd) = cfg.weight_decay.filter(|&wd| wd >= 0.1) {
        also.push(format!("lower `weight_decay` (now {wd})"));
    }
    if let Some(l1) = cfg.l1.filter(|&l1| l1 >= 0.01) {
        also.push(format!("lower `l1` (now {l1})"));
    }
    if cfg.batch_size < 8 {
        also.push(format!("raise `batch_size` (now {})", cfg.batch_size));
    }
    let also: String = also.iter().map(|a| format!(", or {a}")).collect();
    format!("lower {lr} in [train] of config.toml{also}, and start the run again")
}

/// A split's pixels on the device.
enum Pixels<B: Backend> {
    /// As u8 (a quarter of f32's memory), mapped to network input batch by batch.
    Bytes(Tensor<B, 2, Int>), // [n, 3072] (u8), or packed (see `Kernels::upload_images`)
    /// Already network input (ZCA-whitened once, at upload), f32.
    Ready(Tensor<B, 2>), // [n, 3072]
}

/// A split resident on the device: pixels, labels as ints.
pub(crate) struct DeviceSplit<B: Backend> {
    pixels: Pixels<B>,
    labels: Tensor<B, 1, Int>, // [n]
    host_labels: Vec<u8>,
}

impl<B: ModelOps> DeviceSplit<B> {
    pub(crate) fn upload(split: &Split, device: &B::Device) -> Self {
        let images = kernels::upload_images(split.images.clone(), split.len(), device);
        Self::with_pixels(split, Pixels::Bytes(images), device)
    }

    /// The split with its pixels whitened by `zca` (the whitened copy is f32).
    fn upload_whitened(split: &Split, zca: &Zca<B>, device: &B::Device) -> Self {
        let white = zca.apply(zca::pixels(split, device));
        Self::with_pixels(split, Pixels::Ready(white), device)
    }

    fn with_pixels(split: &Split, pixels: Pixels<B>, device: &B::Device) -> Self {
        let labels: Vec<i64> = split.labels.iter().map(|&l| l as i64).collect();
        Self {
            pixels,
            labels: Tensor::from_data(TensorData::new(labels, [split.len()]), device),
            host_labels: split.labels.clone(),
        }
    }

    fn len(&self) -> usize {
        self.host_labels.len()
    }

    /// The images at `index` as network input [n, 3, 32, 32], and their labels. `input` maps
    /// u8 pixels; whitened ones are input already.
    pub(crate) fn batch(
        &self,
        index: &[i64],
        input: InputMap,
    ) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
        let device = self.labels.device();
        let rows = || Tensor::from_data(TensorData::new(index.to_vec(), [index.len()]), &device);
        let x = match &self.pixels {
            Pixels::Bytes(images) => {
                kernels::gather_images(images.clone(), index, input.scale, input.shift)
            }
            Pixels::Ready(x) => x
                .clone()
                .select(0, rows())
                .reshape([index.len(), 3, 32, 32]),
        };
        (x, self.labels.clone().select(0, rows()))
    }

    /// Consecutive images `start..end`.
    pub(crate) fn range(
        &self,
        start: usize,
        end: usize,
        input: InputMap,
    ) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
        let index: Vec<i64> = (start as i64..end as i64).collect();
        self.batch(&index, input)
    }
}

/// Pixels to network input in one multiply-add per element: `u8 * scale + shift`, per channel.
/// Without normalization that is `u8 / 255` (PyTorch's `ToTensor`); with it, the training
/// set's mean and std are folded into the same two numbers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InputMap {
    scale: [f32; 3],
    shift: [f32; 3],
}

impl InputMap {
    pub(crate) fn new(stats: Option<ChannelStats>) -> Self {
        let stats = stats.unwrap_or(ChannelStats {
            mean: [0.0; 3],
            std: [1.0; 3],
        });
        Self {
            scale: std::array::from_fn(|c| 1.0 / (255.0 * stats.std[c])),
            shift: std::array::from_fn(|c| -stats.mean[c] / stats.std[c]),
        }
    }
}

/// The order of training images in an epoch: a function of the order setting, the seed, the
/// epoch and the labels alone, so any epoch can be replayed.
pub fn epoch_order(order: Order, seed: u64, epoch: usize, labels: &[u8]) -> Vec<i64> {
    let n = labels.len();
    let shuffled = || {
        let mut order: Vec<i64> = (0..n as i64).collect();
        let mut rng =
            StdRng::seed_from_u64(seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        order.shuffle(&mut rng);
        order
    };
    match order {
        Order::Shuffled => shuffled(),
        Order::Sequential => (0..n as i64).collect(),
        Order::Interleaved => {
            // The epoch's permutation, split by class (so each class comes in shuffled order),
            // then dealt one class at a time; classes that run out drop from the turn.
            let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
            let mut queues = vec![std::collections::VecDeque::new(); classes];
            for i in shuffled() {
                queues[labels[i as usize] as usize].push_back(i);
            }
            let mut dealt = Vec::with_capacity(n);
            while dealt.len() < n {
                dealt.extend(queues.iter_mut().filter_map(|q| q.pop_front()));
            }
            dealt
        }
    }
}

/// Test-set loss, accuracy and every prediction.
pub(crate) struct Evaluation {
    loss: f64,
    accuracy: f64,
    predictions: Vec<u8>,
}

pub(crate) fn evaluate<B: ModelOps>(
    model: &Cnn<B>,
    split: &DeviceSplit<B>,
    input: InputMap,
) -> Evaluation {
    evaluate_head(model, split, input, split.len())
}

/// [`evaluate`] on the split's first `images` images.
fn evaluate_head<B: ModelOps>(
    model: &Cnn<B>,
    split: &DeviceSplit<B>,
    input: InputMap,
    images: usize,
) -> Evaluation {
    let ce = CrossEntropyLoss::new(None, &split.labels.device());
    let mut loss_sum = 0.0;
    let n = images.min(split.len());
    let mut predictions = Vec::with_capacity(n);
    for start in (0..n).step_by(EVAL_BATCH) {
        let end = (start + EVAL_BATCH).min(n);
        let (x, y) = split.range(start, end, input);
        let logits = model.forward(x);
        let loss: f64 = ce.forward(logits.clone(), y).into_scalar().elem();
        loss_sum += loss * (end - start) as f64;
        let pred = logits.argmax(1).into_data();
        predictions.extend(pred.iter::<i64>().map(|p| p as u8));
    }
    let correct = predictions
        .iter()
        .zip(&split.host_labels)
        .filter(|(p, t)| p == t)
        .count();
    let n = n.max(1) as f64;
    Evaluation {
        loss: loss_sum / n,
        accuracy: correct as f64 / n,
        predictions,
    }
}

use burn::tensor::ElementConversion;

/// One training run's inputs.
pub struct Job<'a> {
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
    /// Validation points per epoch, the epoch's end included ([`PROBES`] for a watcher); 0 or
    /// 1: only the epoch's own. They read the model and draw no random number, so the run's
    /// figures are the same either way.
    pub probes: usize,
    /// Runs each batch shape once on a throwaway copy before the first step, reporting
    /// [`TrainEvent::Preparing`]: a GPU tunes its kernels then, as a phase the user sees, not
    /// as a first step that hangs for minutes. [`crate::run_on`] sets it for GPUs.
    pub warm_up: bool,
}

/// The batch sizes a run will meet: training (a full batch, and the epoch's last one when it
/// is short) and scoring (likewise), each once.
fn shapes(train: usize, batch: usize, test: usize) -> (Vec<usize>, Vec<usize>) {
    let last = |n: usize, of: usize| (n > of && !n.is_multiple_of(of)).then_some(n % of);
    let steps = [Some(batch.min(train)), last(train, batch)];
    let scoring = [Some(EVAL_BATCH.min(test)), last(test, EVAL_BATCH)];
    (
        steps.into_iter().flatten().collect(),
        scoring.into_iter().flatten().collect(),
    )
}

// A validation point within the epoch scores one full scoring batch: its kernels are warm.
const _: () = assert!(PROBE_IMAGES == EVAL_BATCH);

/// Training steps in a row per batch shape in the warm-up: enough that the steps after them
/// meet no kernel they did not (checked on lavapipe by engine/tests/wgpu.rs).
const WARM_UP_STEPS: usize = 3;

/// An epoch's running sums: kept on the device, read once per report window (each read waits
/// for the device).
struct Tally<B: Backend> {
    /// Sum of the per-image losses of the epoch, and of the current report window.
    loss_sum: Tensor<B, 1>,
    window: Tensor<B, 1>,
    window_images: usize,
    /// Right predictions of the epoch.
    correct: Tensor<B, 1, Int>,
}

impl<B: Backend> Tally<B> {
    fn new(device: &B::Device) -> Self {
        Self {
            loss_sum: Tensor::zeros([1], device),
            window: Tensor::zeros([1], device),
            window_images: 0,
            correct: Tensor::zeros([1], device),
        }
    }

    /// One batch: its mean loss, logits and labels.
    fn add(&mut self, batch_loss: Tensor<B, 1>, logits: Tensor<B, 2>, labels: Tensor<B, 1, Int>) {
        let images = labels.dims()[0];
        let batch_loss = batch_loss * images as f32;
        self.loss_sum = self.loss_sum.clone() + batch_loss.clone();
        self.window = self.window.clone() + batch_loss;
        self.window_images += images;
        let right = logits.argmax(1).squeeze_dim(1).equal(labels).int().sum();
        self.correct = self.correct.clone() + right;
    }

    /// The window's mean loss and the epoch's right predictions so far, in one read; the next
    /// window starts.
    fn read_window(&mut self) -> (f64, f64) {
        let device = self.window.device();
        let window = std::mem::replace(&mut self.window, Tensor::zeros([1], &device));
        let both = Tensor::cat(vec![window, self.correct.clone().float()], 0).into_data();
        let [sum, right]: [f32; 2] = both
            .convert::<f32>()
            .to_vec()
            .ok()
            .and_then(|v| v.try_into().ok())
            .unwrap_or([f32::NAN; 2]);
        let mean = sum as f64 / std::mem::take(&mut self.window_images) as f64;
        (mean, right as f64)
    }

    /// The epoch's loss sum and right predictions.
    fn epoch(self) -> (f64, f64) {
        (
            self.loss_sum.into_scalar().elem::<f64>(),
            self.correct.into_scalar().elem::<f64>(),
        )
    }
}

/// [`WARM_UP_STEPS`] steps of each training shape, with the loop's bookkeeping, and one
/// forward pass of each scoring shape, on copies that are thrown away: the kernels they need
/// are compiled and tuned before the run's own first step. Its dropout masks are keyed like the epoch's first step's: it takes nothing
/// from the run's own draws (every draw is a function of its key).
fn warm_up<B: TrainBackend>(
    model: &Cnn<B>,
    cfg: &TrainConfig,
    epoch: usize,
    (train, test, input): (&DeviceSplit<B>, &DeviceSplit<B::InnerBackend>, InputMap),
    emit: &mut impl FnMut(TrainEvent),
) {
    let device = train.labels.device();
    let (steps, scoring) = shapes(train.len(), cfg.batch_size, test.len());
    let total = steps.len() + scoring.len();
    emit(TrainEvent::Preparing { done: 0, total });
    let objective = Objective::new(cfg, epoch, &device);
    let lr = cfg.lr.at(epoch);
    for (k, &n) in steps.iter().enumerate() {
        // Steps in a row, as the loop takes them: the first without the optimizer's state, the
        // next with it, the sums running across them (the device fuses each pattern into
        // kernels of its own). Then the loop's reads and a checkpoint's encoding. Reading a
        // value waits for the device: the kernels ran, so they are compiled and tuned.
        let mut optim = Optim::<B>::new(cfg, epoch);
        let mut tally = Tally::new(&device);
        let mut copy = model.clone();
        let index: Vec<i64> = (0..n as i64).collect();
        for i in 0..WARM_UP_STEPS {
            let (x, y) = train.batch(&index, input);
            let labels = y.clone().inner();
            let key = StepKey::new(cfg.seed, epoch, i);
            let (next, loss, logits) = step(copy, &mut optim, &objective, lr, key, (x, y));
            tally.add(loss, logits, labels);
            copy = next;
        }
        let _ = (tally.read_window(), tally.epoch());
        let _ = checkpoint::encode(&copy, &optim);
        emit(TrainEvent::Preparing { done: k + 1, total });
    }
    let valid = model.valid();
    for (k, &n) in scoring.iter().enumerate() {
        let _ = evaluate_head(&valid, test, input, n);
        emit(TrainEvent::Preparing {
            done: steps.len() + k + 1,
            total,
        });
    }
}

/// Whether step `step` (1-based) of an epoch of `steps` takes a validation point: `probes`
/// points evenly spaced, the last being the epoch's end (scored apart, on the whole set).
fn probe_at(step: usize, steps: usize, probes: usize) -> bool {
    step < steps && (1..probes).any(|k| step == (k * steps).div_ceil(probes))
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
    kind: Device,
    job: Job,
    mut emit: impl FnMut(TrainEvent),
) -> Result<Outcome, TrainError> {
    let started = Instant::now();
    let (data, cfg) = (job.data, job.config);

    // Tricks act here, before the loop: input mapping, network shape and init, optimizer.
    // Borrowed unless cut: the whole set is 150 MB and is copied to the device next anyway.
    let train_split = match cfg.train_limit {
        Some(n) => std::borrow::Cow::Owned(data.train.head(n)),
        None => std::borrow::Cow::Borrowed(&data.train),
    };
    if train_split.is_empty() {
        return Err(TrainError::NoData);
    }
    let (train, test, input) = match cfg.zca {
        // Whitened once here, on the inner backend (no gradients), and kept as input.
        Some(epsilon) => {
            let fitted = Zca::<B::InnerBackend>::fit_split(&train_split, epsilon, device);
            let white = fitted.apply(zca::pixels(&train_split, device));
            let train = DeviceSplit::with_pixels(
                &train_split,
                Pixels::Ready(Tensor::from_inner(white)),
                device,
            );
            let test = DeviceSplit::upload_whitened(&data.test, &fitted, device);
            (train, test, InputMap::new(None))
        }
        None => {
            let stats = cfg.normalize.then(|| train_split.channel_stats());
            (
                DeviceSplit::<B>::upload(&train_split, device),
                DeviceSplit::<B::InnerBackend>::upload(&data.test, device),
                InputMap::new(stats),
            )
        }
    };
    let mut model: Cnn<B> = initial_model(cfg, device);
    let mut epochs = job.done;
    let mut optim = Optim::<B>::new(cfg, epochs.len());
    if let (Some(slot), true) = (job.checkpoints, !epochs.is_empty()) {
        (model, optim) = checkpoint::load(slot, cfg, epochs.len(), model, optim, device)?;
    }
    let watch = Divergence::new(CLASSES.len());

    let n = train.len();
    let steps_per_epoch = n.div_ceil(cfg.batch_size);
    emit(TrainEvent::Started {
        device: kind,
        gpu: None,
        train_images: n,
        test_images: test.len(),
        steps_per_epoch,
    });

    if job.warm_up && epochs.len() < cfg.epochs {
        let data = (&train, &test, input);
        warm_up(&model, cfg, epochs.len(), data, &mut emit);
    }

    // Time spent by an earlier process on the epochs it finished, so ETAs stay right on resume.
    let earlier: f64 = epochs.iter().map(|e| e.seconds).sum();
    let mut last_eval = None;
    for epoch in epochs.len()..cfg.epochs {
        let epoch_start = Instant::now();
        let lr = cfg.lr.at(epoch);
        let order = epoch_order(cfg.order, cfg.seed, epoch, &train.host_labels);
        let objective = Objective::new(cfg, epoch, device);
        optim = optim.for_epoch(cfg, epoch);
        let mut tally = Tally::<B::InnerBackend>::new(device);
        // Scoring within the epoch is not training: kept out of the speed figures.
        let mut probing = 0.0;
        for (i, chunk) in order.chunks(cfg.batch_size).enumerate() {
            if job.cancel.load(Ordering::Relaxed) {
                return Err(TrainError::Cancelled);
            }
            let (x, y) = train.batch(chunk, input);
            let labels = y.clone().inner();
            let key = StepKey::new(cfg.seed, epoch, i);
            let (next, batch_loss, logits) = step(model, &mut optim, &objective, lr, key, (x, y));
            model = next;
            tally.add(batch_loss, logits, labels);
            let steps = i + 1;
            if steps % REPORT_EVERY == 0 || steps == steps_per_epoch {
                let (mean, right) = tally.read_window();
                if watch.diverged(mean) {
                    return Err(TrainError::Diverged {
                        epoch: epoch + 1,
                        step: steps,
                        loss: mean,
                        chance: watch.chance,
                        fix: divergence_fix(cfg),
                    });
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
                    elapsed: earlier + started.elapsed().as_secs_f64(),
                }));
            }
            if probe_at(steps, steps_per_epoch, job.probes) {
                let t = Instant::now();
                let v = evaluate_head(&model.valid(), &test, input, PROBE_IMAGES);
                emit(TrainEvent::Validation(Validation {
                    at: epoch as f64 + steps as f64 / steps_per_epoch as f64,
                    loss: v.loss,
                    accuracy: v.accuracy,
                    images: v.predictions.len(),
                }));
                probing += t.elapsed().as_secs_f64();
            }
        }
        let train_secs = epoch_start.elapsed().as_secs_f64() - probing;
        let (loss_sum, correct) = tally.epoch();
        let (train_loss, train_accuracy) = (loss_sum / n as f64, correct / n as f64);
        // More epochs would not bring a saturated net back: stop and say what to lower.
        let previous = epochs.last().map(|e| (e.train_loss, e.train_accuracy));
        if previous
            .is_some_and(|p| watch.saturated(steps_per_epoch, [p, (train_loss, train_accuracy)]))
        {
            return Err(TrainError::Diverged {
                epoch: epoch + 1,
                step: steps_per_epoch,
                loss: train_loss,
                chance: watch.chance,
                fix: divergence_fix(cfg),
            });
        }
        emit(TrainEvent::Evaluating { epoch });
        let eval = evaluate(&model.valid(), &test, input);
        if let Some(slot) = job.checkpoints {
            // Losing the checkpoint only costs resumability: the run goes on.
            if let Err(e) = checkpoint::save(slot, cfg, epoch + 1, &model, &optim) {
                emit(TrainEvent::Warning(e.to_string()));
            }
        }
        let stats = EpochStats {
            epoch: epoch + 1,
            lr,
            train_loss,
            train_accuracy,
            val_loss: eval.loss,
            val_accuracy: eval.accuracy,
            seconds: epoch_start.elapsed().as_secs_f64(),
            train_images_per_sec: n as f64 / train_secs.max(1e-9),
        };
        emit(TrainEvent::Epoch(stats));
        epochs.push(stats);
        last_eval = Some(eval);
    }

    // A run resumed after its last epoch still gets its final evaluation.
    let eval = match last_eval {
        Some(e) => e,
        None => evaluate(&model.valid(), &test, input),
    };
    let confusion = Confusion::from_labels(CLASSES.len(), &test.host_labels, &eval.predictions);
    let seconds = started.elapsed().as_secs_f64();
    let trained = epochs.iter().map(|e| e.seconds).sum::<f64>().max(1e-9);
    Ok(Outcome {
        device: kind,
        report: confusion.report(),
        confusion,
        seconds: trained.max(seconds),
        images_per_sec: (n * epochs.len()) as f64 / trained,
        epochs,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::backend::{Cpu, CpuAd};
    use crate::config::{Hyper, Init, LossKind, LrPolicy, OptimizerKind, Order};
    use crate::data::cifar::IMAGE_BYTES;
    use crate::events::PROBES;
    use crate::tricks::{self, Trick, TrickSet};
    use rand::Rng;
    use std::path::Path;

    /// A learnable toy set: each class has its own colour (its base-3 digits pick one of three
    /// levels per channel), plus noise.
    pub(crate) fn synthetic(n: usize, seed: u64) -> Split {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut split = Split::default();
        for i in 0..n {
            let label = (i % 10) as u8;
            split.labels.push(label);
            for c in 0..3 {
                let digit = (label as u32 / 3u32.pow(c as u32)) % 3;
                let base = 40 + 88 * digit as i32;
                for _ in 0..1024 {
                    let v = base + rng.random_range(-25..=25);
                    split.images.push(v.clamp(0, 255) as u8);
                }
            }
        }
        split
    }

    pub(crate) fn tiny() -> Cifar10 {
        Cifar10 {
            train: synthetic(400, 1),
            test: synthetic(100, 2),
        }
    }

    fn config(tricks: &[Trick]) -> TrainConfig {
        let set: TrickSet = tricks.iter().copied().collect();
        let mut cfg = tricks::resolve(
            &set,
            &Hyper {
                epochs: 3,
                batch_size: 32,
                ..Hyper::default()
            },
        );
        cfg.seed = 7;
        cfg
    }

    /// A job on `data` that keeps no checkpoint, resumes nothing, and takes no validation
    /// point within the epoch nor a warm-up: tests add what they look at.
    fn plain_job<'a>(
        data: &'a Cifar10,
        config: &'a TrainConfig,
        cancel: &'a AtomicBool,
    ) -> Job<'a> {
        Job {
            data,
            config,
            cancel,
            checkpoints: None,
            done: Vec::new(),
            probes: 0,
            warm_up: false,
        }
    }

    /// Trains on [`tiny`]; `stop_after` cancels the run once that many epochs are done.
    fn run_tiny(
        cfg: &TrainConfig,
        checkpoints: Option<&Path>,
        done: Vec<EpochStats>,
        stop_after: Option<usize>,
    ) -> Result<Outcome, TrainError> {
        let cancel = AtomicBool::new(false);
        let data = tiny();
        let owner = checkpoint::Owner {
            history: "test.db".into(),
            run: 1,
            created: "now".into(),
        };
        let job = Job {
            checkpoints: checkpoints.map(|dir| checkpoint::Slot { dir, owner: &owner }),
            done,
            ..plain_job(&data, cfg, &cancel)
        };
        train::<CpuAd>(&Default::default(), Device::Cpu, job, |e| {
            if let (TrainEvent::Epoch(e), Some(k)) = (e, stop_after)
                && e.epoch == k
            {
                cancel.store(true, Ordering::Relaxed);
            }
        })
    }

    fn train_tiny(cfg: &TrainConfig) -> Outcome {
        run_tiny(cfg, None, Vec::new(), None).unwrap()
    }

    /// Everything but wall-clock times.
    fn figures(o: &Outcome) -> Vec<(usize, f64, f64, f64, f64, f64, f64)> {
        o.epochs
            .iter()
            .map(|e| {
                (
                    e.epoch,
                    e.lr,
                    e.train_loss,
                    e.train_accuracy,
                    e.val_loss,
                    e.val_accuracy,
                    0.0,
                )
            })
            .collect()
    }

    #[test]
    fn a_resumed_run_ends_exactly_like_an_uninterrupted_one() {
        let cfg = config(&[Trick::DropoutConv, Trick::WeightDecay, Trick::LrSchedule]);
        resumes_exactly(&cfg);
    }

    /// Every optimizer's state survives a checkpoint: SGD's velocities, and an L2 that starts
    /// after the resume point (the optimizer is rebuilt there with its state).
    #[test]
    fn resume_works_for_every_optimizer() {
        for optimizer in [OptimizerKind::Sgd, OptimizerKind::SgdMomentum] {
            let hyper = Hyper {
                epochs: 3,
                batch_size: 32,
                optimizer,
                regularize_after: 1,
                loss: LossKind::Mse,
                order: Order::Interleaved,
                ..Hyper::default()
            };
            let mut cfg = tricks::resolve(&[Trick::WeightDecay, Trick::L1].into(), &hyper);
            cfg.seed = 7;
            resumes_exactly(&cfg);
        }
    }

    fn resumes_exactly(cfg: &TrainConfig) {
        let cfg = cfg.clone();
        let whole = train_tiny(&cfg);
        let tmp = tempfile::tempdir().unwrap();
        let stopped = run_tiny(&cfg, Some(tmp.path()), Vec::new(), Some(1));
        assert!(matches!(stopped, Err(TrainError::Cancelled)));
        assert_eq!(checkpoint::complete(tmp.path()), [1]);
        let first = whole.epochs[..1].to_vec();
        let resumed = run_tiny(&cfg, Some(tmp.path()), first, None).unwrap();
        assert_eq!(figures(&resumed), figures(&whole));
        assert_eq!(resumed.confusion, whole.confusion);
        assert_eq!(
            checkpoint::complete(tmp.path()),
            [1, 2, 3],
            "the engine removes no checkpoint: its caller prunes after recording the epoch"
        );
    }

    /// The app shows "scoring the test set" instead of a frozen gauge: each epoch says when
    /// its steps are done, before its figures; its running train accuracy ends at the epoch's.
    #[test]
    fn each_epoch_says_when_its_test_set_is_scored() {
        let cfg = config(&[]);
        let (data, cancel) = (tiny(), AtomicBool::new(false));
        let job = plain_job(&data, &cfg, &cancel);
        let mut said = Vec::new();
        let mut running = 0.0;
        train::<CpuAd>(&Default::default(), Device::Cpu, job, |e| match e {
            TrainEvent::Evaluating { epoch } => said.push(format!("scoring {epoch}")),
            TrainEvent::Epoch(e) => {
                said.push(format!("epoch {}", e.epoch));
                // The last report of an epoch covers all of it: the running train accuracy
                // is then the epoch's.
                assert!(
                    (running - e.train_accuracy).abs() < 1e-12,
                    "{running} {e:?}"
                );
            }
            TrainEvent::Progress(p) => running = p.accuracy,
            _ => {}
        })
        .unwrap();
        let expected: Vec<String> = (0..cfg.epochs)
            .flat_map(|k| [format!("scoring {k}"), format!("epoch {}", k + 1)])
            .collect();
        assert_eq!(said, expected);
    }

    /// Validation points within the epoch read the model and draw no random number: a run
    /// with them ends with the figures of a run without them, and they come where asked.
    #[test]
    fn validation_within_the_epoch_changes_nothing_and_comes_evenly() {
        let cfg = config(&[Trick::DropoutConv, Trick::DropoutDense, Trick::NormInputs]);
        let run = |probes| {
            let (data, cancel) = (tiny(), AtomicBool::new(false));
            let job = Job {
                probes,
                ..plain_job(&data, &cfg, &cancel)
            };
            let mut points = Vec::new();
            let outcome = train::<CpuAd>(&Default::default(), Device::Cpu, job, |e| {
                if let TrainEvent::Validation(v) = e {
                    points.push(v);
                }
            })
            .unwrap();
            (outcome, points)
        };
        let (plain, none) = run(0);
        let (watched, points) = run(PROBES);
        assert!(none.is_empty());
        assert_eq!(figures(&watched), figures(&plain));
        assert_eq!(watched.confusion, plain.confusion);
        // 400 images in batches of 32: 13 steps an epoch, points after steps 4, 7 and 10
        // (the 13th is the epoch's own evaluation).
        let expected: Vec<f64> = (0..cfg.epochs)
            .flat_map(|e| [4.0, 7.0, 10.0].map(|s| e as f64 + s / 13.0))
            .collect();
        let at: Vec<f64> = points.iter().map(|v| v.at).collect();
        assert_eq!(at, expected);
        // The tiny test set has fewer than PROBE_IMAGES: all of it is scored.
        assert!(points.iter().all(|v| v.images == 100));
        assert!(points.iter().all(|v| (0.0..=1.0).contains(&v.accuracy)));
        assert!(!probe_at(13, 13, PROBES) && !probe_at(3, 13, PROBES) && probe_at(4, 13, PROBES));
        assert!(
            (1..100).all(|s| !probe_at(s, 100, 1)),
            "one point: the epoch's own"
        );
    }

    /// The GPU's warm-up, run here on the CPU: every batch shape once on throwaway copies, said
    /// step by step before the first training step, and the run's figures are those of a run
    /// without it (the epoch loop reseeds what the warm-up drew).
    #[test]
    fn the_warm_up_says_its_progress_and_changes_nothing() {
        let cfg = config(&[Trick::DropoutConv, Trick::WeightDecay]);
        let run = |warm_up| {
            let (data, cancel) = (tiny(), AtomicBool::new(false));
            let job = Job {
                warm_up,
                ..plain_job(&data, &cfg, &cancel)
            };
            let mut said = Vec::new();
            let outcome = train::<CpuAd>(&Default::default(), Device::Cpu, job, |e| match e {
                TrainEvent::Preparing { done, total } => said.push(format!("{done}/{total}")),
                TrainEvent::Progress(_) if said.last().is_some_and(|s| s != "step") => {
                    said.push("step".into())
                }
                _ => {}
            })
            .unwrap();
            (outcome, said)
        };
        let (plain, none) = run(false);
        let (warmed, said) = run(true);
        assert!(none.is_empty());
        // 400 images in batches of 32 (and a last one of 16), 100 test images: three shapes.
        assert_eq!(said, ["0/3", "1/3", "2/3", "3/3", "step"]);
        assert_eq!(figures(&warmed), figures(&plain));
        assert_eq!(warmed.confusion, plain.confusion);
        assert_eq!(shapes(50_000, 64, 10_000), (vec![64, 16], vec![1000]));
        assert_eq!(shapes(50_000, 100, 10_500), (vec![100], vec![1000, 500]));
        assert_eq!(shapes(30, 64, 500), (vec![30], vec![500]));
    }

    #[test]
    fn a_saturated_net_is_told_from_a_slow_one() {
        let watch = Divergence::new(10);
        let stuck = (14.08, 0.10018);
        // LeCun's recipe at sgd_lr 0.02 on real CIFAR-10: every epoch at 10%, loss 14-15.
        assert!(watch.saturated(782, [stuck, (15.3, 0.1)]));
        // Slow but sane: near chance with a loss near ln 10; or learning with a high loss.
        assert!(!watch.saturated(782, [(2.31, 0.1), (2.31, 0.1)]));
        assert!(!watch.saturated(782, [stuck, (5.0, 0.2)]));
        assert!(!watch.saturated(782, [stuck, (0.9, 0.7)]));
        // One bad epoch is no verdict: it can learn in the next.
        assert!(!watch.saturated(782, [(0.9, 0.7), stuck]));
        // One step of 64 images (a test's subset): a fresh net's 5.3 at chance is no verdict.
        assert!(!watch.saturated(1, [(5.293, 0.094), (5.293, 0.094)]));
    }

    #[test]
    fn the_divergence_watch_tells_blown_up_losses_from_noisy_ones() {
        let watch = Divergence::new(10);
        let first = |losses: &[f64]| losses.iter().position(|&l| watch.diverged(l));
        // Learning, with a bumpy start and a spike well above the start.
        assert_eq!(first(&[2.31, 2.9, 2.05, 6.5, 1.7, 1.2, 0.4]), None);
        // Overfitting or a too-high lr that stays near chance is not divergence.
        assert_eq!(first(&[2.3, 2.30, 2.31, 2.302, 2.9]), None);
        // Adam keeps a blown-up loss finite: 1.75e12 after lr = 9.
        assert_eq!(first(&[2.3, 1.75e12]), Some(1));
        assert_eq!(first(&[2.3, 4.1, 11.0, 40.0, 9.0]), Some(3));
        assert_eq!(first(&[2.3, f64::NAN]), Some(1));
        assert_eq!(first(&[f64::INFINITY]), Some(0));
        assert_eq!(first(&[1e5]), Some(0), "blown up before the first report");
    }

    #[test]
    fn a_diverging_run_stops_and_names_the_setting_to_lower() {
        let mut cfg = config(&[]);
        cfg.lr = LrPolicy::Constant { lr: 9.0 };
        let err = run_tiny(&cfg, None, Vec::new(), None).unwrap_err();
        let TrainError::Diverged { epoch, loss, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(*epoch, 1);
        assert!(!loss.is_finite() || *loss > 23.0, "{loss}");
        let msg = err.to_string();
        assert!(msg.contains("lower `lr` (now 9)"), "{msg}");
        let mut sgd = cfg.clone();
        sgd.optimizer = Optimizer::Sgd;
        assert!(divergence_fix(&sgd).contains("lower `sgd_lr` (now 9)"));

        cfg.weight_decay = Some(0.99);
        cfg.batch_size = 1;
        let fix = divergence_fix(&cfg);
        assert!(fix.contains("`weight_decay` (now 0.99)"), "{fix}");
        assert!(fix.contains("raise `batch_size` (now 1)"), "{fix}");
        assert!(
            !divergence_fix(&config(&[])).contains(", or "),
            "defaults are not blamed"
        );
    }

    #[test]
    fn a_missing_checkpoint_is_a_clear_error() {
        let cfg = config(&[]);
        let tmp = tempfile::tempdir().unwrap();
        let done = train_tiny(&cfg).epochs[..1].to_vec();
        let err = run_tiny(&cfg, Some(tmp.path()), done, None).unwrap_err();
        assert!(err.to_string().contains("after epoch 1"), "{err}");
        assert!(err.to_string().contains("stays resumable"), "{err}");
    }

    #[test]
    fn normalized_batches_have_zero_mean_and_unit_std_per_channel() {
        let split = synthetic(200, 3);
        let dev = Default::default();
        let data = DeviceSplit::<Cpu>::upload(&split, &dev);
        let input = InputMap::new(Some(split.channel_stats()));
        let (x, _) = data.range(0, 200, input);
        for c in 0..3 {
            let ch = x.clone().slice([0..200, c..c + 1]).flatten::<1>(0, 3);
            let mean: f32 = ch.clone().mean().into_scalar();
            let std: f32 = (ch.clone() - mean)
                .powf_scalar(2.0)
                .mean()
                .sqrt()
                .into_scalar();
            assert!(mean.abs() < 1e-3, "channel {c} mean {mean}");
            assert!((std - 1.0).abs() < 1e-3, "channel {c} std {std}");
        }
        // Without normalization: u8 / 255, like PyTorch's ToTensor.
        let raw = InputMap::new(None);
        let (x, y) = data.range(5, 6, raw);
        let first: f32 = x.slice([0..1, 0..1, 0..1, 0..1]).into_scalar();
        assert!((first - split.images[5 * IMAGE_BYTES] as f32 / 255.0).abs() < 1e-6);
        assert_eq!(y.into_scalar().elem::<i64>(), split.labels[5] as i64);
    }

    #[test]
    fn whitened_batches_are_the_rows_at_the_index_as_images() {
        let split = synthetic(20, 6);
        let dev = Default::default();
        let zca = Zca::<Cpu>::identity(IMAGE_BYTES, 0.5, &dev);
        let data = DeviceSplit::<Cpu>::upload_whitened(&split, &zca, &dev);
        let (x, y) = data.batch(&[7, 2], InputMap::new(None));
        assert_eq!(x.dims(), [2, 3, 32, 32]);
        let got: Vec<f32> = x.into_data().to_vec().unwrap();
        for (k, &row) in [7usize, 2].iter().enumerate() {
            for j in [0, 1, 1023, 1024, 3071] {
                let want = split.images[row * IMAGE_BYTES + j] as f32 / 255.0 - 0.5;
                assert!(
                    (got[k * IMAGE_BYTES + j] - want).abs() < 1e-6,
                    "row {row} pixel {j}"
                );
            }
        }
        let labels: Vec<i64> = y.into_data().iter::<i64>().collect();
        assert_eq!(labels, [split.labels[7] as i64, split.labels[2] as i64]);
    }

    /// One step of epoch `epoch` on a fixed batch; returns sum |w| over the weights before and
    /// after.
    fn one_step_in(cfg: &TrainConfig, epoch: usize) -> (f32, f32) {
        let dev = Default::default();
        let model: Cnn<CpuAd> = CnnSpec::from(cfg).init(11, &dev);
        let split = synthetic(32, 4);
        let data = DeviceSplit::<CpuAd>::upload(&split, &dev);
        let xy = data.range(0, 32, InputMap::new(None));
        let before: f32 = model.l1_norm().into_scalar();
        let mut optim = Optim::new(cfg, epoch);
        let objective = Objective::new(cfg, epoch, &dev);
        let key = StepKey::new(11, epoch, 0);
        let (model, _, _) = step(model, &mut optim, &objective, 1e-3, key, xy);
        (before, model.l1_norm().into_scalar())
    }

    fn one_step(cfg: &TrainConfig) -> (f32, f32) {
        one_step_in(cfg, 0)
    }

    #[test]
    fn l1_and_l2_change_the_update_and_pull_weights_to_zero() {
        let plain = config(&[]);
        let (b0, a0) = one_step(&plain);
        let mut l2 = plain.clone();
        l2.weight_decay = Some(10.0);
        let mut l1 = plain.clone();
        l1.l1 = Some(10.0);
        let (b2, a2) = one_step(&l2);
        let (b1, a1) = one_step(&l1);
        assert_eq!((b0, b0), (b1, b2), "same initial weights");
        // 122,570 params, each moved by ~lr = 1e-3 towards zero: sum |w| drops by ~120.
        assert!(b2 - a2 > 50.0, "L2: {b2} -> {a2}");
        assert!(b1 - a1 > 50.0, "L1: {b1} -> {a1}");
        assert!((b0 - a0).abs() < 50.0, "plain step: {b0} -> {a0}");
        assert_ne!(a1, a2, "L1 and L2 are different penalties");
    }

    #[test]
    fn delayed_l1_and_l2_are_off_before_their_epoch_and_on_after() {
        let mut plain = config(&[]);
        plain.regularize_from = 2;
        let mut l2 = plain.clone();
        l2.weight_decay = Some(10.0);
        let mut l1 = plain.clone();
        l1.l1 = Some(10.0);
        let (b0, a0) = one_step_in(&plain, 0);
        for epoch in [0, 1] {
            // Before epoch 2 the penalties do not act: the step is the plain one, exactly.
            assert_eq!(one_step_in(&l2, epoch), (b0, a0), "L2 in epoch {epoch}");
            assert_eq!(one_step_in(&l1, epoch), (b0, a0), "L1 in epoch {epoch}");
        }
        for epoch in [2, 3] {
            let (b2, a2) = one_step_in(&l2, epoch);
            let (b1, a1) = one_step_in(&l1, epoch);
            assert!(b2 - a2 > 50.0, "L2 in epoch {epoch}: {b2} -> {a2}");
            assert!(b1 - a1 > 50.0, "L1 in epoch {epoch}: {b1} -> {a1}");
        }
        assert_eq!(
            (0..4).map(|e| l1.l1_at(e)).collect::<Vec<_>>(),
            [None, None, Some(10.0), Some(10.0)]
        );
    }

    #[test]
    fn a_short_training_on_tiny_synthetic_data_learns() {
        let out = train_tiny(&config(&[Trick::NormInputs, Trick::InitWeights]));
        assert_eq!(out.epochs.len(), 3);
        let first = out.epochs[0];
        let last = out.epochs[2];
        assert!(last.train_loss < first.train_loss, "{first:?} -> {last:?}");
        assert!(
            out.report.accuracy > 0.8,
            "accuracy {}",
            out.report.accuracy
        );
        assert_eq!(out.confusion.total(), 100);
        assert_eq!(
            out.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_run() {
        let cfg = config(&[Trick::DropoutDense, Trick::LrSchedule]);
        let (a, b) = (train_tiny(&cfg), train_tiny(&cfg));
        assert_eq!(figures(&a), figures(&b));
        assert_eq!(a.confusion, b.confusion);
        let mut other = cfg.clone();
        other.seed += 1;
        assert_ne!(figures(&a), figures(&train_tiny(&other)));
        assert!(matches!(cfg.lr, LrPolicy::Exponential { .. }));
        assert_eq!(a.epochs[2].lr, cfg.lr.at(2));
    }

    #[test]
    fn cancel_stops_the_run() {
        let r = run_tiny(&config(&[]), None, Vec::new(), Some(1));
        assert!(matches!(r, Err(TrainError::Cancelled)));
    }

    #[test]
    fn epoch_order_is_a_seeded_permutation() {
        let labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
        let order = |seed, epoch| epoch_order(Order::Shuffled, seed, epoch, &labels);
        let a = order(1, 0);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_eq!(a, order(1, 0));
        assert_ne!(a, order(1, 1));
        assert_ne!(a, order(2, 0));
        let _ = Init::Default;
    }

    #[test]
    fn sequential_order_is_the_files_every_epoch() {
        let labels = [3u8, 1, 4, 1, 5];
        for epoch in 0..3 {
            assert_eq!(
                epoch_order(Order::Sequential, 9, epoch, &labels),
                [0, 1, 2, 3, 4]
            );
        }
    }

    #[test]
    fn interleaved_order_deals_the_classes_in_turn() {
        // 3 classes of unequal size, in the order a shuffled file might hold them.
        let labels: Vec<u8> = [0u8, 0, 1, 2, 0, 1, 0, 2, 1, 0, 0, 2].into_iter().collect();
        let count = |c: u8| labels.iter().filter(|&&l| l == c).count();
        assert_eq!((count(0), count(1), count(2)), (6, 3, 3));
        let order = epoch_order(Order::Interleaved, 4, 0, &labels);
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, (0..12).collect::<Vec<_>>(), "a permutation");
        let classes: Vec<u8> = order.iter().map(|&i| labels[i as usize]).collect();
        // Three full turns, then class 0's leftovers.
        assert_eq!(classes, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0, 0]);
        // Within a class, the epoch's shuffle decides who comes first.
        let of_class = |o: &[i64], c: u8| -> Vec<i64> {
            o.iter()
                .copied()
                .filter(|&i| labels[i as usize] == c)
                .collect()
        };
        let shuffled = epoch_order(Order::Shuffled, 4, 0, &labels);
        assert_eq!(of_class(&order, 0), of_class(&shuffled, 0));
        let other = (1..20)
            .map(|e| epoch_order(Order::Interleaved, 4, e, &labels))
            .any(|o| of_class(&o, 0) != of_class(&order, 0));
        assert!(other, "the order within classes changes with the epoch");

        // Balanced CIFAR-like labels: every run of 10 holds each class once.
        let labels: Vec<u8> = (0..1000).map(|i| ((i * 7) % 10) as u8).collect();
        let order = epoch_order(Order::Interleaved, 1, 0, &labels);
        for turn in order.chunks(10) {
            let mut c: Vec<u8> = turn.iter().map(|&i| labels[i as usize]).collect();
            c.sort();
            assert_eq!(c, (0..10).collect::<Vec<u8>>());
        }
    }

    /// Runs trained side by side, each on its own thread as the app trains them, give exactly
    /// the figures they give alone: the same initial weights, data order and dropout masks.
    #[test]
    fn runs_side_by_side_equal_their_solo_runs() {
        let mut a = config(&[Trick::DropoutConv, Trick::DropoutDense, Trick::InitWeights]);
        a.epochs = 2;
        let mut b = config(&[Trick::NormInputs, Trick::DropoutDense]);
        b.epochs = 2;
        b.seed = 8;
        let (solo_a, solo_b) = (train_tiny(&a), train_tiny(&b));
        let together = {
            let data = tiny();
            let run = |cfg: &TrainConfig| {
                let cancel = AtomicBool::new(false);
                let job = plain_job(&data, cfg, &cancel);
                train::<CpuAd>(&Default::default(), Device::Cpu, job, |_| {}).unwrap()
            };
            std::thread::scope(|s| {
                let ta = s.spawn(|| run(&a));
                let tb = s.spawn(|| run(&b));
                (ta.join().unwrap(), tb.join().unwrap())
            })
        };
        let figures = |o: &Outcome| {
            let epochs: Vec<_> = o
                .epochs
                .iter()
                .map(|e| (e.train_loss, e.train_accuracy, e.val_loss, e.val_accuracy))
                .collect();
            (epochs, o.confusion.clone())
        };
        assert_eq!(figures(&together.0), figures(&solo_a));
        assert_eq!(figures(&together.1), figures(&solo_b));
        assert_ne!(figures(&solo_a), figures(&solo_b));
    }

    /// One run of two side by side cancelled after its first epoch (as `c` on the Train
    /// screen does) ends exactly like its solo run once resumed from its checkpoint, and the
    /// other run, which went on training beside it, like its own.
    #[test]
    fn one_run_cancelled_among_several_resumes_to_its_solo_figures() {
        let mut a = config(&[Trick::DropoutConv, Trick::LrSchedule]);
        a.epochs = 3;
        let mut b = config(&[Trick::NormInputs]);
        b.epochs = 3;
        b.seed = 8;
        let (solo_a, solo_b) = (train_tiny(&a), train_tiny(&b));
        let tmp = tempfile::tempdir().unwrap();
        let (stopped, beside) = {
            let data = tiny();
            let owner = checkpoint::Owner {
                history: "test.db".into(),
                run: 1,
                created: "now".into(),
            };
            std::thread::scope(|s| {
                let ta = s.spawn(|| {
                    let cancel = AtomicBool::new(false);
                    let job = Job {
                        checkpoints: Some(checkpoint::Slot {
                            dir: tmp.path(),
                            owner: &owner,
                        }),
                        ..plain_job(&data, &a, &cancel)
                    };
                    train::<CpuAd>(&Default::default(), Device::Cpu, job, |e| {
                        if matches!(e, TrainEvent::Epoch(e) if e.epoch == 1) {
                            cancel.store(true, Ordering::Relaxed);
                        }
                    })
                });
                let tb = s.spawn(|| {
                    let cancel = AtomicBool::new(false);
                    let job = plain_job(&data, &b, &cancel);
                    train::<CpuAd>(&Default::default(), Device::Cpu, job, |_| {})
                });
                (ta.join().unwrap(), tb.join().unwrap().unwrap())
            })
        };
        assert!(matches!(stopped, Err(TrainError::Cancelled)));
        assert_eq!(figures(&beside), figures(&solo_b));
        assert_eq!(beside.confusion, solo_b.confusion);
        let first = solo_a.epochs[..1].to_vec();
        let resumed = run_tiny(&a, Some(tmp.path()), first, None).unwrap();
        assert_eq!(figures(&resumed), figures(&solo_a));
        assert_eq!(resumed.confusion, solo_a.confusion);
    }
}
