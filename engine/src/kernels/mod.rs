//! A backend extension for the seed CNN's hot layers: 3x3 convolution with its activation,
//! 2x2 max-pooling, dropout and the tanh-shaped activations, as autodiff ops with their own
//! backward, over per-backend kernels.
//!
//! Why: on the CPU, burn 0.21's `flex` computes a convolution's weight gradient as a
//! convolution with a 30x30 kernel through its 3-d path (19 ms of a 70 ms step for the first
//! layer alone), pools through a 3-d path too, and draws dropout masks one ChaCha number per
//! element (BENCHMARKS.md). `cpu.rs` does each with im2col + `gemm`, a direct 2x2 scan, and a
//! counter-based generator, all on channels-last activations (no op transposes; see `cpu.rs`),
//! the activation applied while a convolution's output is in cache. Its `tanh` is a scalar libm call per element, three ops (and three
//! backward nodes) for LeCun's 1.7159·tanh(2x/3): a scaled-tanh network trained at 900 img/s
//! against ReLU's 6,600; `cpu.rs` evaluates it in one vectorized pass. On CUDA the kernels are
//! burn's own ops, wrapped in these ops' autodiff nodes (the tanh's backward is computed from
//! its output, not through burn's three nodes; unmeasured there: no GPU was at hand).

mod cpu;

use std::fmt::Debug;

use burn::backend::Autodiff;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ops::{ConvOptions, FloatTensor, IntTensor};
use burn::tensor::{DType, Int, Shape, Tensor, TensorData, TensorMetadata, TensorPrimitive};

use crate::data::cifar::IMAGE_BYTES;
use burn_autodiff::NodeId;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};

use crate::backend::{Gpu, Wgpu};
use crate::seeding::{self, MaskKey};
use burn::tensor::ElementConversion;

fn valid() -> ConvOptions<2> {
    ConvOptions::new([1, 1], [0, 0], [1, 1], 1)
}

/// KernelBackend of a non-autodiff backend. The defaults are burn's own ops ([`burn_ops`]).
///
/// Convolutions are valid, stride 1, 3x3, with bias: x [B, C, H, W], w [O, C, 3, 3], b [O],
/// output and its gradient g [B, O, H-2, W-2]. Pooling is 2x2, stride 2, floor.
pub trait KernelBackend: Backend {
    /// What the pooling backward needs from the forward pass.
    type PoolState: Clone + Send + Sync + Debug + 'static;

    /// `act(conv(x, w) + b)`.
    fn conv3x3(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
        act: ConvAct,
    ) -> FloatTensor<Self> {
        burn_ops::conv3x3::<Self>(x, w, b, act)
    }
    /// The gradients of [`KernelBackend::conv3x3`] with respect to `x`, `w` and `b`, each where
    /// `want` asks, from the inputs, the output `y` and the output's gradient `g`.
    fn conv3x3_backward(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        y: FloatTensor<Self>,
        g: FloatTensor<Self>,
        act: ConvAct,
        want: [bool; 3],
    ) -> [Option<FloatTensor<Self>>; 3] {
        burn_ops::conv3x3_backward::<Self>(x, w, y, g, act, want)
    }

    fn pool2x2(x: FloatTensor<Self>) -> (FloatTensor<Self>, Self::PoolState);
    fn pool2x2_grad(state: Self::PoolState, g: FloatTensor<Self>) -> FloatTensor<Self>;

    /// The u8 images [N, 3072] as they stay on the device: one byte a pixel where the backend
    /// has bytes (a quarter of f32's memory).
    fn upload_images(bytes: Vec<u8>, n: usize, device: &Self::Device) -> IntTensor<Self> {
        burn_ops::upload_images::<Self>(bytes, n, device)
    }

    /// Network input from the images of [`KernelBackend::upload_images`]: the rows at `index`, each
    /// channel's pixels times `scale[c]` plus `shift[c]` → [n, 3, 32, 32].
    fn gather_images(
        images: IntTensor<Self>,
        index: &[i64],
        scale: [f32; 3],
        shift: [f32; 3],
    ) -> FloatTensor<Self> {
        burn_ops::gather_images::<Self>(images, index, scale, shift)
    }

