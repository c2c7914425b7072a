//! The learning-rate curve: the whole planned schedule, with the epochs done so far marked.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType};

use super::theme::Theme;
use crate::app::App;
use crate::app::params::fmt_float;
use crate::run::Run;
use cifar_engine::tricks;

pub fn draw(frame: &mut Frame, area: Rect, run: Option<&Run>, app: &App, theme: &Theme) {
    // Before any run, show what the ticked settings would do.
    let planned = match run {
        Some(r) => r.config.clone(),
        None => tricks::resolve(&app.tricks, &app.values.hyper),
    };
    let epochs = planned.epochs.max(1);
    let plan: Vec<(f64, f64)> = (0..epochs)
        .map(|e| ((e + 1) as f64, planned.lr.at(e)))
        .collect();
    let done: Vec<(f64, f64)> = run
        .map(|r| r.epochs.iter().map(|e| (e.epoch as f64, e.lr)).collect())
        .unwrap_or_default();
    let hi = plan.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let lo = plan.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    // A constant rate sits mid-panel, between 0 and twice itself; a schedule spans the
    // panel. The labels are the axis' true ends (and middle), never a guess.
    let fixed = hi - lo < hi * 1e-6;
    let (y0, y1) = if fixed { (0.0, hi * 2.0) } else { (lo, hi) };
    let labels = if fixed {
        vec!["0".to_string(), fmt_float(hi), fmt_float(y1)]
    } else {
        vec![fmt_float(lo), fmt_float(hi)]
    };
    let range = if fixed {
        format!("{} (fixed) ", fmt_float(hi))
    } else {
        format!(
            "{} → {} ",
            fmt_float(plan[0].1),
            fmt_float(plan[epochs - 1].1)
        )
    };
    let (plan_marker, done_marker) = (theme.marker(0), theme.marker(1));
    let title = Line::from(vec![
        Span::styled(" Learning rate ", theme.title()),
        Span::styled(range, theme.dim()),
        Span::styled(
            format!(
                "{} plan {} done ",
                Theme::glyph(plan_marker),
                Theme::glyph(done_marker)
            ),
            theme.dim(),
        ),
    ]);
    let datasets = vec![
        Dataset::default()
            .marker(plan_marker)
            .graph_type(GraphType::Line)
            .style(theme.dim())
            .data(&plan),
        Dataset::default()
            .marker(done_marker)
            .graph_type(GraphType::Scatter)
            .style(theme.val())
            .data(&done),
    ];
    frame.render_widget(
        Chart::new(datasets)
            .block(Block::bordered().title(title))
            // No x labels: the panel is short, and it shares its epoch axis with the
            // accuracy chart above.
            .x_axis(Axis::default().bounds([1.0, epochs.max(2) as f64]))
            .y_axis(Axis::default().bounds([y0, y1]).labels(labels)),
        area,
    );
}
