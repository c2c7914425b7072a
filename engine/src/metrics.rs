//! Classification metrics: the confusion matrix and what follows from it. Pure data.

use serde::{Deserialize, Serialize};

/// Counts of (true class, predicted class) pairs: `counts[truth][predicted]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub counts: Vec<Vec<u64>>,
}

/// Precision, recall and F1 of one class, with its number of true examples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: u64,
}

/// The per-class table and the averages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub accuracy: f64,
    /// Equal to accuracy: with exactly one label per image, every false positive of one class
    /// is a false negative of another, so pooled precision = pooled recall = accuracy.
    pub micro_f1: f64,
    /// The unweighted mean of the per-class F1 scores.
    pub macro_f1: f64,
    pub per_class: Vec<ClassScores>,
}

/// `num / den`, or 0 when nothing was counted (sklearn's `zero_division=0`).
fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

impl Confusion {
    pub fn new(classes: usize) -> Self {
        Self {
            counts: vec![vec![0; classes]; classes],
        }
    }

    /// Builds the matrix from parallel lists of true and predicted labels.
    pub fn from_labels(classes: usize, truth: &[u8], predicted: &[u8]) -> Self {
        let mut m = Self::new(classes);
        for (&t, &p) in truth.iter().zip(predicted) {
            m.counts[t as usize][p as usize] += 1;
        }
        m
    }

    pub fn classes(&self) -> usize {
        self.counts.len()
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    pub fn correct(&self) -> u64 {
        (0..self.classes()).map(|i| self.counts[i][i]).sum()
    }

    /// The largest count, which sets a heatmap's scale.
    pub fn max_count(&self) -> u64 {
        self.counts.iter().flatten().copied().max().unwrap_or(0)
    }

    pub fn report(&self) -> Report {
        let n = self.classes();
        let per_class: Vec<ClassScores> = (0..n)
            .map(|c| {
                let tp = self.counts[c][c];
                let support: u64 = self.counts[c].iter().sum();
                let predicted: u64 = self.counts.iter().map(|row| row[c]).sum();
                let precision = ratio(tp, predicted);
                let recall = ratio(tp, support);
                let f1 = if precision + recall == 0.0 {
                    0.0
                } else {
                    2.0 * precision * recall / (precision + recall)
                };
                ClassScores {
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();
        let accuracy = ratio(self.correct(), self.total());
        let macro_f1 = if n == 0 {
            0.0
        } else {
            per_class.iter().map(|s| s.f1).sum::<f64>() / n as f64
        };
        Report {
            accuracy,
            micro_f1: accuracy,
            macro_f1,
            per_class,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three classes, computed by hand:
    ///
    /// ```text
    ///            pred 0  pred 1  pred 2
    /// true 0        5       1       0     support 6
    /// true 1        2       3       1     support 6
    /// true 2        0       0       4     support 4
    /// ```
    /// class 0: P = 5/7, R = 5/6, F1 = 2·(5/7)(5/6)/((5/7)+(5/6)) = 10/13
    /// class 1: P = 3/4, R = 3/6, F1 = 0.6
    /// class 2: P = 4/5, R = 4/4, F1 = 8/9
    /// accuracy = 12/16 = 0.75; macro-F1 = (10/13 + 0.6 + 8/9)/3
    #[test]
    fn report_matches_hand_computed_values() {
        let m = Confusion {
            counts: vec![vec![5, 1, 0], vec![2, 3, 1], vec![0, 0, 4]],
        };
        let r = m.report();
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        close(r.accuracy, 0.75);
        close(r.micro_f1, 0.75);
        close(r.per_class[0].precision, 5.0 / 7.0);
        close(r.per_class[0].recall, 5.0 / 6.0);
        close(r.per_class[0].f1, 10.0 / 13.0);
        close(r.per_class[1].f1, 0.6);
        close(r.per_class[2].precision, 0.8);
        close(r.per_class[2].f1, 8.0 / 9.0);
        close(r.macro_f1, (10.0 / 13.0 + 0.6 + 8.0 / 9.0) / 3.0);
        assert_eq!(
            r.per_class.iter().map(|c| c.support).collect::<Vec<_>>(),
            [6, 6, 4]
        );
    }

    #[test]
    fn from_labels_counts_pairs_and_a_never_predicted_class_scores_zero() {
        let m = Confusion::from_labels(3, &[0, 0, 1, 2, 2], &[0, 1, 1, 1, 1]);
        assert_eq!(m.counts, vec![vec![1, 1, 0], vec![0, 1, 0], vec![0, 2, 0]]);
        let r = m.report();
        assert_eq!(r.per_class[2].precision, 0.0);
        assert_eq!(r.per_class[2].f1, 0.0);
        assert_eq!(m.total(), 5);
        assert!((r.accuracy - 0.4).abs() < 1e-12);
    }
}
