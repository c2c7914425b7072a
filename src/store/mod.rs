//! The run history: SQLite (WAL, so several cifar-tui processes can share it), written as runs
//! go, one transaction per epoch. The schema is versioned with `PRAGMA user_version`.

pub mod export;
pub mod job;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use cifar_engine::config::TrainConfig;
use cifar_engine::events::{EpochStats, Outcome};
use cifar_engine::metrics::{Confusion, Report};

/// Migrations, in order: `MIGRATIONS[i]` takes the schema from version i to i + 1.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at TEXT NOT NULL,
        name TEXT NOT NULL,
        tricks TEXT NOT NULL,
        config TEXT NOT NULL,
        status TEXT NOT NULL,
        device TEXT,
        error TEXT,
        pid INTEGER,
        host TEXT,
        heartbeat TEXT,
        started_at TEXT,
        finished_at TEXT,
        seconds REAL,
        images_per_sec REAL,
        accuracy REAL,
        macro_f1 REAL,
        confusion TEXT,
        report TEXT,
        losses TEXT,
        steps_per_point INTEGER
    );
    CREATE TABLE epochs (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,
        lr REAL NOT NULL,
        train_loss REAL NOT NULL,
        train_accuracy REAL NOT NULL,
        val_loss REAL NOT NULL,
        val_accuracy REAL NOT NULL,
        seconds REAL NOT NULL,
        train_images_per_sec REAL NOT NULL,
        PRIMARY KEY (run_id, epoch)
    );
",
    "
    ALTER TABLE runs ADD COLUMN data_dir TEXT;
    ALTER TABLE runs ADD COLUMN out_path TEXT;
",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a write waits for another process's write to the same history.
const BUSY_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{path} is not a cifar-tui history database ({reason}); it was left untouched. \
         Fix: move it away, or pass --history FILE to use another"
    )]
    Corrupt { path: PathBuf, reason: String },
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
    #[error("history database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("history database: bad stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("no run #{0} in the history")]
    NoRun(i64),
}

fn corrupt(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// A run's state as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Queued,
    Running,
    Finished,
    Cancelled,
    Failed,
    /// Its process died (kill, power loss, hang-up) before it ended: resumable.
    Interrupted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Finished => "finished",
            Status::Cancelled => "cancelled",
            Status::Failed => "failed",
            Status::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> Status {
        match s {
            "queued" => Status::Queued,
            "running" => Status::Running,
            "finished" => Status::Finished,
            "cancelled" => Status::Cancelled,
            "failed" => Status::Failed,
            _ => Status::Interrupted,
        }
    }

    /// Whether `resume` can continue it.
    pub fn resumable(self) -> bool {
        matches!(self, Status::Interrupted | Status::Cancelled)
    }
}

/// One stored run, whole.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredRun {
    pub id: i64,
    pub created_at: String,
    pub name: String,
    pub tricks: String,
    pub config: TrainConfig,
    pub status: Status,
    pub device: Option<String>,
    pub error: Option<String>,
    pub seconds: Option<f64>,
    pub images_per_sec: Option<f64>,
    pub accuracy: Option<f64>,
    pub macro_f1: Option<f64>,
    pub epochs: Vec<EpochStats>,
    pub confusion: Option<Confusion>,
    pub report: Option<Report>,
    pub losses: Vec<f64>,
    pub steps_per_point: usize,
}

impl StoredRun {
    /// Why it cannot be resumed, if it cannot.
    pub fn check_resumable(&self) -> Result<(), String> {
        if self.status.resumable() {
            return Ok(());
        }
        Err(format!(
            "run #{} is {}: only interrupted or cancelled runs can be resumed",
            self.id,
            self.status.as_str()
        ))
    }

