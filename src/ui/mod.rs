//! Drawing: a pure function of the app state. One module per panel.

mod compare;
pub mod config_pairs;
mod confusion;
mod detail;
mod help;
mod history;
pub mod images;
mod learned;
mod live;
mod lr;
mod sweep;
pub mod theme;
mod tricks;

pub use crate::keymap::Hits;
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::{App, DataState, Item, MAX_INPUT, Mode, Panel, Screen, Target};
use cifar_engine::data::DataProgress;
use theme::Theme;

/// The smallest terminal the layout is designed for.
pub const MIN_SIZE: (u16, u16) = (80, 24);

/// Draws the app; returns where the things a click can reach were drawn.
pub fn draw(frame: &mut Frame, app: &App, theme: &Theme) -> Hits {
    let mut hits = Hits::default();
    let area = frame.area();
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        too_small(frame, area, app, theme);
        return hits;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, header, app, theme, &mut hits);
    match app.screen {
        Screen::Train if app.zoomed.is_some() => {
            let live = app.live_run();
            let epochs = app.values.hyper.epochs;
            match app.zoomed {
                Some(Panel::Loss) => live::loss(frame, body, live, epochs, app.loss_recent, theme),
                Some(Panel::Accuracy) => live::accuracy(frame, body, live, epochs, theme),
                _ => lr::draw(frame, body, live, app, theme),
            }
        }
        Screen::Train => {
            let [left, right] =
                Layout::horizontal([Constraint::Length(34), Constraint::Min(0)]).areas(body);
            tricks::draw(frame, left, app, theme, &mut hits);
            let live = app.live_run();
            // Several runs at once: one row each, as many as leave the charts readable.
            let training = app.runs.iter().filter(|r| r.status.is_active()).count();
            let rows = if training > 1 {
                training.min(right.height.saturating_sub(12).max(2) as usize) as u16 + 2
            } else {
                3
            };
            let [gauge, charts] =
                Layout::vertical([Constraint::Length(rows), Constraint::Min(0)]).areas(right);
            if training > 1 {
                live::runs(frame, gauge, app, theme);
            } else {
                live::gauge(frame, gauge, app, theme);
            }
            // A replay needs no data: its charts come from the history.
            let replaying = live.is_some_and(|r| r.replaying.is_some());
            if let (DataState::Failed(why), false) = (&app.data, replaying) {
                data_failed(frame, charts, why, theme);
                draw_footer(frame, footer, app, theme);
                return hits;
            }
            let [loss, acc, lr_area] = Layout::vertical([
                Constraint::Percentage(34),
                Constraint::Percentage(40),
                Constraint::Percentage(26),
            ])
            .areas(charts);
            let epochs = app.values.hyper.epochs;
            if training > 1 {
                live::by_run(frame, loss, app, true, theme);
                live::by_run(frame, acc, app, false, theme);
            } else {
                live::loss(frame, loss, live, epochs, app.loss_recent, theme);
                live::accuracy(frame, acc, live, epochs, theme);
            }
            lr::draw(frame, lr_area, live, app, theme);
        }
        Screen::Results => {
            let run = app.results();
            let variant = run.and_then(|r| app.variant_of(r));
            confusion::draw(frame, body, run, variant.as_ref(), app.results_cell, theme)
        }
        Screen::Compare => compare::draw(frame, body, app, theme, &mut hits),
        Screen::History => history::draw(frame, body, app, theme, &mut hits),
        Screen::Sweep => sweep::draw(frame, body, app, theme, &mut hits),
    }
    draw_footer(frame, footer, app, theme);
    if app.mode == Mode::Help {
        help::draw(frame, body, theme);
        // A click anywhere closes the help, as any key does.
        hits = Hits::default();
    }
    if let Mode::Detail(d) = &app.mode {
        detail::draw(frame, body, app, d, theme);
        hits = Hits::default();
    }
    if let Mode::Images(cell) = app.mode {
        images::draw(frame, body, app, cell, theme);
        hits = Hits::default();
    }
    if let Mode::Learned(key) = app.mode {
        learned::draw(frame, body, app, key, theme);
        hits = Hits::default();
    }
    hits
}

/// The whole message where the charts would be: it names the file and the fix.
fn data_failed(frame: &mut Frame, area: Rect, why: &str, theme: &Theme) {
    let text = vec![
        Line::styled("The data could not be loaded:", theme.bad()),
        Line::raw(""),
        Line::raw(why.to_string()),
        Line::raw(""),
        Line::styled("Fix it, then start cifar-tui again (q quits).", theme.dim()),
    ];
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }).block(
            ratatui::widgets::Block::bordered().title(Span::styled(" CIFAR-10 ", theme.bad())),
        ),
        area,
    );
}

/// Says what size is needed; a notice (a question above all: "q again quits") still shows.
fn too_small(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut text = vec![
        Line::styled("cifar-tui needs a larger terminal", theme.bad()),
        Line::raw(format!(
            "now {}x{}, needs at least {}x{}",
            area.width, area.height, MIN_SIZE.0, MIN_SIZE.1
        )),
        Line::raw("enlarge the window, or press q to quit"),
    ];
    if let Some(n) = &app.notice {
        text.push(Line::raw(""));
        text.push(Line::styled(n.clone(), theme.key()));
    }
    let height = (text.len() as u16 + 2).min(area.height);
    let y = area.height.saturating_sub(height) / 2;
    let rect = Rect::new(area.x, area.y + y, area.width, height);
    frame.render_widget(
        Paragraph::new(text)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        rect,
    );
}

