//! Colours and emphasis, with NO_COLOR honoured: without colour, meaning is carried by
//! bold, reverse video, markers and text alone.

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Theme {
    pub color: bool,
}

/// Series colours for overlaid curves, and markers that tell them apart without colour.
const SERIES: [Color; 8] = [
    Color::Cyan,
    Color::Yellow,
    Color::Magenta,
    Color::Green,
    Color::LightRed,
    Color::LightBlue,
    Color::White,
    Color::LightGreen,
];
const MARKERS: [Marker; 4] = [Marker::Braille, Marker::Dot, Marker::Block, Marker::Bar];

impl Theme {
    /// <https://no-color.org>: any non-empty NO_COLOR turns colour off.
    pub fn from_env() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self { color: !no_color }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }
    pub fn key(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    pub fn good(&self) -> Style {
        self.fg(Color::Green)
    }
    pub fn bad(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    pub fn train(&self) -> Style {
        self.fg(Color::Yellow)
    }
    pub fn val(&self) -> Style {
        self.fg(Color::Cyan)
    }
    pub fn cursor(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    pub fn gauge(&self) -> Style {
        if self.color {
            Style::new().fg(Color::Green).bg(Color::Black)
        } else {
            Style::new()
        }
    }
    pub fn series(&self, i: usize) -> (Style, Marker) {
        (self.fg(SERIES[i % SERIES.len()]), self.marker(i))
    }
    pub fn marker(&self, i: usize) -> Marker {
        if self.color {
            Marker::Braille
        } else {
            MARKERS[i % MARKERS.len()]
        }
    }

    /// A heatmap cell for a share in [0, 1] of the largest count: a blue→red background, or
    /// without colour, bold for the largest counts.
    pub fn heat(&self, share: f64, diagonal: bool) -> Style {
        let share = if share.is_finite() {
            share.clamp(0.0, 1.0)
        } else {
            0.0
        };
        if !self.color {
            return if diagonal || share > 0.5 {
                Style::new().add_modifier(Modifier::BOLD)
            } else {
                Style::new()
            };
        }
        // Square root so the small off-diagonal confusions are still visible.
        let t = share.sqrt();
        let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
        let bg = Color::Rgb(lerp(20.0, 200.0), lerp(30.0, 60.0), lerp(60.0, 40.0));
        let fg = if t > 0.55 { Color::White } else { Color::Gray };
        Style::new().bg(bg).fg(fg)
    }
}
