//! Runs repeated over seeds, grouped by variant: each figure as a mean with its 95% interval
//! (Student's t), paired differences against a reference, and the seed study's claims checked
//! against them. Pure data.

use serde::{Deserialize, Serialize};

use crate::run::Run;
use cifar_engine::config::TrainConfig;
use cifar_engine::events::DeviceKind;
use cifar_engine::stats::{Interval, Verdict, paired_difference};
use cifar_engine::tricks;

/// Most seeds one variant may be repeated over.
pub const MAX_SEEDS: usize = 100;

/// The seeds a run or a study is repeated over: a count (from the configured seed on: seed,
/// seed + 1, …) or a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Seeds {
    Count(usize),
    List(Vec<u64>),
}

impl Seeds {
    /// `3` (a count) or `1,2,3` (a list); checked.
    pub fn parse(text: &str) -> Result<Seeds, String> {
        let text = text.trim();
        let seeds = if text.contains(',') {
            let list = text
                .split(',')
                .map(|s| s.trim().parse::<u64>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| {
                    format!(
                        "`{text}` is not a list of seeds. Fix: give a count (3) or seeds (1,2,3)"
                    )
                })?;
            Seeds::List(list)
        } else {
            Seeds::Count(text.parse().map_err(|_| {
                format!("`{text}` is not a number of seeds. Fix: give a count (3) or seeds (1,2,3)")
            })?)
        };
        seeds.check()?;
        Ok(seeds)
    }

    /// Why these seeds cannot be used, if so.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Seeds::Count(n) if !(1..=MAX_SEEDS).contains(n) => {
                Err(format!("{n} is out of range: 1 to {MAX_SEEDS}"))
            }
            Seeds::List(l) if l.is_empty() || l.len() > MAX_SEEDS => Err(format!(
                "a list of {} seeds: give 1 to {MAX_SEEDS}",
                l.len()
            )),
            Seeds::List(l) if (1..l.len()).any(|i| l[..i].contains(&l[i])) => {
                Err("a seed is listed twice: each seed once".into())
            }
            _ => Ok(()),
        }
    }

    /// The seeds themselves, a count starting at `first`.
    pub fn list(&self, first: u64) -> Vec<u64> {
        match self {
            Seeds::Count(n) => (0..*n as u64).map(|k| first.wrapping_add(k)).collect(),
            Seeds::List(l) => l.clone(),
        }
    }

    /// What is repeated when nothing is asked: a single run stays one run (a demo must not get
    /// three times slower); a study takes 3 seeds on the CPU and 5 on a GPU.
    pub fn default_for(study: bool, device: DeviceKind) -> Seeds {
        Seeds::Count(match (study, device) {
            (false, _) => 1,
            (true, DeviceKind::Cpu) => 3,
            (true, DeviceKind::Cuda) => 5,
            (true, DeviceKind::Wgpu) => 3,
        })
    }
}

impl std::fmt::Display for Seeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seeds::Count(n) => write!(f, "{n}"),
            Seeds::List(l) => {
                let l: Vec<String> = l.iter().map(u64::to_string).collect();
                write!(f, "{}", l.join(","))
            }
        }
    }
}

/// One finished run, as a variant needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Trial {
    /// The history's number for stored runs, the session's for runs of the app.
    pub id: i64,
    pub name: String,
    pub config: TrainConfig,
    pub device: Option<DeviceKind>,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub seconds: f64,
    pub images_per_sec: f64,
    /// Test accuracy after each epoch.
    pub val_accuracy: Vec<f64>,
}

impl Trial {
    /// Its id among trials: the history's number, or for a run the history does not hold,
    /// minus its session key (never a history number).
    pub fn id_of(r: &Run) -> i64 {
        r.stored().unwrap_or(-(r.key as i64))
    }

