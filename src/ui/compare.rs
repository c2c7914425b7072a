//! The Compare screen: every run of the session; the compared runs by variant as micro-F1
//! bars with their 95% whiskers and validation curves with their min/max over seeds; each
//! variant's paired difference from the reference, or "within noise".

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph, Row, Table, TableState};

use super::Hits;
use super::theme::Theme;
use crate::app::App;
use crate::run::Status;
use crate::run::variants::{self, Trial, Variant};
use cifar_engine::stats::{Interval, Verdict};
use cifar_engine::tricks;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, hits: &mut Hits) {
    let table_height = (app.runs.len() as u16 + 3).clamp(5, area.height / 2);
    let [table_area, charts] =
        Layout::vertical([Constraint::Length(table_height), Constraint::Min(0)]).areas(area);
    let (variants, reference) = app.compared_variants();
    let (offset, rows) = table(frame, table_area, app, variants, reference, theme);
    hits.table(table_area, offset, rows, true);
    let bar_width = (variants.len() as u16 * 5 + 4).clamp(24, charts.width / 2);
    let [bars, curves] =
        Layout::horizontal([Constraint::Length(bar_width), Constraint::Min(0)]).areas(charts);
    if variants.is_empty() {
        let msg = Paragraph::new(vec![
            Line::raw(""),
            Line::raw(" No finished run selected. Finished runs are shown here; Space on a row"),
            Line::raw(" shows or hides it. Press a on any screen to queue the whole seed study."),
        ])
        .block(Block::bordered().title(Span::styled(" Charts ", theme.title())));
        frame.render_widget(msg, charts);
        return;
    }
    f1_bars(frame, bars, variants, theme);
    val_curves(frame, curves, variants, theme);
}

