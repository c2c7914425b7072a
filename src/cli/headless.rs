//! Headless mode: the same engine and history, driven from scripts. JSON lines on stdout,
//! progress on stderr, a result file per run.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context as _, Result, bail};
use serde_json::json;

use crate::cli::setup::Context;
use crate::cli::{ExportArgs, ResumeArgs, RunArgs, StudyArgs};
use crate::run::RunRecord;
use crate::run::Status;
use crate::store::Store;
use crate::store::export;
use crate::store::job::{self, JobError, Stop};
use cifar_engine::RunError;
use cifar_engine::config::TrainConfig;
use cifar_engine::data::{self, Cifar10, DataProgress};
use cifar_engine::events::{Outcome, TrainEvent};
use cifar_engine::runner::TrainError;
use cifar_engine::tricks::{self, TrickSet};

/// A line on stderr. A closed stderr (`2>&1 | head -1`) must not panic the run (as `eprintln!`
/// would) before its record is saved, so write errors are dropped.
macro_rules! note {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// As [`note!`], without the newline (progress lines that `\r` rewrites).
macro_rules! note_part {
    ($($arg:tt)*) => {{
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

/// Writes `text` to stdout. A reader that went away (`| head -1`, `| true`) ends the output
/// quietly: what it wanted is printed, and nothing else is lost.
fn print_out(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        done => done.context("cannot write to stdout"),
    }
}

/// The epoch lines of a run on stdout. Once stdout fails (closed pipe, full disk) the run
/// goes on to its end, its record saved, and only the lines stop.
#[derive(Default)]
struct Lines {
    closed: bool,
}

impl Lines {
    fn line(&mut self, text: &str) {
        if self.closed {
            return;
        }
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush()) {
            self.closed = true;
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                note!("\ncannot write to stdout ({e}); the run goes on and is saved");
            }
        }
    }
}

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
                note_part!("downloading CIFAR-10: {mb}/{} MB{end}", total / 1_000_000);
            }
        }
        DataProgress::Extracting => note!("\nunpacking…"),
        DataProgress::Loading { dir } => note!("loading CIFAR-10 from {}", dir.display()),
    })?;
    Ok(data)
}

/// How Ctrl-C, SIGTERM or SIGHUP stop a run: between two training steps it is interrupted, its
/// last epoch's checkpoint kept, and it can be resumed. After the last step there is nothing
/// left to stop: the final evaluation completes and the run is saved as finished, and both the
/// notice and the exit status say so.
#[derive(Default)]
struct Signal {
    stop: Stop,
    /// A signal came.
    seen: AtomicBool,
    /// Runs training now that have not taken their last training step yet.
    before_last_step: AtomicUsize,
}

impl Signal {
    fn listen(rt: &tokio::runtime::Runtime) -> Arc<Signal> {
        let signal = Arc::new(Signal::default());
        let s = signal.clone();
        rt.spawn(async move {
            crate::term::signals::any().await;
            s.raise();
        });
        signal
    }

    fn raise(&self) {
        self.seen.store(true, Ordering::SeqCst);
        if self.before_last_step.load(Ordering::SeqCst) == 0 {
            note!("\nsignal received after the last training step: finishing the evaluation");
        } else {
            note!("\nstopping: the run is kept and can be resumed");
        }
        self.stop.interrupt();
    }

    /// A test's stand-in for a signal at a named point: `CIFAR_TUI_TEST_SIGNAL_AT=last_step`
    /// raises it right after the last training step, during the final evaluation.
    fn test_hook(&self, point: &str) {
        if std::env::var("CIFAR_TUI_TEST_SIGNAL_AT").is_ok_and(|p| p == point) {
            self.raise();
        }
    }
}

