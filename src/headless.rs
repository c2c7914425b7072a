//! Headless mode: the same engine, driven from scripts. JSON lines on stdout, progress on
//! stderr, a result file per run.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, Result, bail};
use serde_json::json;

use crate::cli::{RunArgs, StudyArgs};
use crate::data::{self, Cifar10, DataProgress};
use crate::runs::RunRecord;
use crate::setup::Context;
use crate::train::config::TrainConfig;
use crate::train::runner::{Outcome, TrainEvent};
use crate::train::{self, RunError};
use crate::tricks::{self, PRESETS, TrickSet};

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

/// A flag set by Ctrl-C, SIGTERM or SIGHUP, so a run stops between two steps.
fn cancel_on_signal(rt: &tokio::runtime::Runtime) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    rt.spawn(async move {
        crate::signals::any().await;
        eprintln!("\nstopping…");
        set.store(true, Ordering::Relaxed);
    });
    flag
}

/// Trains one configuration, printing a JSON line per epoch (tagged with `name`).
fn train_one(
    data: &Cifar10,
    cfg: &TrainConfig,
    ctx: &Context,
    cancel: &AtomicBool,
    name: &str,
) -> Result<Outcome> {
    let tty = std::io::stderr().is_terminal();
    let job = train::Job {
        data,
        config: cfg,
        cancel,
        checkpoints: None,
        done: Vec::new(),
    };
    let outcome = train::run(
        job,
        ctx.device,
        |notice| eprintln!("{notice}"),
        |event| match event {
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
            TrainEvent::Epoch(e) => {
                if tty {
                    eprint!("\r");
                }
                let mut line = serde_json::to_value(e).unwrap_or_default();
                line["run"] = json!(name);
                println!("{line}");
                let _ = std::io::stdout().flush();
            }
        },
    );
    match outcome {
        Ok(o) => Ok(o),
        Err(RunError::Train(train::runner::TrainError::Cancelled)) => bail!("{name}: cancelled"),
        Err(e) => Err(e).with_context(|| format!("{name}: training failed")),
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

pub fn run(ctx: &Context, args: &RunArgs) -> Result<()> {
    let tricks = ctx.tricks(args.preset.as_deref(), args.tricks.as_deref())?;
    let mut cfg = tricks::resolve(&tricks, &ctx.hyper(&args.overrides)?);
    cfg.train_limit = args.overrides.train_limit;
    let name = tricks::preset_name(&tricks).unwrap_or("custom");
    eprintln!("{name}: {}", serde_json::to_string(&cfg)?);
    let data = load_data(ctx)?;
    let rt = tokio::runtime::Runtime::new()?;
    let cancel = cancel_on_signal(&rt);
    let outcome = train_one(&data, &cfg, ctx, &cancel, name)?;
    eprintln!(
        "{name}: test accuracy {:.4} (= micro-F1), macro-F1 {:.4}, {:.1} min, {:.0} img/s on {}",
        outcome.report.accuracy,
        outcome.report.macro_f1,
        outcome.seconds / 60.0,
        outcome.images_per_sec,
        outcome.device
    );
    if let Some(out) = &args.out {
        write_record(out, name, &tricks, &cfg, &outcome)?;
        eprintln!("result written to {}", out.display());
    }
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
    let cancel = cancel_on_signal(&rt);
    let mut rows = Vec::new();
    for preset in &PRESETS {
        let tricks = preset.trick_set();
        let mut cfg = tricks::resolve(&tricks, &hyper);
        cfg.train_limit = args.overrides.train_limit;
        let outcome = train_one(&data, &cfg, ctx, &cancel, preset.name)?;
        eprintln!(
            "{}: test accuracy {:.4}, macro-F1 {:.4}, {:.1} min",
            preset.name,
            outcome.report.accuracy,
            outcome.report.macro_f1,
            outcome.seconds / 60.0
        );
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
