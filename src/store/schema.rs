//! The history's file: schema and migrations, opening it, WAL, and the checks made on open.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use super::Store;
use super::error::{StoreError, classify};

/// Migrations, in order: `MIGRATIONS[i]` takes the schema from version i to i + 1.
pub(super) const MIGRATIONS: &[&str] = &[
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
    // The data a run trains on (`Cifar10::fingerprint`): a resume on other data is refused.
    "
    ALTER TABLE runs ADD COLUMN data_fingerprint TEXT;
",
    // Loss points keep the step their window ended at (`run::TrainPoint`); the steps an epoch
    // takes place them in epochs. Older rows hold bare values, each `steps_per_point` steps.
    // Validation points within the epochs (the interface's), so a replay or a second
    // viewer draws what the live screens drew; a viewer's request that the run stop, which
    // the process that trains it reads as it writes its reports.
    "
    ALTER TABLE runs ADD COLUMN steps_per_epoch INTEGER;
    ALTER TABLE runs ADD COLUMN val_points TEXT;
    ALTER TABLE runs ADD COLUMN cancel_asked INTEGER;
",
    // How often the run's process writes its heartbeat (`store::liveness::BEAT_EVERY`), so
    // another host knows how long a silence means a dead process. NULL: an older process,
    // which beat only as it reported.
    "
    ALTER TABLE runs ADD COLUMN beat_every REAL;
",
    // Every test image's class, predicted class and confidence (`metrics::Predictions`,
    // four bytes an image): the Results screen shows the images behind a confusion cell.
    // A table of its own, so that listing the runs never reads their 40 KB.
    "
    CREATE TABLE predictions (
        run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
        bytes BLOB NOT NULL
    );
",
    // What the network learned, to look at again (`pictures::Pictures`, JSON, about 40 KB):
    // the first convolution's last filters and a few training images as it received them.
    "
    ALTER TABLE predictions ADD COLUMN pictures TEXT;
",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long one attempt at a write waits for another process's write to the same history.
pub(super) const BUSY_WAIT: Duration = Duration::from_secs(10);

/// How long a run's own writes keep trying while another process holds the history's lock
/// (a sqlite3 shell left in a transaction, a backup tool): its record must outlast that.
pub(super) const WRITE_WAIT: Duration = Duration::from_secs(60);

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

    /// A history of an older schema, for a reading command: upgraded in a private copy that
    /// lives as long as the store, never in place (a reader writes nothing); the next writing
    /// command upgrades the file itself.
    fn upgraded_copy(path: &Path) -> Result<Store, StoreError> {
        let fail = |e: std::io::Error| StoreError::Open {
            path: path.to_path_buf(),
            reason: format!("its older schema is read from an upgraded copy, which failed: {e}"),
        };
        let dir = tempfile::tempdir().map_err(fail)?;
        let copy = dir.path().join("history.db");
        std::fs::copy(path, &copy).map_err(fail)?;
        // What a writer committed but has not yet moved into the file itself.
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        if Path::new(&wal).exists() {
            std::fs::copy(&wal, dir.path().join("history.db-wal")).map_err(fail)?;
        }
        let db = |e: rusqlite::Error| fail(std::io::Error::other(e));
        drop(Self::setup(
            Connection::open(&copy).map_err(db)?,
            path,
            false,
        )?);
        // Read-only from here, as the file itself would be: a write says so, never lands in
        // the copy.
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&copy, flags).map_err(db)?;
        let mut store = Self::setup(conn, path, true)?;
        store.copy = Some(dir);
        Ok(store)
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
                    _ => {
                        drop(conn);
                        Self::upgraded_copy(path)
                    }
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
            copy: None,
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
}
