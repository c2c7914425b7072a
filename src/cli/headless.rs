//! Headless mode: the same engine and history, driven from scripts. JSON lines on stdout,
//! progress on stderr, a result file per run.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context as _, Result, bail};
use serde_json::json;

use crate::cli::setup::Context;
use crate::cli::{ResumeArgs, RunArgs, absolute};
use crate::run::RunRecord;
use crate::run::variants::{self, Seeds, Trial};
use crate::store::Store;
use crate::store::lifecycle::{self, LifecycleError, Stop};
use cifar_engine::RunError;
use cifar_engine::config::TrainConfig;
use cifar_engine::data::{self, Cifar10, DataProgress};
use cifar_engine::events::{Outcome, TrainEvent};
use cifar_engine::runner::TrainError;
use cifar_engine::tricks::{self, TrickSet};

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
pub(super) struct Signal {
    stop: Stop,
    /// A signal came.
    pub seen: AtomicBool,
    /// Runs training now that have not taken their last training step yet.
    before_last_step: AtomicUsize,
}

impl Signal {
    pub(super) fn listen(rt: &tokio::runtime::Runtime) -> Arc<Signal> {
        let signal = Arc::new(Signal::default());
        let s = signal.clone();
        rt.spawn(async move {
            crate::sys::stop_signal().await;
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

/// Trains one configuration as history run `id`, printing a JSON line per epoch. `label`
/// names it in notes (with its seed when the variant is repeated), `name` in the JSON lines.
fn train_one(
    ctx: &Context,
    data: &Cifar10,
    id: Option<i64>,
    cfg: &TrainConfig,
    signal: &Signal,
    name: &str,
    label: &str,
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
            gpu,
            train_images,
            test_images,
            ..
        } => note!(
            "{label}: training on {device}{}, {train_images} training / {test_images} test images, {} epochs",
            gpu.as_ref().map(|g| format!(" ({g})")).unwrap_or_default(),
            cfg.epochs
        ),
        TrainEvent::Progress(p) => {
            if tty {
                note_part!(
                    "\r{label}: epoch {}/{} step {}/{} loss {:.4} acc {:.3} {:.0} img/s   ",
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
        TrainEvent::Warning(w) => note!("\n{label}: warning: {w}"),
        // The pictures are the interface's; the result file keeps the last ones.
        TrainEvent::Validation(_) | TrainEvent::Filters(_) | TrainEvent::Inputs(_) => {}
        TrainEvent::FittingZca { step: 0 } => {
            note!("{label}: fitting ZCA whitening (minutes on a CPU; Ctrl-C stops it)")
        }
        TrainEvent::FittingZca { step } => {
            if tty {
                note_part!("\r{label}: ZCA step {step}   ");
            }
        }
        // Not only on a terminal: a log shows where a slow first start spent its time.
        TrainEvent::Preparing { done, total } => {
            note!("{label}: preparing GPU kernels {done}/{total} (tuned once per machine)")
        }
        TrainEvent::Evaluating { epoch } => {
            if tty {
                note_part!(
                    "\r{label}: epoch {}/{} scoring the test set…                    ",
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
            line["seed"] = json!(cfg.seed);
            if let Some(id) = id {
                line["id"] = json!(id);
            }
            lines.line(&line.to_string());
        }
    };
    let task = lifecycle::Task {
        storage: &ctx.storage,
        id,
        data,
        config: cfg,
        device: ctx.device,
        stop: &signal.stop,
        // Nobody watches a chart: the epoch's own evaluation only.
        val_points: 1,
    };
    let result = lifecycle::execute(task, &mut notice, &mut emit);
    passed();
    match result {
        Ok(o) => {
            if signal.seen.load(Ordering::SeqCst) {
                let saved = id.map(|id| format!(" as run #{id}")).unwrap_or_default();
                note!(
                    "{label}: the signal came after the last training step, so the run finished \
                     and is saved{saved}"
                );
            }
            Ok(o)
        }
        Err(LifecycleError::Run(RunError::Train(TrainError::Cancelled))) => match id {
            Some(id) => {
                bail!("{label}: interrupted; continue it with `cifar-tui resume {id} --headless`")
            }
            None => bail!("{label}: interrupted"),
        },
        Err(LifecycleError::Claim(e)) => bail!("{label}: {e}"),
        Err(LifecycleError::Run(e @ RunError::Train(TrainError::Diverged { .. }))) => {
            bail!("{label}: {e}")
        }
        Err(e) => Err(e).with_context(|| format!("{label}: training failed")),
    }
}

/// Adds the run to the history with the files `resume` needs (its data folder, its result
/// file), or says why it is kept in memory only.
pub(super) fn enqueue(
    ctx: &Context,
    name: &str,
    cfg: &TrainConfig,
    out: Option<&Path>,
) -> Option<i64> {
    let saved = Store::open(&ctx.storage.history).and_then(|s| {
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

/// Checks, before any training, that `--out` can be written: an hour of work must not end in
/// "no such folder". The file is opened as it will be (an existing one is left as it is), and
/// a file made beside it.
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
    // A file's result is written beside it first, then renamed over it (a device or a FIFO,
    // such as /dev/stdout, is written directly).
    let special = std::fs::metadata(path).is_ok_and(|m| !m.is_file());
    if special {
        return Ok(());
    }
    tempfile::NamedTempFile::new_in(parent).with_context(|| {
        format!(
            "--out {shown}: cannot make files in {}. Fix: choose a folder you can write to",
            parent.display()
        )
    })?;
    Ok(())
}

/// Checks that files can be made in a `--out` folder, creating it.
pub(super) fn check_out_dir(dir: &Path) -> Result<()> {
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
    if let Err(e) = crate::sys::write_whole(&[(path, text.as_bytes())]) {
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
    let subset = match cfg.val_split {
        Some(n) => format!("{subset} (validated on {n} held-out training images)"),
        None => subset,
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
    cfg.train_limit = args.overrides.train_limit();
    Ok((tricks, cfg))
}

/// A run to train: its configuration on one seed, the file its record goes to, its history
/// number.
pub(super) struct Planned {
    pub name: &'static str,
    /// The name in notes: with the seed when the variant is repeated.
    pub label: String,
    pub tricks: TrickSet,
    pub cfg: TrainConfig,
    pub file: Option<PathBuf>,
    pub id: Option<i64>,
    /// Finished earlier (a study run again): its outcome, nothing to train.
    pub done: Option<Box<Outcome>>,
}

/// Trains the runs in order, `parallel` at a time, each on its worker's thread; every run's
/// end in the runs' order.
pub(super) fn train_queue(
    ctx: &Context,
    data: &Cifar10,
    runs: &[Planned],
    parallel: usize,
    signal: &Signal,
) -> Vec<Option<Result<Outcome>>> {
    if parallel > 1 {
        note!("training {} runs, {parallel} at a time", runs.len());
    }
    let next = AtomicUsize::new(0);
    let ended: Vec<std::sync::Mutex<Option<Result<Outcome>>>> =
        runs.iter().map(|_| Default::default()).collect();
    std::thread::scope(|s| {
        for _ in 0..parallel {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some(run) = runs.get(k) else {
                        break;
                    };
                    // Finished earlier: its record written again where this study writes.
                    let result = match &run.done {
                        Some(done) => Ok((**done).clone()),
                        None => {
                            train_one(ctx, data, run.id, &run.cfg, signal, run.name, &run.label)
                        }
                    };
                    let result = result.and_then(|o| {
                        summary(&run.label, &run.cfg, &o);
                        if let Some(file) = &run.file {
                            write_record(file, run.name, &run.tricks, &run.cfg, &o)?;
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
    ended
        .into_iter()
        .map(|m| m.into_inner().ok().flatten())
        .collect()
}

/// `FILE` for one seed; `STEM.seedK.EXT` beside it for each of several.
pub(super) fn seed_file(path: &Path, seed: u64, repeated: bool) -> PathBuf {
    if !repeated {
        return path.to_path_buf();
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    path.with_file_name(format!("{stem}.seed{seed}{ext}"))
}

pub fn run(ctx: &Context, args: &RunArgs) -> Result<()> {
    let (tricks, cfg) = run_config(ctx, args)?;
    let name = tricks::preset_name(&tricks).unwrap_or("custom");
    let seeds = ctx.seeds(&args.overrides, cfg.seed, Seeds::Count(1));
    let repeated = seeds.len() > 1;
    let out = args.out.as_deref().map(absolute);
    if let Some(out) = &out {
        check_out_file(out)?;
    }
    note!("{name}: {}", serde_json::to_string(&cfg)?);
    if repeated {
        let list: Vec<String> = seeds.iter().map(u64::to_string).collect();
        note!("{name}: {} seeds ({})", seeds.len(), list.join(", "));
    }
    let parallel = if repeated {
        let device = cifar_engine::backend::select(ctx.device)?.0.kind();
        ctx.parallel_on(device).min(seeds.len()).max(1)
    } else {
        1
    };
    ctx.check_memory(&cfg, parallel)?;
    let data = load_data(ctx)?;
    let rt = tokio::runtime::Runtime::new()?;
    let signal = Signal::listen(&rt);
    let runs: Vec<Planned> = seeds
        .iter()
        .map(|&seed| {
            let cfg = TrainConfig {
                seed,
                ..cfg.clone()
            };
            let file = out.as_deref().map(|o| seed_file(o, seed, repeated));
            let id = enqueue(ctx, name, &cfg, file.as_deref());
            if let Some(id) = id {
                note!("{name}: history run #{id}");
            }
            let label = if repeated {
                format!("{name} seed {seed}")
            } else {
                name.to_string()
            };
            Planned {
                name,
                label,
                tricks: tricks.clone(),
                cfg,
                file,
                id,
                done: None,
            }
        })
        .collect();
    let ended = train_queue(ctx, &data, &runs, parallel, &signal);
    let trials = collect(&runs, ended)?;
    if repeated {
        let variants = variants::group(trials);
        let v = &variants[0];
        note!(
            "{name} over {} seeds: test accuracy {} (95% CI), macro-F1 {}",
            v.n(),
            variants::mean_ci(&v.accuracy, 4),
            variants::mean_ci(&v.macro_f1, 4)
        );
        if let Some(out) = &out {
            let text = serde_json::to_string_pretty(&json!({ "variant": v, "n": v.n() }))?;
            crate::sys::write_whole(&[(out, text.as_bytes())])
                .with_context(|| format!("cannot write {}", out.display()))?;
            note!("the variant's figures written to {}", out.display());
        }
    }
    Ok(())
}

/// The runs' outcomes as trials (the first failure is the error).
pub(super) fn collect(runs: &[Planned], ended: Vec<Option<Result<Outcome>>>) -> Result<Vec<Trial>> {
    let mut trials = Vec::new();
    for (run, result) in runs.iter().zip(ended) {
        let o = result.unwrap_or_else(|| bail!("{}: did not run", run.label))?;
        trials.push(Trial {
            id: run.id.unwrap_or(0),
            name: run.name.to_string(),
            config: run.cfg.clone(),
            device: Some(o.device),
            accuracy: o.report.accuracy,
            macro_f1: o.report.macro_f1,
            seconds: o.seconds,
            images_per_sec: o.images_per_sec,
            val_accuracy: o.epochs.iter().map(|e| e.val_accuracy).collect(),
        });
    }
    Ok(trials)
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
    let rt = tokio::runtime::Runtime::new()?;
    let signal = Signal::listen(&rt);
    let first = resume_one(ctx, args.id, args.out.as_deref(), &signal);
    if let (Err(e), false) = (&first, args.then.is_empty()) {
        note!("run #{} not resumed: {e:#}", args.id);
    }
    // The runs after it: one that cannot be resumed (another process took it, it was
    // deleted) is said and passed over; a signal stops the queue, which stays resumable.
    for &id in &args.then {
        if signal.seen.load(Ordering::SeqCst) {
            note!(
                "run #{id} not started: stopped by a signal; `cifar-tui resume {id}` continues it"
            );
            continue;
        }
        if let Err(e) = resume_one(ctx, id, None, &signal) {
            note!("run #{id} not resumed: {e:#}");
        }
    }
    first
}

fn resume_one(ctx: &Context, id: i64, out: Option<&Path>, signal: &Signal) -> Result<()> {
    let history = ctx.storage.open_history()?;
    let run = history.get(id)?;
    run.check_resumable().map_err(anyhow::Error::msg)?;
    let (stored_data, stored_out) = history.files(run.id)?;
    let out = out.map(absolute).or(stored_out);
    let ctx = Context {
        data_dir: resume_data_dir(ctx, stored_data),
        ..ctx.clone()
    };
    if let Some(out) = &out {
        check_out_file(out)?;
    }
    ctx.check_memory(&run.config, 1)?;
    let data_dir = ctx.data_dir.as_deref().map(absolute);
    history.set_files(run.id, data_dir.as_deref(), out.as_deref())?;
    drop(history);
    note!(
        "resuming run #{} {}: {} of its {} epochs stored",
        run.id,
        run.name,
        run.epochs.len(),
        run.config.epochs
    );
    let data = load_data(&ctx)?;
    let outcome = train_one(
        &ctx,
        &data,
        Some(run.id),
        &run.config,
        signal,
        &run.name,
        &run.name,
    )?;
    summary(&run.name, &run.config, &outcome);
    if let Some(out) = &out {
        let tricks = run.config.tricks.iter().copied().collect();
        write_record(out, &run.name, &tricks, &run.config, &outcome)?;
    }
    Ok(())
}
