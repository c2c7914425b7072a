//! The event loop: keys, data loading, training events and signals merged into one stream of
//! [`Msg`]s; commands carried out; frames drawn at most `fps` times a second.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Result;
use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::app::runs::RunId;
use crate::app::{App, Command, DataState, Msg, RunEnd};
use crate::cli::Format;
use crate::cli::setup::Context;
use crate::store::job::{self, Places, Stop};
use crate::store::{Status, Store};
use crate::term::keymap;
use crate::ui::{self, theme::Theme};
use cifar_engine::config::TrainConfig;
use cifar_engine::data::{self, Cifar10};
use cifar_engine::events::DeviceChoice;
use cifar_engine::{RunError, runner::TrainError};

type Loading = tokio::task::JoinHandle<Result<Cifar10, data::DataError>>;

/// Loads the data on a blocking thread, reporting progress as messages.
fn load_data(ctx: &Context, tx: UnboundedSender<Msg>) -> Loading {
    let dir = ctx.data_dir.clone();
    let cache = ctx.cache_dir.clone();
    tokio::task::spawn_blocking(move || {
        data::obtain(dir.as_deref(), &cache, |p| {
            let _ = tx.send(Msg::DataProgress(p));
        })
    })
}

/// A run handed to a training thread.
struct Launch {
    run: RunId,
    stored: Option<i64>,
    config: TrainConfig,
    device: DeviceChoice,
}

/// Starts a training thread; everything it has to say arrives as messages.
fn spawn_run(
    launch: Launch,
    places: Places,
    data: Arc<Cifar10>,
    stop: Arc<Stop>,
    tx: UnboundedSender<Msg>,
) -> Option<JoinHandle<()>> {
    let run = launch.run;
    let spawned = std::thread::Builder::new()
        .name(format!("train-{run}"))
        .spawn(move || {
            let notice_tx = tx.clone();
            let event_tx = tx.clone();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let task = job::Task {
                    places: &places,
                    id: launch.stored,
                    data: &data,
                    config: &launch.config,
                    device: launch.device,
                    stop: &stop,
                };
                job::execute(
                    task,
                    &mut |n| drop(notice_tx.send(Msg::Notice(n))),
                    &mut |event| drop(event_tx.send(Msg::Train { run, event })),
                )
            }));
            let result = match result {
                Ok(Ok(outcome)) => Ok(Box::new(outcome)),
                Ok(Err(RunError::Train(TrainError::Cancelled))) => Err(RunEnd::Cancelled),
                Ok(Err(e @ RunError::Train(TrainError::Diverged { .. }))) => {
                    Err(RunEnd::Diverged(e.to_string()))
                }
                Ok(Err(e)) => Err(RunEnd::Failed(e.to_string())),
                Err(_) => Err(RunEnd::Failed(
                    "the training thread panicked (see the log)".into(),
                )),
            };
            if let Err(e) = &result {
                tracing::warn!("run {run}: {e:?}");
            }
            let _ = tx.send(Msg::Done { run, result });
        });
    match spawned {
        Ok(handle) => Some(handle),
        Err(e) => {
            tracing::error!("cannot start a training thread: {e}");
            None
        }
    }
}

/// The loop's own connection to the history, for listing, deleting and exporting. `None`
/// when the history cannot be used; the reason goes to the History screen.
struct Ledger {
    store: Option<Store>,
    places: Places,
}