    /// `None` unless the run finished.
    pub fn from_run(r: &Run) -> Option<Trial> {
        let o = r.outcome()?;
        Some(Trial {
            id: Trial::id_of(r),
            name: r.name.clone(),
            config: r.config.clone(),
            device: Some(o.device),
            accuracy: o.report.accuracy,
            macro_f1: o.report.macro_f1,
            seconds: o.seconds,
            images_per_sec: o.images_per_sec,
            val_accuracy: r.epochs.iter().map(|e| e.val_accuracy).collect(),
        })
    }
}

/// What makes runs the same variant: the name and the whole configuration but its seed.
pub fn variant_key(name: &str, config: &TrainConfig, device: Option<DeviceKind>) -> String {
    let mut c = config.clone();
    c.seed = 0;
    // The device is part of it: a GPU run of seed k is not the pair of a CPU run of seed k
    // (other kernels, other sums), nor a second draw of the same seed.
    let device = device.map_or("-".to_string(), |d| d.to_string());
    format!(
        "{name} {device} {}",
        serde_json::to_string(&c).unwrap_or_else(|_| format!("{c:?}"))
    )
}

/// What runs must share to be compared: epochs, batch size, training images, held-out
/// validation images.
pub type Setting = (usize, usize, Option<usize>, Option<usize>);

pub fn setting(c: &TrainConfig) -> Setting {
    (c.epochs, c.batch_size, c.train_limit, c.val_split)
}

/// `items` split by setting, the setting with the most first, each part in the given order.
pub fn by_setting<T>(
    items: impl IntoIterator<Item = T>,
    config: impl Fn(&T) -> &TrainConfig,
) -> Vec<(Setting, Vec<T>)> {
    let mut parts: Vec<(Setting, Vec<T>)> = Vec::new();
    for t in items {
        let key = setting(config(&t));
        match parts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(t),
            None => parts.push((key, vec![t])),
        }
    }
    parts.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    parts
}

/// A setting in words: "10 epochs, batch 64, all training images".
pub fn setting_label(&(epochs, batch, limit, held_out): &Setting) -> String {
    let images = match (limit, held_out) {
        (None, None) => "all training images".to_string(),
        (Some(n), None) => format!("the first {n} images"),
        (None, Some(h)) => format!("all training images but the last {h}, held out to validate on"),
        (Some(n), Some(h)) => format!("the first {n} images, the last {h} held out to validate on"),
    };
    format!("{epochs} epochs, batch {batch}, {images}")
}

/// Where a variant comes in a report: the studies' scenarios in their order, then anything
/// else.
pub fn study_order(name: &str) -> usize {
    tricks::STUDIES
        .iter()
        .flat_map(|s| s.presets)
        .position(|p| p.name == name)
        .unwrap_or(usize::MAX)
}

/// One configuration trained on one or more seeds; every figure in seed order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Variant {
    #[serde(skip)]
    pub key: String,
    pub name: String,
    /// Where its runs trained.
    pub device: Option<DeviceKind>,
    /// The tricks against the baseline, as `+norm_inputs +lr_schedule`.
    pub tricks: String,
    pub epochs: usize,
    pub train_limit: Option<usize>,
    /// Training images held out to validate on; `None`: the test set validated.
    pub val_split: Option<usize>,
    pub seeds: Vec<u64>,
    /// The runs, one per seed, in seed order.
    pub runs: Vec<i64>,
    /// Runs of a seed already counted, left out (the newest of each seed is counted): a
    /// repeated seed would count one draw twice.
    pub repeats: Vec<i64>,
    /// Test accuracy, which is also the micro-F1 (single-label).
    pub accuracy: Interval,
    pub macro_f1: Interval,
    pub minutes: Interval,
    pub images_per_sec: Interval,
    /// Validation accuracy after each epoch that every seed has (the test set's, unless
    /// `val_split` held images out).
    pub val_accuracy: Vec<Interval>,
}

impl Variant {
    /// Its name as shown, with the device where it is not the CPU: `baseline (cuda)`.
    pub fn label(&self) -> String {
        match self.device {
            Some(d) if d != DeviceKind::Cpu => format!("{} ({d})", self.name),
            _ => self.name.clone(),
        }
    }

    pub fn n(&self) -> usize {
        self.seeds.len()
    }