    /// [B, C, H, W] → [B, C·H·W] in burn's order (channel, row, column): the dense layer's
    /// input, as burn's `flatten(1, 3)`.
    fn flatten_images(x: FloatTensor<Self>) -> FloatTensor<Self> {
        burn_ops::flatten_images::<Self>(x)
    }
    /// Its backward: the gradient `g` [B, C·H·W] as the input's [B, C, H, W].
    fn unflatten_images(g: FloatTensor<Self>, shape: [usize; 4]) -> FloatTensor<Self> {
        burn_ops::unflatten_images::<Self>(g, shape)
    }

    /// Inverted dropout: `x` times 0 with probability `p`, else 1/(1-p), element `i` (in the
    /// tensor's logical order, whatever its memory layout) kept when `key.draw(i)` is at or
    /// above `keep_threshold(p)` ([`crate::seeding`]): the same mask for the same key on every
    /// backend. Its own backward: the gradient goes through the same mask.
    fn dropout(x: FloatTensor<Self>, p: f64, key: MaskKey) -> FloatTensor<Self> {
        burn_ops::dropout::<Self>(x, p, key)
    }

    /// `f(x)` elementwise for the tanh-shaped `f`.
    fn tanh_affine(x: FloatTensor<Self>, f: TanhAffine) -> FloatTensor<Self> {
        burn_ops::tanh_affine::<Self>(x, f)
    }
    /// The input's gradient, from the output `y = f(x)` and the output's gradient `g`.
    fn tanh_affine_grad(
        y: FloatTensor<Self>,
        g: FloatTensor<Self>,
        f: TanhAffine,
    ) -> FloatTensor<Self> {
        burn_ops::tanh_affine_grad::<Self>(y, g, f)
    }
}

/// `f(x) = c + a·tanh(b·x)`: tanh (1, 1, 0), LeCun's 1.7159·tanh(2x/3), and the logistic
/// sigmoid (½, ½, ½), which is a shifted tanh. Its derivative needs only its output:
/// `f'(x) = a·b·(1 − t²)` with `t = (f(x) − c)/a`, so the backward keeps `y`, not `x`.
/// The sigmoid so computed is within 1e-6 of the logistic function in absolute terms, but not
/// in relative ones far left: it reaches 0 (and its slope 0) below x ≈ −16, where the logistic
/// function is under 1e-7; no objective here takes its log.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TanhAffine {
    pub a: f32,
    pub b: f32,
    pub c: f32,
}

impl TanhAffine {
    pub const TANH: TanhAffine = TanhAffine {
        a: 1.0,
        b: 1.0,
        c: 0.0,
    };
    pub const SCALED_TANH: TanhAffine = TanhAffine {
        a: 1.7159,
        b: 2.0 / 3.0,
        c: 0.0,
    };
    pub const SIGMOID: TanhAffine = TanhAffine {
        a: 0.5,
        b: 0.5,
        c: 0.5,
    };
}

/// What a convolution applies to its sum before writing it: fused into the convolution so that
/// the CPU's kernels apply it while the output is in cache, and so that its backward (from the
/// output alone) runs inside the convolution's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ConvAct {
    Linear,
    Relu,
    Tanh(TanhAffine),
}

impl From<crate::config::Activation> for ConvAct {
    fn from(a: crate::config::Activation) -> ConvAct {
        use crate::config::Activation;
        match a {
            Activation::Relu => ConvAct::Relu,
            Activation::Tanh => ConvAct::Tanh(TanhAffine::TANH),
            Activation::ScaledTanh => ConvAct::Tanh(TanhAffine::SCALED_TANH),
            Activation::Sigmoid => ConvAct::Tanh(TanhAffine::SIGMOID),
        }
    }
}

pub mod burn_ops;

