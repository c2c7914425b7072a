//! What cifar-tui takes from the system: the signals that should stop it cleanly (Ctrl-C,
//! SIGTERM, SIGHUP), and files written whole or not at all.

use std::io::Write;
use std::path::Path;

/// Resolves at the first of SIGINT, SIGTERM or SIGHUP (a closed SSH session).
#[cfg(unix)]
pub async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = hup.recv() => {}
    }
}

#[cfg(not(unix))]
pub async fn stop_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

/// Writes each file whole or not at all: every one into a temporary file in its own folder,
/// synced, and only then each renamed to its name. A kill or a full disk midway leaves the old
/// files (or none), never a truncated one beside a complete one; on failure the temporary files
/// are removed (after a kill, a `.cifar-tui-partial-*` file may stay).
pub fn write_whole(files: &[(&Path, &[u8])]) -> std::io::Result<()> {
    let mut ready = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        let dir = match path.parent() {
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
        ready.push((tmp, *path));
    }
    for (tmp, path) in ready {
        tmp.persist(path).map_err(|e| e.error)?;
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
    }
}
