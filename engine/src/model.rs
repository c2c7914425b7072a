//! The TensorFlow-tutorial CNN of the seed study, with dropout where a configuration asks.

use burn::module::{Initializer, Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, Relu};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::config::{Activation, Init, TrainConfig};
use crate::kernels::{
    ModelOps, TanhAffine, conv3x3, dropout, flatten_images, pool2x2, tanh_affine,
};
use crate::seeding::{MaskKey, StepKey, Stream};

/// Conv(3→32) f Pool → Conv(32→64) f Pool → Conv(64→64) f → Dense(1024→64) f → Dense(64→10):
/// 122,570 parameters, with f the configured activation (ReLU unless asked).

#[derive(Module, Debug)]
pub struct Cnn<B: Backend> {
    conv1: Conv2d<B>,
    conv2: Conv2d<B>,
    conv3: Conv2d<B>,
    fc1: Linear<B>,
    fc2: Linear<B>,
    relu: Relu,
    /// Not a parameter: fixed by the configuration.
    #[module(skip)]
    activation: Activation,
    /// After each conv's ReLU (before pooling).
    dropout_conv: Option<Dropout>,
    /// After the first dense layer's ReLU.
    dropout_dense: Option<Dropout>,
}

/// What shapes the network: its initialisation and where dropout goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CnnSpec {
    pub init: Init,
    pub activation: Activation,
    pub dropout_conv: Option<f64>,
    pub dropout_dense: Option<f64>,
}

impl From<&TrainConfig> for CnnSpec {
    fn from(cfg: &TrainConfig) -> Self {
        Self {
            init: cfg.init,
            activation: cfg.activation,
            dropout_conv: cfg.dropout_conv,
            dropout_dense: cfg.dropout_dense,
        }
    }
}

impl Init {
    /// One initial weight of a layer with `fan_in` inputs, from `s`.
    fn weight(self, fan_in: usize, s: &mut Stream) -> f32 {
        let fan_in = fan_in as f64;
        (match self {
            // PyTorch's default for Conv2d/Linear: U(±1/sqrt(fan_in)).
            Init::Default => (2.0 * s.uniform() - 1.0) / fan_in.sqrt(),
            // `kaiming_uniform_(nonlinearity='relu')`: U(±sqrt(6/fan_in)).
            Init::KaimingRelu => (2.0 * s.uniform() - 1.0) * (6.0 / fan_in).sqrt(),
            // LeCun's: N(0, 1/fan_in).
            Init::Lecun => s.normal() / fan_in.sqrt(),
        }) as f32
    }

    /// One initial bias: PyTorch's default draws it like the weights; the tricks start at 0.
    fn bias(self, fan_in: usize, s: &mut Stream) -> f32 {
        match self {
            Init::Default => self.weight(fan_in, s),
            Init::KaimingRelu | Init::Lecun => 0.0,
        }
    }
}

/// Parameter `what` of a network on `seed`: `shape`'s values drawn on the host by `value`.
fn drawn<B: Backend, const D: usize>(
    (seed, what): (u64, u64),
    shape: [usize; D],
    mut value: impl FnMut(&mut Stream) -> f32,
    device: &B::Device,
) -> Param<Tensor<B, D>> {
    let mut s = Stream::new(seed, what);
    let values: Vec<f32> = (0..shape.iter().product()).map(|_| value(&mut s)).collect();
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

impl CnnSpec {
    /// The network of `seed` before its first step. Its weights are drawn on the host from
    /// counter-based streams keyed by (seed, parameter) ([`crate::seeding`]), never from the
    /// backend's generator: the same seed gives the same network on every device, whatever
    /// else draws meanwhile.
    pub fn init<B: Backend>(&self, seed: u64, device: &B::Device) -> Cnn<B> {
        // Zeros draw nothing; every parameter is replaced below.
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_initializer(Initializer::Zeros)
                .init(device)
        };
        let dense = |i, o| {
            LinearConfig::new(i, o)
                .with_initializer(Initializer::Zeros)
                .init(device)
        };
        let mut cnn = Cnn {
            conv1: conv(3, 32),
            conv2: conv(32, 64),
            conv3: conv(64, 64),
            fc1: dense(1024, 64),
            fc2: dense(64, 10),
            relu: Relu::new(),
            activation: self.activation,
            dropout_conv: self.dropout_conv.map(|p| DropoutConfig::new(p).init()),
            dropout_dense: self.dropout_dense.map(|p| DropoutConfig::new(p).init()),
        };
        let init = self.init;
        let mut what = 0..;
        let mut key = || (seed, what.next().unwrap_or_default());
        for (layer, i, o) in [
            (&mut cnn.conv1, 3, 32),
            (&mut cnn.conv2, 32, 64),
            (&mut cnn.conv3, 64, 64),
        ] {
            let fan_in = i * 9;
            layer.weight = drawn(key(), [o, i, 3, 3], |s| init.weight(fan_in, s), device);
            layer.bias = Some(drawn(key(), [o], |s| init.bias(fan_in, s), device));
        }
        for (layer, i, o) in [(&mut cnn.fc1, 1024, 64), (&mut cnn.fc2, 64, 10)] {
            // burn's Linear keeps its weight as [inputs, outputs].
            layer.weight = drawn(key(), [i, o], |s| init.weight(i, s), device);
            layer.bias = Some(drawn(key(), [o], |s| init.bias(i, s), device));
        }
        cnn
    }
}

