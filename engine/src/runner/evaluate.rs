//! Scoring a model on a split: loss, accuracy and every prediction.

use burn::nn::loss::CrossEntropyLoss;
use burn::tensor::ElementConversion;
use burn::tensor::activation::softmax;

use super::inputs::{DeviceSplit, InputMap};
use crate::kernels::ModelOps;
use crate::model::Cnn;

/// Images per forward pass when evaluating (no gradients, so larger batches are cheap).
pub(super) const EVAL_BATCH: usize = 1000;

/// Test-set loss, accuracy and every prediction.
pub(crate) struct Evaluation {
    pub(crate) loss: f64,
    pub(crate) accuracy: f64,
    pub(crate) predictions: Vec<u8>,
    /// The probability given each predicted class.
    pub(crate) confidence: Vec<f32>,
}

pub(crate) fn evaluate<B: ModelOps>(
    model: &Cnn<B>,
    split: &DeviceSplit<B>,
    input: InputMap,
) -> Evaluation {
    evaluate_head(model, split, input, split.len())
}

/// [`evaluate`] on the split's first `images` images.
pub(super) fn evaluate_head<B: ModelOps>(
    model: &Cnn<B>,
    split: &DeviceSplit<B>,
    input: InputMap,
    images: usize,
) -> Evaluation {
    let ce = CrossEntropyLoss::new(None, &split.labels.device());
    let mut loss_sum = 0.0;
    let n = images.min(split.len());
    let mut predictions = Vec::with_capacity(n);
    let mut confidence = Vec::with_capacity(n);
    for start in (0..n).step_by(EVAL_BATCH) {
        let end = (start + EVAL_BATCH).min(n);
        let (x, y) = split.range(start, end, input);
        let logits = model.forward(x);
        let loss: f64 = ce.forward(logits.clone(), y).into_scalar().elem();
        loss_sum += loss * (end - start) as f64;
        let top = softmax(logits.clone(), 1).max_dim(1).into_data();
        confidence.extend(top.iter::<f32>());
        let pred = logits.argmax(1).into_data();
        predictions.extend(pred.iter::<i64>().map(|p| p as u8));
    }
    let correct = predictions
        .iter()
        .zip(&split.host_labels)
        .filter(|(p, t)| p == t)
        .count();
    let n = n.max(1) as f64;
    Evaluation {
        loss: loss_sum / n,
        accuracy: correct as f64 / n,
        predictions,
        confidence,
    }
}
