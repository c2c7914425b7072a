//! The History screen's state: stored runs of every session, sorted, filtered, selected.
//! Pure data; the rows arrive as messages.

use std::collections::BTreeSet;

use crate::run::variants::{self, Trial, Variant};
use crate::run::{Run, Status};
use cifar_engine::tricks::{TRICKS, Trick};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    Newest,
    Accuracy,
    Name,
}

impl Sort {
    pub fn label(self) -> &'static str {
        match self {
            Sort::Newest => "newest",
            Sort::Accuracy => "accuracy",
            Sort::Name => "name",
        }
    }

    fn next(self) -> Sort {
        match self {
            Sort::Newest => Sort::Accuracy,
            Sort::Accuracy => Sort::Name,
            Sort::Name => Sort::Newest,
        }
    }
}

/// Which runs the History screen lists, by how they stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Show {
    All,
    Finished,
    /// Interrupted or cancelled: `R` continues them.
    Resumable,
    /// Failed or diverged.
    Failed,
    /// Queued or training, here or in another cifar-tui.
    Active,
}

impl Show {
    pub fn label(self) -> &'static str {
        match self {
            Show::All => "all",
            Show::Finished => "finished",
            Show::Resumable => "resumable",
            Show::Failed => "failed",
            Show::Active => "active",
        }
    }

    fn next(self) -> Show {
        match self {
            Show::All => Show::Finished,
            Show::Finished => Show::Resumable,
            Show::Resumable => Show::Failed,
            Show::Failed => Show::Active,
            Show::Active => Show::All,
        }
    }

    fn admits(self, status: &Status) -> bool {
        match self {
            Show::All => true,
            Show::Finished => matches!(status, Status::Finished(_)),
            Show::Resumable => status.resumable(),
            Show::Failed => matches!(status, Status::Failed(_) | Status::Diverged(_)),
            Show::Active => matches!(
                status,
                Status::Queued | Status::Starting | Status::Running(_)
            ),
        }
    }
}

/// Whether a run matches typed text: its number, name or tricks, ignoring case.
fn matches_text(run: &Run, text: &str) -> bool {
    let text = text.trim().to_lowercase();
    text.is_empty()
        || run.id.to_string() == text.trim_start_matches('#')
        || run.name.to_lowercase().contains(&text)
        || run.tricks_label().to_lowercase().contains(&text)
}

#[derive(Clone, Debug)]
pub struct History {
    /// Every stored run, newest first, as last read.
    rows: Vec<Run>,
    pub cursor: usize,
    pub scroll: super::scroll::Scroll,
    sort: Sort,
    /// Only runs with this trick.
    filter: Option<Trick>,
    /// Only runs that stand so.
    show: Show,
    /// Only runs whose number, name or tricks contain this (`/`).
    text: String,
    /// Runs picked for the Compare screen, export or deletion (history ids).
    pub selected: BTreeSet<i64>,
    /// Why there is no history (unwritable folder, corrupt file…), if so.
    pub unavailable: Option<String>,
    /// One row per variant (finished runs of one configuration over its seeds) instead of
    /// one per run; the cursor then moves over variants.
    grouped: bool,
    /// What the screen lists, derived from the above each time one of them changes (never
    /// per frame: a history of thousands of runs is sorted and grouped once per change).
    shown: Derived,
}

/// The rows shown and the variants they group into.
#[derive(Clone, Debug, Default)]
struct Derived {
    /// Indices into `rows`, in display order.
    rows: Vec<usize>,
    /// The shown finished runs by variant, in display order.
    variants: Vec<Variant>,
    /// Every finished run of the history by variant, shown or not.
    every_variant: Vec<Variant>,
    /// Every run's history number.
    ids: BTreeSet<i64>,
}

impl Default for History {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            cursor: 0,
            scroll: Default::default(),
            sort: Sort::Newest,
            filter: None,
            show: Show::All,
            text: String::new(),
            selected: BTreeSet::new(),
            unavailable: None,
            grouped: false,
            shown: Derived::default(),
        }
    }
}

fn has_trick(run: &Run, t: Trick) -> bool {
    run.config.tricks.contains(&t)
}

impl History {
    /// Every stored run, newest first.
    pub fn rows(&self) -> &[Run] {
        &self.rows
    }

    pub fn sort(&self) -> Sort {
        self.sort
    }

    pub fn filter(&self) -> Option<Trick> {
        self.filter
    }

