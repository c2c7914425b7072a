//! Left panel of the Train screen: trick checkboxes and editable settings.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::Hits;
use super::theme::Theme;
use crate::app::params::PARAMS;
use crate::app::{App, Item, Mode, Target, items};
use cifar_engine::tricks::TRICKS;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, hits: &mut Hits) {
    let [tricks_area, params_area] = Layout::vertical([
        Constraint::Length(TRICKS.len() as u16 + 2),
        Constraint::Min(0),
    ])
    .areas(area);
    let width = area.width.saturating_sub(2) as usize;
    let mut trick_lines = Vec::new();
    let mut param_lines = Vec::new();
    for (i, item) in items().enumerate() {
        let here = i == app.cursor;
        let line = match item {
            Item::Trick(t) => {
                let on = app.tricks.contains(&t);
                let mark = if on { "[x] " } else { "[ ] " };
                let text = format!("{mark}{}", t.info().label);
                let style = if on { theme.good() } else { Default::default() };
                Line::styled(format!("{text:<width$}"), style)
            }
            Item::Param(p) => {
                let value = match &app.mode {
                    Mode::Editing { param, text } if *param == p => format!("{text}_"),
                    _ => p.value(&app.values),
                };
                let label = p.label();
                let pad = width.saturating_sub(label.chars().count() + value.chars().count() + 2);
                Line::from(vec![
                    Span::raw(format!(" {label}")),
                    Span::raw(" ".repeat(pad)),
                    Span::styled(format!("{value} "), theme.key()),
                ])
            }
        };
        let line = if here {
            line.patch_style(theme.cursor())
        } else {
            line
        };
        match item {
            Item::Trick(_) => trick_lines.push(line),
            Item::Param(_) => param_lines.push(line),
        }
    }
    let title = match app.preset_name() {
        Some(name) => format!(" Tricks: {name} "),
        None => " Tricks: custom ".to_string(),
    };
    frame.render_widget(
        Paragraph::new(trick_lines)
            .block(Block::bordered().title(Span::styled(title, theme.title()))),
        tricks_area,
    );
    debug_assert_eq!(param_lines.len(), PARAMS.len());
    // A short terminal shows a window of the settings that always holds the cursor.
    let visible = params_area.height.saturating_sub(2) as usize;
    let at = app.cursor.saturating_sub(TRICKS.len());
    let first = (at + 1).saturating_sub(visible.max(1)).min(PARAMS.len());
    let below = PARAMS.len().saturating_sub(first + visible);
    let mut block = Block::bordered().title(Span::styled(" Settings ", theme.title()));
    if first > 0 || below > 0 {
        let more = match (first, below) {
            (0, n) => format!(" ↓ {n} more "),
            (n, 0) => format!(" ↑ {n} more "),
            (up, down) => format!(" ↑ {up} ↓ {down} more "),
        };
        block = block.title_bottom(Line::styled(more, theme.dim()).right_aligned());
    }
    frame.render_widget(
        Paragraph::new(param_lines)
            .scroll((first as u16, 0))
            .block(block),
        params_area,
    );
    let row = |area: Rect, k: usize| Rect::new(area.x + 1, area.y + 1 + k as u16, width as u16, 1);
    for k in 0..TRICKS
        .len()
        .min(tricks_area.height.saturating_sub(2) as usize)
    {
        hits.add(row(tricks_area, k), Target::Item(k));
    }
    for k in 0..visible.min(PARAMS.len() - first) {
        hits.add(row(params_area, k), Target::Item(TRICKS.len() + first + k));
    }
}