    /// Each seed's test accuracy, keyed by seed.
    fn accuracy_by_seed(&self) -> impl Iterator<Item = (u64, f64)> + '_ {
        self.seeds
            .iter()
            .copied()
            .zip(self.accuracy.values.iter().copied())
    }
}

/// Groups finished runs into variants, in the order each variant first appears. A seed run
/// twice counts once (the later run: same seed, same figures on the same device).
pub fn group(trials: impl IntoIterator<Item = Trial>) -> Vec<Variant> {
    let mut groups: Vec<(String, Vec<Trial>)> = Vec::new();
    for t in trials {
        let key = variant_key(&t.name, &t.config, t.device);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push(t),
            None => groups.push((key, vec![t])),
        }
    }
    groups
        .into_iter()
        .map(|(key, mut g)| {
            g.sort_by_key(|t| (t.config.seed, std::cmp::Reverse(t.id)));
            let mut repeats = Vec::new();
            g.dedup_by(|later, kept| {
                let same = later.config.seed == kept.config.seed;
                if same {
                    repeats.push(later.id);
                }
                same
            });
            repeats.sort_unstable();
            Variant {
                repeats,
                ..variant(key, &g)
            }
        })
        .collect()
}

fn interval(values: impl Iterator<Item = f64>) -> Interval {
    let v: Vec<f64> = values.collect();
    Interval::of(&v).unwrap_or(Interval {
        n: 0,
        mean: f64::NAN,
        half_width: None,
        values: Vec::new(),
    })
}

/// `g` is not empty and in seed order.
fn variant(key: String, g: &[Trial]) -> Variant {
    let first = &g[0];
    let tricks: tricks::TrickSet = first.config.tricks.iter().copied().collect();
    let epochs_seen = g.iter().map(|t| t.val_accuracy.len()).min().unwrap_or(0);
    Variant {
        key,
        name: first.name.clone(),
        device: first.device,
        tricks: tricks::describe(&tricks),
        epochs: first.config.epochs,
        train_limit: first.config.train_limit,
        val_split: first.config.val_split,
        seeds: g.iter().map(|t| t.config.seed).collect(),
        runs: g.iter().map(|t| t.id).collect(),
        repeats: Vec::new(),
        accuracy: interval(g.iter().map(|t| t.accuracy)),
        macro_f1: interval(g.iter().map(|t| t.macro_f1)),
        minutes: interval(g.iter().map(|t| t.seconds / 60.0)),
        images_per_sec: interval(g.iter().map(|t| t.images_per_sec)),
        val_accuracy: (0..epochs_seen)
            .map(|e| interval(g.iter().map(|t| t.val_accuracy[e])))
            .collect(),
    }
}

/// `a − reference` in test accuracy, seed by seed over the seeds both have; `None` when they
/// share none.
pub fn paired(a: &Variant, reference: &Variant) -> Option<Interval> {
    let (x, y): (Vec<f64>, Vec<f64>) = a
        .accuracy_by_seed()
        .filter_map(|(seed, v)| {
            let r = reference.accuracy_by_seed().find(|&(s, _)| s == seed)?.1;
            Some((v, r))
        })
        .unzip();
    if x.is_empty() {
        return None;
    }
    paired_difference(&x, &y)
}

/// `0.7165 ± 0.0052`, or the bare mean for one seed.
pub fn mean_ci(i: &Interval, digits: usize) -> String {
    match i.half_width {
        Some(h) => format!("{:.digits$} ± {h:.digits$}", i.mean),
        None => format!("{:.digits$}", i.mean),
    }
}

/// A p-value as the reports print it: `0.033`, `<0.001`, `–` for none.
pub fn p_label(p: Option<f64>) -> String {
    match p {
        None => "–".into(),
        Some(p) if p < 0.001 => "<0.001".into(),
        Some(p) => format!("{p:.3}"),
    }
}

