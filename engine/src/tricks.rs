//! The table of LeCun's tricks and the seed study's presets, resolved into a [`TrainConfig`].
//!
//! Every trick is one row of [`TRICKS`]: a name, a one-line reason, a reference, and a small
//! function that changes a baseline configuration. The checkboxes, the CLI, `config.toml` and the
//! stored runs all read this table, so adding a trick means adding a row.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

pub use crate::config::Trick;
use crate::config::{
    Activation, Hyper, Init, Loss, LrPolicy, Optimizer, Order, Targets, TrainConfig,
};

/// A row of the trick table.
pub struct TrickInfo {
    pub trick: Trick,
    /// The name used on the command line, in `config.toml` and in stored runs.
    pub key: &'static str,
    /// The checkbox label.
    pub label: &'static str,
    /// A few letters for narrow tables.
    pub short: &'static str,
    /// Why it helps, in one line.
    pub why: &'static str,
    pub reference: &'static str,
    /// The change this trick makes to a configuration.
    pub apply: fn(&mut TrainConfig, &Hyper),
}

/// Every trick, in the order the seed study stacks them.
pub const TRICKS: [TrickInfo; 13] = [
    TrickInfo {
        trick: Trick::NormInputs,
        key: "norm_inputs",
        label: "Normalize inputs",
        short: "norm",
        why: "zero-mean, unit-variance inputs per channel keep gradients well scaled",
        reference: "LeCun et al., Efficient BackProp (1998), sec. 4.3",
        apply: |cfg, _| cfg.normalize = true,
    },
    TrickInfo {
        trick: Trick::LrSchedule,
        key: "lr_schedule",
        label: "LR schedule",
        short: "sched",
        why: "start at 2e-3, decay x0.8 per epoch: fast progress first, fine steps later",
        reference: "LeCun et al., Efficient BackProp (1998), sec. 4.7",
        apply: |cfg, h| {
            cfg.lr = LrPolicy::Exponential {
                initial: h.schedule_lr,
                gamma: h.schedule_gamma,
            }
        },
    },
    TrickInfo {
        trick: Trick::WeightDecay,
        key: "weight_decay",
        label: "L2 weight decay",
        short: "L2",
        why: "pulls weights toward zero (L2 via Adam): a prior against overfitting",
        reference: "NYU Deep Learning 2020, week 5 (regularization)",
        apply: |cfg, h| cfg.weight_decay = Some(h.weight_decay),
    },
    TrickInfo {
        trick: Trick::L1,
        key: "l1",
        label: "L1 penalty",
        short: "L1",
        why: "adds lambda*sum|w| to the loss: pushes useless weights to exactly zero",
        reference: "NYU Deep Learning 2020, week 5 (regularization)",
        apply: |cfg, h| cfg.l1 = Some(h.l1),
    },
    TrickInfo {
        trick: Trick::InitWeights,
        key: "init_weights",
        label: "Kaiming init",
        short: "kaiming",
        why: "weights ~U(+-sqrt(6/fan_in)), zero biases: steady ReLU activation variance",
        reference: "He et al., Delving Deep into Rectifiers (2015); Efficient BackProp sec. 4.6",
        apply: |cfg, _| cfg.init = Init::KaimingRelu,
    },
    TrickInfo {
        trick: Trick::DropoutDense,
        key: "dropout_dense",
        label: "Dropout (dense)",
        short: "drop-fc",
        why: "drops first dense layer units at random: no unit can rely on another",
        reference: "Srivastava et al., Dropout (JMLR 2014)",
        apply: |cfg, h| cfg.dropout_dense = Some(h.dropout),
    },
    TrickInfo {
        trick: Trick::DropoutConv,
        key: "dropout_conv",
        label: "Dropout (conv)",
        short: "drop-conv",
        why: "drops conv activations after every ReLU: a stronger, noisier regularizer",
        reference: "Srivastava et al., Dropout (JMLR 2014)",
        apply: |cfg, h| cfg.dropout_conv = Some(h.dropout),
    },
    TrickInfo {
        trick: Trick::ScaledTanh,
        key: "scaled_tanh",
        label: "LeCun's tanh",
        short: "tanh*",
        why: "1.7159 tanh(2x/3) for ReLU: zero-centred, f(+-1) = +-1, gain near 1",
        reference: "LeCun et al., Efficient BackProp (1998), sec. 4.4",
        apply: |cfg, _| cfg.activation = Activation::ScaledTanh,
    },
    TrickInfo {
        trick: Trick::LecunInit,
        key: "lecun_init",
        label: "LeCun init",
        short: "lecun",
        why: "weights ~N(0, 1/fan_in), zero biases: unit-variance inputs to every unit",
        reference: "LeCun et al., Efficient BackProp (1998), sec. 4.6 (wins over Kaiming init)",
        apply: |cfg, _| cfg.init = Init::Lecun,
    },
    TrickInfo {
        trick: Trick::MseTargets,
        key: "mse_targets",
        label: "MSE, LeCun targets",
        short: "mse",
        why: "squared error to targets where the activation bends most (+-1 for LeCun's tanh)",
        reference: "LeCun et al., Efficient BackProp (1998), sec. 4.5",
        apply: |cfg, _| {
            cfg.loss = Loss::Mse {
                targets: Targets::Lecun,
            }
        },
    },
    TrickInfo {
        trick: Trick::SgdMomentum,
        key: "sgd_momentum",
        label: "SGD + momentum",
        short: "sgd-m",
        why: "SGD at sgd_lr, momentum 0.9: averages noisy steps across a narrow valley",
        reference: "LeCun et al., Efficient BackProp (1998), sec. 4.7 (momentum)",
        apply: |cfg, h| {
            cfg.optimizer = Optimizer::SgdMomentum {
                momentum: h.momentum,
            }
        },
    },
    TrickInfo {
        trick: Trick::InterleaveClasses,
        key: "interleave_classes",
        label: "Classes in turn",
        short: "interleave",
        why: "one image of each class in turn (shuffled within classes): no run of one class",
        reference: "LeCun et al., Efficient BackProp (1998), sec. 4.2",
        apply: |cfg, _| cfg.order = Order::Interleaved,
    },
    TrickInfo {
        trick: Trick::Zca,
        key: "zca",
        label: "ZCA whitening",
        short: "zca",
        why: "decorrelated, equal-variance inputs fitted on the training set (wins over norm)",
        reference: "LeCun et al., Efficient BackProp (1998), sec. 4.3",
        apply: |cfg, h| cfg.zca = Some(h.zca_epsilon),
    },
];

