//! A sweep's folder on a shared file system: its plan, and per task a progress file (JSON
//! lines), a result file, its own history and checkpoints. Written by `cifar-tui sweep` and its
//! tasks, read by `sweep --status` and `import`. No two tasks write the same file, and no
//! SQLite file is ever shared between tasks.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use cifar_engine::config::{TEST_IMAGES, TrainConfig};
use cifar_engine::events::{DeviceChoice, Outcome, REPORT_EVERY};

/// The plan's file name in the sweep folder.
pub const PLAN: &str = "plan.json";
/// The version of the folder's layout this build reads and writes.
pub const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(
        "{dir} holds no sweep ({reason}). Fix: name the folder given to `cifar-tui sweep`, the \
         one that holds plan.json"
    )]
    NoPlan { dir: PathBuf, reason: String },
    #[error(
        "{path} is not a sweep plan this cifar-tui reads ({reason}). Fix: use the cifar-tui that \
         made the sweep, or make the sweep again in a new folder"
    )]
    BadPlan { path: PathBuf, reason: String },
    #[error(
        "{dir} already holds a sweep ({PLAN}). Fix: choose a new folder; follow that one with \
         `cifar-tui sweep --status {dir}`"
    )]
    Exists { dir: PathBuf },
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{path} is not a task result ({reason}). Fix: run that task again")]
    BadResult { path: PathBuf, reason: String },
}

fn file_error(path: &Path, e: impl ToString) -> SweepError {
    SweepError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// What a sweep trains: one task per configuration and seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub format: u32,
    /// This sweep's unique name; imported runs are keyed by it and their task's index.
    pub sweep: String,
    pub created_at: String,
    /// What was asked for, in words (`seed study x seeds 1,2`).
    pub study: String,
    /// The cifar-tui that tasks run (on the shared file system).
    pub binary: PathBuf,
    /// The data folder every task trains on; `None`: each node's download cache.
    pub data_dir: Option<PathBuf>,
    pub device: DeviceChoice,
    pub tasks: Vec<TaskSpec>,
}

/// One task: a named, fully resolved configuration (its seed included).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub name: String,
    pub config: TrainConfig,
}

/// The files of a sweep folder.
#[derive(Clone, Debug)]
pub struct Folder(pub PathBuf);

impl Folder {
    pub fn plan(&self) -> PathBuf {
        self.0.join(PLAN)
    }
    pub fn script(&self) -> PathBuf {
        self.0.join("sweep.sbatch")
    }
    pub fn manifest(&self) -> PathBuf {
        self.0.join("sweep.k8s.json")
    }
    pub fn logs(&self) -> PathBuf {
        self.0.join("logs")
    }
    pub fn task(&self, i: usize) -> PathBuf {
        self.0.join("tasks").join(i.to_string())
    }
    pub fn progress(&self, i: usize) -> PathBuf {
        self.task(i).join("progress.jsonl")
    }
    pub fn result(&self, i: usize) -> PathBuf {
        self.task(i).join("result.json")
    }
    /// The task's own history: one writer, the task, at a time.
    pub fn history(&self, i: usize) -> PathBuf {
        self.task(i).join("history.db")
    }

