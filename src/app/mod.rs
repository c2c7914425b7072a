//! The app's state and its update step: messages in, commands out. No terminal, no burn, no
//! channels, so every behaviour here is testable by feeding messages.

pub mod detail;
pub mod history;
mod msg;
pub mod params;
mod queue;
mod screens;
pub mod scroll;
pub mod sweep;
mod watch;

pub use msg::{Action, Command, DataState, Msg, RunEnd, Screen, Target};
pub use queue::{GPU_PARALLEL, MAX_PARALLEL, WGPU_PARALLEL, per_gpu};

use std::collections::BTreeSet;

use crate::app::history::History;
use crate::app::params::{Editable, PARAMS, Param};
use crate::app::sweep::SweepWatch;
use crate::run::variants::{self, Trial, Variant};
use crate::run::{Run, RunKey, Status};
use crate::store::state::{Settings, UiState};
use cifar_engine::config::Hyper;
use cifar_engine::events::{DeviceChoice, DeviceKind, TrainEvent};
use cifar_engine::tricks::{self, STUDIES, Study, TRICKS, Trick, TrickSet};

/// What the Sweep screen says when no sweep is watched.
pub const NO_SWEEP: &str = "no sweep watched: start cifar-tui with --sweep DIR (a folder made \
     by `cifar-tui sweep`)";

/// Longest typed value, in characters: a list of seeds fits ("1,2,…,20" is 50).
pub const MAX_INPUT: usize = 60;

/// How much faster than it trained a run replays from History (`P`); `replay --speed`
/// chooses another pace.
pub const REPLAY_SPEED: f64 = 10.0;

/// How long a notice stays in the footer.
pub const NOTICE_SECONDS: u32 = 8;

/// Most messages `n` keeps; older ones go first.
pub const MAX_NOTICES: usize = 500;

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
    /// `a`: a study is a lot to queue by a stray key; `y` or `a` again queues [`App::study`],
    /// `s` offers the next study.
    ConfirmStudy,
    /// `/` on the History screen: typing the text runs are filtered by, live.
    Search(String),
    /// Enter on a row, `n`: its text whole, scrolled.
    Detail(detail::Detail),
    /// Enter on a cell of the Results screen's confusion matrix: the test images counted in
    /// it, shown as pictures; the arrows move to the next cell.
    Images(Cell),
    /// `i` on Train or Results: what the run's network learned, as pictures (its first
    /// filters, its inputs after the input tricks); live while it trains.
    Learned(RunKey),
}

/// A cell of a confusion matrix: the images of class `truth` predicted as `predicted`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    pub truth: usize,
    pub predicted: usize,
}

impl Cell {
    /// The cell the arrows lead to, staying within the ten classes.
    fn moved(self, action: &Action) -> Cell {
        let last = cifar_engine::data::CLASSES.len() - 1;
        let (mut t, mut p) = (self.truth, self.predicted);
        match action {
            Action::Up => t = t.saturating_sub(1),
            Action::Down => t = (t + 1).min(last),
            Action::Left => p = p.saturating_sub(1),
            Action::Right => p = (p + 1).min(last),
            _ => {}
        }
        Cell {
            truth: t,
            predicted: p,
        }
    }
}

/// The test set's pictures, shared with the training threads, for the images behind a
/// confusion cell.
#[derive(Clone)]
pub struct TestImages(pub std::sync::Arc<cifar_engine::data::Cifar10>);

/// The same set, not the same pixels: two are equal when they are one.
impl PartialEq for TestImages {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for TestImages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestImages({} images)", self.0.test.len())
    }
}