impl Trick {
    pub fn info(self) -> &'static TrickInfo {
        TRICKS
            .iter()
            .find(|t| t.trick == self)
            .expect("every trick has a row in TRICKS")
    }

    pub fn key(self) -> &'static str {
        self.info().key
    }
}

impl fmt::Display for Trick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// An unknown trick or preset name, with the valid ones.
#[derive(Debug, thiserror::Error)]
#[error("unknown {kind} `{name}`; valid: {valid}")]
pub struct UnknownName {
    kind: &'static str,
    name: String,
    valid: String,
}

impl FromStr for Trick {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TRICKS
            .iter()
            .find(|t| t.key == s.trim())
            .map(|t| t.trick)
            .ok_or_else(|| UnknownName {
                kind: "trick",
                name: s.to_string(),
                valid: TRICKS.map(|t| t.key).join(", "),
            })
    }
}

/// The set of ticked tricks.
pub type TrickSet = BTreeSet<Trick>;

/// Parses `a,b,c` into a trick set; an empty string is the baseline.
pub fn parse_tricks(list: &str) -> Result<TrickSet, UnknownName> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// Turns ticked tricks and the editable values into the configuration a run trains with.
/// Tricks are applied in table order; each touches its own fields only, so order does not matter.
///
/// Learning rates are set in Adam's terms (`lr`, `schedule_lr`); a run that ends up on SGD
/// trains at `sgd_lr` instead, and its schedule starts at the same multiple of it
/// (`schedule_lr / lr`, 2 by default): SGD wants rates about ten times Adam's.
pub fn resolve(tricks: &TrickSet, hyper: &Hyper) -> TrainConfig {
    let mut cfg = TrainConfig::baseline(hyper);
    for info in TRICKS.iter().filter(|t| tricks.contains(&t.trick)) {
        (info.apply)(&mut cfg, hyper);
    }
    if cfg.optimizer != Optimizer::Adam {
        cfg.lr = match cfg.lr {
            LrPolicy::Constant { .. } => LrPolicy::Constant { lr: hyper.sgd_lr },
            LrPolicy::Exponential { initial, gamma } => LrPolicy::Exponential {
                initial: initial / hyper.lr * hyper.sgd_lr,
                gamma,
            },
        };
    }
    cfg.tricks = tricks.iter().copied().collect();
    cfg
}

