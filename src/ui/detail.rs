//! The detail view: a run, a sweep task or this session's messages, whole, wrapped to the
//! screen and scrolled as a pager.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::config_pairs;
use super::theme::Theme;
use crate::app::App;
use crate::app::detail::{Detail, Extent, Subject};
use crate::run::variants::{self, Answer, Trial};
use crate::run::{Run, RunKey, Status};
use crate::store::sweep::{Folder, TaskState};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, d: &Detail, theme: &Theme) {
    let (title, mut lines) = match &d.subject {
        Subject::Session(key) => match app.runs.iter().find(|r| r.key == *key) {
            Some(run) => (format!(" Run {} ", run.number()), run_lines(run, theme)),
            None => (
                " Run ".into(),
                vec![Line::raw("That run is no longer here.")],
            ),
        },
        Subject::Stored(run) => (format!(" Run {} ", run.number()), run_lines(run, theme)),
        Subject::Task(i) => (format!(" Sweep task {i} "), task_lines(app, *i, theme)),
        Subject::Notices => (
            " Messages of this session ".into(),
            notice_lines(app, theme),
        ),
        Subject::Study { name, runs } => (
            format!(" The {name} study "),
            study_lines(app, runs, area.width.saturating_sub(2) as usize, theme),
        ),
    };
    lines.push(Line::raw(""));
    let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
    let rows = area.height.saturating_sub(2) as usize;
    let extent = Extent {
        lines: paragraph.line_count(area.width.saturating_sub(2)),
        rows,
    };
    d.extent.set(extent);
    let top = d.top.min(extent.last_top());
    let keys = if extent.lines > rows {
        format!(
            " lines {}-{} of {} · ↑↓ PgUp PgDn Home End · Esc closes ",
            top + 1,
            (top + rows).min(extent.lines),
            extent.lines
        )
    } else {
        " Esc closes ".into()
    };
    frame.render_widget(Clear, area);
    frame.render_widget(
        paragraph.scroll((top as u16, 0)).block(
            Block::bordered()
                .title(Span::styled(title, theme.title()))
                .title_bottom(Line::styled(keys, theme.dim())),
        ),
        area,
    );
}

/// `label` then `value`, as every detail line reads.
fn field<'a>(label: &str, value: impl Into<String>, theme: &Theme) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{label:<16}"), theme.dim()),
        Span::raw(value.into()),
    ])
}

fn run_lines<'a>(run: &Run, theme: &Theme) -> Vec<Line<'a>> {
    let status = match &run.status {
        Status::Running(Some(p)) => format!(
            "running, epoch {}/{} step {}/{}",
            p.epoch + 1,
            run.config.epochs,
            p.step,
            p.steps_per_epoch
        ),
        s => s.label().to_string(),
    };
    let mut lines = vec![
        field("name", run.name.clone(), theme),
        field("status", status, theme),
    ];
    if let Some(why) = run.status.reason() {
        lines.push(Line::from(vec![
            Span::styled(format!("{:<16}", "why"), theme.dim()),
            Span::styled(why.to_string(), theme.bad()),
        ]));
    }
    if run.status.resumable() {
        lines.push(field("", "R on History resumes it", theme));
    }
    if let Some(at) = &run.created_at {
        lines.push(field("queued at", at.clone(), theme));
    }
    if let Some(device) = run.device_label() {
        lines.push(field("device", device, theme));
    }
    if let Some(o) = &run.origin {
        let job = o.job.as_deref().unwrap_or("-");
        let text = format!("{} task {} (job {job}) on {}", o.sweep, o.task, o.host);
        lines.push(field("sweep", text, theme));
    }
    lines.push(field("tricks", run.tricks_label(), theme));
    let images = run.config.train_images();
    lines.push(field("train images", images.to_string(), theme));
    lines.push(field("validated on", run.config.validation_label(), theme));
    if let Some(o) = run.outcome() {
        let text = format!(
            "test accuracy (micro-F1) {:.4} · macro-F1 {:.4} · {:.0} s · Enter: its results",
            o.report.accuracy, o.report.macro_f1, o.seconds
        );
        lines.push(Line::raw(""));
        lines.push(field("result", text, theme));
    }
    if !run.epochs.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            "epoch       lr  train loss  train acc  val loss  val acc  seconds",
            theme.dim(),
        ));
        for e in &run.epochs {
            lines.push(Line::raw(format!(
                "{:>5} {:>8.2e} {:>11.4} {:>10.4} {:>9.4} {:>8.4} {:>8.1}",
                e.epoch,
                e.lr,
                e.train_loss,
                e.train_accuracy,
                e.val_loss,
                e.val_accuracy,
                e.seconds
            )));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("configuration", theme.dim()));
    let pairs = config_pairs::pairs(&run.config);
    let width = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (k, v) in pairs {
        lines.push(Line::from(vec![
            Span::styled(format!("  {k:<width$}  "), theme.dim()),
            Span::raw(v),
        ]));
    }
    lines
}

