//! The Compare screen's keys: the runs charted, and the variant differences are measured against.

use super::toggle;
use crate::app::detail::{Detail, Subject};
use crate::app::{Action, App, Mode, Target};
use crate::run::variants;

impl App {
    pub(super) fn act_compare(&mut self, action: Action) {
        let n = self.runs.len();
        match action {
            Action::Click(Target::Row(i)) => self.compare_cursor = i.min(n.saturating_sub(1)),
            // The other keys act on the run under the cursor.
            _ if n == 0 => {}
            Action::Up => self.compare_cursor = self.compare_cursor.saturating_sub(1),
            Action::Down => self.compare_cursor = (self.compare_cursor + 1).min(n - 1),
            Action::Toggle => {
                let id = self.runs[self.compare_cursor.min(n - 1)].key;
                toggle(&mut self.compare_selected, id);
            }
            Action::Edit => {
                let key = self.runs[self.compare_cursor.min(n - 1)].key;
                self.mode = Mode::Detail(Detail::new(Subject::Session(key)));
            }
            Action::Reference => {
                let run = &self.runs[self.compare_cursor.min(n - 1)];
                self.notice = Some(format!(
                    "differences are now measured against {} (paired by seed)",
                    run.name
                ));
                self.compare_reference = Some(variants::variant_key(
                    &run.name,
                    &run.config,
                    run.trained_on(),
                ));
            }
            _ => {}
        }
    }
}