/// Trains one configuration as history run `id`, printing a JSON line per epoch.
fn train_one(
    ctx: &Context,
    data: &Cifar10,
    id: Option<i64>,
    cfg: &TrainConfig,
    signal: &Signal,
    name: &str,
) -> Result<Outcome> {
    let tty = std::io::stderr().is_terminal();
    let mut lines = Lines::default();
    signal.before_last_step.fetch_add(1, Ordering::SeqCst);
    let past_last_step = AtomicBool::new(false);
    let passed = || {
        if !past_last_step.swap(true, Ordering::SeqCst) {
            signal.before_last_step.fetch_sub(1, Ordering::SeqCst);
        }
    };
    let mut notice = |n: String| note!("\n{n}");
    let mut emit = |event: TrainEvent| match event {
        TrainEvent::Started {
            device,
            train_images,
            test_images,
            ..
        } => note!(
            "{name}: training on {device}, {train_images} training / {test_images} test images, {} epochs",
            cfg.epochs
        ),
        TrainEvent::Progress(p) => {
            if tty {
                note_part!(
                    "\r{name}: epoch {}/{} step {}/{} loss {:.4} acc {:.3} {:.0} img/s   ",
                    p.epoch + 1,
                    cfg.epochs,
                    p.step,
                    p.steps_per_epoch,
                    p.loss,
                    p.accuracy,
                    p.images_per_sec
                );
            }
            if p.epoch + 1 == cfg.epochs && p.step == p.steps_per_epoch {
                passed();
                signal.test_hook("last_step");
            }
        }
        TrainEvent::Warning(w) => note!("\n{name}: warning: {w}"),
        TrainEvent::Evaluating { epoch } => {
            if tty {
                note_part!(
                    "\r{name}: epoch {}/{} scoring the test set…                    ",
                    epoch + 1,
                    cfg.epochs
                );
            }
        }
        TrainEvent::Epoch(e) => {
            if tty {
                note_part!("\r");
            }
            let mut line = serde_json::to_value(e).unwrap_or_default();
            line["run"] = json!(name);
            if let Some(id) = id {
                line["id"] = json!(id);
            }
            lines.line(&line.to_string());
        }
    };
    let task = job::Task {
        places: &ctx.places,
        id,
        data,
        config: cfg,
        device: ctx.device,
        stop: &signal.stop,
    };
    let result = job::execute(task, &mut notice, &mut emit);
    passed();
    match result {
        Ok(o) => {
            if signal.seen.load(Ordering::SeqCst) {
                let saved = id.map(|id| format!(" as run #{id}")).unwrap_or_default();
                note!(
                    "{name}: the signal came after the last training step, so the run finished \
                     and is saved{saved}"
                );
            }
            Ok(o)
        }
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

/// Adds the run to the history with the files `resume` needs (its data folder, its result
/// file), or says why it is kept in memory only.
fn enqueue(ctx: &Context, name: &str, cfg: &TrainConfig, out: Option<&Path>) -> Option<i64> {
    let saved = Store::open(&ctx.places.history).and_then(|s| {
        let id = s.insert(name, cfg)?;
        let data_dir = ctx.data_dir.as_deref().map(absolute);
        s.set_files(id, data_dir.as_deref(), out)?;
        Ok(id)
    });
    match saved {
        Ok(id) => Some(id),
        Err(e) => {
            note!("history: cannot save this run ({e}); it is kept in memory only");
            None
        }
    }
}

/// A path as given, made absolute so a resume from another folder finds the same file.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Checks, before any training, that `--out` can be written: an hour of work must not end in
/// "no such folder". The file is opened as it will be (an existing one is left as it is).
pub fn check_out_file(path: &Path) -> Result<()> {
    let shown = path.display();
    if path.is_dir() {
        bail!("--out {shown} is a folder. Fix: name a file, such as {shown}/result.json");
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        bail!(
            "--out {shown}: the folder {} does not exist. Fix: create it, or choose another path",
            parent.display()
        );
    }
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| {
            format!("--out {shown} cannot be written. Fix: choose a path you can write to")
        })?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Checks that files can be made in a `--out` folder, creating it.
fn check_out_dir(dir: &Path) -> Result<()> {
    let fix = || {
        format!(
            "--out {} cannot be written. Fix: choose a folder you can write to",
            dir.display()
        )
    };
    std::fs::create_dir_all(dir).with_context(fix)?;
    tempfile::NamedTempFile::new_in(dir).with_context(fix)?;
    Ok(())
}

/// Writes the result file. If that fails this late, the result goes to stderr instead, so
/// that the run's figures survive even when the history could not keep them either.
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
    let written = std::fs::File::create(path)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()));
    if let Err(e) = written {
        note!("{text}");
        bail!(
            "cannot write {} ({e}); the result is printed above on stderr. Fix: copy it from \
             there, or free the disk and pass a writable --out next time",
            path.display()
        );
    }
    note!("result written to {}", path.display());
    Ok(())
}

