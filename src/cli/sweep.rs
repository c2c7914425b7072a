//! Sweeps past one machine: `sweep` plans configurations x seeds and submits them as one SLURM
//! job array (or writes a Kubernetes Indexed Job), `sweep-task` is one task of it on a node,
//! `sweep --status` reads the tasks' progress files, `import` adds finished tasks to the history.

pub mod emit;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use serde_json::json;

use crate::cli::headless::load_data;
use crate::cli::setup::Context;
use crate::cli::{Overrides, error_line};
use crate::cli::{absolute, print_out};
use crate::run::Status;
use crate::run::variants::Seeds;
use crate::store::import::import_sweep;
use crate::store::lifecycle::{self, LifecycleError, Stop, Storage};
use crate::store::sweep::{
    FORMAT, Folder, Line, Origin, Plan, Snapshot, TaskResult, TaskSpec, TaskState,
};
use crate::store::{self, Store};
use cifar_engine::RunError;
use cifar_engine::events::TrainEvent;
use cifar_engine::runner::TrainError;
use cifar_engine::tricks::{self, PRESETS, TrickSet};
use emit::{REQUEUE_EXIT, Resources};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Emit {
    /// Submit one SLURM job array with sbatch
    Slurm,
    /// Write a Kubernetes Indexed Job manifest (DIR/sweep.k8s.json) and submit nothing
    K8s,
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// The sweep folder, on a file system every node sees: the plan, and per task its progress,
    /// result, history and checkpoints
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Show where each task of the sweep in DIR stands, read from its progress files only
    #[arg(long)]
    pub status: bool,
    /// The study to sweep: `seed` (the eight cumulative scenarios) [default, unless --presets
    /// or --tricks]
    #[arg(long, conflicts_with_all = ["presets", "trick_sets"])]
    pub study: Option<String>,
    /// Presets to sweep instead of a study, comma-separated (e.g. baseline,norm_inputs)
    #[arg(long, value_delimiter = ',')]
    pub presets: Vec<String>,
    /// A set of tricks to sweep, comma-separated; repeat it for more sets
    #[arg(long = "tricks", value_name = "LIST")]
    pub trick_sets: Vec<String>,
    // `--seeds N|LIST` comes with the overrides: every configuration trains once per seed
    // (default: `seeds` in config.toml, else the one configured seed).
    #[command(flatten)]
    pub overrides: Overrides,
    /// Generic resources per task (sbatch --gres), e.g. gpu:1
    #[arg(long, help_heading = "Resources per task")]
    pub gres: Option<String>,
    /// CPUs per task (sbatch --cpus-per-task)
    #[arg(long, value_name = "N", help_heading = "Resources per task")]
    pub cpus_per_task: Option<u32>,
    /// Memory per task (sbatch --mem), e.g. 8G
    #[arg(long, help_heading = "Resources per task")]
    pub mem: Option<String>,
    /// Time limit per task (sbatch --time), e.g. 2:00:00; a task stopped by it is requeued
    /// and resumes from its checkpoint
    #[arg(long, help_heading = "Resources per task")]
    pub time: Option<String>,
    /// SLURM partition (sbatch --partition)
    #[arg(long, help_heading = "Resources per task")]
    pub partition: Option<String>,
    /// SLURM account (sbatch --account)
    #[arg(long, help_heading = "Resources per task")]
    pub account: Option<String>,
    /// Most tasks running at once (--array=0-N%K)
    #[arg(long, value_name = "K", help_heading = "Resources per task")]
    pub max_running: Option<u32>,
    /// Another sbatch option, passed through as it is; repeat it for more
    /// (e.g. --sbatch-arg=--qos=long)
    #[arg(
        long = "sbatch-arg",
        value_name = "OPTION",
        allow_hyphen_values = true,
        help_heading = "Resources per task"
    )]
    pub sbatch_args: Vec<String>,
    /// The cifar-tui that tasks run, at a path every node sees [default: this one]
    #[arg(long, value_name = "FILE")]
    pub binary: Option<PathBuf>,
    /// Print the batch script (or the manifest) and write or submit nothing
    #[arg(long)]
    pub dry_run: bool,
    /// slurm: submit one job array; k8s: write a Kubernetes Indexed Job manifest
    #[arg(long, value_enum, default_value = "slurm")]
    pub emit: Emit,
    /// k8s: the container image holding cifar-tui
    #[arg(long)]
    pub image: Option<String>,
    /// k8s: the PersistentVolumeClaim that holds DIR, mounted at DIR's path in every pod
    #[arg(long, default_value = "cifar-sweeps", value_name = "NAME")]
    pub volume_claim: String,
}

