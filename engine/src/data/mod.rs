//! Finding, fetching and loading CIFAR-10.

pub mod cifar;
pub mod fetch;
#[cfg(test)]
pub(crate) mod toy;

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
    #[error("{}", with_fix(source, fix))]
    Cifar { source: cifar::CifarError, fix: Fix },
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
}

/// How a damaged copy is mended: a folder the person gave is theirs to repair, the cache is
/// cifar-tui's to fill again.
#[derive(Debug, Clone, PartialEq)]
pub enum Fix {
    Given,
    Cache(PathBuf),
}

impl std::fmt::Display for Fix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fix::Given => write!(
                f,
                "Fix: restore the file from cifar-10-binary.tar.gz, or point --data (or data_dir \
                 in config.toml) at a complete copy"
            ),
            Fix::Cache(dir) => write!(
                f,
                "Fix: delete {} so cifar-tui downloads it again",
                dir.join(cifar::BATCHES_DIR).display()
            ),
        }
    }
}

fn with_fix(source: &cifar::CifarError, fix: &Fix) -> String {
    if source.needs_fix() {
        format!("{source}. {fix}")
    } else {
        source.to_string()
    }
}

/// Finds the data (downloading it into `cache` when `dir` is not given and the cache is empty)
/// and loads it into memory.
///
/// An explicit `dir` is never written to: a person who points at a folder owns it.
pub fn obtain(
    dir: Option<&Path>,
    cache: &Path,
    progress: impl FnMut(DataProgress),
) -> Result<Cifar10, DataError> {
    obtain_from(fetch::URL, fetch::OFFICIAL, dir, cache, progress)
}

fn obtain_from(
    url: &str,
    expected: fetch::Expected,
    dir: Option<&Path>,
    cache: &Path,
    mut progress: impl FnMut(DataProgress),
) -> Result<Cifar10, DataError> {
    let (dir, fix) = match dir {
        Some(dir) => (dir.to_path_buf(), Fix::Given),
        None => {
            if cifar::batches_dir(cache).is_err() {
                fetch_into(url, expected, cache, &mut progress)?;
            }
            (cache.to_path_buf(), Fix::Cache(cache.to_path_buf()))
        }
    };
    progress(DataProgress::Loading { dir: dir.clone() });
    cifar::load(&dir).map_err(|source| DataError::Cifar { source, fix })
}

/// Downloads, verifies and unpacks the official archive into `cache`, then deletes the archive.
fn fetch_into(
    url: &str,
    expected: fetch::Expected,
    cache: &Path,
    progress: &mut impl FnMut(DataProgress),
) -> Result<(), DataError> {
    let io = |source| fetch::FetchError::Io {
        path: cache.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(cache).map_err(io)?;
    let archive = cache.join("cifar-10-binary.tar.gz");
    if !archive.exists() {
        fetch::download(url, &archive, expected, |done, total| {
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

    /// Serves `body` once over HTTP on a local port; returns its URL.
    fn serve_once(body: Vec<u8>) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/cifar-10-binary.tar.gz",
            listener.local_addr().unwrap()
        );
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = conn.read(&mut request);
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body);
        });
        url
    }

    #[test]
    fn first_start_downloads_verifies_unpacks_and_loads() {
        let tmp = tempfile::tempdir().unwrap();
        // An archive laid out like the official one, made from a valid data set.
        cifar::tests::write_dataset(&tmp.path().join("src"));
        let archive = tmp.path().join("a.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&archive).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        tar.append_dir_all(
            cifar::BATCHES_DIR,
            tmp.path().join("src").join(cifar::BATCHES_DIR),
        )
        .unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        let body = std::fs::read(&archive).unwrap();
        let md5: &'static str =
            Box::leak(format!("{:x}", <md5::Md5 as md5::Digest>::digest(&body)).into_boxed_str());
        let expected = fetch::Expected {
            size: body.len() as u64,
            md5,
        };
        let cache = tmp.path().join("cache");
        let mut seen = Vec::new();
        let data =
            obtain_from(&serve_once(body), expected, None, &cache, |p| seen.push(p)).unwrap();
        assert_eq!((data.train.len(), data.test.len()), (50_000, 10_000));
        assert!(matches!(seen[0], DataProgress::Downloading { .. }));
        assert!(seen.contains(&DataProgress::Extracting));
        assert!(
            !cache.join("cifar-10-binary.tar.gz").exists(),
            "archive removed"
        );
        assert!(!cache.join(".unpacking").exists());
        // Second start: from the cache, no download.
        let again = obtain(None, &cache, |p| {
            assert!(!matches!(p, DataProgress::Downloading { .. }))
        });
        assert_eq!(again.unwrap().test, data.test);
    }

    #[test]
    fn a_bad_download_is_refused_and_nothing_is_left_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        let url = serve_once(b"<html>captive portal</html>".to_vec());
        let err = obtain_from(&url, fetch::OFFICIAL, None, &cache, |_| {}).unwrap_err();
        assert!(err.to_string().contains("expected 170052171"), "{err}");
        assert!(!cache.join("cifar-10-binary.tar.gz").exists());
    }

    #[test]
    fn the_fix_for_a_damaged_copy_depends_on_whose_folder_it_is() {
        let tmp = tempfile::tempdir().unwrap();
        let inner = cifar::tests::write_dataset(tmp.path());
        std::fs::write(inner.join("test_batch.bin"), b"short").unwrap();
        let given = obtain(Some(tmp.path()), &tmp.path().join("c"), |_| {})
            .unwrap_err()
            .to_string();
        assert!(
            given.contains("truncated") && given.contains("point --data"),
            "{given}"
        );
        assert!(!given.contains("downloads it again"), "{given}");
        let cached = obtain(None, tmp.path(), |_| {}).unwrap_err().to_string();
        assert!(
            cached.contains(&format!(
                "delete {} so cifar-tui downloads it again",
                inner.display()
            )),
            "{cached}"
        );
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
