//! The interface's settings between launches: the ticked tricks and the values edited, kept in
//! a small JSON file beside the history (`<history>.ui.json`), never in config.toml, which stays
//! the user's own. config.toml gives the defaults that `D` returns to.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use cifar_engine::config::Hyper;
use cifar_engine::tricks::Trick;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UiState {
    pub tricks: Vec<Trick>,
    pub hyper: Hyper,
    pub train_limit: Option<usize>,
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
        .hyper
        .validate()
        .map_err(|e| format!("{}: {e}; ignored", path.display()))?;
    Ok(Some(state))
}

/// Writes the file whole or not at all: a kill mid-write leaves the previous one.
pub fn save(path: &Path, state: &UiState) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(state)?)?;
    std::fs::rename(&tmp, path)
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
            tricks: vec![Trick::NormInputs],
            hyper: Hyper {
                epochs: 3,
                ..Default::default()
            },
            train_limit: Some(2000),
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
}
