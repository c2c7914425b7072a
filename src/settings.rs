//! `config.toml`: app settings and the default hyper-parameters, kept apart.

use std::path::{Path, PathBuf};

/// How charts are drawn (`[app] charts` in config.toml).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Charts {
    /// Braille unless the terminal is a console known to lack it.
    #[default]
    Auto,
    Braille,
    /// Blocks and dots: for fonts and consoles without braille.
    Blocks,
}

use serde::{Deserialize, Serialize};

use crate::run::variants::Seeds;
use cifar_engine::config::Hyper;
use cifar_engine::events::DeviceChoice;
use cifar_engine::tricks::Trick;

/// Settings of the app itself, not of training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppSettings {
    /// Folder holding `cifar-10-batches-bin/` (or that folder). Unset: the user's cache, where
    /// the data is downloaded on first start.
    pub data_dir: Option<PathBuf>,
    /// The run history database. Unset: `history.db` in the user's data folder.
    pub history: Option<PathBuf>,
    pub device: DeviceChoice,
    /// Most frames drawn per second.
    pub fps: u32,
    /// Most runs training at once. Unset: 8 on a GPU (one run leaves most of it idle), 1 on
    /// the CPU (one run already keeps every core busy).
    pub parallel: Option<usize>,
    /// "auto" (braille unless TERM names a console without it), "braille" or "blocks".
    pub charts: Charts,
    /// Seeds each run and each study scenario is trained on. Unset: a run once, a study on 3
    /// seeds (CPU) or 5 (GPU).
    pub seeds: Option<Seeds>,
    /// Clicks and the wheel (an extra: every action has its key). Off leaves the mouse to the
    /// terminal, for selecting text.
    pub mouse: bool,
    /// When a study's last run ends: the terminal bell and a desktop notification (OSC 9).
    pub notify: bool,
    /// What `q` asked twice does while runs train: stop them (resumable) or leave them
    /// training in processes of their own; the question offers the other as well.
    pub on_quit: OnQuit,
    /// How test images are drawn: the terminal's graphics protocol where it answers the
    /// query for one (kitty, sixel, iTerm2), else half-blocks; or half-blocks always.
    pub images: Images,
}

/// How pictures are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Images {
    /// Asked of the terminal at start (ratatui-image's query), half-blocks when it says none.
    #[default]
    Auto,
    /// Unicode half-blocks, which any colour terminal shows: for a terminal that answers the
    /// query wrongly, or a multiplexer that passes no graphics.
    Halfblocks,
}

/// What quitting does to the runs that train.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnQuit {
    /// They stop between two steps, resumable (`R`, `cifar-tui resume`).
    #[default]
    Stop,
    /// Each goes on in a detached `cifar-tui resume ID --headless`.
    Leave,
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            data_dir: None,
            history: None,
            device: DeviceChoice::Auto,
            fps: 30,
            parallel: None,
            charts: Default::default(),
            seeds: None,
            mouse: true,
            notify: true,
            on_quit: OnQuit::Stop,
            images: Images::Auto,
        }
    }
}

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Tricks ticked at start.
    pub tricks: Vec<Trick>,
    pub app: AppSettings,
    /// Hyper-parameter defaults, all editable in the UI.
    pub train: Hyper,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} does not exist. Fix: pass the path of a config.toml, or leave --config out")]
    Missing { path: PathBuf },
    #[error(
        "{path} is a symbolic link to {target}, which does not exist. Fix: restore {target}, or \
         pass another file"
    )]
    DanglingLink { path: PathBuf, target: PathBuf },
    #[error(
        "{path} is a folder, not a settings file. Fix: pass a file, such as {path}/config.toml"
    )]
    Folder { path: PathBuf },
    #[error(
        "{path} is not a text file (not UTF-8), so not a cifar-tui config.toml. Fix: pass the \
         right file, or save it as UTF-8"
    )]
    NotText { path: PathBuf },
    #[error("{path}: {message}. Fix that line, or delete it to use the default")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: [train] {source}. Fix the value or delete the line to use the default")]
    Range {
        path: PathBuf,
        source: cifar_engine::config::OutOfRange,
    },
    #[error("{path}: [app] fps = {fps} is out of range: 1 to 120")]
    Fps { path: PathBuf, fps: u32 },
    #[error(
        "{path}: [app] parallel = {parallel} is out of range: 1 to 64. Fix the value, or delete \
         the line for the default (8 on a GPU, 1 on the CPU)"
    )]
    Parallel { path: PathBuf, parallel: usize },
    #[error(
        "{path}: [app] seeds: {why}. Fix the value (a count such as 3, or a list such as [1, 2, 3]), \
         or delete the line for the default"
    )]
    Seeds { path: PathBuf, why: String },
}