fn data_status(app: &App) -> String {
    match &app.data {
        DataState::Loading(None) => "data: looking…".into(),
        DataState::Loading(Some(DataProgress::Downloading { done, total })) => format!(
            "data: downloading {:.0}/{:.0} MB",
            *done as f64 / 1e6,
            *total as f64 / 1e6
        ),
        DataState::Loading(Some(DataProgress::Extracting)) => "data: unpacking…".into(),
        DataState::Loading(Some(DataProgress::Loading { .. })) => "data: loading…".into(),
        DataState::Ready { train, test } => format!("data {train}+{test}"),
        DataState::Failed(_) => "data: FAILED".into(),
        DataState::Skipped => "data: not loaded (replay)".into(),
    }
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, hits: &mut Hits) {
    let mut spans = vec![Span::styled(" cifar-tui ", theme.title())];
    for s in Screen::ALL {
        let label = format!(" {} ", s.title());
        let x = area.x + spans.iter().map(|s| s.width() as u16).sum::<u16>();
        hits.add(Rect::new(x, area.y, label.len() as u16, 1), Target::Tab(s));
        spans.push(if s == app.screen {
            Span::styled(label, theme.cursor())
        } else {
            Span::styled(label, theme.dim())
        });
    }
    // A GPU's name can be long: the header keeps room for the tabs, and cuts the name first.
    let device = match app.device_in_use() {
        Some(d) => ellipsis(&d, 28),
        None => app.values.device.to_string(),
    };
    let used: usize = spans.iter().map(|s| s.width()).sum();
    // The longest that fits: five tabs and a CUDA device leave no room for all of it at 80.
    let data = data_status(app);
    let room = (area.width as usize).saturating_sub(used + 1);
    // Loaded data is said in short before `? help` goes (at 80 columns the first screen must
    // say where the keys are); data still on its way is said whole.
    let data_short = match app.data {
        DataState::Ready { train, test } => format!("{train}+{test}"),
        _ => data.clone(),
    };
    let right = [
        format!("{data} | {device} | ? help "),
        format!("{data_short} | {device} | ? help "),
        format!("{data} | {device} "),
        format!("{device} | ? help "),
        format!("{device} "),
        format!("{} ", ellipsis(&device, room)),
    ]
    .into_iter()
    .find(|r| used + r.chars().count() <= area.width as usize)
    .unwrap_or_default();
    let pad = (area.width as usize).saturating_sub(used + right.chars().count());
    spans.push(Span::raw(" ".repeat(pad)));
    spans.push(Span::styled(right, theme.dim()));
    frame.render_widget(Line::from(spans), area);
}

fn draw_footer(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let line = if let Mode::Editing { param, text } = &app.mode {
        // Said while typing, not after: a paste cut short, a full field.
        let hint = match &app.notice {
            Some(n) => format!("   {n}"),
            None if text.chars().count() >= MAX_INPUT => {
                format!("   full ({MAX_INPUT} characters) · Enter set · Esc cancel")
            }
            None => "   Enter set · Esc cancel".into(),
        };
        Line::from(vec![
            Span::styled(format!(" {}: ", param.label()), theme.key()),
            Span::raw(text.clone()),
            Span::styled("█", theme.dim()),
            Span::styled(hint, theme.dim()),
        ])
    } else if let Mode::Search(text) = &app.mode {
        Line::from(vec![
            Span::styled(" find: ", theme.key()),
            Span::raw(text.clone()),
            Span::styled("█", theme.dim()),
            Span::styled(
                "   number, name or trick · Enter keeps · Esc clears",
                theme.dim(),
            ),
        ])
    } else if let Some(n) = &app.notice {
        // Cut with an ellipsis, never mid-word without a sign that more was said.
        let room = (area.width as usize).saturating_sub(1);
        Line::styled(format!(" {}", ellipsis(n, room)), theme.key())
    } else if app.screen == Screen::Train && app.zoomed.is_some() {
        Line::styled(
            " z shows the next chart alone, then the whole Train screen",
            theme.dim(),
        )
    } else if app.screen == Screen::Train {
        let help = match app.item() {
            Item::Trick(t) => t.info().why.to_string(),
            Item::Param(p) => format!("{}: {}", p.label(), p.help()),
        };
        Line::styled(format!(" {help}"), theme.dim())
    } else {
        hints(theme)
    };
    frame.render_widget(line, area);
}

fn hints(theme: &Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for (k, what) in [
        ("s", "start"),
        ("a", "study"),
        ("x", "cancel"),
        ("1-8", "preset"),
        ("Tab", "screen"),
        ("?", "keys"),
        ("q", "quit"),
    ] {
        spans.push(Span::styled(format!(" {k}"), theme.key()));
        spans.push(Span::styled(format!(" {what} "), theme.dim()));
    }
    Line::from(spans)
}

/// `text` in at most `width` characters, cut with an ellipsis.
pub fn ellipsis(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `m:ss` or `h:mm:ss`.
pub fn clock(seconds: f64) -> String {
    let s = if seconds.is_finite() {
        seconds.max(0.0).round() as u64
    } else {
        0
    };
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests;
