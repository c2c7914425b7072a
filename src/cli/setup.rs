//! What every mode needs before it starts: settings, folders, the log file.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::app::{WGPU_PARALLEL, per_gpu};
use crate::cli::{Cli, Overrides};
use crate::run::variants::Seeds;
use crate::settings::Settings;
use crate::store::lifecycle::Storage;
use cifar_engine::config::{Hyper, TRAIN_IMAGES, TrainConfig};
use cifar_engine::events::{DeviceChoice, DeviceKind};
use cifar_engine::tricks::{self, TrickSet};

/// Resolved settings and folders.
#[derive(Clone)]
pub struct Context {
    pub settings: Settings,
    /// An explicit data folder (flag, then config), or `None` for the cache.
    pub data_dir: Option<PathBuf>,
    /// `--data` itself: on `resume` it wins over the folder stored with the run.
    pub data_flag: Option<PathBuf>,
    /// Where CIFAR-10 is downloaded when no folder is given.
    pub cache_dir: PathBuf,
    pub device: DeviceChoice,
    /// Most runs training at once, when asked (flag, then config); see [`Context::parallel_on`].
    pub parallel: Option<usize>,
    pub log_file: PathBuf,
    /// Where runs are kept.
    pub storage: Storage,
    /// The sweep folder the interface follows (`--sweep`).
    pub sweep: Option<PathBuf>,
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "cifar-tui")
}

impl Context {
    pub fn new(cli: &Cli) -> Result<Self> {
        let dirs = project_dirs();
        let path = Settings::locate(cli.config.as_deref(), dirs.as_ref().map(|d| d.config_dir()));
        let settings = match &path {
            Some(p) => Settings::load(p)?,
            None => Settings::default(),
        };
        let cache_dir = match &dirs {
            Some(d) => d.cache_dir().to_path_buf(),
            None => std::env::temp_dir().join("cifar-tui"),
        };
        let history = cli
            .history
            .clone()
            .or_else(|| settings.app.history.clone())
            .unwrap_or_else(|| match &dirs {
                Some(d) => d.data_dir().join("history.db"),
                None => std::env::temp_dir().join("cifar-tui/history.db"),
            });
        let storage = Storage {
            checkpoints: history
                .parent()
                .unwrap_or(Path::new("."))
                .join("checkpoints"),
            history,
        };
        Ok(Self {
            storage,
            data_dir: cli.data.clone().or_else(|| settings.app.data_dir.clone()),
            data_flag: cli.data.clone(),
            device: cli.device.unwrap_or(settings.app.device),
            parallel: cli.parallel.map(usize::from).or(settings.app.parallel),
            log_file: cache_dir.join("cifar-tui.log"),
            sweep: cli.sweep.as_deref().map(super::absolute),
            cache_dir,
            settings,
        })
    }

    /// Most runs training at once on `device`: as asked, else 8 per GPU (one run leaves most
    /// of it idle) and 1 on the CPU (one run keeps every core busy already).
    pub fn parallel_on(&self, device: DeviceKind) -> usize {
        self.parallel.unwrap_or(match device {
            DeviceKind::Cuda => self.gpu_parallel(),
            // A laptop's GPU, or one without CUDA: not measured on hardware yet (lavapipe, a
            // software GPU, trained two at once no faster than one after the other), so two.
            DeviceKind::Wgpu => WGPU_PARALLEL,
            DeviceKind::Cpu => 1,
        })
    }

    /// Runs at once on GPUs when not asked: [`GPU_PARALLEL`] for each GPU the runs go to (all
    /// the driver shows under `cuda:all`, else one).
    pub fn gpu_parallel(&self) -> usize {
        per_gpu(self.device, cifar_engine::backend::gpu_count)
    }

    /// The seeds to train on: `--seeds`, then `seeds` in config.toml, else `default`; a count
    /// starts at `first` (the configured seed).
    pub fn seeds(&self, o: &Overrides, first: u64, default: Seeds) -> Vec<u64> {
        o.seeds
            .clone()
            .or_else(|| self.settings.app.seeds.clone())
            .unwrap_or(default)
            .list(first)
    }

    /// The configured hyper-parameters with command-line overrides, checked.
    pub fn hyper(&self, o: &Overrides) -> Result<Hyper> {
        let mut h = self.settings.train.clone();
        let quick = o.quick.then_some(crate::cli::QUICK_EPOCHS);
        h.epochs = o.epochs.or(quick).unwrap_or(h.epochs);
        h.batch_size = o.batch_size.unwrap_or(h.batch_size);
        h.seed = o.seed.unwrap_or(h.seed);
        h.lr = o.lr.unwrap_or(h.lr);
        h.sgd_lr = o.sgd_lr.unwrap_or(h.sgd_lr);
        h.optimizer = o.optimizer.unwrap_or(h.optimizer);
        h.loss = o.loss.unwrap_or(h.loss);
        h.targets = o.targets.unwrap_or(h.targets);
        h.order = o.order.unwrap_or(h.order);
        h.regularize_after = o.regularize_after.unwrap_or(h.regularize_after);
        h.val_split = o.val_split.unwrap_or(h.val_split);
        h.validate().context("bad command-line value")?;
        // Checked here, before the data loads, not by the engine after.
        if o.train_limit == Some(0) {
            bail!(
                "--train-limit 0 is out of range: at least 1 image. Fix: give a positive number, \
                 or leave it out to train on all {TRAIN_IMAGES}"
            );
        }
        Ok(h)
    }

