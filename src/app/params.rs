//! The editable hyper-parameters as a list: label, display, stepping with arrows, typed input.

use std::str::FromStr;

use crate::run::variants::{MAX_SEEDS, Seeds};
use cifar_engine::config::{Activation, Hyper, LossKind, MAX_BATCH, OptimizerKind, Order, Targets};
use cifar_engine::events::DeviceChoice;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    Epochs,
    BatchSize,
    Lr,
    ScheduleLr,
    ScheduleGamma,
    WeightDecay,
    L1,
    Dropout,
    Seed,
    Seeds,
    TrainImages,
    Device,
    Activation,
    Loss,
    Targets,
    Optimizer,
    SgdLr,
    Momentum,
    Order,
    ZcaEpsilon,
    RegularizeAfter,
}

/// In display order.
pub const PARAMS: [Param; 21] = [
    Param::Epochs,
    Param::BatchSize,
    Param::Lr,
    Param::ScheduleLr,
    Param::ScheduleGamma,
    Param::WeightDecay,
    Param::L1,
    Param::Dropout,
    Param::Seed,
    Param::Seeds,
    Param::TrainImages,
    Param::Device,
    Param::Activation,
    Param::Loss,
    Param::Targets,
    Param::Optimizer,
    Param::SgdLr,
    Param::Momentum,
    Param::Order,
    Param::ZcaEpsilon,
    Param::RegularizeAfter,
];

/// The value after (or before) `now` in `all`, wrapping around.
fn cycle<T: Copy + PartialEq>(all: &[T], now: T, up: bool) -> T {
    let i = all.iter().position(|v| *v == now).unwrap_or(0);
    let n = all.len();
    all[(i + if up { 1 } else { n - 1 }) % n]
}

/// Training-set sizes the arrows step through; `None` is the whole set.
const SUBSETS: [Option<usize>; 7] = [
    Some(1000),
    Some(2000),
    Some(5000),
    Some(10_000),
    Some(20_000),
    Some(30_000),
    None,
];

/// The values a person can edit: training's and the device.
#[derive(Clone, Debug, PartialEq)]
pub struct Editable {
    pub hyper: Hyper,
    pub device: DeviceChoice,
    /// Train on the first N images only (quick demos); `None`: all 50,000.
    pub train_limit: Option<usize>,
    /// Seeds each run (`s`) and each study scenario (`a`) trains on; `None`: a run once, a
    /// study on 3 seeds (CPU) or 5 (GPU).
    pub seeds: Option<Seeds>,
}

/// Next value on the 1-2-5 ladder (…, 1e-4, 2e-4, 5e-4, 1e-3, …) up or down from `x`.
fn ladder(x: f64, up: bool) -> f64 {
    let exp = x.log10().floor();
    let base = 10f64.powf(exp);
    let steps = [1.0, 2.0, 5.0, 10.0];
    let m = x / base;
    let next = if up {
        steps
            .iter()
            .find(|&&s| s > m * (1.0 + 1e-9))
            .copied()
            .unwrap_or(10.0)
    } else {
        steps
            .iter()
            .rev()
            .find(|&&s| s < m * (1.0 - 1e-9))
            .copied()
            .unwrap_or(0.5)
    };
    // Round so values stay the short decimals a person would type.
    let v = next * base;
    let digits = (-(v.log10().floor()) + 1.0).max(0.0) as i32;
    let scale = 10f64.powi(digits);
    (v * scale).round() / scale
}

/// A penalty's next value: off (0) below `least`, the 1-2-5 ladder above it, at most 0.5. Down
/// from 0 stays 0: `←` never turns a penalty on.
fn penalty_step(x: f64, up: bool, least: f64) -> f64 {
    match (up, x) {
        (true, x) if x < least => least,
        (false, x) if x <= least => 0.0,
        (up, x) => ladder(x, up).clamp(least, 0.5),
    }
}

/// The training set's size: no subset is larger.
pub const TRAIN_SET: usize = 50_000;