/// Compare's variants and the one differences are measured against, with what they were
/// derived from (the compared runs' keys and history numbers, the chosen reference).
#[derive(Clone, Debug, Default)]
struct Compared {
    made_of: (Vec<(RunKey, i64)>, Option<String>),
    variants: Vec<Variant>,
    reference: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct App {
    pub screen: Screen,
    pub mode: Mode,
    pub tricks: TrickSet,
    pub values: Editable,
    /// Row of the left panel under the cursor.
    /// The study `a` offers (`study --preset` names it; `s` at the question turns it).
    pub study: &'static Study,
    /// The study queued last and its runs, until the last of them ends.
    pub study_queued: Option<(&'static str, Vec<RunKey>)>,
    /// Ring the bell and notify when a study ends (`[app] notify`).
    pub notify: bool,
    pub cursor: usize,
    pub runs: Vec<Run>,
    next_id: RunKey,
    pub data: DataState,
    /// The footer's message; it goes after [`NOTICE_SECONDS`] unless it asks a question.
    pub notice: Option<String>,
    /// Seconds the notice has been shown.
    notice_age: u32,
    /// Every notice shown this session, oldest first (`n` shows them whole).
    pub notices: std::collections::VecDeque<String>,
    /// The run the Results screen shows; `None` follows the run that finished last.
    pub results_run: Option<RunKey>,
    /// The cursor on the Results screen's confusion matrix, once Enter put it there; the
    /// arrows then move it instead of stepping through the runs.
    pub results_cell: Option<Cell>,
    /// The test set's pictures, once loaded.
    pub test_images: Option<TestImages>,
    /// The run of this session that finished last.
    last_finished: Option<RunKey>,
    /// Runs read from the history to be looked at (Results, Compare), not trained here.
    opened: BTreeSet<RunKey>,
    /// Of those, the ones another process trained while this session looked: Train draws
    /// them as they go, read from the history, which their process writes every few seconds.
    pub watched: BTreeSet<RunKey>,
    /// Tasks of the watched sweep followed on Train, and their runs here.
    sweep_runs: std::collections::BTreeMap<usize, RunKey>,
    /// Seconds since the start, for what is read again every few.
    ticks: u64,
    /// Compare screen: the row under the cursor and the runs drawn in the charts.
    pub compare_cursor: usize,
    pub compare_scroll: scroll::Scroll,
    pub compare_selected: BTreeSet<RunKey>,
    /// The variant (its [`variants::variant_key`]) Compare measures differences against;
    /// `None`: the compared baseline, if any.
    pub compare_reference: Option<String>,
    /// Compare's variants, derived from the two fields above.
    compared: Compared,
    pub history: History,
    /// Queued runs whose history number is on the way; they start once it has arrived, so
    /// that they train under it.
    recording: BTreeSet<RunKey>,
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
    /// Quit leaving the runs training: each goes on in a process of its own.
    pub leave_training: bool,
    /// `q` asked twice leaves the runs training, `s` stops them (`[app] on_quit = "leave"`);
    /// else `q` stops them and `l` leaves them.
    pub leave_on_quit: bool,
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
            saved: UiState {
                config: Some(ui_state(&tricks, &values).chosen),
                ..ui_state(&tricks, &values)
            },
            tricks,
            values,
            study_queued: None,
            notify: true,
            study: &STUDIES[0],
            cursor: 0,
            runs: Vec::new(),
            next_id: 1,
            data: DataState::Loading(None),
            notice: None,
            notice_age: 0,
            notices: Default::default(),
            results_run: None,
            results_cell: None,
            test_images: None,
            last_finished: None,
            opened: BTreeSet::new(),
            watched: BTreeSet::new(),
            sweep_runs: Default::default(),
            ticks: 0,
            compare_cursor: 0,
            compare_scroll: Default::default(),
            compare_selected: BTreeSet::new(),
            compare_reference: None,
            compared: Compared::default(),
            history: History::default(),
            recording: BTreeSet::new(),
            parallel: 1,
            zoomed: None,
            loss_recent: false,
            parallel_auto: false,
            gpus: 1,
            sweep: None,
            quit: false,
            leave_training: false,
            leave_on_quit: false,
        }
    }

    /// Takes the settings of the last session, but for values changed in config.toml (or
    /// given another `--config`) since, which win and are named; config.toml's stay the
    /// defaults `D` returns to.
    pub fn restore(&mut self, state: UiState) {
        let (settings, taken) = state.over(&ui_state(&self.defaults.0, &self.defaults.1).chosen);
        self.tricks = settings.tricks.iter().copied().collect();
        self.values.hyper = settings.hyper;
        self.values.train_limit = settings.train_limit;
        if !taken.is_empty() {
            self.notice = Some(format!(
                "changed in the config since the last session, so taken from it: {}; the rest \
                 as you left it",
                taken.join(", ")
            ));
        }
        // The file then learns the config's values as they are now.
        self.saved = state;
    }

    /// The item under the cursor; the cursor stays within the items, and a cursor past the
    /// end (which no key makes) reads as the last one rather than a crash.
    pub fn item(&self) -> Item {
        items()
            .nth(self.cursor)
            .unwrap_or(Item::Param(PARAMS[PARAMS.len() - 1]))
    }

