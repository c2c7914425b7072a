//! The editable hyper-parameters and the resolved configuration a run trains with.

use serde::{Deserialize, Serialize};

/// One trick from "Efficient BackProp" / the NYU Deep Learning lecture on training tricks: its
/// name, as stored with every run. What it does is its row in [`crate::tricks::TRICKS`] (the
/// configuration names its tricks; the table depends on the configuration, not back).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trick {
    NormInputs,
    LrSchedule,
    WeightDecay,
    L1,
    InitWeights,
    DropoutDense,
    DropoutConv,
    ScaledTanh,
    LecunInit,
    MseTargets,
    SgdMomentum,
    InterleaveClasses,
    Zca,
}

/// The values a person edits: the baseline's and each trick's strength. Which tricks are on is
/// kept apart (a [`crate::tricks::TrickSet`]); [`crate::tricks::resolve`] combines the two.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Hyper {
    pub epochs: usize,
    pub batch_size: usize,
    /// Fixed Adam learning rate when `lr_schedule` is off.
    pub lr: f64,
    /// Initial learning rate of `lr_schedule`.
    pub schedule_lr: f64,
    /// Per-epoch decay factor of `lr_schedule` (PyTorch's `ExponentialLR` gamma).
    pub schedule_gamma: f64,
    /// L2 coefficient of `weight_decay`, added to the gradient as in PyTorch's Adam.
    pub weight_decay: f64,
    /// L1 coefficient: `l1 * sum |w|` over conv and dense weights is added to the loss.
    pub l1: f64,
    /// Drop probability of both dropout tricks.
    pub dropout: f64,
    pub seed: u64,
    /// The non-linearity when the `scaled_tanh` trick is off.
    pub activation: Activation,
    /// What the optimizer minimises when the `mse_targets` trick is off.
    pub loss: LossKind,
    /// The targets of the MSE loss.
    pub targets: Targets,
    /// The optimizer when the `sgd_momentum` trick is off.
    pub optimizer: OptimizerKind,
    /// SGD's fixed learning rate (plain or with momentum); `lr` is Adam's.
    pub sgd_lr: f64,
    /// SGD's momentum coefficient (PyTorch's `momentum`, no dampening).
    pub momentum: f64,
    /// The order of training images in an epoch when `interleave_classes` is off.
    pub order: Order,
    /// `zca`'s regulariser, added to the covariance's eigenvalues (inputs in [0, 1]).
    pub zca_epsilon: f64,
    /// L1 and L2 act from this epoch on (0: from the start).
    pub regularize_after: usize,
    /// Training images held out to validate on (the last N of the training set); 0: the test
    /// set validates, as in the seed notebook. See [`TrainConfig::val_split`].
    pub val_split: usize,
}

impl Default for Hyper {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 64,
            lr: 1e-3,
            schedule_lr: 2e-3,
            schedule_gamma: 0.8,
            weight_decay: 1e-4,
            l1: 1e-5,
            dropout: 0.2,
            seed: 42,
            activation: Activation::Relu,
            loss: LossKind::CrossEntropy,
            targets: Targets::OneHot,
            optimizer: OptimizerKind::Adam,
            sgd_lr: 2.5e-3,
            momentum: 0.9,
            order: Order::Shuffled,
            zca_epsilon: 1e-2,
            regularize_after: 0,
            val_split: 0,
        }
    }
}

/// The largest batch config.toml, the command line and the interface accept: one step at 4096
/// keeps about 1.3 GB of activations on the CPU (see [`TrainConfig::memory_estimate`]); the interface doubles
/// up to it.
pub const MAX_BATCH: usize = 4096;

