//! `config.toml`: app settings and the default hyper-parameters, kept apart.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            data_dir: None,
            history: None,
            device: DeviceChoice::Auto,
            fps: 30,
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
    #[error("{path}: {message}. Fix that line, or delete it to use the default")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: [train] {source}. Fix the value or delete the line to use the default")]
    Range {
        path: PathBuf,
        source: cifar_engine::config::OutOfRange,
    },
    #[error("{path}: [app] fps = {fps} is out of range: 1 to 120")]
    Fps { path: PathBuf, fps: u32 },
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
        Ok(settings)
    }

    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// The file to read: `explicit` (must exist), else `./config.toml`, else the user's config
    /// folder's, else none (defaults).
    pub fn locate(explicit: Option<&Path>, user_dir: Option<&Path>) -> Option<PathBuf> {
        if let Some(p) = explicit {
            return Some(p.to_path_buf());
        }
        let local = PathBuf::from("config.toml");
        if local.is_file() {
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
        let text = include_str!("../../config.toml");
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
    }
}
