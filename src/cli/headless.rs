//! Headless mode: the same engine and history, driven from scripts. JSON lines on stdout,
//! progress on stderr, a result file per run.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use serde_json::json;

use crate::app::runs::RunRecord;
use crate::cli::setup::Context;
use crate::cli::{ExportArgs, ResumeArgs, RunArgs, StudyArgs};
use crate::store::export;
use crate::store::job::{self, JobError, Stop};
use crate::store::{Status, Store};
use cifar_engine::RunError;
use cifar_engine::config::TrainConfig;
use cifar_engine::data::{self, Cifar10, DataProgress};
use cifar_engine::events::{Outcome, TrainEvent};
use cifar_engine::runner::TrainError;
use cifar_engine::tricks::{self, PRESETS, TrickSet};

/// Loads (or downloads) the data, reporting on stderr.
pub fn load_data(ctx: &Context) -> Result<Cifar10> {
    let tty = std::io::stderr().is_terminal();
    let mut last_mb = u64::MAX;
    let data = data::obtain(ctx.data_dir.as_deref(), &ctx.cache_dir, |p| match p {
        DataProgress::Downloading { done, total } => {
            let mb = done / 1_000_000;
            if mb != last_mb && (tty || mb % 10 == 0) {
                last_mb = mb;
                let end = if tty { "\r" } else { "\n" };
                eprint!("downloading CIFAR-10: {mb}/{} MB{end}", total / 1_000_000);
            }
        }
        DataProgress::Extracting => eprintln!("\nunpacking…"),
        DataProgress::Loading { dir } => eprintln!("loading CIFAR-10 from {}", dir.display()),
    })?;
    Ok(data)
}

/// A stop that Ctrl-C, SIGTERM or SIGHUP trigger: the run is interrupted between two steps,
/// its last epoch's checkpoint kept, and it can be resumed.
fn stop_on_signal(rt: &tokio::runtime::Runtime) -> Arc<Stop> {
    let stop = Arc::new(Stop::default());
    let s = stop.clone();
    rt.spawn(async move {
        crate::term::signals::any().await;
        eprintln!("\nstopping: the run is kept and can be resumed");
        s.interrupt();
    });
    stop
}

/// Trains one configuration as history run `id`, printing a JSON line per epoch.
fn train_one(
    ctx: &Context,
    data: &Cifar10,
    id: Option<i64>,
    cfg: &TrainConfig,
    stop: &Stop,
    name: &str,
) -> Result<Outcome> {
    let tty = std::io::stderr().is_terminal();
    let mut notice = |n: String| eprintln!("\n{n}");
    let mut emit = |event: TrainEvent| match event {
        TrainEvent::Started {
            device,
            train_images,
            test_images,
            ..
        } => eprintln!(
            "{name}: training on {device}, {train_images} training / {test_images} test images, {} epochs",
            cfg.epochs
        ),
        TrainEvent::Progress(p) if tty => eprint!(
            "\r{name}: epoch {}/{} step {}/{} loss {:.4} {:.0} img/s   ",
            p.epoch + 1,
            cfg.epochs,
            p.step,
            p.steps_per_epoch,
            p.loss,
            p.images_per_sec
        ),
        TrainEvent::Progress(_) => {}
        TrainEvent::Warning(w) => eprintln!("\n{name}: warning: {w}"),
        TrainEvent::Epoch(e) => {
            if tty {
                eprint!("\r");
            }
            let mut line = serde_json::to_value(e).unwrap_or_default();
            line["run"] = json!(name);
            if let Some(id) = id {
                line["id"] = json!(id);
            }
            println!("{line}");
            let _ = std::io::stdout().flush();
        }
    };
    let task = job::Task {
        places: &ctx.places,
        id,
        data,
        config: cfg,
        device: ctx.device,
        stop,
    };
    let result = job::execute(task, &mut notice, &mut emit);
    match result {
        Ok(o) => Ok(o),
        Err(JobError::Run(RunError::Train(TrainError::Cancelled))) => match id {
            Some(id) => {
                bail!("{name}: interrupted; continue it with `cifar-tui resume {id} --headless`")
            }
            None => bail!("{name}: interrupted"),
        },
        Err(JobError::Claim(e)) => bail!("{name}: {e}"),
        Err(JobError::Run(e @ RunError::Train(TrainError::Diverged { .. }))) => {
            bail!("{name}: {e}")
        }
        Err(e) => Err(e).with_context(|| format!("{name}: training failed")),
    }
}

/// Adds the run to the history, or says why it is kept in memory only.
fn enqueue(ctx: &Context, name: &str, cfg: &TrainConfig) -> Option<i64> {
    match Store::open(&ctx.places.history).and_then(|s| s.insert(name, cfg)) {
        Ok(id) => Some(id),
        Err(e) => {
            eprintln!("history: cannot save this run ({e}); it is kept in memory only");
            None
        }
    }
}