/// A difference: `+0.0514 ± 0.0100`.
pub fn signed_ci(i: &Interval, digits: usize) -> String {
    match i.half_width {
        Some(h) => format!("{:+.digits$} ± {h:.digits$}", i.mean),
        None => format!("{:+.digits$}", i.mean),
    }
}

/// What a paired difference says, in a few words: the interval when it excludes zero.
pub fn difference_label(d: &Interval) -> String {
    match d.verdict() {
        Verdict::Higher | Verdict::Lower => signed_ci(d, 4),
        v => v.label().to_string(),
    }
}

/// A study's claim: `variant` does better than `reference`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub text: String,
    pub variant: String,
    pub reference: String,
}

/// The claims a study's runs answer: LeCun's when the `lecun` study's runs are there (each
/// trick of his recipe helps: the recipe against the recipe without it), else the seed
/// notebook's ([`CLAIMS`]).
pub fn claims_of(variants: &[Variant]) -> Vec<Claim> {
    if variants.iter().any(|v| v.name.starts_with("lecun")) {
        let mut claims: Vec<Claim> = cifar_engine::tricks::LECUN_RECIPE
            .iter()
            .map(|t| Claim {
                text: format!("{} helps LeCun's recipe", t.info().label),
                variant: "lecun".into(),
                reference: format!("lecun_no_{}", t.info().key),
            })
            .collect();
        // Left out, ZCA also takes the standardization with it: its decorrelation alone is
        // the recipe against the recipe on standardized inputs.
        claims.insert(
            1,
            Claim {
                text: "ZCA's decorrelation helps LeCun's recipe".into(),
                variant: "lecun".into(),
                reference: "lecun_norm_not_zca".into(),
            },
        );
        return claims;
    }
    CLAIMS
        .iter()
        .map(|&(text, variant, reference)| Claim {
            text: text.into(),
            variant: variant.into(),
            reference: reference.into(),
        })
        .collect()
}

/// The seed notebook's claims (text, variant, reference): each step of the cumulative study
/// against the step it adds to; the three dropouts each against `init_weights`, which they all
/// build on.
pub const CLAIMS: [(&str, &str, &str); 7] = [
    ("normalizing inputs helps", "norm_inputs", "baseline"),
    (
        "a learning-rate schedule helps",
        "lr_schedule",
        "norm_inputs",
    ),
    ("weight decay helps", "weight_decay", "lr_schedule"),
    ("Kaiming init helps", "init_weights", "weight_decay"),
    ("dropout helps (dense)", "dropout_dense", "init_weights"),
    ("dropout helps (conv)", "dropout_conv", "init_weights"),
    ("dropout helps (both)", "dropout_both", "init_weights"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// The paired interval lies above zero.
    Yes,
    /// It lies below zero: the trick hurts.
    No,
    /// It holds zero, or there is no interval (one seed, no shared seeds, a missing variant).
    NotShown,
}

impl Answer {
    pub fn label(self) -> &'static str {
        match self {
            Answer::Yes => "yes",
            Answer::No => "no",
            Answer::NotShown => "not shown",
        }
    }
}

/// A claim against the evidence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Checked {
    pub claim: String,
    pub variant: String,
    pub reference: String,
    pub answer: Answer,
    /// The paired difference `variant − reference` in test accuracy.
    pub difference: Option<Interval>,
    /// Why it is not shown, when so.
    pub why: Option<String>,
    /// The paired t test's two-sided p-value, this claim alone.
    pub p: Option<f64>,
    /// `p` adjusted by Holm's method over every claim of the study tested (see
    /// [`cifar_engine::stats::holm`]): what holds for the claims together.
    pub p_holm: Option<f64>,
    /// The answer at 5% for the claims together: yes or no only where `p_holm` < 0.05.
    pub answer_holm: Answer,
}

fn by_name<'a>(variants: &'a [Variant], name: &str) -> Option<&'a Variant> {
    variants.iter().find(|v| v.name == name)
}

