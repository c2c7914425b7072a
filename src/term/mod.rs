//! The terminal's only owner: raw mode and alternate screen in, and always back out — on quit,
//! on Ctrl-C, on SIGTERM/SIGHUP and on panic.

pub mod effects;
pub mod event_loop;
mod graphics;
mod handover;
mod ledger;
mod player;

use std::io::IsTerminal;

use anyhow::{Result, bail};
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use ratatui::DefaultTerminal;

use crate::app::sweep::SweepWatch;
use crate::app::{Action, App, DataState, Msg, Screen};
use crate::cli::setup::Context;
use crate::cli::{ReplayArgs, RunArgs, StudyArgs};
use cifar_engine::events::DeviceChoice;
use cifar_engine::tricks::{self, TrickSet};

/// The terminal as it was: mouse reporting and bracketed paste off (harmless when never on),
/// raw mode and the alternate screen left, stderr back on the terminal.
fn restore() {
    let _ = crossterm::execute!(
        std::io::stdout(),
        DisableMouseCapture,
        DisableBracketedPaste
    );
    ratatui::restore();
    stderr_back();
}

/// What the interface turns on in the terminal beside raw mode and the alternate screen:
/// pasted text marked as such (so it is never read as keys), and the mouse when wanted.
fn take_over(ctx: &Context) {
    if let Err(e) = crossterm::execute!(std::io::stdout(), EnableBracketedPaste) {
        tracing::warn!("no bracketed paste: {e}");
    }
    if ctx.settings.app.mouse
        && let Err(e) = crossterm::execute!(std::io::stdout(), EnableMouseCapture)
    {
        tracing::warn!("no mouse: {e}");
    }
    stderr_to(&ctx.log_file);
}

/// Asks the terminal which graphics protocol it takes (in raw mode, before any event is
/// read), unless config.toml says half-blocks.
fn pick_images(ctx: &Context) {
    let picker = match ctx.settings.app.images {
        crate::settings::Images::Halfblocks => ratatui_image::picker::Picker::halfblocks(),
        crate::settings::Images::Auto => graphics::detect(),
    };
    crate::ui::images::use_picker(picker);
    tracing::info!("test images drawn with {:?}", crate::ui::images::protocol());
}

/// Throws away what the terminal still sends in answer to the graphics query after its
/// deadline (a slow link): read as keys, a stray `ESC [ 6 ; 20 ; 10` would swallow the first
/// key typed.
#[cfg(unix)]
fn drain_answers() {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let stdin = std::io::stdin();
    let wait = Timespec {
        tv_sec: 0,
        tv_nsec: 150_000_000,
    };
    let mut thrown = Vec::new();
    loop {
        let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
        match poll(&mut fds, Some(&wait)) {
            Ok(n) if n > 0 => {
                let mut buf = [0u8; 256];
                match rustix::io::read(&stdin, &mut buf) {
                    Ok(k) if k > 0 => thrown.extend_from_slice(&buf[..k]),
                    _ => break,
                }
            }
            _ => break,
        }
    }
    if !thrown.is_empty() {
        tracing::info!(
            "late answers to the graphics query, thrown away: {:?}",
            String::from_utf8_lossy(&thrown)
        );
    }
}

#[cfg(not(unix))]
fn drain_answers() {}

/// Ctrl-Z: the terminal handed back to the shell, the process stopped as a job would be
/// (training pauses with it), and on `fg` the interface taken up again and drawn whole.
/// Raw mode turns off the terminal's own Ctrl-Z, so this does what it would have done.
#[cfg(unix)]
pub fn suspend(terminal: &mut DefaultTerminal, ctx: &Context) -> Result<()> {
    restore();
    rustix::process::kill_current_process_group(rustix::process::Signal::TSTP)?;
    // Here again after SIGCONT.
    crossterm::terminal::enable_raw_mode()?;
    crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen)?;
    take_over(ctx);
    terminal.clear()?;
    Ok(())
}

#[cfg(not(unix))]
pub fn suspend(_: &mut DefaultTerminal, _: &Context) -> Result<()> {
    Ok(())
}

/// A study's end, for a person who left it training: the bell (which tmux and screen pass on
/// and mark on the window) and OSC 9, the desktop notification that kitty, iTerm2, WezTerm
/// and foot show; a terminal that does not know OSC 9 ignores it.
pub fn notify(text: &str) {
    use std::io::Write;
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b]9;{clean}\x07\x07").and_then(|()| out.flush());
}

/// The process's own stderr while the interface is up, to put back.
static SAVED_STDERR: std::sync::Mutex<Option<std::os::fd::OwnedFd>> = std::sync::Mutex::new(None);

