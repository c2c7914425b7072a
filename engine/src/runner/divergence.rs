//! The divergence watch: tells a run that blew up or saturated from one that learns, and says
//! which setting to lower.

use crate::config::{LrPolicy, Optimizer, TrainConfig};

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