    /// The outcome, for a finished run.
    pub fn outcome(&self) -> Option<Outcome> {
        let device = match self.device.as_deref() {
            Some("cuda") => cifar_engine::events::Device::Cuda,
            _ => cifar_engine::events::Device::Cpu,
        };
        Some(Outcome {
            device,
            epochs: self.epochs.clone(),
            confusion: self.confusion.clone()?,
            report: self.report.clone()?,
            seconds: self.seconds?,
            images_per_sec: self.images_per_sec?,
        })
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Whether a process of this machine is alive. Without /proc, only the heartbeat tells.
fn alive(pid: i64) -> Option<bool> {
    let proc = Path::new("/proc");
    proc.is_dir().then(|| proc.join(pid.to_string()).exists())
}

/// A run whose heartbeat is older than this is taken for dead even where /proc cannot tell.
const STALE_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(30);

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating it and its folder if needed) and migrates the history. A file that is
    /// not a history, or one from a newer version, is refused and never written.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let fail = |reason: String| StoreError::Open {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        }
        let conn = Connection::open(path).map_err(|e| fail(e.to_string()))?;
        Self::setup(conn, path)
    }

    /// A history that lives as long as the process, for tests.
    #[cfg(test)]
    pub(crate) fn in_memory() -> Store {
        let conn = Connection::open_in_memory().expect("SQLite can always open :memory:");
        Self::setup(conn, Path::new(":memory:")).expect("a fresh in-memory history migrates")
    }

    fn setup(mut conn: Connection, path: &Path) -> Result<Store, StoreError> {
        conn.busy_timeout(BUSY_WAIT)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Reading the version is the first touch of the file: a non-database fails here.
        let version = Self::version(&conn, path)?;
        if version < SCHEMA_VERSION {
            // Two processes may find the same new file at once. The immediate transaction makes
            // the second wait for the first; it then sees the schema the first one wrote.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let from = Self::checked_version(&tx, path)?;
            for sql in &MIGRATIONS[from as usize..] {
                tx.execute_batch(sql)?;
            }
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            tx.commit()?;
        }
        Self::use_wal(&conn)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// WAL lets readers (`runs`, the History screen) go on while a run writes its epoch.
    fn use_wal(conn: &Connection) -> rusqlite::Result<()> {
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if mode == "wal" {
            return Ok(());
        }
        // The switch needs the file to itself, and SQLite returns "busy" at once instead of
        // waiting: another process opening the same new history at this moment is enough.
        let deadline = Instant::now() + BUSY_WAIT;
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Err(e)
                    if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(5))
                }
                done => return done,
            }
        }
    }

    /// The file's schema version, refusing one from a newer cifar-tui.
    fn version(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| corrupt(path, e))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Newer {
                path: path.to_path_buf(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        Ok(version)
    }

    /// As [`Store::version`], and a version-0 file must be empty: anything else is someone
    /// else's database. Called in a transaction, so that the two reads see the same file.
    fn checked_version(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
        let version = Self::version(conn, path)?;
        if version == 0 {
            let tables: i64 = conn
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(|e| corrupt(path, e))?;
            if tables > 0 {
                return Err(StoreError::Corrupt {
                    path: path.to_path_buf(),
                    reason: "it holds tables but no cifar-tui schema version".into(),
                });
            }
        }
        Ok(version)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds a queued run, owned by this process; its number. The tricks column is the
    /// config's, described for lists.
    pub fn insert(&self, name: &str, config: &TrainConfig) -> Result<i64, StoreError> {
        let tricks = cifar_engine::tricks::describe(&config.tricks.iter().copied().collect());
        self.conn.execute(
            "INSERT INTO runs (created_at, name, tricks, config, status, pid, host, heartbeat)
             VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?1)",
            params![
                now(),
                name,
                tricks,
                serde_json::to_string(config)?,
                std::process::id(),
                host()
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
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
        self.conn.execute(
            "UPDATE runs SET data_dir = ?2, out_path = ?3 WHERE id = ?1",
            params![id, text(data_dir), text(out)],
        )?;
        Ok(())
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
        let t = now();
        self.conn.execute(
            "UPDATE runs SET status = 'running', device = ?2, pid = ?3, host = ?4,
                 heartbeat = ?5, started_at = coalesce(started_at, ?5), error = NULL
             WHERE id = ?1",
            params![id, device, std::process::id(), host(), t],
        )?;
        Ok(())
    }

    pub fn set_status(
        &self,
        id: i64,
        status: Status,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE runs SET status = ?2, error = ?3, heartbeat = ?4 WHERE id = ?1",
            params![id, status.as_str(), error, now()],
        )?;
        Ok(())
    }

    /// One finished epoch and the loss curve so far, in one transaction.
    pub fn record_epoch(
        &mut self,
        id: i64,
        e: &EpochStats,
        losses: &[f64],
        steps_per_point: usize,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO epochs VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                id,
                e.epoch as i64,
                e.lr,
                e.train_loss,
                e.train_accuracy,
                e.val_loss,
                e.val_accuracy,
                e.seconds,
                e.train_images_per_sec
            ],
        )?;
        tx.execute(
            "UPDATE runs SET losses = ?2, steps_per_point = ?3, heartbeat = ?4 WHERE id = ?1",
            params![
                id,
                serde_json::to_string(losses)?,
                steps_per_point as i64,
                now()
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn finish(&mut self, id: i64, o: &Outcome) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE runs SET status = 'finished', finished_at = ?2, heartbeat = ?2, device = ?3,
                 seconds = ?4, images_per_sec = ?5, accuracy = ?6, macro_f1 = ?7,
                 confusion = ?8, report = ?9, error = NULL
             WHERE id = ?1",
            params![
                id,
                now(),
                o.device.to_string(),
                o.seconds,
                o.images_per_sec,
                o.report.accuracy,
                o.report.macro_f1,
                serde_json::to_string(&o.confusion)?,
                serde_json::to_string(&o.report)?
            ],
        )?;
        Ok(())
    }

    /// Marks as interrupted every queued or running run whose process is gone: dead on this
    /// host, or, on another host, silent for too long. Returns how many.
    pub fn mark_interrupted(&self) -> Result<usize, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, pid, host, heartbeat FROM runs WHERE status IN ('queued', 'running')",
        )?;
        type Liveness = (i64, Option<i64>, Option<String>, Option<String>);
        let rows: Vec<Liveness> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        let me = host();
        let mut n = 0;
        for (id, pid, run_host, beat) in rows {
            let stale = beat
                .and_then(|b| chrono::DateTime::parse_from_rfc3339(&b).ok())
                .is_none_or(|b| chrono::Utc::now() - b.with_timezone(&chrono::Utc) > STALE_AFTER);
            // On this host the process table answers; the heartbeat decides only elsewhere
            // (queued runs of a live process do not beat).
            let liveness = if run_host.as_deref() == Some(me.as_str()) {
                pid.and_then(alive)
            } else {
                None
            };
            if !liveness.unwrap_or(!stale) {
                self.set_status(
                    id,
                    Status::Interrupted,
                    Some("the process ended before the run did"),
                )?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Refreshes the heartbeat of this process's running runs.
    pub fn heartbeat(&self, id: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE runs SET heartbeat = ?2 WHERE id = ?1",
            params![id, now()],
        )?;
        Ok(())
    }

    pub fn delete(&self, ids: &[i64]) -> Result<usize, StoreError> {
        let mut n = 0;
        for id in ids {
            n += self.conn.execute("DELETE FROM runs WHERE id = ?1", [id])?;
        }
        Ok(n)
    }

    pub fn get(&self, id: i64) -> Result<StoredRun, StoreError> {
        let run = self
            .conn
            .query_row("SELECT * FROM runs WHERE id = ?1", [id], |r| {
                Ok(Row::read(r))
            })
            .optional()?
            .ok_or(StoreError::NoRun(id))??;
        self.with_epochs(run)
    }

    /// Every run, newest first.
    pub fn list(&self) -> Result<Vec<StoredRun>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT * FROM runs ORDER BY id DESC")?;
        let rows: Vec<Result<StoredRun, StoreError>> = stmt
            .query_map([], |r| Ok(Row::read(r)))?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|r| r.and_then(|r| self.with_epochs(r)))
            .collect()
    }

    fn with_epochs(&self, mut run: StoredRun) -> Result<StoredRun, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT epoch, lr, train_loss, train_accuracy, val_loss, val_accuracy, seconds,
                    train_images_per_sec
             FROM epochs WHERE run_id = ?1 ORDER BY epoch",
        )?;
        run.epochs = stmt
            .query_map([run.id], |r| {
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
        Ok(run)
    }
}