/// A value outside the range training can use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{field}` = {value} is out of range: {expected}")]
pub struct OutOfRange {
    pub field: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl Hyper {
    /// Checks every value; the first bad one is reported with the range it must lie in.
    pub fn validate(&self) -> Result<(), OutOfRange> {
        fn check(
            ok: bool,
            field: &'static str,
            value: impl ToString,
            expected: &'static str,
        ) -> Result<(), OutOfRange> {
            if ok {
                Ok(())
            } else {
                Err(OutOfRange {
                    field,
                    value: value.to_string(),
                    expected,
                })
            }
        }
        let pos = |x: f64| x.is_finite() && x > 0.0;
        let nonneg = |x: f64| x.is_finite() && x >= 0.0;
        check(
            (1..=1000).contains(&self.epochs),
            "epochs",
            self.epochs,
            "1 to 1000",
        )?;
        check(
            (1..=MAX_BATCH).contains(&self.batch_size),
            "batch_size",
            self.batch_size,
            "1 to 4096",
        )?;
        check(
            pos(self.lr) && self.lr < 10.0,
            "lr",
            self.lr,
            "> 0 and < 10",
        )?;
        check(
            pos(self.schedule_lr) && self.schedule_lr < 10.0,
            "schedule_lr",
            self.schedule_lr,
            "> 0 and < 10",
        )?;
        check(
            pos(self.schedule_gamma) && self.schedule_gamma <= 1.0,
            "schedule_gamma",
            self.schedule_gamma,
            "> 0 and <= 1",
        )?;
        check(
            nonneg(self.weight_decay) && self.weight_decay < 1.0,
            "weight_decay",
            self.weight_decay,
            ">= 0 and < 1",
        )?;
        check(
            nonneg(self.l1) && self.l1 < 1.0,
            "l1",
            self.l1,
            ">= 0 and < 1",
        )?;
        check(
            nonneg(self.dropout) && self.dropout < 1.0,
            "dropout",
            self.dropout,
            ">= 0 and < 1",
        )?;
        check(
            pos(self.sgd_lr) && self.sgd_lr < 10.0,
            "sgd_lr",
            self.sgd_lr,
            "> 0 and < 10",
        )?;
        check(
            nonneg(self.momentum) && self.momentum < 1.0,
            "momentum",
            self.momentum,
            ">= 0 and < 1",
        )?;
        check(
            pos(self.zca_epsilon) && self.zca_epsilon <= 10.0,
            "zca_epsilon",
            self.zca_epsilon,
            "> 0 and <= 10",
        )?;
        check(
            self.regularize_after < 1000,
            "regularize_after",
            self.regularize_after,
            "0 to 999 (epochs)",
        )?;
        check(
            self.val_split < TRAIN_IMAGES,
            "val_split",
            self.val_split,
            "0 (the test set validates) to 49999 held-out training images",
        )
    }
}

/// How the learning rate moves over the epochs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrPolicy {
    Constant {
        lr: f64,
    },
    /// `initial * gamma^epoch`, stepped once per epoch like PyTorch's `ExponentialLR`.
    Exponential {
        initial: f64,
        gamma: f64,
    },
}

impl LrPolicy {
    /// The learning rate of a (0-based) epoch. A pure function of the epoch, so a resumed or
    /// replayed run gets exactly the same rates.
    pub fn at(&self, epoch: usize) -> f64 {
        match *self {
            LrPolicy::Constant { lr } => lr,
            LrPolicy::Exponential { initial, gamma } => initial * gamma.powi(epoch as i32),
        }
    }
}

/// The non-linearity after every convolution and after the first dense layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// max(0, x): the seed study's choice.
    #[default]
    Relu,
    Tanh,
    /// LeCun's sigmoid, 1.7159 tanh(2x/3): f(+-1) = +-1, and the gain is near 1 where inputs
    /// are standardised (Efficient BackProp, sec. 4.4).
    ScaledTanh,
    /// The logistic function 1 / (1 + e^-x): not zero-centred, which LeCun advises against.
    Sigmoid,
}

impl Activation {
    pub const ALL: [Activation; 4] = [
        Activation::Relu,
        Activation::Tanh,
        Activation::ScaledTanh,
        Activation::Sigmoid,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::ScaledTanh => "scaled_tanh",
            Activation::Sigmoid => "sigmoid",
        }
    }
}

impl std::str::FromStr for Activation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.key().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("unknown activation `{s}`: use relu, tanh, scaled_tanh or sigmoid")
            })
    }
}

/// A setting with a few named values: `ALL`, `key()` (the name in config.toml, the command
/// line and stored runs) and `FromStr` (unknown names list the valid ones).
macro_rules! named_values {
    ($ty:ident, $what:literal, $($variant:ident => $key:literal),+ $(,)?) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub fn key(self) -> &'static str {
                match self {
                    $($ty::$variant => $key),+
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.key().eq_ignore_ascii_case(s.trim()))
                    .ok_or_else(|| {
                        let valid: Vec<_> = Self::ALL.iter().map(|v| v.key()).collect();
                        format!("unknown {} `{s}`: use {}", $what, valid.join(", "))
                    })
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.key())
            }
        }
    };
}

