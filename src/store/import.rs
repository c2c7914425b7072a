//! Finished runs from elsewhere (a sweep's tasks) into the history, each once: a run keeps its
//! sweep, task, job and host, and a task already imported is never added again.

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use crate::store::sweep::{Folder, SweepError, TaskResult};
use crate::store::{Store, StoreError};

impl Store {
    /// Adds a finished run from a sweep's task, with its epochs, in one transaction: its number
    /// in the history, or `None` when that task is there already.
    pub fn import(&self, r: &TaskResult) -> Result<Option<i64>, StoreError> {
        let tricks = cifar_engine::tricks::describe(&r.config.tricks.iter().copied().collect());
        let config = serde_json::to_string(&r.config)?;
        let confusion = serde_json::to_string(&r.outcome.confusion)?;
        let report = serde_json::to_string(&r.outcome.report)?;
        let (losses, steps_per_epoch) = r.loss_curve();
        let losses = serde_json::to_string(&losses)?;
        let o = &r.outcome;
        self.patiently(|conn| {
            let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
            let there: Option<i64> = tx
                .query_row(
                    "SELECT id FROM runs WHERE sweep = ?1 AND task_id = ?2",
                    params![r.origin.sweep, r.origin.task as i64],
                    |row| row.get(0),
                )
                .optional()?;
            if there.is_some() {
                return Ok(None);
            }
            tx.execute(
                "INSERT INTO runs (created_at, name, tricks, config, status, device, host,
                     heartbeat, started_at, finished_at, seconds, images_per_sec, accuracy,
                     macro_f1, confusion, report, losses, steps_per_epoch, sweep, task_id, job_id)
                 VALUES (?1, ?2, ?3, ?4, 'finished', ?5, ?6, ?7, ?1, ?7, ?8, ?9, ?10, ?11, ?12,
                     ?13, ?14, ?15, ?16, ?17, ?18)",
                params![
                    r.created_at,
                    r.name,
                    tricks,
                    config,
                    o.device.to_string(),
                    r.origin.host,
                    r.finished_at,
                    o.seconds,
                    o.images_per_sec,
                    o.report.accuracy,
                    o.report.macro_f1,
                    confusion,
                    report,
                    losses,
                    steps_per_epoch as i64,
                    r.origin.sweep,
                    r.origin.task as i64,
                    r.origin.job,
                ],
            )?;
            let id = tx.last_insert_rowid();
            for e in &o.epochs {
                super::insert_epoch(&tx, id, e)?;
            }
            super::row::insert_predictions(&tx, id, o)?;
            tx.commit()?;
            Ok(Some(id))
        })
    }
}

/// What an import of a sweep folder did.
#[derive(Debug, Default, PartialEq)]
pub struct Imported {
    /// History numbers of the runs added.
    pub added: Vec<i64>,
    /// Tasks whose run the history held already.
    pub already: usize,
    /// Tasks with no result yet (queued, running, failed).
    pub unfinished: Vec<usize>,
    /// Tasks whose result could not be read or is not a finished run's, and why: left out,
    /// while the others are imported.
    pub skipped: Vec<(usize, String)>,
}

impl Imported {
    /// `imported 3 run(s) (#4-#6); 2 already there`.
    pub fn summary(&self) -> String {
        let added = match (self.added.first(), self.added.last()) {
            (Some(a), Some(b)) if a == b => format!(" (#{a})"),
            (Some(a), Some(b)) => format!(" (#{a}-#{b})"),
            _ => String::new(),
        };
        let skipped = match self.skipped.len() {
            0 => String::new(),
            n => {
                let tasks: Vec<usize> = self.skipped.iter().map(|(t, _)| *t).collect();
                format!("; {n} bad task(s) skipped ({})", ranges(&tasks))
            }
        };
        format!(
            "imported {} run(s){added}; {} already there{skipped}",
            self.added.len(),
            self.already
        )
    }

