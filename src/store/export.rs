//! Runs of the history as CSV, JSON, or a Markdown table ready for slides; runs of a variant
//! repeated over seeds also as that variant's mean ± 95% CI, n and per-seed values.

use serde::Serialize;

use crate::run::variants::{self, Trial, Variant, variant_key};
use cifar_engine::config::TrainConfig;
use cifar_engine::events::EpochStats;
use cifar_engine::metrics::{Confusion, Report};

use crate::run::{Run, TrainPoint};

/// The file formats runs are exported in (`cifar-tui export --format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
    Md,
}

/// A run whole, as `show` prints it and the JSON export writes it.
#[derive(Serialize)]
pub struct Record<'a> {
    id: i64,
    created_at: Option<&'a str>,
    name: &'a str,
    tricks: String,
    config: &'a TrainConfig,
    status: &'static str,
    device: Option<String>,
    error: Option<&'a str>,
    seconds: Option<f64>,
    images_per_sec: Option<f64>,
    accuracy: Option<f64>,
    macro_f1: Option<f64>,
    epochs: &'a [EpochStats],
    confusion: Option<&'a Confusion>,
    report: Option<&'a Report>,
    /// Each report window's mean loss with the step it ended at.
    losses: &'a [TrainPoint],
    steps_per_epoch: usize,
    /// Where a run imported from a sweep was trained.
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<&'a crate::run::Origin>,
}

pub fn record(r: &Run) -> Record<'_> {
    let o = r.outcome();
    Record {
        id: r.id,
        created_at: r.created_at.as_deref(),
        name: &r.name,
        tricks: r.tricks_label(),
        config: &r.config,
        status: r.status.label(),
        device: r.device.map(|d| d.to_string()),
        error: r.status.reason(),
        seconds: o.map(|o| o.seconds),
        images_per_sec: o.map(|o| o.images_per_sec),
        accuracy: o.map(|o| o.report.accuracy),
        macro_f1: o.map(|o| o.report.macro_f1),
        epochs: &r.epochs,
        confusion: o.map(|o| &o.confusion),
        report: o.map(|o| &o.report),
        losses: &r.train_points,
        steps_per_epoch: r.steps_per_epoch,
        origin: r.origin.as_ref(),
    }
}

/// The variant the exported runs are compared with.
const REFERENCE: &str = "baseline";

/// One exported line: what a comparison needs.
#[derive(Serialize)]
struct Line<'a> {
    id: i64,
    name: &'a str,
    tricks: String,
    status: &'static str,
    device: String,
    epochs: usize,
    seed: u64,
    /// "all", or how many training images a quick run used.
    train_images: String,
    test_accuracy: Option<f64>,
    micro_f1: Option<f64>,
    macro_f1: Option<f64>,
    minutes: Option<f64>,
    images_per_sec: Option<f64>,
    created_at: &'a str,
    /// The run's variant (same configuration on other seeds, among the exported runs):
    /// its seeds, test accuracy's mean and 95% half-width (empty for one seed) and each
    /// seed's value, `;`-separated in seed order.
    variant_n: Option<usize>,
    variant_seeds: String,
    variant_accuracy_mean: Option<f64>,
    variant_accuracy_ci95: Option<f64>,
    variant_accuracy_per_seed: String,
}

fn joined<T: ToString>(xs: &[T]) -> String {
    xs.iter().map(T::to_string).collect::<Vec<_>>().join(";")
}