    /// The run whose live figures the Train screen shows: the active one, else the newest
    /// of this session's that left the queue, other than one cancelled there (it has nothing
    /// to show). Never one only opened from the history.
    pub fn live_run(&self) -> Option<&Run> {
        self.runs.iter().find(|r| r.status.is_active()).or_else(|| {
            self.runs
                .iter()
                .rev()
                .filter(|r| !self.opened.contains(&r.key) || self.watched.contains(&r.key))
                .find(|r| match r.status {
                    Status::Queued => false,
                    Status::Cancelled => r.device.is_some(),
                    _ => true,
                })
        })
    }

    /// The first run active in this process (training or replaying), not one another
    /// process trains.
    pub fn active_run(&self) -> Option<&Run> {
        self.runs
            .iter()
            .find(|r| r.status.is_active() && !self.watched.contains(&r.key))
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

    fn run_mut(&mut self, key: RunKey) -> Option<&mut Run> {
        self.runs.iter_mut().find(|r| r.key == key)
    }

    /// Takes one message; returns what must happen outside.
    pub fn update(&mut self, msg: Msg) -> Vec<Command> {
        let mut out = Vec::new();
        let said = self.notice.clone();
        match msg {
            Msg::Action(a) => self.act(a, &mut out),
            Msg::Paste(text) => self.paste(&text),
            Msg::Tick => {
                self.age_notice();
                self.ticks += 1;
                if self.screen == Screen::Train {
                    out.extend(self.follow_others());
                }
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
            Msg::SweepRuns(rows) => {
                if let Some(w) = &mut self.sweep {
                    w.took_runs();
                }
                for (task, row) in rows {
                    self.watch_task(task, &row);
                }
            }
            Msg::Data(state) => self.data = state,
            Msg::TestImages(images) => self.test_images = Some(images),
            Msg::Predictions {
                id,
                predictions,
                pictures,
            } => self.take_predictions(id, *predictions, pictures.map(|p| *p)),
            Msg::DataProgress(p) => self.data = DataState::Loading(Some(p)),
            Msg::Notice(n) => self.notice = Some(n),
            Msg::Stored { run, id } => {
                self.recording.remove(&run);
                if let Some(r) = self.run_mut(run) {
                    r.id = id.unwrap_or_default();
                }
                self.refresh_row(id, &mut out);
            }
            Msg::History(Ok(rows)) => {
                for row in &rows {
                    self.watch(row);
                }
                self.history.set_rows(rows);
            }
            Msg::History(Err(why)) => self.history.unavailable = Some(why),
            Msg::Running(ids) => {
                // Runs of other processes not followed yet: read whole, then followed.
                let known = |id: &i64| self.runs.iter().any(|r| r.id == *id);
                out.extend(
                    ids.into_iter()
                        .filter(|id| !known(id))
                        .map(Command::RefreshRun),
                );
            }
            Msg::HistoryRow { id, row } => {
                if let Some(row) = &row {
                    self.watch(row);
                }
                self.history.set_row(id, row.map(|r| *r));
            }
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
                        DeviceKind::Cuda => {
                            self.parallel = per_gpu(self.values.device, || self.gpus)
                        }
                        DeviceKind::Wgpu => self.parallel = WGPU_PARALLEL,
                        DeviceKind::Cpu => {}
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
            Msg::Done { run, result } => {
                self.done(run, result, &mut out);
                self.study_end(&mut out);
            }
        }
        if self.notice != said {
            self.notice_age = 0;
            if let Some(n) = &self.notice {
                if self.notices.len() == MAX_NOTICES {
                    self.notices.pop_front();
                }
                self.notices.push_back(n.clone());
            }
        }
        let now = self.settings_kept();
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
        self.derive_compared();
        out
    }

    /// Pasted text goes into the field being typed in, as far as it fits and up to its first
    /// line; it is never read as keys (a word with `d` and `y` in it must not delete a run).
    fn paste(&mut self, pasted: &str) {
        let line = pasted.lines().next().unwrap_or_default();
        let text = match &mut self.mode {
            Mode::Editing { text, .. } | Mode::Search(text) => text,
            _ => {
                self.notice =
                    Some("paste ignored, never read as keys: paste into a field you edit".into());
                return;
            }
        };
        let room = MAX_INPUT.saturating_sub(text.chars().count());
        let taken: String = line
            .chars()
            .filter(|c| !c.is_control())
            .take(room)
            .collect();
        let dropped = pasted.chars().filter(|c| !c.is_control()).count() - taken.chars().count();
        text.push_str(&taken);
        if let Mode::Search(text) = &self.mode {
            self.history.set_text(text.clone());
        }
        if dropped > 0 {
            self.notice = Some(format!(
                "pasted {} characters, {dropped} left out (one line, at most {MAX_INPUT})",
                taken.chars().count()
            ));
        }
    }

    /// Once the last run of the queued study has ended (finished, failed or cancelled): says
    /// so on screen and, unless `[app] notify` is off, with the bell and a desktop
    /// notification, since a study takes long enough to be left alone.
    fn study_end(&mut self, out: &mut Vec<Command>) {
        let Some((name, keys)) = &self.study_queued else {
            return;
        };
        let ended = |r: &Run| !(r.status.is_active() || r.status == Status::Queued);
        let runs: Vec<&Run> = self.runs.iter().filter(|r| keys.contains(&r.key)).collect();
        if !runs.iter().all(|r| ended(r)) {
            return;
        }
        let finished = runs
            .iter()
            .filter(|r| matches!(r.status, Status::Finished(_)))
            .count();
        let text = format!(
            "the {name} study has ended: {finished} of its {} runs finished; Compare shows them",
            runs.len()
        );
        if self.notify {
            out.push(Command::Notify(format!("cifar-tui: {text}")));
        }
        // Its claims table, as `study --report` ends with, unless the person is busy typing or
        // answering a question.
        self.notice = Some(if self.mode == Mode::Normal {
            let (name, runs) = (*name, keys.clone());
            self.mode = Mode::Detail(detail::Detail::new(detail::Subject::Study { name, runs }));
            format!("{text} (its claims are open: Esc closes)")
        } else {
            text
        });
        self.study_queued = None;
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

    /// Runs drawn in the compare charts: selected and finished, in run order.
    pub fn compared(&self) -> Vec<&Run> {
        self.finished_runs()
            .filter(|r| self.compare_selected.contains(&r.key))
            .collect()
    }

    /// The compared runs by variant, and the one differences are measured against: the chosen
    /// one if compared, else the compared baseline. Derived when what it is made of changes.
    pub fn compared_variants(&self) -> (&[Variant], Option<usize>) {
        (&self.compared.variants, self.compared.reference)
    }

    /// Derives Compare's variants again if the runs compared or the reference changed since.
    fn derive_compared(&mut self) {
        let made_of = (
            self.compared().iter().map(|r| (r.key, r.id)).collect(),
            self.compare_reference.clone(),
        );
        if made_of == self.compared.made_of {
            return;
        }
        let variants = variants::group(self.compared().into_iter().filter_map(Trial::from_run));
        let reference = match &self.compare_reference {
            Some(key) => variants.iter().position(|v| &v.key == key),
            None => variants.iter().position(|v| v.name == "baseline"),
        };
        self.compared = Compared {
            made_of,
            variants,
            reference,
        };
    }

    /// The variant of a finished run over every finished run known (this session's and the
    /// history's), when it was trained on more than one seed.
    pub fn variant_of(&self, run: &Run) -> Option<Variant> {
        let key = variants::variant_key(&run.name, &run.config, run.trained_on());
        let unstored: Vec<Trial> = self
            .finished_runs()
            .filter(|r| r.stored().is_none_or(|id| !self.history.holds(id)))
            .filter_map(Trial::from_run)
            .filter(|t| variants::variant_key(&t.name, &t.config, t.device) == key)
            .collect();
        if unstored.is_empty() {
            // The usual case: every run is in the history, grouped as it was read.
            return self
                .history
                .every_variant()
                .iter()
                .find(|v| v.key == key)
                .filter(|v| v.n() > 1)
                .cloned();
        }
        let stored = self
            .history
            .rows()
            .iter()
            .filter_map(Trial::from_run)
            .filter(|t| variants::variant_key(&t.name, &t.config, t.device) == key);
        variants::group(stored.chain(unstored))
            .pop()
            .filter(|v| v.n() > 1)
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
        chosen: Settings {
            tricks: tricks.iter().copied().collect(),
            hyper: values.hyper.clone(),
            train_limit: values.train_limit,
        },
        config: None,
    }
}

impl App {
    /// The settings as they are, with the config's they were chosen against.
    fn settings_kept(&self) -> UiState {
        UiState {
            config: Some(ui_state(&self.defaults.0, &self.defaults.1).chosen),
            ..ui_state(&self.tricks, &self.values)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
