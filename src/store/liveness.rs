//! Whether a run's process is still alive: host, heartbeats, marking dead processes' runs.

use std::path::Path;
use std::sync::OnceLock;

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

/// A run whose heartbeat is older than this is taken for dead even where /proc cannot tell.
const STALE_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(30);

/// Whether the process that queued or runs a run is gone: dead on this host, or, on another
/// host, silent for too long.
pub(super) fn gone(pid: Option<i64>, run_host: Option<&str>, beat: Option<&str>) -> bool {
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

pub(super) const GONE: &str = "the process ended before the run did";

impl Store {
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
}