fn line<'a>(r: &'a Run, variants: &[Variant]) -> Line<'a> {
    let key = variant_key(&r.name, &r.config, r.trained_on());
    let v = variants
        .iter()
        .find(|v| v.key == key && v.runs.contains(&r.id));
    Line {
        id: r.id,
        name: &r.name,
        tricks: r.tricks_label(),
        status: r.status.label(),
        device: r.device.map(|d| d.to_string()).unwrap_or_default(),
        epochs: r.epochs.len(),
        seed: r.config.seed,
        train_images: r.config.train_limit.map_or("all".into(), |n| n.to_string()),
        test_accuracy: r.accuracy(),
        micro_f1: r.outcome().map(|o| o.report.micro_f1),
        macro_f1: r.outcome().map(|o| o.report.macro_f1),
        minutes: r.outcome().map(|o| o.seconds / 60.0),
        images_per_sec: r.outcome().map(|o| o.images_per_sec),
        created_at: r.created_at.as_deref().unwrap_or(""),
        variant_n: v.map(Variant::n),
        variant_seeds: v.map(|v| joined(&v.seeds)).unwrap_or_default(),
        variant_accuracy_mean: v.map(|v| v.accuracy.mean),
        variant_accuracy_ci95: v.and_then(|v| v.accuracy.half_width),
        variant_accuracy_per_seed: v.map(|v| joined(&v.accuracy.values)).unwrap_or_default(),
    }
}

/// The finished runs grouped by variant, oldest first.
fn group(runs: &[Run]) -> Vec<Variant> {
    let mut finished: Vec<Trial> = runs.iter().filter_map(Trial::from_run).collect();
    finished.sort_by_key(|t| t.id);
    variants::group(finished)
}

