//! The Sweep screen: a cluster sweep, live from its folder's progress files (what `cifar-tui
//! sweep --status` prints, kept up to date).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, TableState, Wrap};

use super::Hits;
use super::theme::Theme;
use crate::app::App;
use crate::app::sweep::SweepWatch;
use crate::store::sweep::{Cells, Folder, Snapshot, TaskState};
use cifar_engine::tricks;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, hits: &mut Hits) {
    let Some(watch) = &app.sweep else {
        return message(frame, area, " Sweep ", no_sweep(theme), theme.title());
    };
    match &watch.snapshot {
        None => message(
            frame,
            area,
            " Sweep ",
            vec![Line::raw(format!("reading {}…", watch.dir.display()))],
            theme.title(),
        ),
        Some(Err(why)) => message(
            frame,
            area,
            " Sweep ",
            vec![
                Line::styled("The sweep cannot be read:", theme.bad()),
                Line::raw(""),
                Line::raw(why.clone()),
                Line::raw(""),
                Line::styled(
                    "It is read again every second while this screen is open.",
                    theme.dim(),
                ),
            ],
            theme.bad(),
        ),
        Some(Ok(snapshot)) => tasks(frame, area, watch, snapshot, theme, hits),
    }
}

fn message(frame: &mut Frame, area: Rect, title: &str, text: Vec<Line>, style: Style) {
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(Span::styled(title.to_string(), style))),
        area,
    );
}

fn no_sweep(theme: &Theme) -> Vec<Line<'static>> {
    vec![
        Line::raw("No sweep is watched."),
        Line::raw(""),
        Line::raw("A sweep trains a study on a SLURM cluster as one job array:"),
        Line::styled(
            "  cifar-tui sweep /shared/sweep1 --study seed --seeds 5",
            theme.key(),
        ),
        Line::raw("Watch it here, live from its progress files:"),
        Line::styled("  cifar-tui --sweep /shared/sweep1", theme.key()),
        Line::raw("then press i on this screen to add its finished runs to the history."),
        Line::raw(""),
        Line::styled(
            "From a script: cifar-tui sweep --status DIR, then cifar-tui import DIR.",
            theme.dim(),
        ),
    ]
}

fn state_style(state: &TaskState, theme: &Theme) -> Style {
    match state {
        TaskState::Finished { .. } => theme.good(),
        TaskState::Failed { .. } | TaskState::Unreadable { .. } => theme.bad(),
        TaskState::Running { .. } => theme.key(),
        TaskState::Queued | TaskState::Requeued { .. } => theme.dim(),
    }
}

fn tasks(
    frame: &mut Frame,
    area: Rect,
    watch: &SweepWatch,
    s: &Snapshot,
    theme: &Theme,
    hits: &mut Hits,
) {
    let [table_area, detail] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(4)]).areas(area);
    let rows: Vec<Row> = s
        .plan
        .tasks
        .iter()
        .zip(&s.states)
        .enumerate()
        .map(|(i, (spec, state))| {
            let Cells {
                epoch,
                accuracy,
                host,
                note,
            } = state.cells(spec.config.epochs);
            Row::new(vec![
                Line::raw(format!("{i:>4}")),
                Line::raw(spec.name.clone()),
                Line::raw(format!("{:>6}", spec.config.seed)),
                Line::styled(state.label(), state_style(state, theme)),
                Line::raw(format!("{epoch:>6}")),
                Line::raw(format!("{accuracy:>8}")),
                Line::raw(host),
                Line::raw(note),
            ])
        })
        .collect();
    let title = format!(" Sweep {} · {} ", s.plan.sweep, s.plan.study);
    let mut state = TableState::default()
        .with_offset(watch.scroll.offset())
        .with_selected((!rows.is_empty()).then_some(watch.cursor));
    frame.render_stateful_widget(
        Table::new(
            rows,
            [
                Constraint::Length(4),
                Constraint::Length(14),
                Constraint::Length(6),
                Constraint::Length(8),
                Constraint::Length(6),
                Constraint::Length(8),
                Constraint::Length(10),
                Constraint::Fill(1),
            ],
        )
        .header(
            Row::new([
                "task", "name", "  seed", "state", " epoch", "accuracy", "host", "note",
            ])
            .style(theme.dim()),
        )
        .row_highlight_style(theme.cursor())
        .block(
            Block::bordered()
                .title(Span::styled(title, theme.title()))
                .title_bottom(Line::styled(format!(" {} ", s.summary()), theme.dim())),
        ),
        table_area,
        &mut state,
    );
    watch.scroll.keep(state.offset());
    hits.table(table_area, state.offset(), s.states.len(), false);
    // The row under the cursor in full (the note column is cut at 80 columns), then its log
    // and the keys; only the first line wraps.
    let i = watch.cursor;
    let (about, log) = match (s.plan.tasks.get(i), s.states.get(i)) {
        (Some(spec), Some(state)) => {
            let about = match state.cells(spec.config.epochs).note {
                note if note.is_empty() => tricks::describe_config(&spec.config),
                note => note,
            };
            let log = Folder(watch.dir.clone())
                .logs()
                .join(format!("task-{i}.log"));
            (
                format!(
                    " task {i} {} seed {} · {about}",
                    spec.name, spec.config.seed
                ),
                format!(" log {}", log.display()),
            )
        }
        _ => (" The plan holds no task.".into(), String::new()),
    };
    let [about_area, rest] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(2)]).areas(detail);
    // Cut with `…` where it would wrap out of its rows: Enter shows the task whole.
    let lines = about_area.height.max(1) as usize;
    let wraps = |text: &str| {
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .line_count(about_area.width)
    };
    let whole = about;
    let mut keep = whole.chars().count().min(lines * about_area.width as usize);
    let mut about = super::ellipsis(&whole, keep);
    while wraps(&about) > lines && keep > 1 {
        keep = keep.saturating_sub(4).max(1);
        about = super::ellipsis(&whole, keep);
    }
    frame.render_widget(
        Paragraph::new(Line::raw(about)).wrap(Wrap { trim: false }),
        about_area,
    );
    frame.render_widget(
        Paragraph::new(vec![
            Line::styled(log, theme.dim()),
            Line::styled(
                " ↑↓ task · Enter whole · i import the finished runs · read every second",
                theme.dim(),
            ),
        ]),
        rest,
    );
}
