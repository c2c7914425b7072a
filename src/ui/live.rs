//! Live panels of the Train screen: progress gauge, loss sparkline, accuracy per epoch.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, Gauge, GraphType, Paragraph};

use super::clock;
use super::theme::Theme;
use crate::app::{App, DataState};
use crate::run::{Run, Status};

pub fn gauge(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let queued = match app.queued() {
        0 => String::new(),
        n => format!(" +{n} queued"),
    };
    let Some(run) = app.live_run() else {
        let line = match &app.data {
            DataState::Failed(_) => Line::styled(" no data: training is off", theme.bad()),
            DataState::Skipped => Line::raw(" replays only: no data is loaded to train on"),
            DataState::Loading(_) => Line::raw(" getting CIFAR-10 ready…"),
            DataState::Ready { .. } => Line::from(vec![
                Span::raw(" press "),
                Span::styled("s", theme.key()),
                Span::raw(" to train, "),
                Span::styled("a", theme.key()),
                Span::raw(" for the study"),
            ]),
        };
        let hint = Paragraph::new(line)
            .block(Block::bordered().title(Span::styled(" Run ", theme.title())));
        frame.render_widget(hint, area);
        return;
    };
    let replay = match run.replaying {
        Some(r) => format!(" · replay of #{} at {}×", r.of, r.speed),
        None if app.watched.contains(&run.key) => match &run.trainer {
            Some(t) => format!(" · trained by {t}"),
            None => " · trained by another process".into(),
        },
        None => String::new(),
    };
    let title = format!(
        " Run {} {}{}{}{replay} ",
        run.number(),
        run.name,
        run.subset_note(),
        queued
    );
    let width = area.width.saturating_sub(2) as usize;
    // The first that fits the gauge.
    let fit = |forms: Vec<String>| {
        let last = forms.last().cloned().unwrap_or_default();
        forms
            .into_iter()
            .find(|f| f.chars().count() <= width)
            .unwrap_or(last)
    };
    let label = match &run.status {
        Status::Starting if let Some(step) = run.fitting_zca => {
            let now = match step {
                0 => "covariance".to_string(),
                k => format!("step {k} of at most {}", cifar_engine::zca::MAX_STEPS),
            };
            fit(vec![
                format!("fitting ZCA whitening: {now} · minutes on a CPU · x cancels"),
                format!("fitting ZCA whitening: {now}"),
            ])
        }
        Status::Starting | Status::Running(None) if let Some((done, total)) = run.preparing => {
            fit(vec![
                format!("preparing GPU kernels {done}/{total} · tuned once per machine, then kept"),
                format!("preparing GPU kernels {done}/{total}"),
            ])
        }
        Status::Running(Some(p)) if run.evaluating => format!(
            "epoch {}/{} · scoring the test set…",
            p.epoch + 1,
            run.config.epochs
        ),
        Status::Running(Some(p)) => {
            let eta = run.eta().map(clock).unwrap_or_else(|| "…".into());
            let (epoch, epochs) = (p.epoch + 1, run.config.epochs);
            // Training speed: the steps alone, not the test set's scoring.
            fit(vec![
                format!(
                    "epoch {epoch}/{epochs} · step {}/{} · {:.0} img/s training · ETA {eta}",
                    p.step, p.steps_per_epoch, p.images_per_sec
                ),
                format!(
                    "epoch {epoch}/{epochs} · {:.0} img/s training · ETA {eta}",
                    p.images_per_sec
                ),
                format!(
                    "epoch {epoch}/{epochs} · {:.0} img/s · ETA {eta}",
                    p.images_per_sec
                ),
            ])
        }
        // The run's speed over every epoch, the test set's scoring included.
        Status::Finished(o) => fit(vec![
            format!(
                "done in {} · test acc {:.4} · {:.0} img/s overall",
                clock(o.seconds),
                o.report.accuracy,
                o.images_per_sec
            ),
            format!(
                "done in {} · test acc {:.4}",
                clock(o.seconds),
                o.report.accuracy
            ),
        ]),
        Status::Failed(why) | Status::Diverged(why) => {
            format!("{}: {why}", run.status.label())
        }
        other => other.label().to_string(),
    };
    let ratio = run.progress();
    frame.render_widget(
        Gauge::default()
            .block(Block::bordered().title(Span::styled(title, theme.title())))
            .gauge_style(theme.gauge())
            .ratio(if ratio.is_finite() {
                ratio.clamp(0.0, 1.0)
            } else {
                0.0
            })
            .label(label),
        area,
    );
}

