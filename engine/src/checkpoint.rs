//! Model and optimizer state after an epoch, on disk, so a killed run can continue.
//!
//! `dir/epoch-K/{model.bin,optim.bin,owner.json}` holds the state after K epochs and whose it
//! is. Each is written to a temporary folder and renamed into place, so a kill mid-write leaves
//! the previous one whole. Saving never removes an older checkpoint: the caller does that with
//! [`prune`] once its own record of the epoch is durable (write, commit, then prune).
//! Data order, learning rate and dropout masks are functions of (seed, epoch) and need no state.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::record::{BinBytesRecorder, BinFileRecorder, FullPrecisionSettings, Recorder};
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::kernels::TrainBackend;
use crate::model::Cnn;
use crate::optim::Optim;

const MANIFEST: &str = "owner.json";
const TMP_PREFIX: &str = ".tmp-epoch-";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(
        "cannot write the checkpoint after epoch {epoch} in {path}: {reason}; its partial files \
         were removed and the run goes on, resumable from its previous checkpoint"
    )]
    Write {
        path: PathBuf,
        epoch: usize,
        reason: String,
    },
    #[error(
        "cannot read the checkpoint after epoch {epoch} in {path}: {reason}. The run stays \
         resumable. Fix: free the file (disk, permissions) and resume it again, or start the \
         run anew if the checkpoint is missing or damaged"
    )]
    Read {
        path: PathBuf,
        epoch: usize,
        reason: String,
    },
    #[error(
        "the checkpoint in {path} belongs to {found}, not to {expected}; it was refused and \
         left alone. Fix: start the run anew"
    )]
    Foreign {
        path: PathBuf,
        found: String,
        expected: String,
    },
}

/// Whose a checkpoint is: one run of one history. A checkpoint is only loaded by its owner,
/// with the configuration it was trained with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The history's file name (its checkpoints live in a folder named after it).
    pub history: String,
    /// The run's number in that history.
    pub run: i64,
    /// When the run was created: tells it from a run with the same number in a history
    /// recreated under the same name.
    pub created: String,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "run #{} of {} (created {})",
            self.run, self.history, self.created
        )
    }
}

/// What `owner.json` holds.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Manifest {
    owner: Owner,
    epochs_done: usize,
    config: TrainConfig,
}

/// A run's checkpoint folder and its owner.
#[derive(Clone, Copy, Debug)]
pub struct Slot<'a> {
    pub dir: &'a Path,
    pub owner: &'a Owner,
}

fn recorder() -> BinFileRecorder<FullPrecisionSettings> {
    BinFileRecorder::new()
}

pub fn epoch_dir(dir: &Path, epochs_done: usize) -> PathBuf {
    dir.join(format!("epoch-{epochs_done}"))
}

/// An I/O error in words a person acts on.
fn describe(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::StorageFull => "the disk is full. Fix: free space on it".into(),
        std::io::ErrorKind::PermissionDenied => {
            "permission denied. Fix: make the folder writable".into()
        }
        _ => e.to_string(),
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    // On disk before the rename publishes it, so a power cut cannot publish a hole.
    file.sync_all()
}

/// Saves the state after `epochs_done` epochs. Older checkpoints stay (see [`prune`]).
pub fn save<B: TrainBackend>(
    slot: Slot,
    config: &TrainConfig,
    epochs_done: usize,
    model: &Cnn<B>,
    optim: &Optim<B>,
) -> Result<(), CheckpointError> {
    // Encoded in memory and written here, so a failed write keeps its io::Error.
    let (model, optim) = encode(model, optim).map_err(|reason| CheckpointError::Write {
        path: slot.dir.to_path_buf(),
        epoch: epochs_done,
        reason,
    })?;
    let manifest = Manifest {
        owner: slot.owner.clone(),
        epochs_done,
        config: config.clone(),
    };
    let manifest = serde_json::to_vec_pretty(&manifest).map_err(|e| CheckpointError::Write {
        path: slot.dir.to_path_buf(),
        epoch: epochs_done,
        reason: e.to_string(),
    })?;
    let files = [
        ("model.bin", model.as_slice()),
        ("optim.bin", optim.as_slice()),
        (MANIFEST, manifest.as_slice()),
    ];
    publish(slot.dir, epochs_done, &files, write_file)
}

