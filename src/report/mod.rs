//! `cifar-tui report`: finished runs as one self-contained HTML page to hand round (charts
//! inline as SVG, no script, no network), with each chart beside it as SVG and PNG for slides.

pub mod charts;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::run::Run;
use crate::run::variants::{self, Answer, Trial, Variant};
use crate::store::Store;
use crate::ui::config_pairs;
use charts::Figure;
use cifar_engine::data::CLASSES;
use cifar_engine::events::Outcome;
use cifar_engine::tricks;

/// Which of the history's runs a report is about.
#[derive(Clone, Copy, Debug)]
pub enum Selection<'a> {
    /// These runs, by number.
    Runs(&'a [i64]),
    /// The finished runs of a study's scenarios (`seed`, `lecun`).
    Study(&'a str),
    /// Every finished run.
    All,
}

/// The runs a report covers, oldest first, and a line on any it leaves out. `history` is the
/// history's list (newest first, as [`crate::store::Store::list`] gives it).
pub fn select(mut history: Vec<Run>, which: Selection) -> Result<(Vec<Run>, Option<String>)> {
    history.reverse();
    let finished = |r: &Run| r.outcome().is_some();
    let runs: Vec<Run> = match which {
        Selection::Runs(ids) => {
            let (mut chosen, mut unfinished) = (Vec::new(), Vec::new());
            for &id in ids {
                let Some(r) = history.iter().find(|r| r.id == id) else {
                    bail!("there is no run #{id} in the history. Fix: `cifar-tui runs` lists them");
                };
                if !finished(r) {
                    unfinished.push(format!("#{id} ({})", r.status.label()));
                } else if !chosen.iter().any(|c: &Run| c.id == id) {
                    chosen.push(r.clone());
                }
            }
            let note = (!unfinished.is_empty()).then(|| {
                format!(
                    "left out, not finished: {} (only a finished run has figures to report)",
                    unfinished.join(", ")
                )
            });
            if chosen.is_empty() {
                bail!("{}", note.unwrap_or_else(|| "no run named".into()));
            }
            // Named runs are reported whatever their settings; the page says when they differ.
            return Ok((chosen, note));
        }
        Selection::Study(name) => {
            let study = tricks::study(name)?;
            history
                .into_iter()
                .filter(|r| finished(r) && study.presets.iter().any(|p| p.name == r.name))
                .collect()
        }
        Selection::All => history.into_iter().filter(finished).collect(),
    };
    if runs.is_empty() {
        bail!(
            "no finished runs to report on. Fix: train some, or name the history that holds \
             them with --history FILE"
        );
    }
    // Runs of other settings (epochs, batch, images) are not comparable: the setting with the
    // most runs is reported, and the others are named.
    let mut parts = variants::by_setting(runs, |r| &r.config);
    let (_, kept) = parts.remove(0);
    let left: Vec<String> = parts
        .iter()
        .map(|(s, r)| format!("{} run(s) of {}", r.len(), variants::setting_label(s)))
        .collect();
    let note = (!left.is_empty()).then(|| {
        format!(
            "left out, not comparable with these: {} (name their numbers to report on them)",
            left.join("; ")
        )
    });
    Ok((kept, note))
}

/// A report, ready to write: the page and the figures beside it, by file name.
pub struct Report {
    pub html: String,
    pub files: Vec<(String, Vec<u8>)>,
}

/// Where the runs came from, for the page's first lines.
pub struct Source<'a> {
    pub history: &'a Path,
    /// When it was made (RFC 3339).
    pub made: &'a str,
}

