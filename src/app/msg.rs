//! The app's vocabulary: screens, what a key means, messages in and commands out.

use std::path::PathBuf;

use crate::run::{Run, RunKey, Status};
use crate::store::state::UiState;
use crate::store::sweep::Snapshot;
use cifar_engine::config::TrainConfig;
use cifar_engine::data::DataProgress;
use cifar_engine::events::{DeviceChoice, Outcome, TrainEvent};
use cifar_engine::metrics::Predictions;
use cifar_engine::pictures::Pictures;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Train,
    Results,
    Compare,
    History,
    /// A cluster sweep, from its folder's progress files.
    Sweep,
}

impl Screen {
    pub const ALL: [Screen; 5] = [
        Screen::Train,
        Screen::Results,
        Screen::Compare,
        Screen::History,
        Screen::Sweep,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Train => "Train",
            Screen::Results => "Results",
            Screen::Compare => "Compare",
            Screen::History => "History",
            Screen::Sweep => "Sweep",
        }
    }
}

/// What a key means, once the keymap has read it in the current mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    /// Ctrl-C: quit now, cancelling any run.
    ForceQuit,
    /// Ctrl-Z: stop the process as a shell's job (the terminal restored until `fg`).
    Suspend,
    ToggleHelp,
    Goto(Screen),
    NextScreen,
    PrevScreen,
    Up,
    Down,
    Left,
    Right,
    /// Space: tick a trick, or select a run in the compare table.
    Toggle,
    /// Enter: type a value.
    Edit,
    Preset(usize),
    Start,
    QueueStudy,
    /// While a study is offered: offer the next one (seed, lecun, …) instead.
    NextStudy,
    Cancel,
    Input(char),
    Backspace,
    Commit,
    Abort,
    // History screen
    Sort,
    Filter,
    Delete,
    Export,
    /// Train, Results: what the run shown learned, as pictures.
    Learned,
    /// Compare, History: write the HTML report of the runs compared or selected.
    Report,
    Resume,
    /// History: show runs one by one or grouped by variant.
    Group,
    /// Compare: differences are measured against the variant under the cursor.
    Reference,
    /// `y` when asked to confirm.
    Yes,
    /// History: cycle which runs show by status.
    ShowStatus,
    /// History: select every run shown, or none.
    SelectAll,
    /// History: type text to filter by.
    Search,
    /// Cancel every queued run.
    CancelQueued,
    /// Train screen: tricks and values back to config.toml's.
    ResetSettings,
    /// Train screen: the next chart fills the screen (then none).
    Zoom,
    /// Sweep screen: its finished tasks into the history.
    Import,
    /// A mouse click on something drawn.
    Click(Target),
    /// Train screen: the loss chart shows the last epoch's steps, or the whole run.
    LossWindow,
    /// History: play the run back on the live screens.
    Replay,
    /// Asked whether to quit while runs train: quit, and leave them training.
    Leave,
    /// The detail view moved: a line, a page, its start or end.
    Scroll(super::detail::Move),
    /// `n`: every message of this session, whole.
    Notices,
}

/// What was drawn where a click lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A screen's tab in the header.
    Tab(Screen),
    /// A row of the Train screen's left panel (a trick or a setting), by index.
    Item(usize),
    /// A row of the current screen's table (History, Compare, Sweep), by index.
    Row(usize),
    /// The `[ ]` box of such a row: the cursor goes there and Space's toggle follows.
    Check(usize),
}

/// Where the data stands.
#[derive(Clone, Debug, PartialEq)]
pub enum DataState {
    Loading(Option<DataProgress>),
    Ready {
        train: usize,
        test: usize,
    },
    Failed(String),
    /// Not looked for: the session replays runs from the history (`cifar-tui replay`).
    Skipped,
}