#[derive(Args, Debug)]
pub struct TaskArgs {
    /// The sweep folder
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The task's index in the plan [default: $SLURM_ARRAY_TASK_ID, else
    /// $JOB_COMPLETION_INDEX]
    #[arg(long, value_name = "I")]
    pub index: Option<usize>,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The sweep folder (the one given to `cifar-tui sweep`)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// A task stopped by a signal after checkpointing; the process exits with [`REQUEUE_EXIT`].
#[derive(Debug, thiserror::Error)]
#[error(
    "task {task}: interrupted after epoch {done}; its checkpoint is kept and its next start \
     resumes from there (exit status {REQUEUE_EXIT}: the batch script requeues it)"
)]
pub struct Interrupted {
    task: usize,
    done: usize,
}

/// The configurations asked for, named, and what they are in words.
fn configurations(args: &SweepArgs) -> Result<(Vec<(String, TrickSet)>, String)> {
    if !args.presets.is_empty() {
        let sets = args
            .presets
            .iter()
            .map(|p| Ok((p.clone(), tricks::preset(p)?.trick_set())))
            .collect::<Result<_>>()?;
        return Ok((sets, format!("presets {}", args.presets.join(","))));
    }
    if !args.trick_sets.is_empty() {
        let sets = args
            .trick_sets
            .iter()
            .map(|l| {
                let set = tricks::parse_tricks(l)?;
                let name = tricks::preset_name(&set).unwrap_or("custom").to_string();
                Ok((name, set))
            })
            .collect::<Result<_>>()?;
        return Ok((sets, format!("trick sets {}", args.trick_sets.join(" / "))));
    }
    match args.study.as_deref().unwrap_or("seed") {
        "seed" => Ok((
            PRESETS
                .iter()
                .map(|p| (p.name.to_string(), p.trick_set()))
                .collect(),
            "the seed study".into(),
        )),
        other => bail!("unknown study `{other}`; valid: seed (or give --presets or --tricks)"),
    }
}

/// The sweep's plan: every configuration once per seed, configuration by configuration.
pub fn plan(ctx: &Context, args: &SweepArgs) -> Result<Plan> {
    let (sets, what) = configurations(args)?;
    let hyper = ctx.hyper(&args.overrides)?;
    let seeds = ctx.seeds(&args.overrides, hyper.seed, Seeds::Count(1));
    let mut tasks = Vec::new();
    for (name, set) in &sets {
        for &seed in &seeds {
            let mut h = hyper.clone();
            h.seed = seed;
            let mut config = tricks::resolve(set, &h);
            config.train_limit = args.overrides.train_limit();
            tasks.push(TaskSpec {
                name: name.clone(),
                config,
            });
        }
    }
    let seed_list: Vec<_> = seeds.iter().map(u64::to_string).collect();
    let binary = match &args.binary {
        Some(b) => absolute(b),
        None => std::env::current_exe().context("cannot find this cifar-tui's own path")?,
    };
    let now = chrono::Utc::now();
    Ok(Plan {
        format: FORMAT,
        sweep: format!(
            "{}-{}-{}",
            now.format("%Y%m%dT%H%M%S%.3fZ"),
            store::host(),
            std::process::id()
        ),
        created_at: store::now(),
        study: format!("{what} x seeds {}", seed_list.join(",")),
        binary,
        data_dir: ctx.data_dir.as_deref().map(absolute),
        device: ctx.device,
        tasks,
    })
}

/// `cifar-tui sweep`.
pub fn sweep(ctx: &Context, args: &SweepArgs) -> Result<()> {
    let folder = Folder(absolute(&args.dir));
    if args.status {
        return status(&folder);
    }
    let res = Resources {
        gres: args.gres.clone(),
        cpus_per_task: args.cpus_per_task,
        mem: args.mem.clone(),
        time: args.time.clone(),
        partition: args.partition.clone(),
        account: args.account.clone(),
        max_running: args.max_running,
        extra: args.sbatch_args.clone(),
    };
    res.check()?;
    emit::check_folder_path(&folder.0)?;
    let plan = plan(ctx, args)?;
    if let Some(data) = &plan.data_dir
        && !data.is_dir()
    {
        bail!(
            "--data {}: no such folder. Fix: name the folder holding cifar-10-batches-bin/, on a \
             file system every node sees",
            data.display()
        );
    }
    if !plan.binary.is_file() {
        bail!(
            "--binary {}: no such file. Fix: name the cifar-tui that the nodes should run, at a \
             path they all see",
            plan.binary.display()
        );
    }
    if plan.data_dir.is_none() {
        note!(
            "no --data: each task loads CIFAR-10 from its node's download cache, downloading \
             170 MB where it is missing; pass --data DIR (on a file system every node sees) to \
             load one shared copy"
        );
    }
    if folder.plan().exists() {
        bail!(crate::store::sweep::SweepError::Exists { dir: folder.0 });
    }
    match args.emit {
        Emit::Slurm => submit(&folder, &plan, &res, args.dry_run),
        Emit::K8s => kubernetes(&folder, &plan, &res, args),
    }
}

