//! What a key does: the modes (help, questions, typing) first, then the keys every screen
//! shares, then the current screen's own handler.

mod compare;
mod history;
mod results;
mod sweep;
mod train;

use std::collections::BTreeSet;

use crate::app::detail::{Detail, Subject};
use crate::app::{
    Action, App, Command, DataState, ITEM_COUNT, Item, MAX_INPUT, Mode, Screen, Target,
};
use crate::run::{RunKey, Status};
use cifar_engine::tricks::STUDIES;

impl App {
    /// What a key does in the current mode.
    pub(super) fn act(&mut self, action: Action, out: &mut Vec<Command>) {
        match (&mut self.mode, action) {
            (_, Action::ForceQuit) => self.quit = true,
            (_, Action::Suspend) => out.push(Command::Suspend),
            (Mode::Help, _) => self.mode = Mode::Normal,
            (Mode::Detail(d), Action::Scroll(m)) => d.scroll(m),
            (Mode::Detail(d), Action::Commit) => {
                let subject = d.subject.clone();
                self.open_results(subject);
            }
            (Mode::Detail(_), Action::Abort) => self.mode = Mode::Normal,
            (Mode::Detail(_), _) => {}
            (Mode::Learned(_), _) => self.mode = Mode::Normal,
            (Mode::Images(cell), action) => {
                let cell = *cell;
                self.act_images(cell, action);
            }
            (Mode::ConfirmQuit, Action::Quit) => {
                self.leave_training = self.leave_on_quit;
                self.quit = true;
            }
            (Mode::ConfirmQuit, Action::Leave) => {
                self.leave_training = true;
                self.quit = true;
            }
            (Mode::ConfirmQuit, Action::Start) if self.leave_on_quit => self.quit = true,
            (Mode::ConfirmDelete(ids), Action::Yes) => {
                let ids = std::mem::take(ids);
                self.notice = Some(format!("deleting {} from the history…", numbers(&ids)));
                out.push(Command::Delete(ids));
                self.mode = Mode::Normal;
            }
            (Mode::ConfirmStudy, Action::Yes) => {
                self.mode = Mode::Normal;
                let seeds = self.seeds(true);
                let study = self.study;
                let first = self.runs.len();
                // Seed by seed: a study stopped half-way still has whole, paired seeds.
                for &seed in &seeds {
                    for p in study.presets {
                        self.enqueue(p.trick_set(), seed, out);
                    }
                }
                let keys = self.runs[first..].iter().map(|r| r.key).collect();
                self.study_queued = Some((study.name, keys));
                self.notice = Some(format!(
                    "queued the {} study: {} presets x {} seed(s) ({})",
                    study.name,
                    study.presets.len(),
                    seeds.len(),
                    seed_list(&seeds)
                ));
            }
            (Mode::ConfirmStudy, Action::NextStudy) => {
                let i = STUDIES.iter().position(|s| s.name == self.study.name);
                self.study = &STUDIES[i.map_or(0, |i| (i + 1) % STUDIES.len())];
                self.ask_study();
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
            (Mode::Search(text), Action::Input(c)) if text.chars().count() < MAX_INPUT => {
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
            (Mode::Editing { text, .. }, Action::Input(c)) if text.chars().count() < MAX_INPUT => {
                text.push(c)
            }
            // The footer says the field is full.
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

    /// A key in normal mode: the keys every screen shares, else the current screen's own.
    fn act_screen(&mut self, action: Action, out: &mut Vec<Command>) {
        match action {
            // Replays are only watched: nothing is lost when they stop.
            Action::Quit
                if self.runs.iter().any(|r| {
                    r.status.is_active() && r.replaying.is_none() && !self.watched.contains(&r.key)
                }) || self.queued() > 0 =>
            {
                self.mode = Mode::ConfirmQuit;
                // Say what really happens: nothing is lost, the runs wait to be resumed.
                let training = self.runs.iter().filter(|r| r.status.is_active()).count();
                let queued = self.queued();
                self.notice = Some(if self.leave_on_quit {
                    format!(
                        "{training} training, {queued} queued: q again leaves them training · s \
                         stops them (resumable)"
                    )
                } else {
                    format!(
                        "{training} training, {queued} queued: q again quits (resumable) · l \
                         leaves them training"
                    )
                });
            }
            Action::Quit => self.quit = true,
            Action::ToggleHelp => self.mode = Mode::Help,
            Action::Notices => self.mode = Mode::Detail(Detail::new(Subject::Notices)),
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
            Action::Start | Action::QueueStudy | Action::Cancel | Action::CancelQueued => {
                self.act_queue(action, out)
            }
            Action::Zoom | Action::LossWindow | Action::ResetSettings | Action::Preset(_) => {
                self.act_settings(action)
            }
            Action::Learned => self.look_inside(out),
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
            // The rest, a click on a table's row included, is the current screen's.
            _ => match self.screen {
                Screen::Train => self.act_train(action),
                Screen::Results => self.act_results(action, out),
                Screen::Compare => self.act_compare(action, out),
                Screen::History => self.act_history(action, out),
                Screen::Sweep => self.act_sweep(action, out),
            },
        }
    }

    /// Enter in a run's detail view: its results, when it has them (else the view stays).
    fn open_results(&mut self, subject: Subject) {
        let key = match subject {
            Subject::Session(key) => self
                .runs
                .iter()
                .find(|r| r.key == key && r.outcome().is_some())
                .map(|r| r.key),
            Subject::Stored(run) if run.outcome().is_some() => Some(self.adopt(&run)),
            Subject::Stored(run) => {
                self.notice = Some(format!("run #{} has no results", run.id));
                return;
            }
            Subject::Task(_) | Subject::Notices | Subject::Study { .. } => None,
        };
        match key {
            Some(key) => {
                self.results_run = Some(key);
                self.screen = Screen::Results;
                self.mode = Mode::Normal;
            }
            None => self.mode = Mode::Normal,
        }
    }

    /// The run queue's keys, the same on every screen: `s` queues a run (one per seed), `a`
    /// asks to queue the seed study, `x` cancels a run and `X` every queued one.
    /// Offers [`App::study`]: what it queues, and which study `s` would offer instead.
    fn ask_study(&mut self) {
        let seeds = self.seeds(true);
        let study = self.study;
        let i = STUDIES
            .iter()
            .position(|s| s.name == study.name)
            .unwrap_or(0);
        let next = STUDIES[(i + 1) % STUDIES.len()].name;
        self.mode = Mode::ConfirmStudy;
        // One line at 80 columns: what it queues, and the two other answers.
        self.notice = Some(format!(
            "{} study, {} runs ({} x {} seed(s), {} ep)? y: queue, s: {next} study, other: no",
            study.name,
            study.presets.len() * seeds.len(),
            study.presets.len(),
            seeds.len(),
            self.values.hyper.epochs
        ));
    }

    fn act_queue(&mut self, action: Action, out: &mut Vec<Command>) {
        match action {
            Action::Start | Action::QueueStudy if matches!(self.data, DataState::Failed(_)) => {
                self.notice = Some("cannot train without the data: see the message above".into());
            }
            Action::Start | Action::QueueStudy if self.data == DataState::Skipped => {
                self.notice = Some(
                    "this session only replays: start cifar-tui without `replay` to train".into(),
                );
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
            Action::QueueStudy => self.ask_study(),
            // Another process trains it: it is stopped there, not from here.
            // Another process trains it: that process is asked, through the history.
            Action::Cancel if self.active_run().is_none() && self.queued() == 0 => {
                let watched = self
                    .runs
                    .iter()
                    .find(|r| self.watched.contains(&r.key) && r.status.is_active());
                let Some(run) = watched else {
                    self.notice = Some("nothing to cancel: no run is training or queued".into());
                    return;
                };
                let by = run
                    .trainer
                    .as_ref()
                    .map_or("another process".into(), |t| t.to_string());
                // A sweep task is its scheduler's: stopped there, it is requeued or ended
                // as the sweep was planned, which a stop asked through its history is not.
                if let Some(task) = self.task_of(run.key) {
                    let job = self.sweep.as_ref().and_then(|w| w.job(task));
                    self.notice = Some(match job {
                        Some(job) => format!(
                            "sweep task {task} is trained by {by} for the scheduler: `scancel \
                             {job}` stops it"
                        ),
                        None => format!(
                            "sweep task {task} is trained by {by} for the scheduler, which \
                             stops it"
                        ),
                    });
                    return;
                }
                self.notice = Some(format!("asking {by} to cancel run {}…", run.number()));
                out.push(Command::AskCancel(run.id));
            }
            Action::Cancel => {
                if let Some(run) = self.active_run()
                    && run.evaluating
                    && run.epochs.len() + 1 >= run.config.epochs
                {
                    // Its last scoring is its end: a cancel now would still record it finished.
                    self.notice = Some(format!(
                        "run {} is scoring its last epoch and ends finished in a moment: \
                         nothing left to cancel",
                        run.number()
                    ));
                } else if let Some(run) = self.active_run() {
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
                let queued: Vec<(RunKey, Option<i64>)> = self
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
            _ => {}
        }
    }
}

/// "run #3", "runs #3, #5, #7", "12 runs (#1 … #12)": the runs a question is about.
pub(super) fn numbers(ids: &[i64]) -> String {
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
