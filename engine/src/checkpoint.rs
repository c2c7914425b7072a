//! Model and optimizer state after an epoch, on disk, so a killed run can continue.
//!
//! `dir/epoch-K/{model,optim}.bin` holds the state after K epochs. Each is written to a
//! temporary folder and renamed into place, so a kill mid-write leaves the previous one whole.
//! Data order, learning rate and dropout masks are functions of (seed, epoch) and need no state.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::AutodiffBackend;

use crate::model::{Adam, Cnn};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot write the checkpoint in {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error(
        "cannot read the checkpoint after epoch {epoch} in {path}: {reason}. Fix: start the run \
         again (the checkpoint is missing or damaged)"
    )]
    Read {
        path: PathBuf,
        epoch: usize,
        reason: String,
    },
}

fn recorder() -> BinFileRecorder<FullPrecisionSettings> {
    BinFileRecorder::new()
}

pub fn epoch_dir(dir: &Path, epochs_done: usize) -> PathBuf {
    dir.join(format!("epoch-{epochs_done}"))
}

/// Saves the state after `epochs_done` epochs and removes older ones.
pub fn save<B: AutodiffBackend>(
    dir: &Path,
    epochs_done: usize,
    model: &Cnn<B>,
    optim: &Adam<B>,
) -> Result<(), CheckpointError> {
    let fail = |path: &Path, reason: String| CheckpointError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let tmp = dir.join(format!(".tmp-epoch-{epochs_done}"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| fail(&tmp, e.to_string()))?;
    Recorder::<B>::record(&recorder(), model.clone().into_record(), tmp.join("model"))
        .map_err(|e| fail(&tmp, e.to_string()))?;
    Recorder::<B>::record(&recorder(), optim.to_record(), tmp.join("optim"))
        .map_err(|e| fail(&tmp, e.to_string()))?;
    let done = epoch_dir(dir, epochs_done);
    let _ = std::fs::remove_dir_all(&done);
    std::fs::rename(&tmp, &done).map_err(|e| fail(&done, e.to_string()))?;
    for older in 0..epochs_done {
        let _ = std::fs::remove_dir_all(epoch_dir(dir, older));
    }
    Ok(())
}

/// Loads the state after `epochs_done` epochs into a freshly built model and optimizer.
pub fn load<B: AutodiffBackend>(
    dir: &Path,
    epochs_done: usize,
    model: Cnn<B>,
    optim: Adam<B>,
    device: &B::Device,
) -> Result<(Cnn<B>, Adam<B>), CheckpointError> {
    let path = epoch_dir(dir, epochs_done);
    let fail = |reason: String| CheckpointError::Read {
        path: path.clone(),
        epoch: epochs_done,
        reason,
    };
    let model_record = Recorder::<B>::load(&recorder(), path.join("model"), device)
        .map_err(|e| fail(e.to_string()))?;
    let optim_record = Recorder::<B>::load(&recorder(), path.join("optim"), device)
        .map_err(|e| fail(e.to_string()))?;
    Ok((
        model.load_record(model_record),
        optim.load_record(optim_record),
    ))
}

/// The last complete checkpoint in `dir`, if any.
pub fn latest(dir: &Path) -> Option<usize> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name();
            name.to_str()?.strip_prefix("epoch-")?.parse().ok()
        })
        .max()
}