fn write_record(
    path: &Path,
    name: &str,
    tricks: &TrickSet,
    cfg: &TrainConfig,
    outcome: &Outcome,
) -> Result<()> {
    let record = RunRecord {
        name,
        tricks: tricks::describe(tricks),
        config: cfg,
        outcome,
    };
    let text = serde_json::to_string_pretty(&record)?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn summary(name: &str, cfg: &TrainConfig, o: &Outcome) {
    let subset = match cfg.train_limit {
        Some(n) => format!(" (trained on the first {n} images, {} epochs)", cfg.epochs),
        None => String::new(),
    };
    eprintln!(
        "{name}: test accuracy {:.4} (= micro-F1), macro-F1 {:.4}{subset}, {:.1} min, {:.0} img/s on {}",
        o.report.accuracy,
        o.report.macro_f1,
        o.seconds / 60.0,
        o.images_per_sec,
        o.device
    );
}

pub fn run(ctx: &Context, args: &RunArgs) -> Result<()> {
    let tricks = ctx.tricks(args.preset.as_deref(), args.tricks.as_deref())?;
    let mut cfg = tricks::resolve(&tricks, &ctx.hyper(&args.overrides)?);
    cfg.train_limit = args.overrides.train_limit;
    let name = tricks::preset_name(&tricks).unwrap_or("custom");
    eprintln!("{name}: {}", serde_json::to_string(&cfg)?);
    let data = load_data(ctx)?;
    let rt = tokio::runtime::Runtime::new()?;
    let stop = stop_on_signal(&rt);
    let id = enqueue(ctx, name, &cfg);
    if let Some(id) = id {
        eprintln!("{name}: history run #{id}");
    }
    let outcome = train_one(ctx, &data, id, &cfg, &stop, name)?;
    summary(name, &cfg, &outcome);
    if let Some(out) = &args.out {
        write_record(out, name, &tricks, &cfg, &outcome)?;
        eprintln!("result written to {}", out.display());
    }
    Ok(())
}

pub fn resume(ctx: &Context, args: &ResumeArgs) -> Result<()> {
    let history = ctx.places.open_history()?;
    let run = history.get(args.id)?;
    run.check_resumable().map_err(anyhow::Error::msg)?;
    drop(history);
    eprintln!(
        "resuming run #{} {} after epoch {} of {}",
        run.id,
        run.name,
        run.epochs.len(),
        run.config.epochs
    );
    let data = load_data(ctx)?;
    let rt = tokio::runtime::Runtime::new()?;
    let stop = stop_on_signal(&rt);
    let outcome = train_one(ctx, &data, Some(run.id), &run.config, &stop, &run.name)?;
    summary(&run.name, &run.config, &outcome);
    Ok(())
}

/// The comparison table as Markdown.
pub fn study_table(rows: &[(&str, TrickSet, Outcome)]) -> String {
    let mut s = String::from(
        "| scenario | tricks | test accuracy (= micro-F1) | macro-F1 | minutes | img/s |\n|---|---|---|---|---|---|\n",
    );
    for (name, tricks, o) in rows {
        s += &format!(
            "| {name} | {} | {:.4} | {:.4} | {:.1} | {:.0} |\n",
            tricks::describe(tricks),
            o.report.accuracy,
            o.report.macro_f1,
            o.seconds / 60.0,
            o.images_per_sec
        );
    }
    s
}

pub fn study(ctx: &Context, args: &StudyArgs) -> Result<()> {
    if args.preset != "seed" {
        bail!("unknown study `{}`; valid: seed", args.preset);
    }
    let hyper = ctx.hyper(&args.overrides)?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let data = load_data(ctx)?;
    let rt = tokio::runtime::Runtime::new()?;
    let stop = stop_on_signal(&rt);
    let mut rows = Vec::new();
    for preset in &PRESETS {
        let tricks = preset.trick_set();
        let mut cfg = tricks::resolve(&tricks, &hyper);
        cfg.train_limit = args.overrides.train_limit;
        let id = enqueue(ctx, preset.name, &cfg);
        let outcome = train_one(ctx, &data, id, &cfg, &stop, preset.name)?;
        summary(preset.name, &cfg, &outcome);
        if let Some(dir) = &args.out {
            write_record(
                &dir.join(format!("{}.json", preset.name)),
                preset.name,
                &tricks,
                &cfg,
                &outcome,
            )?;
        }
        rows.push((preset.name, tricks, outcome));
    }
    let table = study_table(&rows);
    print!("{table}");
    if let Some(dir) = &args.out {
        std::fs::write(dir.join("study.md"), &table)?;
    }
    Ok(())
}

/// `cifar-tui runs`: one line per stored run, newest first.
pub fn list(ctx: &Context) -> Result<()> {
    let store = ctx.places.read_history()?;
    let runs = store.list()?;
    if runs.is_empty() {
        eprintln!("no runs yet in {}", store.path().display());
        return Ok(());
    }
    println!(
        "{:>5}  {:<20}  {:<12}  {:<11}  {:>6}  {:>8}  {:>7}  tricks",
        "id", "created", "name", "status", "epochs", "accuracy", "minutes"
    );
    for r in &runs {
        println!(
            "{:>5}  {:<20}  {:<12}  {:<11}  {:>6}  {:>8}  {:>7}  {}",
            r.id,
            r.created_at,
            r.name,
            r.status.as_str(),
            format!("{}/{}", r.epochs.len(), r.config.epochs),
            r.accuracy.map(|a| format!("{a:.4}")).unwrap_or_default(),
            r.seconds
                .map(|s| format!("{:.1}", s / 60.0))
                .unwrap_or_default(),
            r.tricks
        );
    }
    let interrupted = runs
        .iter()
        .filter(|r| r.status == Status::Interrupted)
        .count();
    if interrupted > 0 {
        eprintln!("{interrupted} interrupted: continue one with `cifar-tui resume ID`");
    }
    Ok(())
}

/// `cifar-tui show ID`: the run as JSON.
pub fn show(ctx: &Context, id: i64) -> Result<()> {
    let run = ctx.places.read_history()?.get(id)?;
    println!("{}", serde_json::to_string_pretty(&run)?);
    Ok(())
}

/// `cifar-tui export IDS --format F`: to stdout.
pub fn export(ctx: &Context, args: &ExportArgs) -> Result<()> {
    let store = ctx.places.read_history()?;
    let runs = args
        .ids
        .iter()
        .map(|&id| store.get(id))
        .collect::<Result<Vec<_>, _>>()?;
    print!("{}", export::render(&runs, args.format)?);
    Ok(())
}