/// CUDA runs burn's own ops for every kernel.
impl KernelBackend for Gpu {
    type PoolState = burn_ops::PoolState<Gpu>;

    fn pool2x2(x: FloatTensor<Self>) -> (FloatTensor<Self>, Self::PoolState) {
        burn_ops::pool2x2::<Self>(x)
    }
    fn pool2x2_grad(state: Self::PoolState, g: FloatTensor<Self>) -> FloatTensor<Self> {
        burn_ops::pool2x2_grad::<Self>(state, g)
    }
}

/// burn's ops, but the images packed four bytes to a word: WGSL has no 8-bit integers.
impl KernelBackend for Wgpu {
    type PoolState = burn_ops::PoolState<Wgpu>;

    fn pool2x2(x: FloatTensor<Self>) -> (FloatTensor<Self>, Self::PoolState) {
        burn_ops::pool2x2::<Self>(x)
    }
    fn pool2x2_grad(state: Self::PoolState, g: FloatTensor<Self>) -> FloatTensor<Self> {
        burn_ops::pool2x2_grad::<Self>(state, g)
    }
    fn upload_images(bytes: Vec<u8>, n: usize, device: &Self::Device) -> IntTensor<Self> {
        burn_ops::upload_packed_images::<Self>(bytes, n, device)
    }
    fn gather_images(
        images: IntTensor<Self>,
        index: &[i64],
        scale: [f32; 3],
        shift: [f32; 3],
    ) -> FloatTensor<Self> {
        burn_ops::gather_packed_images::<Self>(images, index, scale, shift)
    }
}

/// The ops the model calls; every backend it trains or evaluates on provides them.
pub trait ModelOps: Backend {
    fn conv3x3_op(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
        act: ConvAct,
    ) -> FloatTensor<Self>;
    fn pool2x2_op(x: FloatTensor<Self>) -> FloatTensor<Self>;
    fn flatten_images_op(x: FloatTensor<Self>) -> FloatTensor<Self>;
    fn dropout_op(x: FloatTensor<Self>, p: f64, key: MaskKey) -> FloatTensor<Self>;
    fn tanh_affine_op(x: FloatTensor<Self>, f: TanhAffine) -> FloatTensor<Self>;
    fn upload_images_op(bytes: Vec<u8>, n: usize, device: &Self::Device) -> IntTensor<Self>;
    fn gather_images_op(
        images: IntTensor<Self>,
        index: &[i64],
        scale: [f32; 3],
        shift: [f32; 3],
    ) -> FloatTensor<Self>;
}

impl<B: KernelBackend> ModelOps for B {
    fn conv3x3_op(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
        act: ConvAct,
    ) -> FloatTensor<Self> {
        B::conv3x3(x, w, b, act)
    }
    fn pool2x2_op(x: FloatTensor<Self>) -> FloatTensor<Self> {
        B::pool2x2(x).0
    }
    fn flatten_images_op(x: FloatTensor<Self>) -> FloatTensor<Self> {
        B::flatten_images(x)
    }
    fn dropout_op(x: FloatTensor<Self>, p: f64, key: MaskKey) -> FloatTensor<Self> {
        B::dropout(x, p, key)
    }
    fn tanh_affine_op(x: FloatTensor<Self>, f: TanhAffine) -> FloatTensor<Self> {
        B::tanh_affine(x, f)
    }
    fn upload_images_op(bytes: Vec<u8>, n: usize, device: &Self::Device) -> IntTensor<Self> {
        B::upload_images(bytes, n, device)
    }
    fn gather_images_op(
        images: IntTensor<Self>,
        index: &[i64],
        scale: [f32; 3],
        shift: [f32; 3],
    ) -> FloatTensor<Self> {
        B::gather_images(images, index, scale, shift)
    }
}

/// A backend the engine trains on: autodiff over a backend with the kernels.
pub trait TrainBackend: AutodiffBackend<InnerBackend: ModelOps> + ModelOps {}