/// What the compared variants differ in besides their settings' tricks (epochs, training
/// images, device, what validated them), said where their bars stand side by side: `epochs 2/10, device cpu/cuda`.
fn mixed(variants: &[Variant]) -> Option<String> {
    let distinct = |of: &dyn Fn(&Variant) -> String| {
        let mut all: Vec<String> = variants.iter().map(of).collect();
        all.sort();
        all.dedup();
        (all.len() > 1).then(|| all.join("/"))
    };
    let parts: Vec<String> = [
        ("epochs", distinct(&|v| v.epochs.to_string())),
        (
            "images",
            distinct(&|v| v.train_limit.map_or("all".into(), |n| n.to_string())),
        ),
        (
            "device",
            distinct(&|v| v.device.map_or("?".into(), |d| d.to_string())),
        ),
        (
            "validated on",
            distinct(&|v| {
                v.val_split
                    .map_or("test".into(), |n| format!("{n} held out"))
            }),
        ),
    ]
    .into_iter()
    .filter_map(|(what, values)| values.map(|v| format!("{what} {v}")))
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// A variant's difference from the reference, in a cell: the paired 95% interval when it
/// excludes zero, else what keeps it from a claim.
fn versus(v: &Variant, reference: Option<&Variant>) -> String {
    let Some(r) = reference else {
        return "–".into();
    };
    if r.key == v.key {
        return "reference".into();
    }
    match variants::paired(v, r) {
        None => "no shared seed".into(),
        Some(d) => match d.verdict() {
            Verdict::Higher | Verdict::Lower => {
                format!("{:+.3}±{:.3}", d.mean, d.half_width.unwrap_or(0.0))
            }
            Verdict::WithinNoise => "within noise".into(),
            Verdict::NotShown => "1 seed".into(),
        },
    }
}

fn table(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    variants: &[Variant],
    reference: Option<usize>,
    theme: &Theme,
) -> (usize, usize) {
    let reference = reference.map(|i| &variants[i]);
    let vs_head = match reference {
        Some(r) => format!("vs {}", r.name),
        None => "vs (b: pick)".into(),
    };
    let header = Row::new([
        "".to_string(),
        "#".into(),
        "run".into(),
        "seed".into(),
        "tricks".into(),
        "acc".into(),
        "macro-F1".into(),
        vs_head,
    ])
    .style(theme.dim());
    let rows = app.runs.iter().map(|r| {
        let sel = if app.compare_selected.contains(&r.key) {
            "[x]"
        } else {
            "[ ]"
        };
        let (acc, mf1) = match (r.outcome(), &r.status) {
            (Some(o), _) => (
                format!("{:.4}", o.report.accuracy),
                format!("{:.4}", o.report.macro_f1),
            ),
            // Not a percentage under "acc": a run at 100% of its steps would read as perfect.
            (None, Status::Running(_)) => (
                "running".into(),
                format!(
                    "ep {}/{}",
                    (r.epochs.len() + 1).min(r.config.epochs),
                    r.config.epochs
                ),
            ),
            (None, status) => (status.label().to_string(), String::new()),
        };
        let vs = variants
            .iter()
            .find(|v| v.runs.contains(&Trial::id_of(r)))
            .map(|v| versus(v, reference))
            .unwrap_or_default();
        Row::new([
            sel.to_string(),
            r.number().trim_start_matches('#').to_string(),
            r.short_name(),
            r.config.seed.to_string(),
            format!("{}{}", tricks::describe_short(&r.tricks), r.subset_note()),
            acc,
            mf1,
            vs,
        ])
    });
    let widths = [
        Constraint::Length(3),
        Constraint::Length(2),
        Constraint::Length(13),
        Constraint::Length(4),
        Constraint::Min(8),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(14),
    ];
    let mut state = TableState::default()
        .with_offset(app.compare_scroll.offset())
        .with_selected((!app.runs.is_empty()).then(|| app.compare_cursor.min(app.runs.len() - 1)));
    // How the run under the cursor differs from the first run: every setting, not only tricks.
    let cursor = app
        .runs
        .get(app.compare_cursor.min(app.runs.len().saturating_sub(1)));
    let diff = match (cursor, app.runs.first()) {
        (Some(r), Some(first)) if r.key != first.key => {
            let d = super::config_pairs::diff(&r.config, &first.config);
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
                    .title(Span::styled(
                        mixed(variants)
                            .map(|m| format!(" compared runs differ in {m} "))
                            .unwrap_or_default(),
                        theme.key(),
                    ))
                    .title_bottom(diff),
            ),
        area,
        &mut state,
    );
    app.compare_scroll.keep(state.offset());
    (state.offset(), app.runs.len())
}

/// The bars' scale: from 5 points below the lowest whisker to 5 above the highest, on
/// multiples of 5, at least 10 points tall (so a one-point interval shows as a whisker).
fn scale(variants: &[Variant]) -> (f64, f64) {
    let low = variants
        .iter()
        .map(|v| v.accuracy.low())
        .fold(f64::INFINITY, f64::min);
    let high = variants
        .iter()
        .map(|v| v.accuracy.high())
        .fold(f64::NEG_INFINITY, f64::max);
    if !(low.is_finite() && high.is_finite()) {
        return (0.0, 1.0);
    }
    let lo = ((low * 20.0).floor() / 20.0 - 0.05).max(0.0);
    let hi = ((high * 20.0).ceil() / 20.0 + 0.05).min(1.0).max(lo + 0.1);
    (lo, hi)
}

/// Eighths of a cell, bottom up.
const FILL: [&str; 9] = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];

