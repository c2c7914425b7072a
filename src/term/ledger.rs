//! The ledger thread: the one owner of the history's connection while the interface runs.
//! Inserts, ends, reads, deletes and exports arrive as [`LedgerTask`]s in the order asked,
//! and every answer goes back to the event loop as a [`Msg`].

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::UnboundedSender;

use crate::app::Msg;
use crate::run::{RunKey, Status};
use crate::store::export::Format;
use crate::store::import::import_sweep;
use crate::store::lifecycle::Storage;
use crate::store::state::{self, UiState};
use crate::store::sweep::Folder;
use crate::store::{Store, StoreError};
use cifar_engine::config::TrainConfig;

/// What the ledger thread does, in the order asked.
#[derive(Debug)]
pub(super) enum LedgerTask {
    Insert {
        run: RunKey,
        name: String,
        config: TrainConfig,
    },
    EndQueued {
        run: RunKey,
        stored: Option<i64>,
        status: Status,
    },
    Refresh,
    RefreshRun(i64),
    /// Which runs are training now, in this process or another.
    FindRunning,
    AskCancel(i64),
    /// A finished run's predictions, for the images behind its confusion cells.
    ReadPredictions(i64),
    Delete(Vec<i64>),
    Export(Vec<i64>),
    Report {
        ids: Vec<i64>,
        reference: Option<String>,
    },
    SaveSettings(UiState),
    ImportSweep(PathBuf),
    /// The data folder given (`--data`, config.toml), recorded with each run inserted after,
    /// so that `resume` finds it.
    DataDir(Option<PathBuf>),
}

/// History reads asked of the ledger and not yet taken up: at most one of each kind (the
/// whole list, one run) waits in its queue, as gitui's `AsyncSingleJob` keeps one job per kind.
/// A screen visited ten times asks once, and reads never pile up ahead of a starting run's
/// insert.
#[derive(Debug, Default)]
pub(super) struct Pending(Mutex<(bool, HashSet<i64>)>);

impl Pending {
    /// Whether a read of the list (`None`) or of run `id` must be queued: not when one is
    /// already waiting, which will read what this one would.
    pub(super) fn ask(&self, read: Option<i64>) -> bool {
        let mut waiting = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match read {
            None => !std::mem::replace(&mut waiting.0, true),
            Some(id) => waiting.1.insert(id),
        }
    }

    /// The ledger takes a read up: a later ask queues a new one, since the history may change
    /// while this one reads.
    fn taken(&self, read: Option<i64>) {
        let mut waiting = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match read {
            None => waiting.0 = false,
            Some(id) => {
                waiting.1.remove(&id);
            }
        }
    }
}

/// The ledger thread's connection to the history. `None` when the history cannot be used;
/// the reason went to the History screen.
pub(super) struct Ledger {
    store: Option<Store>,
    /// The history could only be opened for reading: it is shown, nothing is written to it.
    read_only: bool,
    storage: Storage,
    tx: UnboundedSender<Msg>,
    /// History numbers of the runs this session inserted: a queued run can be ended before
    /// its number reaches the app.
    numbers: HashMap<RunKey, i64>,
    pending: Arc<Pending>,
    data_dir: Option<PathBuf>,
}

impl Ledger {
    pub(super) fn open(
        storage: Storage,
        tx: UnboundedSender<Msg>,
        pending: Arc<Pending>,
    ) -> Ledger {
        let (store, read_only) = match storage.open_history() {
            Ok(s) => (Some(s), false),
            // What cannot be written can still be shown: `runs` reads it, so does this.
            Err(e @ (StoreError::ReadOnly { .. } | StoreError::Locked { .. })) => {
                match storage.read_history() {
                    Ok(s) => {
                        let _ = tx.send(Msg::Notice(format!(
                            "history: {e}; it is shown read-only, and new runs are kept in \
                             memory only"
                        )));
                        (Some(s), true)
                    }
                    Err(_) => (Self::unavailable(&tx, e), false),
                }
            }
            Err(e) => (Self::unavailable(&tx, e), false),
        };
        Ledger {
            store,
            read_only,
            storage,
            tx,
            numbers: HashMap::new(),
            pending,
            data_dir: None,
        }
    }

    fn unavailable(tx: &UnboundedSender<Msg>, e: StoreError) -> Option<Store> {
        let why = e.to_string();
        let _ = tx.send(Msg::Notice(format!(
            "history: {why}; runs are kept in memory only"
        )));
        let _ = tx.send(Msg::History(Err(why)));
        None
    }

    pub(super) fn serve(mut self, jobs: mpsc::Receiver<LedgerTask>) {
        for job in jobs {
            self.handle(job);
        }
    }

    fn send(&self, msg: Msg) {
        let _ = self.tx.send(msg);
    }

