//! Which graphics protocol the terminal takes, asked of it once at start: kitty's graphics
//! query and the font size, then the device attributes (DA1), which every terminal answers
//! and which says sixel (attribute 4). The answers are read on this thread with a deadline,
//! so a terminal that answers nothing costs at most [`WAIT`] and never a key.
//!
//! ratatui-image's own query reads stdin on a thread that outlives its timeout; where nobody
//! answers (tmux keeps its passthrough off by default) that thread then ate every key typed.

use std::io::Write;
use std::time::{Duration, Instant};

use ratatui_image::picker::{Picker, ProtocolType};

/// How long the terminal has to answer.
const WAIT: Duration = Duration::from_millis(400);

/// The picker for this terminal: half-blocks unless it says it has better. Called in raw mode,
/// before any event is read.
pub fn detect() -> Picker {
    // Inside tmux an image must pass through to the outer terminal, which tmux allows only
    // when told to: half-blocks, which tmux draws itself, always work there.
    if std::env::var_os("TMUX").is_some() {
        return Picker::halfblocks();
    }
    // A console without graphics might print the kitty query's text instead of ignoring it.
    let term = std::env::var("TERM").unwrap_or_default();
    if term == "linux" || term == "dumb" || term.starts_with("vt") {
        return Picker::halfblocks();
    }
    // Kitty's graphics query, the cell size in pixels, the terminal's name and version
    // (XTVERSION), then the device attributes, which every terminal answers last.
    let answers = ask("\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\\x1b[16t\x1b[>q\x1b[c");
    let iterm = std::env::var("TERM_PROGRAM").is_ok_and(|p| p == "iTerm.app" || p == "WezTerm");
    let kind = protocol(&answers, iterm);
    match (kind, font_size(&answers)) {
        (ProtocolType::Halfblocks, _) | (_, None) => Picker::halfblocks(),
        (kind, Some(font)) => {
            // The font size is what a query would have found; the picker takes it here.
            #[allow(deprecated)]
            let mut picker = Picker::from_fontsize(font.into());
            picker.set_protocol_type(kind);
            picker
        }
    }
}

/// What the terminal answered to `query`, up to its device attributes or the deadline.
fn ask(query: &str) -> String {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut out = std::io::stdout();
    if out
        .write_all(query.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        return String::new();
    }
    let stdin = std::io::stdin();
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    while !answered(&got) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let wait = Timespec {
            tv_sec: 0,
            tv_nsec: left.subsec_nanos().into(),
        };
        let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
        if !matches!(poll(&mut fds, Some(&wait)), Ok(n) if n > 0) {
            break;
        }
        let mut buf = [0u8; 256];
        match rustix::io::read(&stdin, &mut buf) {
            Ok(k) if k > 0 => got.extend_from_slice(&buf[..k]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Whether the device attributes came (`ESC [ ? … c`): every answer before them has too.
fn answered(got: &[u8]) -> bool {
    let text = String::from_utf8_lossy(got);
    text.rfind("\x1b[?")
        .is_some_and(|at| text[at..].contains('c'))
}

/// The best protocol the answers name: kitty's, then sixel (attribute 4 of DA1), then iTerm2
/// where the environment names a terminal that has it.
fn protocol(answers: &str, iterm: bool) -> ProtocolType {
    let sixel = answers
        .rfind("\x1b[?")
        .and_then(|at| answers[at + 3..].split('c').next())
        .is_some_and(|attrs| attrs.split(';').any(|a| a == "4"));
    if answers.contains("_Gi=31;OK") && placeholders(answers) {
        ProtocolType::Kitty
    } else if sixel {
        ProtocolType::Sixel
    } else if iterm {
        ProtocolType::Iterm2
    } else {
        ProtocolType::Halfblocks
    }
}

/// A character cell in pixels, from the answer to `CSI 16 t` (`CSI 6 ; height ; width t`).
/// Whether a terminal that speaks kitty's graphics also draws its Unicode placeholders, which
/// ratatui-image places images with: kitty only from 0.28 (0.26, Debian 12's, answers the
/// query, then shows the placeholders as boxes). Other terminals are taken at their word.
fn placeholders(answers: &str) -> bool {
    let Some(at) = answers.find(">|kitty(") else {
        return true;
    };
    let version = answers[at + 8..].split(')').next().unwrap_or("");
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (0, 28)
}

fn font_size(answers: &str) -> Option<(u16, u16)> {
    let at = answers.find("\x1b[6;")?;
    let rest = &answers[at + 4..];
    let (h, rest) = rest.split_once(';')?;
    let w = rest.split('t').next()?;
    let (w, h) = (w.parse().ok()?, h.parse().ok()?);
    (w > 0 && h > 0).then_some((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_name_the_protocol_and_the_font() {
        let kitty = "\x1b_Gi=31;OK\x1b\\\x1b[6;20;10t\x1b[?62;22c";
        assert_eq!(protocol(kitty, false), ProtocolType::Kitty);
        assert_eq!(font_size(kitty), Some((10, 20)));
        // xterm -ti vt340, foot, mlterm: sixel among the attributes.
        let sixel = "\x1b[6;16;8t\x1b[?63;1;2;4;6;9;15;22c";
        assert_eq!(protocol(sixel, false), ProtocolType::Sixel);
        assert_eq!(font_size(sixel), Some((8, 16)));
        // A terminal with neither (42 is not 4), or one that answered nothing.
        let plain = "\x1b[?62;42c";
        assert_eq!(protocol(plain, false), ProtocolType::Halfblocks);
        assert_eq!(protocol("", true), ProtocolType::Iterm2);
        assert_eq!(font_size(plain), None);
        assert!(answered(plain.as_bytes()));
        // Recorded from kitty 0.26.5 and XTerm 379 (`-ti vt340`) under Xvfb: the old kitty
        // answers the graphics query but cannot place images as ratatui-image does; xterm
        // has sixel.
        let old_kitty = "\x1b_Gi=31;OK\x1b\\\x1b[6;18;9t\x1bP>|kitty(0.26.5)\x1b\\\x1b[?62;c";
        assert_eq!(protocol(old_kitty, false), ProtocolType::Halfblocks);
        assert_eq!(font_size(old_kitty), Some((9, 18)));
        let new_kitty = old_kitty.replace("0.26.5", "0.35.2");
        assert_eq!(protocol(&new_kitty, false), ProtocolType::Kitty);
        let xterm = "\x1b[6;13;6t\x1bP>|XTerm(379)\x1b\\\x1b[?63;1;2;4;6;9;15;16;22;28c";
        assert_eq!(protocol(xterm, false), ProtocolType::Sixel);
        assert_eq!(font_size(xterm), Some((6, 13)));
        assert!(!answered(b"\x1b[6;16;8t"));
    }
}