    /// Refuses a configuration that would not fit in memory, before any work. GPU memory is
    /// the CUDA runtime's to report, so an explicit `--device cuda` is not checked.
    /// `runs` is how many train side by side (`--parallel`), which share only the loaded data.
    pub fn check_memory(&self, cfg: &TrainConfig, runs: usize) -> Result<()> {
        if self.device.is_gpu() {
            return Ok(());
        }
        match available_memory() {
            Some(available) => memory_verdict(cfg, runs, available).map_err(anyhow::Error::msg),
            None => Ok(()),
        }
    }

    /// Tricks from `--preset` or `--tricks`, else those ticked in the settings.
    pub fn tricks(&self, preset: Option<&str>, list: Option<&str>) -> Result<TrickSet> {
        Ok(match (preset, list) {
            (Some(p), _) => tricks::preset(p)?.trick_set(),
            (None, Some(l)) => tricks::parse_tricks(l)?,
            (None, None) => self.settings.tricks.iter().copied().collect(),
        })
    }
}

fn size(bytes: u64) -> String {
    if bytes >= 1_000_000_000 {
        format!("{:.1} GB", bytes as f64 / 1e9)
    } else {
        format!("{} MB", bytes / 1_000_000)
    }
}

/// Whether `runs` runs of `cfg` side by side fit in `available` bytes; if not, the figures and
/// what fits: fewer runs at once, or a smaller batch.
pub fn memory_verdict(cfg: &TrainConfig, runs: usize, available: u64) -> Result<(), String> {
    let need = cfg.memory_estimate();
    let runs = runs.max(1);
    if need.at_once(runs) <= available {
        return Ok(());
    }
    let fits = cfg.largest_batch_within(available, runs);
    let mut smaller = cfg.clone();
    smaller.batch_size = fits;
    let mut fixes = Vec::new();
    if let Some(k) = (1..runs).rev().find(|&k| need.at_once(k) <= available) {
        fixes.push(format!("use --parallel {k}"));
    }
    if smaller.memory_estimate().at_once(runs) <= available {
        fixes.push(format!(
            "use --batch-size {fits} or smaller (or batch_size in config.toml)"
        ));
    }
    let fix = match fixes.is_empty() {
        true if runs > 1 => "free some memory first; even one run does not fit".to_string(),
        true => "free some memory first; even batch_size 1 does not fit".to_string(),
        false => fixes.join(", or "),
    };
    let what = match runs {
        1 => format!("batch_size {} needs", cfg.batch_size),
        n => format!(
            "{n} runs side by side at batch_size {} need",
            cfg.batch_size
        ),
    };
    let each = if runs > 1 { " each" } else { "" };
    Err(format!(
        "{what} about {} of memory ({} activations{each}, {} data), but {} is available. \
         Fix: {fix}",
        size(need.at_once(runs)),
        size(need.activations),
        size(need.shared + runs as u64 * need.data),
        size(available)
    ))
}

/// Whether one more run of `cfg` fits in `available` bytes beside `training` runs already
/// training in this process (which `available`, read now, already leaves out, as it does the
/// loaded data).
pub fn room_beside(cfg: &TrainConfig, training: usize, available: u64) -> Result<(), String> {
    let e = cfg.memory_estimate();
    let need = e.total() - e.shared;
    if need <= available {
        return Ok(());
    }
    let beside = match training {
        0 => String::new(),
        1 => " beside the run training".to_string(),
        n => format!(" beside the {n} runs training"),
    };
    Err(format!(
        "not enough memory to start{beside}: batch_size {} needs about {} more, {} is \
         available. Fix: let a run finish first (a lower `parallel` in the settings), or use a \
         smaller batch size",
        cfg.batch_size,
        size(need),
        size(available)
    ))
}