fn submit(folder: &Folder, plan: &Plan, res: &Resources, dry_run: bool) -> Result<()> {
    let script = emit::batch_script(plan, folder, res);
    if dry_run {
        return print_out(&script);
    }
    // Before the folder is written: a machine without SLURM leaves nothing behind.
    if Command::new("sbatch").arg("--version").output().is_err() {
        bail!(
            "sbatch not found: this machine is not a SLURM login node. Fix: run the sweep on the \
             cluster's login node, print the script with --dry-run, or use --emit k8s"
        );
    }
    folder.create(plan)?;
    let path = folder.script();
    std::fs::write(&path, &script).with_context(|| format!("cannot write {}", path.display()))?;
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(&path)
        .output()
        .context("cannot run sbatch")?;
    if !out.status.success() {
        bail!(
            "sbatch refused {}: {}. Fix: correct the resources (the plan and script are kept in \
             {}; submit it by hand with `sbatch {}`)",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim(),
            folder.0.display(),
            path.display()
        );
    }
    // `--parsable` prints `JOBID` or `JOBID;CLUSTER`.
    let answer = String::from_utf8_lossy(&out.stdout);
    let job = answer.trim().split(';').next().unwrap_or("").to_string();
    let job_file = folder.0.join("job");
    std::fs::write(&job_file, format!("{job}\n"))
        .with_context(|| format!("cannot write {}", job_file.display()))?;
    note!(
        "submitted job array {job}: {} tasks ({}) from {}",
        plan.tasks.len(),
        plan.study,
        path.display()
    );
    note!(
        "watch it: cifar-tui --sweep {0} (or sweep --status {0}); then: cifar-tui import {0}",
        folder.0.display()
    );
    print_out(&format!("{job}\n"))
}

fn kubernetes(folder: &Folder, plan: &Plan, res: &Resources, args: &SweepArgs) -> Result<()> {
    let Some(image) = &args.image else {
        bail!(
            "--emit k8s needs the container image that holds cifar-tui. Fix: add --image \
             REGISTRY/cifar-tui:TAG"
        );
    };
    let manifest = emit::k8s_manifest(plan, folder, res, image, &args.volume_claim);
    let text = serde_json::to_string_pretty(&manifest)? + "\n";
    if args.dry_run {
        return print_out(&text);
    }
    folder.create(plan)?;
    let path = folder.manifest();
    std::fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    note!(
        "wrote {}: an Indexed Job of {} tasks. Submit it with `kubectl apply -f {}` (the claim \
         {} must hold {} at that path in every pod)",
        path.display(),
        plan.tasks.len(),
        path.display(),
        args.volume_claim,
        folder.0.display()
    );
    Ok(())
}

/// The table of `sweep --status`.
pub fn status_table(snapshot: &Snapshot) -> String {
    let mut s = format!(
        "{:>4}  {:<14} {:>6}  {:<8}  {:>6}  {:>8}  {:<12}  {}\n",
        "task", "name", "seed", "state", "epoch", "accuracy", "host", "note"
    );
    for (i, (spec, state)) in snapshot.plan.tasks.iter().zip(&snapshot.states).enumerate() {
        let c = state.cells(spec.config.epochs);
        s += &format!(
            "{i:>4}  {:<14} {:>6}  {:<8}  {:>6}  {:>8}  {:<12}  {}\n",
            spec.name,
            spec.config.seed,
            state.label(),
            c.epoch,
            c.accuracy,
            c.host,
            c.note
        );
    }
    s + &snapshot.summary() + "\n"
}

/// `cifar-tui sweep --status DIR`: from the progress files alone, never SLURM's accounting.
fn status(folder: &Folder) -> Result<()> {
    print_out(&status_table(&folder.snapshot()?))
}

/// `cifar-tui import DIR`.
pub fn import(ctx: &Context, args: &ImportArgs) -> Result<()> {
    let folder = Folder(absolute(&args.dir));
    let history = ctx.storage.open_history()?;
    let done = import_sweep(&history, &folder)?;
    note!(
        "from {} into {}: {}",
        folder.0.display(),
        history.path().display(),
        done.summary()
    );
    for (task, why) in &done.skipped {
        note!("task {task} skipped: {why}");
    }
    if let Some(waiting) = done.waiting() {
        note!(
            "{waiting}; see `cifar-tui sweep --status {}`, and import again later",
            folder.0.display()
        );
    }
    Ok(())
}