/// Several runs training at once: a row each with its progress, speed and ETA, oldest first.
pub fn runs(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let training: Vec<&Run> = app.runs.iter().filter(|r| r.status.is_active()).collect();
    let shown = area.height.saturating_sub(2) as usize;
    let replays = training.iter().filter(|r| r.replaying.is_some()).count();
    let mut title = match (training.len() - replays, replays) {
        (n, 0) => format!(" {n} runs training"),
        (0, n) => format!(" {n} runs replaying"),
        (n, k) => format!(" {n} training, {k} replaying"),
    };
    if training.len() > shown {
        title.push_str(&format!(", {} below", training.len() - shown));
    }
    if app.queued() > 0 {
        title.push_str(&format!(" +{} queued", app.queued()));
    }
    title.push(' ');
    let width = area.width.saturating_sub(2) as usize;
    // The bar only where there is room for it; the figures always.
    let bar_width = width.saturating_sub(44).min(16);
    let lines: Vec<Line> = training
        .iter()
        .take(shown)
        .enumerate()
        .map(|(i, run)| {
            let done = run.progress();
            let filled = ((done * bar_width as f64).round() as usize).min(bar_width);
            let bar = match bar_width {
                0 => String::new(),
                n => format!(" {}{}", "█".repeat(filled), "░".repeat(n - filled)),
            };
            let name = super::ellipsis(&run.short_name(), 12);
            let (epoch, speed) = match &run.status {
                Status::Running(Some(p)) => (
                    format!("{}/{}", p.epoch + 1, run.config.epochs),
                    speed(p.images_per_sec),
                ),
                _ if run.preparing.is_some() => ("-".into(), "warmup".into()),
                _ if run.fitting_zca.is_some() => ("-".into(), "zca".into()),
                _ => ("-".into(), "start".into()),
            };
            let eta = match (run.preparing, run.eta()) {
                (Some((done, total)), _) => format!("{done}/{total}"),
                (None, eta) => eta.map(clock).unwrap_or_else(|| "…".into()),
            };
            let text = format!(
                " {:<4} {name:<12} {epoch:>5}{bar} {:>3.0}% {speed:>6} {eta:>6}",
                run.number(),
                done * 100.0
            );
            // The row starts with the run's marker in its colour: the charts' legend.
            let (style, marker) = theme.series(i);
            Line::from(vec![
                Span::styled(Theme::glyph(marker), style),
                Span::raw(
                    text.chars()
                        .take(width.saturating_sub(1))
                        .collect::<String>(),
                ),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(Span::styled(title, theme.title()))),
        area,
    );
}

/// Several runs training at once: each one's smoothed training loss (`loss`) or validation
/// accuracy, overlaid on one epoch axis, in the marker and colour its row in [`runs`] starts
/// with.
pub fn by_run(frame: &mut Frame, area: Rect, app: &App, loss: bool, theme: &Theme) {
    let training: Vec<&Run> = app.runs.iter().filter(|r| r.status.is_active()).collect();
    let epochs = training.iter().map(|r| r.config.epochs).max().unwrap_or(1);
    let width = area.width.saturating_sub(2) as usize * 2;
    let curves: Vec<Vec<(f64, f64)>> = training
        .iter()
        .map(|r| {
            if loss {
                thin(&loss_curve(r, r.config.epochs.max(1)), width)
            } else {
                r.validation(|_, accuracy| accuracy)
            }
        })
        .collect();
    let values = curves.iter().flatten().map(|p| p.1);
    let (lo, hi, labels) = if loss {
        loss_axis(values)
    } else {
        let (lo, hi) = zoom(values);
        let labels = if curves.iter().all(|c| c.is_empty()) {
            Vec::new()
        } else {
            vec![format!("{lo:.2}"), format!("{hi:.2}")]
        };
        (lo, hi, labels)
    };
    let datasets: Vec<Dataset> = curves
        .iter()
        .enumerate()
        .map(|(i, points)| {
            let (style, marker) = theme.series(i);
            Dataset::default()
                .marker(marker)
                .graph_type(GraphType::Line)
                .style(style)
                .data(points)
        })
        .collect();
    let title = if loss {
        " Loss by run (train) "
    } else {
        " Val accuracy by run "
    };
    frame.render_widget(
        Chart::new(datasets)
            .block(Block::bordered().title(Span::styled(title, theme.title())))
            .x_axis(epoch_axis(epochs))
            .y_axis(Axis::default().bounds([lo, hi]).labels(labels)),
        area,
    );
}

/// A run's training loss, smoothed, each point at its place in epochs: where its report
/// window ended.
fn loss_curve(r: &Run, epochs: usize) -> Vec<(f64, f64)> {
    smooth(r.loss_curve(), 0.3)
        .into_iter()
        .map(|(at, l)| (at.min(epochs as f64), l))
        .collect()
}

/// A loss axis: the values' range and its two ends as labels; no figures, no numbers.
fn loss_axis(values: impl Iterator<Item = f64>) -> (f64, f64, Vec<String>) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo.is_finite() {
        let hi = hi.max(lo + 1e-3);
        (lo, hi, vec![format!("{lo:.2}"), format!("{hi:.2}")])
    } else {
        (0.0, 1.0, Vec::new())
    }
}

/// Images per second in six characters: `1.8k/s`, `950/s`.
fn speed(images_per_sec: f64) -> String {
    if images_per_sec >= 1000.0 {
        format!("{:.1}k/s", images_per_sec / 1000.0)
    } else {
        format!("{images_per_sec:.0}/s")
    }
}

/// Exponential moving average of the values, each kept at its place, so the chart shows the
/// trend rather than batch noise. Values that are not finite are left out.
pub fn smooth(points: impl IntoIterator<Item = (f64, f64)>, alpha: f64) -> Vec<(f64, f64)> {
    let mut acc = None;
    points
        .into_iter()
        .filter(|p| p.1.is_finite())
        .map(|(at, v)| {
            let next = acc.map_or(v, |a: f64| a + alpha * (v - a));
            acc = Some(next);
            (at, next)
        })
        .collect()
}

/// Training loss (smoothed, at its place in epochs) and validation loss after each epoch, on an
/// epoch axis: the whole run, or with `recent` its last epoch's worth of steps, zoomed to them.
pub fn loss(
    frame: &mut Frame,
    area: Rect,
    run: Option<&Run>,
    planned: usize,
    recent: bool,
    theme: &Theme,
) {
    let epochs = run.map_or(planned, |r| r.config.epochs).max(1);
    let inner_width = area.width.saturating_sub(2) as usize;
    let train = run.map(|r| loss_curve(r, epochs)).unwrap_or_default();
    let val = run
        .map(|r| r.validation(|loss, _| loss))
        .unwrap_or_default();
    // The recent window: one epoch back from the newest point.
    let (from, to) = match train.last() {
        Some(&(now, _)) if recent => ((now - 1.0).max(0.0), (now - 1.0).max(0.0) + 1.0),
        _ => (0.0, epochs as f64),
    };
    let within = |p: &&(f64, f64)| p.0 >= from && p.0 <= to;
    let train = thin(
        &train.iter().filter(within).copied().collect::<Vec<_>>(),
        inner_width * 2,
    );
    let val: Vec<(f64, f64)> = val.iter().filter(within).copied().collect();
    let (lo, hi, y_labels) = loss_axis(train.iter().chain(&val).map(|p| p.1));
    let (train_marker, val_marker) = (theme.marker(0), theme.marker(1));
    let name = if recent {
        " Loss, last epoch "
    } else {
        " Loss "
    };
    let title = legend(name, &train, &val, theme);
    let datasets = vec![
        Dataset::default()
            .marker(train_marker)
            .graph_type(GraphType::Line)
            .style(theme.train())
            .data(&train),
        Dataset::default()
            .marker(val_marker)
            .graph_type(GraphType::Line)
            .style(theme.val())
            .data(&val),
    ];
    // A short panel keeps its rows for the curve: the accuracy chart below has the same
    // epoch axis.
    let x_axis = if recent {
        Axis::default()
            .bounds([from, to])
            .labels([format!("{from:.1}"), format!("{to:.1} ep")])
    } else if area.height >= 10 {
        epoch_axis(epochs)
    } else {
        Axis::default().bounds([0.0, epochs as f64])
    };
    frame.render_widget(
        Chart::new(datasets)
            .block(Block::bordered().title(title))
            .x_axis(x_axis)
            .y_axis(Axis::default().bounds([lo, hi]).labels(y_labels)),
        area,
    );
}

/// A chart's title: its name, then each series' marker, name and latest value, so the legend
/// reads without colour.
fn legend(
    name: &'static str,
    train: &[(f64, f64)],
    val: &[(f64, f64)],
    theme: &Theme,
) -> Line<'static> {
    let last = |s: &[(f64, f64)]| s.last().map_or("–".into(), |p| format!("{:.3}", p.1));
    Line::from(vec![
        Span::styled(name, theme.title()),
        Span::styled(
            // The latest report window's mean, not an epoch's (which Results shows): `now`.
            format!(
                "{} train now {} ",
                Theme::glyph(theme.marker(0)),
                last(train)
            ),
            theme.train(),
        ),
        Span::styled(
            format!("{} val {} ", Theme::glyph(theme.marker(1)), last(val)),
            theme.val(),
        ),
    ])
}

