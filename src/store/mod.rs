//! The run history: SQLite (WAL, so several cifar-tui processes can share it), written as runs
//! go, one transaction per epoch. The schema is versioned with `PRAGMA user_version`.

pub mod export;
pub mod import;
pub mod job;
pub mod state;
pub mod sweep;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cifar_engine::config::TrainConfig;
use cifar_engine::events::{Device, EpochStats, Outcome};
use cifar_engine::metrics::{Confusion, Report};
use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};

use crate::run::{Run, Status};

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
    // Runs imported from a sweep keep where they were trained; a sweep's task is imported once.
    "
    ALTER TABLE runs ADD COLUMN sweep TEXT;
    ALTER TABLE runs ADD COLUMN task_id INTEGER;
    ALTER TABLE runs ADD COLUMN job_id TEXT;
    CREATE UNIQUE INDEX runs_sweep_task ON runs(sweep, task_id);
",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long one attempt at a write waits for another process's write to the same history.
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// How long a run's own writes keep trying while another process holds the history's lock
/// (a sqlite3 shell left in a transaction, a backup tool): its record must outlast that.
const WRITE_WAIT: Duration = Duration::from_secs(60);

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
    #[error("history database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("history database: {0}")]
    Json(#[from] serde_json::Error),
    #[error("no run #{0} in the history")]
    NoRun(i64),
}

/// Names what went wrong with the file where SQLite's answer tells: locked, read-only, damaged.
fn classify(path: &Path, e: rusqlite::Error) -> StoreError {
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
fn busy(e: &StoreError) -> bool {
    matches!(e, StoreError::Sql(e) if matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    ))
}

/// A status as the history's `status` column stores it; a word it does not know reads as
/// interrupted (resumable, never lost).
fn status_of(word: &str, reason: Option<String>) -> Status {
    match word {
        "queued" => Status::Queued,
        "running" => Status::Running(None),
        "cancelled" => Status::Cancelled,
        "failed" => Status::Failed(reason.unwrap_or_default()),
        "diverged" => Status::Diverged(reason.unwrap_or_default()),
        _ => Status::Interrupted(reason),
    }
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// This machine's name, as runs record it.
pub fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default()
    })
}

/// Whether a process of this machine is alive. Without /proc, only the heartbeat tells.
fn alive(pid: i64) -> Option<bool> {
    let proc = Path::new("/proc");
    proc.is_dir().then(|| proc.join(pid.to_string()).exists())
}

/// A run whose heartbeat is older than this is taken for dead even where /proc cannot tell.
const STALE_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(30);

/// Whether the process that queued or runs a run is gone: dead on this host, or, on another
/// host, silent for too long.
fn gone(pid: Option<i64>, run_host: Option<&str>, beat: Option<&str>) -> bool {
    let stale = beat
        .and_then(|b| chrono::DateTime::parse_from_rfc3339(b).ok())
        .is_none_or(|b| chrono::Utc::now() - b.with_timezone(&chrono::Utc) > STALE_AFTER);
    // On this host the process table answers; the heartbeat decides only elsewhere (queued
    // runs of a live process do not beat).
    let liveness = if run_host == Some(host()) {
        pid.and_then(alive)
    } else {
        None
    };
    !liveness.unwrap_or(!stale)
}

const GONE: &str = "the process ended before the run did";

/// `file:` URI of a file that nobody can change while it is read (see [`Store::open_read_only`]).
fn immutable_uri(path: &Path) -> Result<PathBuf, StoreError> {
    let text = path.to_str().ok_or_else(|| StoreError::Open {
        path: path.to_path_buf(),
        reason: "its name is not UTF-8, which a read-only open needs".into(),
    })?;
    let escaped = text
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23");
    Ok(PathBuf::from(format!("file:{escaped}?immutable=1")))
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// How long a run's writes keep trying while the history is locked.
    patience: Duration,
    /// Called each time a write finds the history locked: a test releases the lock then.
    #[cfg(test)]
    pub(crate) on_busy: Option<Box<dyn Fn() + Send>>,
}