/// What the optimizer minimises (the `loss` setting).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Softmax cross-entropy on the logits: the seed study's choice.
    #[default]
    CrossEntropy,
    /// Mean squared error to per-class targets (see [`Targets`]).
    Mse,
}
named_values!(LossKind, "loss", CrossEntropy => "cross_entropy", Mse => "mse");

/// The MSE loss's targets: the value the true class's output should reach, and the others'.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Targets {
    /// 1 for the true class, 0 for the others.
    #[default]
    OneHot,
    /// Where the output non-linearity's second derivative peaks, so outputs are never driven
    /// into saturation: ±1 for LeCun's tanh (Efficient BackProp, sec. 4.5).
    Lecun,
}
named_values!(Targets, "targets", OneHot => "one_hot", Lecun => "lecun");

/// The optimizer (the `optimizer` setting).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// PyTorch's Adam (eps 1e-8, coupled L2) at `lr`: the seed study's choice.
    #[default]
    Adam,
    /// Plain stochastic gradient descent at `sgd_lr`.
    Sgd,
    /// SGD with momentum `momentum` at `sgd_lr`.
    SgdMomentum,
}
named_values!(OptimizerKind, "optimizer", Adam => "adam", Sgd => "sgd", SgdMomentum => "sgd_momentum");

/// The order of training images within an epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// A fresh seeded permutation every epoch: the seed study's choice.
    #[default]
    Shuffled,
    /// The file's order, every epoch the same (no shuffling).
    Sequential,
    /// Shuffled within each class, then one image of each class in turn (Efficient BackProp,
    /// sec. 4.2: "present examples from different classes in turn").
    Interleaved,
}
named_values!(Order, "order", Shuffled => "shuffled", Sequential => "sequential", Interleaved => "interleaved");

/// The loss a run minimises, resolved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Loss {
    #[default]
    CrossEntropy,
    /// `½‖f(y) − t‖²` per image, averaged over the batch: `y` the logits, `f` the network's
    /// activation (identity for ReLU), `t` the targets.
    Mse { targets: Targets },
}

/// The optimizer a run steps with, resolved. Its learning rate is the run's [`LrPolicy`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Optimizer {
    #[default]
    Adam,
    Sgd,
    SgdMomentum {
        momentum: f64,
    },
}

/// Weight initialisation of conv and dense layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// PyTorch's default: weights and biases ~U(+-1/sqrt(fan_in)).
    Default,
    /// `kaiming_uniform_(w, nonlinearity='relu')`: weights ~U(+-sqrt(6/fan_in)), biases zero.
    KaimingRelu,
    /// LeCun's: weights ~N(0, 1/fan_in), so each unit's input has unit variance when its
    /// inputs do; biases zero (Efficient BackProp, sec. 4.6).
    Lecun,
}

/// Everything one run trains with, fully resolved: stored and printed with every run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The tricks this configuration was resolved from (for display; the fields below rule).
    pub tricks: Vec<Trick>,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub lr: LrPolicy,
    /// Inputs standardised with the training set's per-channel mean and std; else u8 / 255.
    pub normalize: bool,
    /// L2 coefficient added to the gradient by Adam.
    pub weight_decay: Option<f64>,
    /// L1 coefficient on conv and dense weights, added to the loss.
    pub l1: Option<f64>,
    pub init: Init,
    pub dropout_dense: Option<f64>,
    pub dropout_conv: Option<f64>,
    #[serde(default)]
    pub activation: Activation,
    /// Train on the first N training images only (quick demos, tests).
    #[serde(default)]
    pub train_limit: Option<usize>,
    // Fields added after the first stored runs: absent in old rows, which then read as the
    // seed's choices (cross-entropy, Adam, shuffled, no ZCA, regularised from the start).
    #[serde(default)]
    pub loss: Loss,
    #[serde(default)]
    pub optimizer: Optimizer,
    #[serde(default)]
    pub order: Order,
    /// ZCA whitening fitted on the training set, with this epsilon; wins over `normalize`.
    #[serde(default)]
    pub zca: Option<f64>,
    /// The first (0-based) epoch in which `weight_decay` and `l1` act.
    #[serde(default)]
    pub regularize_from: usize,
    /// The last N training images held out as the validation set: the curves, each epoch's
    /// validation figures and the saturation rule read them, and the test set scores the run
    /// once, at its end, so nothing is tuned on it. `None`: the test set validates (the seed
    /// notebook's way; its figures are then the test set's after every epoch).
    #[serde(default)]
    pub val_split: Option<usize>,
}

