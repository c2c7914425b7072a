//! What a training step minimises: the configured loss (cross-entropy, or MSE to targets) plus
//! the L1 penalty when it acts.

use burn::nn::loss::CrossEntropyLoss;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

use crate::config::{Activation, Loss, Targets, TrainConfig};
use crate::kernels::ModelOps;
use crate::model::{Cnn, activate};

/// The (off, on) target values of the MSE loss: what the other classes' outputs and the true
/// class's output should reach, after the activation `a` (see [`squash`]).
pub fn target_values(targets: Targets, a: Activation) -> (f32, f32) {
    match (targets, a) {
        (Targets::OneHot, _) => (0.0, 1.0),
        // |f''| peaks where f = ±1/sqrt(3) for tanh, at 1.7159/sqrt(3) = 0.9907 for LeCun's
        // tanh (his reason for the constants; he rounds it to ±1), and at σ = (3 ± sqrt 3)/6
        // for the logistic function: σ'' = σ(1-σ)(1-2σ) is largest there.
        (Targets::Lecun, Activation::Tanh) => (-FRAC_1_SQRT_3, FRAC_1_SQRT_3),
        (Targets::Lecun, Activation::Sigmoid) => ((3.0 - SQRT_3) / 6.0, (3.0 + SQRT_3) / 6.0),
        // ReLU outputs are not squashed (see `squash`): ±1, as for LeCun's tanh.
        (Targets::Lecun, Activation::ScaledTanh | Activation::Relu) => (-1.0, 1.0),
    }
}

const SQRT_3: f32 = 1.732_050_8;
const FRAC_1_SQRT_3: f32 = 0.577_350_3;

/// The outputs the MSE loss compares with its targets: the logits through the network's own
/// non-linearity, as LeCun's output units were; ReLU's would clip every "no" to 0 and stop its
/// gradient, so ReLU networks compare the logits themselves. Monotone, so the predicted class
/// (the argmax) is the logits'.
pub fn squash<B: ModelOps>(a: Activation, logits: Tensor<B, 2>) -> Tensor<B, 2> {
    match a {
        Activation::Relu => logits,
        other => activate(other, logits),
    }
}

/// `½‖f(y) − t‖²` per image, averaged over the batch (Efficient BackProp's eq. 1): `y` the
/// logits [b, classes], `t` the targets of `labels` [b]. Shape [1].
pub fn mse<B: Backend>(
    outputs: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
    (off, on): (f32, f32),
) -> Tensor<B, 1> {
    let [b, classes] = outputs.dims();
    let device = outputs.device();
    let class = Tensor::<B, 1, Int>::arange(0..classes as i64, &device)
        .unsqueeze_dim::<2>(0)
        .expand([b, classes]);
    let is_true = labels
        .unsqueeze_dim::<2>(1)
        .expand([b, classes])
        .equal(class);
    let t = is_true.float() * (on - off) + off;
    (outputs - t).powi_scalar(2).sum_dim(1).mean() * 0.5
}

/// A run's objective in one epoch.
pub(crate) struct Objective<B: Backend> {
    ce: CrossEntropyLoss<B>,
    loss: Loss,
    activation: Activation,
    l1: Option<f64>,
}

impl<B: ModelOps> Objective<B> {
    pub(crate) fn new(cfg: &TrainConfig, epoch: usize, device: &B::Device) -> Self {
        Self {
            ce: CrossEntropyLoss::new(None, device),
            loss: cfg.loss,
            activation: cfg.activation,
            l1: cfg.l1_at(epoch),
        }
    }