/// Reads a `runs` row.
struct Row;

impl Row {
    fn read(r: &rusqlite::Row) -> Result<StoredRun, StoreError> {
        let json = |col: &str| -> Result<Option<String>, rusqlite::Error> { r.get(col) };
        let config: String = r.get("config")?;
        Ok(StoredRun {
            id: r.get("id")?,
            created_at: r.get("created_at")?,
            name: r.get("name")?,
            tricks: r.get("tricks")?,
            config: serde_json::from_str(&config)?,
            status: Status::parse(&r.get::<_, String>("status")?),
            device: r.get("device")?,
            error: r.get("error")?,
            seconds: r.get("seconds")?,
            images_per_sec: r.get("images_per_sec")?,
            accuracy: r.get("accuracy")?,
            macro_f1: r.get("macro_f1")?,
            epochs: Vec::new(),
            confusion: json("confusion")?
                .map(|s| serde_json::from_str(&s))
                .transpose()?,
            report: json("report")?
                .map(|s| serde_json::from_str(&s))
                .transpose()?,
            losses: json("losses")?
                .map(|s| serde_json::from_str(&s))
                .transpose()?
                .unwrap_or_default(),
            steps_per_point: r
                .get::<_, Option<i64>>("steps_per_point")?
                .unwrap_or(cifar_engine::events::REPORT_EVERY as i64)
                as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::tests::outcome;
    use cifar_engine::config::Hyper;
    use cifar_engine::tricks::{self, TrickSet};

    fn cfg() -> TrainConfig {
        tricks::resolve(&TrickSet::new(), &Hyper::default())
    }

    #[test]
    fn a_run_is_written_as_it_goes_and_read_back_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("deep/history.db");
        let mut s = Store::open(&path).unwrap();
        let id = s.insert("baseline", &cfg()).unwrap();
        assert_eq!(s.get(id).unwrap().status, Status::Queued);
        s.start(id, "cpu").unwrap();
        let o = outcome(0.7, 2);
        for e in &o.epochs {
            s.record_epoch(id, e, &[2.3, 2.0, 1.7], 20).unwrap();
        }
        s.finish(id, &o).unwrap();
        drop(s);

        let s = Store::open(&path).unwrap();
        let run = s.get(id).unwrap();
        assert_eq!(run.status, Status::Finished);
        assert_eq!(run.config, cfg());
        assert_eq!(run.epochs, o.epochs);
        assert_eq!(run.losses, [2.3, 2.0, 1.7]);
        assert_eq!(run.outcome().unwrap().confusion, o.confusion);
        assert_eq!(run.accuracy, Some(0.7));
        assert_eq!(s.list().unwrap().len(), 1);
        let mode: String = s
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_first_version_history_gains_the_files_of_its_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("h.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(MIGRATIONS[0]).unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        drop(old);
        let s = Store::open(&path).unwrap();
        let id = s.insert("a", &cfg()).unwrap();
        assert_eq!(s.files(id).unwrap(), (None, None));
        s.set_files(id, Some(Path::new("/d")), Some(Path::new("/o.json")))
            .unwrap();
        assert_eq!(
            s.files(id).unwrap(),
            (Some(PathBuf::from("/d")), Some(PathBuf::from("/o.json")))
        );
        assert!(matches!(s.files(id + 1), Err(StoreError::NoRun(_))));
    }

    #[test]
    fn runs_of_dead_processes_become_interrupted() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(&tmp.path().join("h.db")).unwrap();
        let mine = s.insert("a", &cfg()).unwrap();
        s.start(mine, "cpu").unwrap();
        let dead = s.insert("b", &cfg()).unwrap();
        s.start(dead, "cpu").unwrap();
        // No process has pid 2^30: this one died.
        s.conn
            .execute("UPDATE runs SET pid = 1073741824 WHERE id = ?1", [dead])
            .unwrap();
        // A live process's queued run does not beat: an old heartbeat must not condemn it.
        let waiting = s.insert("c", &cfg()).unwrap();
        // Elsewhere only the heartbeat can tell: an old one means gone.
        let away = s.insert("d", &cfg()).unwrap();
        let old = "2000-01-01T00:00:00+00:00";
        s.conn
            .execute(
                "UPDATE runs SET heartbeat = ?2 WHERE id = ?1",
                (waiting, old),
            )
            .unwrap();
        s.conn
            .execute(
                "UPDATE runs SET heartbeat = ?2, host = 'elsewhere' WHERE id = ?1",
                (away, old),
            )
            .unwrap();
        assert_eq!(s.mark_interrupted().unwrap(), 2);
        assert_eq!(s.get(dead).unwrap().status, Status::Interrupted);
        assert_eq!(s.get(away).unwrap().status, Status::Interrupted);
        assert_eq!(s.get(mine).unwrap().status, Status::Running);
        assert_eq!(s.get(waiting).unwrap().status, Status::Queued);
    }

    #[test]
    fn a_file_that_is_not_a_history_is_refused_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("history.db");
        let junk = b"this is not SQLite at all, just some bytes that a crash left behind....";
        std::fs::write(&path, junk.repeat(100)).unwrap();
        let err = Store::open(&path).err().unwrap();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("left untouched"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), junk.repeat(100));

        // Another program's SQLite database is refused too.
        let other = tmp.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let before = std::fs::read(&other).unwrap();
        assert!(matches!(
            Store::open(&other),
            Err(StoreError::Corrupt { .. })
        ));
        assert_eq!(std::fs::read(&other).unwrap(), before);
    }

