//! The command line.

/// A line on stderr. A closed stderr (`2>&1 | head -1`) must not panic the run (as `eprintln!`
/// would) before its record is saved, so write errors are dropped.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// As [`note!`], without the newline (progress lines that `\r` rewrites).
macro_rules! note_part {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

pub mod bench;
pub mod headless;
pub mod report;
pub mod runs;
pub mod setup;
pub mod study;
pub mod sweep;

use crate::store::export::Format;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::run::variants::Seeds;
use cifar_engine::config::{LossKind, OptimizerKind, Order, Targets};
use cifar_engine::events::DeviceChoice;

/// A path as given, made absolute so that a resume, a sweep task or the interface started
/// from another folder finds the same file.
pub(crate) fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Writes `text` to stdout. A reader that went away (`| head -1`, `| true`) ends the output
/// quietly: what it wanted is printed, and nothing else is lost.
fn print_out(text: &str) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        done => done.context("cannot write to stdout"),
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "cifar-tui",
    version,
    about = "Watch LeCun's backprop tricks train a CIFAR-10 CNN, live in your terminal"
)]
pub struct Cli {
    /// Settings file [default: ./config.toml when it is cifar-tui's (has a [train] or [app]
    /// table), then the user's config folder]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Folder holding cifar-10-batches-bin/ (or that folder) [default: download into the cache]
    #[arg(long, global = true, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Where to train: auto (CUDA, else a hardware GPU through wgpu, else the CPU), cpu, cuda
    /// (GPU 0), cuda:N (GPU N), cuda:all (runs spread over every GPU in turn) or wgpu (Vulkan,
    /// Metal, DX12)
    #[arg(long, global = true)]
    pub device: Option<DeviceChoice>,
    /// The run history database [default: history.db in the user's data folder]
    #[arg(long, global = true, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// Most runs training at once [default: `parallel` in config.toml, else 8 per GPU and 1
    /// on the CPU]
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: Option<u16>,
    /// A sweep folder (made by `cifar-tui sweep`) for the interface's Sweep screen to follow
    #[arg(long, value_name = "DIR")]
    pub sweep: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train one configuration (in the TUI, or with --headless from scripts)
    Run(RunArgs),
    /// Train a study's presets (the seed study's eight, or lecun's) and compare them
    Study(StudyArgs),
    /// Continue an interrupted run from its last finished epoch
    Resume(ResumeArgs),
    /// Play finished runs of the history back on the live screens (no data, GPU or network
    /// needed): loss, validation, learning rate, progress and ETA, then the results
    Replay(ReplayArgs),
    /// List the runs in the history
    Runs,
    /// Show one run of the history in full (JSON)
    Show {
        /// The run's number in the history
        id: i64,
    },
    /// Export runs of the history
    Export(ExportArgs),
    /// Write finished runs as one HTML page to hand round (charts, tables, claims), with each
    /// chart beside it as SVG and PNG
    Report(ReportArgs),
    /// Measure training speed, beside the seed notebook's PyTorch pipeline when torch is found
    Bench(BenchArgs),
    /// Run a study x seeds on a cluster: one SLURM job array (or a Kubernetes Indexed Job)
    Sweep(Box<sweep::SweepArgs>),
    /// One task of a sweep, as the scheduler starts it on a node
    #[command(hide = true)]
    SweepTask(sweep::TaskArgs),
    /// Add a sweep's finished runs to the history (again adds nothing)
    Import(sweep::ImportArgs),
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Repetitions; medians are reported
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Steps timed for the bare training step
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// Train on the first N images in the end-to-end epoch [default: all 50,000]
    #[arg(long, value_name = "N")]
    pub epoch_images: Option<usize>,
    /// Write the JSON report here instead of stdout
    #[arg(long, value_name = "FILE")]
    pub json: Option<std::path::PathBuf>,
    /// Skip the PyTorch reference
    #[arg(long)]
    pub no_reference: bool,
    /// The Python that runs the reference [default: $CIFAR_TUI_PYTHON, python3, python]
    #[arg(long)]
    pub python: Option<String>,
}

