//! The Compare screen's keys: the runs charted, and the variant differences are measured against.

use super::toggle;
use crate::app::detail::{Detail, Subject};
use crate::app::{Action, App, Command, Mode, Target};
use crate::run::Run;
use crate::run::variants;

impl App {
    pub(super) fn act_compare(&mut self, action: Action, out: &mut Vec<Command>) {
        let n = self.runs.len();
        match action {
            Action::Report => self.report_compared(out),
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

    /// The runs compared, as the HTML report of the history's copies; a run the history does
    /// not hold (yet) is left out and said so.
    fn report_compared(&mut self, out: &mut Vec<Command>) {
        let finished: Vec<&Run> = self.compared();
        // A replay's figures are its recorded run's.
        let mut ids: Vec<i64> = finished
            .iter()
            .filter_map(|r| r.replaying.as_ref().map(|p| p.of).or(r.stored()))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            self.notice =
                Some("no finished run of the history is compared: nothing to report".into());
            return;
        }
        let reference = self
            .compared
            .reference
            .and_then(|i| self.compared.variants.get(i))
            .map(|v| v.key.clone());
        let missing = finished
            .iter()
            .filter(|r| r.stored().is_none() && r.replaying.is_none())
            .count();
        self.notice = Some(match missing {
            0 => format!("writing the report of {} run(s)…", ids.len()),
            m => format!(
                "writing the report of {} run(s); {m} not in the history yet left out…",
                ids.len()
            ),
        });
        out.push(Command::Report { ids, reference });
    }
}
