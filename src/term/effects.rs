//! The app's commands turned into work off the event loop: a thread per training run, one
//! ledger thread that owns the history connection, a thread for the data; every result comes
//! back as a [`Msg`]. Nothing here waits on a disk or a database on the caller's thread.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::ledger::{Ledger, LedgerTask, Pending};
use crate::app::{Command, DataState, Msg, RunEnd};
use crate::cli::setup::{Context, available_memory, room_beside};
use crate::run::RunKey;
use crate::run::replay::Replay;
use crate::store::Store;
use crate::store::lifecycle::{self, Stop, Storage};
use crate::store::sweep::Folder;
use cifar_engine::config::TrainConfig;
use cifar_engine::data::{self, Cifar10};
use cifar_engine::events::DeviceChoice;
use cifar_engine::{RunError, runner::TrainError};

/// How long quitting waits for runs to record where they stopped. A step takes well under a
/// second, an evaluation a few; past that, the next start's dead-process check marks the run
/// interrupted anyway.
const GRACE: Duration = Duration::from_secs(5);

/// A training run handed to its thread.
struct Launch {
    run: RunKey,
    stored: Option<i64>,
    config: TrainConfig,
    device: DeviceChoice,
}

/// A training thread and the way to stop it.
struct Training {
    stop: Arc<Stop>,
    thread: JoinHandle<()>,
    /// Its number in the history, where it has one.
    stored: Option<i64>,
}

pub struct Effects {
    tx: UnboundedSender<Msg>,
    storage: Storage,
    /// Set by the loading thread before it reports the data ready, so a run the app starts
    /// after that report always finds it.
    data: Arc<OnceLock<Arc<Cifar10>>>,
    ledger: Option<mpsc::Sender<LedgerTask>>,
    ledger_thread: Option<JoinHandle<()>>,
    /// Shared with the ledger thread.
    pending: Arc<Pending>,
    training: HashMap<RunKey, Training>,
    /// Replays playing, and the flag that stops each.
    replays: HashMap<RunKey, Arc<AtomicBool>>,
    /// Memory free now, in bytes (tests stand in their own figure).
    available: fn() -> Option<u64>,
    /// Makes every training thread fail to spawn, as when the system is out of threads.
    #[cfg(test)]
    fail_spawn: bool,
}

impl Effects {
    /// Starts the ledger thread, which opens the history; messages go to `tx`.
    pub fn new(storage: Storage, tx: UnboundedSender<Msg>) -> Effects {
        let (ledger, jobs) = mpsc::channel();
        let pending = Arc::new(Pending::default());
        let ledger_thread = {
            let (storage, tx, pending) = (storage.clone(), tx.clone(), pending.clone());
            std::thread::Builder::new()
                .name("ledger".into())
                .spawn(move || Ledger::open(storage, tx, pending).serve(jobs))
        };
        let ledger_thread = match ledger_thread {
            Ok(t) => Some(t),
            Err(e) => {
                let why = format!("cannot start the history's thread ({e})");
                let _ = tx.send(Msg::Notice(format!(
                    "history: {why}; runs are kept in memory only"
                )));
                let _ = tx.send(Msg::History(Err(why)));
                None
            }
        };
        Effects {
            ledger: ledger_thread.is_some().then_some(ledger),
            ledger_thread,
            pending,
            tx,
            storage,
            data: Arc::default(),
            training: HashMap::new(),
            replays: HashMap::new(),
            available: available_memory,
            #[cfg(test)]
            fail_spawn: false,
        }
    }