#[derive(Args, Debug)]
pub struct ResumeArgs {
    /// The run's number in the history (see `cifar-tui runs`)
    pub id: i64,
    /// No interface: JSON lines on stdout, progress on stderr
    #[arg(long)]
    pub headless: bool,
    /// Write the full result as JSON [default: the file the run's first part was given]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Then resume these runs, one after another (how runs queued in an interface that was
    /// left go on)
    #[arg(long, value_name = "IDS", value_delimiter = ',', requires = "headless")]
    pub then: Vec<i64>,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Run numbers, comma-separated or repeated (e.g. 3,4,7): played side by side
    #[arg(required = true, value_delimiter = ',')]
    pub ids: Vec<i64>,
    /// Times faster than the runs trained (1: their own pace)
    #[arg(long, default_value_t = crate::app::REPLAY_SPEED, value_parser = speed)]
    pub speed: f64,
}

/// A replay's speed: a positive factor.
fn speed(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(k) if k.is_finite() && k > 0.0 && k <= 1e6 => Ok(k),
        _ => Err(format!(
            "`{text}` is not a speed: give a factor above 0, such as 1 (the runs' own pace) or 20"
        )),
    }
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Run numbers, comma-separated or repeated (e.g. 3,4,7)
    #[arg(required = true, value_delimiter = ',')]
    pub ids: Vec<i64>,
    #[arg(long, value_enum, default_value = "md")]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Run numbers, comma-separated or repeated (e.g. 3,4,7) [default: every finished run of
    /// the history, of the setting most of them share]
    #[arg(value_delimiter = ',', conflicts_with = "study")]
    pub ids: Vec<i64>,
    /// The finished runs of a study's scenarios: seed or lecun
    #[arg(long, value_name = "NAME")]
    pub study: Option<String>,
    /// The variant differences are measured against [default: the first scenario]
    #[arg(long, value_name = "NAME")]
    pub reference: Option<String>,
    /// Folder for report.html and its charts (made if missing)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Overrides of the configured hyper-parameters.
#[derive(Args, Debug, Clone, Default)]
pub struct Overrides {
    /// Epochs to train
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per Adam step
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Seed of initialisation, data order and dropout (with --seeds N: the first of N)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Repeat over seeds: a count N (seed, seed + 1, …) or a list such as 1,2,3
    /// [default: `seeds` in config.toml, else 1 for `run`, 3 for `study` on the CPU, 5 on a GPU]
    #[arg(long, value_name = "N|LIST", value_parser = Seeds::parse)]
    pub seeds: Option<Seeds>,
    /// Train on the first N training images only (the test set stays whole)
    #[arg(long, value_name = "N")]
    pub train_limit: Option<usize>,
    /// Hold out the last N training images to validate on (curves, per-epoch figures, tuning);
    /// the test set then scores each run once, at its end [default: `val_split` in
    /// config.toml, else 0: the test set validates, as in the seed notebook]
    #[arg(long, value_name = "N")]
    pub val_split: Option<usize>,
    /// Quick demo: 2 epochs (about 20 s on 2 cores), scored on the whole test set
    /// (--epochs still wins)
    #[arg(long)]
    pub quick: bool,
    /// Adam's learning rate (the schedule's start is `schedule_lr` in config.toml; under
    /// lr_schedule SGD starts at sgd_lr x schedule_lr / lr, so this moves SGD's start too)
    #[arg(long, value_name = "LR")]
    pub lr: Option<f64>,
    /// SGD's learning rate, plain or with momentum (under lr_schedule SGD starts at
    /// sgd_lr x schedule_lr / lr)
    #[arg(long, value_name = "LR")]
    pub sgd_lr: Option<f64>,
    /// The optimizer when sgd_momentum is not ticked: adam, sgd or sgd_momentum
    #[arg(long, value_name = "NAME")]
    pub optimizer: Option<OptimizerKind>,
    /// The loss when mse_targets is not ticked: cross_entropy or mse
    #[arg(long, value_name = "NAME")]
    pub loss: Option<LossKind>,
    /// The MSE loss's targets: one_hot or lecun
    #[arg(long, value_name = "NAME")]
    pub targets: Option<Targets>,
    /// Order of the training images when interleave_classes is not ticked: shuffled,
    /// sequential or interleaved
    #[arg(long, value_name = "NAME")]
    pub order: Option<Order>,
    /// weight_decay and l1 act from this epoch on (0: from the start)
    #[arg(long, value_name = "K")]
    pub regularize_after: Option<usize>,
}

