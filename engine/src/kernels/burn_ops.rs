//! burn's own ops for each kernel: the GPU's kernels, and the CPU's when measuring.

use super::*;

pub fn conv3x3<B: Backend>(
    x: FloatTensor<B>,
    w: FloatTensor<B>,
    b: FloatTensor<B>,
    act: ConvAct,
) -> FloatTensor<B> {
    let y = B::conv2d(x, w, Some(b), valid());
    match act {
        ConvAct::Linear => y,
        ConvAct::Relu => B::relu(y),
        ConvAct::Tanh(f) => tanh_affine::<B>(y, f),
    }
}

pub fn conv3x3_backward<B: Backend>(
    x: FloatTensor<B>,
    w: FloatTensor<B>,
    y: FloatTensor<B>,
    g: FloatTensor<B>,
    act: ConvAct,
    [want_x, want_w, want_b]: [bool; 3],
) -> [Option<FloatTensor<B>>; 3] {
    let g = match act {
        ConvAct::Linear => g,
        ConvAct::Relu => B::relu_backward(y, g),
        ConvAct::Tanh(f) => tanh_affine_grad::<B>(y, g, f),
    };
    let db = want_b.then(|| {
        // Sum over batch and positions: [B, O, H, W] → [O].
        let [batch, out, h, wd] = g.shape().dims();
        let flat = B::float_reshape(g.clone(), [batch, out, h * wd].into());
        let summed = B::float_sum_dim(B::float_sum_dim(flat, 2), 0);
        B::float_reshape(summed, [out].into())
    });
    let dx = want_x.then(|| conv3x3_x_grad::<B>(x.clone(), w.clone(), g.clone()));
    let dw = want_w.then(|| conv3x3_w_grad::<B>(x, w, g));
    [dx, dw, db]
}
pub fn conv3x3_x_grad<B: Backend>(
    x: FloatTensor<B>,
    w: FloatTensor<B>,
    g: FloatTensor<B>,
) -> FloatTensor<B> {
    B::conv2d_x_backward(x, w, g, valid())
}
pub fn conv3x3_w_grad<B: Backend>(
    x: FloatTensor<B>,
    w: FloatTensor<B>,
    g: FloatTensor<B>,
) -> FloatTensor<B> {
    B::conv2d_weight_backward(x, w, g, valid())
}

/// burn's pooling backward wants the input and the argmax indices.
pub type PoolState<B> = (FloatTensor<B>, IntTensor<B>);

pub fn pool2x2<B: Backend>(x: FloatTensor<B>) -> (FloatTensor<B>, PoolState<B>) {
    let out = B::max_pool2d_with_indices(x.clone(), [2, 2], [2, 2], [0, 0], [1, 1], false);
    (out.output, (x, out.indices))
}
pub fn pool2x2_grad<B: Backend>((x, indices): PoolState<B>, g: FloatTensor<B>) -> FloatTensor<B> {
    B::max_pool2d_with_indices_backward(x, [2, 2], [2, 2], [0, 0], [1, 1], false, g, indices).x_grad
}

pub fn upload_images<B: Backend>(bytes: Vec<u8>, n: usize, device: &B::Device) -> IntTensor<B> {
    let images = TensorData::new(bytes, [n, IMAGE_BYTES]);
    Tensor::<B, 2, Int>::from_data(images, (device, DType::U8)).into_primitive()
}

/// WGSL has no 8-bit integers: four pixels to an `i32` word, [N, 768], little-endian.
pub fn upload_packed_images<B: Backend>(
    bytes: Vec<u8>,
    n: usize,
    device: &B::Device,
) -> IntTensor<B> {
    let words: Vec<i32> = bytes
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let images = TensorData::new(words, [n, IMAGE_BYTES / 4]);
    Tensor::<B, 2, Int>::from_data(images, device).into_primitive()
}

/// [`gather_images`] from [`upload_packed_images`]'s words: each byte shifted down and
/// masked (an arithmetic shift leaves the low byte right), in pixel order.
pub fn gather_packed_images<B: Backend>(
    images: IntTensor<B>,
    index: &[i64],
    scale: [f32; 3],
    shift: [f32; 3],
) -> FloatTensor<B> {
    let n = index.len();
    let words = rows::<B>(images, index);
    let bytes = [0, 8, 16, 24].map(|s| {
        words
            .clone()
            .bitwise_right_shift_scalar(s.elem())
            .bitwise_and_scalar(255.elem())
    });
    map_pixels(
        Tensor::stack::<3>(bytes.to_vec(), 2).reshape([n, IMAGE_BYTES]),
        scale,
        shift,
    )
}

