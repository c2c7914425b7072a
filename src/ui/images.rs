//! The test images behind a cell of the confusion matrix, as pictures: the terminal's own
//! graphics protocol where it has one (kitty, sixel or iTerm2, as ratatui-image found at
//! start), Unicode half-blocks everywhere else, and shades of characters without colour.

use std::sync::OnceLock;

use image::{DynamicImage, RgbImage};
use ratatui::Frame;
use ratatui::layout::{Rect, Size};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui_image::picker::{Picker, ProtocolType};
use ratatui_image::{Image, Resize};

use super::theme::Theme;
use crate::app::{App, Cell};
use cifar_engine::data::CLASSES;

/// The picker the terminal was found to take, set once at start; without it (tests, a
/// terminal that did not answer) half-blocks.
static PICKER: OnceLock<Picker> = OnceLock::new();

/// How pictures are drawn from now on.
pub fn use_picker(picker: Picker) {
    let _ = PICKER.set(picker);
}

/// What the terminal was found to take, for the log.
pub fn protocol() -> ProtocolType {
    PICKER
        .get()
        .map_or(ProtocolType::Halfblocks, Picker::protocol_type)
}

/// Pixels of a CIFAR-10 image a side.
const SIDE: u32 = 32;

/// Shades from dark to light, for terminals without colour (`NO_COLOR`, `TERM=linux` keeps
/// colour): more ink, more light.
const SHADES: &[char] = &[' ', '.', ':', '-', '=', '+', '*', '#', '%', '@'];

/// A bordered panel drawn over what was there, titled above and below; the room inside it.
pub(super) fn framed(
    frame: &mut Frame,
    area: Rect,
    title: String,
    bottom: &str,
    theme: &Theme,
) -> Rect {
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .title(Span::styled(title, theme.title()))
        .title_bottom(Span::styled(bottom.to_string(), theme.dim()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    inner
}

/// Why a panel has no pictures, in its room.
pub(super) fn say(frame: &mut Frame, inner: Rect, text: String) {
    frame.render_widget(
        Paragraph::new(Line::raw(text)).wrap(Wrap { trim: true }),
        inner,
    );
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, cell: Cell, theme: &Theme) {
    let (truth, predicted) = (CLASSES[cell.truth], CLASSES[cell.predicted]);
    let outcome = app.results().and_then(|r| r.outcome().map(|o| (r, o)));
    let hits = outcome.map(|(_, o)| o.predictions.cell(cell.truth, cell.predicted));
    let order = if cell.truth == cell.predicted {
        "least sure first"
    } else {
        "surest first"
    };
    let count = outcome.map_or(0, |(_, o)| o.confusion.counts[cell.truth][cell.predicted]);
    let title = format!(" {truth} predicted {predicted}: {count} image(s), {order} ");
    let inner = framed(frame, area, title, " ←↑↓→ next cell · Esc back ", theme);
    let say = |frame: &mut Frame, text: String| say(frame, inner, text);
    let (Some((run, o)), Some(hits)) = (outcome, hits) else {
        return say(frame, "No finished run is shown.".into());
    };
    if o.predictions.is_empty() {
        return say(
            frame,
            if run.id > 0 {
                format!(
                    "Reading run #{}'s predictions from the history… (a run recorded before \
                     they were kept has none)",
                    run.id
                )
            } else {
                "This run has no predictions kept: its cells have counts, no images.".into()
            },
        );
    }
    let Some(images) = &app.test_images else {
        return say(
            frame,
            "The test images are not loaded: they come with the data (`--data DIR`).".into(),
        );
    };
    let test = &images.0.test;
    // Predictions made on other images (another copy of the data) must not be shown as these.
    if hits
        .iter()
        .any(|(i, p)| test.labels.get(*i) != Some(&p.truth))
    {
        return say(
            frame,
            "These predictions were made on other test images than the ones loaded: not shown."
                .into(),
        );
    }
    if hits.is_empty() {
        return say(frame, format!("No {truth} was predicted {predicted}."));
    }
    // Whole pixels where four pictures fit a row (a half-block is one pixel wide and two
    // high), else every other pixel.
    let full = inner.width >= 4 * (SIDE as u16 + 1) && inner.height > SIDE as u16 / 2;
    let (w, h) = if full {
        (SIDE as u16, SIDE as u16 / 2)
    } else {
        (SIDE as u16 / 2, SIDE as u16 / 4)
    };
    let cols = ((inner.width + 1) / (w + 1)).max(1);
    let rows = (inner.height / (h + 1)).max(1);
    for (k, (i, p)) in hits.iter().take((cols * rows) as usize).enumerate() {
        let (c, r) = (k as u16 % cols, k as u16 / cols);
        let tile = Rect::new(inner.x + c * (w + 1), inner.y + r * (h + 1), w, h);
        if tile.right() > inner.right() || tile.bottom() >= inner.bottom() {
            break;
        }
        let caption = Rect::new(tile.x, tile.bottom(), w, 1);
        let text = format!("{:.2} #{i}", p.probability());
        frame.render_widget(Paragraph::new(Span::styled(text, theme.dim())), caption);
        show(frame, tile, &planes(test.image(*i)), theme);
    }
}

/// A 32x32 picture from its three colour planes (the data keeps each plane whole).
pub(super) fn planes(pixels: &[u8]) -> RgbImage {
    let plane = (SIDE * SIDE) as usize;
    RgbImage::from_fn(SIDE, SIDE, |x, y| {
        let at = (y * SIDE + x) as usize;
        image::Rgb([pixels[at], pixels[plane + at], pixels[2 * plane + at]])
    })
}

/// A picture in `tile`, by the terminal's protocol, half-blocks, or without colour shades.
pub(super) fn show(frame: &mut Frame, tile: Rect, picture: &RgbImage, theme: &Theme) {
    if !theme.color {
        frame.render_widget(
            Paragraph::new(shades(picture, tile.width, tile.height)),
            tile,
        );
        return;
    }
    let picker = PICKER.get().cloned().unwrap_or_else(Picker::halfblocks);
    let image = DynamicImage::ImageRgb8(picture.clone());
    let size = Size::new(tile.width, tile.height);
    match picker.new_protocol(image, size, Resize::Scale(None)) {
        Ok(protocol) => frame.render_widget(Image::new(&protocol), tile),
        Err(e) => tracing::warn!("a picture was not drawn: {e}"),
    }
}

/// A picture in `w`x`h` characters of grey, each the mean brightness of the pixels it covers.
fn shades(picture: &RgbImage, w: u16, h: u16) -> Vec<Line<'static>> {
    let (w, h) = (u32::from(w).max(1), u32::from(h).max(1));
    // The pixels character `c` of `n` covers along a side of `len` pixels: at least one.
    let span = |c: u32, n: u32, len: u32| {
        let start = c * len / n;
        start..((c + 1) * len).div_ceil(n).max(start + 1).min(len)
    };
    (0..h)
        .map(|cy| {
            let row: String = (0..w)
                .map(|cx| {
                    let (mut sum, mut count) = (0u32, 0u32);
                    for y in span(cy, h, picture.height()) {
                        for x in span(cx, w, picture.width()) {
                            let [r, g, b] = picture.get_pixel(x, y).0;
                            // Rec. 601 luma, in thousandths.
                            sum += 299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b);
                            count += 1;
                        }
                    }
                    let luma = sum / (count.max(1) * 1000);
                    SHADES[(luma as usize * SHADES.len() / 256).min(SHADES.len() - 1)]
                })
                .collect();
            Line::raw(row)
        })
        .collect()
}
