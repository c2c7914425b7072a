//! (mode, screen, key) → action. Pure; the help screen is drawn from [`HELP`].

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use crate::app::detail::Move;
use crate::app::{Action, Mode, Screen, Target};
use ratatui::layout::Rect;

/// Where each clickable thing was drawn in a frame, for the mouse.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hits(Vec<(Rect, Target)>);

impl Hits {
    pub fn add(&mut self, area: Rect, target: Target) {
        self.0.push((area, target));
    }

    /// The rows of a bordered table with a one-line header, scrolled by `offset`: each row
    /// its [`Target::Row`], and with `boxes` its first three columns (`[x]`) a
    /// [`Target::Check`].
    pub fn table(&mut self, area: Rect, offset: usize, rows: usize, boxes: bool) {
        let (x, width) = (area.x + 1, area.width.saturating_sub(2));
        let lines = area.height.saturating_sub(3) as usize;
        for (k, i) in (offset..rows).take(lines).enumerate() {
            let y = area.y + 2 + k as u16;
            self.add(Rect::new(x, y, width, 1), Target::Row(i));
            if boxes {
                self.add(Rect::new(x, y, 3.min(width), 1), Target::Check(i));
            }
        }
    }

    /// What was drawn at a cell; of things drawn over each other, the last.
    pub fn at(&self, x: u16, y: u16) -> Option<Target> {
        let cell = ratatui::layout::Position { x, y };
        self.0
            .iter()
            .rev()
            .find(|(r, _)| r.contains(cell))
            .map(|(_, t)| *t)
    }
}

/// Every key, as the help screen lists it: (where, keys, what).
pub const HELP: &[(&str, &str, &str)] = &[
    ("any", "Tab / Shift-Tab", "next / previous screen"),
    (
        "any",
        "t  e  c  r  p",
        "Train, Evaluation, Compare, History, Sweep screen",
    ),
    (
        "any",
        "1 .. 8",
        "tick a seed preset (baseline .. dropout_both)",
    ),
    (
        "any",
        "s",
        "start a run with the ticked tricks (queued if busy)",
    ),
    (
        "any",
        "a",
        "queue a study (asks y; s offers the next study)",
    ),
    (
        "any",
        "x  X",
        "cancel the run (else the last queued) / every queued",
    ),
    (
        "any",
        "?  n  z  w",
        "help / every message, whole / a chart alone / loss: last epoch",
    ),
    (
        "any",
        "q  Ctrl-C Ctrl-Z",
        "quit (q asks again while training) / suspend (fg returns)",
    ),
    ("Train", "Up Down / k j", "move in the tricks and settings"),
    (
        "Train",
        "Space  D",
        "tick a trick / next value · D: config.toml's",
    ),
    (
        "Train",
        "Left Right Enter",
        "change the value under the cursor / type one (Esc)",
    ),
    (
        "Train",
        "i",
        "what the net learns: filters, inputs (Results too)",
    ),
    (
        "Results",
        "Left Right Enter",
        "previous / next run · Enter: a cell's images (Esc)",
    ),
    (
        "Compare",
        "Up Down  Space",
        "move in the runs / show or hide one in the charts",
    ),
    (
        "Compare",
        "Enter  b  W",
        "run whole (Enter: results) / reference / HTML report",
    ),
    (
        "History",
        "Up Down Space A",
        "move / select (A all or none) · Enter: the run whole",
    ),
    (
        "History",
        "o  f  g  v  /",
        "sort / trick / group by variant / status / find text",
    ),
    (
        "History",
        "d  w  W  R  P",
        "delete / CSV+JSON+MD / HTML report / resume / replay",
    ),
    (
        "Sweep",
        "Up Down Enter i",
        "move / a task whole / import the finished ones",
    ),
];

