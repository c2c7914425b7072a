//! The data on the device and the map from its pixels to network input.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::data::{ChannelStats, Split};
use crate::kernels::{self, ModelOps};
use crate::zca::{self, Zca};

/// A split's pixels on the device.
pub(super) enum Pixels<B: Backend> {
    /// As u8 (a quarter of f32's memory), mapped to network input batch by batch.
    Bytes(Tensor<B, 2, Int>), // [n, 3072] (u8), or packed (see `KernelBackend::upload_images`)
    /// Already network input (ZCA-whitened once, at upload), f32.
    Ready(Tensor<B, 2>), // [n, 3072]
}

/// A split resident on the device: pixels, labels as ints.
pub(crate) struct DeviceSplit<B: Backend> {
    pixels: Pixels<B>,
    pub(crate) labels: Tensor<B, 1, Int>, // [n]
    pub(crate) host_labels: Vec<u8>,
}

impl<B: ModelOps> DeviceSplit<B> {
    pub(crate) fn upload(split: &Split, device: &B::Device) -> Self {
        let images = kernels::upload_images(split.images.clone(), split.len(), device);
        Self::with_pixels(split, Pixels::Bytes(images), device)
    }

    /// The split with its pixels whitened by `zca` (the whitened copy is f32).
    pub(super) fn upload_whitened(split: &Split, zca: &Zca<B>, device: &B::Device) -> Self {
        let white = zca.apply(zca::pixels(split, device));
        Self::with_pixels(split, Pixels::Ready(white), device)
    }

    pub(super) fn with_pixels(split: &Split, pixels: Pixels<B>, device: &B::Device) -> Self {
        let labels: Vec<i64> = split.labels.iter().map(|&l| l as i64).collect();
        Self {
            pixels,
            labels: Tensor::from_data(TensorData::new(labels, [split.len()]), device),
            host_labels: split.labels.clone(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.host_labels.len()
    }

    /// The images at `index` as network input [n, 3, 32, 32], and their labels. `input` maps
    /// u8 pixels; whitened ones are input already.
    pub(crate) fn batch(
        &self,
        index: &[i64],
        input: InputMap,
    ) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
        let device = self.labels.device();
        let rows = || Tensor::from_data(TensorData::new(index.to_vec(), [index.len()]), &device);
        let x = match &self.pixels {
            Pixels::Bytes(images) => {
                kernels::gather_images(images.clone(), index, input.scale, input.shift)
            }
            Pixels::Ready(x) => x
                .clone()
                .select(0, rows())
                .reshape([index.len(), 3, 32, 32]),
        };
        (x, self.labels.clone().select(0, rows()))
    }

    /// Consecutive images `start..end`.
    pub(crate) fn range(
        &self,
        start: usize,
        end: usize,
        input: InputMap,
    ) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
        let index: Vec<i64> = (start as i64..end as i64).collect();
        self.batch(&index, input)
    }
}

/// Pixels to network input in one multiply-add per element: `u8 * scale + shift`, per channel.
/// Without normalization that is `u8 / 255` (PyTorch's `ToTensor`); with it, the training
/// set's mean and std are folded into the same two numbers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InputMap {
    scale: [f32; 3],
    shift: [f32; 3],
}

impl InputMap {
    pub(crate) fn new(stats: Option<ChannelStats>) -> Self {
        let stats = stats.unwrap_or(ChannelStats {
            mean: [0.0; 3],
            std: [1.0; 3],
        });
        Self {
            scale: std::array::from_fn(|c| 1.0 / (255.0 * stats.std[c])),
            shift: std::array::from_fn(|c| -stats.mean[c] / stats.std[c]),
        }
    }
}