/// The task's index: `--index`, else SLURM's array task id, else Kubernetes' completion index.
fn task_index(given: Option<usize>) -> Result<usize> {
    if let Some(i) = given {
        return Ok(i);
    }
    for var in ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"] {
        if let Ok(v) = std::env::var(var) {
            return v
                .parse()
                .with_context(|| format!("${var} is `{v}`, not a task index"));
        }
    }
    bail!(
        "no task index: give --index I (SLURM sets $SLURM_ARRAY_TASK_ID, Kubernetes \
         $JOB_COMPLETION_INDEX)"
    )
}

/// The scheduler's name of this job: `ARRAYJOB_TASK` on SLURM.
fn job_id() -> Option<String> {
    let var = |n| std::env::var(n).ok();
    match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
        (Some(job), Some(task)) => Some(format!("{job}_{task}")),
        _ => var("SLURM_JOB_ID"),
    }
}

/// `cifar-tui sweep-task DIR`: one task of a sweep, on whatever node the scheduler chose.
pub fn task(ctx: &Context, args: &TaskArgs) -> Result<()> {
    let folder = Folder(absolute(&args.dir));
    let plan = folder.read_plan()?;
    let i = task_index(args.index)?;
    let Some(spec) = plan.tasks.get(i) else {
        bail!(
            "task {i}: the sweep in {} has tasks 0 to {}",
            folder.0.display(),
            plan.tasks.len().saturating_sub(1)
        );
    };
    let dir = folder.task(i);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let at = store::now;
    if let Some(done) = folder.read_result(i)? {
        // Requeued after its result was written: only the last line may be missing.
        if !matches!(folder.state(i), TaskState::Finished { .. }) {
            folder.report(
                i,
                &Line::Finished {
                    at: at(),
                    accuracy: done.outcome.report.accuracy,
                    macro_f1: done.outcome.report.macro_f1,
                },
            )?;
        }
        note!("task {i}: finished already; nothing to do");
        return Ok(());
    }
    let started = |l: &Line| matches!(l, Line::Started { .. });
    // An unreadable file counts no earlier attempt; the new lines are appended all the same.
    let earlier = folder.lines(i).unwrap_or_default();
    let attempt = earlier.iter().filter(|l| started(l)).count() as u32 + 1;
    let origin = Origin {
        sweep: plan.sweep.clone(),
        task: i,
        job: job_id(),
        host: store::host().to_string(),
    };
    folder.report(
        i,
        &Line::Started {
            at: at(),
            host: origin.host.clone(),
            job: origin.job.clone(),
            attempt,
        },
    )?;
    match train_task(ctx, &plan, &folder, i, spec, origin) {
        Ok(result) => {
            folder.write_result(i, &result)?;
            folder.report(
                i,
                &Line::Finished {
                    at: at(),
                    accuracy: result.outcome.report.accuracy,
                    macro_f1: result.outcome.report.macro_f1,
                },
            )?;
            note!(
                "task {i}: {} seed {}: test accuracy {:.4}; result in {}",
                spec.name,
                spec.config.seed,
                result.outcome.report.accuracy,
                folder.result(i).display()
            );
            Ok(())
        }
        Err(e) => {
            if let Some(stop) = e.downcast_ref::<Interrupted>() {
                folder.report(
                    i,
                    &Line::Interrupted {
                        at: at(),
                        epochs_done: stop.done,
                    },
                )?;
            } else {
                folder.report(
                    i,
                    &Line::Failed {
                        at: at(),
                        message: error_line(&e),
                    },
                )?;
            }
            Err(e)
        }
    }
}

