//! The Results screen's keys: the arrows step through the finished runs; Enter puts a cursor
//! on the confusion matrix (the arrows then move it) and, on a cell, shows its images.

use crate::app::{Action, App, Cell, Command, Mode};
use crate::run::RunKey;

impl App {
    pub(super) fn act_results(&mut self, action: Action, out: &mut Vec<Command>) {
        let ids: Vec<RunKey> = self.finished_runs().map(|r| r.key).collect();
        let Some(run) = self.results() else {
            return;
        };
        let (current, id) = (run.key, run.id);
        let unread = kept_unread(run);
        let i = ids.iter().position(|&k| k == current).unwrap_or(0);
        match (action, self.results_cell) {
            (Action::Edit, None) => {
                self.results_cell = run.outcome().map(|o| most_confused(&o.confusion.counts));
                // A run of the history comes without them: read once, when first wanted.
                if unread {
                    out.push(Command::ReadPredictions(id));
                }
            }
            (Action::Edit, Some(cell)) => {
                if unread {
                    out.push(Command::ReadPredictions(id));
                }
                self.mode = Mode::Images(cell);
            }
            (Action::Abort, _) => self.results_cell = None,
            (a @ (Action::Left | Action::Up | Action::Right | Action::Down), Some(cell)) => {
                self.results_cell = Some(cell.moved(&a));
            }
            (Action::Left | Action::Up, None) => {
                self.results_run = Some(ids[i.saturating_sub(1)]);
            }
            (Action::Right | Action::Down, None) => {
                self.results_run = Some(ids[(i + 1).min(ids.len() - 1)]);
            }
            _ => {}
        }
    }

    /// Keys while a cell's images are shown: the arrows go to the next cell, anything else
    /// closes them (the cursor stays on the cell).
    pub(super) fn act_images(&mut self, cell: Cell, action: Action) {
        match action {
            Action::Left | Action::Up | Action::Right | Action::Down => {
                let next = cell.moved(&action);
                self.results_cell = Some(next);
                self.mode = Mode::Images(next);
            }
            _ => self.mode = Mode::Normal,
        }
    }

    /// `i`: what the network of the run shown (Results') or training (Train's) learned, as
    /// pictures; a run of the history reads them once, when first wanted.
    pub(super) fn look_inside(&mut self, out: &mut Vec<Command>) {
        let run = match self.screen {
            crate::app::Screen::Results => self.results(),
            _ => self.live_run(),
        };
        let Some(run) = run else {
            self.notice = Some("no run to look inside yet: s starts one".into());
            return;
        };
        if kept_unread(run) {
            out.push(Command::ReadPredictions(run.id));
        }
        self.mode = Mode::Learned(run.key);
    }

    /// A run's predictions, read from the history, go to every copy of it here.
    pub(in crate::app) fn take_predictions(
        &mut self,
        id: i64,
        predictions: cifar_engine::metrics::Predictions,
        pictures: Option<cifar_engine::pictures::Pictures>,
    ) {
        if predictions.is_empty() {
            self.notice = Some(format!(
                "run #{id} was recorded before cifar-tui kept each test image's prediction: \
                 its cells have counts, no images"
            ));
        }
        for r in self.runs.iter_mut().filter(|r| r.id == id) {
            if let crate::run::Status::Finished(o) = &mut r.status {
                o.predictions.clone_from(&predictions);
                o.pictures.clone_from(&pictures);
            }
        }
    }
}

/// A finished run of the history whose predictions and pictures were not read yet: a list of
/// the history leaves them out (50 to 130 KB a run), so they are read once, when first wanted.
fn kept_unread(run: &crate::run::Run) -> bool {
    let unread =
        |o: &cifar_engine::events::Outcome| o.predictions.is_empty() && o.pictures.is_none();
    run.id > 0 && run.outcome().is_some_and(unread)
}

/// The off-diagonal cell with the most images (the mistake the network makes most), where the
/// cursor starts; the first cell when it makes none.
fn most_confused(counts: &[Vec<u64>]) -> Cell {
    let mut best = (
        0,
        Cell {
            truth: 0,
            predicted: 0,
        },
    );
    for (t, row) in counts.iter().enumerate() {
        for (p, &n) in row.iter().enumerate() {
            if t != p && n > best.0 {
                best = (
                    n,
                    Cell {
                        truth: t,
                        predicted: p,
                    },
                );
            }
        }
    }
    best.1
}