    fn handle(&mut self, job: LedgerTask) {
        match job {
            // Said once, when it was opened: a read-only history numbers no new run.
            LedgerTask::Insert { run, .. } if self.read_only => {
                self.send(Msg::Stored { run, id: None });
            }
            LedgerTask::Insert { run, name, config } => {
                let id = match self.store.as_ref().map(|s| {
                    let id = s.insert(&name, &config)?;
                    s.set_files(id, self.data_dir.as_deref(), None)?;
                    Ok::<_, StoreError>(id)
                }) {
                    Some(Ok(id)) => {
                        self.numbers.insert(run, id);
                        Some(id)
                    }
                    Some(Err(e)) => {
                        self.send(Msg::Notice(format!(
                            "cannot save run #s{run} to the history ({e}); it is kept in memory"
                        )));
                        None
                    }
                    None => None,
                };
                self.send(Msg::Stored { run, id });
            }
            LedgerTask::EndQueued {
                run,
                stored,
                status,
            } => {
                let id = stored.or_else(|| self.numbers.get(&run).copied());
                if let (Some(store), Some(id)) = (&self.store, id)
                    && let Err(e) = store.end_queued(id, &status)
                {
                    self.send(Msg::Notice(format!(
                        "cannot record run #{id} as {} in the history ({e})",
                        status.label()
                    )));
                }
            }
            LedgerTask::Refresh => {
                self.pending.taken(None);
                self.send(self.rows())
            }
            LedgerTask::RefreshRun(id) => {
                self.pending.taken(Some(id));
                let Some(store) = &self.store else { return };
                match store.get(id) {
                    Ok(row) => self.send(Msg::HistoryRow {
                        id,
                        row: Some(Box::new(row)),
                    }),
                    Err(StoreError::NoRun(_)) => self.send(Msg::HistoryRow { id, row: None }),
                    Err(e) => tracing::warn!("reading run #{id} again: {e}"),
                }
            }
            LedgerTask::ReadPredictions(id) => {
                let Some(store) = &self.store else { return };
                match store.predictions(id) {
                    Ok((p, pictures)) => self.send(Msg::Predictions {
                        id,
                        predictions: Box::new(p),
                        pictures: pictures.map(Box::new),
                    }),
                    Err(e) => self.send(Msg::Notice(format!(
                        "cannot read run #{id}'s predictions: {e}"
                    ))),
                }
            }
            LedgerTask::AskCancel(id) => {
                let Some(store) = &self.store else { return };
                let notice = match store.ask_cancel(id) {
                    Ok(true) => format!(
                        "asked the process that trains run #{id} to cancel it: it stops within \
                         seconds, resumable"
                    ),
                    Ok(false) => format!("run #{id} is no longer training"),
                    Err(e) => format!("could not ask run #{id} to stop: {e}"),
                };
                self.send(Msg::Notice(notice));
            }
            LedgerTask::FindRunning => {
                let Some(store) = &self.store else { return };
                match store.running() {
                    Ok(ids) => self.send(Msg::Running(ids)),
                    Err(e) => tracing::warn!("looking for running runs: {e}"),
                }
            }
            LedgerTask::Delete(ids) => {
                let notice = self
                    .delete(&ids)
                    .unwrap_or_else(|e| format!("delete failed: {e}"));
                self.send(Msg::Notice(notice));
                self.send(self.rows());
            }
            LedgerTask::Export(ids) => {
                let notice = self
                    .export(&ids)
                    .unwrap_or_else(|e| format!("export failed: {e}"));
                self.send(Msg::Notice(notice));
            }
            LedgerTask::Report { ids, reference } => {
                let notice = self
                    .report(&ids, reference.as_deref())
                    .unwrap_or_else(|e| format!("no report: {}", crate::cli::error_line(&e)));
                self.send(Msg::Notice(notice));
            }
            LedgerTask::DataDir(dir) => self.data_dir = dir,
            LedgerTask::ImportSweep(dir) => {
                let Some(store) = &self.store else { return };
                let notice = match import_sweep(store, &Folder(dir)) {
                    Ok(done) => {
                        // The first reason; `cifar-tui import DIR` lists them all.
                        let why = done
                            .skipped
                            .first()
                            .map(|(task, why)| format!(" (task {task}: {why})"));
                        let waiting = done.waiting().map(|w| format!("; {w}"));
                        format!(
                            "{}{}{}",
                            done.summary(),
                            why.unwrap_or_default(),
                            waiting.unwrap_or_default()
                        )
                    }
                    Err(e) => format!("import failed: {e}"),
                };
                self.send(Msg::Notice(notice));
                self.send(self.rows());
            }
            LedgerTask::SaveSettings(state) => {
                let path = state::path_beside(&self.storage.history);
                if let Err(e) = state::save(&path, &state) {
                    self.send(Msg::Notice(format!(
                        "settings not kept for the next launch: cannot write {} ({e})",
                        path.display()
                    )));
                }
            }
        }
    }