pub fn render(runs: &[Run], format: Format) -> anyhow::Result<String> {
    let variants = group(runs);
    Ok(match format {
        Format::Json => {
            let report = variants::report_json(&variants, REFERENCE);
            let records: Vec<Record> = runs.iter().map(record).collect();
            let all = serde_json::json!({ "runs": records, "variants": report["variants"] });
            serde_json::to_string_pretty(&all)? + "\n"
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            for r in runs {
                w.serialize(line(r, &variants))?;
            }
            String::from_utf8(w.into_inner()?)?
        }
        Format::Md => {
            let opt = |x: Option<f64>, digits: usize| {
                x.map(|v| format!("{v:.digits$}"))
                    .unwrap_or_else(|| "–".into())
            };
            let mut s = String::from(
                "| # | run | tricks | epochs | test accuracy | macro-F1 | minutes | img/s | device |\n\
                 |---:|---|---|---:|---:|---:|---:|---:|---|\n",
            );
            for (run, r) in runs.iter().map(|run| (run, line(run, &variants))) {
                s += &format!(
                    "| {} | {}{} | {} | {} | {} | {} | {} | {} | {} |\n",
                    r.id,
                    r.name,
                    run.subset_note(),
                    r.tricks,
                    r.epochs,
                    opt(r.test_accuracy, 4),
                    opt(r.macro_f1, 4),
                    opt(r.minutes, 1),
                    opt(r.images_per_sec, 0),
                    r.device
                );
            }
            if variants.iter().any(|v| v.n() > 1) {
                s += "\nBy variant (runs of one configuration on several seeds):\n\n";
                s += &variants::table(&variants, REFERENCE);
            }
            s
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::fixtures::outcome;
    use crate::store::Store;
    use crate::store::runs::Curves;
    use cifar_engine::config::Hyper;
    use cifar_engine::tricks::{self, Trick, TrickSet};

    fn runs() -> Vec<Run> {
        let mut s = Store::in_memory();
        let cfg = tricks::resolve(&TrickSet::new(), &Hyper::default());
        let a = s.insert("baseline", &cfg).unwrap();
        s.start(a, "cpu").unwrap();
        let o = outcome(0.6703, 2);
        s.record_epoch(a, &o.epochs[0], Curves::points(&[], 20))
            .unwrap();
        s.finish(a, &o).unwrap();
        let custom: TrickSet = [Trick::NormInputs, Trick::L1].into_iter().collect();
        let mut cfg = tricks::resolve(&custom, &Hyper::default());
        cfg.train_limit = Some(3000);
        let b = s.insert("custom", &cfg).unwrap();
        vec![s.get(a).unwrap(), s.get(b).unwrap()]
    }

    #[test]
    fn markdown_table_is_ready_for_slides() {
        let md = render(&runs(), Format::Md).unwrap();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(
            lines[2].starts_with("| 1 | baseline | (baseline) | 1 | 0.6700 |"),
            "{md}"
        );
        assert!(
            lines[3].contains("+norm_inputs +l1") && lines[3].contains("| – |"),
            "{md}"
        );
        assert!(
            lines[3].starts_with("| 2 | custom on 3000 imgs |"),
            "a subset run is labelled: {md}"
        );
    }

    #[test]
    fn csv_has_a_header_and_a_row_per_run() {
        let csv = render(&runs(), Format::Csv).unwrap();
        let mut r = csv::Reader::from_reader(csv.as_bytes());
        let headers = r.headers().unwrap().clone();
        assert!(headers.iter().any(|h| h == "macro_f1"));
        let rows: Vec<_> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[1][2], "+norm_inputs +l1");
        let images = headers.iter().position(|h| h == "train_images").unwrap();
        assert_eq!((&rows[0][images], &rows[1][images]), ("all", "3000"));
    }

    #[test]
    fn json_round_trips_the_figures() {
        let json = render(&runs(), Format::Json).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["runs"][0]["confusion"]["counts"][0][0], 670);
        assert_eq!(v["runs"][1]["status"], "queued");
        assert_eq!(v["variants"][0]["n"], 1, "only the finished run");
    }

    /// Baseline on seeds 1, 2, 3 (accuracies 0.66, 0.67, 0.665) and norm_inputs on seed 1.
    fn repeated() -> Vec<Run> {
        let mut s = Store::in_memory();
        let mut ids = Vec::new();
        for (name, tricks, seed, acc) in [
            ("baseline", TrickSet::new(), 1, 0.660),
            ("baseline", TrickSet::new(), 2, 0.670),
            (
                "norm_inputs",
                [Trick::NormInputs].into_iter().collect(),
                1,
                0.700,
            ),
            ("baseline", TrickSet::new(), 3, 0.665),
        ] {
            let mut cfg = tricks::resolve(&tricks, &Hyper::default());
            cfg.seed = seed;
            let id = s.insert(name, &cfg).unwrap();
            s.start(id, "cpu").unwrap();
            s.finish(id, &outcome(acc, 1)).unwrap();
            ids.push(id);
        }
        ids.iter().map(|&id| s.get(id).unwrap()).collect()
    }

    #[test]
    fn repeated_variants_export_n_the_interval_and_every_seed() {
        let runs = repeated();
        let v: serde_json::Value =
            serde_json::from_str(&render(&runs, Format::Json).unwrap()).unwrap();
        let base = &v["variants"][0];
        assert_eq!(
            (base["name"].as_str(), base["n"].as_u64()),
            (Some("baseline"), Some(3))
        );
        assert_eq!(base["seeds"], serde_json::json!([1, 2, 3]));
        assert_eq!(
            base["accuracy"]["values"],
            serde_json::json!([0.66, 0.67, 0.665])
        );
        // sd 0.005, se 0.0028868, t(2) 4.302653.
        let h = base["accuracy"]["half_width"].as_f64().unwrap();
        assert!((h - 0.0124208).abs() < 1e-6, "{h}");
        assert_eq!(v["variants"][1]["n"], 1);

        let csv = render(&runs, Format::Csv).unwrap();
        let mut r = csv::Reader::from_reader(csv.as_bytes());
        let headers = r.headers().unwrap().clone();
        let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
        let rows: Vec<_> = r.records().map(Result::unwrap).collect();
        assert_eq!(&rows[0][col("variant_n")], "3");
        assert_eq!(&rows[0][col("variant_seeds")], "1;2;3");
        assert_eq!(
            &rows[3][col("variant_accuracy_per_seed")],
            "0.66;0.67;0.665"
        );
        assert_eq!(&rows[2][col("variant_n")], "1");
        assert_eq!(
            &rows[2][col("variant_accuracy_ci95")],
            "",
            "one seed: no interval"
        );

        let md = render(&runs, Format::Md).unwrap();
        assert!(md.contains("By variant"), "{md}");
        assert!(
            md.contains("| baseline | (baseline) | 3 | 0.6650 ± 0.0124 | 1: 0.6600, 2: 0.6700, 3: 0.6650 | reference |"),
            "{md}"
        );
    }
}
