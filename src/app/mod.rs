//! The app's state and its update step: messages in, commands out. No terminal, no burn, no
//! channels, so every behaviour here is testable by feeding messages.

pub mod history;
pub mod params;
pub mod sweep;
pub mod variants;

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::app::history::History;
use crate::app::params::{Editable, PARAMS, Param};
use crate::app::sweep::SweepWatch;
use crate::app::variants::{Seeds, Trial, Variant};
use crate::run::{Run, RunId, Status};
use crate::store::state::UiState;
use crate::store::sweep::Snapshot;
use cifar_engine::config::{Hyper, TrainConfig};
use cifar_engine::data::DataProgress;
use cifar_engine::events::{Device, DeviceChoice};
use cifar_engine::events::{Outcome, TrainEvent};
use cifar_engine::tricks::{self, PRESETS, TRICKS, Trick, TrickSet};

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
    Ready { train: usize, test: usize },
    Failed(String),
}

/// Messages the update step takes.
#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    Action(Action),
    /// A second has passed: notices age.
    Tick,
    Data(DataState),
    DataProgress(DataProgress),
    Train {
        run: RunId,
        event: TrainEvent,
    },
    /// The engine's last word on a run.
    Done {
        run: RunId,
        result: Result<Box<Outcome>, RunEnd>,
    },
    /// A one-line notice for the status bar (e.g. the CPU fallback).
    Notice(String),
    /// The history's answer to [`Command::Enqueue`]: the run's number, or `None` when it is
    /// kept in memory only (why was told in a notice).
    Stored {
        run: RunId,
        id: Option<i64>,
    },
    /// The history, freshly read (or why it cannot be).
    History(Result<Vec<Run>, String>),
    /// One run of the history read again; `None` when it is no longer there.
    HistoryRow {
        id: i64,
        row: Option<Box<Run>>,
    },
    /// The watched sweep's files, freshly read (or why they cannot be).
    Sweep(Result<Snapshot, String>),
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
        run: RunId,
        name: String,
        config: TrainConfig,
    },
    Start {
        run: RunId,
        /// Its number in the history; `None` trains it in memory only.
        stored: Option<i64>,
        config: TrainConfig,
        device: DeviceChoice,
    },
    Cancel(RunId),
    /// Record the end of a run that never started training (cancelled while queued, failed
    /// to start, quit before its turn); a row that started meanwhile is left alone. `stored`
    /// is `None` while its number is still on the way: the history finds it by `run`.
    EndQueued {
        run: RunId,
        stored: Option<i64>,
        status: Status,
    },
    /// Read every run of the history again.
    RefreshHistory,
    /// Read one run of the history again.
    RefreshRun(i64),
    Delete(Vec<i64>),
    Export(Vec<i64>),
    /// Keep the ticked tricks and edited values for the next launch.
    SaveSettings(UiState),
    /// Read a sweep folder's plan and progress files.
    ReadSweep(PathBuf),
    /// Add a sweep's finished tasks to the history (once each).
    ImportSweep(PathBuf),
    Quit,
}

/// What the Sweep screen says when no sweep is watched.
pub const NO_SWEEP: &str = "no sweep watched: start cifar-tui with --sweep DIR (a folder made \
     by `cifar-tui sweep`)";

/// Longest typed value.
pub const MAX_INPUT: usize = 24;

/// How long a notice stays in the footer.
pub const NOTICE_SECONDS: u32 = 8;

/// Runs trained at once on a GPU unless asked otherwise: one run of this small network keeps
/// about a tenth of an H200 busy (measured: 9% utilization), so eight share it.
pub const GPU_PARALLEL: usize = 8;

/// Runs trained at once through wgpu unless asked otherwise (see `Setup::parallel_on`).
pub const WGPU_PARALLEL: usize = 2;

/// Most runs at once that `--parallel` and `[app] parallel` accept.
pub const MAX_PARALLEL: usize = 64;

/// [`GPU_PARALLEL`] times the GPUs `device` deals runs over, at most [`MAX_PARALLEL`]; `count`
/// asks the driver, and only under `cuda:all` (a probe starts a process).
pub fn per_gpu(device: DeviceChoice, count: impl FnOnce() -> usize) -> usize {
    let gpus = match device {
        DeviceChoice::CudaAll => count().max(1),
        _ => 1,
    };
    (GPU_PARALLEL * gpus).min(MAX_PARALLEL)
}

/// A chart of the Train screen, drawn over the whole screen by `z`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panel {
    Loss,
    Accuracy,
    LearningRate,
}

/// A row of the left panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    Trick(Trick),
    Param(Param),
}

/// The left panel, top to bottom.
pub fn items() -> impl Iterator<Item = Item> {
    TRICKS
        .iter()
        .map(|t| Item::Trick(t.trick))
        .chain(PARAMS.iter().map(|&p| Item::Param(p)))
}

pub const ITEM_COUNT: usize = TRICKS.len() + PARAMS.len();

#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Normal,
    Help,
    /// Typing a value for a parameter.
    Editing {
        param: Param,
        text: String,
    },
    /// `q` while a run is active: a second `q` quits.
    ConfirmQuit,
    /// `d` on the History screen: `y` deletes these runs.
    ConfirmDelete(Vec<i64>),
    /// `a`: eight runs are a lot to queue by a stray key; `y` or `a` again queues them.
    ConfirmStudy,
    /// `/` on the History screen: typing the text runs are filtered by, live.
    Search(String),
}

#[derive(Clone, Debug)]
pub struct App {
    pub screen: Screen,
    pub mode: Mode,
    pub tricks: TrickSet,
    pub values: Editable,
    /// Row of the left panel under the cursor.
    pub cursor: usize,
    pub runs: Vec<Run>,
    next_id: RunId,
    pub data: DataState,
    /// The footer's message; it goes after [`NOTICE_SECONDS`] unless it asks a question.
    pub notice: Option<String>,
    /// Seconds the notice has been shown.
    notice_age: u32,
    /// The run the Results screen shows; `None` follows the run that finished last.
    pub results_run: Option<RunId>,
    /// The run of this session that finished last.
    last_finished: Option<RunId>,
    /// Runs read from the history to be looked at (Results, Compare), not trained here.
    opened: BTreeSet<RunId>,
    /// Compare screen: the row under the cursor and the runs drawn in the charts.
    pub compare_cursor: usize,
    pub compare_selected: BTreeSet<RunId>,
    /// The variant (its [`variants::variant_key`]) Compare measures differences against;
    /// `None`: the compared baseline, if any.
    pub compare_reference: Option<String>,
    pub history: History,
    /// Queued runs whose history number is on the way; they start once it has arrived, so
    /// that they train under it.
    recording: BTreeSet<RunId>,
    /// Most runs training at once (`[app] parallel`, `--parallel`).
    pub parallel: usize,
    /// The Train screen's chart shown alone, if any.
    pub zoomed: Option<Panel>,
    /// The loss chart shows the last epoch's steps (zoomed to them), not the whole run.
    pub loss_recent: bool,
    /// Not asked for: rises to [`GPU_PARALLEL`] per GPU once a run is seen training on one.
    pub parallel_auto: bool,
    /// The GPUs under `cuda:all`, as the driver showed them at start (1 when not known).
    pub gpus: usize,
    /// What `D` returns to: config.toml's tricks and values.
    defaults: (TrickSet, Editable),
    /// The settings as last saved (or restored), so only a change is written.
    saved: UiState,
    /// The cluster sweep the Sweep screen follows (`--sweep DIR`), if any.
    pub sweep: Option<SweepWatch>,
    pub quit: bool,
}

impl App {
    pub fn new(tricks: TrickSet, hyper: Hyper, device: DeviceChoice) -> Self {
        let values = Editable {
            hyper,
            device,
            train_limit: None,
            seeds: None,
        };
        Self {
            screen: Screen::Train,
            mode: Mode::Normal,
            defaults: (tricks.clone(), values.clone()),
            saved: ui_state(&tricks, &values),
            tricks,
            values,
            cursor: 0,
            runs: Vec::new(),
            next_id: 1,
            data: DataState::Loading(None),
            notice: None,
            notice_age: 0,
            results_run: None,
            last_finished: None,
            opened: BTreeSet::new(),
            compare_cursor: 0,
            compare_selected: BTreeSet::new(),
            compare_reference: None,
            history: History::default(),
            recording: BTreeSet::new(),
            parallel: 1,
            zoomed: None,
            loss_recent: false,
            parallel_auto: false,
            gpus: 1,
            sweep: None,
            quit: false,
        }
    }