/// The report of `runs` (finished, in the order they should be listed), their differences
/// measured against the variant named `reference` (default: the first).
pub fn build(runs: &[Run], reference: Option<&str>, source: &Source) -> Result<Report> {
    let trials: Vec<Trial> = runs.iter().filter_map(Trial::from_run).collect();
    let mut vs = variants::group(trials);
    vs.sort_by_key(|v| variants::study_order(&v.name));
    let run_of = |id: i64| runs.iter().find(|r| Trial::id_of(r) == id);
    name_apart(&mut vs, &run_of);
    let Some(first) = vs.first() else {
        bail!("no finished runs to report on");
    };
    // By name from the command line, by variant key from Compare (two variants can share a
    // name: a preset with another learning rate, or on another device).
    let reference = match reference {
        None => first.name.clone(),
        Some(r) => match vs.iter().find(|v| v.key == r || v.name == r) {
            Some(v) => v.name.clone(),
            None => bail!(
                "no variant is named `{r}` among these runs. Fix: --reference {}",
                vs.iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
        },
    };
    let schedules = schedules(&vs, &run_of);
    let mut files = Vec::new();
    let mut figure = |name: &str, f: Figure| -> Result<String> {
        let svg = f.svg()?;
        files.push((format!("{name}.svg"), svg.clone().into_bytes()));
        files.push((format!("{name}.png"), f.png()?));
        Ok(inline(&svg))
    };
    let accuracy = figure("accuracy", Figure::Accuracy(&vs))?;
    let validation = figure("validation", Figure::Validation(&vs))?;
    let lr = figure("learning-rate", Figure::LearningRate(&schedules))?;
    let mut each = String::new();
    // Variant by variant as the tables list them, each seed in turn.
    let mut listed: Vec<&Run> = runs.iter().collect();
    listed.sort_by_key(|r| {
        (
            variants::study_order(&r.name),
            r.name.clone(),
            r.config.seed,
        )
    });
    for r in listed {
        let Some(o) = r.outcome() else { continue };
        let heatmap = figure(
            &format!("confusion-run-{}", r.id),
            Figure::Confusion(&o.confusion),
        )?;
        each += &run_section(r, o, &heatmap);
    }

    let mut page = String::new();
    page += &head(source, runs);
    page += &format!(
        "<h2>Test accuracy (= micro-F1)</h2>\n<figure>{accuracy}</figure>\n{}",
        variants_table(&vs, &reference)
    );
    page += &format!(
        "<h2>Validation curves</h2>\n<p>Test accuracy after each epoch: each variant's mean over \
         its seeds, the band its 95% interval.</p>\n<figure>{validation}</figure>\n"
    );
    page += &format!("<h2>Learning rate</h2>\n<figure>{lr}</figure>\n");
    page += &claims_table(&vs);
    page += &settings_table(&vs, &reference, &run_of);
    page += &format!("<h2>Each run</h2>\n{each}");
    page += "</main>\n</body>\n</html>\n";
    Ok(Report { html: page, files })
}

/// What [`of_history`] wrote.
pub struct Written {
    pub page: PathBuf,
    pub runs: usize,
    pub charts: usize,
    /// A line on the runs left out, if any.
    pub left_out: Option<String>,
}

/// The report of the history's runs `which`, selected, built and written into `dir`: what
/// the command line and the interface's `W` both do. `made` is when (RFC 3339).
pub fn of_history(
    store: &Store,
    which: Selection,
    reference: Option<&str>,
    made: &str,
    dir: &Path,
) -> Result<Written> {
    let (runs, left_out) =
        select(store.list()?, which).with_context(|| format!("in {}", store.path().display()))?;
    let source = Source {
        history: store.path(),
        made,
    };
    let built = build(&runs, reference, &source)?;
    Ok(Written {
        page: write(dir, &built)?,
        runs: runs.len(),
        charts: built.files.len() / 2,
        left_out,
    })
}

/// Writes the page (`report.html`) and its figures into `dir`, each file whole or not at all.
pub fn write(dir: &Path, report: &Report) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot make the folder {}", dir.display()))?;
    let html = dir.join("report.html");
    let paths: Vec<PathBuf> = report.files.iter().map(|(n, _)| dir.join(n)).collect();
    let mut all: Vec<(&Path, &[u8])> = vec![(&html, report.html.as_bytes())];
    all.extend(
        paths
            .iter()
            .zip(&report.files)
            .map(|(p, (_, bytes))| (p.as_path(), bytes.as_slice())),
    );
    crate::sys::write_whole(&all)
        .with_context(|| format!("cannot write the report into {}", dir.display()))?;
    Ok(html)
}