fn summary(name: &str, cfg: &TrainConfig, o: &Outcome) {
    let subset = match cfg.train_limit {
        Some(n) => format!(" (trained on the first {n} images, {} epochs)", cfg.epochs),
        None => String::new(),
    };
    note!(
        "{name}: test accuracy {:.4} (= micro-F1), macro-F1 {:.4}{subset}, {:.1} min, {:.0} img/s on {}",
        o.report.accuracy,
        o.report.macro_f1,
        o.seconds / 60.0,
        o.images_per_sec,
        o.device
    );
}

/// The configuration `run` trains, resolved from the settings and the command line.
pub fn run_config(ctx: &Context, args: &RunArgs) -> Result<(TrickSet, TrainConfig)> {
    let tricks = ctx.tricks(args.preset.as_deref(), args.tricks.as_deref())?;
    let mut cfg = tricks::resolve(&tricks, &ctx.hyper(&args.overrides)?);
    cfg.train_limit = args.overrides.train_limit;
    Ok((tricks, cfg))
}

pub fn run(ctx: &Context, args: &RunArgs) -> Result<()> {
    let (tricks, cfg) = run_config(ctx, args)?;
    let name = tricks::preset_name(&tricks).unwrap_or("custom");
    let out = args.out.as_deref().map(absolute);
    if let Some(out) = &out {
        check_out_file(out)?;
    }
    ctx.check_memory(&cfg)?;
    note!("{name}: {}", serde_json::to_string(&cfg)?);
    let data = load_data(ctx)?;
    let rt = tokio::runtime::Runtime::new()?;
    let signal = Signal::listen(&rt);
    let id = enqueue(ctx, name, &cfg, out.as_deref());
    if let Some(id) = id {
        note!("{name}: history run #{id}");
    }
    let outcome = train_one(ctx, &data, id, &cfg, &signal, name)?;
    summary(name, &cfg, &outcome);
    if let Some(out) = &out {
        write_record(out, name, &tricks, &cfg, &outcome)?;
    }
    Ok(())
}

/// The data folder a resumed run trains on: `--data` if given, else the folder its first part
/// used, else the settings' (or the download cache).
pub fn resume_data_dir(ctx: &Context, stored: Option<PathBuf>) -> Option<PathBuf> {
    ctx.data_flag
        .clone()
        .or(stored)
        .or_else(|| ctx.data_dir.clone())
}