impl Store {
    /// Opens (creating it and its folder if needed) and migrates the history. A file that is
    /// not a history, one from a newer version, a damaged or a read-only one is refused and
    /// never written.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let fail = |reason: String| StoreError::Open {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        }
        let conn = Connection::open(path).map_err(|e| fail(e.to_string()))?;
        Self::setup(conn, path, false)
    }

    /// Opens the history for reading only. Nothing is written, not even the marks of dead
    /// runs (they read as interrupted all the same), so reading works beside a process that
    /// holds the lock, and on a read-only disk or folder. A missing file reads as an empty
    /// history, and is not created.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Self::empty(path);
        }
        let open = |name: &Path| {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI;
            Connection::open_with_flags(name, flags).map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        };
        match Self::setup(open(path)?, path, true) {
            // A WAL reader needs a shared-memory file beside the history, which a read-only
            // folder or disk cannot take. Nobody can write the file there either (a writer
            // needs its log beside it too), so it is read as the unchanging file it is.
            Err(StoreError::ReadOnly { .. }) => {
                Self::setup(open(&immutable_uri(path)?)?, path, true)
            }
            other => other,
        }
    }

    /// An empty history that lives as long as the process, named `path` in messages.
    fn empty(path: &Path) -> Result<Store, StoreError> {
        Self::setup(Connection::open_in_memory()?, path, false)
    }

    /// A history that lives as long as the process, for tests.
    #[cfg(test)]
    pub(crate) fn in_memory() -> Store {
        Self::empty(Path::new(":memory:")).expect("a fresh in-memory history migrates")
    }

    fn setup(mut conn: Connection, path: &Path, read_only: bool) -> Result<Store, StoreError> {
        let sql = |e| classify(path, e);
        conn.busy_timeout(BUSY_WAIT)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Reading the version is the first touch of the file: a non-database fails here.
        let version = Self::version(&conn, path)?;
        // SQLite opens a file it may not write read-only without a word; say so before a
        // run's first write would.
        if !read_only && conn.is_readonly(rusqlite::MAIN_DB)? {
            return Err(StoreError::ReadOnly {
                path: path.to_path_buf(),
                reason: "the file cannot be written".into(),
            });
        }
        Self::quick_check(&conn, path)?;
        if version < SCHEMA_VERSION {
            if read_only {
                // An empty file is an empty history; an older schema needs a writer.
                return match Self::checked_version(&conn, path)? {
                    0 => Self::empty(path),
                    v => Err(StoreError::Open {
                        path: path.to_path_buf(),
                        reason: format!(
                            "its schema {v} needs an upgrade, which only a writing command \
                             (`cifar-tui run`) makes"
                        ),
                    }),
                };
            }
            // Two processes may find the same new file at once. The immediate transaction makes
            // the second wait for the first; it then sees the schema the first one wrote.
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql)?;
            let from = Self::checked_version(&tx, path)?;
            for sql_text in &MIGRATIONS[from as usize..] {
                tx.execute_batch(sql_text).map_err(sql)?;
            }
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(sql)?;
            tx.commit().map_err(sql)?;
        }
        if !read_only {
            Self::use_wal(&conn).map_err(sql)?;
        }
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            patience: WRITE_WAIT,
            #[cfg(test)]
            on_busy: None,
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
            .map_err(|e| match e.sqlite_error_code() {
                // The history is there, but SQLite cannot make the files a shared (WAL)
                // history needs beside it: its folder or disk is read-only.
                Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly) if path.exists() => {
                    StoreError::ReadOnly {
                        path: path.to_path_buf(),
                        reason: format!("its folder takes no new files: {e}"),
                    }
                }
                _ => match classify(path, e) {
                    StoreError::Sql(e) => StoreError::Corrupt {
                        path: path.to_path_buf(),
                        reason: e.to_string(),
                    },
                    named => named,
                },
            })?;
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
                .map_err(|e| classify(path, e))?;
            if tables > 0 {
                return Err(StoreError::Corrupt {
                    path: path.to_path_buf(),
                    reason: "it holds tables but no cifar-tui schema version".into(),
                });
            }
        }
        Ok(version)
    }

    /// A file cut short or partly overwritten still opens, and reads as fewer runs or epochs
    /// than it holds; a write into it can make it worse. SQLite's quick check finds that.
    fn quick_check(conn: &Connection, path: &Path) -> Result<(), StoreError> {
        let sql = |e| classify(path, e);
        let mut stmt = conn.prepare("PRAGMA quick_check").map_err(sql)?;
        let found: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)?;
        match found.as_slice() {
            [ok] if ok == "ok" => Ok(()),
            [] => Ok(()),
            [first, rest @ ..] => Err(StoreError::Damaged {
                path: path.to_path_buf(),
                reason: match rest.len() {
                    0 => format!("SQLite's check found: {first}"),
                    n => format!("SQLite's check found: {first}, and {n} more problem(s)"),
                },
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs a write of the run's record, waiting while another process holds the history's
    /// lock. SQLite's busy handler waits [`BUSY_WAIT`] at a time and some busy answers come at
    /// once (a stale WAL snapshot), so the whole write is tried again until `patience` passes.
    fn patiently<T>(
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
    fn once<T>(
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
    }

    /// Takes a run for this process before it trains: its own queued run, or a resumable one,
    /// or one whose process is gone. The check and the taking are one write, so of several
    /// processes resuming the same run at once exactly one gets it; the others learn who has it.
    pub fn claim(&self, id: i64, device: &str) -> Result<(), StoreError> {
        let me = i64::from(std::process::id());
        self.patiently(|conn| {
            let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
            type Owner = (String, Option<i64>, Option<String>, Option<String>);
            let row: Option<Owner> = tx
                .query_row(
                    "SELECT status, pid, host, heartbeat FROM runs WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let (status, pid, run_host, beat) = row.ok_or(StoreError::NoRun(id))?;
            let taken = |doing| StoreError::Taken {
                id,
                doing,
                pid: pid.unwrap_or(0),
                host: run_host.clone().unwrap_or_else(|| "?".into()),
            };
            let dead = gone(pid, run_host.as_deref(), beat.as_deref());
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
                     heartbeat = ?5, started_at = coalesce(started_at, ?5), error = NULL
                 WHERE id = ?1 AND status = ?6 AND pid IS ?7 AND host IS ?8",
                params![id, device, me, host(), now(), status, pid, run_host],
            )?;
            if n != 1 {
                return Err(taken("being resumed"));
            }
            tx.commit()?;
            Ok(())
        })
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
                     heartbeat = ?5, started_at = coalesce(started_at, ?5), error = NULL
                 WHERE id = ?1",
                params![id, device, std::process::id(), host(), now()],
            )?;
            Ok(())
        })
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
    }

    /// One finished epoch and the loss curve so far, in one transaction.
    pub fn record_epoch(
        &mut self,
        id: i64,
        e: &EpochStats,
        losses: &[f64],
        steps_per_point: usize,
    ) -> Result<(), StoreError> {
        let losses = serde_json::to_string(losses)?;
        self.patiently(|conn| {
            // Immediate: the lock is asked for first, where SQLite's busy handler waits for
            // it, not on the first write of a read transaction, where it answers busy at once.
            let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
            insert_epoch(&tx, id, e)?;
            tx.execute(
                "UPDATE runs SET losses = ?2, steps_per_point = ?3, heartbeat = ?4 WHERE id = ?1",
                params![id, losses, steps_per_point as i64, now()],
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
            conn.execute(
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
            Ok(())
        })
    }

    /// Marks as interrupted every queued or running run whose process is gone: dead on this
    /// host, or, on another host, silent for too long. Returns how many.
    pub fn mark_interrupted(&self) -> Result<usize, StoreError> {
        type Liveness = (i64, Option<i64>, Option<String>, Option<String>);
        let rows: Vec<Liveness> = self.once(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, pid, host, heartbeat FROM runs WHERE status IN ('queued', 'running')",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })?;
        let mut n = 0;
        for (id, pid, run_host, beat) in rows {
            if gone(pid, run_host.as_deref(), beat.as_deref()) {
                // Only if still as read: another process may have claimed it meanwhile.
                n += self.once(|conn| {
                    Ok(conn.execute(
                        "UPDATE runs SET status = 'interrupted', error = ?2, heartbeat = ?3
                         WHERE id = ?1 AND status IN ('queued', 'running')
                             AND pid IS ?4 AND host IS ?5",
                        params![id, GONE, now(), pid, run_host],
                    )?)
                })?;
            }
        }
        Ok(n)
    }

    /// Refreshes the heartbeat of this process's running runs.
    pub fn heartbeat(&self, id: i64) -> Result<(), StoreError> {
        self.patiently(|conn| {
            conn.execute(
                "UPDATE runs SET heartbeat = ?2 WHERE id = ?1",
                params![id, now()],
            )?;
            Ok(())
        })
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
        self.with_epochs(run)
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

/// Reads a `runs` row.
struct Row;

impl Row {
    /// The row as its run stands: a queued or running run whose process is gone reads as
    /// interrupted, also where the history is only read and so never marked.
    fn read(r: &rusqlite::Row, path: &Path) -> Result<Run, StoreError> {
        let id: i64 = r.get("id")?;
        // Stored JSON that does not parse names the file, the run and the column.
        let bad = |column: &'static str, e: serde_json::Error| StoreError::BadRow {
            path: path.to_path_buf(),
            id,
            column,
            reason: e.to_string(),
        };
        let json =
            |column: &'static str| -> Result<Option<String>, rusqlite::Error> { r.get(column) };
        let config: String = r.get("config")?;
        let config: TrainConfig = serde_json::from_str(&config).map_err(|e| bad("config", e))?;
        let word: String = r.get("status")?;
        let reason: Option<String> = r.get("error")?;
        let lost = matches!(word.as_str(), "queued" | "running")
            && gone(
                r.get("pid")?,
                r.get::<_, Option<String>>("host")?.as_deref(),
                r.get::<_, Option<String>>("heartbeat")?.as_deref(),
            );
        // "cpu", "cuda", or "wgpu: <the GPU's name>" (see `Run::device_label`).
        let device_text: Option<String> = r.get("device")?;
        let (device, gpu) = match device_text
            .as_deref()
            .map(|d| d.split_once(": ").unwrap_or((d, "")))
        {
            Some((kind, gpu)) => (
                Some(match kind {
                    "cuda" => Device::Cuda,
                    "wgpu" => Device::Wgpu,
                    _ => Device::Cpu,
                }),
                Some(gpu.to_string()).filter(|g| !g.is_empty()),
            ),
            None => (None, None),
        };
        let status = match word.as_str() {
            _ if lost => Status::Interrupted(Some(GONE.into())),
            "finished" => {
                let confusion: Option<Confusion> = json("confusion")?
                    .map(|s| serde_json::from_str(&s))
                    .transpose()
                    .map_err(|e| bad("confusion", e))?;
                let report: Option<Report> = json("report")?
                    .map(|s| serde_json::from_str(&s))
                    .transpose()
                    .map_err(|e| bad("report", e))?;
                let figures = (
                    confusion,
                    report,
                    r.get::<_, Option<f64>>("seconds")?,
                    r.get::<_, Option<f64>>("images_per_sec")?,
                );
                match figures {
                    (Some(confusion), Some(report), Some(seconds), Some(images_per_sec)) => {
                        Status::Finished(Box::new(Outcome {
                            device: device.unwrap_or(Device::Cpu),
                            // Filled in with the run's epochs (see `with_epochs`).
                            epochs: Vec::new(),
                            confusion,
                            report,
                            seconds,
                            images_per_sec,
                        }))
                    }
                    _ => Status::Failed("finished, but its figures are missing".into()),
                }
            }
            word => status_of(word, reason),
        };
        let origin = match r.get::<_, Option<String>>("sweep")? {
            Some(sweep) => Some(sweep::Origin {
                sweep,
                task: r.get::<_, i64>("task_id")? as usize,
                job: r.get("job_id")?,
                host: r.get::<_, Option<String>>("host")?.unwrap_or_default(),
            }),
            None => None,
        };
        let tricks = config.tricks.iter().copied().collect();
        Ok(Run {
            key: 0,
            id,
            created_at: r.get("created_at")?,
            name: r.get("name")?,
            tricks,
            config,
            status,
            device,
            gpu,
            steps_per_epoch: 0,
            evaluating: false,
            preparing: None,
            train_curve: Vec::new(),
            probes: Vec::new(),
            epochs: Vec::new(),
            losses: json("losses")?
                .map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(|e| bad("losses", e))?
                .unwrap_or_default(),
            steps_per_point: r
                .get::<_, Option<i64>>("steps_per_point")?
                .unwrap_or(cifar_engine::events::REPORT_EVERY as i64)
                as usize,
            origin,
        })
    }
}

/// One epoch's row of run `id` (a rewrite of the same epoch replaces it: a resumed run
/// records again the epoch it was killed in).
fn insert_epoch(conn: &Connection, id: i64, e: &EpochStats) -> rusqlite::Result<()> {
    conn.execute(
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
    Ok(())
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
        assert_eq!(s.get(id).unwrap().status.label(), "queued");
        s.start(id, "cpu").unwrap();
        let o = outcome(0.7, 2);
        for e in &o.epochs {
            s.record_epoch(id, e, &[2.3, 2.0, 1.7], 20).unwrap();
        }
        s.finish(id, &o).unwrap();
        drop(s);

        let s = Store::open(&path).unwrap();
        let run = s.get(id).unwrap();
        assert_eq!(run.status.label(), "finished");
        assert_eq!(run.config, cfg());
        assert_eq!(run.epochs, o.epochs);
        assert_eq!(run.losses, [2.3, 2.0, 1.7]);
        assert_eq!(run.outcome().unwrap().confusion, o.confusion);
        assert_eq!(run.accuracy(), Some(0.7));
        assert_eq!(s.list().unwrap().len(), 1);
        let mode: String = s
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    /// The history stores the one run model and reads it back as it was: every status with
    /// its reason, a finished run with its whole outcome.
    #[test]
    fn every_status_reads_back_as_it_was_written() {
        let mut s = Store::in_memory();
        let statuses = [
            Status::Cancelled,
            Status::Failed("no data".into()),
            Status::Diverged("lower lr".into()),
            Status::Interrupted(None),
            Status::Interrupted(Some("disk full".into())),
        ];
        for status in &statuses {
            let id = s.insert("baseline", &cfg()).unwrap();
            s.start(id, "cpu").unwrap();
            s.set_status(id, status).unwrap();
            assert_eq!(&s.get(id).unwrap().status, status);
        }
        let id = s.insert("baseline", &cfg()).unwrap();
        s.start(id, "cuda").unwrap();
        let mut o = outcome(0.7, 2);
        o.device = Device::Cuda;
        for e in &o.epochs {
            s.record_epoch(id, e, &[2.0], 20).unwrap();
        }
        s.finish(id, &o).unwrap();
        let run = s.get(id).unwrap();
        assert_eq!(run.status, Status::Finished(Box::new(o)));
        assert_eq!((run.id, run.device), (id, Some(Device::Cuda)));
        assert_eq!(run.tricks, TrickSet::new());
        assert!(run.created_at.is_some());

        // A wgpu run keeps its GPU's name through its end (the outcome knows only the kind).
        let id = s.insert("baseline", &cfg()).unwrap();
        s.start(id, "wgpu: AMD Radeon 780M (Vulkan)").unwrap();
        let mut o = outcome(0.7, 2);
        o.device = Device::Wgpu;
        s.finish(id, &o).unwrap();
        let run = s.get(id).unwrap();
        assert_eq!(
            (run.device, run.gpu.as_deref()),
            (Some(Device::Wgpu), Some("AMD Radeon 780M (Vulkan)"))
        );
        assert_eq!(
            run.device_label().as_deref(),
            Some("wgpu: AMD Radeon 780M (Vulkan)")
        );
        // A run started on one kind and finished on another records the other.
        let id = s.insert("baseline", &cfg()).unwrap();
        s.start(id, "wgpu: AMD Radeon 780M (Vulkan)").unwrap();
        s.finish(id, &outcome(0.7, 2)).unwrap();
        assert_eq!(s.get(id).unwrap().device_label().as_deref(), Some("cpu"));
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
        assert_eq!(s.get(dead).unwrap().status.label(), "interrupted");
        assert_eq!(s.get(away).unwrap().status.label(), "interrupted");
        assert_eq!(s.get(mine).unwrap().status.label(), "running");
        assert_eq!(s.get(waiting).unwrap().status.label(), "queued");
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
    fn of_two_claims_at_once_exactly_one_wins_and_the_other_is_told_who() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("h.db");
        let first = Store::open(&path).unwrap();
        for round in 0..20 {
            let id = first.insert("x", &cfg()).unwrap();
            first.set_status(id, &Status::Interrupted(None)).unwrap();
            let start = std::sync::Arc::new(std::sync::Barrier::new(2));
            let racers: Vec<_> = (0..2)
                .map(|_| {
                    let (path, start) = (path.clone(), start.clone());
                    std::thread::spawn(move || {
                        let s = Store::open(&path).unwrap();
                        start.wait();
                        s.claim(id, "cpu")
                    })
                })
                .collect();
            let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
            assert_eq!(
                results.iter().filter(|r| r.is_ok()).count(),
                1,
                "round {round}: {results:?}"
            );
            let lost = results.into_iter().find_map(Result::err).unwrap();
            let who = format!(
                "run #{id} is already being resumed by process {} on host {}",
                std::process::id(),
                host()
            );
            assert!(lost.to_string().contains(&who), "{lost}");
            assert_eq!(first.get(id).unwrap().status.label(), "running");
        }
    }

    #[test]
    fn only_own_queued_resumable_or_orphaned_runs_can_be_claimed() {
        let s = Store::in_memory();
        let mine = s.insert("a", &cfg()).unwrap();
        s.claim(mine, "cpu").unwrap();
        assert!(matches!(
            s.claim(mine, "cpu"),
            Err(StoreError::Taken { .. })
        ));
        let done = s.insert("b", &cfg()).unwrap();
        s.conn
            .execute("UPDATE runs SET status = 'finished' WHERE id = ?1", [done])
            .unwrap();
        let err = s.claim(done, "cpu").unwrap_err();
        assert!(err.to_string().contains("is finished"), "{err}");
        // A queued run of another live process on this host (pid 1 is always there).
        let theirs = s.insert("c", &cfg()).unwrap();
        s.conn
            .execute("UPDATE runs SET pid = 1 WHERE id = ?1", [theirs])
            .unwrap();
        let err = s.claim(theirs, "cpu").unwrap_err();
        assert!(
            err.to_string().contains("queued to train by process 1"),
            "{err}"
        );
        // A running run whose process died is free.
        let orphan = s.insert("d", &cfg()).unwrap();
        s.start(orphan, "cpu").unwrap();
        s.conn
            .execute("UPDATE runs SET pid = 1073741824 WHERE id = ?1", [orphan])
            .unwrap();
        s.claim(orphan, "cpu").unwrap();
        assert!(matches!(s.claim(99, "cpu"), Err(StoreError::NoRun(99))));
    }

    /// A history with a few runs and epochs, closed, so that the file holds all of it.
    fn history_with_runs(path: &Path) {
        let mut s = Store::open(path).unwrap();
        for _ in 0..3 {
            let id = s.insert("baseline", &cfg()).unwrap();
            for e in &outcome(0.5, 3).epochs {
                s.record_epoch(id, e, &[2.3; 50], 20).unwrap();
            }
            s.finish(id, &outcome(0.5, 3)).unwrap();
        }
    }

    #[test]
    fn a_history_cut_short_is_reported_damaged_and_left_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("h.db");
        history_with_runs(&path);
        let len = std::fs::metadata(&path).unwrap().len();
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len - 2000).unwrap();
        drop(file);
        let before = std::fs::read(&path).unwrap();
        for err in [
            Store::open(&path).err().unwrap(),
            Store::open_read_only(&path).err().unwrap(),
        ] {
            assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
            let text = err.to_string();
            assert!(text.contains("h.db is damaged"), "{text}");
            assert!(text.contains("left untouched"), "{text}");
            assert!(text.contains(".recover"), "{text}");
        }
        assert_eq!(std::fs::read(&path).unwrap(), before, "not written");
    }

    #[test]
    fn bad_stored_json_names_the_file_the_run_and_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("h.db");
        let s = Store::open(&path).unwrap();
        let id = s.insert("x", &cfg()).unwrap();
        s.conn
            .execute("UPDATE runs SET losses = '[1.0, \u{1}' WHERE id = ?1", [id])
            .unwrap();
        for err in [s.get(id).unwrap_err(), s.list().unwrap_err()] {
            let text = err.to_string();
            assert!(text.contains("h.db"), "{text}");
            assert!(
                text.contains(&format!("run #{id} holds a damaged losses")),
                "{text}"
            );
            assert!(
                text.contains(&format!("DELETE FROM runs WHERE id = {id}")),
                "{text}"
            );
        }
    }

    #[test]
    fn a_write_to_a_history_opened_read_only_says_read_only() {
        // Root writes through file permissions, so this opens the file the way SQLite does
        // when it may not write it (SQLITE_OPEN_READONLY) and checks what a write then says.
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("h.db");
        history_with_runs(&path);
        let s = Store::open_read_only(&path).unwrap();
        assert_eq!(s.list().unwrap().len(), 3);
        let err = s.insert("x", &cfg()).unwrap_err();
        assert!(matches!(err, StoreError::ReadOnly { .. }), "{err}");
        assert!(err.to_string().contains("h.db is read-only"), "{err}");
        assert!(err.to_string().contains("--history FILE"), "{err}");
    }

    /// `chattr +i` on a path for the life of the guard; `None` where the file system or the
    /// process's capabilities do not allow it.
    struct Immutable(PathBuf);

    impl Immutable {
        fn set(path: &Path) -> Option<Immutable> {
            let ok = std::process::Command::new("chattr")
                .arg("+i")
                .arg(path)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            ok.then(|| Immutable(path.to_path_buf()))
        }
    }

    impl Drop for Immutable {
        fn drop(&mut self) {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&self.0)
                .status();
        }
    }

    #[test]
    fn a_history_in_an_immutable_folder_or_file_is_read_and_said_read_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let path = dir.join("h.db");
        history_with_runs(&path);
        let before = std::fs::read(&path).unwrap();
        for locked in [&dir, &path] {
            let Some(_guard) = Immutable::set(locked) else {
                eprintln!("chattr +i is not available here: the read-only cases are not run");
                return;
            };
            let err = Store::open(&path).err().unwrap();
            assert!(matches!(err, StoreError::ReadOnly { .. }), "{err}");
            assert!(err.to_string().contains("is read-only"), "{err}");
            let s = Store::open_read_only(&path).unwrap();
            assert_eq!(s.list().unwrap().len(), 3);
            assert_eq!(s.get(1).unwrap().epochs.len(), 3);
        }
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn a_missing_history_reads_as_empty_and_is_not_created() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("none/h.db");
        let s = Store::open_read_only(&path).unwrap();
        assert!(s.list().unwrap().is_empty());
        assert!(matches!(s.get(1), Err(StoreError::NoRun(1))));
        assert!(!tmp.path().join("none").exists());
    }

    #[test]
    fn a_write_waits_for_a_lock_another_process_holds_and_then_succeeds() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("h.db");
        let mut s = Store::open(&path).unwrap();
        let id = s.insert("x", &cfg()).unwrap();
        // SQLite's own wait is cut to nothing, so that only the retries can wait.
        s.set_patience(Duration::ZERO, WRITE_WAIT);
        let (tell, told) = std::sync::mpsc::channel();
        s.on_busy = Some(Box::new(move || {
            let _ = tell.send(());
        }));
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
        // The lock is let go once the write has found it taken.
        let releaser = std::thread::spawn(move || {
            told.recv().unwrap();
            holder.execute_batch("COMMIT").unwrap();
        });
        s.record_epoch(id, &outcome(0.5, 1).epochs[0], &[1.0], 20)
            .unwrap();
        releaser.join().unwrap();
        assert_eq!(s.get(id).unwrap().epochs.len(), 1);
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