/// Variants that share a name (the same preset with a setting changed, or on another device)
/// get what sets each apart after the first in their name, so that no two rows, bars or
/// claims read alike.
fn name_apart<'a>(vs: &mut [Variant], run_of: &impl Fn(i64) -> Option<&'a Run>) {
    let config = |v: &Variant| v.runs.first().and_then(|&id| run_of(id)).map(|r| &r.config);
    for i in 1..vs.len() {
        let Some(first) = vs[..i].iter().find(|f| f.name == vs[i].name) else {
            continue;
        };
        let mut apart: Vec<String> = match (config(&vs[i]), config(first)) {
            (Some(mine), Some(theirs)) => config_pairs::diff(mine, theirs)
                .into_iter()
                .filter(|d| !d.starts_with("seed "))
                .map(|d| d.split(" (was").next().unwrap_or(&d).to_string())
                .collect(),
            _ => Vec::new(),
        };
        if vs[i].device != first.device {
            apart.push(vs[i].device.map_or("?".into(), |d| d.to_string()));
        }
        if apart.is_empty() {
            apart.push(format!("runs {}", numbers(&vs[i].runs)));
        }
        vs[i].name = format!("{} [{}]", vs[i].name, apart.join(", "));
    }
}

fn numbers(ids: &[i64]) -> String {
    ids.iter()
        .map(|id| format!("#{id}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Each distinct learning-rate schedule, labelled with the variants that share it.
fn schedules<'a>(
    vs: &[Variant],
    run_of: &impl Fn(i64) -> Option<&'a Run>,
) -> Vec<(String, Vec<f64>)> {
    let mut out: Vec<(Vec<String>, Vec<f64>)> = Vec::new();
    for v in vs {
        let Some(r) = v.runs.first().and_then(|&id| run_of(id)) else {
            continue;
        };
        let rates: Vec<f64> = (0..r.config.epochs).map(|e| r.config.lr.at(e)).collect();
        match out.iter_mut().find(|(_, x)| *x == rates) {
            Some((names, _)) => names.push(v.label()),
            None => out.push((vec![v.label()], rates)),
        }
    }
    out.into_iter()
        .map(|(names, rates)| (names.join(", "), rates))
        .collect()
}

/// An SVG document as an element of the page: without its XML prologue, scaled to the page.
fn inline(svg: &str) -> String {
    let start = svg.find("<svg").unwrap_or(0);
    svg[start..].replacen("<svg ", "<svg class=\"chart\" ", 1)
}

/// Text for HTML.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#222;\
margin:0;background:#fafafa}main{max-width:980px;margin:0 auto;padding:1.5em}\
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:1em 0;font-size:.9em}\
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}\
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}th{background:#f0f0f0}\
figure{margin:1em 0}svg.chart{max-width:100%;height:auto;background:#fff}\
.yes{color:#1a7f37}.no{color:#cf222e}.muted{color:#666}\
section.run{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start;\
border-top:1px solid #eee;padding-top:.5em}section.run svg.chart{max-width:520px}\
@media print{section.run{break-inside:avoid}}";

fn head(source: &Source, runs: &[Run]) -> String {
    let parts = variants::by_setting(runs, |r| &r.config);
    let setting = match parts.as_slice() {
        [(one, _)] => variants::setting_label(one),
        many => format!(
            "mixed settings, not comparable with each other: {}",
            many.iter()
                .map(|(s, r)| format!("{} ({} runs)", variants::setting_label(s), r.len()))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    };
    let devices: Vec<String> = {
        let mut d: Vec<String> = runs.iter().filter_map(Run::device_label).collect();
        d.sort();
        d.dedup();
        d
    };
    let ids: Vec<String> = runs.iter().map(|r| format!("#{}", r.id)).collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>cifar-tui report: {n} runs</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <h1>CIFAR-10 training tricks: {n} runs</h1>\n\
         <p class=\"muted\">{setting}; trained on {devices}. Runs {ids} of {history}, \
         reported by cifar-tui {version} on {made}.</p>\n",
        n = runs.len(),
        setting = esc(&setting),
        devices = esc(&devices.join(", ")),
        ids = esc(&ids.join(", ")),
        history = esc(&source.history.display().to_string()),
        version = env!("CARGO_PKG_VERSION"),
        made = esc(source.made),
    )
}

fn variants_table(vs: &[Variant], reference: &str) -> String {
    let refv = vs.iter().find(|v| v.name == reference);
    let mut s = format!(
        "<table>\n<tr><th>variant</th><th>tricks</th><th>n</th><th>test accuracy (95%)</th>\
         <th>per seed</th><th>vs {} (paired)</th><th>macro-F1 (95%)</th><th>minutes</th>\
         <th>img/s</th></tr>\n",
        esc(reference)
    );
    for v in vs {
        let per_seed: Vec<String> = v
            .seeds
            .iter()
            .zip(&v.accuracy.values)
            .map(|(s, a)| format!("{s}: {a:.4}"))
            .collect();
        let vs_ref = match refv {
            Some(r) if r.key == v.key => "reference".to_string(),
            Some(r) => variants::paired(v, r)
                .map(|d| variants::difference_label(&d))
                .unwrap_or_else(|| "no seed in common".into()),
            None => "–".into(),
        };
        let tricks = if v.tricks.is_empty() {
            "–"
        } else {
            &v.tricks
        };
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{:.1}</td><td class=\"n\">{:.0}</td></tr>",
            esc(&v.label()),
            esc(tricks),
            v.n(),
            variants::mean_ci(&v.accuracy, 4),
            per_seed.join(", "),
            esc(&vs_ref),
            variants::mean_ci(&v.macro_f1, 4),
            v.minutes.mean,
            v.images_per_sec.mean,
        );
    }
    s + "</table>\n<p class=\"muted\">Intervals: 95%, Student's t with n − 1 degrees of \
         freedom. Paired differences are taken seed by seed over the seeds both have.</p>\n"
}

fn claims_table(vs: &[Variant]) -> String {
    let claims: Vec<_> = variants::check_claims(vs)
        .into_iter()
        .filter(|c| {
            [&c.variant, &c.reference]
                .iter()
                .all(|name| vs.iter().any(|v| &&v.name == name))
        })
        .collect();
    let mut s = String::from("<h2>Claims</h2>\n");
    if claims.is_empty() {
        return s + "<p>No claim of the seed study or of LeCun's recipe compares two of these \
                    variants.</p>\n";
    }
    s += "<p>Each claim is a paired difference in test accuracy over the seeds both variants \
          have. \"Alone\" answers each claim by its own 95% interval; \"together\" by Holm's \
          adjustment over the claims tested (5% family-wise).</p>\n<table>\n<tr><th>claim</th>\
          <th>compared</th><th>n</th><th>difference (95%)</th><th>p</th><th>alone</th>\
          <th>p, Holm</th><th>together</th></tr>\n";
    let class = |a: Answer| match a {
        Answer::Yes => "yes",
        Answer::No => "no",
        Answer::NotShown => "muted",
    };
    for c in claims {
        let diff = c
            .difference
            .as_ref()
            .map(|d| variants::signed_ci(d, 4))
            .unwrap_or_else(|| "–".into());
        let why = c
            .why
            .as_deref()
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{} − {}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"{}\">{}{}</td><td class=\"n\">{}</td>\
             <td class=\"{}\">{}</td></tr>",
            esc(&c.claim),
            esc(&c.variant),
            esc(&c.reference),
            c.difference.as_ref().map_or(0, |d| d.n),
            diff,
            variants::p_label(c.p),
            class(c.answer),
            c.answer.label(),
            esc(&why),
            variants::p_label(c.p_holm),
            class(c.answer_holm),
            c.answer_holm.label(),
        );
    }
    s + "</table>\n"
}

fn settings_table<'a>(
    vs: &[Variant],
    reference: &str,
    run_of: &impl Fn(i64) -> Option<&'a Run>,
) -> String {
    let config = |v: &Variant| v.runs.first().and_then(|&id| run_of(id)).map(|r| &r.config);
    let Some(base) = vs.iter().find(|v| v.name == reference).and_then(config) else {
        return String::new();
    };
    let mut s = format!(
        "<h2>Settings</h2>\n<p>{} as trained; each other variant by what it changes.</p>\n\
         <table>\n<tr><th>variant</th><th>settings</th></tr>\n",
        esc(reference)
    );
    let all: Vec<String> = config_pairs::pairs(base)
        .into_iter()
        .filter(|(k, _)| k != "seed")
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(
        s,
        "<tr><td>{}</td><td>{}</td></tr>",
        esc(reference),
        esc(&all.join(" · "))
    );
    for v in vs.iter().filter(|v| v.name != reference) {
        let Some(cfg) = config(v) else { continue };
        let diff: Vec<String> = config_pairs::diff(cfg, base)
            .into_iter()
            .filter(|d| !d.starts_with("seed "))
            .collect();
        let text = if diff.is_empty() {
            "the same".to_string()
        } else {
            diff.join(" · ")
        };
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td></tr>",
            esc(&v.label()),
            esc(&text)
        );
    }
    s + "</table>\n"
}