    /// Loads the data on its own thread, reporting progress and the end as messages.
    pub fn load_data(&self, ctx: &Context) {
        let absolute = ctx
            .data_dir
            .as_deref()
            .and_then(|d| std::path::absolute(d).ok());
        self.ledger(LedgerTask::DataDir(absolute));
        let (dir, cache) = (ctx.data_dir.clone(), ctx.cache_dir.clone());
        let (slot, tx) = (self.data.clone(), self.tx.clone());
        let work = move || {
            let progress = tx.clone();
            let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                data::obtain(dir.as_deref(), &cache, |p| {
                    let _ = progress.send(Msg::DataProgress(p));
                })
            }));
            let state = match loaded {
                Ok(Ok(d)) => {
                    let state = DataState::Ready {
                        train: d.train.len(),
                        test: d.test.len(),
                    };
                    let d = Arc::new(d);
                    let _ = slot.set(d.clone());
                    let _ = tx.send(Msg::TestImages(crate::app::TestImages(d)));
                    state
                }
                Ok(Err(e)) => {
                    tracing::error!("data: {e}");
                    DataState::Failed(e.to_string())
                }
                Err(_) => DataState::Failed("data loading crashed (see the log)".into()),
            };
            let _ = tx.send(Msg::Data(state));
        };
        if let Err(e) = std::thread::Builder::new().name("data".into()).spawn(work) {
            let _ = self.tx.send(Msg::Data(DataState::Failed(format!(
                "cannot start the thread that loads the data ({e})"
            ))));
        }
    }
    /// Carries out one command; returns at once. `Quit` is [`Effects::shut_down`]'s, `Suspend`
    /// the event loop's.
    /// Carries out one command; returns at once. `Quit` is [`Effects::shut_down`]'s.
    pub fn perform(&mut self, command: Command) {
        match command {
            Command::Enqueue { run, name, config } => {
                self.ledger(LedgerTask::Insert { run, name, config })
            }
            Command::Start {
                run,
                stored,
                config,
                device,
            } => self.start(Launch {
                run,
                stored,
                config,
                device,
            }),
            Command::Cancel(run) => {
                if let Some(t) = self.training.get(&run) {
                    t.stop.cancel();
                }
                if let Some(stop) = self.replays.get(&run) {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            Command::Replay { run, replay, speed } => self.replay(run, *replay, speed),
            Command::EndQueued {
                run,
                stored,
                status,
            } => self.ledger(LedgerTask::EndQueued {
                run,
                stored,
                status,
            }),
            Command::RefreshHistory => {
                if self.pending.ask(None) {
                    self.ledger(LedgerTask::Refresh)
                }
            }
            Command::RefreshRun(id) => {
                if self.pending.ask(Some(id)) {
                    self.ledger(LedgerTask::RefreshRun(id))
                }
            }
            Command::FindRunning => self.ledger(LedgerTask::FindRunning),
            Command::AskCancel(id) => self.ledger(LedgerTask::AskCancel(id)),
            Command::ReadPredictions(id) => self.ledger(LedgerTask::ReadPredictions(id)),
            Command::Delete(ids) => self.ledger(LedgerTask::Delete(ids)),
            Command::Export(ids) => self.ledger(LedgerTask::Export(ids)),
            Command::Report { ids, reference } => {
                self.ledger(LedgerTask::Report { ids, reference })
            }
            Command::SaveSettings(state) => self.ledger(LedgerTask::SaveSettings(state)),
            Command::ImportSweep(dir) => self.ledger(LedgerTask::ImportSweep(dir)),
            Command::ReadSweep(dir) => self.read_sweep(dir),
            Command::ReadSweepRuns { dir, tasks } => self.read_sweep_runs(dir, tasks),
            Command::Quit | Command::Suspend | Command::Notify(_) => {}
        }
    }

    /// Queues a job for the ledger thread; if that thread is gone, answers as it would
    /// without a history.
    fn ledger(&self, job: LedgerTask) {
        let job = match &self.ledger {
            Some(ledger) => match ledger.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let notice = match job {
            LedgerTask::Insert { run, .. } => {
                let _ = self.tx.send(Msg::Stored { run, id: None });
                format!("run #s{run} is kept in memory only: the history is not available")
            }
            // Without a history folder there is nowhere to keep settings either.
            LedgerTask::Refresh
            | LedgerTask::RefreshRun(_)
            | LedgerTask::FindRunning
            | LedgerTask::AskCancel(_)
            | LedgerTask::ReadPredictions(_)
            | LedgerTask::EndQueued { .. }
            | LedgerTask::SaveSettings(_)
            | LedgerTask::DataDir(_) => {
                return;
            }
            LedgerTask::Delete(_) => "nothing deleted: the history is not available".into(),
            LedgerTask::Export(_) => "nothing exported: the history is not available".into(),
            LedgerTask::Report { .. } => "no report: the history is not available".into(),
            LedgerTask::ImportSweep(_) => "nothing imported: the history is not available".into(),
        };
        let _ = self.tx.send(Msg::Notice(notice));
    }

    /// Reads a sweep folder on its own thread: on a shared file system that can take a while.
    fn read_sweep(&self, dir: PathBuf) {
        let tx = self.tx.clone();
        let work = move || {
            let reading = Folder(dir).snapshot().map_err(|e| e.to_string());
            let _ = tx.send(Msg::Sweep(reading));
        };
        if let Err(e) = std::thread::Builder::new().name("sweep".into()).spawn(work) {
            let _ = self.tx.send(Msg::Sweep(Err(format!(
                "cannot start the thread that reads the sweep ({e})"
            ))));
        }
    }

    /// Reads sweep tasks' runs, each from its task's own history, on a thread of its own.
    fn read_sweep_runs(&self, dir: PathBuf, tasks: Vec<usize>) {
        let tx = self.tx.clone();
        let work = move || {
            let folder = Folder(dir);
            let rows = tasks
                .into_iter()
                .filter_map(|task| {
                    // The task's one run; a history not written yet reads empty.
                    let read = Store::open_read_only(&folder.history(task))
                        .and_then(|s| s.list())
                        .map(|rows| rows.into_iter().next());
                    match read {
                        Ok(row) => Some((task, Box::new(row?))),
                        Err(e) => {
                            tracing::warn!("sweep task {task}: {e}");
                            None
                        }
                    }
                })
                .collect();
            let _ = tx.send(Msg::SweepRuns(rows));
        };
        if let Err(e) = std::thread::Builder::new()
            .name("sweep runs".into())
            .spawn(work)
        {
            tracing::warn!("cannot start the thread that reads sweep tasks' runs: {e}");
            let _ = self.tx.send(Msg::SweepRuns(Vec::new()));
        }
    }

    /// Starts a run's thread. Whatever keeps it from starting ends it as failed, so the app
    /// can record that and start the next one.
    fn start(&mut self, launch: Launch) {
        self.training.retain(|_, t| !t.thread.is_finished());
        let run = launch.run;
        let Some(data) = self.data.get().cloned() else {
            return self.fail(run, "the data is not loaded yet".into());
        };
        // Sized when it starts, beside the runs already training (GPU memory is the driver's).
        if !launch.device.is_gpu()
            && let Some(bytes) = (self.available)()
            && let Err(why) = room_beside(&launch.config, self.training.len(), bytes)
        {
            return self.fail(run, why);
        }
        let stop = Arc::new(Stop::default());
        let stored = launch.stored;
        match self.spawn(launch, data, stop.clone()) {
            Ok(thread) => {
                let training = Training {
                    stop,
                    thread,
                    stored,
                };
                self.training.insert(run, training);
            }
            Err(e) => self.fail(run, format!("cannot start a training thread ({e})")),
        }
    }

    /// Plays `replay` back on its own thread, its events at `speed` times their pace.
    fn replay(&mut self, run: RunKey, replay: Replay, speed: f64) {
        // A replay's thread holds the other handle on its flag until it ends.
        self.replays.retain(|_, stop| Arc::strong_count(stop) > 1);
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, flag) = (self.tx.clone(), stop.clone());
        match std::thread::Builder::new()
            .name(format!("replay-{run}"))
            .spawn(move || super::player::play(run, replay, speed, &tx, &flag))
        {
            Ok(_) => {
                self.replays.insert(run, stop);
            }
            Err(e) => self.fail(run, format!("cannot start the replay's thread ({e})")),
        }
    }

    fn fail(&self, run: RunKey, why: String) {
        tracing::error!("run {run} could not start: {why}");
        let _ = self.tx.send(Msg::Done {
            run,
            result: Err(RunEnd::Failed(why)),
        });
    }

    /// The training thread; everything it has to say arrives as messages.
    fn spawn(
        &self,
        launch: Launch,
        data: Arc<Cifar10>,
        stop: Arc<Stop>,
    ) -> std::io::Result<JoinHandle<()>> {
        #[cfg(test)]
        if self.fail_spawn {
            return Err(std::io::Error::other("no more threads (test)"));
        }
        let (storage, tx) = (self.storage.clone(), self.tx.clone());
        let run = launch.run;
        std::thread::Builder::new()
            .name(format!("train-{run}"))
            .spawn(move || {
                let notice_tx = tx.clone();
                let event_tx = tx.clone();
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let task = lifecycle::Task {
                        storage: &storage,
                        id: launch.stored,
                        data: &data,
                        config: &launch.config,
                        device: launch.device,
                        stop: &stop,
                        // The charts move within the epoch: validation too.
                        val_points: cifar_engine::events::VAL_POINTS,
                    };
                    lifecycle::execute(
                        task,
                        &mut |n| drop(notice_tx.send(Msg::Notice(n))),
                        &mut |event| drop(event_tx.send(Msg::Train { run, event })),
                    )
                }));
                let result = match result {
                    Ok(Ok(outcome)) => Ok(Box::new(outcome)),
                    Ok(Err(lifecycle::LifecycleError::Run(RunError::Train(
                        TrainError::Cancelled,
                    )))) => Err(RunEnd::Cancelled),
                    Ok(Err(lifecycle::LifecycleError::Run(
                        e @ RunError::Train(TrainError::Diverged { .. }),
                    ))) => Err(RunEnd::Diverged(e.to_string())),
                    Ok(Err(e)) => Err(RunEnd::Failed(e.to_string())),
                    Err(_) => Err(RunEnd::Failed(
                        "the training thread panicked (see the log)".into(),
                    )),
                };
                if let Err(e) = &result {
                    tracing::warn!("run {run}: {e:?}");
                }
                let _ = tx.send(Msg::Done { run, result });
            })
    }

    /// Leaves every run resumable: training ones are interrupted (their last epoch's
    /// checkpoint is on disk) and the ledger finishes what it was asked (the app's last
    /// commands mark queued runs interrupted). Waits for both, at most [`GRACE`], without
    /// holding up the runtime. Returns the history numbers of the runs that were training.
    pub async fn shut_down(mut self) -> Vec<i64> {
        self.training.retain(|_, t| !t.thread.is_finished());
        let training: Vec<i64> = self.training.values().filter_map(|t| t.stored).collect();
        for t in self.training.values() {
            t.stop.interrupt();
        }
        for stop in self.replays.values() {
            stop.store(true, Ordering::Relaxed);
        }
        // Closing the queue lets the ledger thread end once it has done every job.
        drop(self.ledger.take());
        let threads: Vec<JoinHandle<()>> = self
            .training
            .into_values()
            .map(|t| t.thread)
            .chain(self.ledger_thread)
            .collect();
        let joined = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        });
        if tokio::time::timeout(GRACE, joined).await.is_err() {
            tracing::warn!("quitting before every run recorded where it stopped");
        }
        training
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::run::Status;
    use cifar_engine::config::Hyper;
    use cifar_engine::tricks::{self, TrickSet};
    use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

    pub(in crate::term) fn cfg() -> TrainConfig {
        tricks::resolve(&TrickSet::new(), &Hyper::default())
    }

    pub(in crate::term) fn storage(dir: &std::path::Path) -> Storage {
        Storage {
            history: dir.join("history.db"),
            checkpoints: dir.join("checkpoints"),
        }
    }

    fn start(run: RunKey, stored: Option<i64>) -> Command {
        Command::Start {
            run,
            stored,
            config: cfg(),
            device: DeviceChoice::Cpu,
        }
    }

    /// The next message that is not a notice.
    pub(in crate::term) fn next(rx: &mut UnboundedReceiver<Msg>) -> Msg {
        loop {
            match rx
                .blocking_recv()
                .expect("the effects keep the channel open")
            {
                Msg::Notice(_) => {}
                msg => return msg,
            }
        }
    }

    fn failed(msg: Msg) -> (RunKey, String) {
        match msg {
            Msg::Done {
                run,
                result: Err(RunEnd::Failed(why)),
            } => (run, why),
            other => panic!("not a failed end: {other:?}"),
        }
    }

    #[test]
    fn a_sweep_is_read_off_the_loop_and_imported_by_the_ledger() {
        use crate::store::sweep::{Line, TaskState, sample};
        let tmp = tempfile::tempdir().unwrap();
        let (tx, mut rx) = unbounded_channel();
        let mut effects = Effects::new(storage(tmp.path()), tx);
        let dir = tmp.path().join("sweep1");
        effects.perform(Command::ReadSweep(dir.clone()));
        match next(&mut rx) {
            Msg::Sweep(Err(why)) => assert!(why.contains("plan.json"), "{why}"),
            other => panic!("{other:?}"),
        }
        let folder = Folder(dir.clone());
        folder.create(&sample().plan).unwrap();
        let started = Line::Started {
            at: "t".into(),
            host: "node3".into(),
            job: Some("7_1".into()),
            attempt: 1,
        };
        std::fs::create_dir_all(folder.task(1)).unwrap();
        folder.report(1, &started).unwrap();
        effects.perform(Command::ReadSweep(dir.clone()));
        match next(&mut rx) {
            Msg::Sweep(Ok(s)) => {
                assert_eq!(s.plan, sample().plan);
                assert_eq!(s.states[0], TaskState::Queued);
                assert!(matches!(&s.states[1], TaskState::Running { host, .. } if host == "node3"));
            }
            other => panic!("{other:?}"),
        }
        effects.perform(Command::ImportSweep(dir));
        loop {
            match rx.blocking_recv().unwrap() {
                Msg::Notice(n) if n.starts_with("imported") => {
                    assert_eq!(
                        n,
                        "imported 0 run(s); 0 already there; not finished yet: 5 task(s) (0-4)"
                    );
                    break;
                }
                _ => {}
            }
        }
        assert!(matches!(next(&mut rx), Msg::History(Ok(rows)) if rows.is_empty()));
    }

    /// A history nobody may write (here `chattr +i`) is shown read-only, as `runs` shows it,
    /// rather than "not available"; a new run is kept in memory without a second word.
    #[test]
    fn a_read_only_history_is_shown_and_new_runs_are_kept_in_memory() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = storage(tmp.path());
        let mut store = Store::open(&storage.history).unwrap();
        let id = store.insert("baseline", &cfg()).unwrap();
        store
            .finish(id, &crate::run::fixtures::outcome(0.5, 2))
            .unwrap();
        drop(store);
        let Some(_guard) = crate::store::fixtures::Immutable::set(tmp.path()) else {
            eprintln!("chattr +i is not available here: the read-only history is not tried");
            return;
        };
        let (tx, mut rx) = unbounded_channel();
        let mut effects = Effects::new(storage, tx);
        effects.perform(Command::RefreshHistory);
        effects.perform(Command::Enqueue {
            run: 1,
            name: "baseline".into(),
            config: cfg(),
        });
        let Msg::Notice(said) = rx.blocking_recv().unwrap() else {
            panic!("the first word is a notice");
        };
        assert!(
            said.contains("is read-only") && said.contains("shown read-only"),
            "{said}"
        );
        assert!(matches!(next(&mut rx), Msg::History(Ok(rows)) if rows.len() == 1));
        assert_eq!(next(&mut rx), Msg::Stored { run: 1, id: None });
        drop(effects);
        assert!(rx.blocking_recv().is_none(), "nothing more said");
    }

    #[test]
    fn a_start_without_data_ends_the_run_failed() {
        let tmp = tempfile::tempdir().unwrap();
        let (tx, mut rx) = unbounded_channel();
        let mut effects = Effects::new(storage(tmp.path()), tx);
        effects.perform(start(3, None));
        // Without an answer the channel closes, and the test fails instead of waiting.
        drop(effects);
        let (run, why) = failed(next(&mut rx));
        assert_eq!(run, 3);
        assert!(why.contains("data is not loaded"), "{why}");
    }

    #[test]
    fn a_run_that_would_not_fit_in_memory_beside_the_others_fails_to_start() {
        let tmp = tempfile::tempdir().unwrap();
        let (tx, mut rx) = unbounded_channel();
        let mut effects = Effects::new(storage(tmp.path()), tx);
        effects.data.set(Arc::default()).unwrap();
        effects.available = || Some(50_000_000);
        effects.perform(start(5, None));
        drop(effects);
        let (run, why) = failed(next(&mut rx));
        assert_eq!(run, 5);
        assert!(
            why.starts_with("not enough memory to start: batch_size 64"),
            "{why}"
        );
    }

    #[test]
    fn a_thread_that_cannot_be_spawned_ends_the_run_failed() {
        let tmp = tempfile::tempdir().unwrap();
        let (tx, mut rx) = unbounded_channel();
        let mut effects = Effects::new(storage(tmp.path()), tx);
        effects.data.set(Arc::default()).unwrap();
        effects.fail_spawn = true;
        effects.perform(start(4, None));
        // Without an answer the channel closes, and the test fails instead of waiting.
        drop(effects);
        let (run, why) = failed(next(&mut rx));
        assert_eq!(run, 4);
        assert!(why.contains("cannot start a training thread"), "{why}");
    }

    /// Effects on a fresh history whose write lock another process holds until the returned
    /// connection commits.
    fn held_up(dir: &std::path::Path) -> (Effects, UnboundedReceiver<Msg>, rusqlite::Connection) {
        let storage = storage(dir);
        drop(Store::open(&storage.history).unwrap());
        let other = rusqlite::Connection::open(&storage.history).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (tx, rx) = unbounded_channel();
        (Effects::new(storage, tx), rx, other)
    }

    #[test]
    fn commands_return_while_the_history_waits_on_another_writer() {
        let tmp = tempfile::tempdir().unwrap();
        // Another process holds the write lock: an insert has to wait for it.
        let (mut effects, mut rx, other) = held_up(tmp.path());
        effects.perform(Command::Enqueue {
            run: 1,
            name: "baseline".into(),
            config: cfg(),
        });
        effects.perform(Command::Delete(vec![1]));
        // Back here with the lock still held: nothing was written, nothing answered yet.
        assert!(rx.try_recv().is_err(), "the caller waited for the database");
        other.execute_batch("COMMIT").unwrap();
        assert_eq!(
            next(&mut rx),
            Msg::Stored {
                run: 1,
                id: Some(1)
            }
        );
    }

    #[test]
    fn reads_asked_while_the_ledger_is_busy_wait_once_each() {
        let tmp = tempfile::tempdir().unwrap();
        // The ledger is held up by another process's write lock while History is visited
        // over and over.
        let (mut effects, mut rx, other) = held_up(tmp.path());
        let enqueue = |run| Command::Enqueue {
            run,
            name: "baseline".into(),
            config: cfg(),
        };
        effects.perform(enqueue(1));
        for _ in 0..10 {
            effects.perform(Command::RefreshHistory);
            effects.perform(Command::RefreshRun(1));
            effects.perform(Command::RefreshRun(2));
        }
        // The next run's insert comes right after one read of each kind, not thirty.
        effects.perform(enqueue(2));
        other.execute_batch("COMMIT").unwrap();
        let mut answers = Vec::new();
        loop {
            match next(&mut rx) {
                Msg::Stored { run: 2, .. } => break,
                Msg::History(_) => answers.push("list".to_string()),
                Msg::HistoryRow { id, .. } => answers.push(format!("run {id}")),
                Msg::Stored { .. } => answers.push("stored".into()),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(answers, ["stored", "list", "run 1", "run 2"]);
        // Taken up, a read can be asked again.
        effects.perform(Command::RefreshHistory);
        assert!(matches!(next(&mut rx), Msg::History(Ok(rows)) if rows.len() == 2));
    }

    #[tokio::test]
    async fn quitting_lets_the_ledger_finish_its_jobs() {
        let tmp = tempfile::tempdir().unwrap();
        let (tx, _rx) = unbounded_channel();
        let mut effects = Effects::new(storage(tmp.path()), tx);
        effects.perform(Command::Enqueue {
            run: 1,
            name: "baseline".into(),
            config: cfg(),
        });
        effects.perform(Command::EndQueued {
            run: 1,
            stored: None,
            status: Status::Interrupted(Some("cifar-tui quit before it started".into())),
        });
        effects.shut_down().await;
        let store = Store::open(&tmp.path().join("history.db")).unwrap();
        assert_eq!(store.get(1).unwrap().status.label(), "interrupted");
    }
}