/// The action a mouse event stands for: a left click on what the last frame drew there, the
/// wheel as Up / Down. While typing or asked a question the mouse does nothing (the keys
/// answer); a click closes the help, as any key does.
pub fn mouse(mode: &Mode, hits: &Hits, ev: MouseEvent) -> Option<Action> {
    match (mode, ev.kind) {
        (Mode::Help, MouseEventKind::Down(_)) => Some(Action::ToggleHelp),
        (Mode::Normal, MouseEventKind::Down(MouseButton::Left)) => {
            hits.at(ev.column, ev.row).map(Action::Click)
        }
        (Mode::Normal, MouseEventKind::ScrollUp) => Some(Action::Up),
        (Mode::Normal, MouseEventKind::ScrollDown) => Some(Action::Down),
        (Mode::Detail(_), MouseEventKind::ScrollUp) => Some(Action::Scroll(Move::Line(-3))),
        (Mode::Detail(_), MouseEventKind::ScrollDown) => Some(Action::Scroll(Move::Line(3))),
        _ => None,
    }
}

/// The action a key stands for, or `None` when it means nothing here.
pub fn action(mode: &Mode, screen: Screen, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    // Ctrl and Alt make another key: Ctrl-S is not `s`. Only Ctrl-C and Ctrl-Z are bound, in
    // every mode, as a shell would have them.
    if key
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
    {
        return match (key.modifiers.contains(KeyModifiers::CONTROL), key.code) {
            (true, KeyCode::Char('c')) => Some(Action::ForceQuit),
            (true, KeyCode::Char('z')) => Some(Action::Suspend),
            _ => None,
        };
    }
    if let Mode::Editing { .. } = mode {
        // Every character is taken: the value is checked whole on Enter, so nothing typed is
        // dropped or changed on the way (`1;2` is refused, not read as 12).
        return match key.code {
            KeyCode::Enter => Some(Action::Commit),
            KeyCode::Esc => Some(Action::Abort),
            KeyCode::Backspace => Some(Action::Backspace),
            KeyCode::Char(c) if !c.is_control() => Some(Action::Input(c)),
            _ => None,
        };
    }
    if let Mode::Help = mode {
        // Any key closes the help.
        return Some(Action::ToggleHelp);
    }
    if let Mode::ConfirmDelete(_) = mode {
        return Some(match key.code {
            KeyCode::Char('y') => Action::Yes,
            _ => Action::Abort,
        });
    }
    if let Mode::Search(_) = mode {
        return match key.code {
            KeyCode::Enter => Some(Action::Commit),
            KeyCode::Esc => Some(Action::Abort),
            KeyCode::Backspace => Some(Action::Backspace),
            KeyCode::Char(c) if !c.is_control() => Some(Action::Input(c)),
            _ => None,
        };
    }
    if let Mode::Detail(_) = mode {
        // As a pager: Enter goes on to a finished run's results, the rest closes or moves.
        return match key.code {
            KeyCode::Up | KeyCode::Char('k') => Some(Action::Scroll(Move::Line(-1))),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::Scroll(Move::Line(1))),
            KeyCode::PageUp | KeyCode::Char('b') => Some(Action::Scroll(Move::Page(-1))),
            KeyCode::PageDown | KeyCode::Char(' ') => Some(Action::Scroll(Move::Page(1))),
            KeyCode::Home | KeyCode::Char('g') => Some(Action::Scroll(Move::Home)),
            KeyCode::End | KeyCode::Char('G') => Some(Action::Scroll(Move::End)),
            KeyCode::Enter => Some(Action::Commit),
            KeyCode::Esc | KeyCode::Char('q' | 'n') | KeyCode::Backspace | KeyCode::Left => {
                Some(Action::Abort)
            }
            _ => None,
        };
    }
    if let Mode::Learned(_) = mode {
        return Some(Action::Abort);
    }
    if let Mode::Images(_) = mode {
        // The arrows go from cell to cell; any other key closes the images.
        return Some(match key.code {
            KeyCode::Up | KeyCode::Char('k') => Action::Up,
            KeyCode::Down | KeyCode::Char('j') => Action::Down,
            KeyCode::Left | KeyCode::Char('h') => Action::Left,
            KeyCode::Right | KeyCode::Char('l') => Action::Right,
            _ => Action::Abort,
        });
    }
    if *mode == Mode::ConfirmQuit && key.code == KeyCode::Char('l') {
        return Some(Action::Leave);
    }
    if let Mode::ConfirmStudy = mode {
        return Some(match key.code {
            KeyCode::Char('y' | 'a') => Action::Yes,
            KeyCode::Char('s') => Action::NextStudy,
            _ => Action::Abort,
        });
    }
    if screen == Screen::Compare && key.code == KeyCode::Char('b') {
        return Some(Action::Reference);
    }
    if matches!(screen, Screen::Compare | Screen::History) && key.code == KeyCode::Char('W') {
        return Some(Action::Report);
    }
    if screen == Screen::Sweep && key.code == KeyCode::Char('i') {
        return Some(Action::Import);
    }
    if matches!(screen, Screen::Train | Screen::Results) && key.code == KeyCode::Char('i') {
        return Some(Action::Learned);
    }
    if screen == Screen::History {
        match key.code {
            KeyCode::Char('o') => return Some(Action::Sort),
            KeyCode::Char('g') => return Some(Action::Group),
            KeyCode::Char('f') => return Some(Action::Filter),
            KeyCode::Char('d') => return Some(Action::Delete),
            KeyCode::Char('w') => return Some(Action::Export),
            KeyCode::Char('R') => return Some(Action::Resume),
            KeyCode::Char('P') => return Some(Action::Replay),
            KeyCode::Char('v') => return Some(Action::ShowStatus),
            KeyCode::Char('A') => return Some(Action::SelectAll),
            KeyCode::Char('/') => return Some(Action::Search),
            _ => {}
        }
    }
    Some(match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Tab => Action::NextScreen,
        KeyCode::BackTab => Action::PrevScreen,
        KeyCode::Char('t') => Action::Goto(Screen::Train),
        KeyCode::Char('e') => Action::Goto(Screen::Results),
        KeyCode::Char('c') => Action::Goto(Screen::Compare),
        KeyCode::Char('r') => Action::Goto(Screen::History),
        KeyCode::Char('p') => Action::Goto(Screen::Sweep),
        KeyCode::Char(d @ '1'..='8') => Action::Preset(d as usize - '1' as usize),
        KeyCode::Char('s') => Action::Start,
        KeyCode::Char('a') => Action::QueueStudy,
        KeyCode::Char('x') => Action::Cancel,
        KeyCode::Char('X') => Action::CancelQueued,
        KeyCode::Char('D') if screen == Screen::Train => Action::ResetSettings,
        KeyCode::Char('z') => Action::Zoom,
        KeyCode::Char('w') => Action::LossWindow,
        KeyCode::Char('n') => Action::Notices,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::Left | KeyCode::Char('h') => Action::Left,
        KeyCode::Right | KeyCode::Char('l') => Action::Right,
        KeyCode::Char(' ') => Action::Toggle,
        KeyCode::Enter => Action::Edit,
        KeyCode::Esc if *mode == Mode::ConfirmQuit || screen == Screen::Results => Action::Abort,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wheel_scrolls_and_the_mouse_waits_while_typing() {
        use crate::app::Target;
        use ratatui::layout::Rect;
        let mut hits = Hits::default();
        hits.add(Rect::new(10, 0, 9, 1), Target::Tab(Screen::History));
        let ev = |kind, column| MouseEvent {
            kind,
            column,
            row: 0,
            modifiers: KeyModifiers::NONE,
        };
        let click = |column| ev(MouseEventKind::Down(MouseButton::Left), column);
        let normal = Mode::Normal;
        assert_eq!(
            mouse(&normal, &hits, click(12)),
            Some(Action::Click(Target::Tab(Screen::History)))
        );
        assert_eq!(
            mouse(&normal, &hits, click(30)),
            None,
            "nothing drawn there"
        );
        assert_eq!(
            mouse(&normal, &hits, ev(MouseEventKind::ScrollDown, 0)),
            Some(Action::Down)
        );
        assert_eq!(
            mouse(&normal, &hits, ev(MouseEventKind::ScrollUp, 0)),
            Some(Action::Up)
        );
        let typing = Mode::Search("lr".into());
        assert_eq!(mouse(&typing, &hits, click(12)), None);
        assert_eq!(mouse(&Mode::ConfirmStudy, &hits, click(12)), None);
        assert_eq!(
            mouse(&Mode::Help, &hits, click(30)),
            Some(Action::ToggleHelp)
        );
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn normal_keys() {
        let m = Mode::Normal;
        assert_eq!(
            action(&m, Screen::Train, key(KeyCode::Char('s'))),
            Some(Action::Start)
        );
        assert_eq!(
            action(&m, Screen::Train, key(KeyCode::Char('3'))),
            Some(Action::Preset(2))
        );
        assert_eq!(action(&m, Screen::Train, key(KeyCode::Char('9'))), None);
        assert_eq!(
            action(&m, Screen::Train, key(KeyCode::Char('j'))),
            Some(Action::Down)
        );
        assert_eq!(
            action(&m, Screen::Train, key(KeyCode::BackTab)),
            Some(Action::PrevScreen)
        );
        assert_eq!(
            action(
                &m,
                Screen::Train,
                KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)
            ),
            Some(Action::ForceQuit)
        );
        assert_eq!(
            action(&m, Screen::Train, key(KeyCode::Char('c'))),
            Some(Action::Goto(Screen::Compare))
        );
    }

    #[test]
    fn editing_takes_text_and_ctrl_c_still_quits() {
        let m = Mode::Editing {
            param: crate::app::params::Param::Lr,
            text: String::new(),
        };
        assert_eq!(
            action(&m, Screen::Train, key(KeyCode::Char('q'))),
            Some(Action::Input('q'))
        );
        assert_eq!(
            action(&m, Screen::Train, key(KeyCode::Char('-'))),
            Some(Action::Input('-'))
        );
        assert_eq!(
            action(&m, Screen::Train, key(KeyCode::Esc)),
            Some(Action::Abort)
        );
        assert_eq!(
            action(
                &m,
                Screen::Train,
                KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)
            ),
            Some(Action::ForceQuit)
        );
    }

    /// The detail view reads keys as a pager does; Enter goes on, Esc and q close.
    #[test]
    fn the_detail_view_takes_pager_keys() {
        use crate::app::detail::{Detail, Subject};
        let m = Mode::Detail(Detail::new(Subject::Notices));
        let at = |code| action(&m, Screen::History, key(code));
        assert_eq!(at(KeyCode::Down), Some(Action::Scroll(Move::Line(1))));
        assert_eq!(at(KeyCode::Char('k')), Some(Action::Scroll(Move::Line(-1))));
        assert_eq!(at(KeyCode::PageDown), Some(Action::Scroll(Move::Page(1))));
        assert_eq!(at(KeyCode::Char(' ')), Some(Action::Scroll(Move::Page(1))));
        assert_eq!(at(KeyCode::End), Some(Action::Scroll(Move::End)));
        assert_eq!(at(KeyCode::Char('g')), Some(Action::Scroll(Move::Home)));
        assert_eq!(at(KeyCode::Enter), Some(Action::Commit));
        for close in [KeyCode::Esc, KeyCode::Char('q'), KeyCode::Char('n')] {
            assert_eq!(at(close), Some(Action::Abort));
        }
        // Keys of the screen underneath do nothing while it is open.
        assert_eq!(at(KeyCode::Char('d')), None);
        assert_eq!(at(KeyCode::Char('s')), None);
        let normal = Mode::Normal;
        let n = action(&normal, Screen::Train, key(KeyCode::Char('n')));
        assert_eq!(n, Some(Action::Notices));
    }

    #[test]
    fn control_and_alt_make_other_keys_and_ctrl_z_suspends() {
        let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
        let alt = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT);
        for screen in Screen::ALL {
            for c in ['s', 'x', 'a', 'q', 'd', 'y'] {
                assert_eq!(action(&Mode::Normal, screen, ctrl(c)), None, "Ctrl-{c}");
                assert_eq!(action(&Mode::Normal, screen, alt(c)), None, "Alt-{c}");
            }
            // `z` zooms a chart; Ctrl-Z is the shell's.
            assert_eq!(
                action(&Mode::Normal, screen, ctrl('z')),
                Some(Action::Suspend)
            );
        }
        let editing = Mode::Editing {
            param: crate::app::params::Param::Seeds,
            text: String::new(),
        };
        assert_eq!(action(&editing, Screen::Train, ctrl('s')), None);
        assert_eq!(
            action(&editing, Screen::Train, ctrl('z')),
            Some(Action::Suspend)
        );
        assert_eq!(
            action(&Mode::Help, Screen::Train, ctrl('z')),
            Some(Action::Suspend)
        );
    }

    #[test]
    fn history_keys_only_on_the_history_screen() {
        let m = Mode::Normal;
        assert_eq!(
            action(&m, Screen::History, key(KeyCode::Char('d'))),
            Some(Action::Delete)
        );
        assert_eq!(action(&m, Screen::Train, key(KeyCode::Char('d'))), None);
        // The study question: y or a queues, s offers the next study, anything else declines.
        for (c, want) in [
            ('a', Action::Yes),
            ('s', Action::NextStudy),
            ('x', Action::Abort),
        ] {
            let got = action(&Mode::ConfirmStudy, Screen::Train, key(KeyCode::Char(c)));
            assert_eq!(got, Some(want), "{c}");
        }
        let confirm = Mode::ConfirmDelete(vec![1]);
        assert_eq!(
            action(&confirm, Screen::History, key(KeyCode::Char('y'))),
            Some(Action::Yes)
        );
        assert_eq!(
            action(&confirm, Screen::History, key(KeyCode::Char('n'))),
            Some(Action::Abort)
        );
    }

    #[test]
    fn any_key_closes_help_and_releases_are_ignored() {
        assert_eq!(
            action(&Mode::Help, Screen::Train, key(KeyCode::Char('z'))),
            Some(Action::ToggleHelp)
        );
        let mut release = key(KeyCode::Char('s'));
        release.kind = KeyEventKind::Release;
        assert_eq!(action(&Mode::Normal, Screen::Train, release), None);
    }

    use crate::app::params::{PARAMS, Param};
    use crate::app::{App, MAX_INPUT, Msg};
    use crate::run::variants::Seeds;
    use cifar_engine::events::DeviceChoice;
    use cifar_engine::tricks::TRICKS;

    /// Types `text` into the setting `param` key by key, through the keymap as a terminal would
    /// send it, and presses Enter.
    fn type_into(app: &mut App, param: Param, text: &str) {
        let index = PARAMS.iter().position(|p| *p == param).unwrap();
        app.cursor = TRICKS.len() + index;
        let press = |app: &mut App, code| {
            let key = KeyEvent::new(code, KeyModifiers::NONE);
            if let Some(a) = action(&app.mode, app.screen, key) {
                app.update(Msg::Action(a));
            }
        };
        press(app, KeyCode::Enter);
        for _ in 0..MAX_INPUT {
            press(app, KeyCode::Backspace);
        }
        for c in text.chars() {
            press(app, KeyCode::Char(c));
        }
        press(app, KeyCode::Enter);
    }

    #[test]
    fn values_typed_through_the_keymap_arrive_whole() {
        let mut app = crate::app::tests::app();
        type_into(&mut app, Param::Seeds, "1,2,3");
        assert_eq!(app.values.seeds, Some(Seeds::List(vec![1, 2, 3])));
        type_into(&mut app, Param::Seeds, "7, 9");
        assert_eq!(app.values.seeds, Some(Seeds::List(vec![7, 9])));
        // Not read as 12 seeds: refused whole, the value kept and the reason said.
        type_into(&mut app, Param::Seeds, "1;2");
        assert_eq!(app.values.seeds, Some(Seeds::List(vec![7, 9])));
        assert!(
            app.notice.as_deref().unwrap().contains("`1;2`"),
            "{:?}",
            app.notice
        );
        type_into(&mut app, Param::Device, "cuda:1");
        assert_eq!(app.values.device, DeviceChoice::Cuda(1));
        type_into(&mut app, Param::Device, "cuda:all");
        assert_eq!(app.values.device, DeviceChoice::CudaAll);
        type_into(&mut app, Param::Lr, "2e-4");
        assert_eq!(app.values.hyper.lr, 2e-4);
    }
}