impl TrainConfig {
    /// The seed study's baseline: Adam at a fixed lr, inputs in [0,1], default init, no
    /// regularisation.
    pub fn baseline(h: &Hyper) -> Self {
        Self {
            tricks: Vec::new(),
            epochs: h.epochs,
            batch_size: h.batch_size,
            seed: h.seed,
            lr: LrPolicy::Constant { lr: h.lr },
            normalize: false,
            weight_decay: None,
            l1: None,
            init: Init::Default,
            dropout_dense: None,
            dropout_conv: None,
            activation: h.activation,
            train_limit: None,
            loss: match h.loss {
                LossKind::CrossEntropy => Loss::CrossEntropy,
                LossKind::Mse => Loss::Mse { targets: h.targets },
            },
            optimizer: match h.optimizer {
                OptimizerKind::Adam => Optimizer::Adam,
                OptimizerKind::Sgd => Optimizer::Sgd,
                OptimizerKind::SgdMomentum => Optimizer::SgdMomentum {
                    momentum: h.momentum,
                },
            },
            order: h.order,
            zca: None,
            regularize_from: h.regularize_after,
            val_split: (h.val_split > 0).then_some(h.val_split),
        }
    }

    /// The L2 coefficient in a (0-based) epoch: none before `regularize_from`.
    pub fn weight_decay_at(&self, epoch: usize) -> Option<f64> {
        self.weight_decay.filter(|_| epoch >= self.regularize_from)
    }

    /// The L1 coefficient in a (0-based) epoch: none before `regularize_from`.
    pub fn l1_at(&self, epoch: usize) -> Option<f64> {
        self.l1.filter(|_| epoch >= self.regularize_from)
    }

    /// Names of the training fields that differ between two configurations.
    pub fn diff(&self, other: &Self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut cmp = |name, same: bool| {
            if !same {
                out.push(name)
            }
        };
        cmp("epochs", self.epochs == other.epochs);
        cmp("batch_size", self.batch_size == other.batch_size);
        cmp("seed", self.seed == other.seed);
        cmp("lr", self.lr == other.lr);
        cmp("normalize", self.normalize == other.normalize);
        cmp("weight_decay", self.weight_decay == other.weight_decay);
        cmp("l1", self.l1 == other.l1);
        cmp("init", self.init == other.init);
        cmp("dropout_dense", self.dropout_dense == other.dropout_dense);
        cmp("dropout_conv", self.dropout_conv == other.dropout_conv);
        cmp("activation", self.activation == other.activation);
        cmp("train_limit", self.train_limit == other.train_limit);
        cmp("loss", self.loss == other.loss);
        cmp("optimizer", self.optimizer == other.optimizer);
        cmp("order", self.order == other.order);
        cmp("zca", self.zca == other.zca);
        cmp(
            "regularize_from",
            self.regularize_from == other.regularize_from,
        );
        out
    }
}

/// Per-image f32 counts of the seed CNN's tensors (valid 3x3 convs, 2x2 pools, see
/// `model.rs`): input [3,32,32] → conv1 [32,30,30] → pool [32,15,15] → conv2 [64,13,13] →
/// pool [64,6,6] → conv3 [64,4,4] → dense [64] → dense [10].
mod shapes {
    pub const INPUT: u64 = 3 * 32 * 32;
    pub const CONV1: u64 = 32 * 30 * 30;
    pub const POOL1: u64 = 32 * 15 * 15;
    pub const CONV2: u64 = 64 * 13 * 13;
    pub const POOL2: u64 = 64 * 6 * 6;
    pub const CONV3: u64 = 64 * 4 * 4;
    pub const DENSE1: u64 = 64;
    pub const LOGITS: u64 = 10;
    /// 3·32·9+32 + 32·64·9+64 + 64·64·9+64 + 1024·64+64 + 64·10+10.
    pub const PARAMETERS: u64 = 122_570;
    /// Kept from the forward pass for the backward one: the input, each ReLU'd conv output, each
    /// pool output, the dense outputs before and after their ReLU, the logits.
    pub const KEPT: u64 = INPUT + CONV1 + POOL1 + CONV2 + POOL2 + CONV3 + 2 * DENSE1 + LOGITS;
}