/// One bar per variant: its mean micro-F1 on a zoomed scale, a whisker over its 95% interval
/// (none for one seed), the mean in % under it and the first run's number.
fn f1_bars(frame: &mut Frame, area: Rect, variants: &[Variant], theme: &Theme) {
    let (lo, hi) = scale(variants);
    let block = Block::bordered().title(Span::styled(
        format!(" F1% {:.0}–{:.0}, 95% CI ", lo * 100.0, hi * 100.0),
        theme.title(),
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height < 4 || inner.width < 3 {
        return;
    }
    let rows = inner.height - 2;
    let slot = (inner.width / variants.len().max(1) as u16).clamp(2, 5);
    let bar = slot - 1;
    let buf = frame.buffer_mut();
    // The row (0 = bottom) a value falls in.
    let row_of = |v: f64| {
        let t = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
        ((t * rows as f64) as u16).min(rows - 1)
    };
    for (i, v) in variants.iter().enumerate() {
        let x = inner.x + i as u16 * slot;
        if x + bar > inner.right() {
            break;
        }
        let style = theme.series(i).0;
        let t = ((v.accuracy.mean - lo) / (hi - lo)).clamp(0.0, 1.0);
        let eighths = (t * rows as f64 * 8.0).round() as u16;
        for r in 0..rows {
            let fill = eighths.saturating_sub(r * 8).min(8) as usize;
            let y = inner.y + rows - 1 - r;
            for dx in 0..bar {
                buf[(x + dx, y)].set_symbol(FILL[fill]).set_style(style);
            }
        }
        if let Some(h) = v.accuracy.half_width {
            let (top, bottom) = (row_of(v.accuracy.mean + h), row_of(v.accuracy.mean - h));
            let wx = x + bar / 2;
            for r in bottom..=top {
                let symbol = match (r == top, r == bottom) {
                    (true, true) => "┼",
                    (true, false) => "┬",
                    (false, true) => "┴",
                    (false, false) => "│",
                };
                let y = inner.y + rows - 1 - r;
                buf[(wx, y)].set_symbol(symbol).set_style(theme.title());
            }
        }
        let mean = v.accuracy.mean * 100.0;
        let value = if bar >= 4 {
            format!("{mean:.1}")
        } else {
            format!("{mean:.0}")
        };
        let label = format!("#{}", v.runs.first().copied().unwrap_or(0));
        buf.set_stringn(x, inner.y + rows, value, bar as usize, style);
        buf.set_stringn(x, inner.y + rows + 1, label, slot as usize, theme.dim());
    }
}

/// Each variant's mean validation curve; for several seeds, its lowest and highest seed as
/// dotted lines around it.
fn val_curves(frame: &mut Frame, area: Rect, variants: &[Variant], theme: &Theme) {
    let line = |v: &Variant, f: fn(&Interval) -> f64| -> Vec<(f64, f64)> {
        v.val_accuracy
            .iter()
            .enumerate()
            .map(|(e, i)| ((e + 1) as f64, f(i)))
            .collect()
    };
    let means: Vec<Vec<(f64, f64)>> = variants.iter().map(|v| line(v, |i| i.mean)).collect();
    let lows: Vec<Vec<(f64, f64)>> = variants.iter().map(|v| line(v, min_of)).collect();
    let highs: Vec<Vec<(f64, f64)>> = variants.iter().map(|v| line(v, max_of)).collect();
    let max_epochs = variants.iter().map(|v| v.epochs).max().unwrap_or(1).max(2);
    let (lo, hi) = super::live::zoom(lows.iter().chain(&highs).flatten().map(|p| p.1));
    let mut datasets = Vec::new();
    for (i, v) in variants.iter().enumerate() {
        let (style, marker) = theme.series(i);
        let seeds = if v.n() > 1 {
            format!(" x{} seeds", v.n())
        } else {
            String::new()
        };
        datasets.push(
            Dataset::default()
                // The marker leads the name: the legend reads without colour.
                .name(format!(
                    "{} #{} {}{seeds}",
                    Theme::glyph(marker),
                    v.runs.first().copied().unwrap_or(0),
                    v.label()
                ))
                .marker(marker)
                .graph_type(GraphType::Line)
                .style(style)
                .data(&means[i]),
        );
        if v.n() > 1 {
            for band in [&lows[i], &highs[i]] {
                datasets.push(
                    Dataset::default()
                        .marker(Marker::Dot)
                        .graph_type(GraphType::Scatter)
                        .style(style)
                        .data(band),
                );
            }
        }
    }
    let title = if variants.iter().any(|v| v.n() > 1) {
        " Validation accuracy (mean; dots: min/max over seeds) "
    } else {
        " Validation accuracy "
    };
    frame.render_widget(
        Chart::new(datasets)
            .block(Block::bordered().title(Span::styled(title, theme.title())))
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

fn min_of(i: &Interval) -> f64 {
    i.values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max_of(i: &Interval) -> f64 {
    i.values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}
