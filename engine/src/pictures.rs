//! What a person can look at besides the numbers: the first convolution's filters as they
//! learn, and a few training images as the network receives them after the input tricks
//! (normalized, ZCA-whitened), so that those tricks are seen and not only named.

use serde::{Deserialize, Serialize};

use crate::data::cifar::IMAGE_BYTES;
use crate::data::{CLASSES, Split};
use crate::metrics::base64_bytes;

/// The first convolution's kernels after an epoch: 32 filters over the 3 colour channels,
/// 3x3 each, in burn's order `[filter][channel][row][column]`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Filters {
    /// Epochs trained when they were read: 0 for the initial weights.
    pub epoch: usize,
    pub weights: Vec<f32>,
}

impl std::fmt::Debug for Filters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Filters(epoch {}, {} weights)",
            self.epoch,
            self.weights.len()
        )
    }
}

impl Filters {
    /// Weights of one filter: 3 channels x 3 x 3.
    pub const SIZE: usize = 27;

    pub fn count(&self) -> usize {
        self.weights.len() / Self::SIZE
    }

    /// Filter `k` as a 3x3 colour picture, row by row: each channel's weight is that colour's
    /// intensity, zero mid-grey, the filter's largest weight in magnitude full on or off.
    /// Scaled filter by filter, as such pictures are usually drawn: a filter's pattern shows
    /// even where its weights are small.
    pub fn rgb(&self, k: usize) -> [[u8; 3]; 9] {
        let w = &self.weights[k * Self::SIZE..(k + 1) * Self::SIZE];
        let top = w.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
        std::array::from_fn(|p| std::array::from_fn(|c| to_byte(0.5 + 0.5 * w[c * 9 + p] / top)))
    }
}

fn to_byte(unit: f32) -> u8 {
    (unit.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// A few training images, one per class, as stored and as the network receives them.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputView {
    /// Each image's class.
    pub classes: Vec<u8>,
    /// Their pixels as stored: colour planes of 32x32, image after image.
    #[serde(with = "base64_bytes")]
    pub raw: Vec<u8>,
    /// The network's input for the same pixels, by one linear map for all images and
    /// channels: `low` → 0 and `high` → 255 (clipped beyond; the 1st and 99th percentiles),
    /// so that what a trick does to the range and the colours shows as it is.
    #[serde(with = "base64_bytes")]
    pub seen: Vec<u8>,
    pub low: f32,
    pub high: f32,
}

impl std::fmt::Debug for InputView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "InputView({} images, {:.2}..{:.2})",
            self.classes.len(),
            self.low,
            self.high
        )
    }
}

impl InputView {
    /// Indices of the first training image of each class, in class order.
    pub fn pick(train: &Split) -> Vec<usize> {
        (0..CLASSES.len())
            .filter_map(|c| train.labels.iter().position(|&l| usize::from(l) == c))
            .collect()
    }

    /// From the images at `index` of `train` and the network's input for them
    /// (`[n, 3, 32, 32]` flattened).
    pub fn new(train: &Split, index: &[usize], input: &[f32]) -> Self {
        let mut sorted: Vec<f32> = input.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f32::total_cmp);
        let at = |q: f64| {
            sorted
                .get(((sorted.len().saturating_sub(1)) as f64 * q).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        let (low, high) = (at(0.01), at(0.99));
        let span = (high - low).max(1e-6);
        Self {
            classes: index.iter().map(|&i| train.labels[i]).collect(),
            raw: index
                .iter()
                .flat_map(|&i| train.image(i))
                .copied()
                .collect(),
            seen: input.iter().map(|v| to_byte((v - low) / span)).collect(),
            low,
            high,
        }
    }

    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Image `k` as stored and as the network got it (colour planes); `None` past the pixels
    /// held (a result file edited by hand may hold fewer than its classes).
    pub fn image(&self, k: usize) -> Option<(&[u8], &[u8])> {
        let at = k * IMAGE_BYTES..(k + 1) * IMAGE_BYTES;
        Some((self.raw.get(at.clone())?, self.seen.get(at)?))
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }
}

/// What a finished run keeps to be looked at again: its last filters and its inputs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pictures {
    pub filters: Filters,
    pub inputs: InputView,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_is_drawn_zero_grey_and_its_largest_weight_full() {
        let mut weights = vec![0.0; 2 * Filters::SIZE];
        // Filter 1: red +0.5 at its centre, blue -0.25 at its top-left corner.
        weights[Filters::SIZE + 4] = 0.5;
        weights[Filters::SIZE + 2 * 9] = -0.25;
        let f = Filters { epoch: 3, weights };
        assert_eq!(f.count(), 2);
        let pic = f.rgb(1);
        assert_eq!(pic[4], [255, 128, 128]);
        assert_eq!(pic[0], [128, 128, 64]);
        assert_eq!(pic[8], [128, 128, 128]);
        assert_eq!(f.rgb(0), [[128; 3]; 9], "an all-zero filter is plain grey");
    }

    #[test]
    fn inputs_keep_one_image_a_class_and_one_map_for_all() {
        // 20 images, classes 0..9 twice, each image one grey level: its index.
        let images: Vec<u8> = (0..20u8).flat_map(|i| [i * 10; IMAGE_BYTES]).collect();
        let train = Split {
            images,
            labels: (0..20).map(|i| (i % 10) as u8).collect(),
        };
        let index = InputView::pick(&train);
        assert_eq!(index, (0..10).collect::<Vec<_>>());
        // The network sees pixel / 255 - 0.2.
        let input: Vec<f32> = index
            .iter()
            .flat_map(|&i| train.image(i))
            .map(|&p| f32::from(p) / 255.0 - 0.2)
            .collect();
        let v = InputView::new(&train, &index, &input);
        assert_eq!(v.len(), 10);
        assert_eq!(v.image(9).unwrap().0[0], 90);
        assert_eq!(v.image(10), None);
        assert!((v.low - (-0.2)).abs() < 1e-6 && (v.high - (90.0 / 255.0 - 0.2)).abs() < 1e-6);
        assert_eq!((v.seen[0], v.image(9).unwrap().1[0]), (0, 255));
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<InputView>(&text).unwrap(), v);
    }
}