/// The first number of the line of `text` that starts with `key`.
fn field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// Memory this process may still take, in bytes: the least of the kernel's `MemAvailable`, the
/// cgroup's `memory.max` less its usage, and the address-space limit (`ulimit -v`, which makes
/// an allocation abort) less this process's size. Read from /proc and /sys (no crate needed);
/// `None` where none of them can be read. `CIFAR_TUI_TEST_MEMORY` (bytes) stands in for all
/// three in tests.
pub fn available_memory() -> Option<u64> {
    if let Some(bytes) = std::env::var("CIFAR_TUI_TEST_MEMORY")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return Some(bytes);
    }
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let kb = 1024;
    let mem = read("/proc/meminfo").and_then(|t| field(&t, "MemAvailable:"));
    let cgroup = read("/sys/fs/cgroup/memory.max")
        .and_then(|max| max.trim().parse::<u64>().ok())
        .map(|max| {
            let used = read("/sys/fs/cgroup/memory.current")
                .and_then(|c| c.trim().parse::<u64>().ok())
                .unwrap_or(0);
            max.saturating_sub(used)
        });
    let address_space = read("/proc/self/limits")
        .and_then(|t| field(&t, "Max address space"))
        .map(|limit| {
            let size = read("/proc/self/status")
                .and_then(|t| field(&t, "VmSize:"))
                .unwrap_or(0);
            limit.saturating_sub(size * kb)
        });
    [mem.map(|m| m * kb), cgroup, address_space]
        .into_iter()
        .flatten()
        .min()
}

/// Sends tracing to a log file (never to the screen the UI owns). Returns the guard that
/// flushes it on drop; logging is skipped, not fatal, when the file cannot be opened.
/// Asks glibc's allocator to keep the memory a training step frees for the next step instead
/// of handing it back to the kernel and faulting it in again: each CPU step allocates and frees
/// its activations (tens of MB), and with glibc's defaults the 10,000-image evaluation ran at
/// 6,000 img/s against 11,100 with these settings (BENCHMARKS.md, row 14). Retained memory
/// stays below the process's peak. Other C libraries are left as they are.
#[allow(unsafe_code)] // mallopt is a C call
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called first thing in main, before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}

pub fn logging(file: &Path) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = file.parent()?;
    std::fs::create_dir_all(dir).ok()?;
    let appender = tracing_appender::rolling::never(dir, file.file_name()?);
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("CIFAR_TUI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .ok()?;
    Some(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_little_memory_is_refused_with_the_figures_and_a_batch_that_fits() {
        let mut cfg = TrainConfig::baseline(&Hyper::default());
        cfg.batch_size = 4096;
        // 4096 × 328,616 B of activations + 369.18 MB of data + 1.96 MB of parameters.
        let need = 1_346_011_136 + 369_180_000 + 1_961_120;
        assert_eq!(cfg.memory_estimate().total(), need);
        assert_eq!(memory_verdict(&cfg, 1, need), Ok(()));
        let msg = memory_verdict(&cfg, 1, 1_000_000_000).unwrap_err();
        assert_eq!(
            msg,
            "batch_size 4096 needs about 1.7 GB of memory (1.3 GB activations, 369 MB data), \
             but 1.0 GB is available. Fix: use --batch-size 1024 or smaller (or batch_size in \
             config.toml)"
        );
        let msg = memory_verdict(&cfg, 1, 100_000_000).unwrap_err();
        assert!(msg.contains("even batch_size 1 does not fit"), "{msg}");
    }

    #[test]
    fn a_run_joining_others_is_sized_alone() {
        let cfg = TrainConfig::baseline(&Hyper::default());
        let e = cfg.memory_estimate();
        let own = e.total() - e.shared;
        assert_eq!(room_beside(&cfg, 2, own), Ok(()));
        let msg = room_beside(&cfg, 2, own - 1).unwrap_err();
        assert!(
            msg.starts_with(
                "not enough memory to start beside the 2 runs training: batch_size 64 needs \
                 about 400 MB more, 400 MB is available"
            ),
            "{msg}"
        );
    }

    /// Runs side by side each need their activations, parameters and device copy; only the
    /// loaded records are shared. What fits one run at a time does not fit three.
    #[test]
    fn runs_side_by_side_are_sized_together() {
        let cfg = TrainConfig::baseline(&Hyper::default());
        let e = cfg.memory_estimate();
        let (one, three) = (e.at_once(1), e.at_once(3));
        assert_eq!(memory_verdict(&cfg, 1, three - 1), Ok(()));
        let msg = memory_verdict(&cfg, 3, three - 1).unwrap_err();
        assert!(
            msg.starts_with("3 runs side by side at batch_size 64 need about 1.4 GB of memory")
                && msg.ends_with("Fix: use --parallel 2"),
            "{msg}"
        );
        assert_eq!(memory_verdict(&cfg, 3, three), Ok(()));
        let msg = memory_verdict(&cfg, 2, one - 1).unwrap_err();
        assert!(msg.ends_with("even one run does not fit"), "{msg}");
    }

    #[test]
    fn proc_fields_are_read_by_their_key() {
        let meminfo = "MemTotal:       16000000 kB\nMemAvailable:    8000000 kB\n";
        assert_eq!(field(meminfo, "MemAvailable:"), Some(8_000_000));
        let limits = "Max stack size            8388608              unlimited            bytes\n\
                      Max address space         8000000000           unlimited            bytes\n";
        assert_eq!(field(limits, "Max address space"), Some(8_000_000_000));
        let unlimited =
            "Max address space         unlimited            unlimited            bytes\n";
        assert_eq!(field(unlimited, "Max address space"), None);
        assert!(available_memory().is_some_and(|b| b > 0));
    }
}
