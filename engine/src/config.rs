//! The editable hyper-parameters and the resolved configuration a run trains with.

use serde::{Deserialize, Serialize};

use crate::tricks::Trick;

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
        }
    }
}

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
            (1..=50_000).contains(&self.batch_size),
            "batch_size",
            self.batch_size,
            "1 to 50000",
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
        }
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
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert_eq!(Hyper::default().validate(), Ok(()));
        type Spoil = fn(&mut Hyper);
        let cases: [(Spoil, &str); 6] = [
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
