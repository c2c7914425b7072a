//! The Train screen's keys: the left panel's tricks and values, presets and the charts.

use super::toggle;
use crate::app::{Action, App, ITEM_COUNT, Item, Mode, Panel, Screen};
use cifar_engine::tricks::PRESETS;

impl App {
    /// The Train screen's keys that work on every screen: presets, `D`, and the charts (`z`
    /// and `w` bring the Train screen up to show them).
    pub(super) fn act_settings(&mut self, action: Action) {
        match action {
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
            _ => {}
        }
    }

    pub(super) fn act_train(&mut self, action: Action) {
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
}