/// toml's own message spans four lines (position, the line, a caret, the reason); a terminal
/// notice and a log line want one: `line 3, column 6: extra `=`, expected nothing (in `lr = = 2`)`.
fn one_line(e: &toml::de::Error, text: &str) -> String {
    let reason = e.message().trim().replace('\n', "; ");
    let Some(mut at) = e.span().map(|s| s.start.min(text.len())) else {
        return reason;
    };
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    let quoted: String = line.chars().take(60).collect();
    format!(
        "line {}, column {}: {reason} (in `{quoted}`)",
        text[..at].matches('\n').count() + 1,
        text[line_start..at].chars().count() + 1,
    )
}

impl Settings {
    /// Parses and checks a file's text; `path` names it in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, SettingsError> {
        let settings: Settings = toml::from_str(text).map_err(|e| SettingsError::Parse {
            path: path.to_path_buf(),
            message: one_line(&e, text),
        })?;
        settings
            .train
            .validate()
            .map_err(|source| SettingsError::Range {
                path: path.to_path_buf(),
                source,
            })?;
        if !(1..=120).contains(&settings.app.fps) {
            return Err(SettingsError::Fps {
                path: path.to_path_buf(),
                fps: settings.app.fps,
            });
        }
        if let Some(parallel) = settings.app.parallel.filter(|n| !(1..=64).contains(n)) {
            return Err(SettingsError::Parallel {
                path: path.to_path_buf(),
                parallel,
            });
        }
        if let Some(Err(why)) = settings.app.seeds.as_ref().map(Seeds::check) {
            return Err(SettingsError::Seeds {
                path: path.to_path_buf(),
                why,
            });
        }
        Ok(settings)
    }

    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let path_buf = path.to_path_buf();
        if path.is_dir() {
            return Err(SettingsError::Folder { path: path_buf });
        }
        let text = std::fs::read_to_string(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => match std::fs::read_link(path) {
                Ok(target) => SettingsError::DanglingLink {
                    path: path_buf.clone(),
                    target,
                },
                Err(_) => SettingsError::Missing {
                    path: path_buf.clone(),
                },
            },
            std::io::ErrorKind::InvalidData => SettingsError::NotText {
                path: path_buf.clone(),
            },
            _ => SettingsError::Read {
                path: path_buf.clone(),
                source,
            },
        })?;
        Self::parse(&text, path)
    }

    /// Whether a file's text is meant for cifar-tui: it has a `[train]` or `[app]` table or a
    /// `tricks` list. Text that is not valid TOML is judged by its lines, so a typo in our own
    /// file is still reported rather than skipped.
    fn is_ours(text: &str) -> bool {
        const KEYS: [&str; 3] = ["train", "app", "tricks"];
        match toml::from_str::<toml::Table>(text) {
            Ok(table) => KEYS.iter().any(|k| table.contains_key(*k)),
            Err(_) => text.lines().map(str::trim).any(|l| {
                l.starts_with("[train]") || l.starts_with("[app]") || l.starts_with("tricks")
            }),
        }
    }

    /// The file to read: `explicit` (must exist), else `./config.toml` when it is a cifar-tui
    /// config (another project's config.toml in the same folder is not ours to refuse), else
    /// the user's config folder's, else none (defaults).
    pub fn locate(explicit: Option<&Path>, user_dir: Option<&Path>) -> Option<PathBuf> {
        if let Some(p) = explicit {
            return Some(p.to_path_buf());
        }
        let local = PathBuf::from("config.toml");
        if local.is_file() && std::fs::read_to_string(&local).is_ok_and(|text| Self::is_ours(&text))
        {
            return Some(local);
        }
        user_dir
            .map(|d| d.join("config.toml"))
            .filter(|p| p.is_file())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, SettingsError> {
        Settings::parse(text, Path::new("config.toml"))
    }

    #[test]
    fn the_shipped_config_toml_parses_to_the_defaults() {
        let text = include_str!("../config.toml");
        assert_eq!(parse(text).unwrap(), Settings::default());
    }

    #[test]
    fn partial_files_keep_defaults_for_the_rest() {
        let s = parse("tricks = [\"norm_inputs\"]\n[train]\nepochs = 3\n").unwrap();
        assert_eq!(s.train.epochs, 3);
        assert_eq!(s.train.batch_size, 64);
        assert_eq!(s.tricks, [Trick::NormInputs]);
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let msg = parse("[train]\nepochs = 3\nlr = = 2\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("config.toml") && msg.contains("line 3"),
            "{msg}"
        );
        assert!(
            msg.contains("column 6") && msg.contains("`lr = = 2`"),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "one line: {msg}");
    }

    #[test]
    fn unknown_keys_and_tricks_are_named() {
        let msg = parse("[train]\nepoch = 3\n").unwrap_err().to_string();
        assert!(msg.contains("epoch") && msg.contains("line 2"), "{msg}");
        let msg = parse("tricks = [\"warp_drive\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("warp_drive") && msg.contains("norm_inputs"),
            "{msg}"
        );
        let msg = parse("[app]\ndevice = \"tpu\"\n").unwrap_err().to_string();
        assert!(msg.contains("tpu"), "{msg}");
    }

    #[test]
    fn only_a_cifar_tui_config_is_ours() {
        assert!(Settings::is_ours(include_str!("../config.toml")));
        assert!(Settings::is_ours("[train]\nepochs = 3\n"));
        assert!(Settings::is_ours("tricks = [\"norm_inputs\"]\n"));
        assert!(
            Settings::is_ours("[train]\nlr = = 2\n"),
            "a typo is still ours"
        );
        assert!(!Settings::is_ours("[package]\nname = \"other\"\n"));
        assert!(!Settings::is_ours(
            "[server]\nport = 80\n[database]\nurl = \"x\"\n"
        ));
        assert!(!Settings::is_ours(""));
    }

    #[test]
    fn unreadable_files_are_named_with_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let msg = Settings::load(tmp.path()).unwrap_err().to_string();
        assert!(msg.contains("is a folder") && msg.contains("Fix"), "{msg}");
        let binary = tmp.path().join("c.toml");
        std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x80]).unwrap();
        let msg = Settings::load(&binary).unwrap_err().to_string();
        assert!(
            msg.contains("not a text file") && msg.contains("Fix"),
            "{msg}"
        );
        let missing = tmp.path().join("none.toml");
        let msg = Settings::load(&missing).unwrap_err().to_string();
        assert!(
            msg.contains("does not exist") && msg.contains("Fix"),
            "{msg}"
        );
        #[cfg(unix)]
        {
            let link = tmp.path().join("link.toml");
            std::os::unix::fs::symlink(&missing, &link).unwrap();
            let msg = Settings::load(&link).unwrap_err().to_string();
            assert!(
                msg.contains("symbolic link") && msg.contains("none.toml"),
                "{msg}"
            );
        }
    }

    #[test]
    fn lecuns_settings_parse_and_bad_ones_are_named() {
        use cifar_engine::config::{LossKind, OptimizerKind, Order, Targets};
        let s = parse(
            "[train]\nloss = \"mse\"\ntargets = \"lecun\"\noptimizer = \"sgd_momentum\"\n\
             sgd_lr = 0.05\nmomentum = 0.5\norder = \"interleaved\"\nzca_epsilon = 0.1\n\
             regularize_after = 2\n",
        )
        .unwrap();
        let t = &s.train;
        assert_eq!((t.loss, t.targets), (LossKind::Mse, Targets::Lecun));
        assert_eq!(t.optimizer, OptimizerKind::SgdMomentum);
        assert_eq!((t.sgd_lr, t.momentum), (0.05, 0.5));
        assert_eq!(
            (t.order, t.zca_epsilon, t.regularize_after),
            (Order::Interleaved, 0.1, 2)
        );
        let msg = parse("[train]\noptimizer = \"rmsprop\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("rmsprop") && msg.contains("sgd_momentum") && msg.contains("line 2"),
            "{msg}"
        );
        for (text, field) in [
            ("[train]\nmomentum = 1.0\n", "momentum"),
            ("[train]\nsgd_lr = 0.0\n", "sgd_lr"),
            ("[train]\nzca_epsilon = 0.0\n", "zca_epsilon"),
        ] {
            let msg = parse(text).unwrap_err().to_string();
            assert!(msg.contains(field) && msg.contains("out of range"), "{msg}");
        }
    }

    #[test]
    fn out_of_range_values_are_refused() {
        for (text, field) in [
            ("[train]\nlr = -0.001\n", "lr"),
            ("[train]\ndropout = 1.0\n", "dropout"),
            ("[train]\nbatch_size = 0\n", "batch_size"),
            ("[train]\nepochs = 0\n", "epochs"),
        ] {
            let msg = parse(text).unwrap_err().to_string();
            assert!(msg.contains(field) && msg.contains("out of range"), "{msg}");
        }
        assert!(parse("[app]\nfps = 0\n").is_err());
        assert!(parse("[app]\nparallel = 0\n").is_err());
        assert_eq!(
            parse("[app]\ncharts = \"blocks\"\n").unwrap().app.charts,
            Charts::Blocks
        );
        assert!(parse("[app]\ncharts = \"ascii\"\n").is_err());
        assert_eq!(
            parse("[app]\nparallel = 4\n").unwrap().app.parallel,
            Some(4)
        );
        assert_eq!(
            parse("[app]\nseeds = 3\n").unwrap().app.seeds,
            Some(Seeds::Count(3))
        );
        assert_eq!(
            parse("[app]\nseeds = [1, 2, 3]\n").unwrap().app.seeds,
            Some(Seeds::List(vec![1, 2, 3]))
        );
        for bad in ["seeds = 0", "seeds = []", "seeds = [1, 1]"] {
            let msg = parse(&format!("[app]\n{bad}\n")).unwrap_err().to_string();
            assert!(msg.contains("seeds") && msg.contains("Fix"), "{bad}: {msg}");
        }
    }
}