/// Every claim of the study ([`claims_of`]) answered from `variants` (one study: one variant
/// per preset): each alone by its 95% interval, and together by Holm's adjusted p-values.
pub fn check_claims(variants: &[Variant]) -> Vec<Checked> {
    let mut checked = each_claim(variants);
    let p: Vec<Option<f64>> = checked.iter().map(|c| c.p).collect();
    for (c, p_holm) in checked.iter_mut().zip(cifar_engine::stats::holm(&p)) {
        c.p_holm = p_holm;
        let mean = c.difference.as_ref().map_or(0.0, |d| d.mean);
        c.answer_holm = match p_holm {
            Some(p) if p < 0.05 && mean > 0.0 => Answer::Yes,
            Some(p) if p < 0.05 && mean < 0.0 => Answer::No,
            _ => Answer::NotShown,
        };
    }
    checked
}

fn each_claim(variants: &[Variant]) -> Vec<Checked> {
    claims_of(variants)
        .into_iter()
        .map(|c| {
            let (v, r) = (
                by_name(variants, &c.variant),
                by_name(variants, &c.reference),
            );
            let pair = v.zip(r);
            let difference = pair.and_then(|(v, r)| paired(v, r));
            let missing: Vec<&str> = [(v, c.variant.as_str()), (r, c.reference.as_str())]
                .into_iter()
                .filter(|(v, _)| v.is_none())
                .map(|(_, name)| name)
                .collect();
            let (answer, why) = match (&pair, &difference) {
                (None, _) => (
                    Answer::NotShown,
                    Some(format!("no runs of {}", missing.join(" or "))),
                ),
                (Some(_), None) => (Answer::NotShown, Some("no seed in common".into())),
                (Some(_), Some(d)) => match d.verdict() {
                    Verdict::Higher => (Answer::Yes, None),
                    Verdict::Lower => (Answer::No, Some("it hurts".into())),
                    Verdict::WithinNoise => (Answer::NotShown, Some("within noise".into())),
                    Verdict::NotShown => (Answer::NotShown, Some("1 seed".into())),
                },
            };
            Checked {
                claim: c.text,
                variant: c.variant,
                reference: c.reference,
                answer,
                p: difference.as_ref().and_then(Interval::p_value),
                difference,
                why,
                p_holm: None,
                answer_holm: Answer::NotShown,
            }
        })
        .collect()
}

