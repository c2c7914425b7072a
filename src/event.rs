//! The event loop: keys, data loading, training events and signals merged into one stream of
//! [`Msg`]s; commands carried out; frames drawn at most `fps` times a second.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::app::{App, Command, DataState, Msg, RunEnd};
use crate::data::{self, Cifar10};
use crate::keymap;
use crate::runs::RunId;
use crate::setup::Context;
use crate::train::{self, RunError, runner::TrainError};
use crate::ui::{self, theme::Theme};

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

/// Starts a training thread; everything it has to say arrives as messages.
fn spawn_run(
    run: RunId,
    config: train::config::TrainConfig,
    device: train::backend::DeviceChoice,
    data: Arc<Cifar10>,
    cancel: Arc<AtomicBool>,
    tx: UnboundedSender<Msg>,
) {
    let spawned = std::thread::Builder::new()
        .name(format!("train-{run}"))
        .spawn(move || {
            let notice_tx = tx.clone();
            let event_tx = tx.clone();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let job = train::Job {
                    data: &data,
                    config: &config,
                    cancel: &cancel,
                    checkpoints: None,
                    done: Vec::new(),
                };
                train::run(
                    job,
                    device,
                    |n| drop(notice_tx.send(Msg::Notice(n))),
                    |event| drop(event_tx.send(Msg::Train { run, event })),
                )
            }));
            let result = match result {
                Ok(Ok(outcome)) => Ok(Box::new(outcome)),
                Ok(Err(RunError::Train(TrainError::Cancelled))) => Err(RunEnd::Cancelled),
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
    if let Err(e) = spawned {
        tracing::error!("cannot start a training thread: {e}");
    }
}

pub async fn run(mut terminal: DefaultTerminal, mut app: App, ctx: Context) -> Result<()> {
    let theme = Theme::from_env();
    let (tx, mut rx) = unbounded_channel::<Msg>();
    let mut loading = load_data(&ctx, tx.clone());
    let mut data: Option<Arc<Cifar10>> = None;
    let mut cancels: HashMap<RunId, Arc<AtomicBool>> = HashMap::new();
    let mut keys = EventStream::new();
    let fps = ctx.settings.app.fps.max(1);
    let mut frame = tokio::time::interval(Duration::from_secs_f64(1.0 / fps as f64));
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let signal = crate::signals::any();
    tokio::pin!(signal);
    let mut dirty = true;
    let mut loaded = false;

    loop {
        let msg = tokio::select! {
            Some(Ok(ev)) = keys.next() => match ev {
                Event::Key(key) => keymap::action(&app.mode, key).map(Msg::Action),
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
                tracing::info!("signal received, quitting");
                break;
            }
            _ = frame.tick() => {
                if dirty {
                    terminal.draw(|f| ui::draw(f, &app, &theme))?;
                    dirty = false;
                }
                None
            }
        };
        let Some(msg) = msg else { continue };
        dirty = true;
        for command in app.update(msg) {
            match command {
                Command::Start {
                    run,
                    config,
                    device,
                } => {
                    let Some(d) = data.clone() else {
                        tracing::error!("run {run} started before the data arrived");
                        continue;
                    };
                    let cancel = Arc::new(AtomicBool::new(false));
                    cancels.insert(run, cancel.clone());
                    spawn_run(run, config, device, d, cancel, tx.clone());
                }
                Command::Cancel(run) => {
                    if let Some(c) = cancels.get(&run) {
                        c.store(true, Ordering::Relaxed);
                    }
                }
                Command::Quit => {
                    for c in cancels.values() {
                        c.store(true, Ordering::Relaxed);
                    }
                    return Ok(());
                }
            }
        }
    }
    for c in cancels.values() {
        c.store(true, Ordering::Relaxed);
    }
    Ok(())
}