    /// Takes the settings of the last session (config.toml's stay the defaults `D` returns to).
    pub fn restore(&mut self, state: UiState) {
        self.tricks = state.tricks.iter().copied().collect();
        self.values.hyper = state.hyper.clone();
        self.values.train_limit = state.train_limit;
        self.saved = state;
    }

    pub fn item(&self) -> Item {
        items()
            .nth(self.cursor)
            .expect("cursor stays within the items")
    }

    /// The run whose live figures the Train screen shows: the active one, else the newest
    /// of this session's that has any figures. Never one only opened from the history.
    pub fn live_run(&self) -> Option<&Run> {
        self.runs.iter().find(|r| r.status.is_active()).or_else(|| {
            self.runs
                .iter()
                .rev()
                .filter(|r| !self.opened.contains(&r.key))
                .find(|r| !matches!(r.status, Status::Queued))
        })
    }

    pub fn active_run(&self) -> Option<&Run> {
        self.runs.iter().find(|r| r.status.is_active())
    }

    pub fn queued(&self) -> usize {
        self.runs
            .iter()
            .filter(|r| r.status == Status::Queued)
            .count()
    }

    pub fn finished_runs(&self) -> impl Iterator<Item = &Run> {
        self.runs.iter().filter(|r| r.outcome().is_some())
    }

    /// The run the Results screen shows: the one picked, else the one that finished last.
    pub fn results(&self) -> Option<&Run> {
        let pick = |key| self.finished_runs().find(|r| r.key == key);
        match self.results_run.or(self.last_finished) {
            Some(key) => pick(key),
            None => self.finished_runs().last(),
        }
    }