    #[test]
    fn a_newer_schema_is_refused_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("history.db");
        drop(Store::open(&path).unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = Store::open(&path).err().unwrap();
        assert!(matches!(err, StoreError::Newer { found, .. } if found == SCHEMA_VERSION + 1));
        let v: i64 = Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION + 1, "not downgraded");
    }

    #[test]
    fn two_processes_can_write_the_same_history() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("h.db");
        let (a, b) = (Store::open(&path).unwrap(), Store::open(&path).unwrap());
        let threads: Vec<_> = [a, b]
            .into_iter()
            .map(|mut s| {
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        let id = s.insert("x", &cfg()).unwrap();
                        s.record_epoch(id, &outcome(0.5, 1).epochs[0], &[1.0], 20)
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(Store::open(&path).unwrap().list().unwrap().len(), 40);
    }

    #[test]
    fn processes_that_create_a_history_at_once_all_open_it() {
        // Each round starts several openers on a missing file at the same instant: the first
        // creates the schema, the others must wait for it, not create it again or call it foreign.
        for round in 0..100 {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join("h.db");
            let start = std::sync::Arc::new(std::sync::Barrier::new(4));
            let openers: Vec<_> = (0..4)
                .map(|_| {
                    let (path, start) = (path.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        Store::open(&path).map(|_| ()).map_err(|e| e.to_string())
                    })
                })
                .collect();
            for o in openers {
                o.join()
                    .unwrap()
                    .unwrap_or_else(|e| panic!("round {round}: {e}"));
            }
        }
    }

    #[test]
    fn delete_removes_runs_and_their_epochs() {
        let mut s = Store::in_memory();
        let id = s.insert("x", &cfg()).unwrap();
        s.record_epoch(id, &outcome(0.5, 1).epochs[0], &[], 20)
            .unwrap();
        assert_eq!(s.delete(&[id]).unwrap(), 1);
        assert!(matches!(s.get(id), Err(StoreError::NoRun(_))));
        let n: i64 = s
            .conn
            .query_row("SELECT count(*) FROM epochs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }
}
