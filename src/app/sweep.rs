//! The Sweep screen's state: a sweep folder on a shared file system (made by `cifar-tui
//! sweep`), watched from its tasks' progress files while the cluster trains.

use std::path::PathBuf;

use super::Command;
use crate::store::sweep::{Snapshot, TaskState};

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
    /// A reading of task runs is on its way (the same for those).
    reading_runs: bool,
}

impl SweepWatch {
    pub fn new(dir: PathBuf) -> SweepWatch {
        SweepWatch {
            dir,
            snapshot: None,
            cursor: 0,
            scroll: Default::default(),
            reading: false,
            reading_runs: false,
        }
    }

    /// Asks for the runs of these tasks to be read from their histories, unless a reading of
    /// runs is on its way.
    pub fn read_runs(&mut self, tasks: Vec<usize>) -> Option<Command> {
        (!tasks.is_empty() && !std::mem::replace(&mut self.reading_runs, true)).then(|| {
            Command::ReadSweepRuns {
                dir: self.dir.clone(),
                tasks,
            }
        })
    }

    /// A reading of task runs arrived.
    pub fn took_runs(&mut self) {
        self.reading_runs = false;
    }

    /// The tasks training now, as their progress files last said.
    pub fn running(&self) -> Vec<usize> {
        match &self.snapshot {
            Some(Ok(s)) => (s.states.iter().enumerate())
                .filter(|(_, t)| matches!(t, TaskState::Running { .. }))
                .map(|(i, _)| i)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The scheduler's job of a task training now, if its progress file named one.
    pub fn job(&self, task: usize) -> Option<&str> {
        match &self.snapshot {
            Some(Ok(s)) => match s.states.get(task)? {
                TaskState::Running { job, .. } => job.as_deref(),
                _ => None,
            },
            _ => None,
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
