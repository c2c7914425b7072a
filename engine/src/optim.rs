//! The optimizers a run can step with, as one type: Adam, SGD, SGD with momentum, each with
//! coupled L2 (PyTorch's `weight_decay`) when it acts.

use std::path::Path;

use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, Optimizer as _, SgdConfig};
use burn::record::{
    BinBytesRecorder, BinFileRecorder, FullPrecisionSettings, Recorder, RecorderError,
};
use burn::tensor::backend::AutodiffBackend;

use crate::config::{Optimizer, TrainConfig};
use crate::kernels::TrainBackend;
use crate::model::Cnn;

type AdamOf<B> = OptimizerAdaptor<burn::optim::Adam, Cnn<B>, B>;
type SgdOf<B> = OptimizerAdaptor<burn::optim::Sgd<<B as AutodiffBackend>::InnerBackend>, Cnn<B>, B>;

/// A run's optimizer and its state (Adam's moments, SGD's velocities).
pub enum Optim<B: TrainBackend> {
    Adam(AdamOf<B>),
    /// Plain SGD and SGD with momentum: burn's `Sgd`, with or without its momentum.
    Sgd(SgdOf<B>),
}

impl<B: TrainBackend> Optim<B> {
    /// A fresh optimizer as `cfg` wants it in (0-based) `epoch`.
    pub fn new(cfg: &TrainConfig, epoch: usize) -> Self {
        let decay = cfg
            .weight_decay_at(epoch)
            .map(|wd| WeightDecayConfig::new(wd as f32));
        match cfg.optimizer {
            // PyTorch's Adam: eps 1e-8 (burn defaults to 1e-5) and coupled L2, which burn's
            // WeightDecay also is.
            Optimizer::Adam => Self::Adam(
                AdamConfig::new()
                    .with_epsilon(1e-8)
                    .with_weight_decay(decay)
                    .init(),
            ),
            Optimizer::Sgd => Self::Sgd(SgdConfig::new().with_weight_decay(decay).init()),
            // PyTorch's SGD momentum: v = m v + g (no dampening; burn defaults to 0.1), w -= lr v.
            Optimizer::SgdMomentum { momentum } => Self::Sgd(
                SgdConfig::new()
                    .with_weight_decay(decay)
                    .with_momentum(Some(
                        MomentumConfig::new()
                            .with_momentum(momentum)
                            .with_dampening(0.0),
                    ))
                    .init(),
            ),
        }
    }

    /// The optimizer for `epoch`, its state kept: rebuilt only in the epoch where delayed L2
    /// starts to act, since the decay is part of burn's optimizer, not of its state.
    pub fn for_epoch(self, cfg: &TrainConfig, epoch: usize) -> Self {
        if epoch == 0 || cfg.weight_decay_at(epoch) == cfg.weight_decay_at(epoch - 1) {
            return self;
        }
        match (Self::new(cfg, epoch), self) {
            (Self::Adam(fresh), Self::Adam(old)) => Self::Adam(fresh.load_record(old.to_record())),
            (Self::Sgd(fresh), Self::Sgd(old)) => Self::Sgd(fresh.load_record(old.to_record())),
            // One configuration gives one kind of optimizer in every epoch.
            (fresh, _) => fresh,
        }
    }

    pub fn step(&mut self, lr: f64, model: Cnn<B>, grads: GradientsParams) -> Cnn<B> {
        match self {
            Self::Adam(o) => o.step(lr, model, grads),
            Self::Sgd(o) => o.step(lr, model, grads),
        }
    }

