//! What cifar-tui takes from the system: the signals that should stop it cleanly (Ctrl-C,
//! SIGTERM, SIGHUP), and files written whole or not at all.

use std::io::Write;
use std::path::Path;

/// A signal that ends the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Ctrl-C or SIGTERM: stop.
    Asked,
    /// SIGHUP: the terminal went away (a closed SSH session, a closed window).
    HangUp,
}

/// Resolves at the first of SIGINT, SIGTERM or SIGHUP, saying which kind.
#[cfg(unix)]
pub async fn stop_signal() -> Stop {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return Stop::Asked;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => Stop::Asked,
        _ = term.recv() => Stop::Asked,
        _ = hup.recv() => Stop::HangUp,
    }
}

#[cfg(not(unix))]
pub async fn stop_signal() -> Stop {
    let _ = tokio::signal::ctrl_c().await;
    Stop::Asked
}

/// Writes each file whole or not at all: every one into a temporary file in its own folder,
/// synced, and only then each renamed to its name. A kill or a full disk midway leaves the old
/// files (or none), never a truncated one beside a complete one; on failure the temporary files
/// are removed (after a kill, a `.cifar-tui-partial-*` file may stay).
///
/// A link is followed (the file it names is replaced, not the link). Where the name is not a
/// file (`/dev/stdout`, `/dev/full`, a FIFO) there is nothing to rename over: it is written
/// directly, last.
pub fn write_whole(files: &[(&Path, &[u8])]) -> std::io::Result<()> {
    let mut ready = Vec::with_capacity(files.len());
    let mut direct = Vec::new();
    for &(path, bytes) in files {
        let target = match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => {
                std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
            }
            _ => path.to_path_buf(),
        };
        if std::fs::metadata(&target).is_ok_and(|m| !m.is_file()) {
            direct.push((target, bytes));
            continue;
        }
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix(".cifar-tui-partial-");
        // As a plain create would make it (the umask applies), not tempfile's owner-only.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let mut tmp = builder.tempfile_in(dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        ready.push((tmp, target));
    }
    for (tmp, path) in ready {
        tmp.persist(path).map_err(|e| e.error)?;
    }
    for (path, bytes) in direct {
        let mut file = std::fs::OpenOptions::new().write(true).open(&path)?;
        file.write_all(bytes)?;
        file.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_written_whole_or_left_as_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let (md, json) = (dir.path().join("study.md"), dir.path().join("study.json"));
        std::fs::write(&md, "old table").unwrap();
        write_whole(&[(&md, b"new table"), (&json, b"{}")]).unwrap();
        assert_eq!(std::fs::read_to_string(&md).unwrap(), "new table");
        assert_eq!(std::fs::read_to_string(&json).unwrap(), "{}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&md).unwrap().permissions().mode();
            assert_ne!(
                mode & 0o044,
                0,
                "readable by others as a plain write makes it: {mode:o}"
            );
        }

        // The second cannot be written (its folder is gone): the first is not touched either.
        let gone = dir.path().join("gone/study.json");
        assert!(write_whole(&[(&md, b"newer"), (&gone, b"{}")]).is_err());
        assert_eq!(std::fs::read_to_string(&md).unwrap(), "new table");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(".cifar-tui-partial-"))
            .collect();
        assert!(left.is_empty(), "partial files left: {left:?}");

        // Through a link, the file it names is replaced and the link stays.
        #[cfg(unix)]
        {
            let link = dir.path().join("latest.md");
            std::os::unix::fs::symlink(&md, &link).unwrap();
            write_whole(&[(&link, b"via link")]).unwrap();
            assert!(
                std::fs::symlink_metadata(&link)
                    .unwrap()
                    .file_type()
                    .is_symlink()
            );
            assert_eq!(std::fs::read_to_string(&md).unwrap(), "via link");
        }
        // Not a file: written in place, never renamed over (a device stays a device).
        let null = Path::new("/dev/null");
        if null.exists() {
            write_whole(&[(null, b"x")]).unwrap();
            assert!(
                !std::fs::metadata(null).unwrap().is_file(),
                "/dev/null replaced"
            );
        }
        let full = Path::new("/dev/full");
        if full.exists() {
            assert!(write_whole(&[(full, b"x")]).is_err(), "a full disk says so");
            assert!(
                !std::fs::metadata(full).unwrap().is_file(),
                "/dev/full replaced"
            );
        }
    }
}