/// Epochs from 0 (the start) to the last, labelled at both ends and in the middle.
fn epoch_axis(epochs: usize) -> Axis<'static> {
    let mut labels = vec!["0".to_string()];
    if epochs >= 4 {
        labels.push(format!("{}", epochs as f64 / 2.0));
    }
    labels.push(format!("{epochs} ep"));
    Axis::default().bounds([0.0, epochs as f64]).labels(labels)
}

/// At most `n` points, evenly picked, the last always kept.
fn thin(points: &[(f64, f64)], n: usize) -> Vec<(f64, f64)> {
    if points.len() <= n || n < 2 {
        return points.to_vec();
    }
    let mut out: Vec<(f64, f64)> = (0..n - 1).map(|i| points[i * points.len() / n]).collect();
    out.extend(points.last());
    out
}

/// The y range that shows accuracies: 0.05 steps around them, at least 0.05 wide, in [0, 1];
/// the whole [0, 1] with no data. Two points at 0.380 and 0.361 then lie rows apart.
pub fn zoom(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let lo = ((lo * 20.0).floor() / 20.0).clamp(0.0, 0.95);
    let hi = ((hi * 20.0).ceil() / 20.0).clamp(lo + 0.05, 1.0);
    (lo.min(hi - 0.05), hi)
}