    pub fn read_plan(&self) -> Result<Plan, SweepError> {
        let path = self.plan();
        let text = std::fs::read_to_string(&path).map_err(|e| SweepError::NoPlan {
            dir: self.0.clone(),
            reason: format!("cannot read {}: {e}", path.display()),
        })?;
        let plan: Plan = serde_json::from_str(&text).map_err(|e| SweepError::BadPlan {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if plan.format != FORMAT {
            return Err(SweepError::BadPlan {
                path,
                reason: format!("layout {}, this cifar-tui knows {FORMAT}", plan.format),
            });
        }
        Ok(plan)
    }

    /// Writes the plan into a new sweep folder, refusing one that holds a sweep already.
    pub fn create(&self, plan: &Plan) -> Result<(), SweepError> {
        std::fs::create_dir_all(&self.0).map_err(|e| file_error(&self.0, e))?;
        std::fs::create_dir_all(self.logs()).map_err(|e| file_error(&self.logs(), e))?;
        let path = self.plan();
        let mut file = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(SweepError::Exists {
                    dir: self.0.clone(),
                });
            }
            other => other.map_err(|e| file_error(&path, e))?,
        };
        let text = serde_json::to_string_pretty(plan).map_err(|e| file_error(&path, e))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| file_error(&path, e))
    }

    /// Writes a task's result whole or not at all: a reader never sees half a file.
    pub fn write_result(&self, i: usize, result: &TaskResult) -> Result<(), SweepError> {
        let path = self.result(i);
        let text = serde_json::to_string_pretty(result).map_err(|e| file_error(&path, e))?;
        let dir = self.task(i);
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| file_error(&dir, e))?;
        tmp.write_all(text.as_bytes())
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| file_error(&path, e))?;
        tmp.persist(&path).map_err(|e| file_error(&path, e.error))?;
        Ok(())
    }

    /// A task's result, `None` while there is none.
    pub fn read_result(&self, i: usize) -> Result<Option<TaskResult>, SweepError> {
        let path = self.result(i);
        let text = match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            other => other.map_err(|e| file_error(&path, e))?,
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| SweepError::BadResult {
                path,
                reason: e.to_string(),
            })
    }

    /// Appends one line to a task's progress file, in one write.
    pub fn report(&self, i: usize, line: &Line) -> Result<(), SweepError> {
        let path = self.progress(i);
        let mut text = serde_json::to_string(line).map_err(|e| file_error(&path, e))?;
        text.push('\n');
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_data()))
            .map_err(|e| file_error(&path, e))
    }

    /// A task's progress lines, oldest first, or why the file cannot be trusted. A last line
    /// cut short by a kill (no newline at its end) is skipped; any other line that is not a
    /// progress line, bytes that are not text, or an epoch count that cannot be, make the whole
    /// file unreadable: a guess from its other lines could show a task as queued that ran. A
    /// missing file has no lines.
    pub fn lines(&self, i: usize) -> Result<Vec<Line>, String> {
        let path = self.progress(i);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("cannot read {} ({e})", path.display())),
        };
        let text = String::from_utf8(bytes).map_err(|_| {
            format!(
                "{} is not text (a progress file is JSON lines)",
                path.display()
            )
        })?;
        let cut_short = !text.is_empty() && !text.ends_with('\n');
        let raw: Vec<&str> = text.lines().collect();
        let mut lines = Vec::new();
        for (k, l) in raw.iter().enumerate() {
            let line = match serde_json::from_str::<Line>(l) {
                Ok(line) => line,
                Err(_) if cut_short && k + 1 == raw.len() && k > 0 => continue,
                Err(e) => {
                    return Err(format!(
                        "line {} of {} is not a progress line ({e})",
                        k + 1,
                        path.display()
                    ));
                }
            };
            if let Line::Epoch { epoch, epochs, .. } = line
                && (epoch == 0 || epoch > epochs)
            {
                return Err(format!(
                    "line {} of {} says epoch {epoch} of {epochs}",
                    k + 1,
                    path.display()
                ));
            }
            lines.push(line);
        }
        Ok(lines)
    }

    /// A task's state as its progress file tells it.
    pub fn state(&self, i: usize) -> TaskState {
        match self.lines(i) {
            Ok(lines) => TaskState::from_lines(lines),
            Err(why) => TaskState::Unreadable { why },
        }
    }

    /// The plan and every task's state, read now from the files alone (never SLURM's
    /// accounting).
    pub fn snapshot(&self) -> Result<Snapshot, SweepError> {
        let plan = self.read_plan()?;
        let states = (0..plan.tasks.len()).map(|i| self.state(i)).collect();
        Ok(Snapshot { plan, states })
    }
}