    /// `not finished yet: 9 task(s) (0-6,9,12)`, when some are not: runs of tasks as ranges,
    /// so forty fit a line.
    pub fn waiting(&self) -> Option<String> {
        (!self.unfinished.is_empty()).then(|| {
            format!(
                "not finished yet: {} task(s) ({})",
                self.unfinished.len(),
                ranges(&self.unfinished)
            )
        })
    }
}

/// Ascending task numbers as ranges: `0-6,9,10,12`.
fn ranges(tasks: &[usize]) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for &t in tasks {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == t => *end = t,
            _ => ranges.push((t, t)),
        }
    }
    let list: Vec<String> = ranges
        .iter()
        .map(|&(a, b)| match b - a {
            0 => a.to_string(),
            1 => format!("{a},{b}"),
            _ => format!("{a}-{b}"),
        })
        .collect();
    list.join(",")
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Sweep(#[from] SweepError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Imports every finished task of the sweep in `folder` into `store`.
pub fn import_sweep(store: &Store, folder: &Folder) -> Result<Imported, ImportError> {
    let plan = folder.read_plan()?;
    let mut done = Imported::default();
    for i in 0..plan.tasks.len() {
        // One bad task must not keep the good ones out.
        let result = match folder.read_result(i) {
            Ok(None) => {
                done.unfinished.push(i);
                continue;
            }
            Ok(Some(result)) => result,
            Err(e) => {
                done.skipped.push((i, e.to_string()));
                continue;
            }
        };
        if let Err(why) = result.check() {
            let path = folder.result(i);
            done.skipped.push((i, format!("{}: {why}", path.display())));
            continue;
        }
        match store.import(&result)? {
            Some(id) => done.added.push(id),
            None => done.already += 1,
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_tasks_read_as_ranges() {
        let waiting = |unfinished: Vec<usize>| {
            Imported {
                unfinished,
                ..Imported::default()
            }
            .waiting()
        };
        assert_eq!(waiting(vec![]), None);
        assert_eq!(waiting(vec![3]).unwrap(), "not finished yet: 1 task(s) (3)");
        assert_eq!(
            waiting(vec![0, 1, 2, 3, 4, 5, 6, 9, 10, 12]).unwrap(),
            "not finished yet: 10 task(s) (0-6,9,10,12)"
        );
    }
    use crate::run::fixtures::{outcome, train_points};
    use crate::store::MIGRATIONS;
    use crate::store::sweep::Origin;
    use cifar_engine::config::Hyper;
    use cifar_engine::tricks::{self, TrickSet};
    use rusqlite::Connection;

    fn result(task: usize) -> TaskResult {
        let mut config = tricks::resolve(&TrickSet::new(), &Hyper::default());
        config.seed = task as u64;
        TaskResult {
            origin: Origin {
                sweep: "s1".into(),
                task,
                job: Some(format!("77_{task}")),
                host: "node3".into(),
            },
            name: "baseline".into(),
            tricks: "(baseline)".into(),
            config,
            outcome: outcome(0.6, 2),
            losses: train_points(&[2.3, 1.9]),
            steps_per_epoch: Some(47),
            steps_per_point: None,
            created_at: "2026-11-28T10:00:00Z".into(),
            finished_at: "2026-11-28T10:05:00Z".into(),
        }
    }

    /// A result written before loss points kept their step imports with each point placed as
    /// the engine reported it: the full set's 782 steps an epoch, reports after 20, .., 780, 782.
    #[test]
    fn an_older_result_imports_with_its_loss_points_placed() {
        let mut json = serde_json::to_value(result(5)).unwrap();
        let old = json.as_object_mut().unwrap();
        old.remove("steps_per_epoch");
        old.insert("losses".into(), serde_json::json!([2.3, 1.9]));
        old.insert("steps_per_point".into(), 40.into());
        let r: TaskResult = serde_json::from_value(json).unwrap();
        let s = Store::in_memory();
        let run = s.get(s.import(&r).unwrap().unwrap()).unwrap();
        let steps: Vec<usize> = run.train_points.iter().map(|p| p.step).collect();
        assert_eq!(steps, [40, 80]);
        assert_eq!(run.steps_per_epoch, 782);
    }

    #[test]
    fn an_imported_run_reads_back_whole_with_where_it_was_trained() {
        let s = Store::in_memory();
        let r = result(3);
        let id = s.import(&r).unwrap().unwrap();
        let run = s.get(id).unwrap();
        assert_eq!(run.status.label(), "finished");
        assert_eq!(run.config, r.config);
        assert_eq!(run.outcome().unwrap(), &r.outcome);
        assert_eq!(run.train_points, r.losses);
        assert_eq!(run.steps_per_epoch, 47);
        assert_eq!(run.origin, Some(r.origin.clone()));
        assert_eq!(run.created_at.as_deref(), Some(r.created_at.as_str()));
        // The same task again adds nothing; another task of the sweep does.
        assert_eq!(s.import(&r).unwrap(), None);
        assert!(s.import(&result(4)).unwrap().is_some());
        assert_eq!(s.list().unwrap().len(), 2);
    }

    #[test]
    fn a_bad_task_is_skipped_with_its_reason_and_the_good_ones_import() {
        let tmp = tempfile::tempdir().unwrap();
        let folder = Folder(tmp.path().to_path_buf());
        folder.create(&crate::store::sweep::sample().plan).unwrap();
        let write = |task: usize, text: String| {
            std::fs::create_dir_all(folder.task(task)).unwrap();
            std::fs::write(folder.result(task), text).unwrap();
        };
        let json = |r: &TaskResult| serde_json::to_string(r).unwrap();
        write(0, json(&result(0)));
        let mut eleven = result(1);
        for row in &mut eleven.outcome.confusion.counts {
            row.push(0);
        }
        eleven.outcome.confusion.counts.push(vec![0; 11]);
        write(1, json(&eleven));
        let mut wild = result(2);
        wild.outcome.report.accuracy = 7.5;
        write(2, json(&wild));
        // JSON has no NaN: a writer that emits one leaves a file that does not parse.
        write(
            3,
            json(&result(3)).replace("\"seconds\":120.0", "\"seconds\":NaN"),
        );
        let mut huge = result(4);
        huge.outcome.confusion.counts[0][0] = u64::MAX;
        write(4, json(&huge));

        let s = Store::in_memory();
        let done = import_sweep(&s, &folder).unwrap();
        assert_eq!(done.added.len(), 1, "{done:?}");
        let skipped: Vec<usize> = done.skipped.iter().map(|(t, _)| *t).collect();
        assert_eq!(skipped, [1, 2, 3, 4], "{done:?}");
        let why = |t: usize| done.skipped[t - 1].1.clone();
        assert!(why(1).contains("is 11x11, not 10x10"), "{}", why(1));
        assert!(why(2).contains("accuracy 7.5"), "{}", why(2));
        assert!(why(4).contains("counts"), "{}", why(4));
        let said = done.summary();
        assert!(said.ends_with("; 4 bad task(s) skipped (1-4)"), "{said}");
        assert_eq!(s.list().unwrap().len(), 1);
    }

    #[test]
    fn a_second_version_history_gains_the_origin_of_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("h.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(MIGRATIONS[0]).unwrap();
        old.execute_batch(MIGRATIONS[1]).unwrap();
        old.pragma_update(None, "user_version", 2).unwrap();
        old.execute(
            "INSERT INTO runs (created_at, name, tricks, config, status)
             VALUES ('t', 'old', '', ?1, 'cancelled')",
            [serde_json::to_string(&result(0).config).unwrap()],
        )
        .unwrap();
        drop(old);
        let s = Store::open(&path).unwrap();
        let old = s.get(1).unwrap();
        assert_eq!((old.name.as_str(), old.origin), ("old", None));
        let id = s.import(&result(0)).unwrap().unwrap();
        assert_eq!(s.get(id).unwrap().origin.unwrap().job.unwrap(), "77_0");
        assert_eq!(s.import(&result(0)).unwrap(), None);
    }
}