impl<B: ModelOps> Cnn<B> {
    /// Inference, without dropout: `images` [batch, 3, 32, 32] → logits [batch, 10].
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self.forward_with(images, None)
    }

    /// A training step's forward pass: dropout where configured, with the masks of `step`
    /// (layer 0-2 after each conv, 3 after the first dense layer).
    pub fn forward_train(&self, images: Tensor<B, 4>, step: StepKey) -> Tensor<B, 2> {
        self.forward_with(images, Some(step))
    }

    fn forward_with(&self, images: Tensor<B, 4>, step: Option<StepKey>) -> Tensor<B, 2> {
        let mask = |layer| step.map(|s| s.mask(layer));
        let x = pool2x2(self.conv_block(&self.conv1, images, mask(0))); // [b, 32, 15, 15]
        let x = pool2x2(self.conv_block(&self.conv2, x, mask(1))); // [b, 64, 6, 6]
        let x = self.conv_block(&self.conv3, x, mask(2)); // [b, 64, 4, 4]
        let x = flatten_images(x); // [b, 1024]
        let x = self.act(self.fc1.forward(x));
        let x = maybe_dropout(&self.dropout_dense, x, mask(3));
        self.fc2.forward(x)
    }

    fn conv_block(&self, conv: &Conv2d<B>, x: Tensor<B, 4>, mask: Option<MaskKey>) -> Tensor<B, 4> {
        // The layer's parameters, through our own op with the activation fused (see `kernels`):
        // burn's CPU backward is slow.
        let bias = conv
            .bias
            .as_ref()
            .expect("the seed CNN's convolutions have biases");
        let y = conv3x3(x, conv.weight.val(), bias.val(), self.activation.into());
        maybe_dropout(&self.dropout_conv, y, mask)
    }

    fn act<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        match self.activation {
            Activation::Relu => self.relu.forward(x),
            other => activate(other, x),
        }
    }
}

/// The non-linearity `a` applied to `x`.
pub fn activate<B: ModelOps, const D: usize>(a: Activation, x: Tensor<B, D>) -> Tensor<B, D> {
    match a {
        Activation::Relu => burn::tensor::activation::relu(x),
        Activation::Tanh => tanh_affine(x, TanhAffine::TANH),
        Activation::ScaledTanh => tanh_affine(x, TanhAffine::SCALED_TANH),
        Activation::Sigmoid => tanh_affine(x, TanhAffine::SIGMOID),
    }
}

impl<B: Backend> Cnn<B> {
    /// The first convolution's kernels, read back to the host (864 numbers).
    pub fn first_filters(&self, epoch: usize) -> crate::pictures::Filters {
        let weights = self.conv1.weight.val().into_data();
        crate::pictures::Filters {
            epoch,
            weights: weights.to_vec::<f32>().unwrap_or_default(),
        }
    }

    /// The weights an L1 penalty applies to (conv kernels and dense matrices, not biases), each
    /// summed: `sum |w|` over the network, shape [1].
    pub fn l1_norm(&self) -> Tensor<B, 1> {
        let conv = |c: &Conv2d<B>| c.weight.val().abs().sum();
        let dense = |l: &Linear<B>| l.weight.val().abs().sum();
        conv(&self.conv1)
            + conv(&self.conv2)
            + conv(&self.conv3)
            + dense(&self.fc1)
            + dense(&self.fc2)
    }