/// Sends stderr (file descriptor 2) to `log` while the interface is up: graphics and CUDA
/// drivers print there as they load (Mesa's Vulkan: "XDG_RUNTIME_DIR is invalid or not set"),
/// and it would land in the middle of the screen. Best effort: where it fails, stderr stays.
fn stderr_to(log: &std::path::Path) {
    use std::os::fd::AsFd;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log);
    let saved = rustix::io::dup(std::io::stderr().as_fd());
    if let (Ok(file), Ok(saved)) = (file, saved)
        && rustix::stdio::dup2_stderr(&file).is_ok()
        && let Ok(mut slot) = SAVED_STDERR.lock()
    {
        *slot = Some(saved);
    }
}

fn stderr_back() {
    let saved = SAVED_STDERR.lock().ok().and_then(|mut s| s.take());
    if let Some(saved) = saved {
        let _ = rustix::stdio::dup2_stderr(&saved);
    }
}

/// What to do once the interface is up.
pub enum Start<'a> {
    Idle,
    /// `cifar-tui run` without `--headless`: start that run at once.
    Run(&'a RunArgs),
    /// `cifar-tui study` without `--headless`: queue the eight presets.
    Study(&'a StudyArgs),
    /// `cifar-tui resume ID` without `--headless`: continue that history run.
    Resume(i64),
    /// `cifar-tui replay IDS`: play those runs back.
    Replay(&'a ReplayArgs),
}

/// Restores the terminal when the main thread panics. Panics on other threads (a training
/// thread) are logged and reported as a failed run instead, so the interface stays up.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("main") {
            restore();
            previous(info);
        } else {
            tracing::error!("panic on {:?}: {info}", std::thread::current().name());
        }
    }));
}

pub fn main(ctx: Context, start: Start) -> Result<()> {
    if !std::io::stdout().is_terminal() {
        bail!("the interface needs a terminal; from scripts use `cifar-tui run --headless`");
    }
    let (tricks, overrides) = match &start {
        Start::Run(a) => (
            ctx.tricks(a.preset.as_deref(), a.tricks.as_deref())?,
            a.overrides.clone(),
        ),
        Start::Study(a) => (TrickSet::new(), a.overrides.clone()),
        Start::Idle | Start::Resume(_) | Start::Replay(_) => {
            (ctx.tricks(None, None)?, Default::default())
        }
    };
    let mut app = App::new(tricks, ctx.hyper(&overrides)?, ctx.device);
    if let Start::Study(a) = &start {
        app.study = tricks::study(&a.preset)?;
    }
    app.values.train_limit = overrides.train_limit();
    // A plain start takes the last session's settings; a command line that names its run
    // (run, study, resume) is taken as it is.
    let restored = match start {
        Start::Idle => {
            crate::store::state::load(&crate::store::state::path_beside(&ctx.storage.history))
        }
        _ => Ok(None),
    };
    match restored {
        Ok(Some(state)) => app.restore(state),
        Ok(None) => {}
        Err(why) => app.notice = Some(why),
    }
    app.values.seeds = overrides
        .seeds
        .clone()
        .or_else(|| ctx.settings.app.seeds.clone());
    app.parallel = ctx.parallel.unwrap_or(1);
    app.notify = ctx.settings.app.notify;
    app.leave_on_quit = ctx.settings.app.on_quit == crate::settings::OnQuit::Leave;
    app.parallel_auto = ctx.parallel.is_none();
    if app.parallel_auto && ctx.device == DeviceChoice::CudaAll {
        app.gpus = cifar_engine::backend::gpu_count();
    }
    // Asked for by name: its screen comes first, read at once.
    let mut first = Vec::new();
    if let Some(dir) = &ctx.sweep {
        let mut watch = SweepWatch::new(dir.clone());
        first.extend(watch.read());
        app.sweep = Some(watch);
        app.screen = Screen::Sweep;
    }
    first.extend(match start {
        Start::Run(_) => app.update(Msg::Action(Action::Start)),
        // Asked for on the command line: no question.
        Start::Study(_) => {
            app.update(Msg::Action(Action::QueueStudy));
            app.update(Msg::Action(Action::Yes))
        }
        Start::Resume(id) => {
            let store = ctx.storage.open_history()?;
            app.resume(&store.get(id)?).map_err(anyhow::Error::msg)?;
            Vec::new()
        }
        Start::Replay(args) => {
            app.data = DataState::Skipped;
            let store = ctx.storage.read_history()?;
            let mut out = Vec::new();
            for &id in &args.ids {
                app.replay(&store.get(id)?, args.speed, &mut out);
            }
            out
        }
        Start::Idle => Vec::new(),
    });
    if app.preset_name().is_none() && !app.tricks.is_empty() {
        tracing::info!("starting with tricks {}", tricks::describe(&app.tricks));
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let terminal = ratatui::try_init()?;
    install_panic_hook();
    pick_images(&ctx);
    drain_answers();
    take_over(&ctx);
    let result = runtime.block_on(event_loop::run(terminal, app, ctx, first));
    restore();
    let result = result.map(|said| {
        for line in said {
            eprintln!("{line}");
        }
    });
    // Training threads stop at their next step; don't wait for blocking tasks.
    runtime.shutdown_background();
    result
}
