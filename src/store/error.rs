//! What can go wrong with the history ([`StoreError`]), and how SQLite's answers are named.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{path} is not a cifar-tui history database ({reason}); it was left untouched. \
         Fix: move it away, or pass --history FILE to use another"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "the history {path} is damaged ({reason}); it was left untouched. Fix: restore it from \
         a backup, or salvage what is readable with `sqlite3 {path} .recover | sqlite3 \
         recovered.db` and pass --history recovered.db, or move it away to start a new history"
    )]
    Damaged { path: PathBuf, reason: String },
    #[error(
        "the history {path} is read-only ({reason}); nothing was written to it. Fix: make the \
         file and its folder writable, or pass --history FILE to keep new runs elsewhere"
    )]
    ReadOnly { path: PathBuf, reason: String },
    #[error(
        "the history {path} is locked by another process ({reason}). Fix: end the program that \
         holds it (an open sqlite3 shell, a backup tool) and try again"
    )]
    Locked { path: PathBuf, reason: String },
    #[error(
        "{path} was written by a newer cifar-tui (schema {found}, this one knows {known}); it \
         was left untouched. Fix: use the newer cifar-tui, or pass --history FILE"
    )]
    Newer {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("cannot open the history {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error(
        "the history {path}: run #{id} holds a damaged {column} ({reason}); the file was left \
         untouched. Fix: restore the file from a backup, or remove that run with `sqlite3 {path} \
         \"DELETE FROM epochs WHERE run_id = {id}; DELETE FROM runs WHERE id = {id}\"`"
    )]
    BadRow {
        path: PathBuf,
        id: i64,
        column: &'static str,
        reason: String,
    },
    #[error(
        "run #{id} is already {doing} by process {pid} on host {host}; it was left to it. \
         Fix: wait for that process to end, or stop it and then resume run #{id}"
    )]
    Taken {
        id: i64,
        doing: &'static str,
        pid: i64,
        host: String,
    },
    #[error("run #{id} is {status}: only interrupted or cancelled runs can be resumed")]
    NotResumable { id: i64, status: &'static str },
    #[error(
        "run #{id} began on other data (fingerprint {was}, the data here is {now}): resumed here \
         it would train on both. Fix: resume it with the data it began on (--data DIR), or \
         train a new run"
    )]
    OtherData { id: i64, was: String, now: String },
    #[error("history database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("history database: {0}")]
    Json(#[from] serde_json::Error),
    #[error("no run #{0} in the history")]
    NoRun(i64),
}

/// Names what went wrong with the file where SQLite's answer tells: locked, read-only, damaged.
pub(super) fn classify(path: &Path, e: rusqlite::Error) -> StoreError {
    let (path, reason) = (path.to_path_buf(), e.to_string());
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Locked { path, reason }
        }
        Some(ErrorCode::ReadOnly) => StoreError::ReadOnly { path, reason },
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Damaged { path, reason },
        Some(ErrorCode::NotADatabase) => StoreError::Corrupt { path, reason },
        _ => StoreError::Sql(e),
    }
}

/// Whether a failed write may succeed once another process lets go of the file.
pub(super) fn busy(e: &StoreError) -> bool {
    matches!(e, StoreError::Sql(e) if matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    ))
}