    /// The state, encoded as a checkpoint's `optim.bin`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, RecorderError> {
        let bytes = BinBytesRecorder::<FullPrecisionSettings>::default();
        match self {
            Self::Adam(o) => Recorder::<B>::record(&bytes, o.to_record(), ()),
            Self::Sgd(o) => Recorder::<B>::record(&bytes, o.to_record(), ()),
        }
    }

    /// This optimizer with the state saved at `path` (without its `.bin`), which must be of
    /// the same kind: checkpoints are only loaded with the configuration they were saved with.
    pub fn load_file(self, path: &Path, device: &B::Device) -> Result<Self, RecorderError> {
        let file = BinFileRecorder::<FullPrecisionSettings>::new();
        Ok(match self {
            Self::Adam(o) => {
                Self::Adam(o.load_record(Recorder::<B>::load(&file, path.into(), device)?))
            }
            Self::Sgd(o) => {
                Self::Sgd(o.load_record(Recorder::<B>::load(&file, path.into(), device)?))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Cpu, CpuAd};
    use crate::config::{Hyper, TrainConfig};
    use crate::data::toy::synthetic;
    use crate::model::CnnSpec;
    use burn::nn::loss::CrossEntropyLoss;
    use burn::tensor::{Int, Tensor, TensorData};

    /// The gradient of the cross-entropy of a fixed batch with respect to fc2's weights, and
    /// all the gradients.
    fn gradient(model: &Cnn<CpuAd>) -> (Tensor<Cpu, 2>, GradientsParams) {
        let dev = Default::default();
        let split = synthetic(16, 3);
        let x: Vec<f32> = split.images.iter().map(|&p| p as f32 / 255.0).collect();
        let x = Tensor::<CpuAd, 4>::from_data(TensorData::new(x, [16, 3, 32, 32]), &dev);
        let labels: Vec<i64> = split.labels.iter().map(|&l| l as i64).collect();
        let y = Tensor::<CpuAd, 1, Int>::from_data(TensorData::new(labels, [16]), &dev);
        let loss = CrossEntropyLoss::new(None, &dev).forward(model.forward(x), y);
        let grads = GradientsParams::from_grads(loss.backward(), model);
        let g = grads
            .get::<Cpu, 2>(model.fc2_weight().id)
            .expect("fc2 has a gradient");
        (g, grads)
    }

    fn close(got: Tensor<Cpu, 2>, want: Tensor<Cpu, 2>) {
        let scale: f32 = want.clone().abs().max().into_scalar();
        let off: f32 = (got - want).abs().max().into_scalar();
        assert!(off <= 1e-6 * scale.max(1.0), "off by {off} (scale {scale})");
    }

    #[test]
    fn two_sgd_momentum_steps_match_the_update_by_hand() {
        let dev = Default::default();
        let mut cfg = TrainConfig::baseline(&Hyper::default());
        cfg.optimizer = Optimizer::SgdMomentum { momentum: 0.9 };
        let lr = 0.05;
        let m0: Cnn<CpuAd> = CnnSpec::from(&cfg).init(cfg.seed, &dev);
        let w = |m: &Cnn<CpuAd>| m.fc2_weight().val().inner();
        let mut optim = Optim::<CpuAd>::new(&cfg, 0);

        // Step 1: v1 = g0, w1 = w0 - lr g0.
        let (g0, grads) = gradient(&m0);
        let w0 = w(&m0);
        let m1 = optim.step(lr, m0, grads);
        close(w(&m1), w0 - g0.clone() * lr);

        // Step 2: v2 = 0.9 v1 + g1 (PyTorch's: no dampening), w2 = w1 - lr v2.
        let (g1, grads) = gradient(&m1);
        let w1 = w(&m1);
        let m2 = optim.step(lr, m1, grads);
        close(w(&m2), w1 - (g0 * 0.9 + g1) * lr);
    }

    #[test]
    fn plain_sgd_steps_along_the_gradient_alone() {
        let dev = Default::default();
        let mut cfg = TrainConfig::baseline(&Hyper::default());
        cfg.optimizer = Optimizer::Sgd;
        let m0: Cnn<CpuAd> = CnnSpec::from(&cfg).init(cfg.seed, &dev);
        let mut optim = Optim::<CpuAd>::new(&cfg, 0);
        let (_, grads) = gradient(&m0);
        let m1 = optim.step(0.1, m0, grads);
        // The second step forgets the first: w2 = w1 - lr g1.
        let (g1, grads) = gradient(&m1);
        let w1 = m1.fc2_weight().val().inner();
        let m2 = optim.step(0.1, m1, grads);
        close(m2.fc2_weight().val().inner(), w1 - g1 * 0.1);
    }
}
