//! The `?` overlay: every key, from the keymap's own table.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::theme::Theme;
use crate::keymap::HELP;

pub fn draw(frame: &mut Frame, area: Rect, theme: &Theme) {
    let height = (HELP.len() as u16 + 3).min(area.height);
    // As wide as the longest line where there is room; cut with an ellipsis where there is not.
    let longest = HELP
        .iter()
        .map(|(_, _, what)| 26 + what.chars().count())
        .max()
        .unwrap_or(0) as u16;
    let width = (longest + 2).min(area.width);
    let room = (width as usize).saturating_sub(2 + 26);
    let rect = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(scope, keys, what)| {
            Line::from(vec![
                Span::styled(format!(" {scope:<8}"), theme.dim()),
                Span::styled(format!("{keys:<17}"), theme.key()),
                Span::raw(super::ellipsis(what, room)),
            ])
        })
        .collect();
    lines.push(Line::styled(" any key closes this help", theme.dim()));
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(Span::styled(" Keys ", theme.title()))),
        rect,
    );
}