/// One line of a task's progress file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Line {
    /// A process took the task (again, after a requeue: `attempt` counts from 1).
    Started {
        at: String,
        host: String,
        job: Option<String>,
        attempt: u32,
    },
    /// An epoch ended (its checkpoint is on disk).
    Epoch {
        at: String,
        epoch: usize,
        epochs: usize,
        val_accuracy: f64,
    },
    /// Stopped by a signal after `epochs_done` epochs; the next start resumes from there.
    Interrupted {
        at: String,
        epochs_done: usize,
    },
    Finished {
        at: String,
        accuracy: f64,
        macro_f1: f64,
    },
    Failed {
        at: String,
        message: String,
    },
}

/// Where a task stands.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskState {
    /// Not started yet.
    Queued,
    /// Stopped by a signal and waiting to start again from its checkpoint.
    Requeued {
        epochs_done: usize,
        attempts: u32,
    },
    Running {
        host: String,
        job: Option<String>,
        attempt: u32,
        /// The last finished epoch and its validation accuracy.
        epoch: Option<(usize, f64)>,
        epochs: usize,
    },
    /// Its test accuracy, and the host of its last attempt.
    Finished {
        accuracy: f64,
        host: Option<String>,
    },
    Failed {
        message: String,
    },
    /// Its progress file holds something no task writes: what and where.
    Unreadable {
        why: String,
    },
}

impl TaskState {
    pub fn from_lines(lines: impl IntoIterator<Item = Line>) -> TaskState {
        let mut state = TaskState::Queued;
        for line in lines {
            state = match (line, state) {
                (
                    Line::Started {
                        host, job, attempt, ..
                    },
                    _,
                ) => TaskState::Running {
                    host,
                    job,
                    attempt,
                    epoch: None,
                    epochs: 0,
                },
                (
                    Line::Epoch {
                        epoch,
                        epochs,
                        val_accuracy,
                        ..
                    },
                    TaskState::Running {
                        host, job, attempt, ..
                    },
                ) => TaskState::Running {
                    host,
                    job,
                    attempt,
                    epoch: Some((epoch, val_accuracy)),
                    epochs,
                },
                (Line::Epoch { .. }, other) => other,
                (Line::Interrupted { epochs_done, .. }, s) => TaskState::Requeued {
                    epochs_done,
                    attempts: match s {
                        TaskState::Running { attempt, .. } => attempt,
                        _ => 1,
                    },
                },
                (Line::Finished { accuracy, .. }, s) => TaskState::Finished {
                    accuracy,
                    host: match s {
                        TaskState::Running { host, .. } => Some(host),
                        _ => None,
                    },
                },
                (Line::Failed { message, .. }, _) => TaskState::Failed { message },
            };
        }
        state
    }

    pub fn label(&self) -> &'static str {
        match self {
            TaskState::Queued | TaskState::Requeued { .. } => "queued",
            TaskState::Running { .. } => "running",
            TaskState::Finished { .. } => "finished",
            TaskState::Failed { .. } => "failed",
            TaskState::Unreadable { .. } => "unreadable",
        }
    }
}

/// A task's state as the columns of a table: epoch, accuracy, host, and a note (the job and
/// attempt, why it waits, or its error).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cells {
    pub epoch: String,
    pub accuracy: String,
    pub host: String,
    pub note: String,
}

impl TaskState {
    /// `epochs`: the task's planned epochs (a finished task shows `10/10`).
    pub fn cells(&self, epochs: usize) -> Cells {
        match self {
            TaskState::Queued => Cells::default(),
            TaskState::Requeued {
                epochs_done,
                attempts,
            } => Cells {
                epoch: format!("{epochs_done}/{epochs}"),
                note: format!("interrupted {attempts}x; resumes after epoch {epochs_done}"),
                ..Cells::default()
            },
            TaskState::Running {
                host,
                job,
                attempt,
                epoch,
                epochs: seen,
            } => Cells {
                // Before its first epoch line the task has said no count: the plan's holds.
                epoch: format!(
                    "{}/{}",
                    epoch.map(|e| e.0).unwrap_or(0),
                    if *seen > 0 { *seen } else { epochs }
                ),
                accuracy: epoch.map(|e| format!("{:.4}", e.1)).unwrap_or_default(),
                host: host.clone(),
                note: match (job, attempt) {
                    (Some(j), 1) => format!("job {j}"),
                    (Some(j), a) => format!("job {j}, attempt {a}"),
                    (None, a) => format!("attempt {a}"),
                },
            },
            TaskState::Finished { accuracy, host } => Cells {
                epoch: format!("{epochs}/{epochs}"),
                accuracy: format!("{accuracy:.4}"),
                host: host.clone().unwrap_or_default(),
                note: String::new(),
            },
            TaskState::Failed { message } => Cells {
                note: message.clone(),
                ..Cells::default()
            },
            TaskState::Unreadable { why } => Cells {
                note: why.clone(),
                ..Cells::default()
            },
        }
    }
}

