//! The runs' records: added, claimed, updated, read and deleted, waiting out others' locks.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cifar_engine::config::TrainConfig;
use cifar_engine::events::{EpochStats, Outcome, Validation};
use cifar_engine::metrics::Predictions;
use cifar_engine::pictures::Pictures;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::Store;
use super::error::{StoreError, busy, classify};
use super::liveness::{gone, host, keep_beating, now, recheck};
use super::row::{Row, insert_epoch, insert_predictions, status_of};
use crate::run::{Run, Status, TrainPoint};

/// A run's curves so far, as each epoch's record keeps them.
#[derive(Clone, Copy, Debug)]
pub struct Curves<'a> {
    pub points: &'a [TrainPoint],
    /// Validation points within the epochs (the interface asks for them).
    pub validation: &'a [Validation],
    pub steps_per_epoch: usize,
}

impl<'a> Curves<'a> {
    pub fn of(run: &'a Run) -> Self {
        Curves {
            points: &run.train_points,
            validation: &run.val_points,
            steps_per_epoch: run.steps_per_epoch,
        }
    }

    /// Training points alone, no validation within the epochs.
    pub fn points(points: &'a [TrainPoint], steps_per_epoch: usize) -> Self {
        Curves {
            points,
            validation: &[],
            steps_per_epoch,
        }
    }
}

