//! The History screen: stored runs of every session.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, TableState, Wrap};

use super::theme::Theme;
use super::{Hits, clock};
use crate::app::App;
use crate::run::Status;
use crate::run::variants;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, hits: &mut Hits) {
    let h = &app.history;
    if let Some(why) = &h.unavailable {
        frame.render_widget(
            Paragraph::new(vec![
                Line::styled("The run history is not available:", theme.bad()),
                Line::raw(""),
                Line::raw(why.clone()),
                Line::raw(""),
                Line::styled("This session's runs are kept in memory only.", theme.dim()),
            ])
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(Span::styled(" History ", theme.title()))),
            area,
        );
        return;
    }
    let [table_area, detail] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(3)]).areas(area);
    let (offset, rows) = if h.grouped() {
        grouped(frame, table_area, app, theme)
    } else {
        runs(frame, table_area, app, theme)
    };
    hits.table(table_area, offset, rows, true);
    let text = match (h.current(), h.grouped()) {
        (Some(r), true) => match h.current_variant() {
            Some(v) => format!(
                " {} {} · seeds {} · each {}",
                v.label(),
                v.tricks,
                v.seeds
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                v.accuracy
                    .values
                    .iter()
                    .map(|a| format!("{a:.4}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            None => format!(" #{} {}", r.id, r.tricks_label()),
        },
        (Some(r), false) => {
            let extra = match (r.status.reason(), &r.status) {
                (Some(e), _) => format!(" · {e}"),
                (None, Status::Interrupted(_) | Status::Cancelled) => " · R resumes it".into(),
                _ => String::new(),
            };
            format!(
                " #{} {} · seed {}{}{extra}",
                r.id,
                r.tricks_label(),
                r.config.seed,
                r.subset_note()
            )
        }
        (None, _) if h.rows().is_empty() => {
            " No runs yet: they are kept here as they train.".into()
        }
        (None, true) => " No finished run matches the filter (f changes it).".into(),
        (None, false) => " No run matches the filter (f changes it).".into(),
    };
    // One line, cut with `…`: Enter shows the run whole.
    let text = super::ellipsis(&text, detail.width as usize);
    frame.render_widget(
        Paragraph::new(vec![
            Line::raw(text),
            Line::styled(
                " Space/A sel · Enter whole · o f v / g · d del · w W save · R resume · P replay",
                theme.dim(),
            ),
        ])
        .block(Block::default()),
        detail,
    );
}

/// One row per variant: its finished runs over their seeds, mean ± 95% CI.
/// Returns the table's scroll offset and row count.
fn grouped(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) -> (usize, usize) {
    let h = &app.history;
    let variants = h.variants();
    let runs: usize = variants.iter().map(|v| v.n()).sum();
    let rows: Vec<Row> = variants
        .iter()
        .map(|v| {
            let all = v.runs.iter().all(|id| h.selected.contains(id));
            let any = v.runs.iter().any(|id| h.selected.contains(id));
            let sel = match (all, any) {
                (true, _) => "[x]",
                (false, true) => "[-]",
                _ => "[ ]",
            };
            Row::new(vec![
                Line::raw(sel),
                Line::raw(v.label()),
                Line::raw(v.n().to_string()),
                Line::raw(variants::mean_ci(&v.accuracy, 4)),
                Line::raw(format!("{}", v.epochs)),
                Line::raw(clock(v.minutes.mean * 60.0)),
            ])
        })
        .collect();
    let count = rows.len();
    // Said, not merged silently: the list shows every run.
    let repeats: usize = variants.iter().map(|v| v.repeats.len()).sum();
    let left_out = match repeats {
        0 => String::new(),
        n => format!(" (+{n} repeated seed(s) left out: newest counted)"),
    };
    let title = format!(
        " History by variant: {count} variant(s) of {runs} finished run(s){left_out}, by {} ",
        h.sort().label()
    );
    let title = super::ellipsis(&title, area.width.saturating_sub(2) as usize);
    let mut state = TableState::default()
        .with_offset(h.scroll.offset())
        .with_selected((count > 0).then_some(h.cursor));
    frame.render_stateful_widget(
        Table::new(
            rows,
            [
                Constraint::Length(3),
                Constraint::Min(12),
                Constraint::Length(5),
                Constraint::Length(17),
                Constraint::Length(6),
                Constraint::Length(7),
            ],
        )
        .header(Row::new(["", "run", "seeds", "acc (95% CI)", "epochs", "time"]).style(theme.dim()))
        .row_highlight_style(theme.cursor())
        .block(Block::bordered().title(Span::styled(title, theme.title()))),
        area,
        &mut state,
    );
    h.scroll.keep(state.offset());
    (state.offset(), count)
}

/// One row per run.
/// Returns the table's scroll offset and row count.
fn runs(frame: &mut Frame, table_area: Rect, app: &App, theme: &Theme) -> (usize, usize) {
    let h = &app.history;
    let rows: Vec<Row> = h
        .visible()
        .into_iter()
        .map(|r| {
            let sel = if h.selected.contains(&r.id) {
                "[x]"
            } else {
                "[ ]"
            };
            let status = match &r.status {
                s @ (Status::Interrupted(_) | Status::Diverged(_) | Status::Failed(_)) => {
                    Span::styled(s.label(), theme.bad())
                }
                s => Span::raw(s.label()),
            };
            Row::new(vec![
                Line::raw(sel),
                Line::raw(r.id.to_string()),
                Line::raw(
                    r.created_at
                        .as_deref()
                        .map(|t| t.get(..16).unwrap_or(t).replace('T', " "))
                        .unwrap_or_default(),
                ),
                // A subset's figures must never read as a real result.
                Line::raw(r.short_name()),
                Line::from(status),
                Line::raw(format!("{}/{}", r.epochs.len(), r.config.epochs)),
                Line::raw(r.accuracy().map(|a| format!("{a:.4}")).unwrap_or_default()),
                Line::raw(r.outcome().map(|o| clock(o.seconds)).unwrap_or_default()),
            ])
        })
        .collect();
    let count = rows.len();
    let mut filter = match h.filter() {
        Some(t) => format!(" with {t}"),
        None => String::new(),
    };
    if h.show() != crate::app::history::Show::All {
        filter += &format!(", {}", h.show().label());
    }
    if !h.text().is_empty() {
        filter += &format!(", \"{}\"", h.text());
    }
    let title = format!(
        " History: {count} of {} run(s){filter}, by {}, {} selected ",
        h.rows().len(),
        h.sort().label(),
        h.selected.len()
    );
    let title = super::ellipsis(&title, table_area.width.saturating_sub(2) as usize);
    let mut state = TableState::default()
        .with_offset(h.scroll.offset())
        .with_selected((count > 0).then_some(h.cursor));
    frame.render_stateful_widget(
        Table::new(
            rows,
            [
                Constraint::Length(3),
                Constraint::Length(4),
                Constraint::Length(16),
                Constraint::Min(12),
                Constraint::Length(11),
                Constraint::Length(6),
                Constraint::Length(7),
                Constraint::Length(7),
            ],
        )
        .header(
            Row::new([
                "",
                "#",
                "created (UTC)",
                "run",
                "status",
                "epochs",
                "acc",
                "time",
            ])
            .style(theme.dim()),
        )
        .row_highlight_style(theme.cursor())
        .block(Block::bordered().title(Span::styled(title, theme.title()))),
        table_area,
        &mut state,
    );
    h.scroll.keep(state.offset());
    (state.offset(), count)
}
