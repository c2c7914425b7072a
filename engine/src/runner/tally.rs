//! An epoch's running loss and accuracy sums, kept on the device.

use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor};

/// An epoch's running sums: kept on the device, read once per report window (each read waits
/// for the device).
pub(super) struct Tally<B: Backend> {
    /// Sum of the per-image losses of the epoch, and of the current report window.
    loss_sum: Tensor<B, 1>,
    window: Tensor<B, 1>,
    window_images: usize,
    /// Right predictions of the epoch.
    correct: Tensor<B, 1, Int>,
}

impl<B: Backend> Tally<B> {
    pub(super) fn new(device: &B::Device) -> Self {
        Self {
            loss_sum: Tensor::zeros([1], device),
            window: Tensor::zeros([1], device),
            window_images: 0,
            correct: Tensor::zeros([1], device),
        }
    }

    /// One batch: its mean loss, logits and labels.
    pub(super) fn add(
        &mut self,
        batch_loss: Tensor<B, 1>,
        logits: Tensor<B, 2>,
        labels: Tensor<B, 1, Int>,
    ) {
        let images = labels.dims()[0];
        let batch_loss = batch_loss * images as f32;
        self.loss_sum = self.loss_sum.clone() + batch_loss.clone();
        self.window = self.window.clone() + batch_loss;
        self.window_images += images;
        let right = logits.argmax(1).squeeze_dim(1).equal(labels).int().sum();
        self.correct = self.correct.clone() + right;
    }

    /// The window's mean loss and the epoch's right predictions so far, in one read; the next
    /// window starts.
    pub(super) fn read_window(&mut self) -> (f64, f64) {
        let device = self.window.device();
        let window = std::mem::replace(&mut self.window, Tensor::zeros([1], &device));
        let both = Tensor::cat(vec![window, self.correct.clone().float()], 0).into_data();
        let [sum, right]: [f32; 2] = both
            .convert::<f32>()
            .to_vec()
            .ok()
            .and_then(|v| v.try_into().ok())
            .unwrap_or([f32::NAN; 2]);
        let mean = sum as f64 / std::mem::take(&mut self.window_images) as f64;
        (mean, right as f64)
    }

    /// The epoch's loss sum and right predictions.
    pub(super) fn epoch(self) -> (f64, f64) {
        (
            self.loss_sum.into_scalar().elem::<f64>(),
            self.correct.into_scalar().elem::<f64>(),
        )
    }
}