impl Overrides {
    /// `--train-limit` as it will be trained and recorded: a limit at or past the training
    /// set's size is the whole set (a run asked for 99,999,999 images trains on 50,000 and must
    /// not be labelled otherwise).
    pub fn train_limit(&self) -> Option<usize> {
        self.train_limit
            .filter(|&n| n < cifar_engine::config::TRAIN_IMAGES)
    }
}

/// The quick demo's epochs: on the full training set even the baseline passes 0.5 test accuracy
/// after two (0.536 measured; on 20,000 images it stayed at 0.44).
pub const QUICK_EPOCHS: usize = 2;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// No interface: one JSON line per epoch on stdout, progress on stderr
    #[arg(long)]
    pub headless: bool,
    /// A preset: the seed study's (baseline, norm_inputs, lr_schedule, weight_decay,
    /// init_weights, dropout_dense, dropout_conv, dropout_both) or the lecun study's (lecun,
    /// lecun_no_TRICK)
    #[arg(long, conflicts_with = "tricks")]
    pub preset: Option<String>,
    /// Tricks to tick, comma-separated (e.g. norm_inputs,lr_schedule)
    #[arg(long)]
    pub tricks: Option<String>,
    #[command(flatten)]
    pub overrides: Overrides,
    /// Write the full result (configuration, per-epoch figures, test evaluation) as JSON
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct StudyArgs {
    /// No interface: progress on stderr, the comparison table on stdout
    #[arg(long)]
    pub headless: bool,
    /// The study to run: `seed` (the eight cumulative scenarios) or `lecun` (LeCun's recipe,
    /// then each of its tricks left out in turn)
    #[arg(long, default_value = "seed")]
    pub preset: String,
    #[command(flatten)]
    pub overrides: Overrides,
    /// Folder for one result JSON per run, the report as Markdown (study.md) and JSON
    /// (study.json)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Train nothing: the report of the finished runs already in the history (--history),
    /// grouped by scenario and seed
    #[arg(long)]
    pub report: bool,
    /// The scenario differences are measured against
    #[arg(long, default_value = "baseline", value_name = "NAME")]
    pub reference: String,
    /// Train every run anew. Without it, the same study run again takes up its own runs from
    /// the history: finished ones count as they are, interrupted or cancelled ones resume
    #[arg(long)]
    pub fresh: bool,
}

/// An error and its causes on one line, each cause once: our messages often quote their cause
/// already (`cannot read F: No such file`), and anyhow's `{:#}` would repeat it.
pub fn error_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain().map(ToString::to_string) {
        if line.is_empty() {
            line = cause;
        } else if !line.contains(&cause) {
            line = format!("{line}: {cause}");
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap's own checks of the whole command line (two arguments of one name in a
    /// subcommand, say), which otherwise only fire when that subcommand is used.
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn a_train_limit_past_the_training_set_is_the_whole_set() {
        let limit = |args: &[&str]| {
            let cli = Cli::try_parse_from(args).unwrap();
            let Some(Command::Run(run)) = cli.command else {
                panic!("not a run: {args:?}")
            };
            run.overrides.train_limit()
        };
        assert_eq!(
            limit(&["cifar-tui", "run", "--train-limit", "3000"]),
            Some(3000)
        );
        assert_eq!(
            limit(&["cifar-tui", "run", "--train-limit", "99999999"]),
            None
        );
        assert_eq!(limit(&["cifar-tui", "run", "--train-limit", "50000"]), None);
    }

    #[test]
    fn error_line_names_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let quoted = anyhow::Error::new(crate::settings::SettingsError::Read {
            path: "c.toml".into(),
            source: io,
        });
        assert_eq!(error_line(&quoted), "cannot read c.toml: no such file");
        let wrapped = anyhow::anyhow!("disk on fire").context("saving run 3");
        assert_eq!(error_line(&wrapped), "saving run 3: disk on fire");
    }
}