impl<B> TrainBackend for B
where
    B: AutodiffBackend + ModelOps,
    B::InnerBackend: ModelOps,
{
}

#[derive(Debug)]
struct Conv3x3Backward(ConvAct);

impl<B: KernelBackend> Backward<B, 3> for Conv3x3Backward {
    /// The input's and the weight's checkpoints, and the output.
    type State = (NodeId, NodeId, FloatTensor<B>);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let g = grads.consume::<B>(&ops.node);
        let (x, w, y) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x);
        let w = checkpointer.retrieve_node_output::<FloatTensor<B>>(w);
        let want = ops.parents.each_ref().map(Option::is_some);
        let found = B::conv3x3_backward(x, w, y, g, self.0, want);
        for (node, grad) in ops.parents.into_iter().zip(found) {
            if let (Some(node), Some(grad)) = (node, grad) {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

/// The mask is a function of the key and each element's place, so the backward draws it again
/// instead of keeping it.
#[derive(Debug)]
struct DropoutBackward {
    p: f64,
    key: MaskKey,
}

impl<B: KernelBackend> Backward<B, 1> for DropoutBackward {
    type State = ();

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let g = grads.consume::<B>(&ops.node);
        if let Some(node) = node {
            grads.register::<B>(node.id, B::dropout(g, self.p, self.key));
        }
    }
}

#[derive(Debug)]
struct FlattenBackward;

impl<B: KernelBackend> Backward<B, 1> for FlattenBackward {
    /// The input's shape.
    type State = [usize; 4];

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let g = grads.consume::<B>(&ops.node);
        if let Some(node) = node {
            grads.register::<B>(node.id, B::unflatten_images(g, ops.state));
        }
    }
}

#[derive(Debug)]
struct Pool2x2Backward;

impl<B: KernelBackend> Backward<B, 1> for Pool2x2Backward {
    type State = B::PoolState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let g = grads.consume::<B>(&ops.node);
        if let Some(node) = node {
            grads.register::<B>(node.id, B::pool2x2_grad(ops.state, g));
        }
    }
}

#[derive(Debug)]
struct TanhAffineBackward(TanhAffine);

impl<B: KernelBackend> Backward<B, 1> for TanhAffineBackward {
    /// The op's output.
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let g = grads.consume::<B>(&ops.node);
        if let Some(node) = node {
            grads.register::<B>(node.id, B::tanh_affine_grad(ops.state, g, self.0));
        }
    }
}

impl<B: KernelBackend, C: CheckpointStrategy> ModelOps for Autodiff<B, C> {
    fn conv3x3_op(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
        act: ConvAct,
    ) -> FloatTensor<Self> {
        match Conv3x3Backward(act)
            .prepare::<C>([x.node.clone(), w.node.clone(), b.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let (xs, ws) = (prep.checkpoint(&x), prep.checkpoint(&w));
                let y = B::conv3x3(x.primitive, w.primitive, b.primitive, act);
                prep.finish((xs, ws, y.clone()), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::conv3x3(x.primitive, w.primitive, b.primitive, act))
            }
        }
    }

    fn pool2x2_op(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match Pool2x2Backward
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (out, state) = B::pool2x2(x.primitive);
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::pool2x2(x.primitive).0),
        }
    }

    fn flatten_images_op(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let shape = x.primitive.shape().dims();
        match FlattenBackward
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(shape, B::flatten_images(x.primitive)),
            OpsKind::UnTracked(prep) => prep.finish(B::flatten_images(x.primitive)),
        }
    }

    fn dropout_op(x: FloatTensor<Self>, p: f64, key: MaskKey) -> FloatTensor<Self> {
        DropoutBackward { p, key }
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateless(B::dropout(x.primitive, p, key))
    }

    fn tanh_affine_op(x: FloatTensor<Self>, f: TanhAffine) -> FloatTensor<Self> {
        match TanhAffineBackward(f)
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = B::tanh_affine(x.primitive, f);
                prep.finish(y.clone(), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::tanh_affine(x.primitive, f)),
        }
    }

    fn upload_images_op(bytes: Vec<u8>, n: usize, device: &Self::Device) -> IntTensor<Self> {
        // Int tensors are the inner backend's.
        B::upload_images(bytes, n, device)
    }

    fn gather_images_op(
        images: IntTensor<Self>,
        index: &[i64],
        scale: [f32; 3],
        shift: [f32; 3],
    ) -> FloatTensor<Self> {
        // Inputs need no gradient; int tensors are the inner backend's already.
        Self::from_inner(B::gather_images(images, index, scale, shift))
    }
}

