//! Downloading the official archive: streamed to disk, size and MD5 checked, safely unpacked.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};

/// The official binary archive (Krizhevsky's page).
pub const URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";

/// What a good copy of an archive looks like.
#[derive(Clone, Copy, Debug)]
pub struct Expected {
    pub size: u64,
    pub md5: &'static str,
}

/// The official archive's size and MD5, as published on the CIFAR page.
pub const OFFICIAL: Expected = Expected {
    size: 170_052_171,
    md5: "c32a1d4ab5d03f1284b67883e8d87530",
};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "cannot download {url}: {reason}. Fix: check the network, or download it by hand and \
         pass --data DIR (the folder holding cifar-10-batches-bin/)"
    )]
    Http { url: String, reason: String },
    #[error(
        "{path}: got {actual} bytes, expected {expected}; the download was cut short or is not \
         the CIFAR-10 binary archive. It was deleted: try again"
    )]
    Size {
        path: PathBuf,
        actual: u64,
        expected: u64,
    },
    #[error(
        "{path}: MD5 {actual}, expected {expected}; the archive is corrupt or not the official one. \
         It was deleted: try again"
    )]
    Checksum {
        path: PathBuf,
        actual: String,
        expected: String,
    },
    #[error(
        "{archive}: entry `{entry}` would be written outside {target}; refusing to unpack a \
         tampered archive"
    )]
    UnsafeEntry {
        archive: PathBuf,
        entry: String,
        target: PathBuf,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Copies `reader` to `dest`, hashing on the way, and keeps the file only if its size and MD5
/// are the expected ones. `progress(done, total)` is called every 1 MiB or so.
pub fn save_verified(
    mut reader: impl Read,
    dest: &Path,
    expected: Expected,
    mut progress: impl FnMut(u64, u64),
) -> Result<(), FetchError> {
    let part = dest.with_extension("part");
    let result = (|| {
        let mut out = BufWriter::new(File::create(&part).map_err(io(&part))?);
        let mut hasher = Md5::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut done = 0u64;
        loop {
            let n = reader.read(&mut buf).map_err(io(&part))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(io(&part))?;
            done += n as u64;
            progress(done, expected.size);
            if done > expected.size {
                break;
            }
        }
        out.flush().map_err(io(&part))?;
        if done != expected.size {
            return Err(FetchError::Size {
                path: dest.to_path_buf(),
                actual: done,
                expected: expected.size,
            });
        }
        let actual = format!("{:x}", hasher.finalize());
        if actual != expected.md5 {
            return Err(FetchError::Checksum {
                path: dest.to_path_buf(),
                actual,
                expected: expected.md5.to_string(),
            });
        }
        std::fs::rename(&part, dest).map_err(io(dest))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result
}

/// Downloads `url` to `dest` and verifies it (see [`save_verified`]).
pub fn download(
    url: &str,
    dest: &Path,
    expected: Expected,
    progress: impl FnMut(u64, u64),
) -> Result<(), FetchError> {
    let http = |reason: String| FetchError::Http {
        url: url.to_string(),
        reason,
    };
    // A stalled connection fails after a minute instead of hanging the first start forever.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .build()
        .into();
    let response = agent.get(url).call().map_err(|e| http(e.to_string()))?;
    let reader = response.into_body().into_reader();
    save_verified(reader, dest, expected, progress)
}

/// True when an archive path stays inside the folder it is unpacked into: relative, and no
/// `..`, root or drive prefix anywhere.
fn stays_inside(path: &Path) -> bool {
    path.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Unpacks a `.tar.gz` into `target`. Every entry is checked before anything is written: a
/// path that escapes `target`, or a link, fails the whole archive. Only files and folders are
/// unpacked.
pub fn extract(archive: &Path, target: &Path) -> Result<(), FetchError> {
    let open = || -> Result<_, FetchError> {
        let file = File::open(archive).map_err(io(archive))?;
        Ok(tar::Archive::new(flate2::read::GzDecoder::new(file)))
    };
    let unsafe_entry = |entry: String| FetchError::UnsafeEntry {
        archive: archive.to_path_buf(),
        entry,
        target: target.to_path_buf(),
    };

    // First pass: inspect every header, so a bad entry late in the archive writes nothing.
    let mut tar = open()?;
    for entry in tar.entries().map_err(io(archive))? {
        let entry = entry.map_err(io(archive))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        let path = entry.path().map_err(io(archive))?;
        if !stays_inside(&path) || !(kind.is_file() || kind.is_dir()) {
            return Err(unsafe_entry(raw));
        }
    }

    std::fs::create_dir_all(target).map_err(io(target))?;
    let mut tar = open()?;
    for entry in tar.entries().map_err(io(archive))? {
        let mut entry = entry.map_err(io(archive))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        // unpack_in refuses escaping paths too, returning false: treat that as fatal.
        if !entry.unpack_in(target).map_err(io(target))? {
            return Err(unsafe_entry(raw));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5_of(bytes: &[u8]) -> &'static str {
        Box::leak(format!("{:x}", Md5::digest(bytes)).into_boxed_str())
    }

    #[test]
    fn keeps_a_file_with_the_right_size_and_md5() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("a.tar.gz");
        let body = vec![7u8; 3_000_000];
        let expected = Expected {
            size: body.len() as u64,
            md5: md5_of(&body),
        };
        let mut calls = Vec::new();
        save_verified(&body[..], &dest, expected, |d, t| calls.push((d, t))).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), body);
        assert_eq!(calls.last(), Some(&(3_000_000, 3_000_000)));
        assert!(calls.len() >= 3, "progress is reported as it goes");
    }

    #[test]
    fn checksum_failure_deletes_the_file_and_says_both_sums() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("a.tar.gz");
        let body = b"not the archive you are looking for";
        let expected = Expected {
            size: body.len() as u64,
            md5: OFFICIAL.md5,
        };
        let err = save_verified(&body[..], &dest, expected, |_, _| {}).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, FetchError::Checksum { .. }));
        assert!(
            msg.contains(OFFICIAL.md5) && msg.contains(md5_of(body)),
            "{msg}"
        );
        assert!(!dest.exists() && !dest.with_extension("part").exists());
    }

    #[test]
    fn short_download_is_a_size_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("a.tar.gz");
        let err = save_verified(&b"abc"[..], &dest, OFFICIAL, |_, _| {}).unwrap_err();
        assert!(matches!(err, FetchError::Size { actual: 3, .. }), "{err}");
        assert!(!dest.exists());
    }

    /// A gzipped tar whose entries are written with raw names, so tests can forge bad ones.
    fn forge_archive(path: &Path, entries: &[(&str, tar::EntryType, &[u8])]) {
        let gz =
            flate2::write::GzEncoder::new(File::create(path).unwrap(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for (name, kind, data) in entries {
            let mut header = tar::Header::new_old();
            let raw = &mut header.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            if kind.is_symlink() {
                header.set_link_name("/etc/passwd").unwrap();
            }
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap();
    }

    #[test]
    fn extracts_a_good_archive() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("good.tar.gz");
        forge_archive(
            &archive,
            &[
                ("cifar-10-batches-bin/", tar::EntryType::Directory, b""),
                (
                    "cifar-10-batches-bin/x.bin",
                    tar::EntryType::Regular,
                    b"hello",
                ),
            ],
        );
        let target = tmp.path().join("out");
        extract(&archive, &target).unwrap();
        assert_eq!(
            std::fs::read(target.join("cifar-10-batches-bin/x.bin")).unwrap(),
            b"hello"
        );
    }

    #[test]
    fn refuses_entries_that_escape_and_writes_nothing() {
        for (bad, kind) in [
            ("../escaped.txt", tar::EntryType::Regular),
            (
                "cifar-10-batches-bin/../../escaped.txt",
                tar::EntryType::Regular,
            ),
            ("/tmp/absolute-escape.txt", tar::EntryType::Regular),
            ("cifar-10-batches-bin/link", tar::EntryType::Symlink),
        ] {
            let tmp = tempfile::tempdir().unwrap();
            let archive = tmp.path().join("evil.tar.gz");
            forge_archive(
                &archive,
                &[
                    (
                        "cifar-10-batches-bin/ok.bin",
                        tar::EntryType::Regular,
                        b"ok",
                    ),
                    (bad, kind, b"pwned"),
                ],
            );
            let target = tmp.path().join("deep/out");
            let err = extract(&archive, &target).unwrap_err();
            assert!(
                matches!(err, FetchError::UnsafeEntry { .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains(bad), "{err}");
            assert!(!target.exists(), "{bad}: nothing is written");
            assert!(!tmp.path().join("deep/escaped.txt").exists());
        }
    }
}