    /// What backward runs on, and the batch's mean cross-entropy. Every run reports
    /// cross-entropy, whatever it minimises, so losses compare across runs (and the
    /// divergence watch keeps one scale).
    pub(crate) fn of(
        &self,
        logits: Tensor<B, 2>,
        labels: Tensor<B, 1, Int>,
        model: &Cnn<B>,
    ) -> (Tensor<B, 1>, Tensor<B, 1>) {
        let ce = self.ce.forward(logits.clone(), labels.clone());
        let data = match self.loss {
            Loss::CrossEntropy => ce.clone(),
            Loss::Mse { targets } => mse(
                squash(self.activation, logits),
                labels,
                target_values(targets, self.activation),
            ),
        };
        let total = match self.l1 {
            Some(lambda) => data + model.l1_norm() * lambda,
            None => data,
        };
        (total, ce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;
    use burn::tensor::TensorData;

    #[test]
    fn mse_on_a_known_batch_matches_the_hand_value() {
        let dev = Default::default();
        // Two images, three classes.
        let y = Tensor::<Cpu, 2>::from_floats([[0.5, -1.0, 2.0], [0.0, 1.0, 0.0]], &dev);
        let labels = Tensor::<Cpu, 1, Int>::from_data(TensorData::from([2i64, 0]), &dev);
        // One-hot: t = [0,0,1], [1,0,0].
        // ½(0.25 + 1 + 1) = 1.125; ½(1 + 1 + 0) = 1; mean 1.0625.
        let got: f32 = mse(y.clone(), labels.clone(), (0.0, 1.0)).into_scalar();
        assert!((got - 1.0625).abs() < 1e-6, "{got}");
        // ±1: t = [-1,-1,1], [1,-1,-1].
        // ½(2.25 + 0 + 1) = 1.625; ½(1 + 4 + 1) = 3; mean 2.3125.
        let got: f32 = mse(y, labels, (-1.0, 1.0)).into_scalar();
        assert!((got - 2.3125).abs() < 1e-6, "{got}");
    }

    #[test]
    fn lecun_targets_sit_where_the_second_derivative_peaks() {
        use Activation::*;
        assert_eq!(target_values(Targets::OneHot, ScaledTanh), (0.0, 1.0));
        assert_eq!(target_values(Targets::Lecun, ScaledTanh), (-1.0, 1.0));
        // LeCun's tanh: |f''| peaks where tanh(2x/3) = 1/sqrt(3), i.e. f = 0.9907, his ±1.
        assert!((1.7159 * FRAC_1_SQRT_3 - 1.0).abs() < 0.01);
        // Logistic: scan σ'' = σ(1-σ)(1-2σ) over x for its largest value.
        let sigma = |x: f64| 1.0 / (1.0 + (-x).exp());
        let d2 = |x: f64| {
            let s = sigma(x);
            s * (1.0 - s) * (1.0 - 2.0 * s)
        };
        let peak = (-4000..0)
            .map(|i| i as f64 / 1000.0)
            .max_by(|a, b| d2(*a).total_cmp(&d2(*b)))
            .unwrap();
        let (off, on) = target_values(Targets::Lecun, Sigmoid);
        assert!(
            (sigma(peak) - off as f64).abs() < 1e-3,
            "{} vs {off}",
            sigma(peak)
        );
        assert!((on + off - 1.0).abs() < 1e-6, "symmetric about 1/2");
        // tanh: tanh'' = -2 tanh (1 - tanh²) peaks at tanh = ±1/sqrt(3).
        let t2 = |x: f64| -2.0 * x.tanh() * (1.0 - x.tanh().powi(2));
        let peak = (0..4000)
            .map(|i| i as f64 / 1000.0)
            .max_by(|a, b| (-t2(*a)).total_cmp(&(-t2(*b))))
            .unwrap();
        let (off, on) = target_values(Targets::Lecun, Tanh);
        assert!((peak.tanh() - on as f64).abs() < 1e-3 && off == -on);
    }

    #[test]
    fn squash_applies_the_activation_but_not_relu() {
        let dev = Default::default();
        let y = || Tensor::<Cpu, 2>::from_floats([[-2.0, 1.5]], &dev);
        let v = |t: Tensor<Cpu, 2>| -> Vec<f32> { t.into_data().to_vec().unwrap() };
        assert_eq!(v(squash(Activation::Relu, y())), [-2.0, 1.5]);
        let s = v(squash(Activation::Sigmoid, y()));
        assert!((s[0] - 1.0 / (1.0 + 2f32.exp())).abs() < 1e-6);
    }
}