/// The model's and the optimizer's records as the checkpoint's bytes.
pub(crate) fn encode<B: TrainBackend>(
    model: &Cnn<B>,
    optim: &Optim<B>,
) -> Result<(Vec<u8>, Vec<u8>), String> {
    let bytes = BinBytesRecorder::<FullPrecisionSettings>::default();
    let model = Recorder::<B>::record(&bytes, model.clone().into_record(), ())
        .map_err(|e| e.to_string())?;
    let optim = optim.to_bytes().map_err(|e| e.to_string())?;
    Ok((model, optim))
}

/// Writes `files` into a temporary folder and renames it to `epoch-K`. On any failure the
/// temporary folder is removed, so a full disk is not kept full by a partial checkpoint.
fn publish(
    dir: &Path,
    epochs_done: usize,
    files: &[(&str, &[u8])],
    write: impl Fn(&Path, &[u8]) -> std::io::Result<()>,
) -> Result<(), CheckpointError> {
    // Leftovers of a process killed mid-write.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let tmp = dir.join(format!("{TMP_PREFIX}{epochs_done}"));
    let done = epoch_dir(dir, epochs_done);
    let result = (|| {
        std::fs::create_dir_all(&tmp).map_err(|e| (tmp.clone(), e))?;
        for (name, bytes) in files {
            let path = tmp.join(name);
            write(&path, bytes).map_err(|e| (path, e))?;
        }
        let _ = std::fs::remove_dir_all(&done);
        std::fs::rename(&tmp, &done).map_err(|e| (done.clone(), e))
    })();
    result.map_err(|(path, e)| {
        let _ = std::fs::remove_dir_all(&tmp);
        CheckpointError::Write {
            path,
            epoch: epochs_done,
            reason: describe(&e),
        }
    })
}

fn read_manifest(dir: &Path, epochs_done: usize) -> Result<Manifest, CheckpointError> {
    let path = epoch_dir(dir, epochs_done).join(MANIFEST);
    let fail = |reason: String| CheckpointError::Read {
        path: path.clone(),
        epoch: epochs_done,
        reason,
    };
    let text = std::fs::read(&path).map_err(|e| fail(describe(&e)))?;
    serde_json::from_slice(&text).map_err(|e| fail(e.to_string()))
}

/// Checks that the checkpoint after `epochs_done` epochs is the slot owner's, trained with
/// `config`.
fn check(slot: Slot, config: &TrainConfig, epochs_done: usize) -> Result<(), CheckpointError> {
    let m = read_manifest(slot.dir, epochs_done)?;
    let path = epoch_dir(slot.dir, epochs_done);
    if m.owner != *slot.owner || m.epochs_done != epochs_done {
        return Err(CheckpointError::Foreign {
            path,
            found: format!("{} after epoch {}", m.owner, m.epochs_done),
            expected: slot.owner.to_string(),
        });
    }
    if m.config != *config {
        let fields = m.config.diff(config).join(", ");
        return Err(CheckpointError::Foreign {
            path,
            found: format!("a configuration that differs in {fields}"),
            expected: format!("{}'s configuration", slot.owner),
        });
    }
    Ok(())
}

/// Loads the state after `epochs_done` epochs into a freshly built model and optimizer,
/// after checking that the checkpoint is the slot owner's and was trained with `config`.
pub fn load<B: TrainBackend>(
    slot: Slot,
    config: &TrainConfig,
    epochs_done: usize,
    model: Cnn<B>,
    optim: Optim<B>,
    device: &B::Device,
) -> Result<(Cnn<B>, Optim<B>), CheckpointError> {
    check(slot, config, epochs_done)?;
    let path = epoch_dir(slot.dir, epochs_done);
    let fail = |reason: String| CheckpointError::Read {
        path: path.clone(),
        epoch: epochs_done,
        reason,
    };
    let model_record = Recorder::<B>::load(&recorder(), path.join("model"), device)
        .map_err(|e| fail(e.to_string()))?;
    let optim = optim
        .load_file(&path.join("optim"), device)
        .map_err(|e| fail(e.to_string()))?;
    Ok((model.load_record(model_record), optim))
}

/// Epoch counts of the `epoch-K` folders in `dir`, complete or not, in no order.
pub fn epoch_folders(dir: &Path) -> impl Iterator<Item = usize> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let name = e.ok()?.file_name();
            name.to_str()?.strip_prefix("epoch-")?.parse().ok()
        })
}

/// Epoch counts of the complete checkpoints in `dir` (whoever owns them), ascending.
pub fn complete(dir: &Path) -> Vec<usize> {
    let mut found: Vec<usize> = epoch_folders(dir)
        .filter(|&k| epoch_dir(dir, k).join(MANIFEST).is_file())
        .collect();
    found.sort_unstable();
    found
}