/// Like [`describe`], with the short names: `+norm +sched`.
pub fn describe_short(tricks: &TrickSet) -> String {
    if tricks.is_empty() {
        return "no tricks".into();
    }
    tricks
        .iter()
        .map(|t| format!("+{}", t.info().short))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A named set of tricks: the seed study's scenarios.
#[derive(Debug)]
pub struct Preset {
    pub name: &'static str,
    pub tricks: &'static [Trick],
    pub about: &'static str,
}

impl Preset {
    pub fn trick_set(&self) -> TrickSet {
        self.tricks.iter().copied().collect()
    }
}

use Trick::*;

/// The seed study's eight cumulative scenarios, in order. The dropout variants each build on
/// `init_weights`.
pub const PRESETS: [Preset; 8] = [
    Preset {
        name: "baseline",
        tricks: &[],
        about: "ReLU, cross-entropy, shuffled minibatches of 64, Adam lr 1e-3",
    },
    Preset {
        name: "norm_inputs",
        tricks: &[NormInputs],
        about: "+ per-channel normalized inputs",
    },
    Preset {
        name: "lr_schedule",
        tricks: &[NormInputs, LrSchedule],
        about: "+ lr 2e-3 decayed x0.8 per epoch",
    },
    Preset {
        name: "weight_decay",
        tricks: &[NormInputs, LrSchedule, WeightDecay],
        about: "+ L2 weight decay 1e-4",
    },
    Preset {
        name: "init_weights",
        tricks: &[NormInputs, LrSchedule, WeightDecay, InitWeights],
        about: "+ Kaiming-uniform init, zero biases",
    },
    Preset {
        name: "dropout_dense",
        tricks: &[
            NormInputs,
            LrSchedule,
            WeightDecay,
            InitWeights,
            DropoutDense,
        ],
        about: "+ dropout 0.2 after the first dense layer",
    },
    Preset {
        name: "dropout_conv",
        tricks: &[
            NormInputs,
            LrSchedule,
            WeightDecay,
            InitWeights,
            DropoutConv,
        ],
        about: "+ dropout 0.2 after every conv",
    },
    Preset {
        name: "dropout_both",
        tricks: &[
            NormInputs,
            LrSchedule,
            WeightDecay,
            InitWeights,
            DropoutDense,
            DropoutConv,
        ],
        about: "+ dropout after the dense layer and every conv",
    },
];

/// LeCun's recipe from Efficient BackProp, as far as this CNN allows: decorrelated inputs,
/// his tanh and init, MSE to his targets, SGD with momentum, classes in turn, a decaying rate.
pub const LECUN_RECIPE: [Trick; 7] = [
    Zca,
    ScaledTanh,
    LecunInit,
    MseTargets,
    SgdMomentum,
    InterleaveClasses,
    LrSchedule,
];

/// The `lecun` study: the whole recipe, then the recipe without each of its tricks in turn
/// (leave-one-out), in the recipe's order, then the recipe with standardized inputs in ZCA's
/// place: leaving ZCA out also leaves the inputs unstandardized, so that alone does not show
/// what the decorrelation adds.
pub const LECUN_PRESETS: [Preset; 9] = [
    Preset {
        name: "lecun",
        tricks: &LECUN_RECIPE,
        about: "LeCun's recipe: ZCA, scaled tanh, LeCun init, MSE targets, SGD+momentum, \
                classes in turn, lr schedule",
    },
    Preset {
        name: "lecun_no_zca",
        tricks: &[
            ScaledTanh,
            LecunInit,
            MseTargets,
            SgdMomentum,
            InterleaveClasses,
            LrSchedule,
        ],
        about: "the recipe on raw [0,1] inputs",
    },
    Preset {
        name: "lecun_no_scaled_tanh",
        tricks: &[
            Zca,
            LecunInit,
            MseTargets,
            SgdMomentum,
            InterleaveClasses,
            LrSchedule,
        ],
        about: "the recipe with the configured activation (ReLU)",
    },
    Preset {
        name: "lecun_no_lecun_init",
        tricks: &[
            Zca,
            ScaledTanh,
            MseTargets,
            SgdMomentum,
            InterleaveClasses,
            LrSchedule,
        ],
        about: "the recipe with PyTorch's default init",
    },
    Preset {
        name: "lecun_no_mse_targets",
        tricks: &[
            Zca,
            ScaledTanh,
            LecunInit,
            SgdMomentum,
            InterleaveClasses,
            LrSchedule,
        ],
        about: "the recipe with cross-entropy",
    },
    Preset {
        name: "lecun_no_sgd_momentum",
        tricks: &[
            Zca,
            ScaledTanh,
            LecunInit,
            MseTargets,
            InterleaveClasses,
            LrSchedule,
        ],
        about: "the recipe with the configured optimizer (Adam)",
    },
    Preset {
        name: "lecun_no_interleave_classes",
        tricks: &[
            Zca,
            ScaledTanh,
            LecunInit,
            MseTargets,
            SgdMomentum,
            LrSchedule,
        ],
        about: "the recipe with shuffled batches",
    },
    Preset {
        name: "lecun_no_lr_schedule",
        tricks: &[
            Zca,
            ScaledTanh,
            LecunInit,
            MseTargets,
            SgdMomentum,
            InterleaveClasses,
        ],
        about: "the recipe at a fixed sgd_lr",
    },
    Preset {
        name: "lecun_norm_not_zca",
        tricks: &[
            NormInputs,
            ScaledTanh,
            LecunInit,
            MseTargets,
            SgdMomentum,
            InterleaveClasses,
            LrSchedule,
        ],
        about: "the recipe with per-channel standardized inputs in ZCA's place",
    },
];

/// A named list of presets trained together and compared (`study --preset NAME`).
#[derive(Debug)]
pub struct Study {
    pub name: &'static str,
    pub about: &'static str,
    pub presets: &'static [Preset],
}

pub const STUDIES: [Study; 2] = [
    Study {
        name: "seed",
        about: "the seed study's eight cumulative scenarios",
        presets: &PRESETS,
    },
    Study {
        name: "lecun",
        about: "LeCun's recipe and each of its tricks left out in turn",
        presets: &LECUN_PRESETS,
    },
];

/// Looks a study up by name.
pub fn study(name: &str) -> Result<&'static Study, UnknownName> {
    STUDIES
        .iter()
        .find(|s| s.name == name.trim())
        .ok_or_else(|| UnknownName {
            kind: "study",
            name: name.to_string(),
            valid: STUDIES.map(|s| s.name).join(", "),
        })
}

