//! Whether a run's process is still alive: host, heartbeats, marking dead processes' runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use rusqlite::params;

use super::Store;
use super::error::StoreError;

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

/// How often a process writes the heartbeat of every run it has queued or trains, on a
/// thread of its own: a GPU warm-up or a ZCA fit of minutes reports nothing, and must not
/// read as a dead process.
pub const BEAT_EVERY: Duration = Duration::from_secs(5);

/// Heartbeats a run may miss before a process on another host takes its owner for dead. The
/// hosts' clocks must agree to within a few beats (NTP keeps them to milliseconds).
const MISSED_BEATS: f64 = 6.0;

/// Runs whose process never said how often it beats (recorded before the heartbeat had a
/// thread of its own: they beat as they reported, or once a minute) are taken for dead
/// after this silence.
const STALE_UNSAID: chrono::TimeDelta = chrono::TimeDelta::minutes(30);

/// Whether the process that queued or runs a run is gone: dead on this host, or, on another
/// host, silent for [`MISSED_BEATS`] of its heartbeats.
pub(super) fn gone(
    pid: Option<i64>,
    run_host: Option<&str>,
    beat: Option<&str>,
    beat_every: Option<f64>,
) -> bool {
    let allowed = beat_every
        .and_then(|s| chrono::TimeDelta::from_std(Duration::from_secs_f64(s * MISSED_BEATS)).ok())
        .unwrap_or(STALE_UNSAID);
    let stale = beat
        .and_then(|b| chrono::DateTime::parse_from_rfc3339(b).ok())
        .is_none_or(|b| chrono::Utc::now() - b.with_timezone(&chrono::Utc) > allowed);
    // On this host the process table answers; the heartbeat decides only elsewhere.
    let liveness = if run_host == Some(host()) {
        pid.and_then(alive)
    } else {
        None
    };
    !liveness.unwrap_or(!stale)
}

/// Histories this process beats for, each by a thread of its own.
static BEATING: Mutex<BTreeMap<PathBuf, Thread>> = Mutex::new(BTreeMap::new());

/// Makes sure this process beats for its runs in the history at `path`: a thread writes the
/// heartbeat of each of its queued and running runs every [`BEAT_EVERY`], and ends once it
/// has none (the next run queued or claimed starts another).
pub(super) fn keep_beating(path: &Path) {
    // An in-memory history (tests, a history that could not be found) has no other reader.
    if !path.is_file() {
        return;
    }
    let mut beating = BEATING.lock().unwrap_or_else(|e| e.into_inner());
    if beating.contains_key(path) {
        return;
    }
    let mine = path.to_path_buf();
    let spawned = std::thread::Builder::new()
        .name("heartbeat".into())
        .spawn(move || beat_while_owned(&mine));
    match spawned {
        Ok(handle) => {
            beating.insert(path.to_path_buf(), handle.thread().clone());
        }
        // Its runs are then seen dead from other hosts after a few beats; on this one the
        // process table still answers.
        Err(e) => tracing::warn!("no heartbeat thread for {}: {e}", path.display()),
    }
}

/// A run of this process ended there: its heartbeat thread looks again now, and ends if that
/// was the last, instead of beating for nothing until its next beat.
pub(super) fn recheck(path: &Path) {
    let beating = BEATING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(thread) = beating.get(path) {
        thread.unpark();
    }
}

/// Whether this process has a heartbeat thread for the history at `path`.
#[cfg(test)]
pub(super) fn beats_for(path: &Path) -> bool {
    BEATING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains_key(path)
}

/// The heartbeat thread: beats until this process owns no queued or running run there, or
/// the history cannot be written; then closes its connection and leaves the registry.
fn beat_while_owned(path: &Path) {
    // The run's row was just written with a fresh heartbeat: the first beat is due a beat
    // from now (or when a run ends here, to see whether any is left).
    std::thread::park_timeout(BEAT_EVERY);
    let store = Store::open(path).map_err(|e| e.to_string());
    loop {
        let beaten = store
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|s| s.beat().map_err(|e| e.to_string()));
        let done = match beaten {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => {
                tracing::warn!("heartbeat for {} stopped: {e}", path.display());
                true
            }
        };
        if done {
            // Under the lock, so that a run queued meanwhile (which found this thread still
            // registered) is beaten: looked for once more, then the connection is closed
            // before the registry forgets this thread.
            let mut beating = BEATING.lock().unwrap_or_else(|e| e.into_inner());
            if let Ok(s) = &store
                && s.beat().is_ok_and(|n| n > 0)
            {
                continue;
            }
            drop(store);
            beating.remove(path);
            return;
        }
        // Woken early by `recheck`.
        std::thread::park_timeout(BEAT_EVERY);
    }
}

pub(super) const GONE: &str = "the process ended before the run did";

impl Store {
    /// Marks as interrupted every queued or running run whose process is gone: dead on this
    /// host, or, on another host, silent for too long. Returns how many.
    pub fn mark_interrupted(&self) -> Result<usize, StoreError> {
        type Liveness = (
            i64,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<f64>,
        );
        let rows: Vec<Liveness> = self.once(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, pid, host, heartbeat, beat_every FROM runs
                 WHERE status IN ('queued', 'running')",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })?;
        let mut n = 0;
        for (id, pid, run_host, beat, every) in rows {
            if gone(pid, run_host.as_deref(), beat.as_deref(), every) {
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

    /// Writes the heartbeat of every queued or running run of this process; how many. Looks
    /// first, so that a process that owns none there writes nothing (its last run just ended).
    fn beat(&self) -> Result<usize, StoreError> {
        let owned: i64 = self.once(|conn| {
            Ok(conn.query_row(
                "SELECT count(*) FROM runs
                 WHERE pid = ?1 AND host = ?2 AND status IN ('queued', 'running')",
                params![std::process::id(), host()],
                |r| r.get(0),
            )?)
        })?;
        if owned == 0 {
            return Ok(0);
        }
        self.once(|conn| {
            Ok(conn.execute(
                "UPDATE runs SET heartbeat = ?1, beat_every = ?2
                 WHERE pid = ?3 AND host = ?4 AND status IN ('queued', 'running')",
                params![now(), BEAT_EVERY.as_secs_f64(), std::process::id(), host()],
            )?)
        })
    }
}
