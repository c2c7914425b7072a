//! The detail view: one row's text whole, scrolled (Enter on a History, Compare or Sweep row,
//! as lazygit's Enter and k9s's describe; `n` for this session's messages). Tables and the
//! footer cut long text with `…`; this is where it is read whole.

use std::cell::Cell;

use crate::run::{Run, RunKey};

/// What the detail view describes.
#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    /// A run of this session, by key: described as it is now, so a training run moves on.
    Session(RunKey),
    /// A run of the history as its row was read.
    Stored(Box<Run>),
    /// A task of the watched sweep, by its index.
    Task(usize),
    /// Every message this session showed in the footer, oldest first.
    Notices,
    /// A study queued in this session, ended: its scenarios and claims, as `study --report`
    /// answers them, from its runs that finished.
    Study {
        name: &'static str,
        runs: Vec<RunKey>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Detail {
    pub subject: Subject,
    /// The first line in view.
    pub top: usize,
    /// The last frame's lines and rows, as the view wrapped them to its width: a record of
    /// the last frame, so paging moves by a page and stops where the text ends.
    pub extent: Cell<Extent>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Extent {
    pub lines: usize,
    pub rows: usize,
}

impl Extent {
    /// The greatest first line: the last page full.
    pub fn last_top(self) -> usize {
        self.lines.saturating_sub(self.rows)
    }
}

/// How the view is moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    Line(isize),
    Page(isize),
    Home,
    End,
}

impl Detail {
    pub fn new(subject: Subject) -> Self {
        Self {
            subject,
            top: 0,
            extent: Cell::default(),
        }
    }

    pub fn scroll(&mut self, m: Move) {
        let extent = self.extent.get();
        let page = extent.rows.saturating_sub(1).max(1) as isize;
        let to = match m {
            Move::Line(n) => self.top as isize + n,
            Move::Page(n) => self.top as isize + n * page,
            Move::Home => 0,
            Move::End => extent.last_top() as isize,
        };
        self.top = to.clamp(0, extent.last_top() as isize) as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrolling_stops_where_the_text_ends() {
        let mut d = Detail::new(Subject::Notices);
        d.extent.set(Extent {
            lines: 30,
            rows: 10,
        });
        d.scroll(Move::Line(-1));
        assert_eq!(d.top, 0);
        d.scroll(Move::Page(1));
        assert_eq!(d.top, 9, "a page keeps one line of the last");
        d.scroll(Move::Page(5));
        assert_eq!(d.top, 20, "the last page full, not one line of it");
        d.scroll(Move::Home);
        d.scroll(Move::End);
        assert_eq!(d.top, 20);
        d.scroll(Move::Line(-3));
        assert_eq!(d.top, 17);
        // Text shorter than the view does not scroll.
        d.extent.set(Extent { lines: 4, rows: 10 });
        d.scroll(Move::End);
        assert_eq!(d.top, 0);
    }
}