    /// Where dropout sits, for display and tests: (after convs, after the first dense layer).
    pub fn dropout_probs(&self) -> (Option<f64>, Option<f64>) {
        (
            self.dropout_conv.as_ref().map(|d| d.prob),
            self.dropout_dense.as_ref().map(|d| d.prob),
        )
    }
}

#[cfg(test)]
impl<B: Backend> Cnn<B> {
    /// The last layer's weights, for tests that follow one parameter through an update.
    pub(crate) fn fc2_weight(&self) -> &Param<Tensor<B, 2>> {
        &self.fc2.weight
    }
}

fn maybe_dropout<B: ModelOps, const D: usize>(
    d: &Option<Dropout>,
    x: Tensor<B, D>,
    mask: Option<MaskKey>,
) -> Tensor<B, D> {
    match (d, mask) {
        (Some(d), Some(mask)) => dropout(x, d.prob, mask),
        _ => x,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Cpu, CpuAd};
    use burn::tensor::{Distribution, TensorData};

    fn spec(init: Init) -> CnnSpec {
        CnnSpec {
            init,
            activation: Activation::Relu,
            dropout_conv: None,
            dropout_dense: None,
        }
    }

    #[test]
    fn has_the_tutorials_122570_parameters() {
        let m = spec(Init::Default).init::<Cpu>(1, &Default::default());
        assert_eq!(m.num_params(), 122_570);
        let y = m.forward(Tensor::zeros([2, 3, 32, 32], &Default::default()));
        assert_eq!(y.dims(), [2, 10]);
    }

    fn max_abs<const D: usize>(t: Tensor<Cpu, D>) -> f32 {
        t.abs().max().into_scalar()
    }

    #[test]
    fn kaiming_bounds_and_zero_biases() {
        let dev = Default::default();
        let k = spec(Init::KaimingRelu).init::<Cpu>(1, &dev);
        let d = spec(Init::Default).init::<Cpu>(1, &dev);
        // conv2: fan_in = 32*3*3 = 288; fc1: fan_in = 1024.
        for (w, fan_in) in [
            (max_abs(k.conv2.weight.val()), 288.0f32),
            (max_abs(k.fc1.weight.val()), 1024.0),
        ] {
            let bound = (6.0 / fan_in).sqrt();
            assert!(w <= bound && w > 0.9 * bound, "{w} vs bound {bound}");
        }
        assert_eq!(max_abs(k.conv1.bias.as_ref().unwrap().val()), 0.0);
        assert_eq!(max_abs(k.fc2.bias.as_ref().unwrap().val()), 0.0);
        // Default: U(±1/sqrt(fan_in)), biases too.
        let bound = 1.0 / 288f32.sqrt();
        let w = max_abs(d.conv2.weight.val());
        assert!(w <= bound && w > 0.9 * bound, "{w} vs {bound}");
        let b = max_abs(d.conv2.bias.as_ref().unwrap().val());
        assert!(b <= bound && b > 0.5 * bound, "bias {b} vs {bound}");
    }

    #[test]
    fn dropout_is_present_exactly_where_asked() {
        let dev = Default::default();
        for (conv, dense) in [
            (None, None),
            (Some(0.2), None),
            (None, Some(0.2)),
            (Some(0.3), Some(0.2)),
        ] {
            let m = CnnSpec {
                init: Init::Default,
                activation: Activation::Relu,
                dropout_conv: conv,
                dropout_dense: dense,
            }
            .init::<CpuAd>(1, &dev);
            assert_eq!(m.dropout_probs(), (conv, dense));
        }
    }

    #[test]
    fn dropout_acts_in_training_only() {
        use burn::module::AutodiffModule;
        let dev = Default::default();
        let x = Tensor::<CpuAd, 4>::random([4, 3, 32, 32], Distribution::Default, &dev);
        let plain = spec(Init::Default).init::<CpuAd>(1, &dev);
        let dropped = CnnSpec {
            dropout_conv: Some(0.5),
            dropout_dense: Some(0.5),
            ..spec(Init::Default)
        }
        .init::<CpuAd>(1, &dev);
        // Same weights in both (the same seed), so any difference comes from dropout.
        let step = StepKey::new(1, 0, 0);
        let train = |m: &Cnn<CpuAd>| m.forward_train(x.clone(), step);
        let train_diff: f32 = (train(&plain) - train(&dropped)).abs().sum().into_scalar();
        assert!(train_diff > 1e-3, "dropout changed nothing in training");
        // Inference drops nothing, with autodiff or without.
        let infer_diff: f32 = (plain.forward(x.clone()) - dropped.forward(x.clone()))
            .abs()
            .sum()
            .into_scalar();
        assert_eq!(infer_diff, 0.0);
        let (p, d) = (plain.valid(), dropped.valid());
        let a: TensorData = p.forward(x.clone().inner()).into_data();
        let b: TensorData = d.forward(x.inner()).into_data();
        a.assert_approx_eq::<f32>(&b, Default::default());
    }

    /// The initial network is a function of the seed alone: drawn on the host, so no other
    /// draw of the backend's generator (another run's, a test's) changes it.
    #[test]
    fn a_seed_gives_one_network_whatever_else_draws() {
        use burn::module::Module;
        let dev = Default::default();
        let weights = |m: Cnn<Cpu>| -> Vec<f32> {
            let mut all = Vec::new();
            m.visit(&mut Collect(&mut all));
            all
        };
        let first = weights(spec(Init::Default).init(5, &dev));
        Cpu::seed(&dev, 99);
        let _ = Tensor::<Cpu, 1>::random([1000], Distribution::Default, &dev);
        assert_eq!(first, weights(spec(Init::Default).init(5, &dev)));
        assert_ne!(first, weights(spec(Init::Default).init(6, &dev)));
        assert_eq!(first.len(), 122_570);
    }

    struct Collect<'a>(&'a mut Vec<f32>);

    impl<B: Backend> burn::module::ModuleVisitor<B> for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let values = param.val().into_data().convert::<f32>();
            self.0.extend(values.to_vec::<f32>().unwrap_or_default());
        }
    }

    #[test]
    fn every_activation_computes_its_formula() {
        let dev = Default::default();
        let m = |activation| {
            CnnSpec {
                activation,
                ..spec(Init::Default)
            }
            .init::<Cpu>(1, &dev)
        };
        let x = || Tensor::<Cpu, 1>::from_floats([-2.0, -1.0, 0.0, 1.0, 3.0], &dev);
        let at = |a: Activation| -> Vec<f32> { m(a).act(x()).into_data().to_vec().unwrap() };
        let close = |got: Vec<f32>, want: [f64; 5]| {
            for (g, w) in got.iter().zip(want) {
                assert!((*g as f64 - w).abs() < 1e-6, "{got:?} vs {want:?}");
            }
        };
        close(at(Activation::Relu), [0.0, 0.0, 0.0, 1.0, 3.0]);
        let xs = [-2.0f64, -1.0, 0.0, 1.0, 3.0];
        close(at(Activation::Tanh), xs.map(f64::tanh));
        close(
            at(Activation::Sigmoid),
            xs.map(|v| 1.0 / (1.0 + (-v).exp())),
        );
        let scaled = at(Activation::ScaledTanh);
        close(scaled.clone(), xs.map(|v| 1.7159 * (2.0 * v / 3.0).tanh()));
        // LeCun's choice of constants: f(1) = 1.7159 tanh(2/3) = 1.0000 (to 4 digits).
        assert!((scaled[3] - 1.0).abs() < 1e-4, "{}", scaled[3]);
    }

    #[test]
    fn lecun_init_has_std_one_over_sqrt_fan_in_and_zero_biases() {
        let m = spec(Init::Lecun).init::<Cpu>(1, &Default::default());
        // fc1: 1024 x 64 = 65,536 draws, fan_in 1024: std 1/32; the sample std is within 2%.
        let w: Vec<f32> = m.fc1.weight.val().into_data().to_vec().unwrap();
        let n = w.len() as f64;
        let mean = w.iter().map(|&v| v as f64).sum::<f64>() / n;
        let std = (w.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!((std * 32.0 - 1.0).abs() < 0.02, "std {std}");
        assert!(mean.abs() < 0.001, "mean {mean}");
        // Normal, not uniform: some draws beyond the uniform bound sqrt(3)/32.
        assert!(w.iter().any(|&v| v.abs() as f64 > 3f64.sqrt() / 32.0));
        assert_eq!(max_abs(m.conv2.bias.as_ref().unwrap().val()), 0.0);
    }
}