/// The newest checkpoint of the slot's owner, trained with `config`, that is at most
/// `at_most` epochs in (the epochs its caller's record vouches for).
pub fn newest(slot: Slot, config: &TrainConfig, at_most: usize) -> Option<usize> {
    complete(slot.dir)
        .into_iter()
        .rev()
        .filter(|&k| k <= at_most)
        .find(|&k| check(slot, config, k).is_ok())
}

/// Removes the checkpoints older than `keep`, once `epoch-keep` is complete: call it after
/// the epoch is recorded, so the newest checkpoint the record vouches for is never removed.
pub fn prune(dir: &Path, keep: usize) {
    let all = complete(dir);
    if !all.contains(&keep) {
        return;
    }
    for older in all.into_iter().filter(|&k| k < keep) {
        let _ = std::fs::remove_dir_all(epoch_dir(dir, older));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(run: i64) -> Owner {
        Owner {
            history: "a.db".into(),
            run,
            created: "2024-01-01T00:00:00Z".into(),
        }
    }

    fn files() -> [(&'static str, &'static [u8]); 3] {
        [
            ("model.bin", b"model"),
            ("optim.bin", b"optim"),
            (MANIFEST, b"{}"),
        ]
    }

    #[test]
    fn a_full_disk_is_said_in_words_and_leaves_no_partial_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        publish(tmp.path(), 1, &files(), write_file).unwrap();
        // The second file gets half written, then the disk is full.
        let full = |path: &Path, bytes: &[u8]| {
            if path.ends_with("optim.bin") {
                std::fs::write(path, &bytes[..2])?;
                return Err(std::io::Error::from_raw_os_error(28));
            }
            write_file(path, bytes)
        };
        let err = publish(tmp.path(), 2, &files(), full).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("the disk is full"), "{msg}");
        assert!(!msg.contains("Os {"), "{msg}");
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, ["epoch-1"], "the partial epoch-2 is gone");
        assert_eq!(
            std::fs::read(epoch_dir(tmp.path(), 1).join("optim.bin")).unwrap(),
            b"optim"
        );
    }

    #[test]
    fn saving_keeps_older_checkpoints_until_pruned() {
        let tmp = tempfile::tempdir().unwrap();
        for k in 1..=3 {
            publish(tmp.path(), k, &files(), write_file).unwrap();
        }
        // A folder killed mid-write is neither complete nor kept by the next save.
        std::fs::create_dir_all(tmp.path().join("epoch-9")).unwrap();
        assert_eq!(complete(tmp.path()), [1, 2, 3]);
        prune(tmp.path(), 4);
        assert_eq!(complete(tmp.path()), [1, 2, 3], "epoch-4 is not there");
        prune(tmp.path(), 3);
        assert_eq!(complete(tmp.path()), [3]);
    }

    #[test]
    fn a_checkpoint_of_another_run_or_config_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let config = TrainConfig::baseline(&crate::config::Hyper::default());
        let mine = owner(1);
        let manifest = Manifest {
            owner: mine.clone(),
            epochs_done: 1,
            config: config.clone(),
        };
        let json = serde_json::to_vec(&manifest).unwrap();
        let mut files = files();
        files[2].1 = &json;
        publish(tmp.path(), 1, &files, write_file).unwrap();
        let slot = Slot {
            dir: tmp.path(),
            owner: &mine,
        };
        assert!(check(slot, &config, 1).is_ok());
        assert_eq!(newest(slot, &config, 5), Some(1));

        let other_history = Owner {
            history: "b.db".into(),
            ..mine.clone()
        };
        let recreated = Owner {
            created: "2025-01-01T00:00:00Z".into(),
            ..mine.clone()
        };
        for stranger in [owner(2), other_history, recreated] {
            let slot = Slot {
                dir: tmp.path(),
                owner: &stranger,
            };
            let err = check(slot, &config, 1).unwrap_err();
            assert!(matches!(err, CheckpointError::Foreign { .. }), "{err}");
            assert!(err.to_string().contains("run #1 of a.db"), "{err}");
            assert_eq!(newest(slot, &config, 5), None);
        }
        let mut other = config.clone();
        other.seed += 1;
        let err = check(slot, &other, 1).unwrap_err();
        assert!(err.to_string().contains("differs in seed"), "{err}");
        assert_eq!(
            newest(slot, &config, 0),
            None,
            "beyond what the record vouches"
        );
    }
}