    /// The preset whose tricks are ticked, if any.
    pub fn preset_name(&self) -> Option<&'static str> {
        tricks::preset_name(&self.tricks)
    }

    fn run_mut(&mut self, key: RunId) -> Option<&mut Run> {
        self.runs.iter_mut().find(|r| r.key == key)
    }

    /// The seeds a run (`study` false) or each study scenario trains on: as set, else one for
    /// a run, and for a study 3 on the CPU or through wgpu, 5 on a CUDA GPU (asked for, or seen
    /// training).
    pub fn seeds(&self, study: bool) -> Vec<u64> {
        let seen = |d| self.runs.iter().any(|r| r.device == Some(d));
        let device = match self.values.device {
            DeviceChoice::Wgpu => Device::Wgpu,
            d if d.is_gpu() || seen(Device::Cuda) => Device::Cuda,
            _ if seen(Device::Wgpu) => Device::Wgpu,
            _ => Device::Cpu,
        };
        self.values
            .seeds
            .clone()
            .unwrap_or_else(|| Seeds::default_for(study, device))
            .list(self.values.hyper.seed)
    }

    fn enqueue(&mut self, tricks: TrickSet, seed: u64, out: &mut Vec<Command>) {
        let mut config = tricks::resolve(&tricks, &self.values.hyper);
        config.train_limit = self.values.train_limit;
        config.seed = seed;
        let run = Run::new(self.next_key(), tricks, config);
        out.push(Command::Enqueue {
            run: run.key,
            name: run.name.clone(),
            config: run.config.clone(),
        });
        self.recording.insert(run.key);
        self.runs.push(run);
    }

    /// Asks for one run's history row again when the History screen shows it, so the screen
    /// follows a run without reading the whole history on every epoch.
    fn refresh_row(&self, stored: Option<i64>, out: &mut Vec<Command>) {
        if let (Some(id), Screen::History) = (stored, self.screen) {
            out.push(Command::RefreshRun(id));
        }
    }

    /// Records in the history that a run ended before training (see [`Command::EndQueued`]).
    fn end_queued(
        &self,
        (run, stored): (RunId, Option<i64>),
        status: Status,
        out: &mut Vec<Command>,
    ) {
        out.push(Command::EndQueued {
            run,
            stored,
            status,
        });
        self.refresh_row(stored, out);
    }

    /// Adds a history run to the session (for Results and Compare), unless it is there
    /// already; its key.
    fn adopt(&mut self, stored: &Run) -> RunId {
        if let Some(r) = self.runs.iter().find(|r| r.id == stored.id) {
            return r.key;
        }
        let key = self.next_key();
        self.runs.push(Run {
            key,
            ..stored.clone()
        });
        self.opened.insert(key);
        key
    }

    fn next_key(&mut self) -> RunId {
        self.next_id += 1;
        self.next_id - 1
    }

    /// Takes one message; returns what must happen outside.
    pub fn update(&mut self, msg: Msg) -> Vec<Command> {
        let mut out = Vec::new();
        let said = self.notice.clone();
        match msg {
            Msg::Action(a) => self.act(a, &mut out),
            Msg::Tick => {
                self.age_notice();
                // Live while looked at: a second is what `sweep --status` in `watch` gives.
                if let (Screen::Sweep, Some(w)) = (self.screen, &mut self.sweep) {
                    out.extend(w.read());
                }
            }
            Msg::Sweep(reading) => {
                if let Some(w) = &mut self.sweep {
                    w.take(reading);
                }
            }
            Msg::Data(state) => self.data = state,
            Msg::DataProgress(p) => self.data = DataState::Loading(Some(p)),
            Msg::Notice(n) => self.notice = Some(n),
            Msg::Stored { run, id } => {
                self.recording.remove(&run);
                if let Some(r) = self.run_mut(run) {
                    r.id = id.unwrap_or_default();
                }
                self.refresh_row(id, &mut out);
            }
            Msg::History(Ok(rows)) => self.history.set_rows(rows),
            Msg::History(Err(why)) => self.history.unavailable = Some(why),
            Msg::HistoryRow { id, row } => self.history.set_row(id, row.map(|r| *r)),
            Msg::Train {
                run,
                event: TrainEvent::Warning(w),
            } => {
                let number = self.run_mut(run).map(|r| r.number()).unwrap_or_default();
                self.notice = Some(format!("run {number}: {w}"));
            }
            Msg::Train { run, event } => {
                // The row changes with these two: running, then one more epoch.
                let row_changed =
                    matches!(event, TrainEvent::Started { .. } | TrainEvent::Epoch(_));
                if let (TrainEvent::Started { device, .. }, true) = (&event, self.parallel_auto) {
                    // The device as the runs start now: it may have changed since the start.
                    match device {
                        Device::Cuda => self.parallel = per_gpu(self.values.device, || self.gpus),
                        Device::Wgpu => self.parallel = WGPU_PARALLEL,
                        Device::Cpu => {}
                    }
                }
                if let Some(r) = self.run_mut(run) {
                    r.apply(event);
                    let stored = r.stored();
                    if row_changed {
                        self.refresh_row(stored, &mut out);
                    }
                }
            }
            Msg::Done { run, result } => self.done(run, result, &mut out),
        }
        if self.notice != said {
            self.notice_age = 0;
        }
        let now = ui_state(&self.tricks, &self.values);
        if now != self.saved {
            self.saved = now.clone();
            out.push(Command::SaveSettings(now));
        }
        if self.quit {
            // Queued runs stay resumable: marked interrupted, not left queued for a dead pid.
            for r in self.runs.iter().filter(|r| r.status == Status::Queued) {
                out.push(Command::EndQueued {
                    run: r.key,
                    stored: r.stored(),
                    status: Status::Interrupted(Some("cifar-tui quit before it started".into())),
                });
            }
            out.push(Command::Quit);
        } else {
            while let Some(start) = self.schedule() {
                out.push(start);
            }
        }
        out
    }

    /// A notice goes once read, so the footer's help comes back; a question stays until
    /// answered.
    fn age_notice(&mut self) {
        self.notice_age += 1;
        let asking = matches!(
            self.mode,
            Mode::ConfirmQuit | Mode::ConfirmDelete(_) | Mode::ConfirmStudy
        );
        if self.notice_age >= NOTICE_SECONDS && !asking {
            self.notice = None;
        }
    }

    /// A run's end. One that ends without an outcome may never have reached the engine (no
    /// data, no thread, no device): its row is still queued, and is ended here with it.
    fn done(&mut self, run: RunId, result: Result<Box<Outcome>, RunEnd>, out: &mut Vec<Command>) {
        let Some(r) = self.runs.iter_mut().find(|r| r.key == run) else {
            return;
        };
        let stored = r.stored();
        let number = r.number();
        r.status = match result {
            Ok(outcome) => {
                self.compare_selected.insert(run);
                self.last_finished = Some(run);
                // `e` shows the run that just finished, unless Results is open on another.
                if self.screen != Screen::Results {
                    self.results_run = None;
                }
                self.notice = Some(format!(
                    "run {number} finished: test accuracy {:.4}{} · e shows its results",
                    outcome.report.accuracy,
                    r.subset_note()
                ));
                Status::Finished(outcome)
            }
            Err(RunEnd::Cancelled) => Status::Cancelled,
            Err(RunEnd::Failed(why)) => {
                self.notice = Some(format!("run {number} failed: {why}"));
                Status::Failed(why)
            }
            Err(RunEnd::Diverged(why)) => {
                self.notice = Some(format!("run {number} diverged: {why}"));
                Status::Diverged(why)
            }
        };
        match &r.status {
            Status::Finished(_) => self.refresh_row(stored, out),
            status => {
                let status = status.clone();
                self.end_queued((run, stored), status, out)
            }
        }
    }

    /// Starts the next queued run while fewer than [`App::parallel`] train, the data is in
    /// and the history has numbered it; runs start in the order they were queued.
    fn schedule(&mut self) -> Option<Command> {
        let training = self.runs.iter().filter(|r| r.status.is_active()).count();
        if training >= self.parallel.max(1) || !matches!(self.data, DataState::Ready { .. }) {
            return None;
        }
        let device = self.values.device;
        let run = self.runs.iter_mut().find(|r| r.status == Status::Queued)?;
        if self.recording.contains(&run.key) {
            return None;
        }
        run.status = Status::Starting;
        Some(Command::Start {
            run: run.key,
            stored: run.stored(),
            config: run.config.clone(),
            device,
        })
    }

    fn act(&mut self, action: Action, out: &mut Vec<Command>) {
        match (&mut self.mode, action) {
            (_, Action::ForceQuit) => self.quit = true,
            (Mode::Help, _) => self.mode = Mode::Normal,
            (Mode::ConfirmQuit, Action::Quit) => self.quit = true,
            (Mode::ConfirmDelete(ids), Action::Yes) => {
                let ids = std::mem::take(ids);
                self.notice = Some(format!("deleting {} from the history…", numbers(&ids)));
                out.push(Command::Delete(ids));
                self.mode = Mode::Normal;
            }
            (Mode::ConfirmStudy, Action::Yes) => {
                self.mode = Mode::Normal;
                let seeds = self.seeds(true);
                // Seed by seed: a study stopped half-way still has whole, paired seeds.
                for &seed in &seeds {
                    for p in &PRESETS {
                        self.enqueue(p.trick_set(), seed, out);
                    }
                }
                self.notice = Some(format!(
                    "queued the seed study: eight presets x {} seed(s) ({})",
                    seeds.len(),
                    seed_list(&seeds)
                ));
            }
            (Mode::ConfirmStudy, _) => {
                self.mode = Mode::Normal;
                self.notice = Some("the study is not queued".into());
            }
            (Mode::ConfirmDelete(_), _) => {
                self.mode = Mode::Normal;
                self.notice = Some("nothing deleted".into());
            }
            (Mode::ConfirmQuit, _) => {
                self.mode = Mode::Normal;
                self.notice = None;
            }
            // Longer than any value: the rest would only hide the label.
            (Mode::Search(text), Action::Input(c)) if text.len() < MAX_INPUT => {
                text.push(c);
                self.history.set_text(text.clone());
            }
            (Mode::Search(text), Action::Backspace) => {
                text.pop();
                self.history.set_text(text.clone());
            }
            (Mode::Search(_), Action::Commit) => self.mode = Mode::Normal,
            (Mode::Search(_), Action::Abort) => {
                self.mode = Mode::Normal;
                self.history.set_text(String::new());
            }
            (Mode::Search(_), _) => {}
            (Mode::Editing { text, .. }, Action::Input(c)) if text.len() < MAX_INPUT => {
                text.push(c)
            }
            (Mode::Editing { .. }, Action::Input(_)) => {}
            (Mode::Editing { text, .. }, Action::Backspace) => {
                text.pop();
            }
            (Mode::Editing { .. }, Action::Abort) => self.mode = Mode::Normal,
            // Enter on an empty field keeps the value.
            (Mode::Editing { text, .. }, Action::Commit) if text.trim().is_empty() => {
                self.mode = Mode::Normal
            }
            (Mode::Editing { param, text }, Action::Commit) => {
                let (param, text) = (*param, text.clone());
                self.mode = Mode::Normal;
                self.notice = param.set(&mut self.values, &text).err();
            }
            (Mode::Editing { .. }, _) => {}
            (Mode::Normal, a) => self.act_normal(a, out),
        }
    }

    fn act_normal(&mut self, action: Action, out: &mut Vec<Command>) {
        let before = self.screen;
        self.act_screen(action, out);
        if self.screen == Screen::History && before != Screen::History {
            out.push(Command::RefreshHistory);
        }
        if let (Screen::Sweep, Some(w)) = (self.screen, &mut self.sweep)
            && before != Screen::Sweep
        {
            out.extend(w.read());
        }
    }

    fn act_screen(&mut self, action: Action, out: &mut Vec<Command>) {
        match action {
            Action::Quit if self.active_run().is_some() || self.queued() > 0 => {
                self.mode = Mode::ConfirmQuit;
                // Say what really happens: nothing is lost, the runs wait to be resumed.
                let training = self.runs.iter().filter(|r| r.status.is_active()).count();
                self.notice = Some(format!(
                    "{training} training, {} queued: q again quits; they stay resumable \
                     (History, R)",
                    self.queued()
                ));
            }
            Action::Quit => self.quit = true,
            Action::ToggleHelp => self.mode = Mode::Help,
            Action::Goto(s) => self.screen = s,
            Action::NextScreen | Action::PrevScreen => {
                let i = Screen::ALL
                    .iter()
                    .position(|s| *s == self.screen)
                    .unwrap_or(0);
                let n = Screen::ALL.len();
                let step = if action == Action::NextScreen {
                    1
                } else {
                    n - 1
                };
                self.screen = Screen::ALL[(i + step) % n];
            }
            Action::Start | Action::QueueStudy if matches!(self.data, DataState::Failed(_)) => {
                self.notice = Some("cannot train without the data: see the message above".into());
            }
            Action::Start => {
                let seeds = self.seeds(false);
                for &seed in &seeds {
                    self.enqueue(self.tricks.clone(), seed, out);
                }
                self.notice = (seeds.len() > 1).then(|| {
                    format!(
                        "queued {} runs, one per seed ({})",
                        seeds.len(),
                        seed_list(&seeds)
                    )
                });
            }
            Action::QueueStudy => {
                let seeds = self.seeds(true);
                self.mode = Mode::ConfirmStudy;
                self.notice = Some(format!(
                    "queue {} runs ({} presets x {} seed(s), {} epochs)? y or a: yes, other keys: \
                     no",
                    PRESETS.len() * seeds.len(),
                    PRESETS.len(),
                    seeds.len(),
                    self.values.hyper.epochs
                ));
            }
            Action::Cancel => {
                if let Some(run) = self.active_run() {
                    // Scoring the test set is not cut short: the run stops right after it.
                    let when = if run.evaluating {
                        ": it stops once the test set is scored"
                    } else {
                        "…"
                    };
                    let notice = format!("cancelling run {}{when}", run.number());
                    out.push(Command::Cancel(run.key));
                    self.notice = Some(notice);
                } else if let Some(run) = self
                    .runs
                    .iter_mut()
                    .rev()
                    .find(|r| r.status == Status::Queued)
                {
                    run.status = Status::Cancelled;
                    let key = (run.key, run.stored());
                    self.notice = Some(format!("cancelled queued run {}", run.number()));
                    self.end_queued(key, Status::Cancelled, out);
                } else {
                    self.notice = Some("nothing to cancel: no run is training or queued".into());
                }
            }
            Action::CancelQueued => {
                let queued: Vec<(RunId, Option<i64>)> = self
                    .runs
                    .iter_mut()
                    .filter(|r| r.status == Status::Queued)
                    .map(|r| {
                        r.status = Status::Cancelled;
                        (r.key, r.stored())
                    })
                    .collect();
                self.notice = Some(match queued.len() {
                    0 => "no run is queued".into(),
                    n => format!("cancelled {n} queued run(s); the training ones go on"),
                });
                for key in queued {
                    self.end_queued(key, Status::Cancelled, out);
                }
            }
            Action::Zoom => {
                self.screen = Screen::Train;
                self.zoomed = match self.zoomed {
                    None => Some(Panel::Loss),
                    Some(Panel::Loss) => Some(Panel::Accuracy),
                    Some(Panel::Accuracy) => Some(Panel::LearningRate),
                    Some(Panel::LearningRate) => None,
                };
            }
            Action::LossWindow => {
                self.screen = Screen::Train;
                self.loss_recent = !self.loss_recent;
            }
            Action::ResetSettings => {
                (self.tricks, self.values) = self.defaults.clone();
                self.notice = Some("tricks and settings back to config.toml's".into());
            }
            Action::Preset(i) => {
                if let Some(p) = PRESETS.get(i) {
                    self.tricks = p.trick_set();
                    self.notice = Some(format!("preset {}: {}", p.name, p.about));
                }
            }
            Action::Click(Target::Tab(s)) => self.screen = s,
            // A click puts the cursor on the row; on a trick's checkbox it also ticks it.
            Action::Click(Target::Item(i)) if i < ITEM_COUNT => {
                self.cursor = i;
                if let Item::Trick(t) = self.item() {
                    toggle(&mut self.tricks, t);
                }
            }
            Action::Click(Target::Check(i)) => {
                self.act_screen(Action::Click(Target::Row(i)), out);
                self.act_screen(Action::Toggle, out);
            }
            Action::Click(Target::Row(i)) => match self.screen {
                Screen::History => self.history.select(i),
                Screen::Compare => self.compare_cursor = i.min(self.runs.len().saturating_sub(1)),
                Screen::Sweep => {
                    if let Some(w) = &mut self.sweep {
                        w.cursor = i.min(w.tasks().saturating_sub(1));
                    }
                }
                Screen::Train | Screen::Results => {}
            },
            _ => match self.screen {
                Screen::Train => self.act_train(action),
                Screen::Results => self.act_results(action),
                Screen::Compare => self.act_compare(action),
                Screen::History => self.act_history(action, out),
                Screen::Sweep => self.act_sweep(action, out),
            },
        }
    }

    fn act_train(&mut self, action: Action) {
        match (action, self.item()) {
            (Action::Up, _) => self.cursor = (self.cursor + ITEM_COUNT - 1) % ITEM_COUNT,
            (Action::Down, _) => self.cursor = (self.cursor + 1) % ITEM_COUNT,
            (Action::Toggle | Action::Edit | Action::Left | Action::Right, Item::Trick(t)) => {
                toggle(&mut self.tricks, t)
            }
            (Action::Left, Item::Param(p)) => p.step(&mut self.values, false),
            (Action::Right | Action::Toggle, Item::Param(p)) => p.step(&mut self.values, true),
            // The field opens with the value, to be changed rather than retyped.
            (Action::Edit, Item::Param(param)) => {
                self.mode = Mode::Editing {
                    param,
                    text: param.value(&self.values),
                }
            }
            _ => {}
        }
    }

    fn act_results(&mut self, action: Action) {
        let ids: Vec<RunId> = self.finished_runs().map(|r| r.key).collect();
        let Some(current) = self.results().map(|r| r.key) else {
            return;
        };
        let i = ids.iter().position(|&id| id == current).unwrap_or(0);
        match action {
            Action::Left | Action::Up => self.results_run = Some(ids[i.saturating_sub(1)]),
            Action::Right | Action::Down => {
                self.results_run = Some(ids[(i + 1).min(ids.len() - 1)])
            }
            _ => {}
        }
    }

    fn act_compare(&mut self, action: Action) {
        let n = self.runs.len();
        if n == 0 {
            return;
        }
        match action {
            Action::Up => self.compare_cursor = self.compare_cursor.saturating_sub(1),
            Action::Down => self.compare_cursor = (self.compare_cursor + 1).min(n - 1),
            Action::Toggle => {
                let id = self.runs[self.compare_cursor.min(n - 1)].key;
                toggle(&mut self.compare_selected, id);
            }
            Action::Edit => {
                let run = &self.runs[self.compare_cursor.min(n - 1)];
                if run.outcome().is_some() {
                    self.results_run = Some(run.key);
                    self.screen = Screen::Results;
                }
            }
            Action::Reference => {
                let run = &self.runs[self.compare_cursor.min(n - 1)];
                self.notice = Some(format!(
                    "differences are now measured against {} (paired by seed)",
                    run.name
                ));
                self.compare_reference = Some(variants::variant_key(&run.name, &run.config));
            }
            _ => {}
        }
    }

    fn act_sweep(&mut self, action: Action, out: &mut Vec<Command>) {
        let Some(w) = &mut self.sweep else {
            if action == Action::Import {
                self.notice = Some(NO_SWEEP.into());
            }
            return;
        };
        match action {
            Action::Up => w.up(),
            Action::Down => w.down(),
            Action::Import => {
                self.notice = Some(format!(
                    "importing the finished tasks of {}…",
                    w.dir.display()
                ));
                out.push(Command::ImportSweep(w.dir.clone()));
            }
            _ => {}
        }
    }

    fn act_history(&mut self, action: Action, out: &mut Vec<Command>) {
        let h = &mut self.history;
        match action {
            Action::Up => h.up(),
            Action::Down => h.down(),
            Action::Sort => h.cycle_sort(),
            Action::Group => h.toggle_grouped(),
            Action::Filter => h.cycle_filter(),
            Action::ShowStatus => h.cycle_show(),
            Action::SelectAll => {
                h.select_all();
                // Selected history runs go to Compare, as one by one with Space.
                let picked: Vec<Run> = h
                    .rows
                    .iter()
                    .filter(|r| h.selected.contains(&r.id) && r.outcome().is_some())
                    .cloned()
                    .collect();
                let none = h.selected.is_empty();
                if none {
                    self.compare_selected.retain(|k| !self.opened.contains(k));
                }
                for r in &picked {
                    let key = self.adopt(r);
                    self.compare_selected.insert(key);
                }
            }
            Action::Search => self.mode = Mode::Search(self.history.text.clone()),
            Action::Toggle => {
                let Some((ids, on)) = h.toggle() else {
                    return;
                };
                for id in ids {
                    let stored = self.history.rows.iter().find(|r| r.id == id).cloned();
                    if let Some(stored) = stored.filter(|r| r.outcome().is_some()) {
                        let run = self.adopt(&stored);
                        if on {
                            self.compare_selected.insert(run);
                        } else {
                            self.compare_selected.remove(&run);
                        }
                    }
                }
            }
            Action::Edit => {
                if let Some(stored) = h.current().cloned() {
                    if stored.outcome().is_some() {
                        self.results_run = Some(self.adopt(&stored));
                        self.screen = Screen::Results;
                    } else {
                        self.notice = Some(format!("run #{} has no results yet", stored.id));
                    }
                }
            }
            Action::Delete => {
                let ids = h.targets();
                let picked = !h.selected.is_empty();
                if let Some(why) = self.busy(&ids) {
                    self.notice = Some(why);
                } else if !ids.is_empty() {
                    let which = if !picked {
                        "the run under the cursor"
                    } else {
                        "the selected runs"
                    };
                    self.notice = Some(format!(
                        "delete {} ({which}) from the history? y deletes, any other key keeps them",
                        numbers(&ids)
                    ));
                    self.mode = Mode::ConfirmDelete(ids);
                }
            }
            Action::Export => {
                let ids = h.targets();
                if !ids.is_empty() {
                    out.push(Command::Export(ids));
                }
            }
            Action::Resume => {
                if let Some(stored) = h.current().cloned() {
                    match self.resume(&stored) {
                        Ok(()) => self.screen = Screen::Train,
                        Err(why) => self.notice = Some(why),
                    }
                }
            }
            _ => {}
        }
    }

    /// Why these history runs cannot be deleted now, if so: a run that is training or queued,
    /// here or in another cifar-tui (the history's rows of dead processes read interrupted),
    /// would go on training with nowhere to save.
    fn busy(&self, ids: &[i64]) -> Option<String> {
        ids.iter().find_map(|&id| {
            let here = self.runs.iter().find(|r| {
                r.stored() == Some(id) && (r.status.is_active() || r.status == Status::Queued)
            });
            if let Some(r) = here {
                return Some(format!(
                    "run #{id} is {} in this session: cancel it first with x, then delete it",
                    r.status.label()
                ));
            }
            let row = self.history.rows.iter().find(|r| r.id == id)?;
            matches!(row.status, Status::Running(_) | Status::Queued).then(|| {
                format!(
                    "run #{id} is {} in another cifar-tui: cancel it there first with x, then \
                     delete it",
                    row.status.label()
                )
            })
        })
    }

    /// Queues a stored run to continue after its last stored epoch.
    pub fn resume(&mut self, stored: &Run) -> Result<(), String> {
        let busy = self.runs.iter().any(|r| {
            r.id == stored.id
                && matches!(
                    r.status,
                    Status::Queued | Status::Starting | Status::Running(_)
                )
        });
        if busy {
            return Err(format!("run #{} is already queued", stored.id));
        }
        stored.check_resumable()?;
        let run = Run {
            key: self.next_key(),
            status: Status::Queued,
            ..stored.clone()
        };
        self.notice = Some(format!(
            "resuming run #{} after epoch {}",
            stored.id,
            stored.epochs.len()
        ));
        self.runs.push(run);
        Ok(())
    }

    /// Runs drawn in the compare charts: selected and finished, in run order.
    pub fn compared(&self) -> Vec<&Run> {
        self.finished_runs()
            .filter(|r| self.compare_selected.contains(&r.key))
            .collect()
    }

    /// The compared runs by variant, and the one differences are measured against: the chosen
    /// one if compared, else the compared baseline.
    pub fn compared_variants(&self) -> (Vec<Variant>, Option<usize>) {
        let v = variants::group(self.compared().into_iter().filter_map(Trial::from_run));
        let reference = match &self.compare_reference {
            Some(key) => v.iter().position(|v| &v.key == key),
            None => v.iter().position(|v| v.name == "baseline"),
        };
        (v, reference)
    }

    /// The variant of a finished run over every finished run known (this session's and the
    /// history's), when it was trained on more than one seed.
    pub fn variant_of(&self, run: &Run) -> Option<Variant> {
        let key = variants::variant_key(&run.name, &run.config);
        let stored: BTreeSet<i64> = self.history.rows.iter().map(|r| r.id).collect();
        let trials = self
            .history
            .rows
            .iter()
            .filter_map(Trial::from_run)
            .chain(
                self.finished_runs()
                    .filter(|r| r.stored().is_none_or(|id| !stored.contains(&id)))
                    .filter_map(Trial::from_run),
            )
            .filter(|t| variants::variant_key(&t.name, &t.config) == key);
        variants::group(trials).pop().filter(|v| v.n() > 1)
    }

    /// The device a started run reported, for the header.
    /// The device the shown run trains on, its GPU named ("wgpu: Apple M2 (Metal)").
    pub fn device_in_use(&self) -> Option<String> {
        self.live_run().and_then(Run::device_label)
    }
}

