//! Colours and emphasis, fitted to what the terminal can show: 24-bit, 256 or 16 colours, or
//! none (NO_COLOR, TERM=dumb), where meaning is carried by bold, reverse video, markers and text
//! alone; braille dots for charts, or blocks on consoles without them (TERM=linux).

use crate::settings::Charts;
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Theme {
    pub color: bool,
    pub palette: Palette,
    /// Braille dots in charts; without them, blocks and dots any console draws.
    pub braille: bool,
}

/// The colours a terminal shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Palette {
    /// 24-bit (COLORTERM=truecolor or 24bit).
    Rgb,
    /// The xterm 256-colour palette (TERM=*-256color).
    Ansi256,
    /// The 16 basic colours, which every colour terminal has.
    Ansi16,
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
/// Without braille: still one marker per series.
const PLAIN_MARKERS: [Marker; 3] = [Marker::Dot, Marker::Block, Marker::Bar];

impl Theme {
    /// Full colour and braille: what tests draw with unless they say otherwise.
    pub const RICH: Theme = Theme {
        color: true,
        palette: Palette::Rgb,
        braille: true,
    };
    /// No colour at all (NO_COLOR), braille kept.
    pub const MONO: Theme = Theme {
        color: false,
        palette: Palette::Ansi16,
        braille: true,
    };

    /// From the environment: NO_COLOR (<https://no-color.org>, any non-empty value), COLORTERM
    /// and TERM; `charts` overrides the braille guess.
    pub fn from_env(charts: Charts) -> Self {
        let var = |name| std::env::var(name).ok();
        Self::detect(
            var("NO_COLOR").is_some_and(|v| !v.is_empty()),
            var("COLORTERM").as_deref(),
            var("TERM").as_deref(),
            charts,
        )
    }

    pub fn detect(
        no_color: bool,
        colorterm: Option<&str>,
        term: Option<&str>,
        charts: Charts,
    ) -> Self {
        let term = term.unwrap_or("");
        // A dumb terminal shows no colour; the Linux console and serial terminals have no
        // braille in their fonts.
        let dumb = term == "dumb";
        let console = dumb || term == "linux" || term.starts_with("vt");
        let palette = if matches!(colorterm, Some("truecolor" | "24bit")) {
            Palette::Rgb
        } else if term.contains("256color") {
            Palette::Ansi256
        } else {
            Palette::Ansi16
        };
        Self {
            color: !no_color && !dumb,
            palette,
            braille: match charts {
                Charts::Auto => !console,
                Charts::Braille => true,
                Charts::Blocks => false,
            },
        }
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
        match (self.color, self.braille) {
            (true, true) => Marker::Braille,
            (false, true) => MARKERS[i % MARKERS.len()],
            (_, false) => PLAIN_MARKERS[i % PLAIN_MARKERS.len()],
        }
    }

    /// The character a marker draws, for legends that name it.
    pub fn glyph(marker: Marker) -> &'static str {
        match marker {
            Marker::Braille => "⣿",
            Marker::Dot => "•",
            Marker::Block => "█",
            Marker::Bar => "▄",
            _ => "▀",
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
        let (r, g, b) = (lerp(20.0, 200.0), lerp(30.0, 60.0), lerp(60.0, 40.0));
        let bg = match self.palette {
            Palette::Rgb => Color::Rgb(r, g, b),
            Palette::Ansi256 => Color::Indexed(cube(r, g, b)),
            // Four steps of the basic colours, cold to hot.
            Palette::Ansi16 => [Color::Blue, Color::Magenta, Color::Red, Color::LightRed]
                [((t * 4.0) as usize).min(3)],
        };
        let fg = if t > 0.55 { Color::White } else { Color::Gray };
        Style::new().bg(bg).fg(fg)
    }
}

/// The xterm 256-colour cube's nearest entry (16 + 36r + 6g + b, levels 0, 95, 135, …, 255).
fn cube(r: u8, g: u8, b: u8) -> u8 {
    let level = |c: u8| {
        if c < 48 {
            0
        } else {
            ((c as u16 - 35) / 40).min(5) as u8
        }
    };
    16 + 36 * level(r) + 6 * level(g) + level(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_depth_and_braille_follow_the_terminal() {
        let t = |no_color, colorterm, term| Theme::detect(no_color, colorterm, term, Charts::Auto);
        let rgb = t(false, Some("truecolor"), Some("xterm-256color"));
        assert_eq!(
            (rgb.color, rgb.palette, rgb.braille),
            (true, Palette::Rgb, true)
        );
        assert_eq!(
            t(false, None, Some("screen-256color")).palette,
            Palette::Ansi256
        );
        assert_eq!(t(false, None, Some("screen")).palette, Palette::Ansi16);
        let linux = t(false, None, Some("linux"));
        assert_eq!(
            (linux.color, linux.palette, linux.braille),
            (true, Palette::Ansi16, false)
        );
        let dumb = t(false, None, Some("dumb"));
        assert_eq!((dumb.color, dumb.braille), (false, false));
        assert!(
            !t(true, Some("truecolor"), Some("xterm")).color,
            "NO_COLOR wins"
        );
        let forced = Theme::detect(false, None, Some("linux"), Charts::Braille);
        assert!(forced.braille, "the setting wins over the guess");
        let blocks = Theme::detect(false, None, Some("xterm"), Charts::Blocks);
        assert!(!blocks.braille);
    }

    #[test]
    fn heatmap_cells_use_only_colours_the_terminal_has() {
        let at = |palette| {
            Theme {
                palette,
                ..Theme::RICH
            }
            .heat(1.0, true)
            .bg
        };
        assert_eq!(at(Palette::Rgb), Some(Color::Rgb(200, 60, 40)));
        assert_eq!(
            at(Palette::Ansi256),
            Some(Color::Indexed(cube(200, 60, 40)))
        );
        assert_eq!(at(Palette::Ansi16), Some(Color::LightRed));
        assert_eq!(cube(0, 0, 0), 16);
        assert_eq!(cube(255, 255, 255), 231);
        // No braille: charts still tell series apart.
        let plain = Theme {
            braille: false,
            ..Theme::RICH
        };
        assert_ne!(plain.marker(0), plain.marker(1));
        assert!((0..4).all(|i| plain.marker(i) != Marker::Braille));
    }
}
