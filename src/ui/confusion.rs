//! The Results screen: confusion-matrix heatmap, per-class precision/recall/F1, and the averages.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::clock;
use super::theme::Theme;
use crate::app::Cell;
use crate::run::Run;
use crate::run::variants::{self, Variant};
use cifar_engine::data::CLASSES;
use cifar_engine::events::EpochStats;
use cifar_engine::tricks;

/// Column heads short enough for narrow cells.
const SHORT: [&str; 10] = [
    "plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
];

pub fn draw(
    frame: &mut Frame,
    area: Rect,
    run: Option<&Run>,
    variant: Option<&Variant>,
    cursor: Option<Cell>,
    theme: &Theme,
) {
    let Some((run, outcome)) = run.and_then(|r| r.outcome().map(|o| (r, o))) else {
        let msg = Paragraph::new(vec![
            Line::raw(""),
            Line::raw("No finished run yet."),
            Line::raw("Press s on the Train screen to train, or a to queue the whole seed study."),
        ])
        .alignment(Alignment::Center)
        .block(Block::bordered().title(Span::styled(" Results ", theme.title())));
        frame.render_widget(msg, area);
        return;
    };
    let report = &outcome.report;
    let [summary, grid, epochs] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(CLASSES.len() as u16 + 3),
        Constraint::Min(0),
    ])
    .areas(area);

    let summary_lines = vec![
        Line::from(vec![
            Span::styled(
                format!(" Run {} {} ", run.number(), run.name),
                theme.title(),
            ),
            Span::raw(format!(
                "{} · {} · {} epochs{} · {} · {:.0} img/s",
                tricks::describe_short(&run.tricks),
                run.device_label()
                    .unwrap_or_else(|| outcome.device.to_string()),
                run.config.epochs,
                run.subset_note(),
                clock(outcome.seconds),
                outcome.images_per_sec
            )),
        ]),
        match variant {
            // Its variant over every seed trained: the run's own figure, then theirs.
            Some(v) => Line::from(vec![
                Span::styled(format!(" accuracy {:.4}", report.accuracy), theme.good()),
                Span::raw(format!(" seed {} · {} seeds ", run.config.seed, v.n())),
                Span::styled(variants::mean_ci(&v.accuracy, 4), theme.good()),
                Span::styled(
                    format!(
                        " (95% CI) {}",
                        v.accuracy
                            .values
                            .iter()
                            .map(|a| format!("{a:.3}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                    theme.dim(),
                ),
            ]),
            None => Line::from(vec![
                Span::styled(format!(" accuracy {:.4}", report.accuracy), theme.good()),
                Span::raw(" = micro-F1 (single-label)  "),
                Span::styled(format!("macro-F1 {:.4}", report.macro_f1), theme.good()),
                Span::styled("  ←/→ runs", theme.dim()),
            ]),
        },
    ];
    frame.render_widget(Paragraph::new(summary_lines), summary);

    // Table width: "  prec   rec    F1     n" plus borders; the heatmap takes the rest.
    let table_width = 27u16;
    let [heat_area, table_area] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(table_width)]).areas(grid);
    let label_w = 11usize;
    let cell =
        ((heat_area.width.saturating_sub(2) as usize).saturating_sub(label_w) / 10).clamp(4, 7);
    let max = outcome.confusion.max_count().max(1) as f64;

    let mut lines = Vec::with_capacity(CLASSES.len() + 1);
    let mut head = vec![Span::styled(
        format!("{:>label_w$}", "true\\pred "),
        theme.dim(),
    )];
    for s in SHORT {
        let s: String = s.chars().take(cell - 1).collect();
        head.push(Span::styled(format!("{s:>cell$}"), theme.dim()));
    }
    lines.push(Line::from(head));
    // Zipped with the classes, never indexed: a matrix of another shape (an old history's
    // import) draws its first 10x10, not a panic.
    for ((t, row), class) in outcome.confusion.counts.iter().enumerate().zip(CLASSES) {
        let mut spans = vec![Span::raw(format!("{class:>10} "))];
        for (p, &count) in row.iter().take(CLASSES.len()).enumerate() {
            let mut style = theme.heat(count as f64 / max, t == p);
            if cursor
                == Some(Cell {
                    truth: t,
                    predicted: p,
                })
            {
                // Reversed reads without colour too.
                style = style.add_modifier(Modifier::REVERSED | Modifier::BOLD);
            }
            spans.push(Span::styled(format!("{count:>cell$}"), style));
        }
        lines.push(Line::from(spans));
    }
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(Span::styled(
                    " Confusion (rows: true class) ",
                    theme.title(),
                ))
                .title_bottom(Span::styled(
                    match cursor {
                        Some(_) => " ←↑↓→ cell · Enter its images · Esc ",
                        None => " Enter: the images of a cell ",
                    },
                    theme.dim(),
                )),
        ),
        heat_area,
    );

    let mut rows = vec![Line::styled("  prec   rec    F1     n", theme.dim())];
    for s in &report.per_class {
        rows.push(Line::raw(format!(
            " {:.3} {:.3} {:.3} {:>5}",
            s.precision, s.recall, s.f1, s.support
        )));
    }
    frame.render_widget(
        Paragraph::new(rows)
            .block(Block::bordered().title(Span::styled(" Per class ", theme.title()))),
        table_area,
    );

    // Per-epoch figures, newest epochs kept when they do not all fit.
    let fit = (epochs.width.saturating_sub(13) / 6) as usize;
    let shown = &outcome.epochs[outcome.epochs.len().saturating_sub(fit)..];
    // A space before every value, whatever its width, so two never run together.
    let row = |label: &str, style, value: &dyn Fn(&EpochStats) -> String| {
        let mut spans = vec![Span::styled(format!(" {label:<10}"), style)];
        spans.extend(shown.iter().map(|e| Span::raw(format!(" {:>5}", value(e)))));
        Line::from(spans)
    };
    // In units of the largest rate's power of ten, so each fits a column: 2e-3, 1.6e-3 and
    // 1.28e-3 read 2.000 1.600 1.280 under `lr ×1e-3`.
    let lr_max = outcome.epochs.iter().map(|e| e.lr).fold(0.0, f64::max);
    let lr_exp = if lr_max > 0.0 {
        lr_max.log10().floor() as i32
    } else {
        0
    };
    let lr_unit = 10f64.powi(lr_exp);
    let lr_label = if lr_exp == 0 {
        "lr".to_string()
    } else {
        format!("lr ×1e{lr_exp}")
    };
    let lines = vec![
        row("epoch", theme.dim(), &|e| e.epoch.to_string()),
        row("val acc", theme.val(), &|e| {
            format!("{:.3}", e.val_accuracy)
        }),
        row("train acc", theme.train(), &|e| {
            format!("{:.3}", e.train_accuracy)
        }),
        row("val loss", theme.val(), &|e| format!("{:.3}", e.val_loss)),
        row("train loss", theme.train(), &|e| {
            format!("{:.3}", e.train_loss)
        }),
        row(&lr_label, theme.dim(), &|e| scaled(e.lr / lr_unit)),
        row("seconds", theme.dim(), &|e| format!("{:.0}", e.seconds)),
    ];
    // The whole configuration below the epochs, where the terminal is tall enough.
    let rows = lines.len() as u16 + 2;
    let [epochs, config] = if epochs.height >= rows + 4 {
        Layout::vertical([Constraint::Length(rows), Constraint::Min(0)]).areas(epochs)
    } else {
        [epochs, Rect::default()]
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(Span::styled(
            format!(" Per epoch · val: {} ", run.config.validation_label()),
            theme.title(),
        ))),
        epochs,
    );
    let mut spans = Vec::new();
    for (i, (key, value)) in super::config_pairs::pairs(&run.config)
        .into_iter()
        .enumerate()
    {
        let sep = if i == 0 { " " } else { " · " };
        spans.push(Span::styled(format!("{sep}{key} "), theme.dim()));
        spans.push(Span::raw(value));
    }
    frame.render_widget(
        Paragraph::new(Line::from(spans))
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(Block::bordered().title(Span::styled(" Configuration ", theme.title()))),
        config,
    );
}

/// A rate in the lr row's unit, in at most five characters.
fn scaled(x: f64) -> String {
    if x == 0.0 || x >= 0.001 {
        format!("{x:.3}")
    } else {
        format!("{x:.0e}")
    }
}
