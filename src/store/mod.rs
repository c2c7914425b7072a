//! The run history: SQLite (WAL, so several cifar-tui processes can share it), written as runs
//! go, one transaction per epoch. The schema is versioned with `PRAGMA user_version`.

pub mod export;
pub mod import;
pub mod lifecycle;
pub mod state;
pub mod sweep;

mod error;
#[cfg(test)]
pub(crate) mod fixtures;
mod liveness;
mod row;
pub mod runs;
mod schema;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

pub use error::StoreError;
pub use liveness::host;
pub(crate) use liveness::now;
use row::insert_epoch;
#[cfg(test)]
use schema::MIGRATIONS;
pub use schema::SCHEMA_VERSION;

pub struct Store {
    conn: Connection,
    /// The folder of the private copy an older history is read from (see
    /// `Store::open_read_only`); after `conn`, so the connection closes first.
    copy: Option<tempfile::TempDir>,
    path: PathBuf,
    /// How long a run's writes keep trying while the history is locked.
    patience: Duration,
    /// Called each time a write finds the history locked: a test releases the lock then.
    #[cfg(test)]
    pub(crate) on_busy: Option<Box<dyn Fn() + Send>>,
}

impl Store {
    pub fn path(&self) -> &Path {
        &self.path
    }
}