/// Trains (or resumes) the task's one run in its own history; its result.
fn train_task(
    ctx: &Context,
    plan: &Plan,
    folder: &Folder,
    i: usize,
    spec: &TaskSpec,
    origin: Origin,
) -> Result<TaskResult> {
    let storage = Storage {
        history: folder.history(i),
        checkpoints: folder.task(i).join("checkpoints"),
    };
    let ctx = Context {
        data_dir: plan.data_dir.clone(),
        device: plan.device,
        storage: storage.clone(),
        ..ctx.clone()
    };
    // First of all: a signal while the data loads must requeue the task too, not kill it.
    let rt = tokio::runtime::Runtime::new()?;
    let stop = Arc::new(Stop::default());
    let signalled = stop.clone();
    rt.spawn(async move {
        crate::sys::stop_signal().await;
        note!("task {i}: signal received: stopping at the next step, after its checkpoint");
        signalled.interrupt();
    });
    let store = Store::open(&storage.history)?;
    // The task's history holds its one run. Only one process runs a task at a time, so a run
    // left queued or running is an earlier attempt's (killed, or its node lost): resumable.
    let id = match store.list()?.pop() {
        Some(run) if matches!(run.status, Status::Finished(_)) => {
            return result_of(&store, run.id, spec, origin);
        }
        Some(run) => {
            if !run.status.resumable() {
                let why = run.status.reason().map(String::from);
                store.set_status(run.id, &Status::Interrupted(why))?;
            }
            note!(
                "task {i}: resuming after epoch {} of {}",
                run.epochs.len(),
                spec.config.epochs
            );
            run.id
        }
        None => store.insert(&spec.name, &spec.config)?,
    };
    drop(store);
    let data = load_data(&ctx)?;
    let mut notice = |n: String| note!("task {i}: {n}");
    let mut emit = |event: TrainEvent| match event {
        TrainEvent::Started {
            device,
            train_images,
            test_images,
            ..
        } => note!(
            "task {i}: {} seed {} on {device}, {train_images} training / {test_images} test images",
            spec.name,
            spec.config.seed
        ),
        TrainEvent::Epoch(e) => {
            note!("{}", json!({ "task": i, "epoch": e }));
            let line = Line::Epoch {
                at: store::now(),
                epoch: e.epoch,
                epochs: spec.config.epochs,
                val_accuracy: e.val_accuracy,
            };
            if let Err(err) = folder.report(i, &line) {
                note!("task {i}: {err}");
            }
        }
        TrainEvent::Warning(w) => note!("task {i}: warning: {w}"),
        TrainEvent::Progress(_)
        | TrainEvent::Evaluating { .. }
        | TrainEvent::Validation(_)
        | TrainEvent::Preparing { .. }
        | TrainEvent::FittingZca { .. }
        | TrainEvent::Filters(_)
        | TrainEvent::Inputs(_) => {}
    };
    let task = lifecycle::Task {
        storage: &storage,
        id: Some(id),
        data: &data,
        config: &spec.config,
        device: ctx.device,
        stop: &stop,
        val_points: 1,
    };
    match lifecycle::execute(task, &mut notice, &mut emit) {
        Ok(_) => {
            let store = Store::open(&storage.history)?;
            result_of(&store, id, spec, origin)
        }
        Err(LifecycleError::Run(RunError::Train(TrainError::Cancelled))) => {
            let done = Store::open(&storage.history)
                .and_then(|s| s.get(id))
                .map(|r| r.epochs.len())
                .unwrap_or(0);
            Err(Interrupted { task: i, done }.into())
        }
        Err(e) => Err(e).with_context(|| format!("task {i}: training failed")),
    }
}

/// The result file of the task's finished run, from its history.
fn result_of(store: &Store, id: i64, spec: &TaskSpec, origin: Origin) -> Result<TaskResult> {
    let run = store.get(id)?;
    let Some(outcome) = run.outcome() else {
        bail!(
            "run #{id} of {} is finished but holds no evaluation. Fix: delete that file and \
             the task's checkpoints, and run the task again",
            store.path().display()
        );
    };
    Ok(TaskResult {
        origin,
        name: spec.name.clone(),
        tricks: tricks::describe(&spec.config.tricks.iter().copied().collect()),
        config: spec.config.clone(),
        outcome: outcome.clone(),
        losses: run.train_points,
        steps_per_epoch: Some(run.steps_per_epoch),
        steps_per_point: None,
        created_at: run.created_at.unwrap_or_default(),
        finished_at: store::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_table_says_where_each_task_stands() {
        let table = status_table(&crate::store::sweep::sample());
        let rows: Vec<_> = table.lines().collect();
        assert_eq!(rows.len(), 7, "{table}");
        let words = |i: usize| rows[i].split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(words(1), "0 baseline 42 finished 10/10 0.6123 node2");
        assert_eq!(
            words(2),
            "1 baseline 42 running 3/10 0.5000 node7 job 12_1, attempt 2"
        );
        assert_eq!(
            words(3),
            "2 baseline 42 queued 3/10 interrupted 1x; resumes after epoch 3"
        );
        assert_eq!(
            words(4),
            "3 baseline 42 failed cannot read data_batch_1.bin"
        );
        assert_eq!(words(5), "4 baseline 42 queued");
        assert_eq!(
            rows[6],
            "5 tasks: 1 finished, 1 running, 2 queued, 1 failed"
        );
    }
}
