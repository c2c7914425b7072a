//! The History screen's keys: sort, filter, select, search, open, delete, export, resume.

use super::numbers;
use crate::app::detail::{Detail, Subject};
use crate::app::{Action, App, Command, Mode, Screen, Target};
use crate::run::Run;

impl App {
    pub(super) fn act_history(&mut self, action: Action, out: &mut Vec<Command>) {
        let h = &mut self.history;
        match action {
            Action::Up => h.up(),
            Action::Down => h.down(),
            Action::Click(Target::Row(i)) => h.select(i),
            Action::Sort => h.cycle_sort(),
            Action::Group => h.toggle_grouped(),
            Action::Filter => h.cycle_filter(),
            Action::ShowStatus => h.cycle_show(),
            Action::SelectAll => {
                h.select_all();
                // Selected history runs go to Compare, as one by one with Space.
                let picked: Vec<Run> = h
                    .rows()
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
            Action::Search => self.mode = Mode::Search(self.history.text().to_string()),
            Action::Toggle => {
                let Some((ids, on)) = h.toggle() else {
                    return;
                };
                for id in ids {
                    let stored = self.history.rows().iter().find(|r| r.id == id).cloned();
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
                    let subject = Subject::Stored(Box::new(stored));
                    self.mode = Mode::Detail(Detail::new(subject));
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
            Action::Report => {
                let ids = h.targets();
                if !ids.is_empty() {
                    out.push(Command::Report {
                        ids,
                        reference: None,
                    });
                }
            }
            Action::Replay => {
                if let Some(stored) = h.current().cloned() {
                    self.replay(&stored, crate::app::REPLAY_SPEED, out);
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
}