/// A sweep as its files tell it at one moment: the plan and each task's state.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub plan: Plan,
    pub states: Vec<TaskState>,
}

/// How many tasks stand where.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub queued: usize,
    pub running: usize,
    pub finished: usize,
    pub failed: usize,
    pub unreadable: usize,
}

impl Snapshot {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for s in &self.states {
            *match s {
                TaskState::Queued | TaskState::Requeued { .. } => &mut c.queued,
                TaskState::Running { .. } => &mut c.running,
                TaskState::Finished { .. } => &mut c.finished,
                TaskState::Failed { .. } => &mut c.failed,
                TaskState::Unreadable { .. } => &mut c.unreadable,
            } += 1;
        }
        c
    }

    /// `8 tasks: 3 finished, 2 running, 3 queued, 0 failed`.
    pub fn summary(&self) -> String {
        let Counts {
            queued,
            running,
            finished,
            failed,
            unreadable,
        } = self.counts();
        let odd = match unreadable {
            0 => String::new(),
            n => format!(", {n} unreadable"),
        };
        format!(
            "{} tasks: {finished} finished, {running} running, {queued} queued, {failed} \
             failed{odd}",
            self.states.len()
        )
    }
}

pub use crate::run::Origin;
use crate::run::points::{self, TrainPoint};

/// A finished task's run, whole: what `import` adds to a history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    pub origin: Origin,
    pub name: String,
    pub tricks: String,
    pub config: TrainConfig,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The downsampled training-loss curve: each point with the step its window ended at, or,
    /// in results written before points kept their step, bare values of `steps_per_point`
    /// steps each (see [`TaskResult::loss_curve`]).
    pub losses: Vec<TrainPoint>,
    /// Training steps an epoch took; absent from older results (the config gives it).
    #[serde(default)]
    pub steps_per_epoch: Option<usize>,
    /// Only in older results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps_per_point: Option<usize>,
    pub created_at: String,
    pub finished_at: String,
}

impl TaskResult {
    /// The loss curve with every point at its step, and the steps an epoch took.
    pub fn loss_curve(&self) -> (Vec<TrainPoint>, usize) {
        let per_epoch = self
            .steps_per_epoch
            .unwrap_or_else(|| self.config.steps_per_epoch());
        let mut points = self.losses.clone();
        let per_point = self.steps_per_point.unwrap_or(REPORT_EVERY);
        points::place_legacy(&mut points, per_point, per_epoch);
        (points, per_epoch)
    }