/// Every named preset: the seed study's, then the `lecun` study's.
fn all_presets() -> impl Iterator<Item = &'static Preset> {
    STUDIES.iter().flat_map(|s| s.presets)
}

/// Looks a preset up by name.
pub fn preset(name: &str) -> Result<&'static Preset, UnknownName> {
    all_presets()
        .find(|p| p.name == name.trim())
        .ok_or_else(|| UnknownName {
            kind: "preset",
            name: name.to_string(),
            valid: all_presets().map(|p| p.name).collect::<Vec<_>>().join(", "),
        })
}

/// The preset whose tricks are exactly these, if any: a run's name in tables.
pub fn preset_name(tricks: &TrickSet) -> Option<&'static str> {
    all_presets()
        .find(|p| p.trick_set() == *tricks)
        .map(|p| p.name)
}

/// A run's tricks as a short diff from the baseline, e.g. `+norm_inputs +lr_schedule`.
pub fn describe(tricks: &TrickSet) -> String {
    if tricks.is_empty() {
        return "(baseline)".into();
    }
    tricks
        .iter()
        .map(|t| format!("+{t}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// [`describe`], then the settings that make this configuration differ from its tricks over
/// the default settings, in LeCun's list: `+norm_inputs optimizer=sgd order=sequential`. What
/// history lists and exports show as a run's tricks.
pub fn describe_config(cfg: &TrainConfig) -> String {
    let tricks: TrickSet = cfg.tricks.iter().copied().collect();
    let usual = resolve(&tricks, &Hyper::default());
    let mut out = describe(&tricks);
    let mut differs = |name: &str, same: bool, value: String| {
        if !same {
            out += &format!(" {name}={value}");
        }
    };
    differs(
        "activation",
        cfg.activation == usual.activation,
        cfg.activation.key().into(),
    );
    let loss = match cfg.loss {
        Loss::CrossEntropy => "cross_entropy".to_string(),
        Loss::Mse { targets } => format!("mse/{}", targets.key()),
    };
    differs("loss", cfg.loss == usual.loss, loss);
    let optimizer = match cfg.optimizer {
        Optimizer::Adam => "adam".to_string(),
        Optimizer::Sgd => "sgd".to_string(),
        Optimizer::SgdMomentum { momentum } => format!("sgd_momentum/{momentum}"),
    };
    differs("optimizer", cfg.optimizer == usual.optimizer, optimizer);
    differs("order", cfg.order == usual.order, cfg.order.key().into());
    differs(
        "regularize_after",
        cfg.regularize_from == usual.regularize_from,
        cfg.regularize_from.to_string(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_match_their_trick_and_key() {
        for info in &TRICKS {
            assert_eq!(info.trick.info().key, info.key);
            assert_eq!(info.key.parse::<Trick>().unwrap(), info.trick);
            let json = serde_json::to_string(&info.trick).unwrap();
            assert_eq!(
                json,
                format!("\"{}\"", info.key),
                "serde name is the table key"
            );
        }
    }

    #[test]
    fn unknown_trick_lists_valid_names() {
        let err = parse_tricks("norm_inputs,bogus").unwrap_err().to_string();
        assert!(
            err.contains("bogus") && err.contains("dropout_conv"),
            "{err}"
        );
    }

    #[test]
    fn presets_are_cumulative_like_the_seed() {
        let names: Vec<_> = PRESETS.iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "baseline",
                "norm_inputs",
                "lr_schedule",
                "weight_decay",
                "init_weights",
                "dropout_dense",
                "dropout_conv",
                "dropout_both"
            ]
        );
        for pair in PRESETS[..5].windows(2) {
            assert!(pair[0].trick_set().is_subset(&pair[1].trick_set()));
        }
        for p in &PRESETS[5..] {
            assert!(PRESETS[4].trick_set().is_subset(&p.trick_set()));
        }
    }

    #[test]
    fn baseline_preset_resolves_to_the_seed_baseline() {
        let h = Hyper::default();
        let cfg = resolve(&preset("baseline").unwrap().trick_set(), &h);
        assert_eq!(cfg.lr, LrPolicy::Constant { lr: 1e-3 });
        assert!(!cfg.normalize);
        assert_eq!(cfg.weight_decay, None);
        assert_eq!(cfg.l1, None);
        assert_eq!(cfg.init, Init::Default);
        assert_eq!((cfg.dropout_dense, cfg.dropout_conv), (None, None));
        assert_eq!((cfg.epochs, cfg.batch_size), (10, 64));
    }

    #[test]
    fn each_trick_changes_only_its_own_field() {
        let h = Hyper::default();
        let base = resolve(&TrickSet::new(), &h);
        for info in &TRICKS {
            let cfg = resolve(&[info.trick].into(), &h);
            let mut undone = cfg.clone();
            undone.tricks.clear();
            assert_ne!(undone, base, "{} changes nothing", info.key);
            let changed: Vec<&str> = base.diff(&cfg);
            // SGD trains at its own rate (see `resolve`).
            let own = if info.trick == Trick::SgdMomentum {
                vec!["lr", "optimizer"]
            } else {
                vec![changed[0]]
            };
            assert_eq!(changed, own, "{} changes {:?}", info.key, changed);
        }
    }

    #[test]
    fn sgd_trains_at_sgd_lr_and_its_schedule_keeps_the_ratio() {
        let h = Hyper::default();
        let sgd = resolve(&[Trick::SgdMomentum].into(), &h);
        assert_eq!(sgd.optimizer, Optimizer::SgdMomentum { momentum: 0.9 });
        assert_eq!(sgd.lr, LrPolicy::Constant { lr: h.sgd_lr });
        let sched = resolve(&[Trick::SgdMomentum, Trick::LrSchedule].into(), &h);
        let LrPolicy::Exponential { initial, gamma } = sched.lr else {
            panic!("{:?}", sched.lr);
        };
        // The schedule's 2e-3 over Adam's 1e-3: twice sgd_lr.
        assert!((initial - 2.0 * h.sgd_lr).abs() < 1e-15, "{initial}");
        assert_eq!(gamma, 0.8);
        let plain = Hyper {
            optimizer: crate::config::OptimizerKind::Sgd,
            sgd_lr: 0.05,
            ..Hyper::default()
        };
        let cfg = resolve(&TrickSet::new(), &plain);
        assert_eq!(
            (cfg.optimizer, cfg.lr),
            (Optimizer::Sgd, LrPolicy::Constant { lr: 0.05 })
        );
        assert_eq!(
            resolve(&TrickSet::new(), &h).lr,
            LrPolicy::Constant { lr: 1e-3 }
        );
    }

    #[test]
    fn the_lecun_study_is_the_recipe_then_each_trick_left_out() {
        let s = study("lecun").unwrap();
        let recipe = s.presets[0].trick_set();
        assert_eq!(recipe, LECUN_RECIPE.into_iter().collect());
        assert_eq!(s.presets.len(), LECUN_RECIPE.len() + 2);
        for (p, left_out) in s.presets[1..].iter().zip(LECUN_RECIPE) {
            let mut want = recipe.clone();
            want.remove(&left_out);
            assert_eq!(p.trick_set(), want, "{}", p.name);
            assert_eq!(p.name, format!("lecun_no_{}", left_out.key()));
            assert_eq!(preset(p.name).unwrap().name, p.name);
            assert_eq!(preset_name(&want), Some(p.name));
        }
        // ZCA's own part: the recipe with standardized inputs in its place.
        let mut want = recipe.clone();
        want.remove(&Zca);
        want.insert(NormInputs);
        let last = s.presets.last().unwrap();
        assert_eq!((last.name, last.trick_set()), ("lecun_norm_not_zca", want));
        assert_eq!(study("seed").unwrap().presets.len(), 8);
        let Err(err) = study("bogus") else {
            panic!("a study named bogus")
        };
        let err = err.to_string();
        assert!(err.contains("seed, lecun"), "{err}");
    }

    #[test]
    fn a_config_is_described_by_its_tricks_and_the_settings_that_differ() {
        let h = Hyper::default();
        let set: TrickSet = [Trick::NormInputs, Trick::SgdMomentum].into();
        assert_eq!(
            describe_config(&resolve(&set, &h)),
            "+norm_inputs +sgd_momentum"
        );
        let h = Hyper {
            optimizer: crate::config::OptimizerKind::Sgd,
            order: Order::Sequential,
            loss: crate::config::LossKind::Mse,
            regularize_after: 2,
            ..Hyper::default()
        };
        assert_eq!(
            describe_config(&resolve(&TrickSet::new(), &h)),
            "(baseline) loss=mse/one_hot optimizer=sgd order=sequential regularize_after=2"
        );
        // A trick's own choice is not repeated as a setting.
        assert_eq!(
            describe_config(&resolve(&set, &h)),
            "+norm_inputs +sgd_momentum loss=mse/one_hot order=sequential regularize_after=2"
        );
    }

    #[test]
    fn describe_and_preset_name() {
        let set = preset("lr_schedule").unwrap().trick_set();
        assert_eq!(describe(&set), "+norm_inputs +lr_schedule");
        assert_eq!(preset_name(&set), Some("lr_schedule"));
        assert_eq!(preset_name(&[Trick::L1].into()), None);
        assert_eq!(describe(&TrickSet::new()), "(baseline)");
    }
}