/// Messages the update step takes.
#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    Action(Action),
    /// Text pasted into the terminal (bracketed paste): text for the field being typed in,
    /// never keys.
    Paste(String),
    /// A second has passed: notices age.
    Tick,
    Data(DataState),
    DataProgress(DataProgress),
    Train {
        run: RunKey,
        event: TrainEvent,
    },
    /// The engine's last word on a run.
    Done {
        run: RunKey,
        result: Result<Box<Outcome>, RunEnd>,
    },
    /// A one-line notice for the status bar (e.g. the CPU fallback).
    Notice(String),
    /// The history's answer to [`Command::Enqueue`]: the run's number, or `None` when it is
    /// kept in memory only (why was told in a notice).
    Stored {
        run: RunKey,
        id: Option<i64>,
    },
    /// The history, freshly read (or why it cannot be).
    History(Result<Vec<Run>, String>),
    /// The history's runs that are training now, in this process or another.
    Running(Vec<i64>),
    /// One run of the history read again; `None` when it is no longer there.
    HistoryRow {
        id: i64,
        row: Option<Box<Run>>,
    },
    /// The watched sweep's files, freshly read (or why they cannot be).
    Sweep(Result<Snapshot, String>),
    /// The test set's pictures, loaded with the data.
    TestImages(super::TestImages),
    /// A finished run's predictions, read from the history (answers
    /// [`Command::ReadPredictions`]); empty for a run recorded before they were kept.
    Predictions {
        id: i64,
        predictions: Box<Predictions>,
        pictures: Option<Box<Pictures>>,
    },
    /// The runs of sweep tasks, each read from its task's own history (answers
    /// [`Command::ReadSweepRuns`]); a task whose history cannot be read is left out.
    SweepRuns(Vec<(usize, Box<Run>)>),
}

/// How a run ended without an outcome.
#[derive(Clone, Debug, PartialEq)]
pub enum RunEnd {
    Cancelled,
    Failed(String),
    Diverged(String),
}

/// What the update step asks the outside world to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Record a newly queued run in the history.
    Enqueue {
        run: RunKey,
        name: String,
        config: TrainConfig,
    },
    Start {
        run: RunKey,
        /// Its number in the history; `None` trains it in memory only.
        stored: Option<i64>,
        config: TrainConfig,
        device: DeviceChoice,
    },
    Cancel(RunKey),
    /// Record the end of a run that never started training (cancelled while queued, failed
    /// to start, quit before its turn); a row that started meanwhile is left alone. `stored`
    /// is `None` while its number is still on the way: the history finds it by `run`.
    EndQueued {
        run: RunKey,
        stored: Option<i64>,
        status: Status,
    },
    /// Read every run of the history again.
    RefreshHistory,
    /// Which runs of the history are training now (answered by [`Msg::Running`]).
    FindRunning,
    /// Ask the process that trains history run `id` (not this one) to cancel it.
    AskCancel(i64),
    /// Read one run of the history again.
    RefreshRun(i64),
    /// Read a finished run's predictions for every test image.
    ReadPredictions(i64),
    Delete(Vec<i64>),
    Export(Vec<i64>),
    /// Write the HTML report of these finished runs of the history, their differences
    /// measured against the variant named or keyed ([`crate::run::variants::variant_key`]).
    Report {
        ids: Vec<i64>,
        reference: Option<String>,
    },
    /// Keep the ticked tricks and edited values for the next launch.
    SaveSettings(UiState),
    /// Read a sweep folder's plan and progress files.
    ReadSweep(PathBuf),
    /// Read the run of each of these tasks of a sweep folder from the task's own history.
    ReadSweepRuns {
        dir: PathBuf,
        tasks: Vec<usize>,
    },
    /// Add a sweep's finished tasks to the history (once each).
    ImportSweep(PathBuf),
    /// Hand the terminal back to the shell and stop until `fg`.
    Suspend,
    /// Play a recorded run back as run `run`, at `speed` times its pace; `Cancel(run)` stops
    /// it. Nothing is trained or recorded.
    Replay {
        run: RunKey,
        replay: Box<crate::run::replay::Replay>,
        speed: f64,
    },
    /// Ring the bell and send a desktop notification (OSC 9) saying this.
    Notify(String),
    Quit,
}