    /// Why this result cannot be a finished run, if so. It is checked whole before it is
    /// imported, so no view meets a matrix or a figure a finished run could not have: a 10x10
    /// confusion matrix counting the whole test set, the accuracy and macro-F1 it gives, finite
    /// figures, accuracies within 0..1.
    pub fn check(&self) -> Result<(), String> {
        let o = &self.outcome;
        let classes = cifar_engine::data::CLASSES.len();
        let counts = &o.confusion.counts;
        if counts.len() != classes || counts.iter().any(|row| row.len() != classes) {
            let cols = counts.iter().map(Vec::len).max().unwrap_or(0);
            return Err(format!(
                "its confusion matrix is {}x{cols}, not {classes}x{classes}",
                counts.len()
            ));
        }
        let total: u128 = counts.iter().flatten().map(|&n| u128::from(n)).sum();
        if total != TEST_IMAGES as u128 {
            return Err(format!(
                "its confusion matrix counts {total} test images, not the test set's {TEST_IMAGES}"
            ));
        }
        let figures = [o.seconds, o.images_per_sec]
            .into_iter()
            .chain(o.epochs.iter().flat_map(|e| {
                [
                    e.lr,
                    e.train_loss,
                    e.val_loss,
                    e.seconds,
                    e.train_images_per_sec,
                ]
            }))
            .chain(self.losses.iter().map(|p| p.loss));
        if figures.into_iter().any(|x| !x.is_finite()) {
            return Err("a figure in it is not a finite number".into());
        }
        let fraction = |x: f64| (0.0..=1.0).contains(&x);
        if !o
            .epochs
            .iter()
            .all(|e| fraction(e.train_accuracy) && fraction(e.val_accuracy))
        {
            return Err("an epoch's accuracy is outside 0..1".into());
        }
        let mine = o.confusion.report();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9;
        if !close(o.report.accuracy, mine.accuracy) || !close(o.report.macro_f1, mine.macro_f1) {
            return Err(format!(
                "its accuracy {} and macro-F1 {} are not its confusion matrix's ({:.4}, {:.4})",
                o.report.accuracy, o.report.macro_f1, mine.accuracy, mine.macro_f1
            ));
        }
        Ok(())
    }
}