fn run_section(r: &Run, o: &Outcome, heatmap: &str) -> String {
    let mut t = String::from(
        "<table>\n<tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>\
         <th>images</th></tr>\n",
    );
    for (k, c) in o.report.per_class.iter().enumerate() {
        let _ = writeln!(
            t,
            "<tr><td>{}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td>\
             <td class=\"n\">{:.3}</td><td class=\"n\">{}</td></tr>",
            CLASSES.get(k).copied().unwrap_or("?"),
            c.precision,
            c.recall,
            c.f1,
            c.support
        );
    }
    let _ = writeln!(
        t,
        "<tr><th>macro</th><td></td><td></td><th class=\"n\">{:.3}</th><td></td></tr>\n</table>",
        o.report.macro_f1
    );
    format!(
        "<h3>Run #{id} {name}, seed {seed}</h3>\n<p class=\"muted\">test accuracy {acc:.4} \
         (= micro-F1), macro-F1 {f1:.4}; {minutes:.1} min on {device}.</p>\n\
         <section class=\"run\">{heatmap}\n{t}</section>\n",
        id = r.id,
        name = esc(&r.name),
        seed = r.config.seed,
        acc = o.report.accuracy,
        f1 = o.report.macro_f1,
        minutes = o.seconds / 60.0,
        device = esc(&r.device_label().unwrap_or_else(|| o.device.to_string())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::fixtures::outcome;
    use crate::store::Store;
    use crate::store::fixtures::stored_seeds;
    use cifar_engine::config::Hyper;
    use cifar_engine::tricks::PRESETS;

    fn source() -> Source<'static> {
        Source {
            history: Path::new("/runs/history.db"),
            made: "2026-12-05T08:00:00Z",
        }
    }

    fn file<'a>(r: &'a Report, name: &str) -> &'a [u8] {
        &r.files.iter().find(|(n, _)| n == name).unwrap().1
    }

    #[test]
    fn a_report_holds_every_chart_and_table_of_its_runs() {
        // Three scenarios on three seeds, as a study records them.
        let (runs, left_out) = select(stored_seeds(3, &[1, 2, 3]), Selection::All).unwrap();
        assert_eq!((runs.len(), left_out), (9, None));
        let r = build(&runs, None, &source()).unwrap();
        let html = &r.html;

        // Three charts and a heatmap per run, inline and beside the page as SVG and PNG.
        assert_eq!(html.matches("<svg class=\"chart\"").count(), 3 + 9);
        assert_eq!(r.files.len(), 2 * (3 + 9));
        for (name, bytes) in &r.files {
            if name.ends_with(".png") {
                let png = image::load_from_memory(bytes).unwrap();
                assert!(png.width() >= 500 && png.height() >= 150, "{name}");
            } else {
                assert!(bytes.starts_with(b"<svg"), "{name}");
            }
        }
        // Self-contained: nothing to fetch when it opens.
        for outside in ["<script", "src=", "href=", "<link", "@import", "url("] {
            assert!(!html.contains(outside), "{outside}");
        }
        // The variants' table: each with its interval over three seeds, paired with baseline.
        for name in ["baseline", "norm_inputs", "lr_schedule"] {
            assert!(html.contains(&format!("<tr><td>{name}</td>")), "{name}");
        }
        assert!(html.contains("vs baseline (paired)"));
        assert!(
            html.contains("1: 0.6000, 2: 0.6020, 3: 0.6040"),
            "baseline's seeds"
        );
        // Only the claims these runs answer.
        assert!(html.contains("normalizing inputs helps"));
        assert!(html.contains("a learning-rate schedule helps"));
        assert!(!html.contains("weight decay helps"));
        // The settings each scenario changes.
        assert!(html.contains("<tr><td>norm_inputs</td><td>normalize yes (was no)</td></tr>"));
        // Each run: its heatmap with its counts, and its per-class table.
        assert_eq!(html.matches("<h3>Run #").count(), 9);
        assert_eq!(html.matches("<td>airplane</td>").count(), 9);
        let heatmap = String::from_utf8(file(&r, "confusion-run-1.svg").to_vec()).unwrap();
        assert!(heatmap.contains("\n600\n") && heatmap.contains("\n400\n"));
        // The validation curves carry a band over the seeds.
        let curves = String::from_utf8(file(&r, "validation.svg").to_vec()).unwrap();
        assert_eq!(curves.matches("<polygon").count(), 3);
    }

    #[test]
    fn one_seed_has_no_band_and_the_reference_must_be_among_the_runs() {
        let history = stored_seeds(2, &[1]);
        let ids = [history[0].id];
        let (runs, _) = select(history.clone(), Selection::Runs(&ids)).unwrap();
        let r = build(&runs, None, &source()).unwrap();
        let curves = String::from_utf8(file(&r, "validation.svg").to_vec()).unwrap();
        assert_eq!(
            curves.matches("<polygon").count(),
            0,
            "no interval of one seed"
        );

        let (both, _) = select(history, Selection::All).unwrap();
        let r = build(&both, Some("norm_inputs"), &source()).unwrap();
        assert!(r.html.contains("vs norm_inputs (paired)"));
        let e = build(&both, Some("zca"), &source())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("--reference baseline | norm_inputs"), "{e}");
    }

    #[test]
    fn what_is_reported_is_said_and_what_cannot_be_is_refused() {
        let e = select(stored_seeds(1, &[1]), Selection::Runs(&[42]))
            .err()
            .unwrap();
        assert!(e.to_string().contains("no run #42"), "{e}");
        assert!(select(stored_seeds(1, &[1]), Selection::Study("lecun")).is_err());
        assert!(select(stored_seeds(2, &[1]), Selection::Study("seed")).is_ok());

        // A queued run has nothing to report; runs of another setting are left out and named.
        let mut s = Store::in_memory();
        let cfg = |epochs| {
            let mut c = tricks::resolve(&PRESETS[0].trick_set(), &Hyper::default());
            c.epochs = epochs;
            c
        };
        for epochs in [3, 3, 5] {
            let id = s.insert("baseline", &cfg(epochs)).unwrap();
            s.start(id, "cpu").unwrap();
            s.finish(id, &outcome(0.6, epochs)).unwrap();
        }
        let queued = s.insert("baseline", &cfg(3)).unwrap();
        let e = select(s.list().unwrap(), Selection::Runs(&[queued]))
            .err()
            .unwrap();
        assert!(e.to_string().contains("#4 (queued)"), "{e}");
        // Among finished ones it is left out and named (History's `A` then `W`).
        let (runs, note) = select(s.list().unwrap(), Selection::Runs(&[1, queued])).unwrap();
        assert_eq!(runs.len(), 1);
        assert!(note.unwrap().contains("not finished: #4 (queued)"));
        let (runs, note) = select(s.list().unwrap(), Selection::All).unwrap();
        assert_eq!(runs.len(), 2);
        let note = note.unwrap();
        assert!(note.contains("1 run(s) of 5 epochs"), "{note}");
        // Runs named whatever their settings: the page says they are not comparable.
        let (mixed, _) = select(s.list().unwrap(), Selection::Runs(&[1, 3])).unwrap();
        let page = build(&mixed, None, &source()).unwrap().html;
        assert!(page.contains("mixed settings, not comparable"), "{page}");
    }

    #[test]
    fn variants_of_one_name_are_told_apart_and_the_reference_found_by_key() {
        // Baseline twice: as the preset, and with another learning rate.
        let mut s = Store::in_memory();
        for (lr, seed) in [(1e-3, 1), (1e-3, 2), (5e-4, 1), (5e-4, 2)] {
            let mut c = tricks::resolve(&PRESETS[0].trick_set(), &Hyper::default());
            c.lr = cifar_engine::config::LrPolicy::Constant { lr };
            c.seed = seed;
            let id = s.insert("baseline", &c).unwrap();
            s.start(id, "cpu").unwrap();
            s.finish(id, &outcome(0.6 + lr * 10.0, 3)).unwrap();
        }
        let (runs, _) = select(s.list().unwrap(), Selection::All).unwrap();
        let trials: Vec<Trial> = runs.iter().filter_map(Trial::from_run).collect();
        let second = variants::group(trials)[1].key.clone();
        let r = build(&runs, Some(&second), &source()).unwrap();
        assert!(r.html.contains("<tr><td>baseline</td>"), "{}", r.html);
        assert!(
            r.html
                .contains("<tr><td>baseline [lr constant lr 5e-4]</td>"),
            "{}",
            r.html
        );
        assert!(
            r.html
                .contains("vs baseline [lr constant lr 5e-4] (paired)")
        );
    }
}