/// Images the whole training and test sets hold.
pub const TRAIN_IMAGES: usize = 50_000;
pub const TEST_IMAGES: usize = 10_000;
/// Images per evaluation forward pass (the runner's `EVAL_BATCH`).
const EVAL_BATCH: u64 = 1000;

/// What a run needs in memory, in bytes, by part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// The larger of a training step's activations (kept for backward, dropout masks, and the
    /// gradient of the largest one, conv1's, during backward) and an evaluation batch's.
    pub activations: u64,
    /// Weights, their gradients and Adam's two moments, f32.
    pub parameters: u64,
    /// The run's own data: its device copy (u8 pixels, i64 labels) and its training subset.
    pub data: u64,
    /// The loaded data set (u8 records), which runs in one process share.
    pub shared: u64,
}

impl MemoryEstimate {
    /// Everything: the data's and the run's own.
    pub fn total(&self) -> u64 {
        self.at_once(1)
    }

    /// `runs` runs of this size trained side by side in one process.
    pub fn at_once(&self, runs: usize) -> u64 {
        self.shared + runs as u64 * (self.activations + self.parameters + self.data)
    }
}

impl TrainConfig {
    /// Training images a run of this configuration sees each epoch on CIFAR-10: the first
    /// ones, up to `train_limit`, never the held-out ones.
    pub fn train_images(&self) -> usize {
        let room = TRAIN_IMAGES - self.val_split.unwrap_or(0).min(TRAIN_IMAGES - 1);
        self.train_limit.map_or(room, |n| n.min(room))
    }

    /// What validates the run, as screens and reports name it.
    pub fn validation_label(&self) -> String {
        match self.val_split {
            Some(n) => format!("{n} held-out training images"),
            None => "the test set".into(),
        }
    }

    /// Training steps an epoch of this configuration takes on CIFAR-10.
    pub fn steps_per_epoch(&self) -> usize {
        self.train_images().div_ceil(self.batch_size.max(1))
    }

    /// The memory a run of this configuration needs. Checked against measurement on the CPU
    /// (peak RSS, one epoch): 434 MB estimated vs 465 MB measured at batch 512, 903 MB vs
    /// 881 MB at 2048; batch 50000 would need 16.4 GB (about 14 GB measured).
    pub fn memory_estimate(&self) -> MemoryEstimate {
        use shapes::*;
        const F32: u64 = 4;
        let masks = if self.dropout_conv.is_some() {
            CONV1 + CONV2 + CONV3
        } else {
            0
        } + if self.dropout_dense.is_some() {
            DENSE1
        } else {
            0
        };
        let per_train_image = (KEPT + masks + CONV1) * F32;
        let train_images = self.train_images() as u64;
        let batch = (self.batch_size as u64).min(train_images);
        let record = 1 + INPUT;
        let loaded = (TRAIN_IMAGES + TEST_IMAGES) as u64 * record;
        // Held-out validation images are copied out of the training set, as a subset is.
        let held = self.val_split.unwrap_or(0) as u64;
        let subset = if self.train_limit.is_some() || held > 0 {
            (train_images + held) * record
        } else {
            0
        };
        // ZCA-whitened pixels are kept as f32, the others as u8.
        let pixel = if self.zca.is_some() { F32 } else { 1 };
        let on_device = (train_images + held + TEST_IMAGES as u64) * (INPUT * pixel + 8);
        MemoryEstimate {
            activations: (batch * per_train_image).max(EVAL_BATCH * KEPT * F32),
            parameters: PARAMETERS * F32 * 4,
            data: subset + on_device,
            shared: loaded,
        }
    }

