//! The Results screen's keys: the arrows step through the finished runs.

use crate::app::{Action, App};
use crate::run::RunKey;

impl App {
    pub(super) fn act_results(&mut self, action: Action) {
        let ids: Vec<RunKey> = self.finished_runs().map(|r| r.key).collect();
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
}
