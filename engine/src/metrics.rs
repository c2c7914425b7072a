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

/// What the network said of one test image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prediction {
    /// The image's class.
    pub truth: u8,
    /// The class given the highest probability.
    pub predicted: u8,
    /// That probability, in 65,535ths: 10,000 images take 40 KB.
    pub confidence: u16,
}

impl Prediction {
    pub fn probability(&self) -> f64 {
        f64::from(self.confidence) / f64::from(u16::MAX)
    }
}

/// What the network said of every test image, in test-set order: kept with a finished run so
/// that the images behind any cell of its confusion matrix can be shown. In a result file,
/// one base64 string of four bytes per image (class, predicted class, confidence in little
/// endian).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Predictions(pub Vec<Prediction>);

/// Ten thousand of them would bury any message they appear in.
impl std::fmt::Debug for Predictions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Predictions({} images)", self.0.len())
    }
}

impl Predictions {
    /// From parallel lists: the classes, the predicted classes and their probabilities.
    pub fn new(truth: &[u8], predicted: &[u8], probability: &[f32]) -> Self {
        let quantized = |p: f32| (p.clamp(0.0, 1.0) * f32::from(u16::MAX)).round() as u16;
        Self(
            (truth.iter().zip(predicted).zip(probability))
                .map(|((&truth, &predicted), &p)| Prediction {
                    truth,
                    predicted,
                    confidence: quantized(p),
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.0
            .iter()
            .flat_map(|p| {
                let [lo, hi] = p.confidence.to_le_bytes();
                [p.truth, p.predicted, lo, hi]
            })
            .collect()
    }

    /// `None` for bytes no [`Predictions::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if !bytes.len().is_multiple_of(4) {
            return None;
        }
        Some(Self(
            bytes
                .chunks_exact(4)
                .map(|b| Prediction {
                    truth: b[0],
                    predicted: b[1],
                    confidence: u16::from_le_bytes([b[2], b[3]]),
                })
                .collect(),
        ))
    }

    /// The test images of one cell of the confusion matrix, by their index in the test set:
    /// off the diagonal the most confident first (the network's surest mistakes), on it the
    /// least confident first (its shakiest right answers).
    pub fn cell(&self, truth: usize, predicted: usize) -> Vec<(usize, Prediction)> {
        let mut hits: Vec<(usize, Prediction)> = (self.0.iter().copied().enumerate())
            .filter(|(_, p)| usize::from(p.truth) == truth && usize::from(p.predicted) == predicted)
            .collect();
        if truth == predicted {
            hits.sort_by_key(|(i, p)| (p.confidence, *i));
        } else {
            hits.sort_by_key(|(i, p)| (std::cmp::Reverse(p.confidence), *i));
        }
        hits
    }
}

impl Serialize for Predictions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        base64_bytes::serialize(&self.to_bytes(), s)
    }
}

impl<'de> Deserialize<'de> for Predictions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::from_bytes(&base64_bytes::deserialize(d)?)
            .ok_or_else(|| serde::de::Error::custom("predictions: not four bytes per image"))
    }
}

/// Bytes as one base64 string in JSON (`#[serde(with = "base64_bytes")]`): a third of the
/// size of a list of numbers, and one line.
pub(crate) mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
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

    #[test]
    fn predictions_keep_their_figures_and_sort_a_cell_by_confidence() {
        let p = Predictions::new(
            &[3, 3, 3, 3, 5],
            &[5, 5, 3, 3, 5],
            &[0.6, 0.95, 0.99, 0.4, 1.0],
        );
        let mistakes: Vec<usize> = p.cell(3, 5).iter().map(|(i, _)| *i).collect();
        assert_eq!(mistakes, [1, 0], "the surest mistake first");
        let right: Vec<usize> = p.cell(3, 3).iter().map(|(i, _)| *i).collect();
        assert_eq!(right, [3, 2], "the shakiest right answer first");
        assert!(p.cell(5, 3).is_empty());
        assert!((p.0[0].probability() - 0.6).abs() < 1e-4);
        assert_eq!(p.0[4].confidence, u16::MAX);
        // Through a result file and a history's bytes, unchanged.
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Predictions>(&json).unwrap(), p);
        assert_eq!(Predictions::from_bytes(&p.to_bytes()), Some(p));
        assert_eq!(Predictions::from_bytes(&[1, 2, 3]), None);
        assert!(serde_json::from_str::<Predictions>("\"AQID\"").is_err());
    }

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
