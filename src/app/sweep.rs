//! The Sweep screen's state: a sweep folder on a shared file system (made by `cifar-tui
//! sweep`), watched from its tasks' progress files while the cluster trains.

use std::path::PathBuf;

use super::Command;
use crate::store::sweep::Snapshot;

/// A sweep folder watched on the Sweep screen (`cifar-tui --sweep DIR`).
#[derive(Clone, Debug, PartialEq)]
pub struct SweepWatch {
    pub dir: PathBuf,
    /// The last reading of its files, or why they cannot be read; `None` before the first.
    pub snapshot: Option<Result<Snapshot, String>>,
    /// The task under the cursor.
    pub cursor: usize,
    pub scroll: super::scroll::Scroll,
    /// A reading is on its way: the next one waits for it, so a slow shared file system
    /// never piles up readers.
    reading: bool,
}

impl SweepWatch {
    pub fn new(dir: PathBuf) -> SweepWatch {
        SweepWatch {
            dir,
            snapshot: None,
            cursor: 0,
            scroll: Default::default(),
            reading: false,
        }
    }

    /// Asks for the files to be read again, unless a reading is on its way.
    pub fn read(&mut self) -> Option<Command> {
        (!std::mem::replace(&mut self.reading, true)).then(|| Command::ReadSweep(self.dir.clone()))
    }

    /// Takes a reading; the cursor stays on a task that exists.
    pub fn take(&mut self, reading: Result<Snapshot, String>) {
        self.reading = false;
        self.snapshot = Some(reading);
        self.cursor = self.cursor.min(self.tasks().saturating_sub(1));
    }

    pub fn tasks(&self) -> usize {
        match &self.snapshot {
            Some(Ok(s)) => s.states.len(),
            _ => 0,
        }
    }

    pub fn up(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    pub fn down(&mut self) {
        self.cursor = (self.cursor + 1).min(self.tasks().saturating_sub(1));
    }
}