pub fn resume(ctx: &Context, args: &ResumeArgs) -> Result<()> {
    let history = ctx.places.open_history()?;
    let run = history.get(args.id)?;
    run.check_resumable().map_err(anyhow::Error::msg)?;
    let (stored_data, stored_out) = history.files(run.id)?;
    let out = args.out.as_deref().map(absolute).or(stored_out);
    let ctx = Context {
        data_dir: resume_data_dir(ctx, stored_data),
        ..ctx.clone()
    };
    if let Some(out) = &out {
        check_out_file(out)?;
    }
    ctx.check_memory(&run.config)?;
    let data_dir = ctx.data_dir.as_deref().map(absolute);
    history.set_files(run.id, data_dir.as_deref(), out.as_deref())?;
    drop(history);
    note!(
        "resuming run #{} {} after epoch {} of {}",
        run.id,
        run.name,
        run.epochs.len(),
        run.config.epochs
    );
    let data = load_data(&ctx)?;
    let rt = tokio::runtime::Runtime::new()?;
    let signal = Signal::listen(&rt);
    let outcome = train_one(&ctx, &data, Some(run.id), &run.config, &signal, &run.name)?;
    summary(&run.name, &run.config, &outcome);
    if let Some(out) = &out {
        let tricks = run.config.tricks.iter().copied().collect();
        write_record(out, &run.name, &tricks, &run.config, &outcome)?;
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
    let presets = tricks::study(&args.preset)?.presets;
    let hyper = ctx.hyper(&args.overrides)?;
    let out = args.out.as_deref().map(absolute);
    if let Some(dir) = &out {
        check_out_dir(dir)?;
    }
    let configs: Vec<_> = presets
        .iter()
        .map(|preset| {
            let tricks = preset.trick_set();
            let mut cfg = tricks::resolve(&tricks, &hyper);
            cfg.train_limit = args.overrides.train_limit;
            (preset.name, tricks, cfg)
        })
        .collect();
    for (_, _, cfg) in &configs {
        ctx.check_memory(cfg)?;
    }
    let (device, _) = cifar_engine::backend::select(ctx.device)?;
    let parallel = ctx.parallel_on(device).min(configs.len()).max(1);
    let data = load_data(ctx)?;
    let rt = tokio::runtime::Runtime::new()?;
    let signal = Signal::listen(&rt);
    // The whole study is in the history from the start: queued until a worker takes it.
    let runs: Vec<_> = configs
        .into_iter()
        .map(|(name, tricks, cfg)| {
            let file = out.as_ref().map(|dir| dir.join(format!("{name}.json")));
            let id = enqueue(ctx, name, &cfg, file.as_deref());
            (name, tricks, cfg, file, id)
        })
        .collect();
    if parallel > 1 {
        note!("training {} runs, {parallel} at a time", runs.len());
    }
    // `parallel` workers take the runs in order; each run trains on its worker's thread.
    let next = AtomicUsize::new(0);
    let ended: Vec<std::sync::Mutex<Option<Result<Outcome>>>> =
        runs.iter().map(|_| Default::default()).collect();
    std::thread::scope(|s| {
        for _ in 0..parallel {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some((name, tricks, cfg, file, id)) = runs.get(k) else {
                        break;
                    };
                    let result = train_one(ctx, &data, *id, cfg, &signal, name).and_then(|o| {
                        summary(name, cfg, &o);
                        if let Some(file) = file {
                            write_record(file, name, tricks, cfg, &o)?;
                        }
                        Ok(o)
                    });
                    if let Ok(mut slot) = ended[k].lock() {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    let mut rows = Vec::new();
    for ((name, tricks, ..), result) in runs.iter().zip(ended) {
        let result = result.into_inner().ok().flatten();
        let outcome = result.unwrap_or_else(|| bail!("{name}: did not run"))?;
        rows.push((*name, tricks.clone(), outcome));
    }
    let table = study_table(&rows);
    if let Some(dir) = &out {
        let md = dir.join("study.md");
        std::fs::write(&md, &table).with_context(|| format!("cannot write {}", md.display()))?;
    }
    print_out(&table)
}

/// `cifar-tui runs`: one line per stored run, newest first.
pub fn list(ctx: &Context) -> Result<()> {
    let store = ctx.places.read_history()?;
    let runs = store.list()?;
    if runs.is_empty() {
        note!("no runs yet in {}", store.path().display());
        return Ok(());
    }
    let mut text = format!(
        "{:>5}  {:<20}  {:<12}  {:<11}  {:>6}  {:>8}  {:>7}  tricks\n",
        "id", "created", "name", "status", "epochs", "accuracy", "minutes"
    );
    for r in &runs {
        text += &format!(
            "{:>5}  {:<20}  {:<12}  {:<11}  {:>6}  {:>8}  {:>7}  {}\n",
            r.id,
            r.created_at.as_deref().unwrap_or_default(),
            format!("{}{}", r.name, r.subset_note()),
            r.status.label(),
            format!("{}/{}", r.epochs.len(), r.config.epochs),
            r.accuracy().map(|a| format!("{a:.4}")).unwrap_or_default(),
            r.outcome()
                .map(|o| format!("{:.1}", o.seconds / 60.0))
                .unwrap_or_default(),
            r.tricks_label()
        );
    }
    print_out(&text)?;
    let interrupted = runs
        .iter()
        .filter(|r| matches!(r.status, Status::Interrupted(_)))
        .count();
    if interrupted > 0 {
        note!("{interrupted} interrupted: continue one with `cifar-tui resume ID`");
    }
    Ok(())
}

/// `cifar-tui show ID`: the run as JSON.
pub fn show(ctx: &Context, id: i64) -> Result<()> {
    let run = ctx.places.read_history()?.get(id)?;
    let record = crate::store::export::record(&run);
    print_out(&format!("{}\n", serde_json::to_string_pretty(&record)?))
}

/// `cifar-tui export IDS --format F`: to stdout.
pub fn export(ctx: &Context, args: &ExportArgs) -> Result<()> {
    let store = ctx.places.read_history()?;
    let runs = args
        .ids
        .iter()
        .map(|&id| store.get(id))
        .collect::<Result<Vec<_>, _>>()?;
    print_out(&export::render(&runs, args.format)?)
}
