//! What a run's network learned, as pictures: the first convolution's 32 filters (redrawn
//! after each epoch while it trains) and one training image of each class as stored and as
//! the network receives it after the input tricks.

use image::RgbImage;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::images::{framed, planes, say, show};
use super::theme::Theme;
use crate::app::App;
use crate::run::{Run, RunKey};
use cifar_engine::data::CLASSES;
use cifar_engine::pictures::{Filters, InputView};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, key: RunKey, theme: &Theme) {
    let run = app.runs.iter().find(|r| r.key == key);
    let title = match run {
        Some(r) => format!(" What run {} {} learned ", r.number(), r.name),
        None => " What the network learned ".into(),
    };
    let inner = framed(frame, area, title, " any key closes ", theme);
    let say = |frame: &mut Frame, text: String| say(frame, inner, text);
    let Some(run) = run else {
        return say(frame, "That run is gone.".into());
    };
    let kept = run.outcome().and_then(|o| o.pictures.as_ref());
    let filters = run.filters.as_ref().or(kept.map(|p| &p.filters));
    let inputs = run.inputs.as_ref().or(kept.map(|p| &p.inputs));
    let (Some(filters), Some(inputs)) = (filters, inputs) else {
        return say(frame, missing(run));
    };
    let scale = filter_scale(inner, filters.count());
    let rows = filter_rows(inner, scale, filters.count());
    let top = Rect::new(inner.x, inner.y, inner.width, rows.min(inner.height));
    draw_filters(frame, top, scale, run, filters, theme);
    let rest = Rect::new(
        inner.x,
        top.bottom() + 1,
        inner.width,
        inner.height.saturating_sub(top.height + 1),
    );
    draw_inputs(frame, rest, run, inputs, theme);
}

/// Why there is nothing to show yet, or ever.
fn missing(run: &Run) -> String {
    if let Some(r) = &run.replaying {
        return format!(
            "A replay plays the figures back, not the pictures: run #{}'s are on its Results \
             (History, Enter, Enter, then i).",
            r.of
        );
    }
    if run.outcome().is_some_and(|o| o.predictions.is_empty()) && run.id > 0 {
        format!(
            "Reading run #{}'s pictures from the history… (a run recorded before they were \
             kept has none)",
            run.id
        )
    } else if run.outcome().is_some() {
        "This run was recorded before cifar-tui kept its filters and inputs: nothing to show."
            .into()
    } else if run.trainer.is_some() {
        "Another process trains this run: its pictures show here once it has finished.".into()
    } else if run.status.is_active() {
        "The filters show once the network is built and its inputs are ready (after the ZCA \
         fit, where ZCA is ticked)."
            .into()
    } else {
        "This run has no pictures: it did not train here.".into()
    }
}

/// A filter's weight as `SCALE` x `SCALE` pixels where the room allows, each a half-block
/// pixel (square on most terminals).
fn filter_scale(area: Rect, count: usize) -> u32 {
    // At 2x, half the filters to a row: 16 x (6 + 1) columns, two rows of 3 + 1 lines.
    let per_row = (count as u32).div_ceil(2);
    if u32::from(area.width) >= per_row * 7 && area.height >= 24 {
        2
    } else {
        1
    }
}

/// Lines the filters take: a caption, then their rows.
fn filter_rows(area: Rect, scale: u32, count: usize) -> u16 {
    let (w, h) = tile(scale);
    let rows = count.div_ceil(per_row(area, w, count)) as u16;
    1 + rows * (h + 1)
}

/// Filters to a row: as many as fit, halved until the rows are even (32, 16, 8, …).
fn per_row(area: Rect, w: u16, count: usize) -> usize {
    let fit = usize::from((area.width + 1) / (w + 1)).max(1);
    let mut n = count.max(1);
    while n > fit && n > 1 {
        n = n.div_ceil(2);
    }
    n
}

/// Columns and lines of one filter at scale `s`: 3s pixels a side, two pixels a line.
fn tile(s: u32) -> (u16, u16) {
    let side = 3 * s as u16;
    (side, side.div_ceil(2))
}

fn draw_filters(frame: &mut Frame, area: Rect, scale: u32, run: &Run, f: &Filters, theme: &Theme) {
    let when = match f.epoch {
        0 => "as initialized".to_string(),
        e => format!("epoch {e}/{}", run.config.epochs),
    };
    let caption = Line::from(vec![
        Span::styled(
            format!("{} first-layer filters, ", f.count()),
            theme.title(),
        ),
        Span::styled(
            match theme.color {
                true => format!("{when} · colour = RGB weight, grey = 0"),
                false => format!("{when} · ink = weight, middle shade = 0"),
            },
            theme.dim(),
        ),
    ]);
    frame.render_widget(Paragraph::new(caption), Rect { height: 1, ..area });
    let (w, h) = tile(scale);
    let per_row = per_row(area, w, f.count()) as u16;
    for k in 0..f.count() {
        let (c, r) = (k as u16 % per_row, k as u16 / per_row);
        let t = Rect::new(area.x + c * (w + 1), area.y + 1 + r * (h + 1), w, h);
        if t.bottom() > area.bottom() {
            break;
        }
        let pixels = f.rgb(k);
        // Scaled up to the tile by whole pixels (nearest): each weight stays a square.
        let small = RgbImage::from_fn(3, 3, |x, y| image::Rgb(pixels[(y * 3 + x) as usize]));
        show(frame, t, &small, theme);
    }
}

fn draw_inputs(frame: &mut Frame, area: Rect, run: &Run, v: &InputView, theme: &Theme) {
    if area.height < 4 {
        return;
    }
    let cfg = &run.config;
    let map = match (cfg.zca, cfg.normalize) {
        (Some(eps), _) => format!("ZCA-whitened (ε {eps})"),
        (None, true) => "normalized (training set's mean, std)".into(),
        (None, false) => "pixels / 255, no input trick".into(),
    };
    let caption = vec![
        Line::from(vec![
            Span::styled("Stored | as the net gets them: ", theme.title()),
            Span::styled(map, theme.dim()),
        ]),
        Line::styled(
            format!(
                "the net's input from {:.2} (black) to {:.2} (white), one scale for all",
                v.low, v.high
            ),
            theme.dim(),
        ),
    ];
    frame.render_widget(Paragraph::new(caption), Rect { height: 2, ..area });
    // Half the pixels where a row holds fewer than three pairs at full size.
    // Two caption lines, 16 lines of picture, one of class names.
    let full = area.width >= 3 * (2 * 32 + 3) && area.height > 2 + 16;
    let (w, h) = if full { (32, 16) } else { (16, 8) };
    let pair = 2 * w + 1 + 2;
    let per_row = ((area.width + 2) / pair).max(1) as usize;
    for (k, &class) in v.classes.iter().enumerate() {
        let (c, r) = ((k % per_row) as u16, (k / per_row) as u16);
        let x = area.x + c * pair;
        let y = area.y + 2 + r * (h + 1);
        if y + h + 1 > area.bottom() {
            break;
        }
        let Some((raw, seen)) = v.image(k) else {
            break;
        };
        show(frame, Rect::new(x, y, w, h), &planes(raw), theme);
        show(frame, Rect::new(x + w + 1, y, w, h), &planes(seen), theme);
        let name = CLASSES.get(usize::from(class)).copied().unwrap_or("?");
        frame.render_widget(
            Paragraph::new(Span::styled(name, theme.dim())),
            Rect::new(x, y + h, 2 * w + 1, 1),
        );
    }
}