fn task_lines<'a>(app: &App, i: usize, theme: &Theme) -> Vec<Line<'a>> {
    let Some(watch) = &app.sweep else {
        return vec![Line::raw("No sweep is watched.")];
    };
    let Some(Ok(s)) = &watch.snapshot else {
        return vec![Line::raw("The sweep has not been read yet.")];
    };
    let (Some(spec), Some(state)) = (s.plan.tasks.get(i), s.states.get(i)) else {
        return vec![Line::raw("The plan holds no such task.")];
    };
    let folder = Folder(watch.dir.clone());
    let mut lines = vec![
        field("name", spec.name.clone(), theme),
        field("seed", spec.config.seed.to_string(), theme),
        field("state", state.label(), theme),
    ];
    let detail = match state {
        TaskState::Queued => None,
        TaskState::Requeued {
            epochs_done,
            attempts,
        } => Some(format!(
            "{epochs_done} epoch(s) done in {attempts} attempt(s); it goes on from its checkpoint"
        )),
        TaskState::Running {
            host,
            job,
            attempt,
            epoch,
            epochs,
        } => Some(format!(
            "on {host}, job {}, attempt {attempt}, epoch {}/{epochs}{}",
            job.as_deref().unwrap_or("-"),
            epoch.map_or(0, |e| e.0),
            epoch.map_or(String::new(), |e| format!(", val accuracy {:.4}", e.1))
        )),
        TaskState::Finished { accuracy, host } => Some(format!(
            "test accuracy {accuracy:.4}{}",
            host.as_deref()
                .map_or(String::new(), |h| format!(" on {h}"))
        )),
        TaskState::Failed { message } => Some(message.clone()),
        TaskState::Unreadable { why } => Some(why.clone()),
    };
    if let Some(text) = detail {
        let bad = matches!(
            state,
            TaskState::Failed { .. } | TaskState::Unreadable { .. }
        );
        let style = if bad { theme.bad() } else { theme.key() };
        lines.push(Line::from(vec![
            Span::styled(format!("{:<16}", ""), theme.dim()),
            Span::styled(text, style),
        ]));
    }
    lines.push(field(
        "tricks",
        cifar_engine::tricks::describe_config(&spec.config),
        theme,
    ));
    let log = folder.logs().join(format!("task-{i}.log"));
    lines.push(field("log", log.display().to_string(), theme));
    lines.push(field(
        "progress",
        folder.progress(i).display().to_string(),
        theme,
    ));
    lines.push(field(
        "result",
        folder.result(i).display().to_string(),
        theme,
    ));
    lines
}

fn notice_lines<'a>(app: &App, theme: &Theme) -> Vec<Line<'a>> {
    if app.notices.is_empty() {
        return vec![Line::styled("No message yet.", theme.dim())];
    }
    app.notices
        .iter()
        .map(|n| Line::raw(format!("· {n}")))
        .collect()
}

/// A study's scenarios and its claims, as `study --report` ends with, in rows cut to `width`
/// (a table that wraps cannot be read).
fn study_lines<'a>(app: &App, keys: &[RunKey], width: usize, theme: &Theme) -> Vec<Line<'a>> {
    let trials: Vec<Trial> = app
        .runs
        .iter()
        .filter(|r| keys.contains(&r.key))
        .filter_map(Trial::from_run)
        .collect();
    if trials.is_empty() {
        return vec![Line::raw(
            "None of its runs finished: there is nothing to report.",
        )];
    }
    let variants = variants::group(trials);
    let row = |text: String| super::ellipsis(&text, width);
    let mut lines = vec![Line::styled(
        row("scenario                  n  test accuracy (= micro-F1), 95% CI".into()),
        theme.dim(),
    )];
    for v in &variants {
        lines.push(Line::raw(row(format!(
            "{:<24} {:>2}  {}",
            v.label(),
            v.n(),
            variants::mean_ci(&v.accuracy, 4)
        ))));
    }
    let claims = variants::check_claims(&variants);
    let m = claims.iter().filter(|c| c.p.is_some()).count();
    lines.push(Line::raw(""));
    lines.push(Line::raw(format!(
        "Its claims, each a paired difference over the seeds both have (n). The interval \
         (95%), p and answer are each claim's alone, uncorrected for the {m} comparisons; \
         Holm answers for them together (5% family-wise)."
    )));
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        row("answer     Holm       n  difference         p       claim".into()),
        theme.dim(),
    ));
    for c in claims {
        let style = match c.answer_holm {
            Answer::Yes => theme.good(),
            Answer::No => theme.bad(),
            Answer::NotShown => ratatui::style::Style::default(),
        };
        let diff = c
            .difference
            .as_ref()
            .map_or("–".into(), |d| variants::signed_ci(d, 4));
        let p = variants::p_label(c.p);
        let n = c.difference.as_ref().map_or(0, |d| d.n);
        lines.push(Line::styled(
            row(format!(
                "{:<10} {:<10} {n:>1}  {diff:<18} {p:<7} {} ({} − {})",
                c.answer.label(),
                c.answer_holm.label(),
                c.claim,
                c.variant,
                c.reference
            )),
            style,
        ));
    }
    lines
}