/// What is kept between launches: every setting of the left panel but the device, which
/// belongs to the machine (and `--device`).
fn ui_state(tricks: &TrickSet, values: &Editable) -> UiState {
    UiState {
        tricks: tricks.iter().copied().collect(),
        hyper: values.hyper.clone(),
        train_limit: values.train_limit,
    }
}

/// "run #3", "runs #3, #5, #7", "12 runs (#1 … #12)": the runs a question is about.
fn numbers(ids: &[i64]) -> String {
    match ids {
        [one] => format!("run #{one}"),
        [first, .., last] if ids.len() > 5 => {
            format!("{} runs (#{first} … #{last})", ids.len())
        }
        _ => {
            let list: Vec<String> = ids.iter().map(|id| format!("#{id}")).collect();
            format!("runs {}", list.join(", "))
        }
    }
}

/// `1, 2, 3`.
fn seed_list(seeds: &[u64]) -> String {
    seeds
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Adds `x` if absent, removes it if present.
fn toggle<T: Ord>(set: &mut BTreeSet<T>, x: T) {
    if !set.remove(&x) {
        set.insert(x);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use cifar_engine::events::{EpochStats, Progress};
    use cifar_engine::metrics::Confusion;

    pub(crate) fn app() -> App {
        let mut app = App::new(TrickSet::new(), Hyper::default(), DeviceChoice::Cpu);
        app.update(Msg::Data(DataState::Ready {
            train: 50_000,
            test: 10_000,
        }));
        app
    }

    /// The commands an action gives, without the history bookkeeping (`Enqueue`).
    fn act(app: &mut App, a: Action) -> Vec<Command> {
        app.update(Msg::Action(a))
            .into_iter()
            .filter(|c| !matches!(c, Command::Enqueue { .. }))
            .collect()
    }

    /// Queues a run and gives the history's answer, as the effects would: `stored` is its
    /// number. The commands that answer brings.
    fn queue(app: &mut App, stored: Option<i64>) -> Vec<Command> {
        act(app, Action::Start);
        let run = app.runs.last().unwrap().key;
        app.update(Msg::Stored { run, id: stored })
    }

    #[test]
    fn the_sweep_screen_reads_its_folder_while_shown_and_i_imports_it() {
        use crate::store::sweep::sample;
        let mut app = app();
        // No sweep watched: the screen reads nothing and `i` says how to watch one.
        assert!(act(&mut app, Action::Goto(Screen::Sweep)).is_empty());
        assert!(app.update(Msg::Tick).is_empty());
        assert!(act(&mut app, Action::Import).is_empty());
        assert_eq!(app.notice.as_deref(), Some(NO_SWEEP));

        let dir = PathBuf::from("/shared/sweep1");
        let read = vec![Command::ReadSweep(dir.clone())];
        app.sweep = Some(SweepWatch::new(dir.clone()));
        act(&mut app, Action::Goto(Screen::Train));
        assert_eq!(act(&mut app, Action::Goto(Screen::Sweep)), read);
        // One reading at a time: a slow file system never piles them up.
        assert!(app.update(Msg::Tick).is_empty());
        app.update(Msg::Sweep(Ok(sample())));
        assert_eq!(app.update(Msg::Tick), read, "read again every second");
        app.update(Msg::Sweep(Ok(sample())));
        // Not read while another screen is shown.
        act(&mut app, Action::Goto(Screen::History));
        assert!(!app.update(Msg::Tick).contains(&read[0]));
        assert_eq!(act(&mut app, Action::NextScreen), read);
        app.update(Msg::Sweep(Ok(sample())));

        for _ in 0..9 {
            act(&mut app, Action::Down);
        }
        assert_eq!(
            app.sweep.as_ref().unwrap().cursor,
            4,
            "stops at the last task"
        );
        act(&mut app, Action::Up);
        assert_eq!(app.sweep.as_ref().unwrap().cursor, 3);
        // A folder that cannot be read any more: the cursor stays in range, the reason shows.
        app.update(Msg::Tick);
        app.update(Msg::Sweep(Err(
            "cannot read /shared/sweep1/plan.json".into()
        )));
        let w = app.sweep.as_ref().unwrap();
        assert_eq!((w.cursor, w.tasks()), (0, 0));

        assert_eq!(
            act(&mut app, Action::Import),
            vec![Command::ImportSweep(dir)]
        );
        assert!(app.notice.as_deref().unwrap().starts_with("importing"));
    }

    /// A finished outcome whose accuracy is `acc`, for tests of views and state.
    pub(crate) fn outcome(acc: f64, epochs: usize) -> Outcome {
        let mut c = Confusion::new(10);
        let right = (acc * 1000.0).round() as u64;
        for (k, row) in c.counts.iter_mut().enumerate() {
            row[k] = right;
            row[(k + 1) % 10] = 1000 - right;
        }
        Outcome {
            device: Device::Cpu,
            epochs: (0..epochs)
                .map(|e| EpochStats {
                    epoch: e + 1,
                    lr: 1e-3,
                    train_loss: 2.0 / (e + 1) as f64,
                    train_accuracy: acc * (e + 1) as f64 / epochs as f64,
                    val_loss: 2.1 / (e + 1) as f64,
                    val_accuracy: acc * (e + 1) as f64 / epochs as f64,
                    seconds: 60.0,
                    train_images_per_sec: 1000.0,
                })
                .collect(),
            report: c.report(),
            confusion: c,
            seconds: 60.0 * epochs as f64,
            images_per_sec: 900.0,
        }
    }

    #[test]
    fn with_parallel_3_three_runs_train_at_once_and_each_end_starts_the_next() {
        let mut app = app();
        app.parallel = 3;
        let started = |cmds: &[Command]| -> Vec<RunId> {
            cmds.iter()
                .filter_map(|c| match c {
                    Command::Start { run, .. } => Some(*run),
                    _ => None,
                })
                .collect()
        };
        let mut all = Vec::new();
        for k in 0..5 {
            all.extend(started(&queue(&mut app, Some(10 + k))));
        }
        assert_eq!(all, [1, 2, 3]);
        let training = |app: &App| app.runs.iter().filter(|r| r.status.is_active()).count();
        assert_eq!((training(&app), app.queued()), (3, 2));
        // Cancelling one of the three ends only that one; its end starts the next queued run.
        assert_eq!(act(&mut app, Action::Cancel), [Command::Cancel(1)]);
        let cmds = app.update(Msg::Done {
            run: 1,
            result: Err(RunEnd::Cancelled),
        });
        assert_eq!(started(&cmds), [4]);
        assert_eq!(app.runs[0].status, Status::Cancelled);
        assert!(app.runs[1..4].iter().all(|r| r.status == Status::Starting));
        let cmds = app.update(Msg::Done {
            run: 3,
            result: Ok(Box::new(outcome(0.6, 2))),
        });
        assert_eq!(started(&cmds), [5]);
        assert_eq!((training(&app), app.queued()), (3, 0));
    }

    #[test]
    fn eight_runs_share_each_gpu_the_runs_are_dealt_over() {
        let asked = std::cell::Cell::new(0);
        let count = |n| {
            let asked = &asked;
            move || {
                asked.set(asked.get() + 1);
                n
            }
        };
        assert_eq!(per_gpu(DeviceChoice::CudaAll, count(4)), 32);
        assert_eq!(
            per_gpu(DeviceChoice::CudaAll, count(0)),
            8,
            "a failed count: one GPU"
        );
        assert_eq!(
            per_gpu(DeviceChoice::CudaAll, count(16)),
            64,
            "--parallel's most"
        );
        assert_eq!(asked.get(), 3);
        for one in [DeviceChoice::Auto, DeviceChoice::Cuda(3), DeviceChoice::Cpu] {
            assert_eq!(per_gpu(one, count(4)), 8);
        }
        assert_eq!(asked.get(), 3, "only cuda:all asks the driver");
    }

    #[test]
    fn unasked_parallel_rises_to_the_gpu_share_once_a_run_trains_on_a_gpu() {
        let mut app = app();
        app.parallel_auto = true;
        app.values.device = DeviceChoice::CudaAll;
        app.gpus = 2;
        let started = |cmds: &[Command]| {
            cmds.iter()
                .filter(|c| matches!(c, Command::Start { .. }))
                .count()
        };
        let mut first = 0;
        for k in 0..20 {
            first += started(&queue(&mut app, Some(10 + k)));
        }
        assert_eq!(first, 1, "one at a time until the device is known");
        let on = |device| TrainEvent::Started {
            device,
            gpu: None,
            train_images: 64,
            test_images: 64,
            steps_per_epoch: 1,
        };
        let cmds = app.update(Msg::Train {
            run: 1,
            event: on(Device::Cpu),
        });
        assert_eq!((started(&cmds), app.parallel), (0, 1), "the CPU keeps one");
        let cmds = app.update(Msg::Train {
            run: 1,
            event: on(Device::Cuda),
        });
        assert_eq!((started(&cmds), app.parallel), (15, 16));
    }

    #[test]
    fn start_queues_and_the_first_run_starts_once_numbered() {
        let mut app = app();
        // It waits for its history number, so that it trains under it.
        assert!(act(&mut app, Action::Start).is_empty());
        assert_eq!(app.runs[0].status, Status::Queued);
        let cmds = app.update(Msg::Stored {
            run: 1,
            id: Some(7),
        });
        assert!(matches!(
            cmds[..],
            [Command::Start {
                run: 1,
                stored: Some(7),
                ..
            }]
        ));
        assert_eq!(app.runs[0].status, Status::Starting);
        // A second run waits for the first.
        assert!(queue(&mut app, None).is_empty());
        assert_eq!(app.queued(), 1);
        let cmds = app.update(Msg::Done {
            run: 1,
            result: Ok(Box::new(outcome(0.6, 2))),
        });
        assert!(matches!(
            cmds[..],
            [Command::Start {
                run: 2,
                stored: None,
                ..
            }]
        ));
        assert!(app.compare_selected.contains(&1));
    }

    #[test]
    fn tab_visits_every_screen_and_shift_tab_walks_back() {
        let mut app = app();
        let mut seen = vec![app.screen];
        for _ in 0..Screen::ALL.len() {
            act(&mut app, Action::NextScreen);
            seen.push(app.screen);
        }
        assert_eq!(&seen[..5], &Screen::ALL[..]);
        assert_eq!(seen[5], Screen::ALL[0]);
        act(&mut app, Action::PrevScreen);
        assert_eq!(app.screen, Screen::ALL[4]);
    }

    #[test]
    fn failed_data_refuses_to_queue_runs() {
        let mut app = App::new(TrickSet::new(), Hyper::default(), DeviceChoice::Cpu);
        app.update(Msg::Data(DataState::Failed("missing".into())));
        assert!(act(&mut app, Action::Start).is_empty());
        assert!(app.runs.is_empty());
        assert!(app.notice.as_deref().unwrap().contains("without the data"));
        assert_eq!(act(&mut app, Action::Quit), [Command::Quit]);
    }

    #[test]
    fn nothing_starts_before_the_data_is_in() {
        let mut app = App::new(TrickSet::new(), Hyper::default(), DeviceChoice::Cpu);
        assert!(queue(&mut app, Some(1)).is_empty());
        let cmds = app.update(Msg::Data(DataState::Ready { train: 1, test: 1 }));
        assert!(matches!(cmds[..], [Command::Start { run: 1, .. }]));
    }

    #[test]
    fn study_key_asks_then_queues_the_eight_presets_in_order() {
        let mut app = app();
        app.values.seeds = Some(Seeds::Count(1));
        act(&mut app, Action::QueueStudy);
        assert!(app.runs.is_empty(), "a stray a queues nothing");
        assert!(
            app.notice
                .as_deref()
                .unwrap()
                .contains("8 runs (8 presets x 1 seed(s), 10 epochs)? y or a: yes")
        );
        act(&mut app, Action::Down);
        assert_eq!((app.mode.clone(), app.runs.len()), (Mode::Normal, 0));
        act(&mut app, Action::QueueStudy);
        act(&mut app, Action::Yes);
        let names: Vec<_> = app.runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, PRESETS.map(|p| p.name));
        assert!(app.runs[7].config.dropout_conv.is_some());
    }

    #[test]
    fn seeds_repeat_a_run_and_the_study_seed_by_seed() {
        let mut app = app();
        act(&mut app, Action::Start);
        assert_eq!(app.runs.len(), 1, "a single run stays one run");
        assert_eq!(app.runs[0].config.seed, 42);
        app.values.seeds = Some(Seeds::Count(3));
        act(&mut app, Action::Start);
        let seeds: Vec<u64> = app.runs[1..].iter().map(|r| r.config.seed).collect();
        assert_eq!(seeds, [42, 43, 44]);
        assert!(app.runs[1..].iter().all(|r| r.name == "baseline"));

        let mut app = self::app();
        act(&mut app, Action::QueueStudy);
        act(&mut app, Action::Yes);
        assert_eq!(app.runs.len(), 24, "8 presets x 3 seeds on the CPU");
        let order: Vec<(&str, u64)> = app.runs[7..10]
            .iter()
            .map(|r| (r.name.as_str(), r.config.seed))
            .collect();
        assert_eq!(
            order,
            [("dropout_both", 42), ("baseline", 43), ("norm_inputs", 43)]
        );
        let mut app = self::app();
        app.values.device = DeviceChoice::Cuda(0);
        act(&mut app, Action::QueueStudy);
        act(&mut app, Action::Yes);
        assert_eq!(app.runs.len(), 40, "5 seeds on a GPU");
    }

    #[test]
    fn presets_tick_their_tricks_and_space_toggles() {
        let mut app = app();
        act(&mut app, Action::Preset(2));
        assert_eq!(app.preset_name(), Some("lr_schedule"));
        assert_eq!(app.item(), Item::Trick(Trick::NormInputs));
        act(&mut app, Action::Toggle);
        assert!(!app.tricks.contains(&Trick::NormInputs));
        assert_eq!(app.preset_name(), None);
    }

    #[test]
    fn editing_a_value_by_typing() {
        let mut app = app();
        app.cursor = TRICKS.len() + 2; // LR (fixed)
        act(&mut app, Action::Edit);
        assert!(
            matches!(&app.mode, Mode::Editing { text, .. } if text == "1e-3"),
            "opens with the value"
        );
        for _ in 0..4 {
            act(&mut app, Action::Backspace);
        }
        act(&mut app, Action::Commit);
        assert_eq!(app.values.hyper.lr, 1e-3, "an empty field keeps the value");
        act(&mut app, Action::Edit);
        for _ in 0..4 {
            act(&mut app, Action::Backspace);
        }
        for c in "5e-4".chars() {
            act(&mut app, Action::Input(c));
        }
        act(&mut app, Action::Commit);
        assert_eq!(app.values.hyper.lr, 5e-4);
        act(&mut app, Action::Edit);
        for _ in 0..2 * MAX_INPUT {
            act(&mut app, Action::Input('9'));
        }
        assert!(matches!(&app.mode, Mode::Editing { text, .. } if text.len() == MAX_INPUT));
        act(&mut app, Action::Abort);
        act(&mut app, Action::Edit);
        act(&mut app, Action::Input('x'));
        act(&mut app, Action::Commit);
        assert_eq!(app.values.hyper.lr, 5e-4);
        assert!(app.notice.as_deref().unwrap().contains("not a number"));
        // A queued run keeps the values it was queued with.
        act(&mut app, Action::Start);
        assert_eq!(app.runs[0].config.lr.at(0), 5e-4);
    }

    #[test]
    fn queued_runs_are_recorded_and_start_with_their_history_number() {
        let mut app = app();
        let cmds = app.update(Msg::Action(Action::Start));
        assert!(matches!(&cmds[0], Command::Enqueue { run: 1, name, .. } if name == "baseline"));
        app.update(Msg::Stored {
            run: 1,
            id: Some(56),
        });
        // The second run waits; its history number arrives before it starts.
        queue(&mut app, Some(57));
        let cmds = app.update(Msg::Done {
            run: 1,
            result: Err(RunEnd::Cancelled),
        });
        assert!(cmds.iter().any(|c| matches!(
            c,
            Command::Start {
                run: 2,
                stored: Some(57),
                ..
            }
        )));
    }

    #[test]
    fn a_run_waits_in_the_queue_until_the_history_has_numbered_it() {
        let mut app = app();
        act(&mut app, Action::Start);
        act(&mut app, Action::Start);
        // The first one's number is still on the way: the second must not overtake it.
        let cmds = app.update(Msg::Stored {
            run: 2,
            id: Some(9),
        });
        assert!(cmds.is_empty(), "{cmds:?}");
        let cmds = app.update(Msg::Stored { run: 1, id: None });
        assert!(matches!(
            cmds[..],
            [Command::Start {
                run: 1,
                stored: None,
                ..
            }]
        ));
    }

    #[test]
    fn every_failure_before_training_ends_the_run_failed_and_the_next_starts() {
        // No data, no thread, no device: the effects answer with a failed end; the run's
        // history row, still queued, is ended with it and the queue moves on.
        for why in [
            "the data is not loaded yet",
            "cannot start a training thread (no more threads)",
            "history database: disk I/O error",
        ] {
            let mut app = app();
            queue(&mut app, Some(4));
            queue(&mut app, Some(5));
            assert_eq!(app.runs[0].status, Status::Starting);
            let cmds = app.update(Msg::Done {
                run: 1,
                result: Err(RunEnd::Failed(why.into())),
            });
            assert_eq!(app.runs[0].status, Status::Failed(why.into()));
            assert_eq!(
                cmds[0],
                Command::EndQueued {
                    run: 1,
                    stored: Some(4),
                    status: Status::Failed(why.into()),
                }
            );
            assert!(matches!(cmds[1], Command::Start { run: 2, .. }), "{cmds:?}");
            assert!(app.notice.as_deref().unwrap().contains(why));
        }
    }

    #[test]
    fn cancelling_a_queued_run_records_it_cancelled() {
        let mut app = app();
        queue(&mut app, Some(1));
        queue(&mut app, Some(2));
        // x cancels the training run first, then the newest queued one.
        assert_eq!(act(&mut app, Action::Cancel), [Command::Cancel(1)]);
        app.update(Msg::Done {
            run: 1,
            result: Err(RunEnd::Cancelled),
        });
        act(&mut app, Action::Start); // run 3: its number is still on the way
        assert_eq!(act(&mut app, Action::Cancel), [Command::Cancel(2)]);
        app.update(Msg::Done {
            run: 2,
            result: Err(RunEnd::Cancelled),
        });
        assert_eq!(
            act(&mut app, Action::Cancel),
            [Command::EndQueued {
                run: 3,
                stored: None,
                status: Status::Cancelled,
            }]
        );
        assert_eq!(app.runs[2].status, Status::Cancelled);
        // Once numbered, a cancelled run does not start.
        assert!(
            app.update(Msg::Stored {
                run: 3,
                id: Some(3)
            })
            .iter()
            .all(|c| !matches!(c, Command::Start { .. }))
        );
    }

    #[test]
    fn quitting_marks_queued_runs_interrupted() {
        let mut app = app();
        queue(&mut app, Some(1));
        queue(&mut app, Some(2));
        act(&mut app, Action::Start); // number on the way
        let cmds = act(&mut app, Action::ForceQuit);
        let ended: Vec<_> = cmds
            .iter()
            .filter_map(|c| match c {
                Command::EndQueued {
                    run,
                    stored,
                    status: Status::Interrupted(_),
                } => Some((*run, *stored)),
                _ => None,
            })
            .collect();
        assert_eq!(ended, [(2, Some(2)), (3, None)]);
        assert_eq!(cmds.last(), Some(&Command::Quit));
    }

    #[test]
    fn delete_refuses_a_run_that_is_training_here_or_elsewhere() {
        let mut app = app();
        let mut rows = crate::app::history::tests::stored(3);
        // Run 3 trains in this session; run 2 in another process (its row reads running
        // after the dead-process check); run 1 is finished.
        rows[1].status = Status::Running(None);
        app.update(Msg::History(Ok(rows.clone())));
        act(&mut app, Action::Goto(Screen::History));
        act(&mut app, Action::Start);
        app.update(Msg::Stored {
            run: 1,
            id: Some(3),
        });
        assert!(app.active_run().is_some());
        for (row, says) in [(0, "in this session"), (1, "in another cifar-tui")] {
            app.history.cursor = row;
            assert_eq!(app.history.current().unwrap().id, rows[row].id);
            assert!(act(&mut app, Action::Delete).is_empty());
            assert_eq!(app.mode, Mode::Normal, "no confirmation is asked");
            let notice = app.notice.clone().unwrap();
            assert!(
                notice.contains(says) && notice.contains("cancel it") && notice.contains("x"),
                "{notice}"
            );
        }
        // A selection with a busy run in it is refused whole.
        app.history.selected = [1, 2].into();
        act(&mut app, Action::Delete);
        assert_eq!(app.mode, Mode::Normal);
        app.history.selected = [1].into();
        act(&mut app, Action::Delete);
        assert_eq!(app.mode, Mode::ConfirmDelete(vec![1]));
    }

    #[test]
    fn an_epoch_on_the_history_screen_reads_only_that_run_again() {
        let mut app = app();
        app.update(Msg::History(Ok(crate::app::history::tests::stored(3))));
        queue(&mut app, Some(4));
        let epoch = TrainEvent::Epoch(outcome(0.5, 1).epochs[0]);
        // Elsewhere the History screen is not drawn: nothing is read.
        let cmds = app.update(Msg::Train {
            run: 1,
            event: epoch.clone(),
        });
        assert!(cmds.is_empty(), "{cmds:?}");
        act(&mut app, Action::Goto(Screen::History));
        let cmds = app.update(Msg::Train {
            run: 1,
            event: epoch,
        });
        assert_eq!(
            cmds,
            [Command::RefreshRun(4)],
            "one row, not the whole history"
        );
        let mut row = crate::app::history::tests::stored(1).remove(0);
        row.id = 4;
        app.update(Msg::HistoryRow {
            id: 4,
            row: Some(Box::new(row)),
        });
        assert_eq!(app.history.rows.len(), 4);
    }

    #[test]
    fn history_selection_feeds_compare_and_delete_asks_first() {
        let mut app = app();
        app.update(Msg::History(Ok(crate::app::history::tests::stored(3))));
        act(&mut app, Action::Goto(Screen::History));
        act(&mut app, Action::Toggle);
        assert_eq!(app.compared().len(), 1, "a selected stored run is compared");
        assert_eq!(app.compared()[0].stored(), Some(3));
        act(&mut app, Action::Delete);
        assert!(matches!(app.mode, Mode::ConfirmDelete(ref ids) if ids == &[3]));
        assert!(
            app.notice
                .as_deref()
                .unwrap()
                .starts_with("delete run #3 (the selected runs) from the history? y deletes"),
            "{:?}",
            app.notice
        );
        assert!(
            act(&mut app, Action::Abort).is_empty(),
            "any other key keeps them"
        );
        act(&mut app, Action::Delete);
        assert_eq!(act(&mut app, Action::Yes), [Command::Delete(vec![3])]);
        act(&mut app, Action::Edit);
        assert_eq!(app.screen, Screen::Results);
        assert_eq!(app.results().unwrap().stored(), Some(3));
    }

    #[test]
    fn only_interrupted_runs_resume() {
        let mut app = app();
        let mut rows = crate::app::history::tests::stored(2);
        assert!(app.resume(&rows[0]).unwrap_err().contains("finished"));
        rows[0].status = Status::Interrupted(None);
        rows[0].epochs.truncate(1);
        app.resume(&rows[0]).unwrap();
        let run = app.runs.last().unwrap();
        assert_eq!((run.stored(), run.epochs.len()), (Some(rows[0].id), 1));
        assert!(app.resume(&rows[0]).unwrap_err().contains("already queued"));
    }

    #[test]
    fn cancel_and_quit_confirmation() {
        let mut app = app();
        queue(&mut app, None);
        assert_eq!(act(&mut app, Action::Cancel), [Command::Cancel(1)]);
        assert!(act(&mut app, Action::Quit).is_empty());
        assert_eq!(app.mode, Mode::ConfirmQuit);
        let notice = app.notice.clone().unwrap_or_default();
        assert!(
            notice.contains("stay resumable") && !notice.contains("cancel"),
            "{notice}"
        );
        assert_eq!(act(&mut app, Action::Quit), [Command::Quit]);
    }

    #[test]
    fn progress_events_update_the_live_run() {
        let mut app = app();
        act(&mut app, Action::Start);
        app.update(Msg::Train {
            run: 1,
            event: TrainEvent::Progress(Progress {
                epoch: 0,
                step: 20,
                steps_per_epoch: 782,
                loss: 2.1,
                accuracy: 0.4,
                images_per_sec: 900.0,
                elapsed: 1.4,
            }),
        });
        let run = app.live_run().unwrap();
        assert!(matches!(run.status, Status::Running(_)));
        assert_eq!(run.losses, [2.1]);
    }

    /// Issue 9: `e` shows the run that finished last, even after an old one was opened.
    #[test]
    fn results_follow_the_run_that_finished_last() {
        let mut app = app();
        app.update(Msg::History(Ok(crate::app::history::tests::stored(3))));
        act(&mut app, Action::Goto(Screen::History));
        act(&mut app, Action::Down);
        act(&mut app, Action::Edit);
        assert_eq!(
            (app.screen, app.results().unwrap().id),
            (Screen::Results, 2)
        );
        act(&mut app, Action::Goto(Screen::Train));
        queue(&mut app, Some(4));
        let key = app.active_run().unwrap().key;
        app.update(Msg::Done {
            run: key,
            result: Ok(Box::new(outcome(0.8, 1))),
        });
        assert_eq!(
            app.results().unwrap().id,
            4,
            "the new run, not the opened one"
        );
        assert!(app.notice.as_deref().unwrap().contains("run #4 finished"));
    }

    /// Issue 9: runs picked from the history for Compare are not shown as live on Train.
    #[test]
    fn runs_opened_from_the_history_are_never_the_live_run() {
        let mut app = app();
        app.update(Msg::History(Ok(crate::app::history::tests::stored(3))));
        act(&mut app, Action::Goto(Screen::History));
        act(&mut app, Action::Toggle);
        act(&mut app, Action::Down);
        act(&mut app, Action::Toggle);
        assert_eq!(app.compared().len(), 2);
        assert!(app.live_run().is_none(), "{:?}", app.live_run());
        queue(&mut app, Some(4));
        assert_eq!(app.live_run().unwrap().id, 4);
    }

    #[test]
    fn notices_go_after_a_while_but_questions_stay() {
        let mut app = app();
        act(&mut app, Action::Cancel);
        assert_eq!(
            app.notice.as_deref(),
            Some("nothing to cancel: no run is training or queued")
        );
        for _ in 1..NOTICE_SECONDS {
            app.update(Msg::Tick);
        }
        assert!(app.notice.is_some(), "not yet");
        app.update(Msg::Tick);
        assert_eq!(app.notice, None);
        queue(&mut app, Some(1));
        act(&mut app, Action::Quit);
        for _ in 0..3 * NOTICE_SECONDS {
            app.update(Msg::Tick);
        }
        assert!(app.notice.as_deref().unwrap().contains("q again quits"));
        // A new notice starts its own time.
        act(&mut app, Action::Abort);
        act(&mut app, Action::Preset(1));
        app.update(Msg::Tick);
        assert!(app.notice.as_deref().unwrap().starts_with("preset"));
    }

    #[test]
    fn capital_x_cancels_every_queued_run_and_leaves_the_training_one() {
        let mut app = app();
        for id in 1..=3 {
            queue(&mut app, Some(id));
        }
        let cmds = act(&mut app, Action::CancelQueued);
        let ended: Vec<_> = cmds
            .iter()
            .filter_map(|c| match c {
                Command::EndQueued {
                    stored,
                    status: Status::Cancelled,
                    ..
                } => *stored,
                _ => None,
            })
            .collect();
        assert_eq!(ended, [2, 3]);
        assert!(app.runs[0].status.is_active(), "the training run goes on");
        assert!(
            app.notice
                .as_deref()
                .unwrap()
                .starts_with("cancelled 2 queued")
        );
        act(&mut app, Action::CancelQueued);
        assert_eq!(app.notice.as_deref(), Some("no run is queued"));
    }

    #[test]
    fn slash_finds_history_runs_as_they_are_typed() {
        let mut app = app();
        app.update(Msg::History(Ok(crate::app::history::tests::stored(4))));
        act(&mut app, Action::Goto(Screen::History));
        act(&mut app, Action::Search);
        for c in "sched".chars() {
            act(&mut app, Action::Input(c));
        }
        let names: Vec<_> = app
            .history
            .visible()
            .iter()
            .map(|r| r.name.clone())
            .collect();
        assert_eq!(
            names,
            ["weight_decay", "lr_schedule"],
            "the runs with the schedule"
        );
        act(&mut app, Action::Commit);
        assert_eq!(
            (app.mode.clone(), app.history.text.as_str()),
            (Mode::Normal, "sched")
        );
        act(&mut app, Action::Search);
        act(&mut app, Action::Abort);
        assert_eq!(app.history.visible().len(), 4, "Esc clears the text");
        act(&mut app, Action::SelectAll);
        assert_eq!(app.compared().len(), 4, "all selected go to Compare");
        act(&mut app, Action::SelectAll);
        assert!(app.compared().is_empty());
    }

    #[test]
    fn changed_settings_are_kept_once_and_d_returns_to_the_config() {
        let mut app = app();
        let saves = |cmds: Vec<Command>| {
            cmds.into_iter()
                .filter_map(|c| match c {
                    Command::SaveSettings(s) => Some(s),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        assert!(
            saves(act(&mut app, Action::Down)).is_empty(),
            "moving saves nothing"
        );
        let saved = saves(act(&mut app, Action::Preset(2)));
        assert_eq!(saved.len(), 1);
        assert_eq!(saved[0].tricks, [Trick::NormInputs, Trick::LrSchedule]);
        assert!(
            saves(act(&mut app, Action::Preset(2))).is_empty(),
            "no change, no write"
        );
        app.cursor = TRICKS.len(); // Epochs
        let saved = saves(act(&mut app, Action::Right));
        assert_eq!(saved[0].hyper.epochs, 11);
        let saved = saves(act(&mut app, Action::ResetSettings));
        assert_eq!((saved[0].tricks.len(), saved[0].hyper.epochs), (0, 10));
        assert!(app.tricks.is_empty());
        // The next launch starts where this one left off.
        let mut next = App::new(TrickSet::new(), Hyper::default(), DeviceChoice::Cpu);
        let mut state = saved[0].clone();
        state.train_limit = Some(2000);
        next.restore(state);
        assert_eq!(next.values.train_limit, Some(2000));
        assert!(
            saves(next.update(Msg::Tick)).is_empty(),
            "restoring is not a change"
        );
    }

    #[test]
    fn a_question_names_the_runs_it_is_about() {
        assert_eq!(numbers(&[3]), "run #3");
        assert_eq!(numbers(&[3, 5, 7]), "runs #3, #5, #7");
        assert_eq!(numbers(&(1..=12).collect::<Vec<_>>()), "12 runs (#1 … #12)");
    }

    #[test]
    fn results_screen_walks_finished_runs() {
        let mut app = app();
        for acc in [0.5, 0.6, 0.7] {
            queue(&mut app, None);
            let id = app.active_run().unwrap().key;
            app.update(Msg::Done {
                run: id,
                result: Ok(Box::new(outcome(acc, 1))),
            });
        }
        app.screen = Screen::Results;
        assert_eq!(app.results().unwrap().key, 3);
        act(&mut app, Action::Left);
        assert_eq!(app.results().unwrap().key, 2);
        act(&mut app, Action::Left);
        act(&mut app, Action::Left);
        assert_eq!(app.results().unwrap().key, 1);
    }
}