fn float<B: Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

/// `act(x ⊛ w + b)`: `x` [B, C, H, W] convolved with `w` [O, C, 3, 3], plus `b` [O].
pub fn conv3x3<B: ModelOps>(
    x: Tensor<B, 4>,
    w: Tensor<B, 4>,
    b: Tensor<B, 1>,
    act: ConvAct,
) -> Tensor<B, 4> {
    Tensor::from_primitive(TensorPrimitive::Float(B::conv3x3_op(
        float(x),
        float(w),
        float(b),
        act,
    )))
}

/// 2x2 max-pooling, stride 2: [B, C, H, W] → [B, C, H/2, W/2].
pub fn pool2x2<B: ModelOps>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    Tensor::from_primitive(TensorPrimitive::Float(B::pool2x2_op(float(x))))
}

/// [B, C, H, W] → [B, C·H·W] in burn's order, as `flatten(1, 3)`: on the CPU one parallel
/// pass from the channels-last storage, where burn's reshape of that layout went through a
/// generic strided copy on one thread (3% of a training step).
pub fn flatten_images<B: ModelOps>(x: Tensor<B, 4>) -> Tensor<B, 2> {
    Tensor::from_primitive(TensorPrimitive::Float(B::flatten_images_op(float(x))))
}

/// Inverted dropout with drop probability `p` and the mask of `key`, in training (autodiff)
/// only; identity otherwise.
pub fn dropout<B: ModelOps, const D: usize>(x: Tensor<B, D>, p: f64, key: MaskKey) -> Tensor<B, D> {
    if !B::ad_enabled(&x.device()) || p == 0.0 {
        return x;
    }
    Tensor::from_primitive(TensorPrimitive::Float(B::dropout_op(float(x), p, key)))
}

/// `f(x)` elementwise (see [`TanhAffine`]).
pub fn tanh_affine<B: ModelOps, const D: usize>(x: Tensor<B, D>, f: TanhAffine) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(B::tanh_affine_op(float(x), f)))
}

/// The u8 images [N, 3072] onto the device, as [`gather_images`] reads them.
pub fn upload_images<B: ModelOps>(
    bytes: Vec<u8>,
    n: usize,
    device: &B::Device,
) -> Tensor<B, 2, Int> {
    Tensor::from_primitive(B::upload_images_op(bytes, n, device))
}

/// Network input for the images at `index` of [`upload_images`]'s, mapped per channel.
pub fn gather_images<B: ModelOps>(
    images: Tensor<B, 2, Int>,
    index: &[i64],
    scale: [f32; 3],
    shift: [f32; 3],
) -> Tensor<B, 4> {
    Tensor::from_primitive(TensorPrimitive::Float(B::gather_images_op(
        images.into_primitive(),
        index,
        scale,
        shift,
    )))
}

