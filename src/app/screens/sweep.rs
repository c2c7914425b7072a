//! The Sweep screen's keys: its task table, and `i` to import the finished tasks.

use crate::app::detail::{Detail, Subject};
use crate::app::{Action, App, Command, Mode, NO_SWEEP, Target};

impl App {
    pub(super) fn act_sweep(&mut self, action: Action, out: &mut Vec<Command>) {
        let Some(w) = &mut self.sweep else {
            if action == Action::Import {
                self.notice = Some(NO_SWEEP.into());
            }
            return;
        };
        match action {
            Action::Up => w.up(),
            Action::Down => w.down(),
            Action::Click(Target::Row(i)) => w.cursor = i.min(w.tasks().saturating_sub(1)),
            Action::Edit if w.tasks() > 0 => {
                self.mode = Mode::Detail(Detail::new(Subject::Task(w.cursor)));
            }
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
}
