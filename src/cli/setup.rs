//! What every mode needs before it starts: settings, folders, the log file.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::cli::settings::Settings;
use crate::cli::{Cli, Overrides};
use crate::store::job::Places;
use cifar_engine::config::Hyper;
use cifar_engine::events::DeviceChoice;
use cifar_engine::tricks::{self, TrickSet};

/// Resolved settings and folders.
pub struct Context {
    pub settings: Settings,
    /// An explicit data folder (flag, then config), or `None` for the cache.
    pub data_dir: Option<PathBuf>,
    /// Where CIFAR-10 is downloaded when no folder is given.
    pub cache_dir: PathBuf,
    pub device: DeviceChoice,
    pub log_file: PathBuf,
    /// Where runs are kept.
    pub places: Places,
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
        let places = Places {
            checkpoints: history
                .parent()
                .unwrap_or(Path::new("."))
                .join("checkpoints"),
            history,
        };
        Ok(Self {
            places,
            data_dir: cli.data.clone().or_else(|| settings.app.data_dir.clone()),
            device: cli.device.unwrap_or(settings.app.device),
            log_file: cache_dir.join("cifar-tui.log"),
            cache_dir,
            settings,
        })
    }

    /// The configured hyper-parameters with command-line overrides, checked.
    pub fn hyper(&self, o: &Overrides) -> Result<Hyper> {
        let mut h = self.settings.train.clone();
        let quick = o.quick.then_some(crate::cli::QUICK_EPOCHS);
        h.epochs = o.epochs.or(quick).unwrap_or(h.epochs);
        h.batch_size = o.batch_size.unwrap_or(h.batch_size);
        h.seed = o.seed.unwrap_or(h.seed);
        h.validate().context("bad command-line value")?;
        Ok(h)
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

/// Sends tracing to a log file (never to the screen the UI owns). Returns the guard that
/// flushes it on drop; logging is skipped, not fatal, when the file cannot be opened.
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
