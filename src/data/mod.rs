//! Finding, fetching and loading CIFAR-10.

pub mod cifar;
pub mod fetch;

use std::path::{Path, PathBuf};

pub use cifar::{CLASSES, ChannelStats, Cifar10, Split};

/// Where getting the data stands, for a progress line.
#[derive(Clone, Debug, PartialEq)]
pub enum DataProgress {
    Downloading { done: u64, total: u64 },
    Extracting,
    Loading { dir: PathBuf },
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Cifar(#[from] cifar::CifarError),
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
}

/// Finds the data (downloading it into `cache` when `dir` is not given and the cache is empty)
/// and loads it into memory.
///
/// An explicit `dir` is never written to: a person who points at a folder owns it.
pub fn obtain(
    dir: Option<&Path>,
    cache: &Path,
    mut progress: impl FnMut(DataProgress),
) -> Result<Cifar10, DataError> {
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None => {
            if cifar::batches_dir(cache).is_err() {
                fetch_into(cache, &mut progress)?;
            }
            cache.to_path_buf()
        }
    };
    progress(DataProgress::Loading { dir: dir.clone() });
    Ok(cifar::load(&dir)?)
}

/// Downloads, verifies and unpacks the official archive into `cache`, then deletes the archive.
fn fetch_into(cache: &Path, progress: &mut impl FnMut(DataProgress)) -> Result<(), DataError> {
    let io = |source| fetch::FetchError::Io {
        path: cache.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(cache).map_err(io)?;
    let archive = cache.join("cifar-10-binary.tar.gz");
    if !archive.exists() {
        fetch::download(fetch::URL, &archive, fetch::OFFICIAL, |done, total| {
            progress(DataProgress::Downloading { done, total })
        })?;
    }
    progress(DataProgress::Extracting);
    // Unpack beside the final folder, then move it in: a half-unpacked folder never looks done.
    let staging = cache.join(".unpacking");
    let _ = std::fs::remove_dir_all(&staging);
    fetch::extract(&archive, &staging)?;
    std::fs::rename(
        staging.join(cifar::BATCHES_DIR),
        cache.join(cifar::BATCHES_DIR),
    )
    .map_err(io)?;
    let _ = std::fs::remove_dir_all(&staging);
    let _ = std::fs::remove_file(&archive);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_folder_is_loaded_without_touching_the_cache() {
        let tmp = tempfile::tempdir().unwrap();
        cifar::tests::write_dataset(tmp.path());
        let cache = tmp.path().join("cache");
        let mut seen = Vec::new();
        let data = obtain(Some(tmp.path()), &cache, |p| seen.push(p)).unwrap();
        assert_eq!(data.test.len(), 10_000);
        assert!(!cache.exists());
        assert!(matches!(seen[..], [DataProgress::Loading { .. }]));
    }

    #[test]
    fn a_filled_cache_is_used_without_downloading() {
        let tmp = tempfile::tempdir().unwrap();
        cifar::tests::write_dataset(tmp.path());
        let data = obtain(None, tmp.path(), |p| {
            assert!(!matches!(p, DataProgress::Downloading { .. }))
        })
        .unwrap();
        assert_eq!(data.train.len(), 50_000);
    }
}