pub fn gather_images<B: Backend>(
    images: IntTensor<B>,
    index: &[i64],
    scale: [f32; 3],
    shift: [f32; 3],
) -> FloatTensor<B> {
    map_pixels(rows::<B>(images, index), scale, shift)
}

/// The rows at `index` of `images`.
fn rows<B: Backend>(images: IntTensor<B>, index: &[i64]) -> Tensor<B, 2, Int> {
    let device = B::int_device(&images);
    let n = index.len();
    let index = Tensor::<B, 1, Int>::from_data(TensorData::new(index.to_vec(), [n]), &device);
    Tensor::<B, 2, Int>::from_primitive(images).select(0, index)
}

/// Pixels [n, 3072] as network input [n, 3, 32, 32]: channel c times `scale[c]` plus
/// `shift[c]`.
fn map_pixels<B: Backend>(
    pixels: Tensor<B, 2, Int>,
    scale: [f32; 3],
    shift: [f32; 3],
) -> FloatTensor<B> {
    let device = pixels.device();
    let n = pixels.dims()[0];
    let channel = |v: [f32; 3]| Tensor::<B, 1>::from_floats(v, &device).reshape([1, 3, 1, 1]);
    float(pixels.float().reshape([n, 3, 32, 32]) * channel(scale) + channel(shift))
}

pub fn flatten_images<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let [b, c, h, w] = x.shape().dims();
    B::float_reshape(x, Shape::new([b, c * h * w]))
}

pub fn unflatten_images<B: Backend>(g: FloatTensor<B>, shape: [usize; 4]) -> FloatTensor<B> {
    B::float_reshape(g, Shape::new(shape))
}

pub fn dropout<B: Backend>(x: FloatTensor<B>, p: f64, key: MaskKey) -> FloatTensor<B> {
    let mask = dropout_mask::<B>(x.shape(), p, key, &B::float_device(&x));
    B::float_mul(x, mask)
}

/// The mask as integer tensor ops on the device: nothing crosses from the host but the
/// key. Every value stays a non-negative 31-bit integer (see [`seeding::mix31`]).
pub fn dropout_mask<B: Backend>(
    shape: Shape,
    p: f64,
    key: MaskKey,
    device: &B::Device,
) -> FloatTensor<B> {
    fn mix31<B: Backend>(x: Tensor<B, 1, Int>) -> Tensor<B, 1, Int> {
        let round = |x: Tensor<B, 1, Int>| {
            let x = x
                .clone()
                .bitwise_xor(x.bitwise_right_shift_scalar(16.elem()));
            x.mul_scalar(seeding::MIX as i64)
                .bitwise_and_scalar((seeding::M31 as i64).elem())
        };
        let x = round(round(x));
        x.clone()
            .bitwise_xor(x.bitwise_right_shift_scalar(16.elem()))
    }
    let n = shape.num_elements() as i64;
    let i = Tensor::<B, 1, Int>::arange(0..n, device);
    let draw = mix31(
        mix31(i.bitwise_xor_scalar((key.k0 as i64).elem()))
            .bitwise_xor_scalar((key.k1 as i64).elem()),
    );
    let keep = draw.greater_equal_elem(seeding::keep_threshold(p) as i64);
    let scaled = keep.float().mul_scalar(1.0 / (1.0 - p));
    B::float_reshape(scaled.into_primitive().tensor(), shape)
}

pub fn tanh_affine<B: Backend>(x: FloatTensor<B>, f: TanhAffine) -> FloatTensor<B> {
    let t = B::float_tanh(B::float_mul_scalar(x, f.b.into()));
    B::float_add_scalar(B::float_mul_scalar(t, f.a.into()), f.c.into())
}
pub fn tanh_affine_grad<B: Backend>(
    y: FloatTensor<B>,
    g: FloatTensor<B>,
    f: TanhAffine,
) -> FloatTensor<B> {
    // g·a·b·(1 − t²) = g·(b/a)·(a² − (y − c)²)
    let d = B::float_add_scalar(y, (-f.c).into());
    let slope = B::float_add_scalar(B::float_neg(B::float_mul(d.clone(), d)), (f.a * f.a).into());
    B::float_mul(g, B::float_mul_scalar(slope, (f.b / f.a).into()))
}