/// The seed list, when every variant has the same: `1, 2, 3`.
fn common_seeds(variants: &[Variant]) -> Option<String> {
    let first = &variants.first()?.seeds;
    variants.iter().all(|v| &v.seeds == first).then(|| {
        first
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The study's report as Markdown: the table of variants (mean ± 95% CI, n, each seed's
/// value, the paired difference against `reference`), then the claims checked.
pub fn report(variants: &[Variant], reference: &str) -> String {
    let mut s = table(variants, reference);
    let claims = check_claims(variants);
    let m = claims.iter().filter(|c| c.p.is_some()).count();
    s += &format!(
        "\nThe study's claims, each a paired difference in test accuracy over the seeds both \
         have (n). The difference's 95% CI, its p (paired t test) and the answer are each \
         claim's alone, uncorrected for the {m} comparisons; the last two columns answer for \
         the claims together (Holm's adjustment over the {m}, 5% family-wise):\n\n\
         | claim | compared | n | difference (95% CI) | p | answer | p, Holm | answer, Holm |\n\
         |---|---|---:|---|---:|---|---:|---|\n"
    );
    for c in claims {
        let diff = c
            .difference
            .as_ref()
            .map(|d| signed_ci(d, 4))
            .unwrap_or_else(|| "–".into());
        let why = c.why.map(|w| format!(" ({w})")).unwrap_or_default();
        let n = c.difference.as_ref().map_or(0, |d| d.n);
        s += &format!(
            "| {} | {} − {} | {n} | {diff} | {} | {}{why} | {} | {} |\n",
            c.claim,
            c.variant,
            c.reference,
            p_label(c.p),
            c.answer.label(),
            p_label(c.p_holm),
            c.answer_holm.label()
        );
    }
    s
}

/// The variants as a Markdown table: n, mean ± 95% CI, each seed's value, the paired
/// difference against `reference`.
pub fn table(variants: &[Variant], reference: &str) -> String {
    let mut s = String::new();
    if let Some(seeds) = common_seeds(variants) {
        s += &format!(
            "seeds: {seeds}; intervals: 95%, Student's t with n − 1 degrees of freedom\n\n"
        );
    } else {
        s += "intervals: 95%, Student's t with n − 1 degrees of freedom\n\n";
    }
    s += &format!(
        "| scenario | tricks | n | test accuracy (= micro-F1) | per seed | vs {reference} (paired) | macro-F1 | minutes | img/s |\n\
         |---|---|---:|---|---|---|---|---:|---:|\n"
    );
    let refv = by_name(variants, reference);
    for v in variants {
        let per_seed = v
            .accuracy_by_seed()
            .map(|(seed, a)| format!("{seed}: {a:.4}"))
            .collect::<Vec<_>>()
            .join(", ");
        let vs = match refv {
            Some(r) if r.key == v.key => "reference".to_string(),
            Some(r) => paired(v, r)
                .map(|d| match d.verdict() {
                    Verdict::NotShown => format!("{} (1 seed)", signed_ci(&d, 4)),
                    verdict => format!("{} ({})", signed_ci(&d, 4), verdict.label()),
                })
                .unwrap_or_else(|| "no seed in common".into()),
            None => "–".into(),
        };
        let subset = v
            .train_limit
            .map(|n| format!(" (first {n} images)"))
            .unwrap_or_default();
        s += &format!(
            "| {}{subset} | {} | {} | {} | {per_seed} | {vs} | {} | {:.1} | {:.0} |\n",
            v.label(),
            v.tricks,
            v.n(),
            mean_ci(&v.accuracy, 4),
            mean_ci(&v.macro_f1, 4),
            v.minutes.mean,
            v.images_per_sec.mean,
        );
    }
    s
}

/// The report as JSON: every variant with n, its intervals and each seed's value, and the
/// claims.
pub fn report_json(variants: &[Variant], reference: &str) -> serde_json::Value {
    let refv = by_name(variants, reference);
    let rows: Vec<serde_json::Value> = variants
        .iter()
        .map(|v| {
            let mut row = serde_json::to_value(v).unwrap_or_default();
            row["n"] = v.n().into();
            if let Some(d) = refv.filter(|r| r.key != v.key).and_then(|r| paired(v, r)) {
                row["vs_reference"] = serde_json::json!({
                    "reference": reference,
                    "difference": d,
                    "verdict": d.verdict(),
                });
            }
            row
        })
        .collect();
    serde_json::json!({
        "reference": reference,
        "interval": "95%, Student's t, n - 1 degrees of freedom",
        "variants": rows,
        "claims": check_claims(variants),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use cifar_engine::config::Hyper;

    /// A finished run of preset `name` on `seed` with this test accuracy.
    pub(crate) fn trial(id: i64, name: &str, seed: u64, accuracy: f64) -> Trial {
        let p = tricks::preset(name).unwrap();
        let mut config = tricks::resolve(&p.trick_set(), &Hyper::default());
        config.seed = seed;
        Trial {
            id,
            name: name.into(),
            config,
            device: Some(DeviceKind::Cpu),
            accuracy,
            macro_f1: accuracy - 0.001,
            seconds: 90.0,
            images_per_sec: 5000.0,
            val_accuracy: vec![accuracy - 0.1, accuracy],
        }
    }

    /// A three-seed study with hand-picked accuracies: norm_inputs gains about 0.05 on every
    /// seed (clearly real); the schedule gains 0.005 ± a lot (noise); weight decay loses
    /// 0.01 on every seed; init_weights on one seed only; no dropout variants.
    pub(crate) fn study() -> Vec<Variant> {
        let acc: [(&str, [f64; 3]); 4] = [
            ("baseline", [0.660, 0.670, 0.665]),
            ("norm_inputs", [0.712, 0.719, 0.716]),
            ("lr_schedule", [0.727, 0.714, 0.721]),
            ("weight_decay", [0.717, 0.704, 0.711]),
        ];
        let mut trials = Vec::new();
        let mut id = 0;
        for seed in 1..=3u64 {
            for (name, a) in &acc {
                id += 1;
                trials.push(trial(id, name, seed, a[seed as usize - 1]));
            }
        }
        trials.push(trial(99, "init_weights", 1, 0.73));
        group(trials)
    }

    #[test]
    fn the_lecun_study_answers_lecuns_claims() {
        let mut trials = Vec::new();
        for (seed, [whole, no_zca, no_tanh]) in [(1, [0.30, 0.25, 0.60]), (2, [0.31, 0.27, 0.62])] {
            let base = seed as i64 * 10;
            trials.push(trial(base, "lecun", seed, whole));
            trials.push(trial(base + 1, "lecun_no_zca", seed, no_zca));
            trials.push(trial(base + 2, "lecun_no_scaled_tanh", seed, no_tanh));
        }
        let checked = check_claims(&group(trials));
        assert_eq!(
            checked.len(),
            8,
            "one per trick of the recipe, and ZCA's decorrelation"
        );
        let zca = &checked[0];
        assert_eq!(
            (
                zca.claim.as_str(),
                zca.variant.as_str(),
                zca.reference.as_str()
            ),
            (
                "ZCA whitening helps LeCun's recipe",
                "lecun",
                "lecun_no_zca"
            )
        );
        // +0.05 and +0.04: two seeds, t(1) = 12.7 -> 0.045 ± 0.064, within noise.
        assert_eq!(zca.answer, Answer::NotShown);
        assert_eq!(
            (checked[1].reference.as_str(), checked[1].why.as_deref()),
            ("lecun_norm_not_zca", Some("no runs of lecun_norm_not_zca"))
        );
        let tanh = &checked[2];
        assert_eq!(tanh.reference, "lecun_no_scaled_tanh");
        assert_eq!(tanh.answer, Answer::No, "the recipe does worse with it");
        assert_eq!(
            checked[3].why.as_deref(),
            Some("no runs of lecun_no_lecun_init")
        );
        // The seed study keeps the notebook's claims.
        assert_eq!(check_claims(&study())[0].claim, "normalizing inputs helps");
    }

    #[test]
    fn seeds_are_a_count_from_the_configured_seed_or_a_list() {
        assert_eq!(Seeds::parse("3").unwrap().list(42), [42, 43, 44]);
        assert_eq!(Seeds::parse("1, 2,7").unwrap().list(42), [1, 2, 7]);
        for bad in ["0", "x", "1,,2", "1,2,1", "101"] {
            assert!(Seeds::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Seeds::default_for(false, DeviceKind::Cuda), Seeds::Count(1));
        assert_eq!(Seeds::default_for(true, DeviceKind::Cpu), Seeds::Count(3));
        assert_eq!(Seeds::default_for(true, DeviceKind::Cuda), Seeds::Count(5));
        assert_eq!(Seeds::List(vec![1, 2]).to_string(), "1,2");
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn runs_group_by_configuration_and_pair_by_seed() {
        let v = study();
        let names: Vec<&str> = v.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "baseline",
                "norm_inputs",
                "lr_schedule",
                "weight_decay",
                "init_weights"
            ]
        );
        assert_eq!(v[0].seeds, [1, 2, 3]);
        assert_eq!(v[0].runs, [1, 5, 9]);
        assert_eq!(v[0].accuracy.values, [0.660, 0.670, 0.665]);
        // Mean 0.665, sd 0.005, se 0.0028868, t(2) 4.302653 -> half-width 0.0124208.
        assert!(close(v[0].accuracy.mean, 0.665));
        assert!(close(v[0].accuracy.half_width.unwrap(), 0.0124208));
        assert_eq!(v[4].n(), 1);
        // Per-epoch curves are intervals too.
        assert_eq!(v[0].val_accuracy.len(), 2);
        assert!(close(v[0].val_accuracy[0].mean, 0.565));
        // A different epoch count is another variant; a repeated seed counts once (the later).
        let mut other = trial(50, "baseline", 1, 0.5);
        other.config.epochs = 2;
        let twice = trial(51, "baseline", 1, 0.661);
        let g = group([trial(1, "baseline", 1, 0.66), other, twice]);
        assert_eq!(g.len(), 2);
        assert_eq!(
            (g[0].runs.clone(), g[0].accuracy.values.clone()),
            (vec![51], vec![0.661])
        );
        assert_eq!(g[0].repeats, [1], "the left-out run is named, not lost");
        // Seed 1 on a GPU is not a second draw of seed 1 on the CPU, nor its pair.
        let mut gpu = trial(60, "baseline", 1, 0.67);
        gpu.device = Some(DeviceKind::Cuda);
        let g = group([trial(1, "baseline", 1, 0.66), gpu]);
        assert_eq!(g.len(), 2);
        assert!(g.iter().all(|v| v.repeats.is_empty()));
        assert_eq!(g[1].label(), "baseline (cuda)");
    }

    #[test]
    fn paired_differences_use_the_shared_seeds_only() {
        let v = study();
        // norm_inputs − baseline: 0.052, 0.049, 0.051: mean 0.050667, sd 0.0015275,
        // se 0.00088192, half-width 4.302653 × se = 0.0037946.
        let d = paired(&v[1], &v[0]).unwrap();
        assert!(
            close(d.mean, 0.0506667) && close(d.half_width.unwrap(), 0.0037946),
            "{d:?}"
        );
        assert_eq!(d.verdict(), Verdict::Higher);
        // init_weights shares seed 1 only with weight_decay: one difference, no interval.
        let d = paired(&v[4], &v[3]).unwrap();
        assert_eq!((d.n, d.verdict()), (1, Verdict::NotShown));
        assert!(close(d.mean, 0.013));
    }

    #[test]
    fn the_claims_are_answered_from_the_paired_intervals() {
        let checked = check_claims(&study());
        let answers: Vec<(&str, Answer, Option<&str>)> = checked
            .iter()
            .map(|c| (c.variant.as_str(), c.answer, c.why.as_deref()))
            .collect();
        assert_eq!(
            answers,
            [
                ("norm_inputs", Answer::Yes, None),
                // 0.015, −0.005, 0.005: mean 0.005 ± 0.0248: holds zero.
                ("lr_schedule", Answer::NotShown, Some("within noise")),
                // −0.010 on every seed: a zero-width interval below zero.
                ("weight_decay", Answer::No, Some("it hurts")),
                ("init_weights", Answer::NotShown, Some("1 seed")),
                (
                    "dropout_dense",
                    Answer::NotShown,
                    Some("no runs of dropout_dense")
                ),
                (
                    "dropout_conv",
                    Answer::NotShown,
                    Some("no runs of dropout_conv")
                ),
                (
                    "dropout_both",
                    Answer::NotShown,
                    Some("no runs of dropout_both")
                ),
            ]
        );
        let wd = checked[2].difference.as_ref().unwrap();
        assert!(close(wd.mean, -0.01) && close(wd.half_width.unwrap(), 0.0));
    }

    #[test]
    fn the_report_on_a_fixed_study() {
        insta::assert_snapshot!(report(&study(), "baseline"));
    }

    #[test]
    fn the_json_report_has_n_and_every_seed() {
        let j = report_json(&study(), "baseline");
        let base = &j["variants"][0];
        assert_eq!(base["n"], 3);
        assert_eq!(base["seeds"], serde_json::json!([1, 2, 3]));
        assert_eq!(
            base["accuracy"]["values"],
            serde_json::json!([0.66, 0.67, 0.665])
        );
        assert!(base.get("vs_reference").is_none(), "the reference itself");
        assert_eq!(j["variants"][1]["vs_reference"]["verdict"], "higher");
        assert_eq!(j["claims"][0]["answer"], "yes");
        assert_eq!(j["claims"][1]["answer"], "not_shown");
    }
}