    /// Every run, after marking those of dead processes interrupted, so that a row that reads
    /// running or queued has a live owner.
    fn rows(&self) -> Msg {
        Msg::History(match &self.store {
            Some(s) => s
                .mark_interrupted()
                .and_then(|_| s.list())
                .map_err(|e| e.to_string()),
            None => Err("the history is not available (see the notice at start)".into()),
        })
    }

    /// Deletes the runs no live process owns, then their checkpoints (the record goes first,
    /// so a kill between the two leaves files, never a row without them).
    fn delete(&self, ids: &[i64]) -> Result<String, String> {
        let store = self.store.as_ref().ok_or("the history is not available")?;
        store.mark_interrupted().map_err(|e| e.to_string())?;
        let deleted = store.delete_idle(ids).map_err(|e| e.to_string())?;
        for &id in &deleted {
            self.storage.remove_checkpoints(id);
        }
        let kept: Vec<String> = ids
            .iter()
            .filter(|id| !deleted.contains(id))
            .map(|id| format!("#{id}"))
            .collect();
        let mut notice = format!("deleted {} run(s) from the history", deleted.len());
        if !kept.is_empty() {
            notice += &format!(
                "; kept {}: running or queued, cancel first with x",
                kept.join(", ")
            );
        }
        Ok(notice)
    }

    /// A folder of the interface's files (`exports`, `reports`) in the history's data folder.
    fn beside_history(&self, name: &str) -> PathBuf {
        let data = self.storage.checkpoints.parent();
        data.unwrap_or(std::path::Path::new(".")).join(name)
    }

    /// The HTML report of runs `ids`, in a folder of its own beside the exports.
    fn report(&self, ids: &[i64], reference: Option<&str>) -> anyhow::Result<String> {
        use crate::report::{self, Selection};
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the history is not available"))?;
        let now = chrono::Local::now();
        let made = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let reports = self.beside_history("reports");
        // A second report within the same second gets a folder of its own.
        let stamp = now.format("%Y%m%d-%H%M%S").to_string();
        let dir = (1..)
            .map(|k| match k {
                1 => reports.join(format!("report-{stamp}")),
                k => reports.join(format!("report-{stamp}-{k}")),
            })
            .find(|d| !d.exists())
            .unwrap_or_else(|| reports.join(format!("report-{stamp}")));
        let w = report::of_history(store, Selection::Runs(ids), reference, &made, &dir)?;
        let left_out = w.left_out.map(|l| format!("; {l}")).unwrap_or_default();
        Ok(format!(
            "wrote {} ({} run(s); each chart beside it as SVG and PNG){left_out}",
            w.page.display(),
            w.runs,
        ))
    }