    /// The largest power-of-two batch (at least 1) at which `runs` such runs side by side fit
    /// in `bytes`.
    pub fn largest_batch_within(&self, bytes: u64, runs: usize) -> usize {
        let mut cfg = self.clone();
        let mut batch = MAX_BATCH;
        while batch > 1 {
            cfg.batch_size = batch;
            if cfg.memory_estimate().at_once(runs) <= bytes {
                break;
            }
            batch /= 2;
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_out_images_come_out_of_the_training_set() {
        let mut cfg = TrainConfig::baseline(&Hyper {
            val_split: 5000,
            ..Hyper::default()
        });
        assert_eq!(cfg.val_split, Some(5000));
        assert_eq!(cfg.train_images(), 45_000);
        assert_eq!(cfg.steps_per_epoch(), 704);
        assert_eq!(cfg.validation_label(), "5000 held-out training images");
        cfg.train_limit = Some(48_000);
        assert_eq!(cfg.train_images(), 45_000, "never the held-out ones");
        cfg.train_limit = Some(3000);
        assert_eq!(cfg.train_images(), 3000);
        let bad = Hyper {
            val_split: TRAIN_IMAGES,
            ..Hyper::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("val_split")
        );
        // Older records have no such field: the test set validated them.
        let mut old = serde_json::to_value(&cfg).unwrap();
        old.as_object_mut().unwrap().remove("val_split");
        let old: TrainConfig = serde_json::from_value(old).unwrap();
        assert_eq!(old.validation_label(), "the test set");
    }

    #[test]
    fn memory_estimate_matches_the_figures_by_hand() {
        let mut cfg = TrainConfig::baseline(&Hyper::default());
        // Batch 64: evaluation's 1000 images outweigh the step's 64.
        // kept per image: 3072 + 28800 + 7200 + 10816 + 2304 + 1024 + 128 + 10 = 53,354 floats.
        let e = cfg.memory_estimate();
        assert_eq!(e.activations, 1000 * 53_354 * 4);
        assert_eq!(e.parameters, 122_570 * 16);
        // 60,000 records of 3073 bytes loaded, 60,000 × (3072 + 8) bytes on the device.
        assert_eq!((e.shared, e.data), (184_380_000, 184_800_000));
        assert_eq!(e.total(), 213_416_000 + 1_961_120 + 369_180_000);
        // Side by side, runs share the loaded records and nothing else.
        assert_eq!(
            e.at_once(3),
            184_380_000 + 3 * (213_416_000 + 1_961_120 + 184_800_000)
        );

        // Batch 4096 on 4096 images: (53,354 + 28,800) floats per image.
        cfg.batch_size = 4096;
        cfg.train_limit = Some(4096);
        let e = cfg.memory_estimate();
        assert_eq!(e.activations, 4096 * 82_154 * 4);
        assert_eq!(e.data, 4096 * 3073 + 14_096 * 3080);
        // Conv dropout keeps a mask per conv output: + 40,640 floats per image.
        cfg.dropout_conv = Some(0.2);
        assert_eq!(cfg.memory_estimate().activations, 4096 * 122_794 * 4);

        // Batch 50000, the old limit: 16.4 GB, over the 8 GB the issue's machine had.
        cfg.dropout_conv = None;
        cfg.train_limit = None;
        cfg.batch_size = 50_000;
        assert_eq!(cfg.memory_estimate().activations, 16_430_800_000);
    }

    #[test]
    fn the_largest_batch_that_fits_is_a_power_of_two() {
        let cfg = TrainConfig::baseline(&Hyper::default());
        assert_eq!(cfg.largest_batch_within(u64::MAX, 1), MAX_BATCH);
        assert_eq!(cfg.largest_batch_within(0, 1), 1);
        let mut at = cfg.clone();
        at.batch_size = 1024;
        let fits = at.memory_estimate().total();
        assert_eq!(cfg.largest_batch_within(fits, 1), 1024);
        assert_eq!(cfg.largest_batch_within(fits - 1, 1), 512);
        // Two runs side by side need room for two.
        assert_eq!(cfg.largest_batch_within(fits, 2), 1);
        let two = at.memory_estimate().at_once(2);
        assert_eq!(cfg.largest_batch_within(two, 2), 1024);
        assert_eq!(cfg.largest_batch_within(two - 1, 2), 512);
    }

    #[test]
    fn schedule_gives_2e3_times_0_8_to_the_k() {
        let p = LrPolicy::Exponential {
            initial: 2e-3,
            gamma: 0.8,
        };
        for k in 0..10 {
            let want = 2e-3 * 0.8f64.powi(k);
            assert!((p.at(k as usize) - want).abs() < 1e-15, "epoch {k}");
        }
        assert!((p.at(9) - 2.684_354_56e-4).abs() < 1e-12);
        assert_eq!(LrPolicy::Constant { lr: 1e-3 }.at(7), 1e-3);
    }

    /// A run stored before the loss, optimizer, order, ZCA and delayed-regularisation fields
    /// existed (the history keeps configurations as JSON) still loads, as the seed's choices.
    #[test]
    fn a_config_stored_without_the_newer_fields_reads_as_the_seeds_choices() {
        let old = r#"{"tricks":["norm_inputs"],"epochs":10,"batch_size":64,"seed":42,
            "lr":{"kind":"constant","lr":0.001},"normalize":true,"weight_decay":null,
            "l1":null,"init":"default","dropout_dense":null,"dropout_conv":null}"#;
        let cfg: TrainConfig = serde_json::from_str(old).unwrap();
        assert_eq!(cfg.loss, Loss::CrossEntropy);
        assert_eq!(cfg.optimizer, Optimizer::Adam);
        assert_eq!(cfg.order, Order::Shuffled);
        assert_eq!((cfg.zca, cfg.regularize_from), (None, 0));
        assert_eq!(cfg.activation, Activation::Relu);
        let mut want = TrainConfig::baseline(&Hyper::default());
        want.tricks = vec![Trick::NormInputs];
        want.normalize = true;
        assert_eq!(cfg, want);
        // And a new one round-trips with every field.
        let mut new = want.clone();
        new.loss = Loss::Mse {
            targets: Targets::Lecun,
        };
        new.optimizer = Optimizer::SgdMomentum { momentum: 0.9 };
        new.order = Order::Interleaved;
        new.zca = Some(0.01);
        new.regularize_from = 2;
        let json = serde_json::to_string(&new).unwrap();
        assert!(
            json.contains(r#""loss":{"kind":"mse","targets":"lecun"}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), new);
    }

    #[test]
    fn setting_names_parse_and_unknown_ones_list_the_valid() {
        assert_eq!("SGD_momentum".parse(), Ok(OptimizerKind::SgdMomentum));
        assert_eq!("mse".parse(), Ok(LossKind::Mse));
        assert_eq!("interleaved".parse(), Ok(Order::Interleaved));
        assert_eq!("lecun".parse(), Ok(Targets::Lecun));
        let err = "rmsprop".parse::<OptimizerKind>().unwrap_err();
        assert_eq!(
            err,
            "unknown optimizer `rmsprop`: use adam, sgd, sgd_momentum"
        );
        for o in OptimizerKind::ALL {
            assert_eq!(o.key().parse(), Ok(*o));
            assert_eq!(serde_json::to_string(o).unwrap(), format!("\"{o}\""));
        }
        for o in Order::ALL {
            assert_eq!(serde_json::to_string(o).unwrap(), format!("\"{o}\""));
        }
    }

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert_eq!(Hyper::default().validate(), Ok(()));
        type Spoil = fn(&mut Hyper);
        let cases: [(Spoil, &str); 10] = [
            (|h| h.sgd_lr = 0.0, "sgd_lr"),
            (|h| h.momentum = 1.0, "momentum"),
            (|h| h.zca_epsilon = -1.0, "zca_epsilon"),
            (|h| h.regularize_after = 1000, "regularize_after"),
            (|h| h.lr = -1e-3, "lr"),
            (|h| h.dropout = 1.0, "dropout"),
            (|h| h.batch_size = 0, "batch_size"),
            (|h| h.epochs = 0, "epochs"),
            (|h| h.schedule_gamma = 0.0, "schedule_gamma"),
            (|h| h.l1 = f64::NAN, "l1"),
        ];
        for (spoil, field) in cases {
            let mut h = Hyper::default();
            spoil(&mut h);
            assert_eq!(h.validate().unwrap_err().field, field);
        }
    }
}