/// Accuracy: running train accuracy as it trains, validation after each epoch, zoomed to the
/// values. `planned` is the epoch count shown before any run.
pub fn accuracy(frame: &mut Frame, area: Rect, run: Option<&Run>, planned: usize, theme: &Theme) {
    let epochs = run.map_or(planned, |r| r.config.epochs).max(1);
    let per_epoch: Vec<(f64, f64)> = run
        .map(|r| {
            r.epochs
                .iter()
                .map(|e| (e.epoch as f64, e.train_accuracy))
                .collect()
        })
        .unwrap_or_default();
    let val = run
        .map(|r| r.validation(|_, accuracy| accuracy))
        .unwrap_or_default();
    // Within the epoch where its reports kept it; per epoch for runs recorded before.
    let width = area.width.saturating_sub(2) as usize * 2;
    let within = run.map(Run::accuracy_curve).unwrap_or_default();
    let train = if within.is_empty() {
        per_epoch
    } else {
        thin(&within, width)
    };
    let (lo, hi) = zoom(train.iter().chain(&val).map(|p| p.1));
    let (train_marker, val_marker) = (theme.marker(0), theme.marker(1));
    let title = legend(" Accuracy ", &train, &val, theme);
    let datasets = vec![
        Dataset::default()
            .name("train")
            .marker(train_marker)
            .graph_type(GraphType::Line)
            .style(theme.train())
            .data(&train),
        Dataset::default()
            .name("val")
            .marker(val_marker)
            .graph_type(GraphType::Line)
            .style(theme.val())
            .data(&val),
    ];
    let chart = Chart::new(datasets)
        .block(Block::bordered().title(title))
        .x_axis(epoch_axis(epochs))
        .y_axis(Axis::default().bounds([lo, hi]).labels([
            format!("{lo:.2}"),
            format!("{:.3}", (lo + hi) / 2.0),
            format!("{hi:.2}"),
        ]))
        .hidden_legend_constraints((
            ratatui::layout::Constraint::Percentage(0),
            ratatui::layout::Constraint::Percentage(0),
        ));
    frame.render_widget(chart, area);
}