    pub fn show(&self) -> Show {
        self.show
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn grouped(&self) -> bool {
        self.grouped
    }

    /// The rows shown, in display order.
    pub fn visible(&self) -> Vec<&Run> {
        self.shown.rows.iter().map(|&i| &self.rows[i]).collect()
    }

    /// The visible finished runs by variant, in the screen's order (newest: by latest run;
    /// accuracy: by mean; name).
    pub fn variants(&self) -> &[Variant] {
        &self.shown.variants
    }

    /// Whether the history holds run `id`.
    pub fn holds(&self, id: i64) -> bool {
        self.shown.ids.contains(&id)
    }

    /// Every finished run of the history by variant, whatever the screen shows.
    pub fn every_variant(&self) -> &[Variant] {
        &self.shown.every_variant
    }

    /// Derives what the screen lists; called by every change of the rows or of how they are
    /// shown.
    fn derive(&mut self) {
        let mut rows: Vec<usize> = (0..self.rows.len())
            .filter(|&i| {
                let r = &self.rows[i];
                self.filter.is_none_or(|t| has_trick(r, t))
                    && self.show.admits(&r.status)
                    && matches_text(r, &self.text)
            })
            .collect();
        let accuracy = |i: &usize| self.rows[*i].accuracy().unwrap_or(-1.0);
        match self.sort {
            Sort::Newest => rows.sort_by_key(|&i| std::cmp::Reverse(self.rows[i].id)),
            Sort::Accuracy => rows.sort_by(|a, b| accuracy(b).total_cmp(&accuracy(a))),
            Sort::Name => rows.sort_by(|&a, &b| {
                let (a, b) = (&self.rows[a], &self.rows[b]);
                a.name.cmp(&b.name).then(b.id.cmp(&a.id))
            }),
        }
        let mut finished: Vec<Trial> = rows
            .iter()
            .filter_map(|&i| Trial::from_run(&self.rows[i]))
            .collect();
        finished.sort_by_key(|t| t.id);
        let mut v = variants::group(finished);
        match self.sort {
            Sort::Newest => v.sort_by_key(|v| std::cmp::Reverse(v.runs.iter().max().copied())),
            Sort::Accuracy => v.sort_by(|a, b| b.accuracy.mean.total_cmp(&a.accuracy.mean)),
            Sort::Name => v.sort_by(|a, b| a.name.cmp(&b.name)),
        }
        self.shown.rows = rows;
        self.shown.variants = v;
        self.clamp();
    }

    /// The rows themselves changed: what holds for all of them (their variants, their ids) is
    /// derived again, then what is shown. A sort, filter or search changes only the latter.
    fn rows_changed(&mut self) {
        let mut every: Vec<Trial> = self.rows.iter().filter_map(Trial::from_run).collect();
        every.sort_by_key(|t| t.id);
        self.shown.every_variant = variants::group(every);
        self.shown.ids = self.rows.iter().map(|r| r.id).collect();
        self.derive();
    }

    /// The variant under the cursor, in the grouped view.
    pub fn current_variant(&self) -> Option<&Variant> {
        let v = self.variants();
        v.get(self.cursor.min(v.len().saturating_sub(1)))
    }

    /// The row under the cursor; in the grouped view, the newest run of its variant.
    pub fn current(&self) -> Option<&Run> {
        if self.grouped {
            let newest = *self.current_variant()?.runs.iter().max()?;
            return self.rows.iter().find(|r| r.id == newest);
        }
        let rows = &self.shown.rows;
        let i = rows.get(self.cursor.min(rows.len().saturating_sub(1)))?;
        self.rows.get(*i)
    }

    pub fn toggle_grouped(&mut self) {
        self.grouped = !self.grouped;
        self.cursor = 0;
        self.derive();
    }

    pub fn set_rows(&mut self, rows: Vec<Run>) {
        let ids: BTreeSet<i64> = rows.iter().map(|r| r.id).collect();
        self.selected.retain(|id| ids.contains(id));
        self.rows = rows;
        self.unavailable = None;
        self.rows_changed();
    }

    /// Puts one run's fresh row in place (`None`: it left the history), leaving the others as
    /// they were read.
    pub fn set_row(&mut self, id: i64, row: Option<Run>) {
        let at = self.rows.iter().position(|r| r.id == id);
        match (at, row) {
            (Some(i), Some(row)) => self.rows[i] = row,
            // Rows are kept newest first.
            (None, Some(row)) => {
                let i = self.rows.partition_point(|r| r.id > id);
                self.rows.insert(i, row);
            }
            (Some(i), None) => {
                self.rows.remove(i);
                self.selected.remove(&id);
            }
            (None, None) => {}
        }
        self.rows_changed();
    }

    fn clamp(&mut self) {
        let n = if self.grouped {
            self.shown.variants.len()
        } else {
            self.shown.rows.len()
        };
        self.cursor = self.cursor.min(n.saturating_sub(1));
    }

    pub fn up(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    /// The cursor on row `i` of the table shown (a click), or the last.
    pub fn select(&mut self, i: usize) {
        self.cursor = i;
        self.clamp();
    }

    pub fn down(&mut self) {
        self.cursor += 1;
        self.clamp();
    }

    pub fn cycle_sort(&mut self) {
        self.sort = self.sort.next();
        self.derive();
    }

    pub fn cycle_show(&mut self) {
        self.show = self.show.next();
        self.derive();
    }

    pub fn set_text(&mut self, text: String) {
        self.text = text;
        self.derive();
    }

    /// Selects every run shown, or none when they all are already.
    pub fn select_all(&mut self) {
        let shown: Vec<i64> = self.visible().iter().map(|r| r.id).collect();
        if shown.iter().all(|id| self.selected.contains(id)) {
            self.selected.clear();
        } else {
            self.selected.extend(shown);
        }
    }

    /// No filter → each trick in table order → no filter.
    pub fn cycle_filter(&mut self) {
        let pos = self
            .filter
            .and_then(|f| TRICKS.iter().position(|t| t.trick == f));
        self.filter = match pos {
            None => Some(TRICKS[0].trick),
            Some(i) => TRICKS.get(i + 1).map(|t| t.trick),
        };
        self.derive();
    }

    /// Toggles the row under the cursor (in the grouped view, every run of its variant
    /// together); returns the ids and whether they are now selected.
    pub fn toggle(&mut self) -> Option<(Vec<i64>, bool)> {
        let ids = self.under_cursor();
        let on = !ids.iter().all(|id| self.selected.contains(id));
        for id in &ids {
            if on {
                self.selected.insert(*id);
            } else {
                self.selected.remove(id);
            }
        }
        (!ids.is_empty()).then_some((ids, on))
    }

    /// The runs of the row under the cursor: one, or its variant's.
    fn under_cursor(&self) -> Vec<i64> {
        if self.grouped {
            self.current_variant()
                .map(|v| v.runs.clone())
                .unwrap_or_default()
        } else {
            self.current().map(|r| vec![r.id]).unwrap_or_default()
        }
    }

    /// The selection, or the row under the cursor when nothing is selected.
    pub fn targets(&self) -> Vec<i64> {
        if self.selected.is_empty() {
            self.under_cursor()
        } else {
            self.selected.iter().copied().collect()
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::fixtures::{stored, stored_seeds};

    #[test]
    fn sorts_filters_and_selects() {
        let mut h = History::default();
        h.set_rows(stored(5));
        assert_eq!(h.visible()[0].name, "init_weights", "newest first");
        h.cycle_sort();
        assert_eq!(h.sort, Sort::Accuracy);
        assert_eq!(h.visible()[0].name, "init_weights");
        h.cycle_sort();
        assert_eq!(h.visible()[0].name, "baseline", "by name");
        h.cycle_filter();
        assert_eq!(h.filter, Some(Trick::NormInputs));
        assert_eq!(h.visible().len(), 4, "all but the baseline");
        for _ in 0..TRICKS.len() {
            h.cycle_filter();
        }
        assert_eq!(h.filter, None);
        assert_eq!(h.toggle(), Some((vec![1], true)));
        h.down();
        assert_eq!(h.targets(), [1]);
        h.selected.clear();
        assert_eq!(h.targets(), [h.current().unwrap().id]);
    }

    #[test]
    fn the_grouped_view_has_a_row_per_variant_and_selects_all_its_seeds() {
        let mut h = History::default();
        h.set_rows(stored_seeds(3, &[1, 2, 3]));
        h.toggle_grouped();
        let v = h.variants();
        let rows: Vec<(&str, usize)> = v.iter().map(|v| (v.name.as_str(), v.n())).collect();
        assert_eq!(
            rows,
            [("lr_schedule", 3), ("norm_inputs", 3), ("baseline", 3)],
            "newest first"
        );
        assert_eq!(v[2].runs, [1, 4, 7]);
        assert_eq!(h.current().unwrap().id, 9, "the variant's newest run");
        h.down();
        h.down();
        h.down();
        assert_eq!(h.cursor, 2, "the cursor stays on the variants");
        assert_eq!(h.toggle(), Some((vec![1, 4, 7], true)));
        assert_eq!(h.targets(), [1, 4, 7]);
        assert_eq!(h.toggle(), Some((vec![1, 4, 7], false)));
        assert!(h.selected.is_empty());
        h.cycle_sort();
        assert_eq!(h.variants()[0].name, "lr_schedule", "best mean first");
    }

    #[test]
    fn what_is_listed_is_derived_again_with_each_change_of_the_rows() {
        // Newest first: the first row is norm_inputs on seed 3.
        let all = stored_seeds(2, &[1, 2, 3]);
        let mut h = History::default();
        h.set_rows(all[1..].to_vec());
        h.toggle_grouped();
        let n =
            |h: &History, name: &str| h.variants().iter().find(|v| v.name == name).map(|v| v.n());
        assert_eq!(
            (n(&h, "baseline"), n(&h, "norm_inputs")),
            (Some(3), Some(2))
        );
        // A run that arrives alone (it finished in this session) joins its variant.
        h.set_row(all[0].id, Some(all[0].clone()));
        assert_eq!(n(&h, "norm_inputs"), Some(3));
        assert!(h.holds(all[0].id));
        // The text filter hides norm_inputs from the list, not from the seeds a run of it is
        // measured with (Results' interval).
        h.set_text("baseline".into());
        assert_eq!((n(&h, "baseline"), n(&h, "norm_inputs")), (Some(3), None));
        let every = h.every_variant().iter().find(|v| v.name == "norm_inputs");
        assert_eq!(every.map(|v| v.n()), Some(3));
        // A run deleted elsewhere leaves both.
        h.set_row(all[0].id, None);
        h.set_text(String::new());
        assert_eq!(n(&h, "norm_inputs"), Some(2));
        assert!(!h.holds(all[0].id));
    }

    #[test]
    fn runs_are_shown_by_status_and_text_and_all_selected_at_once() {
        let mut h = History::default();
        let mut rows = stored(5);
        rows[0].status = Status::Interrupted(None);
        rows[1].status = Status::Failed("no data".into());
        rows[2].status = Status::Cancelled;
        h.set_rows(rows);
        let ids = |h: &History| h.visible().iter().map(|r| r.id).collect::<Vec<_>>();
        h.cycle_show();
        assert_eq!((h.show, ids(&h)), (Show::Finished, vec![2, 1]));
        h.cycle_show();
        assert_eq!((h.show, ids(&h)), (Show::Resumable, vec![5, 3]));
        h.cycle_show();
        assert_eq!((h.show, ids(&h)), (Show::Failed, vec![4]));
        h.cycle_show();
        assert_eq!(ids(&h), Vec::<i64>::new(), "nothing active");
        h.cycle_show();
        assert_eq!(h.show, Show::All);
        h.set_text("NORM".into());
        assert_eq!(ids(&h), [5, 4, 3, 2], "every run with norm_inputs");
        h.set_text("#1".into());
        assert_eq!(ids(&h), [1]);
        h.set_text(String::new());
        h.cycle_show();
        h.select_all();
        assert_eq!(h.selected, BTreeSet::from([1, 2]), "the shown runs only");
        h.select_all();
        assert!(h.selected.is_empty(), "again: none");
    }

    #[test]
    fn one_row_is_replaced_added_or_dropped_alone() {
        let mut h = History::default();
        let rows = stored(4);
        h.set_rows(rows[1..].to_vec());
        h.selected.insert(2);
        let mut changed = rows[2].clone();
        changed.name = "renamed".into();
        h.set_row(2, Some(changed));
        assert_eq!(h.rows.iter().map(|r| r.id).collect::<Vec<_>>(), [3, 2, 1]);
        assert_eq!(h.rows[1].name, "renamed");
        assert_eq!(h.rows[0], rows[1], "the others are untouched");
        h.set_row(4, Some(rows[0].clone()));
        assert_eq!(h.rows[0].id, 4, "a new run goes first, newest first");
        h.set_row(2, None);
        assert_eq!(h.rows.iter().map(|r| r.id).collect::<Vec<_>>(), [4, 3, 1]);
        assert!(
            h.selected.is_empty(),
            "a vanished run is no longer selected"
        );
    }
}
