//! The Compare screen: every run of the session, a micro-F1 bar chart and overlaid curves.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Bar, BarChart, BarGroup, Block, Chart, Dataset, GraphType, Paragraph, Row, Table,
    TableState,
};

use super::clock;
use super::theme::Theme;
use crate::app::App;
use crate::run::{Run, Status};
use cifar_engine::tricks;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let table_height = (app.runs.len() as u16 + 3).clamp(5, area.height / 2);
    let [table_area, charts] =
        Layout::vertical([Constraint::Length(table_height), Constraint::Min(0)]).areas(area);
    table(frame, table_area, app, theme);
    let compared = app.compared();
    let bar_width = (compared.len() as u16 * 5 + 4).clamp(24, charts.width / 2);
    let [bars, curves] =
        Layout::horizontal([Constraint::Length(bar_width), Constraint::Min(0)]).areas(charts);
    if compared.is_empty() {
        let msg = Paragraph::new(vec![
            Line::raw(""),
            Line::raw(" No finished run selected. Finished runs are shown here; Space on a row"),
            Line::raw(" shows or hides it. Press a on any screen to queue the whole seed study."),
        ])
        .block(Block::bordered().title(Span::styled(" Charts ", theme.title())));
        frame.render_widget(msg, charts);
        return;
    }
    f1_bars(frame, bars, &compared, theme);
    val_curves(frame, curves, &compared, theme);
}

fn table(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let header = Row::new([
        "",
        "#",
        "run",
        "tricks vs baseline",
        "acc",
        "macro-F1",
        "time",
        "img/s",
    ])
    .style(theme.dim());
    let rows = app.runs.iter().map(|r| {
        let sel = if app.compare_selected.contains(&r.key) {
            "[x]"
        } else {
            "[ ]"
        };
        let (acc, mf1, time, speed) = match (r.outcome(), &r.status) {
            (Some(o), _) => (
                format!("{:.4}", o.report.accuracy),
                format!("{:.4}", o.report.macro_f1),
                clock(o.seconds),
                format!("{:.0}", o.images_per_sec),
            ),
            (None, Status::Running(Some(p))) => (
                format!("{:.0}%", r.progress() * 100.0),
                String::new(),
                clock(p.elapsed),
                format!("{:.0}", p.images_per_sec),
            ),
            (None, status) => (
                status.label().to_string(),
                String::new(),
                String::new(),
                String::new(),
            ),
        };
        Row::new([
            sel.to_string(),
            r.number().trim_start_matches('#').to_string(),
            r.short_name(),
            format!("{}{}", tricks::describe_short(&r.tricks), r.subset_note()),
            acc,
            mf1,
            time,
            speed,
        ])
    });
    let widths = [
        Constraint::Length(3),
        Constraint::Length(2),
        Constraint::Length(13),
        Constraint::Min(12),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(5),
    ];
    let mut state = TableState::default()
        .with_selected((!app.runs.is_empty()).then(|| app.compare_cursor.min(app.runs.len() - 1)));
    // How the run under the cursor differs from the first run: every setting, not only tricks.
    let cursor = app
        .runs
        .get(app.compare_cursor.min(app.runs.len().saturating_sub(1)));
    let diff = match (cursor, app.runs.first()) {
        (Some(r), Some(first)) if r.key != first.key => {
            let d = super::settings::diff(&r.config, &first.config);
            let d = if d.is_empty() {
                "same settings".to_string()
            } else {
                d.join(" · ")
            };
            let text = format!(" {} vs {}: {d} ", r.number(), first.number());
            let width = area.width.saturating_sub(4) as usize;
            let mut text: String = text.chars().take(width).collect();
            if text.chars().count() == width {
                text.pop();
                text.push('…');
            }
            Line::styled(text, theme.dim())
        }
        _ => Line::default(),
    };
    frame.render_stateful_widget(
        Table::new(rows, widths)
            .header(header)
            .row_highlight_style(theme.cursor())
            .block(
                Block::bordered()
                    .title(Span::styled(
                        format!(" Runs this session ({}) ", app.runs.len()),
                        theme.title(),
                    ))
                    .title_bottom(diff),
            ),
        area,
        &mut state,
    );
}

fn f1_bars(frame: &mut Frame, area: Rect, runs: &[&Run], theme: &Theme) {
    let bars: Vec<Bar> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let f1 = r.outcome()?.report.micro_f1;
            Some(
                Bar::default()
                    .value((f1 * 1000.0).round() as u64)
                    .text_value(format!("{:.0}", f1 * 100.0))
                    .label(Line::from(r.number()))
                    .style(theme.series(i).0),
            )
        })
        .collect();
    frame.render_widget(
        BarChart::default()
            .block(Block::bordered().title(Span::styled(" micro-F1 % ", theme.title())))
            .bar_width(4)
            .bar_gap(1)
            .max(1000)
            .data(BarGroup::default().bars(&bars)),
        area,
    );
}

fn val_curves(frame: &mut Frame, area: Rect, runs: &[&Run], theme: &Theme) {
    let series: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|r| {
            r.epochs
                .iter()
                .map(|e| (e.epoch as f64, e.val_accuracy))
                .collect()
        })
        .collect();
    let max_epochs = runs
        .iter()
        .map(|r| r.config.epochs)
        .max()
        .unwrap_or(1)
        .max(2);
    let (lo, hi) = super::live::zoom(series.iter().flatten().map(|p| p.1));
    let datasets = runs
        .iter()
        .zip(&series)
        .enumerate()
        .map(|(i, (r, points))| {
            let (style, marker) = theme.series(i);
            Dataset::default()
                // The marker leads the name: the legend reads without colour.
                .name(format!(
                    "{} {} {}",
                    Theme::glyph(marker),
                    r.number(),
                    r.short_name()
                ))
                .marker(marker)
                .graph_type(GraphType::Line)
                .style(style)
                .data(points)
        })
        .collect();
    frame.render_widget(
        Chart::new(datasets)
            .block(Block::bordered().title(Span::styled(" Validation accuracy ", theme.title())))
            .x_axis(
                Axis::default()
                    .bounds([1.0, max_epochs as f64])
                    .labels(["1".to_string(), max_epochs.to_string()]),
            )
            .y_axis(
                Axis::default()
                    .bounds([lo, hi])
                    .labels([format!("{lo:.2}"), format!("{hi:.2}")]),
            )
            .hidden_legend_constraints((Constraint::Ratio(1, 1), Constraint::Ratio(1, 1))),
        area,
    );
}