/// A sweep of five `baseline` tasks, one in each state (finished, running on its second
/// attempt, interrupted, failed, queued).
#[cfg(test)]
pub fn sample() -> Snapshot {
    use cifar_engine::config::Hyper;
    use cifar_engine::tricks::{self, TrickSet};
    let config = tricks::resolve(&TrickSet::new(), &Hyper::default());
    let plan = Plan {
        format: FORMAT,
        sweep: "s".into(),
        created_at: "t".into(),
        study: "presets baseline x seeds 42".into(),
        binary: "/bin/cifar-tui".into(),
        data_dir: None,
        device: DeviceChoice::Cpu,
        tasks: vec![
            TaskSpec {
                name: "baseline".into(),
                config
            };
            5
        ],
    };
    let states = vec![
        TaskState::Finished {
            accuracy: 0.61234,
            host: Some("node2".into()),
        },
        TaskState::Running {
            host: "node7".into(),
            job: Some("12_1".into()),
            attempt: 2,
            epoch: Some((3, 0.5)),
            epochs: 10,
        },
        TaskState::Requeued {
            epochs_done: 3,
            attempts: 1,
        },
        TaskState::Failed {
            message: "cannot read data_batch_1.bin".into(),
        },
        TaskState::Queued,
    ];
    Snapshot { plan, states }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(attempt: u32) -> Line {
        Line::Started {
            at: "t".into(),
            host: "node7".into(),
            job: Some("12_3".into()),
            attempt,
        }
    }

    fn epoch(epoch: usize, val_accuracy: f64) -> Line {
        Line::Epoch {
            at: "t".into(),
            epoch,
            epochs: 3,
            val_accuracy,
        }
    }

    #[test]
    fn a_tasks_state_follows_its_progress_lines() {
        assert_eq!(TaskState::from_lines([]), TaskState::Queued);
        let running = TaskState::from_lines([started(1), epoch(1, 0.4), epoch(2, 0.5)]);
        assert_eq!(
            running,
            TaskState::Running {
                host: "node7".into(),
                job: Some("12_3".into()),
                attempt: 1,
                epoch: Some((2, 0.5)),
                epochs: 3,
            }
        );
        let interrupted = [
            started(1),
            epoch(1, 0.4),
            Line::Interrupted {
                at: "t".into(),
                epochs_done: 1,
            },
        ];
        assert_eq!(
            TaskState::from_lines(interrupted.clone()),
            TaskState::Requeued {
                epochs_done: 1,
                attempts: 1
            }
        );
        let resumed = TaskState::from_lines(interrupted.clone().into_iter().chain([started(2)]));
        assert!(matches!(resumed, TaskState::Running { attempt: 2, .. }));
        // Started, no epoch line yet: the plan's count, not `0/0`.
        assert_eq!(TaskState::from_lines([started(1)]).cells(3).epoch, "0/3");
        let finished = TaskState::from_lines(interrupted.into_iter().chain([
            started(2),
            Line::Finished {
                at: "t".into(),
                accuracy: 0.7,
                macro_f1: 0.69,
            },
        ]));
        assert_eq!(
            finished,
            TaskState::Finished {
                accuracy: 0.7,
                host: Some("node7".into())
            }
        );
        let failed = TaskState::from_lines([
            started(1),
            Line::Failed {
                at: "t".into(),
                message: "no data".into(),
            },
        ]);
        assert_eq!(failed.label(), "failed");
        assert_eq!(
            failed,
            TaskState::Failed {
                message: "no data".into()
            }
        );
    }

    #[test]
    fn a_line_cut_short_is_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let folder = Folder(tmp.path().to_path_buf());
        std::fs::create_dir_all(folder.task(0)).unwrap();
        folder.report(0, &started(1)).unwrap();
        folder.report(0, &epoch(1, 0.25)).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(folder.progress(0))
            .unwrap();
        f.write_all(b"{\"state\":\"epo").unwrap();
        assert!(matches!(
            folder.state(0),
            TaskState::Running {
                epoch: Some((1, 0.25)),
                ..
            }
        ));
        assert_eq!(folder.state(1), TaskState::Queued);
    }

    /// Garbage is not a queued task nor one `running 0/0`: it is shown unreadable, with why.
    #[test]
    fn a_garbage_progress_file_is_unreadable_not_queued() {
        let tmp = tempfile::tempdir().unwrap();
        let folder = Folder(tmp.path().to_path_buf());
        let why = |bytes: &[u8]| {
            std::fs::create_dir_all(folder.task(0)).unwrap();
            std::fs::write(folder.progress(0), bytes).unwrap();
            match folder.state(0) {
                TaskState::Unreadable { why } => why,
                other => panic!("{:?} read as {other:?}", String::from_utf8_lossy(bytes)),
            }
        };
        assert!(why(b"hello\n").contains("line 1 of"));
        // Only a first line, cut short: nothing says the task is queued.
        assert!(why(b"{\"state\":\"sta").contains("line 1 of"));
        assert!(why(b"\xff\xfe\x00garbage").contains("is not text"));
        let good = serde_json::to_string(&started(1)).unwrap();
        let bad_epoch = r#"{"state":"epoch","at":"t","epoch":3,"epochs":0,"val_accuracy":0.1}"#;
        let msg = why(format!("{good}\n{bad_epoch}\n").as_bytes());
        assert!(
            msg.starts_with("line 2 of") && msg.ends_with("says epoch 3 of 0"),
            "{msg}"
        );
        // Garbage before good lines is not a line cut short by a kill.
        assert!(why(format!("xx\n{good}\n").as_bytes()).contains("line 1 of"));
        let s = TaskState::Unreadable { why: "w".into() };
        assert_eq!((s.label(), s.cells(3).note.as_str()), ("unreadable", "w"));
    }

    #[test]
    fn a_second_plan_in_one_folder_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let folder = Folder(tmp.path().join("s"));
        let plan = Plan {
            format: FORMAT,
            sweep: "x".into(),
            created_at: "t".into(),
            study: "seed".into(),
            binary: "/bin/cifar-tui".into(),
            data_dir: None,
            device: DeviceChoice::Cpu,
            tasks: Vec::new(),
        };
        folder.create(&plan).unwrap();
        assert_eq!(folder.read_plan().unwrap(), plan);
        let err = folder.create(&plan).unwrap_err().to_string();
        assert!(err.contains("already holds a sweep"), "{err}");
        let err = Folder(tmp.path().join("none"))
            .read_plan()
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds no sweep"), "{err}");
    }
}