/// A short float: `0.001` → `1e-3`, `0.8` → `0.8`.
pub fn fmt_float(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if (0.01..1000.0).contains(&x.abs()) {
        let s = format!("{x:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        // Three significant digits at most: 2.68e-4, not 2.6843545600000027e-4.
        let s = format!("{x:.2e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        format!("{mantissa}e{exp}")
    }
}

impl Param {
    pub fn label(self) -> &'static str {
        match self {
            Param::Epochs => "Epochs",
            Param::BatchSize => "Batch size",
            Param::Lr => "LR (fixed)",
            Param::ScheduleLr => "LR sched. start",
            Param::ScheduleGamma => "LR decay/epoch",
            Param::WeightDecay => "L2 lambda",
            Param::L1 => "L1 lambda",
            Param::Dropout => "Dropout p",
            Param::Seed => "Seed",
            Param::Seeds => "Seeds",
            Param::TrainImages => "Train images",
            Param::Device => "Device",
            Param::Activation => "Activation",
            Param::Loss => "Loss",
            Param::Targets => "MSE targets",
            Param::Optimizer => "Optimizer",
            Param::SgdLr => "SGD LR",
            Param::Momentum => "SGD momentum",
            Param::Order => "Batch order",
            Param::ZcaEpsilon => "ZCA epsilon",
            Param::RegularizeAfter => "L1/L2 from epoch",
        }
    }

    /// One line of help for the footer.
    pub fn help(self) -> &'static str {
        match self {
            Param::Epochs => "passes over the training set; the test set is scored after each",
            Param::BatchSize => "images per Adam step (the seed uses 64)",
            Param::Lr => "Adam's learning rate when the LR schedule is off",
            Param::ScheduleLr => "LR schedule: learning rate of the first epoch",
            Param::ScheduleGamma => "LR schedule: factor applied after every epoch",
            Param::WeightDecay => "L2 weight decay strength (Adam's weight_decay)",
            Param::L1 => "L1 penalty strength: lambda * sum|w| added to the loss",
            Param::Dropout => "drop probability of both dropout tricks",
            Param::Seed => "same seed, same device: same result",
            Param::Seeds => {
                "repeat over seeds (from Seed on); auto: a run once, a study 3 (CPU) or 5 (GPU)"
            }
            Param::TrainImages => {
                "train on the first N images (quick demos); the test set stays whole"
            }
            Param::Device => "auto: CUDA, else a hardware GPU through wgpu, else the CPU",
            Param::Activation => "the non-linearity when LeCun's tanh is off",
            Param::Loss => "what is minimised when MSE targets is off (runs report cross-entropy)",
            Param::Targets => "MSE targets: one_hot (1/0) or lecun (+-1 for LeCun's tanh)",
            Param::Optimizer => "the optimizer when SGD + momentum is off",
            Param::SgdLr => "SGD's learning rate (the LR settings above are Adam's)",
            Param::Momentum => "SGD's momentum coefficient (no dampening)",
            Param::Order => "shuffled, sequential (no shuffling) or interleaved classes",
            Param::ZcaEpsilon => "ZCA whitening: added to the covariance's eigenvalues",
            Param::RegularizeAfter => "L1 and L2 act from this epoch on (0: from the start)",
        }
    }

    pub fn value(self, e: &Editable) -> String {
        let h = &e.hyper;
        match self {
            Param::Epochs => h.epochs.to_string(),
            Param::BatchSize => h.batch_size.to_string(),
            Param::Lr => fmt_float(h.lr),
            Param::ScheduleLr => fmt_float(h.schedule_lr),
            Param::ScheduleGamma => fmt_float(h.schedule_gamma),
            Param::WeightDecay => fmt_float(h.weight_decay),
            Param::L1 => fmt_float(h.l1),
            Param::Dropout => fmt_float(h.dropout),
            Param::Seed => h.seed.to_string(),
            Param::Seeds => e.seeds.as_ref().map_or("auto".into(), Seeds::to_string),
            Param::TrainImages => e.train_limit.map_or("all".into(), |n| n.to_string()),
            Param::Device => e.device.to_string(),
            Param::Activation => h.activation.key().to_string(),
            Param::Loss => h.loss.key().to_string(),
            Param::Targets => h.targets.key().to_string(),
            Param::Optimizer => h.optimizer.key().to_string(),
            Param::SgdLr => fmt_float(h.sgd_lr),
            Param::Momentum => fmt_float(h.momentum),
            Param::Order => h.order.key().to_string(),
            Param::ZcaEpsilon => fmt_float(h.zca_epsilon),
            Param::RegularizeAfter => h.regularize_after.to_string(),
        }
    }

    /// Moves the value one notch; values stay in range.
    pub fn step(self, e: &mut Editable, up: bool) {
        let h = &mut e.hyper;
        let sign = if up { 1.0 } else { -1.0 };
        match self {
            Param::Epochs => h.epochs = if up { h.epochs + 1 } else { h.epochs - 1 }.clamp(1, 1000),
            Param::BatchSize => {
                h.batch_size = if up {
                    h.batch_size * 2
                } else {
                    h.batch_size / 2
                }
                .clamp(1, MAX_BATCH)
            }
            Param::Lr => h.lr = ladder(h.lr, up).clamp(1e-6, 1.0),
            Param::ScheduleLr => h.schedule_lr = ladder(h.schedule_lr, up).clamp(1e-6, 1.0),
            Param::ScheduleGamma => {
                h.schedule_gamma = ((h.schedule_gamma + sign * 0.05) * 100.0).round() / 100.0;
                h.schedule_gamma = h.schedule_gamma.clamp(0.05, 1.0);
            }
            Param::WeightDecay => h.weight_decay = penalty_step(h.weight_decay, up, 1e-6),
            Param::L1 => h.l1 = penalty_step(h.l1, up, 1e-7),
            Param::Dropout => {
                h.dropout = ((h.dropout + sign * 0.05) * 100.0).round() / 100.0;
                h.dropout = h.dropout.clamp(0.0, 0.95);
            }
            Param::Seed => {
                h.seed = if up {
                    h.seed.wrapping_add(1)
                } else {
                    h.seed.wrapping_sub(1)
                }
            }
            Param::Seeds => {
                // auto, 1, 2, …: left from 1 goes back to auto.
                let n = match &e.seeds {
                    None => 0,
                    Some(Seeds::Count(n)) => *n,
                    Some(Seeds::List(l)) => l.len(),
                };
                let next = if up { n + 1 } else { n.saturating_sub(1) }.min(MAX_SEEDS);
                e.seeds = (next > 0).then_some(Seeds::Count(next));
            }
            Param::TrainImages => {
                // The next size above (or below) the current one; `None` (all) is the largest.
                let size = |s: Option<usize>| s.unwrap_or(usize::MAX);
                let now = size(e.train_limit);
                let next = if up {
                    SUBSETS.iter().find(|&&s| size(s) > now)
                } else {
                    SUBSETS.iter().rev().find(|&&s| size(s) < now)
                };
                if let Some(&n) = next {
                    e.train_limit = n;
                }
            }
            Param::Device => {
                let all = DeviceChoice::ALL;
                let i = all.iter().position(|d| *d == e.device).unwrap_or(0);
                e.device = all[(i + if up { 1 } else { all.len() - 1 }) % all.len()];
            }
            Param::Activation => h.activation = cycle(&Activation::ALL, h.activation, up),
            Param::Loss => h.loss = cycle(LossKind::ALL, h.loss, up),
            Param::Targets => h.targets = cycle(Targets::ALL, h.targets, up),
            Param::Optimizer => h.optimizer = cycle(OptimizerKind::ALL, h.optimizer, up),
            Param::SgdLr => h.sgd_lr = ladder(h.sgd_lr, up).clamp(1e-5, 5.0),
            Param::Momentum => {
                h.momentum = ((h.momentum + sign * 0.05) * 100.0).round() / 100.0;
                h.momentum = h.momentum.clamp(0.0, 0.99);
            }
            Param::Order => h.order = cycle(Order::ALL, h.order, up),
            Param::ZcaEpsilon => h.zca_epsilon = ladder(h.zca_epsilon, up).clamp(1e-6, 10.0),
            Param::RegularizeAfter => {
                h.regularize_after = if up {
                    h.regularize_after + 1
                } else {
                    h.regularize_after.saturating_sub(1)
                }
                .min(999)
            }
        }
    }

    /// Sets the value from typed text; on error nothing changes and the message says why.
    pub fn set(self, e: &mut Editable, text: &str) -> Result<(), String> {
        let text = text.trim();
        let mut next = e.clone();
        let bad = |what: &str| format!("{}: `{text}` is not {what}", self.label());
        let float = || text.parse::<f64>().map_err(|_| bad("a number"));
        let int = || text.parse::<u64>().map_err(|_| bad("a whole number"));
        let h = &mut next.hyper;
        match self {
            Param::Epochs => h.epochs = int()? as usize,
            Param::BatchSize => h.batch_size = int()? as usize,
            Param::Lr => h.lr = float()?,
            Param::ScheduleLr => h.schedule_lr = float()?,
            Param::ScheduleGamma => h.schedule_gamma = float()?,
            Param::WeightDecay => h.weight_decay = float()?,
            Param::L1 => h.l1 = float()?,
            Param::Dropout => h.dropout = float()?,
            Param::Seed => h.seed = int()?,
            Param::Seeds => {
                next.seeds = match text {
                    "auto" | "" => None,
                    _ => Some(Seeds::parse(text).map_err(|why| format!("Seeds: {why}"))?),
                }
            }
            Param::TrainImages => {
                next.train_limit = match text {
                    "all" | "" => None,
                    _ => match int()? as usize {
                        0 => return Err(bad("a positive number or `all`")),
                        n if n >= TRAIN_SET => None,
                        n => Some(n),
                    },
                }
            }
            Param::Device => {
                next.device = DeviceChoice::from_str(text)
                    .map_err(|_| bad("auto, cuda, cuda:N, cuda:all, wgpu or cpu"))?
            }
            Param::Activation => h.activation = text.parse()?,
            Param::Loss => h.loss = text.parse()?,
            Param::Targets => h.targets = text.parse()?,
            Param::Optimizer => h.optimizer = text.parse()?,
            Param::SgdLr => h.sgd_lr = float()?,
            Param::Momentum => h.momentum = float()?,
            Param::Order => h.order = text.parse()?,
            Param::ZcaEpsilon => h.zca_epsilon = float()?,
            Param::RegularizeAfter => h.regularize_after = int()? as usize,
        }
        // The settings' checks name config keys; the person typed into this label.
        next.hyper
            .validate()
            .map_err(|e| format!("{}: {e}", self.label()))?;
        *e = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn editable() -> Editable {
        Editable {
            hyper: Hyper::default(),
            device: DeviceChoice::Auto,
            train_limit: None,
            seeds: None,
        }
    }

    #[test]
    fn seeds_step_from_auto_and_parse_counts_and_lists() {
        let mut e = editable();
        assert_eq!(Param::Seeds.value(&e), "auto");
        Param::Seeds.step(&mut e, true);
        Param::Seeds.step(&mut e, true);
        assert_eq!(e.seeds, Some(Seeds::Count(2)));
        Param::Seeds.step(&mut e, false);
        Param::Seeds.step(&mut e, false);
        assert_eq!(e.seeds, None, "left from 1 is auto");
        Param::Seeds.set(&mut e, "1,2,3").unwrap();
        assert_eq!(Param::Seeds.value(&e), "1,2,3");
        Param::Seeds.step(&mut e, true);
        assert_eq!(e.seeds, Some(Seeds::Count(4)));
        let err = Param::Seeds.set(&mut e, "0").unwrap_err();
        assert!(err.contains("out of range"), "{err}");
        assert_eq!(
            e.seeds,
            Some(Seeds::Count(4)),
            "a refused value changes nothing"
        );
        Param::Seeds.set(&mut e, "auto").unwrap();
        assert_eq!(e.seeds, None);
    }

    #[test]
    fn train_images_step_through_subsets_and_parse() {
        let mut e = editable();
        Param::TrainImages.step(&mut e, false);
        assert_eq!(e.train_limit, Some(30_000));
        Param::TrainImages.step(&mut e, true);
        assert_eq!(e.train_limit, None);
        Param::TrainImages.set(&mut e, "2500").unwrap();
        assert_eq!(Param::TrainImages.value(&e), "2500");
        Param::TrainImages.step(&mut e, true);
        assert_eq!(e.train_limit, Some(5000));
        assert!(Param::TrainImages.set(&mut e, "0").is_err());
        Param::TrainImages.set(&mut e, "all").unwrap();
        assert_eq!(e.train_limit, None);
        // More than the training set holds is the whole set, not a title that lies.
        Param::TrainImages.set(&mut e, "99999999").unwrap();
        assert_eq!(Param::TrainImages.value(&e), "all");
    }

    #[test]
    fn left_never_turns_a_penalty_on_and_right_does() {
        let mut e = editable();
        e.hyper.weight_decay = 0.0;
        e.hyper.l1 = 0.0;
        Param::WeightDecay.step(&mut e, false);
        Param::L1.step(&mut e, false);
        assert_eq!((e.hyper.weight_decay, e.hyper.l1), (0.0, 0.0));
        Param::WeightDecay.step(&mut e, true);
        assert_eq!(e.hyper.weight_decay, 1e-6);
        Param::WeightDecay.step(&mut e, false);
        assert_eq!(e.hyper.weight_decay, 0.0, "below the least value is off");
        e.hyper.l1 = 2e-5;
        Param::L1.step(&mut e, false);
        assert_eq!(e.hyper.l1, 1e-5);
    }

    #[test]
    fn a_refused_value_names_the_label_on_screen() {
        let mut e = editable();
        let err = Param::Dropout.set(&mut e, "1.5").unwrap_err();
        assert!(err.starts_with("Dropout p: "), "{err}");
        assert_eq!(e, editable(), "nothing changed");
    }

    #[test]
    fn ladder_walks_1_2_5() {
        assert_eq!(ladder(1e-3, true), 2e-3);
        assert_eq!(ladder(2e-3, true), 5e-3);
        assert_eq!(ladder(5e-3, true), 1e-2);
        assert_eq!(ladder(1e-3, false), 5e-4);
        assert_eq!(ladder(3e-3, false), 2e-3);
    }

    #[test]
    fn stepping_stays_in_range() {
        let mut e = editable();
        for _ in 0..100 {
            Param::Dropout.step(&mut e, true);
            Param::Epochs.step(&mut e, false);
        }
        assert_eq!(e.hyper.dropout, 0.95);
        assert_eq!(e.hyper.epochs, 1);
        assert_eq!(e.hyper.validate(), Ok(()));
        Param::Device.step(&mut e, true);
        assert_eq!(e.device, DeviceChoice::Cuda(0));
    }

    #[test]
    fn typed_values_are_checked() {
        let mut e = editable();
        Param::Lr.set(&mut e, "3e-4").unwrap();
        assert_eq!(e.hyper.lr, 3e-4);
        assert!(
            Param::Lr
                .set(&mut e, "fast")
                .unwrap_err()
                .contains("not a number")
        );
        assert!(
            Param::Dropout
                .set(&mut e, "1.5")
                .unwrap_err()
                .contains("out of range")
        );
        assert!(Param::BatchSize.set(&mut e, "0").is_err());
        assert_eq!(e.hyper.lr, 3e-4, "a refused value changes nothing");
        Param::Device.set(&mut e, "CPU").unwrap();
        assert_eq!(e.device, DeviceChoice::Cpu);
    }

    #[test]
    fn the_batch_limit_is_the_configs() {
        let mut e = editable();
        for _ in 0..20 {
            Param::BatchSize.step(&mut e, true);
        }
        assert_eq!(e.hyper.batch_size, MAX_BATCH);
        assert_eq!(e.hyper.validate(), Ok(()));
        Param::BatchSize
            .set(&mut e, &MAX_BATCH.to_string())
            .unwrap();
        let err = Param::BatchSize
            .set(&mut e, &(MAX_BATCH + 1).to_string())
            .unwrap_err();
        assert!(err.contains("1 to 4096"), "{err}");
    }

    #[test]
    fn lecuns_settings_cycle_and_parse() {
        let mut e = editable();
        Param::Optimizer.step(&mut e, true);
        assert_eq!(e.hyper.optimizer, OptimizerKind::Sgd);
        Param::Optimizer.step(&mut e, false);
        Param::Optimizer.step(&mut e, false);
        assert_eq!(Param::Optimizer.value(&e), "sgd_momentum", "wraps around");
        Param::Order.set(&mut e, "interleaved").unwrap();
        assert_eq!(e.hyper.order, Order::Interleaved);
        let err = Param::Loss.set(&mut e, "hinge").unwrap_err();
        assert!(err.contains("cross_entropy, mse"), "{err}");
        Param::Activation.step(&mut e, false);
        assert_eq!(e.hyper.activation, Activation::Sigmoid);
        for _ in 0..50 {
            Param::Momentum.step(&mut e, true);
            Param::RegularizeAfter.step(&mut e, false);
        }
        assert_eq!((e.hyper.momentum, e.hyper.regularize_after), (0.99, 0));
        Param::SgdLr.step(&mut e, true);
        assert_eq!(e.hyper.sgd_lr, 5e-3);
        assert!(Param::Momentum.set(&mut e, "1").is_err());
        assert_eq!(e.hyper.validate(), Ok(()));
        Param::Targets.step(&mut e, true);
        assert_eq!(e.hyper.targets, Targets::Lecun);
        assert_eq!(Param::Targets.value(&e), "lecun");
        Param::Loss.step(&mut e, true);
        assert_eq!(e.hyper.loss, LossKind::Mse);
    }

    #[test]
    fn floats_print_short() {
        assert_eq!(fmt_float(1e-3), "1e-3");
        assert_eq!(fmt_float(0.8), "0.8");
        assert_eq!(fmt_float(0.2), "0.2");
        assert_eq!(fmt_float(1e-5), "1e-5");
        assert_eq!(fmt_float(0.0), "0");
        assert_eq!(fmt_float(2e-3 * 0.8f64.powi(9)), "2.68e-4");
        assert_eq!(fmt_float(12345.0), "1.23e4");
    }
}