impl Ledger {
    fn open(places: Places) -> (Ledger, Option<String>) {
        let (store, problem) = match places.open_history() {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e.to_string())),
        };
        (Ledger { store, places }, problem)
    }

    fn rows(&self) -> Msg {
        Msg::History(match &self.store {
            Some(s) => s.list().map_err(|e| e.to_string()),
            None => Err("the history is not available (see the notice at start)".into()),
        })
    }

    fn export(&self, ids: &[i64]) -> Result<String, String> {
        let store = self.store.as_ref().ok_or("the history is not available")?;
        let runs = ids
            .iter()
            .map(|&id| store.get(id))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let dir = self
            .places
            .checkpoints
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("exports");
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

/// Runs the interface until quit. `pending` holds commands the app issued before the loop
/// (e.g. `cifar-tui run` queues its run at once).
pub async fn run(
    mut terminal: DefaultTerminal,
    mut app: App,
    ctx: Context,
    mut pending: Vec<Command>,
) -> Result<()> {
    let theme = Theme::from_env();
    let (tx, mut rx) = unbounded_channel::<Msg>();
    let mut loading = load_data(&ctx, tx.clone());
    let mut data: Option<Arc<Cifar10>> = None;
    let (ledger, problem) = Ledger::open(ctx.places.clone());
    if let Some(p) = problem {
        let _ = tx.send(Msg::Notice(format!(
            "history: {p}; runs are kept in memory only"
        )));
        let _ = tx.send(Msg::History(Err(p)));
    }
    let mut stops: HashMap<RunId, Arc<Stop>> = HashMap::new();
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut keys = EventStream::new();
    let fps = ctx.settings.app.fps.max(1);
    let mut frame = tokio::time::interval(Duration::from_secs_f64(1.0 / fps as f64));
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let signal = crate::term::signals::any();
    tokio::pin!(signal);
    let mut dirty = true;
    let mut loaded = false;

    loop {
        for command in std::mem::take(&mut pending) {
            match command {
                Command::Enqueue { run, name, config } => {
                    if let Some(store) = &ledger.store {
                        match store.insert(&name, &config) {
                            Ok(id) => pending.extend(app.update(Msg::Stored { run, id })),
                            Err(e) => pending.extend(app.update(Msg::Notice(format!(
                                "cannot save run #{run} to the history ({e}); it is kept in memory"
                            )))),
                        }
                    }
                }
                Command::Start {
                    run,
                    config,
                    device,
                } => {
                    let Some(d) = data.clone() else {
                        tracing::error!("run {run} started before the data arrived");
                        continue;
                    };
                    let stop = Arc::new(Stop::default());
                    stops.insert(run, stop.clone());
                    let launch = Launch {
                        run,
                        // Read now, not when the start was decided: the run may have been
                        // stored by an Enqueue handled since (its history number resumes it).
                        stored: app.runs.iter().find(|r| r.id == run).and_then(|r| r.stored),
                        config,
                        device,
                    };
                    threads.extend(spawn_run(
                        launch,
                        ledger.places.clone(),
                        d,
                        stop,
                        tx.clone(),
                    ));
                }
                Command::Cancel(run) => {
                    if let Some(s) = stops.get(&run) {
                        s.cancel();
                    }
                }
                Command::RefreshHistory => pending.extend(app.update(ledger.rows())),
                Command::Delete(ids) => {
                    if let Some(s) = &ledger.store
                        && let Err(e) = s.delete(&ids)
                    {
                        pending.extend(app.update(Msg::Notice(format!("delete failed: {e}"))));
                    }
                    for id in &ids {
                        ledger.places.remove_checkpoints(*id);
                    }
                    pending.extend(app.update(ledger.rows()));
                }
                Command::Export(ids) => {
                    let notice = ledger
                        .export(&ids)
                        .unwrap_or_else(|e| format!("export failed: {e}"));
                    pending.extend(app.update(Msg::Notice(notice)));
                }
                Command::Quit => {
                    shut_down(&app, &ledger, &stops, threads);
                    return Ok(());
                }
            }
        }
        let msg = tokio::select! {
            Some(Ok(ev)) = keys.next() => match ev {
                Event::Key(key) => keymap::action(&app.mode, app.screen, key).map(Msg::Action),
                Event::Resize(..) => { dirty = true; None }
                _ => None,
            },
            Some(msg) = rx.recv() => Some(msg),
            joined = &mut loading, if !loaded => {
                loaded = true;
                // The state changes only now, so no run can start before `data` is set.
                Some(Msg::Data(match joined {
                    Ok(Ok(d)) => {
                        let state = DataState::Ready { train: d.train.len(), test: d.test.len() };
                        data = Some(Arc::new(d));
                        state
                    }
                    Ok(Err(e)) => {
                        tracing::error!("data: {e}");
                        DataState::Failed(e.to_string())
                    }
                    Err(e) => DataState::Failed(format!("data loading crashed: {e}")),
                }))
            }
            _ = &mut signal => {
                tracing::info!("signal received: keeping the runs and quitting");
                shut_down(&app, &ledger, &stops, threads);
                return Ok(());
            }
            _ = frame.tick() => {
                if dirty {
                    terminal.draw(|f| ui::draw(f, &app, &theme))?;
                    dirty = false;
                }
                None
            }
        };
        if let Some(msg) = msg {
            dirty = true;
            pending.extend(app.update(msg));
        }
    }
}

/// Leaves every run resumable: active ones are interrupted (their last epoch's checkpoint is
/// on disk) and given a moment to record that; queued ones are marked interrupted.
fn shut_down(
    app: &App,
    ledger: &Ledger,
    stops: &HashMap<RunId, Arc<Stop>>,
    threads: Vec<JoinHandle<()>>,
) {
    for s in stops.values() {
        s.interrupt();
    }
    if let Some(store) = &ledger.store {
        for run in app
            .runs
            .iter()
            .filter(|r| r.status == crate::app::runs::RunStatus::Queued)
        {
            if let Some(id) = run.stored {
                let _ = store.set_status(
                    id,
                    Status::Interrupted,
                    Some("cifar-tui quit before it started"),
                );
            }
        }
    }
    // A step takes well under a second; an evaluation a few. Past that, the next start's
    // dead-process check marks the run interrupted anyway.
    let deadline = Instant::now() + Duration::from_secs(5);
    for t in threads {
        while !t.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
