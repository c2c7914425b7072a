//! The interface's settings between launches: the ticked tricks and the values edited, kept in
//! a small JSON file beside the history (`<history>.ui.json`), never in config.toml, which stays
//! the user's own. config.toml gives the defaults that `D` returns to.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use cifar_engine::config::Hyper;
use cifar_engine::tricks::Trick;

/// The settings of the left panel that are kept: ticked tricks, values, training images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub tricks: Vec<Trick>,
    pub hyper: Hyper,
    pub train_limit: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UiState {
    /// As the person left them.
    #[serde(flatten)]
    pub chosen: Settings,
    /// config.toml's (and the command line's) settings when these were chosen: a value
    /// changed there since wins over the remembered one. `None` in files of older versions.
    #[serde(default)]
    pub config: Option<Settings>,
}

impl UiState {
    /// The settings to start from, given the config's now: each value as remembered, except
    /// where the config's value changed since (an edit to config.toml, another `--config`),
    /// which wins. Also the names of the values taken from the config for that reason.
    pub fn over(&self, config: &Settings) -> (Settings, Vec<String>) {
        let Some(then) = &self.config else {
            return (self.chosen.clone(), Vec::new());
        };
        let value = |s: &Settings| serde_json::to_value(s).unwrap_or_default();
        let mut taken = Vec::new();
        let mut merged = value(&self.chosen);
        merge(&mut merged, &value(then), &value(config), "", &mut taken);
        match serde_json::from_value(merged) {
            Ok(settings) => (settings, taken),
            // Cannot happen for values of one type; the config is the safe side if it does.
            Err(_) => (config.clone(), vec!["all".into()]),
        }
    }
}

/// Field by field (into nested tables): where `then` and `now` differ, `now` replaces `chosen`.
fn merge(
    chosen: &mut serde_json::Value,
    then: &serde_json::Value,
    now: &serde_json::Value,
    name: &str,
    taken: &mut Vec<String>,
) {
    use serde_json::Value::Object;
    match (chosen, then, now) {
        (Object(c), Object(t), Object(n)) => {
            for (key, value) in c.iter_mut() {
                if let (Some(t), Some(n)) = (t.get(key), n.get(key)) {
                    merge(value, t, n, key, taken);
                }
            }
        }
        (chosen, then, now) if then != now => {
            if chosen != now {
                taken.push(name.to_string());
            }
            *chosen = now.clone();
        }
        _ => {}
    }
}

/// The state file of a history: `history.db` → `history.db.ui.json`.
pub fn path_beside(history: &Path) -> PathBuf {
    let mut name = history.as_os_str().to_os_string();
    name.push(".ui.json");
    PathBuf::from(name)
}

/// The saved state; `Ok(None)` when there is none yet. A file that does not parse, or holds
/// values the settings refuse, is an error naming it: the caller starts from the defaults.
pub fn load(path: &Path) -> Result<Option<UiState>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let state: UiState = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a settings file ({e}); ignored", path.display()))?;
    state
        .chosen
        .hyper
        .validate()
        .map_err(|e| format!("{}: {e}; ignored", path.display()))?;
    Ok(Some(state))
}

/// Writes the file whole or not at all: a kill mid-write leaves the previous one.
pub fn save(path: &Path, state: &UiState) -> std::io::Result<()> {
    crate::sys::write_whole(&[(path, &serde_json::to_vec_pretty(state)?)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_state_reads_back_and_a_bad_one_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let path = path_beside(&tmp.path().join("h.db"));
        assert_eq!(path, tmp.path().join("h.db.ui.json"));
        assert_eq!(load(&path), Ok(None), "none yet");
        let state = UiState {
            chosen: Settings {
                tricks: vec![Trick::NormInputs],
                hyper: Hyper {
                    epochs: 3,
                    ..Default::default()
                },
                train_limit: Some(2000),
            },
            config: None,
        };
        save(&path, &state).unwrap();
        assert_eq!(load(&path), Ok(Some(state)));
        std::fs::write(&path, "{not json").unwrap();
        let err = load(&path).unwrap_err();
        assert!(
            err.contains("h.db.ui.json") && err.contains("ignored"),
            "{err}"
        );
    }

    #[test]
    fn a_value_changed_in_the_config_since_wins_over_the_remembered_one() {
        let config = |epochs, lr| Settings {
            tricks: vec![],
            hyper: Hyper {
                epochs,
                lr,
                ..Default::default()
            },
            train_limit: None,
        };
        let mut chosen = config(11, 5e-4);
        chosen.tricks = vec![Trick::NormInputs];
        let state = UiState {
            chosen: chosen.clone(),
            config: Some(config(10, 1e-3)),
        };
        // config.toml unchanged: everything as left.
        assert_eq!(state.over(&config(10, 1e-3)), (chosen.clone(), vec![]));
        // epochs edited in config.toml since: its value wins, the rest stays as left.
        let (now, taken) = state.over(&config(5, 1e-3));
        assert_eq!((now.hyper.epochs, now.hyper.lr), (5, 5e-4));
        assert_eq!(now.tricks, [Trick::NormInputs]);
        assert_eq!(taken, ["epochs"]);
        // A file of an older version, without the config's values: as left.
        let old = UiState {
            config: None,
            ..state
        };
        assert_eq!(old.over(&config(5, 1e-3)).0, chosen);
    }
}
