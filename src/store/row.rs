//! A `runs` row read back as a [`Run`], stored status words, and one epoch's row written.

use std::path::Path;

use cifar_engine::config::TrainConfig;
use cifar_engine::events::{DeviceKind, EpochStats, Outcome, REPORT_EVERY};
use cifar_engine::metrics::{Confusion, Report};
use rusqlite::{Connection, params};

use super::error::StoreError;
use super::liveness::{GONE, gone};
use super::sweep;
use crate::run::points::{self, TrainPoint};
use crate::run::{Run, Status};

/// A status as the history's `status` column stores it; a word it does not know reads as
/// interrupted (resumable, never lost).
pub(super) fn status_of(word: &str, reason: Option<String>) -> Status {
    match word {
        "queued" => Status::Queued,
        "running" => Status::Running(None),
        "cancelled" => Status::Cancelled,
        "failed" => Status::Failed(reason.unwrap_or_default()),
        "diverged" => Status::Diverged(reason.unwrap_or_default()),
        _ => Status::Interrupted(reason),
    }
}

/// Reads a `runs` row.
pub(super) struct Row;

impl Row {
    /// The row as its run stands: a queued or running run whose process is gone reads as
    /// interrupted, also where the history is only read and so never marked.
    pub(super) fn read(r: &rusqlite::Row, path: &Path) -> Result<Run, StoreError> {
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
                r.get("beat_every")?,
            );
        // "cpu", "cuda", or "wgpu: <the GPU's name>" (see `Run::device_label`).
        let device_text: Option<String> = r.get("device")?;
        let (device, gpu) = match device_text
            .as_deref()
            .map(|d| d.split_once(": ").unwrap_or((d, "")))
        {
            Some((kind, gpu)) => (
                Some(match kind {
                    "cuda" => DeviceKind::Cuda,
                    "wgpu" => DeviceKind::Wgpu,
                    _ => DeviceKind::Cpu,
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
                            device: device.unwrap_or(DeviceKind::Cpu),
                            // Filled in with the run's epochs (see `with_epochs`).
                            epochs: Vec::new(),
                            confusion,
                            report,
                            seconds,
                            images_per_sec,
                            // Read when asked for (`Store::predictions`): 40 KB a run.
                            predictions: Default::default(),
                            pictures: None,
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
        let steps_per_epoch = r
            .get::<_, Option<i64>>("steps_per_epoch")?
            .map_or_else(|| config.steps_per_epoch(), |n| n as usize);
        let mut losses: Vec<TrainPoint> = json("losses")?
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| bad("losses", e))?
            .unwrap_or_default();
        let steps_per_point = r.get::<_, Option<i64>>("steps_per_point")?;
        let steps_per_point = steps_per_point.map_or(REPORT_EVERY, |n| n as usize);
        points::place_legacy(&mut losses, steps_per_point, steps_per_epoch);
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
            steps_per_epoch,
            evaluating: false,
            preparing: None,
            fitting_zca: None,
            filters: None,
            inputs: None,
            report_gap: None,
            paused: 0.0,
            val_points: json("val_points")?
                .map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(|e| bad("val_points", e))?
                .unwrap_or_default(),
            epochs: Vec::new(),
            train_points: losses,
            origin,
            replaying: None,
            trainer: match (lost, word.as_str(), r.get("pid")?, r.get("host")?) {
                (false, "queued" | "running", Some(pid), Some(host)) => {
                    Some(crate::run::Trainer { pid, host })
                }
                _ => None,
            },
        })
    }
}

/// Keeps a finished run's predictions and pictures, replacing any it had (a run finished
/// again).
pub(super) fn insert_predictions(conn: &Connection, id: i64, o: &Outcome) -> rusqlite::Result<()> {
    let pictures = o
        .pictures
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    if !o.predictions.is_empty() || pictures.is_some() {
        conn.execute(
            "INSERT OR REPLACE INTO predictions (run_id, bytes, pictures) VALUES (?1, ?2, ?3)",
            rusqlite::params![id, o.predictions.to_bytes(), pictures],
        )?;
    }
    Ok(())
}

/// One epoch's row of run `id` (a rewrite of the same epoch replaces it: a resumed run
/// records again the epoch it was killed in).
pub(super) fn insert_epoch(conn: &Connection, id: i64, e: &EpochStats) -> rusqlite::Result<()> {
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
