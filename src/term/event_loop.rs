//! The event loop: keys, messages from the work in [`effects`](super::effects) and signals
//! merged into one stream of [`Msg`]s; each taken by the app's update; frames drawn at most
//! `fps` times a second. It never waits on a disk or a database: the app's commands go to
//! [`Effects`], which answers later with messages.

use std::time::Duration;

use anyhow::Result;
use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::mpsc::unbounded_channel;

use crate::app::{Action, App, Command, DataState, Msg};
use crate::cli::setup::Context;
use crate::keymap;
use crate::term::effects::Effects;
use crate::ui::{self, theme::Theme};

/// Hands commands to the effects, and suspends where asked; whether one of them was `Quit`.
fn carry_out(
    terminal: &mut DefaultTerminal,
    ctx: &Context,
    effects: &mut Effects,
    commands: Vec<Command>,
) -> Result<bool> {
    let mut quit = false;
    for command in commands {
        match command {
            Command::Quit => quit = true,
            Command::Suspend => super::suspend(terminal, ctx)?,
            Command::Notify(text) => super::notify(&text),
            command => effects.perform(command),
        }
    }
    Ok(quit)
}

/// Runs the interface until quit. `first` holds commands the app issued before the loop
/// (e.g. `cifar-tui run` queues its run at once). Returns what to say once the terminal is
/// restored.
pub async fn run(
    mut terminal: DefaultTerminal,
    mut app: App,
    ctx: Context,
    first: Vec<Command>,
) -> Result<Vec<String>> {
    let theme = Theme::from_env(ctx.settings.app.charts);
    let (tx, mut rx) = unbounded_channel::<Msg>();
    let mut effects = Effects::new(ctx.storage.clone(), tx);
    // A replay session draws from the history alone: no data to find, fetch or load.
    if app.data != DataState::Skipped {
        effects.load_data(&ctx);
    }
    let mut keys = EventStream::new();
    let fps = ctx.settings.app.fps.max(1);
    let mut frame = tokio::time::interval(Duration::from_secs_f64(1.0 / fps as f64));
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut second = tokio::time::interval(Duration::from_secs(1));
    second.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let signal = crate::sys::stop_signal();
    tokio::pin!(signal);
    let mut dirty = true;
    // What the last frame drew where, for clicks.
    let mut hits = ui::Hits::default();
    let mut quit = carry_out(&mut terminal, &ctx, &mut effects, first)?;
    // The terminal went away (SIGHUP): the runs go on without it.
    let mut hung_up = false;

    while !quit {
        let msg = tokio::select! {
            Some(Ok(ev)) = keys.next() => match ev {
                Event::Key(key) => keymap::action(&app.mode, app.screen, key).map(Msg::Action),
                Event::Mouse(m) => keymap::mouse(&app.mode, &hits, m).map(Msg::Action),
                Event::Paste(text) => Some(Msg::Paste(text)),
                Event::Resize(..) => { dirty = true; None }
                _ => None,
            },
            Some(msg) = rx.recv() => Some(msg),
            stop = &mut signal => {
                hung_up = stop == crate::sys::Stop::HangUp;
                tracing::info!("signal received ({stop:?}): the runs stay resumable");
                Some(Msg::Action(Action::ForceQuit))
            }
            _ = second.tick() => Some(Msg::Tick),
            _ = frame.tick() => {
                if dirty {
                    terminal.draw(|f| hits = ui::draw(f, &app, &theme))?;
                    dirty = false;
                }
                None
            }
        };
        if let Some(msg) = msg {
            dirty = true;
            quit = carry_out(&mut terminal, &ctx, &mut effects, app.update(msg))?;
        }
    }
    // Training threads stop at their next step and save: say so while they do.
    app.notice = Some("stopping: the runs save their state…".into());
    // Without a terminal there is nothing to draw on.
    if !hung_up {
        terminal.draw(|f| {
            ui::draw(f, &app, &theme);
        })?;
    }
    let training = effects.shut_down().await;
    // Ended as interrupted by the quit (the ledger has written that by now), so the process
    // that goes on with them may take them.
    let queued: Vec<i64> = app
        .runs
        .iter()
        .filter(|r| r.status == crate::run::Status::Queued)
        .filter_map(crate::run::Run::stored)
        .collect();
    Ok(if hung_up || app.leave_training {
        super::handover::hand_over(&ctx, &training, &queued)
    } else {
        Vec::new()
    })
}