pub use cpu::{CpuKernel, uses_burn};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Cpu, CpuAd};
    use crate::seeding::StepKey;
    use burn::tensor::{Distribution, Tolerance};

    /// The op and burn's own conv2d (then burn's activation) agree on the output and on all
    /// three gradients, for each activation the op fuses.
    #[test]
    fn conv_matches_burns_conv2d_forward_and_backward() {
        let dev = Default::default();
        let acts = [
            ConvAct::Linear,
            ConvAct::Relu,
            ConvAct::Tanh(TanhAffine::SCALED_TANH),
        ];
        for ((c, o, h), act) in [(3, 32, 12), (5, 7, 9), (32, 64, 6)]
            .into_iter()
            .flat_map(|dims| acts.map(|a| (dims, a)))
        {
            let x = Tensor::<CpuAd, 4>::random([3, c, h, h + 1], Distribution::Default, &dev)
                .require_grad();
            let w = Tensor::<CpuAd, 4>::random([o, c, 3, 3], Distribution::Default, &dev)
                .require_grad();
            let b = Tensor::<CpuAd, 1>::random([o], Distribution::Default, &dev).require_grad();
            // A weighting of the output, so every gradient entry differs.
            let r = Tensor::<CpuAd, 4>::random([3, o, h - 2, h - 1], Distribution::Default, &dev);

            let ours = conv3x3(x.clone(), w.clone(), b.clone(), act);
            let sum = burn::tensor::module::conv2d(x.clone(), w.clone(), Some(b.clone()), valid());
            let theirs = match act {
                ConvAct::Linear => sum,
                ConvAct::Relu => burn::tensor::activation::relu(sum),
                ConvAct::Tanh(f) => sum.mul_scalar(f.b).tanh().mul_scalar(f.a).add_scalar(f.c),
            };
            // Relative as well as absolute: weight gradients reach ~80, and another CPU's
            // gemm sums in another order (CI once differed by 1.1e-4 at 77.68, rel 1.4e-6).
            // A wrong index or a missing term is off by O(1), far outside either bound.
            let tol = Tolerance::<f32>::rel_abs(1e-4, 1e-4);
            ours.to_data()
                .assert_approx_eq::<f32>(&theirs.to_data(), tol);

            let g1 = (ours * r.clone()).sum().backward();
            let g2 = (theirs * r).sum().backward();
            let same = |a: Tensor<Cpu, 4>, b: Tensor<Cpu, 4>| {
                a.to_data().assert_approx_eq::<f32>(&b.to_data(), tol)
            };
            same(x.grad(&g1).unwrap(), x.grad(&g2).unwrap());
            same(w.grad(&g1).unwrap(), w.grad(&g2).unwrap());
            b.grad(&g1)
                .unwrap()
                .to_data()
                .assert_approx_eq::<f32>(&b.grad(&g2).unwrap().to_data(), tol);
        }
    }

    /// The seed CNN's layers in a row, each taking the previous one's channels-last output
    /// (the flatten before the dense layer reading the last one), agree with burn's ops end to
    /// end, forward and backward.
    #[test]
    fn layers_in_a_row_read_each_others_layout() {
        let dev = Default::default();
        let x = Tensor::<CpuAd, 4>::random([4, 3, 14, 14], Distribution::Default, &dev);
        let param = |shape: [usize; 4]| {
            Tensor::<CpuAd, 4>::random(shape, Distribution::Default, &dev).require_grad()
        };
        let (w1, w2) = (param([8, 3, 3, 3]), param([16, 8, 3, 3]));
        let bias = |n| Tensor::<CpuAd, 1>::zeros([n], &dev).require_grad();
        let (b1, b2) = (bias(8), bias(16));
        let key = StepKey::new(3, 0, 0).mask(1);

        let h = pool2x2(conv3x3(
            gather_like(x.clone()),
            w1.clone(),
            b1.clone(),
            ConvAct::Relu,
        ));
        let ours = flatten_images(conv3x3(
            dropout(h, 0.3, key),
            w2.clone(),
            b2.clone(),
            ConvAct::Relu,
        ));
        let relu = burn::tensor::activation::relu;
        let conv = |x, w, b| relu(burn::tensor::module::conv2d(x, w, Some(b), valid()));
        let pool = |x| burn::tensor::module::max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], false);
        let h = pool(conv(x, w1.clone(), b1.clone()));
        let mask = Tensor::<Cpu, 4>::from_primitive(TensorPrimitive::Float(
            burn_ops::dropout_mask::<Cpu>(h.shape(), 0.3, key, &dev),
        ));
        let mask = Tensor::<CpuAd, 4>::from_data(mask.into_data(), &dev);
        let theirs = conv(h * mask, w2.clone(), b2.clone()).flatten::<2>(1, 3);

        let tol = Tolerance::<f32>::rel_abs(1e-4, 1e-4);
        ours.to_data()
            .assert_approx_eq::<f32>(&theirs.to_data(), tol);
        let r = Tensor::<CpuAd, 2>::random(ours.dims(), Distribution::Default, &dev);
        let g1 = (ours * r.clone()).sum().backward();
        let g2 = (theirs * r).sum().backward();
        for w in [&w1, &w2] {
            w.grad(&g1)
                .unwrap()
                .to_data()
                .assert_approx_eq::<f32>(&w.grad(&g2).unwrap().to_data(), tol);
        }
        b1.grad(&g1)
            .unwrap()
            .to_data()
            .assert_approx_eq::<f32>(&b1.grad(&g2).unwrap().to_data(), tol);
    }

    /// `x` stored channels-last, as the CPU's gather writes network input.
    fn gather_like(x: Tensor<CpuAd, 4>) -> Tensor<CpuAd, 4> {
        let last = x.permute([0, 2, 3, 1]).into_data();
        Tensor::<CpuAd, 4>::from_data(last, &Default::default()).permute([0, 3, 1, 2])
    }

    /// The op and burn's max_pool2d agree, odd sizes included (the last row and column drop).
    #[test]
    fn pool_matches_burns_max_pool2d_forward_and_backward() {
        let dev = Default::default();
        for (h, w) in [(30, 30), (13, 13), (6, 7)] {
            let x = Tensor::<CpuAd, 4>::random([2, 3, h, w], Distribution::Default, &dev)
                .require_grad();
            let r = Tensor::<CpuAd, 4>::random([2, 3, h / 2, w / 2], Distribution::Default, &dev);
            let ours = pool2x2(x.clone());
            let theirs =
                burn::tensor::module::max_pool2d(x.clone(), [2, 2], [2, 2], [0, 0], [1, 1], false);
            assert_eq!(ours.to_data(), theirs.to_data());
            let g1 = x.grad(&(ours * r.clone()).sum().backward()).unwrap();
            let g2 = x.grad(&(theirs * r).sum().backward()).unwrap();
            assert_eq!(g1.to_data(), g2.to_data());
        }
    }

    #[test]
    fn dropout_masks_drop_p_and_scale_the_rest() {
        let dev = Default::default();
        let key = StepKey::new(9, 0, 0).mask(0);
        let x = Tensor::<CpuAd, 2>::ones([1000, 1000], &dev);
        let y: Vec<f32> = dropout(x.clone(), 0.2, key).into_data().to_vec().unwrap();
        let dropped = y.iter().filter(|&&v| v == 0.0).count() as f64 / y.len() as f64;
        assert!((dropped - 0.2).abs() < 0.002, "dropped {dropped}");
        assert!(y.iter().all(|&v| v == 0.0 || (v - 1.25).abs() < 1e-6));
        // A function of its key: the same key, the same mask; the next step's key, another.
        let again: Vec<f32> = dropout(x.clone(), 0.2, key).into_data().to_vec().unwrap();
        assert_eq!(y, again);
        let next = StepKey::new(9, 0, 1).mask(0);
        let other: Vec<f32> = dropout(x.clone(), 0.2, next).into_data().to_vec().unwrap();
        assert_ne!(y, other);
        // Evaluation (no autodiff): identity.
        assert_eq!(
            dropout(x.inner(), 0.5, key).into_data(),
            Tensor::<Cpu, 2>::ones([1000, 1000], &dev).into_data()
        );
    }

    /// The CPU's dropout and the integer tensor ops that the GPUs run give the same bits for the
    /// same key (burn's ops run here on `flex`, whose integers are 64-bit), whether the tensor
    /// is stored channels-first or channels-last.
    #[test]
    fn the_cpu_mask_and_the_gpu_ops_mask_are_the_same_bits() {
        let dev = Default::default();
        for (shape, p, key) in [
            (
                Shape::new([64, 32, 30, 30]),
                0.2,
                StepKey::new(1, 0, 0).mask(0),
            ),
            (
                Shape::new([7, 64]),
                0.5,
                StepKey::new(u64::MAX, 9, 780).mask(3),
            ),
            (Shape::new([3, 5]), 0.0, StepKey::new(2, 1, 1).mask(1)),
        ] {
            let n = shape.num_elements();
            let x = Tensor::<Cpu, 1>::from_floats(
                (0..n)
                    .map(|i| 1.0 + i as f32)
                    .collect::<Vec<_>>()
                    .as_slice(),
                &dev,
            )
            .reshape(shape.clone());
            let drop = |x: FloatTensor<Cpu>| {
                Tensor::<Cpu, 1>::from_primitive(TensorPrimitive::Float(x)).into_data()
            };
            let burns = drop(burn_ops::dropout::<Cpu>(float(x.clone()), p, key));
            let ours = drop(<Cpu as KernelBackend>::dropout(float(x.clone()), p, key));
            assert_eq!(ours, burns, "p {p}");
            if shape.num_dims() == 4 {
                let [b, c, h, w] = shape.dims();
                let last = x.permute([0, 2, 3, 1]).into_data();
                let last = Tensor::<Cpu, 4>::from_data(last, &dev).permute([0, 3, 1, 2]);
                assert!(
                    cpu::is_channels_last(&float(last.clone())),
                    "{b} {c} {h} {w}"
                );
                let ours = drop(<Cpu as KernelBackend>::dropout(float(last), p, key));
                assert_eq!(ours, burns, "channels-last, p {p}");
            }
        }
    }

    /// The one-pass tanh forms and their backward agree with burn's tanh-mul-add chain, and
    /// with f64's tanh within 1e-6 over a dense grid, out to where tanh is ±1 in f32.
    #[test]
    fn tanh_forms_match_burns_ops_forward_and_backward() {
        let dev = Default::default();
        let grid: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 0.005).collect(); // ±20
        let n = grid.len();
        for f in [
            TanhAffine::TANH,
            TanhAffine::SCALED_TANH,
            TanhAffine::SIGMOID,
        ] {
            let x = Tensor::<CpuAd, 1>::from_floats(grid.as_slice(), &dev).require_grad();
            let r = Tensor::<CpuAd, 1>::random([n], Distribution::Default, &dev);
            let ours = tanh_affine(x.clone(), f);
            let theirs = (x.clone() * f.b).tanh() * f.a + f.c;

            let got: Vec<f32> = ours.to_data().to_vec().unwrap();
            for (&v, &y) in grid.iter().zip(&got) {
                let want = f.c as f64 + f.a as f64 * (f.b as f64 * v as f64).tanh();
                assert!(
                    (y as f64 - want).abs() < 1e-6,
                    "{f:?} at {v}: {y} vs {want}"
                );
            }
            let tol = Tolerance::<f32>::rel_abs(1e-5, 1e-6);
            ours.to_data()
                .assert_approx_eq::<f32>(&theirs.to_data(), tol);
            let g1 = x.grad(&(ours * r.clone()).sum().backward()).unwrap();
            let g2 = x.grad(&(theirs * r).sum().backward()).unwrap();
            g1.to_data().assert_approx_eq::<f32>(&g2.to_data(), tol);
        }
        let odd = Tensor::<Cpu, 1>::from_floats([f32::NAN, f32::INFINITY, -1e30], &dev);
        let y: Vec<f32> = tanh_affine(odd, TanhAffine::SCALED_TANH)
            .to_data()
            .to_vec()
            .unwrap();
        assert!(y[0].is_nan(), "{y:?}");
        assert!(
            (y[1] - 1.7159).abs() < 1e-6 && (y[2] + 1.7159).abs() < 1e-6,
            "{y:?}"
        );
    }
}