    fn export(&self, ids: &[i64]) -> Result<String, String> {
        let store = self.store.as_ref().ok_or("the history is not available")?;
        let runs = ids
            .iter()
            .map(|&id| store.get(id))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let dir = self.beside_history("exports");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
        let mut written = Vec::new();
        for (format, ext) in [
            (Format::Csv, "csv"),
            (Format::Json, "json"),
            (Format::Md, "md"),
        ] {
            let path = dir.join(format!("runs-{stamp}.{ext}"));
            let text = crate::store::export::render(&runs, format).map_err(|e| e.to_string())?;
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            written.push(path);
        }
        Ok(format!(
            "exported {} run(s) to {} (.csv, .json, .md)",
            runs.len(),
            written[0].with_extension("*").display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::effects::tests::{cfg, next, storage};
    use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

    /// A ledger on its own history, driven job by job on the test's thread.
    fn ledger(dir: &std::path::Path) -> (Ledger, UnboundedReceiver<Msg>, Store) {
        let (tx, rx) = unbounded_channel();
        let ledger = Ledger::open(storage(dir), tx, Arc::default());
        let store = Store::open(&dir.join("history.db")).unwrap();
        (ledger, rx, store)
    }

    fn insert(ledger: &mut Ledger, rx: &mut UnboundedReceiver<Msg>, run: RunKey) -> i64 {
        ledger.handle(LedgerTask::Insert {
            run,
            name: "baseline".into(),
            config: cfg(),
        });
        match next(rx) {
            Msg::Stored { id: Some(id), .. } => id,
            other => panic!("{other:?}"),
        }
    }

    /// `W`: the report of the runs asked for goes into a folder of its own beside the
    /// history, each time; a run not finished among them is named in the notice.
    #[test]
    fn a_report_is_written_beside_the_history_and_names_what_it_left_out() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut l, mut rx, mut store) = ledger(tmp.path());
        let done = insert(&mut l, &mut rx, 1);
        store.start(done, "cpu").unwrap();
        store
            .finish(done, &crate::run::fixtures::outcome(0.6, 2))
            .unwrap();
        let queued = insert(&mut l, &mut rx, 2);
        let mut pages = Vec::new();
        for _ in 0..2 {
            l.handle(LedgerTask::Report {
                ids: vec![done, queued],
                reference: None,
            });
            let Ok(Msg::Notice(notice)) = rx.try_recv() else {
                panic!("no notice");
            };
            assert!(notice.contains("(1 run(s);"), "{notice}");
            assert!(
                notice.contains(&format!("not finished: #{queued} (queued)")),
                "{notice}"
            );
            let page = notice.split_whitespace().nth(1).unwrap().to_string();
            assert!(std::path::Path::new(&page).is_file(), "{page}");
            assert!(page.starts_with(&tmp.path().join("reports").display().to_string()));
            pages.push(page);
        }
        assert_ne!(
            pages[0], pages[1],
            "a second report does not overwrite the first"
        );
    }

    #[test]
    fn runs_queued_in_the_interface_record_their_data_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut l, mut rx, store) = ledger(tmp.path());
        l.handle(LedgerTask::DataDir(Some("/data/cifar".into())));
        let id = insert(&mut l, &mut rx, 1);
        let (data_dir, out) = store.files(id).unwrap();
        assert_eq!(
            data_dir.as_deref(),
            Some(std::path::Path::new("/data/cifar"))
        );
        assert_eq!(out, None);
    }

    #[test]
    fn a_queued_run_is_ended_even_before_its_number_reached_the_app() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut l, mut rx, store) = ledger(tmp.path());
        let queued = insert(&mut l, &mut rx, 1);
        let started = insert(&mut l, &mut rx, 2);
        store.start(started, "cpu").unwrap();
        for run in [1, 2] {
            l.handle(LedgerTask::EndQueued {
                run,
                stored: None,
                status: Status::Cancelled,
            });
        }
        assert_eq!(store.get(queued).unwrap().status.label(), "cancelled");
        assert_eq!(
            store.get(started).unwrap().status.label(),
            "running",
            "a run that started is its owner's to end"
        );
    }

    #[test]
    fn delete_spares_runs_with_a_live_owner_and_their_checkpoints() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut l, mut rx, store) = ledger(tmp.path());
        let idle = insert(&mut l, &mut rx, 1);
        store.set_status(idle, &Status::Cancelled).unwrap();
        let live = insert(&mut l, &mut rx, 2);
        store.start(live, "cpu").unwrap();
        let dead = insert(&mut l, &mut rx, 3);
        store.start(dead, "cpu").unwrap();
        // No process has pid 2^30: its owner died, so it is interrupted and may go.
        rusqlite::Connection::open(tmp.path().join("history.db"))
            .unwrap()
            .execute("UPDATE runs SET pid = 1073741824 WHERE id = ?1", [dead])
            .unwrap();
        let ckpt = |id: i64| storage(tmp.path()).run_dir(id);
        for id in [idle, live, dead] {
            std::fs::create_dir_all(ckpt(id)).unwrap();
        }
        l.handle(LedgerTask::Delete(vec![idle, live, dead]));
        let Msg::Notice(notice) = rx.blocking_recv().unwrap() else {
            panic!("a delete is reported")
        };
        assert!(
            notice.contains("deleted 2 run(s)") && notice.contains(&format!("kept #{live}")),
            "{notice}"
        );
        assert_eq!(store.get(live).unwrap().status.label(), "running");
        assert!(ckpt(live).is_dir(), "the live run keeps its checkpoints");
        assert!(!ckpt(idle).exists() && !ckpt(dead).exists());
        assert!(matches!(store.get(idle), Err(StoreError::NoRun(_))));
        let Msg::History(Ok(rows)) = next(&mut rx) else {
            panic!("the list is read again")
        };
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [live]);
    }

    #[test]
    fn refreshing_a_run_reads_that_run_only() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut l, mut rx, store) = ledger(tmp.path());
        let a = insert(&mut l, &mut rx, 1);
        insert(&mut l, &mut rx, 2);
        l.handle(LedgerTask::RefreshRun(a));
        match next(&mut rx) {
            Msg::HistoryRow { id, row: Some(row) } => assert_eq!((id, row.id), (a, a)),
            other => panic!("{other:?}"),
        }
        store.delete(&[a]).unwrap();
        l.handle(LedgerTask::RefreshRun(a));
        assert_eq!(next(&mut rx), Msg::HistoryRow { id: a, row: None });
    }
}
