//! Where a table's visible rows begin, kept from one frame to the next.

use std::cell::Cell;

/// The first visible row of a table. The view reads it before drawing and writes back where
/// the table ended up, so a table only scrolls when its cursor leaves the rows in view (a
/// fresh offset every frame would re-centre it on every redraw). It is a record of the last
/// frame, not a setting: `update` never reads it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scroll(Cell<usize>);

impl Scroll {
    pub fn offset(&self) -> usize {
        self.0.get()
    }

    /// Kept by the view after drawing.
    pub fn keep(&self, offset: usize) {
        self.0.set(offset);
    }
}