impl Store {
    /// Runs a write of the run's record, waiting while another process holds the history's
    /// lock. SQLite's busy handler waits [`BUSY_WAIT`] at a time and some busy answers come at
    /// once (a stale WAL snapshot), so the whole write is tried again until `patience` passes.
    ///
    /// [`BUSY_WAIT`]: super::schema::BUSY_WAIT
    pub(super) fn patiently<T>(
        &self,
        mut write: impl FnMut(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let deadline = Instant::now() + self.patience;
        loop {
            match write(&self.conn) {
                Err(e) if busy(&e) && Instant::now() < deadline => {
                    #[cfg(test)]
                    if let Some(hook) = &self.on_busy {
                        hook();
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(StoreError::Sql(e)) => return Err(classify(&self.path, e)),
                done => return done,
            }
        }
    }

    /// Runs a statement once, naming its failure (locked, read-only, damaged).
    pub(super) fn once<T>(
        &self,
        statement: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        statement(&self.conn).map_err(|e| match e {
            StoreError::Sql(e) => classify(&self.path, e),
            e => e,
        })
    }

    /// Shortens how long writes wait, so a test of a lock need not wait a minute.
    #[cfg(test)]
    pub(crate) fn set_patience(&mut self, busy: Duration, patience: Duration) {
        self.conn
            .busy_timeout(busy)
            .expect("SQLite takes any busy timeout");
        self.patience = patience;
    }

    /// Adds a queued run, owned by this process; its number. The tricks column is the
    /// config's, described for lists.
    pub fn insert(&self, name: &str, config: &TrainConfig) -> Result<i64, StoreError> {
        let tricks = cifar_engine::tricks::describe_config(config);
        let config = serde_json::to_string(config)?;
        self.once(|conn| {
            conn.execute(
                "INSERT INTO runs (created_at, name, tricks, config, status, pid, host, heartbeat)
                 VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?1)",
                params![now(), name, tricks, config, std::process::id(), host()],
            )?;
            Ok(conn.last_insert_rowid())
        })
        .inspect(|_| keep_beating(&self.path))
    }

    /// Takes a run for this process before it trains: its own queued run, or a resumable one,
    /// or one whose process is gone. The check and the taking are one write, so of several
    /// processes resuming the same run at once exactly one gets it; the others learn who has it.
    pub fn claim(&self, id: i64, device: &str, data: &str) -> Result<(), StoreError> {
        let me = i64::from(std::process::id());
        self.patiently(|conn| {
            let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
            type Owner = (
                String,
                Option<i64>,
                Option<String>,
                Option<String>,
                Option<String>,
                Option<f64>,
            );
            let row: Option<Owner> = tx
                .query_row(
                    "SELECT status, pid, host, heartbeat, data_fingerprint, beat_every
                     FROM runs WHERE id = ?1",
                    [id],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ))
                    },
                )
                .optional()?;
            let (status, pid, run_host, beat, was, every) = row.ok_or(StoreError::NoRun(id))?;
            // Runs recorded before fingerprints were kept have none: the first claim records it.
            if let Some(was) = was.filter(|was| was != data) {
                return Err(StoreError::OtherData {
                    id,
                    was,
                    now: data.to_string(),
                });
            }
            let taken = |doing| StoreError::Taken {
                id,
                doing,
                pid: pid.unwrap_or(0),
                host: run_host.clone().unwrap_or_else(|| "?".into()),
            };
            let dead = gone(pid, run_host.as_deref(), beat.as_deref(), every);
            match status.as_str() {
                "queued" if pid == Some(me) && run_host.as_deref() == Some(host()) => {}
                "queued" | "running" if dead => {}
                "queued" => return Err(taken("queued to train")),
                "running" => return Err(taken("being resumed")),
                "finished" => {
                    return Err(StoreError::NotResumable {
                        id,
                        status: "finished",
                    });
                }
                word => {
                    let s = status_of(word, None);
                    if !s.resumable() {
                        return Err(StoreError::NotResumable {
                            id,
                            status: s.label(),
                        });
                    }
                }
            }
            // Only the row as it was read is taken: the immediate transaction already keeps
            // other writers out, and the row count proves it.
            let n = tx.execute(
                "UPDATE runs SET status = 'running', device = ?2, pid = ?3, host = ?4,
                     heartbeat = ?5, started_at = coalesce(started_at, ?5), error = NULL,
                     data_fingerprint = ?9, cancel_asked = NULL
                 WHERE id = ?1 AND status = ?6 AND pid IS ?7 AND host IS ?8",
                params![id, device, me, host(), now(), status, pid, run_host, data],
            )?;
            if n != 1 {
                return Err(taken("being resumed"));
            }
            tx.commit()?;
            Ok(())
        })
        .inspect(|_| keep_beating(&self.path))
    }

    /// Records where a run's files are, so that `resume` finds them: the data folder it was
    /// given (`None`: the download cache) and the result file it writes (`--out`).
    pub fn set_files(
        &self,
        id: i64,
        data_dir: Option<&Path>,
        out: Option<&Path>,
    ) -> Result<(), StoreError> {
        let text = |p: Option<&Path>| p.map(|p| p.to_string_lossy().into_owned());
        let (data_dir, out) = (text(data_dir), text(out));
        self.patiently(|conn| {
            conn.execute(
                "UPDATE runs SET data_dir = ?2, out_path = ?3 WHERE id = ?1",
                params![id, data_dir, out],
            )?;
            Ok(())
        })
    }

    /// A run's data folder and result file, as [`Store::set_files`] recorded them.
    pub fn files(&self, id: i64) -> Result<(Option<PathBuf>, Option<PathBuf>), StoreError> {
        let (data, out): (Option<String>, Option<String>) = self
            .conn
            .query_row(
                "SELECT data_dir, out_path FROM runs WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or(StoreError::NoRun(id))?;
        Ok((data.map(PathBuf::from), out.map(PathBuf::from)))
    }

    /// Marks a run as running in this process (also when resuming one).
    pub fn start(&self, id: i64, device: &str) -> Result<(), StoreError> {
        self.patiently(|conn| {
            conn.execute(
                "UPDATE runs SET status = 'running', device = ?2, pid = ?3, host = ?4,
                     heartbeat = ?5, started_at = coalesce(started_at, ?5), error = NULL,
                     cancel_asked = NULL
                 WHERE id = ?1",
                params![id, device, std::process::id(), host(), now()],
            )?;
            Ok(())
        })
        .inspect(|_| keep_beating(&self.path))
    }

    /// Records how a run stands now (not its outcome: see [`Store::finish`]).
    pub fn set_status(&self, id: i64, status: &Status) -> Result<(), StoreError> {
        self.patiently(|conn| {
            conn.execute(
                "UPDATE runs SET status = ?2, error = ?3, heartbeat = ?4 WHERE id = ?1",
                params![id, status.label(), status.reason(), now()],
            )?;
            Ok(())
        })
        .inspect(|_| recheck(&self.path))
    }

    /// The runs the history says are training now, whoever trains them.
    pub fn running(&self) -> Result<Vec<i64>, StoreError> {
        self.patiently(|conn| {
            let mut stmt = conn.prepare("SELECT id FROM runs WHERE status = 'running'")?;
            let ids = stmt
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<i64>>>()?;
            Ok(ids)
        })
    }

    /// The curves so far within an epoch, for whoever watches the run from another process;
    /// beats its heart too.
    pub fn record_progress(&self, id: i64, curves: Curves) -> Result<(), StoreError> {
        let losses = serde_json::to_string(curves.points)?;
        let validation = serde_json::to_string(curves.validation)?;
        self.patiently(|conn| {
            conn.execute(
                "UPDATE runs SET losses = ?2, steps_per_point = NULL, steps_per_epoch = ?3,
                     val_points = ?4, heartbeat = ?5 WHERE id = ?1",
                params![id, losses, curves.steps_per_epoch as i64, validation, now()],
            )?;
            Ok(())
        })
    }

    /// Whether a viewer asked that run `id` stop ([`Store::ask_cancel`]).
    pub fn cancel_asked(&self, id: i64) -> Result<bool, StoreError> {
        self.patiently(|conn| {
            let asked: Option<i64> =
                conn.query_row("SELECT cancel_asked FROM runs WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?;
            Ok(asked.is_some_and(|a| a != 0))
        })
    }

    /// Asks the process that trains run `id` to cancel it (it reads the request within
    /// [`crate::store::lifecycle::LIVE_EVERY`] and stops at its next step, resumable): how a
    /// viewer stops a run it does not train. `false` when the run is not training.
    pub fn ask_cancel(&self, id: i64) -> Result<bool, StoreError> {
        self.patiently(|conn| {
            let n = conn.execute(
                "UPDATE runs SET cancel_asked = 1 WHERE id = ?1 AND status = 'running'",
                [id],
            )?;
            Ok(n > 0)
        })
    }

    /// One finished epoch and the curves so far, in one transaction.
    pub fn record_epoch(
        &mut self,
        id: i64,
        e: &EpochStats,
        curves: Curves,
    ) -> Result<(), StoreError> {
        let losses = serde_json::to_string(curves.points)?;
        let validation = serde_json::to_string(curves.validation)?;
        let steps_per_epoch = curves.steps_per_epoch;
        self.patiently(|conn| {
            // Immediate: the lock is asked for first, where SQLite's busy handler waits for
            // it, not on the first write of a read transaction, where it answers busy at once.
            let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
            insert_epoch(&tx, id, e)?;
            tx.execute(
                "UPDATE runs SET losses = ?2, steps_per_point = NULL, steps_per_epoch = ?3,
                     val_points = ?4, heartbeat = ?5 WHERE id = ?1",
                params![id, losses, steps_per_epoch as i64, validation, now()],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    pub fn finish(&mut self, id: i64, o: &Outcome) -> Result<(), StoreError> {
        let confusion = serde_json::to_string(&o.confusion)?;
        let report = serde_json::to_string(&o.report)?;
        self.patiently(|conn| {
            let t = now();
            let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
            tx.execute(
                "UPDATE runs SET status = 'finished', finished_at = ?2, heartbeat = ?2,
                     device = CASE WHEN device LIKE ?3 || ': %' THEN device ELSE ?3 END,
                     seconds = ?4, images_per_sec = ?5, accuracy = ?6,
                     macro_f1 = ?7, confusion = ?8, report = ?9, error = NULL
                 WHERE id = ?1",
                params![
                    id,
                    t,
                    o.device.to_string(),
                    o.seconds,
                    o.images_per_sec,
                    o.report.accuracy,
                    o.report.macro_f1,
                    confusion,
                    report
                ],
            )?;
            insert_predictions(&tx, id, o)?;
            tx.commit()?;
            Ok(())
        })
        .inspect(|_| recheck(&self.path))
    }

    /// A finished run's predictions for every test image and its pictures; empty and `None`
    /// for a run finished before they were kept.
    pub fn predictions(&self, id: i64) -> Result<(Predictions, Option<Pictures>), StoreError> {
        let row: Option<(Vec<u8>, Option<String>)> = self
            .conn
            .query_row(
                "SELECT bytes, pictures FROM predictions WHERE run_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((bytes, pictures)) = row else {
            return Ok(Default::default());
        };
        let damaged = |reason: String| StoreError::Damaged {
            path: self.path.clone(),
            reason,
        };
        let predictions = Predictions::from_bytes(&bytes).ok_or_else(|| {
            damaged(format!(
                "run #{id}'s predictions are not four bytes an image"
            ))
        })?;
        // Pictures are something to look at, not figures: damaged ones are left out (and
        // logged) rather than making the whole run unreadable.
        let pictures = pictures.and_then(|text| {
            serde_json::from_str(&text)
                .inspect_err(|e| tracing::warn!("run #{id}'s pictures are damaged: {e}"))
                .ok()
        });
        Ok((predictions, pictures))
    }

    pub fn delete(&self, ids: &[i64]) -> Result<usize, StoreError> {
        let mut n = 0;
        for id in ids {
            n += self.once(|conn| Ok(conn.execute("DELETE FROM runs WHERE id = ?1", [id])?))?;
        }
        Ok(n)
    }

    pub fn get(&self, id: i64) -> Result<Run, StoreError> {
        let run = self
            .once(|conn| {
                Ok(conn
                    .query_row("SELECT * FROM runs WHERE id = ?1", [id], |r| {
                        Ok(Row::read(r, &self.path))
                    })
                    .optional()?)
            })?
            .ok_or(StoreError::NoRun(id))??;
        let mut run = self.with_epochs(run)?;
        // One run read whole comes with its predictions; a list of them does not (40 KB each).
        if let Status::Finished(o) = &mut run.status {
            (o.predictions, o.pictures) = self.predictions(id)?;
        }
        Ok(run)
    }

    /// Every run, newest first.
    pub fn list(&self) -> Result<Vec<Run>, StoreError> {
        let rows: Vec<Result<Run, StoreError>> = self.once(|conn| {
            let mut stmt = conn.prepare("SELECT * FROM runs ORDER BY id DESC")?;
            let rows = stmt
                .query_map([], |r| Ok(Row::read(r, &self.path)))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })?;
        rows.into_iter()
            .map(|r| r.and_then(|r| self.with_epochs(r)))
            .collect()
    }

    fn with_epochs(&self, mut run: Run) -> Result<Run, StoreError> {
        let id = run.id;
        run.epochs = self.once(|conn| {
            let mut stmt = conn.prepare(
                "SELECT epoch, lr, train_loss, train_accuracy, val_loss, val_accuracy, seconds,
                        train_images_per_sec
                 FROM epochs WHERE run_id = ?1 ORDER BY epoch",
            )?;
            let epochs = stmt
                .query_map([id], |r| {
                    Ok(EpochStats {
                        epoch: r.get::<_, i64>(0)? as usize,
                        lr: r.get(1)?,
                        train_loss: r.get(2)?,
                        train_accuracy: r.get(3)?,
                        val_loss: r.get(4)?,
                        val_accuracy: r.get(5)?,
                        seconds: r.get(6)?,
                        train_images_per_sec: r.get(7)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(epochs)
        })?;
        if let Status::Finished(o) = &mut run.status {
            o.epochs = run.epochs.clone();
        }
        Ok(run)
    }

    /// Ends a run that never started (cancelled while queued, failed to start, its process
    /// quitting first). A run that started meanwhile is left to its owner. Whether it ended.
    pub fn end_queued(&self, id: i64, status: &Status) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE runs SET status = ?2, error = ?3, heartbeat = ?4
             WHERE id = ?1 AND status = 'queued'",
            params![id, status.label(), status.reason(), now()],
        )?;
        recheck(&self.path);
        Ok(n > 0)
    }

    /// Deletes the runs that no process is training or about to train, in one statement per
    /// run so a run started meanwhile is never taken from under its owner; the ids deleted.
    pub fn delete_idle(&self, ids: &[i64]) -> Result<Vec<i64>, StoreError> {
        let mut deleted = Vec::new();
        for &id in ids {
            let n = self.conn.execute(
                "DELETE FROM runs WHERE id = ?1 AND status NOT IN ('queued', 'running')",
                [id],
            )?;
            if n > 0 {
                deleted.push(id);
            }
        }
        Ok(deleted)
    }
}
