//! The CPU kernels: im2col + `gemm` convolutions with their activation fused, a direct 2x2
//! pooling scan, dropout from a counter-based hash ([`crate::seeding`]), and a vectorized tanh,
//! all parallel on rayon's pool. This file splits the tensors over rayon; the loops over one
//! image or block are in the `cifar_loops` crate.
//!
//! Images and activations are channels-last in memory ([B, H, W, C], see
//! `cifar_loops::conv`) while burn sees the usual [B, C, H, W]: each tensor these kernels
//! write is a permuted view of channels-last storage, so burn's own ops (a reshape, a copy)
//! still read it right, and these kernels take their own outputs as they are.
#![allow(unsafe_code)]

use burn::tensor::{Shape, TensorData, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use cifar_loops::act::{self, Act};
use cifar_loops::conv::{self, Dims, col2im, im2col};
use cifar_loops::{Out, pool, tanh};

use super::{ConvAct, KernelBackend, TanhAffine, burn_ops};
use crate::seeding::{MaskKey, keep_threshold};

/// The CPU kernels this module replaces, each of which `CIFAR_TUI_BURN_KERNELS` can hand back
/// to burn (a comma list of `conv,pool,gather,mask,tanh`, or `all`), to measure what each one
/// buys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuKernel {
    Conv,
    Pool,
    Gather,
    Mask,
    Tanh,
}

impl CpuKernel {
    pub const ALL: [CpuKernel; 5] = [
        CpuKernel::Conv,
        CpuKernel::Pool,
        CpuKernel::Gather,
        CpuKernel::Mask,
        CpuKernel::Tanh,
    ];

    /// Its name in `CIFAR_TUI_BURN_KERNELS` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            CpuKernel::Conv => "conv",
            CpuKernel::Pool => "pool",
            CpuKernel::Gather => "gather",
            CpuKernel::Mask => "mask",
            CpuKernel::Tanh => "tanh",
        }
    }
}

/// Whether burn's own op runs for `k` on the CPU (see [`CpuKernel`]).
pub fn uses_burn(k: CpuKernel) -> bool {
    static CHOSEN: std::sync::OnceLock<Vec<CpuKernel>> = std::sync::OnceLock::new();
    CHOSEN
        .get_or_init(|| {
            let list = std::env::var("CIFAR_TUI_BURN_KERNELS").unwrap_or_default();
            CpuKernel::ALL
                .into_iter()
                .filter(|k| {
                    list.split(',')
                        .any(|s| s.trim() == k.name() || s.trim() == "all")
                })
                .collect()
        })
        .contains(&k)
}

/// A row-major matrix view: `rows × cols` with the given strides (in elements).
#[derive(Clone, Copy)]
struct View {
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl View {
    fn row_major(rows: usize, cols: usize) -> View {
        View {
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }
    fn transposed(self) -> View {
        View {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }
    /// One past the largest index the view touches.
    fn extent(self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            0
        } else {
            (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride + 1
        }
    }
}

/// `c (+)= a × b` on one thread. Shapes and bounds are checked before `gemm` touches memory.
fn matmul(c: &mut [f32], cv: View, a: &[f32], av: View, b: &[f32], bv: View, accumulate: bool) {
    assert!(cv.extent() <= c.len(), "bounds");
    // SAFETY: `c`'s view lies inside it (checked above) and `c`, borrowed mutably, aliases
    // neither `a` nor `b`.
    unsafe { gemm_at(c.as_mut_ptr(), cv, a, av, b, bv, accumulate) }
}

/// `c` ← `a × b` into a buffer nothing has written yet, `c` [rows, cols] dense and row-major:
/// the gemm writes each of its values, so it comes back initialised.
fn matmul_into<'c>(
    c: &'c mut [Out<f32>],
    cv: View,
    a: &[f32],
    av: View,
    b: &[f32],
    bv: View,
) -> &'c mut [f32] {
    assert!(
        cv.row_stride == cv.cols && cv.col_stride == 1 && cv.rows * cv.cols == c.len(),
        "a dense output"
    );
    // A sum over nothing would leave `c` unwritten.
    assert!(av.cols > 0, "an empty product");
    // SAFETY: the view is `c` exactly (checked above), which aliases neither input; gemm does
    // not read a destination it is told not to accumulate into, and writes all of it.
    unsafe {
        gemm_at(c.as_mut_ptr().cast(), cv, a, av, b, bv, false);
        &mut *(std::ptr::from_mut(c) as *mut [f32])
    }
}

/// # Safety
/// `c` points to at least `cv.extent()` values that nothing else reads or writes meanwhile.
unsafe fn gemm_at(c: *mut f32, cv: View, a: &[f32], av: View, b: &[f32], bv: View, acc: bool) {
    assert!(
        av.rows == cv.rows && bv.cols == cv.cols && av.cols == bv.rows,
        "shapes"
    );
    assert!(av.extent() <= a.len() && bv.extent() <= b.len(), "bounds");
    // SAFETY: the inputs' views lie inside their slices (checked above), the output's is the
    // caller's promise, and gemm reads and writes only within the views.
    unsafe {
        gemm::gemm(
            cv.rows,
            cv.cols,
            av.cols,
            c,
            cv.col_stride as isize,
            cv.row_stride as isize,
            acc,
            a.as_ptr(),
            av.col_stride as isize,
            av.row_stride as isize,
            b.as_ptr(),
            bv.col_stride as isize,
            bv.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// `s` set to zero, on the thread that then adds to it: zeroing a whole output on the calling
/// thread before the parallel part kept the other cores idle meanwhile.
fn zeroed(s: &mut [Out<f32>]) -> &mut [f32] {
    s.fill(Out::new(0.0));
    // SAFETY: every value was just written.
    unsafe { &mut *(std::ptr::from_mut(s) as *mut [f32]) }
}

/// A buffer of `n` values that `write` fills, without zeroing it first: `vec![0.0; n]` zeroed
/// each output on the calling thread while the other cores waited (7.6% of a training step's
/// samples on cpu-2c; without it the bare step went from 3,600-3,960 to 4,400-4,660 img/s).
///
/// # Safety
/// `write` writes every value of the slice it is given (the loops of `cifar_loops` that take
/// an [`Out`] slice say so).
unsafe fn written<T>(n: usize, write: impl FnOnce(&mut [Out<T>])) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    write(&mut v.spare_capacity_mut()[..n]);
    // SAFETY: the first `n` values were written (the caller's promise).
    unsafe { v.set_len(n) };
    v
}

/// `out` ← `f(out, a, b)` over blocks of [`ELEMENTWISE_BLOCK`] values, in parallel.
///
/// # Safety
/// `f` writes every value of the `out` block it is given.
unsafe fn blockwise(
    a: &[f32],
    b: &[f32],
    f: impl Fn(&mut [Out<f32>], &[f32], &[f32]) + Sync,
) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "lengths");
    // SAFETY: `f` writes each block whole (the caller's promise), and the blocks tile `out`.
    unsafe {
        written(a.len(), |out| {
            out.par_chunks_mut(ELEMENTWISE_BLOCK)
                .zip(a.par_chunks(ELEMENTWISE_BLOCK))
                .zip(b.par_chunks(ELEMENTWISE_BLOCK))
                .for_each(|((out, a), b)| f(out, a, b));
        })
    }
}

fn f32s(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .expect("f32 tensor")
                .to_vec(),
        ),
    }
}

fn dims(x: &FlexTensor, w: &FlexTensor) -> Dims {
    let [batch, c, h, wd] = x.shape().dims();
    let [o, _, _, _] = w.shape().dims();
    Dims {
        batch,
        c,
        h,
        w: wd,
        o,
    }
}

fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

/// The argmax of each 2x2 window (0..4, row-major in the window) and the input's shape; or
/// burn's state when burn pools.
#[derive(Clone, Debug)]
pub enum Argmax {
    Ours {
        index: std::sync::Arc<Vec<u8>>,
        input: [usize; 4],
    },
    Burn(burn_ops::PoolState<Flex>),
}

fn affine(f: TanhAffine) -> tanh::Affine {
    [f.a, f.b, f.c]
}

fn epilogue(act: ConvAct) -> Act {
    match act {
        ConvAct::Linear => Act::Linear,
        ConvAct::Relu => Act::Relu,
        ConvAct::Tanh(f) => Act::Tanh(affine(f)),
    }
}

/// The strides of a [B, C, H, W] tensor stored channels-last.
fn channels_last_strides([_, c, h, w]: [usize; 4]) -> [isize; 4] {
    [(h * w * c) as isize, 1, (w * c) as isize, c as isize]
}

/// Whether `t` [B, C, H, W] is stored channels-last, alone in its buffer.
pub(super) fn is_channels_last(t: &FlexTensor) -> bool {
    let layout = t.layout();
    layout.num_dims() == 4
        && layout.start_offset() == 0
        && layout.strides() == channels_last_strides(t.shape().dims())
        && t.storage::<f32>().len() == t.shape().num_elements()
}

/// The values of `t` [B, C, H, W] channels-last, [B, H, W, C]: its own storage when it is laid
/// out so (as everything these kernels write), else a copy.
fn channels_last(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    if is_channels_last(t) {
        return std::borrow::Cow::Borrowed(t.storage::<f32>());
    }
    let [b, c, h, w] = t.shape().dims();
    let xs = f32s(t);
    // SAFETY: `to_channels_last` writes every value of each image.
    std::borrow::Cow::Owned(unsafe {
        written(b * c * h * w, |out| {
            out.par_chunks_mut(c * h * w)
                .zip(xs.par_chunks(c * h * w))
                .for_each(|(out, x)| conv::to_channels_last(x, c, h * w, out));
        })
    })
}

/// channels-last values [B, H, W, C] as the tensor [B, C, H, W] burn sees.
fn from_channels_last(values: Vec<f32>, [b, c, h, w]: [usize; 4]) -> FlexTensor {
    tensor(values, [b, h, w, c]).permute(&[0, 3, 1, 2])
}

/// Output rows (positions) one task of a convolution works on, about: enough to make the gemm
/// tall, few enough that a task's patches stay in the core's cache.
const CONV_ROWS: usize = 512;

/// Images per task of a convolution: depends on the sizes only, never on the core count, so
/// that the sums (and the run's figures) are the same on any machine.
fn images_per_task(d: Dims) -> usize {
    (CONV_ROWS / d.l()).clamp(1, (d.batch / 8).max(1))
}

/// Elements per rayon task of the elementwise kernels: large enough to amortize the task.
const ELEMENTWISE_BLOCK: usize = 1 << 14;

/// Images per partial sum of a weight or bias gradient: 8 tasks at batch 64.
const W_GRAD_SHARE: usize = 8;

/// Elements per rayon task of a mask (each element's draw is a function of its index alone).
const MASK_BLOCK: usize = 1 << 14;

impl KernelBackend for Flex {
    type PoolState = Argmax;

    fn pool2x2(x: FlexTensor) -> (FlexTensor, Argmax) {
        if uses_burn(CpuKernel::Pool) {
            let (out, state) = burn_ops::pool2x2::<Flex>(x);
            return (out, Argmax::Burn(state));
        }
        let [b, c, h, w] = x.shape().dims();
        let (ho, wo) = (h / 2, w / 2);
        let xs = channels_last(&x);
        let n = b * c * ho * wo;
        let (mut out, mut index) = (Vec::with_capacity(n), Vec::with_capacity(n));
        out.spare_capacity_mut()[..n]
            .par_chunks_mut(ho * wo * c)
            .zip(index.spare_capacity_mut()[..n].par_chunks_mut(ho * wo * c))
            .zip(xs.par_chunks(h * w * c))
            .for_each(|((out, index), x)| pool::max2x2(x, h, w, c, out, index));
        // SAFETY: `max2x2` wrote every value of each image's share, and the shares tile `n`.
        unsafe {
            out.set_len(n);
            index.set_len(n);
        }
        let state = Argmax::Ours {
            index: std::sync::Arc::new(index),
            input: [b, c, h, w],
        };
        (from_channels_last(out, [b, c, ho, wo]), state)
    }

    fn pool2x2_grad(state: Argmax, g: FlexTensor) -> FlexTensor {
        let (index, [b, c, h, w]) = match state {
            Argmax::Ours { index, input } => (index, input),
            Argmax::Burn(state) => return burn_ops::pool2x2_grad::<Flex>(state, g),
        };
        let (ho, wo) = (h / 2, w / 2);
        let gs = channels_last(&g);
        // SAFETY: `max2x2_grad` writes every value of each image's share.
        let dx = unsafe {
            written(b * c * h * w, |dx| {
                dx.par_chunks_mut(h * w * c)
                    .zip(index.par_chunks(ho * wo * c))
                    .zip(gs.par_chunks(ho * wo * c))
                    .for_each(|((dx, index), g)| pool::max2x2_grad(index, g, h, w, c, dx));
            })
        };
        from_channels_last(dx, [b, c, h, w])
    }

    fn flatten_images(x: FlexTensor) -> FlexTensor {
        if !is_channels_last(&x) {
            return burn_ops::flatten_images::<Flex>(x);
        }
        let [b, c, h, w] = x.shape().dims();
        let xs = x.storage::<f32>();
        // SAFETY: `to_channels_first` writes every value of each image.
        let out = unsafe {
            written(b * c * h * w, |out| {
                out.par_chunks_mut(c * h * w)
                    .zip(xs.par_chunks(c * h * w))
                    .for_each(|(out, x)| conv::to_channels_first(x, c, h * w, out));
            })
        };
        tensor(out, [b, c * h * w])
    }

    fn unflatten_images(g: FlexTensor, shape: [usize; 4]) -> FlexTensor {
        // The convolution before it takes its gradient channels-last.
        let g = burn_ops::unflatten_images::<Flex>(g, shape);
        from_channels_last(channels_last(&g).into_owned(), shape)
    }

    fn gather_images(
        images: FlexTensor,
        index: &[i64],
        scale: [f32; 3],
        shift: [f32; 3],
    ) -> FlexTensor {
        if uses_burn(CpuKernel::Gather) {
            return burn_ops::gather_images::<Flex>(images, index, scale, shift);
        }
        const PIXELS: usize = 1024;
        // A no-op for the uploaded split, which is contiguous.
        let images = images.to_contiguous();
        let bytes = images
            .as_slice::<u8>()
            .expect("the splits are uploaded as u8");
        // SAFETY: `bytes_affine_channels_last` writes every value of each image.
        let out = unsafe {
            written(index.len() * 3 * PIXELS, |out| {
                out.par_chunks_mut(3 * PIXELS)
                    .zip(index.par_iter())
                    .for_each(|(out, &i)| {
                        let image = &bytes[i as usize * 3 * PIXELS..][..3 * PIXELS];
                        cifar_loops::bytes_affine_channels_last(out, image, &scale, &shift);
                    });
            })
        };
        from_channels_last(out, [index.len(), 3, 32, 32])
    }

    fn dropout(x: FlexTensor, p: f64, key: MaskKey) -> FlexTensor {
        if uses_burn(CpuKernel::Mask) {
            return burn_ops::dropout::<Flex>(x, p, key);
        }
        let scale = (1.0 / (1.0 - p)) as f32;
        let threshold = keep_threshold(p);
        let key = (key.k0, key.k1);
        let shape = x.shape();
        if shape.num_dims() == 4 && is_channels_last(&x) {
            let [b, c, h, w] = shape.dims();
            let mut values = channels_last(&x).into_owned();
            values
                .par_chunks_mut(c * h * w)
                .enumerate()
                .for_each(|(i, image)| {
                    let first = (i * c * h * w) as u32;
                    cifar_loops::hash::drop_channels_last(image, first, c, key, threshold, scale);
                });
            return from_channels_last(values, [b, c, h, w]);
        }
        let mut values = f32s(&x).into_owned();
        values
            .par_chunks_mut(MASK_BLOCK)
            .enumerate()
            .for_each(|(block, out)| {
                let first = (block * MASK_BLOCK) as u32;
                cifar_loops::hash::drop(out, first, key, threshold, scale);
            });
        tensor(values, shape)
    }

    fn tanh_affine(x: FlexTensor, f: TanhAffine) -> FlexTensor {
        if uses_burn(CpuKernel::Tanh) {
            return burn_ops::tanh_affine::<Flex>(x, f);
        }
        let shape = x.shape();
        let xs = f32s(&x);
        // SAFETY: `tanh::forward` writes every value of each block.
        let y = unsafe {
            written(xs.len(), |y| {
                y.par_chunks_mut(ELEMENTWISE_BLOCK)
                    .zip(xs.par_chunks(ELEMENTWISE_BLOCK))
                    .for_each(|(y, x)| tanh::forward(y, x, affine(f)));
            })
        };
        tensor(y, shape)
    }

    fn tanh_affine_grad(y: FlexTensor, g: FlexTensor, f: TanhAffine) -> FlexTensor {
        if uses_burn(CpuKernel::Tanh) {
            return burn_ops::tanh_affine_grad::<Flex>(y, g, f);
        }
        let shape = y.shape();
        let (ys, gs) = (f32s(&y), f32s(&g));
        // SAFETY: `tanh::backward` writes every value of its block.
        let dx = unsafe { blockwise(&ys, &gs, |dx, y, g| tanh::backward(dx, y, g, affine(f))) };
        tensor(dx, shape)
    }

    fn conv3x3(x: FlexTensor, w: FlexTensor, b: FlexTensor, act: ConvAct) -> FlexTensor {
        if uses_burn(CpuKernel::Conv) {
            return burn_ops::conv3x3::<Flex>(x, w, b, act);
        }
        let d = dims(&x, &w);
        let (xs, bias) = (channels_last(&x), f32s(&b));
        let by_tap = conv::weights_by_tap(&f32s(&w), d);
        let (k, l, per) = (d.k(), d.l(), images_per_task(d));
        let conv_block = |cols: &mut Vec<f32>, (y, x): (&mut [Out<f32>], &[f32])| {
            let rows = x.len() / d.image() * l;
            cols.resize(rows * k, 0.0);
            for (x, cols) in x.chunks_exact(d.image()).zip(cols.chunks_exact_mut(l * k)) {
                im2col(x, d, cols);
            }
            // y [rows, O] = cols [rows, K] × w [K, O], then the bias and the activation in
            // one pass while y is in cache.
            let y = matmul_into(
                y,
                View::row_major(rows, d.o),
                cols,
                View::row_major(rows, k),
                &by_tap,
                View::row_major(k, d.o),
            );
            act::forward(y, &bias, epilogue(act));
        };
        // SAFETY: `matmul_into` writes each block's share whole, and the shares tile `y`.
        let y = unsafe {
            written(d.batch * d.out_image(), |y| {
                y.par_chunks_mut(per * d.out_image())
                    .zip(xs.par_chunks(per * d.image()))
                    .for_each_init(Vec::new, conv_block);
            })
        };
        from_channels_last(y, [d.batch, d.o, d.ho(), d.wo()])
    }

    fn conv3x3_backward(
        x: FlexTensor,
        w: FlexTensor,
        y: FlexTensor,
        g: FlexTensor,
        act: ConvAct,
        [want_x, want_w, want_b]: [bool; 3],
    ) -> [Option<FlexTensor>; 3] {
        if uses_burn(CpuKernel::Conv) {
            return burn_ops::conv3x3_backward::<Flex>(x, w, y, g, act, [want_x, want_w, want_b]);
        }
        let d = dims(&x, &w);
        let (k, l, o, per) = (d.k(), d.l(), d.o, images_per_task(d));
        // The gradient before the activation, [B·L, O].
        let (gs, ys) = (channels_last(&g), channels_last(&y));
        // SAFETY: `act::backward` writes every value of its block.
        let gp = unsafe { blockwise(&gs, &ys, |dx, g, y| act::backward(dx, g, y, epilogue(act))) };
        let by_tap = conv::weights_by_tap(&f32s(&w), d);

        // Both sums run over fixed shares of the batch, each share summed on its own and the
        // shares added in order: the figures do not depend on the number of cores.
        let shares = || gp.par_chunks(W_GRAD_SHARE * d.out_image());
        let db = want_b.then(|| {
            let partial: Vec<Vec<f32>> = shares()
                .map(|g| {
                    let mut sums = vec![0f32; o];
                    conv::add_columns(&mut sums, g);
                    sums
                })
                .collect();
            tensor(add_in_order(partial, o), [o])
        });
        let dw = want_w.then(|| {
            let xs = channels_last(&x);
            let partial: Vec<Vec<f32>> = shares()
                .zip(xs.par_chunks(W_GRAD_SHARE * d.image()))
                .map_init(Vec::new, |cols, (g, x)| {
                    let mut dw = vec![0f32; o * k];
                    cols.resize(per * l * k, 0.0);
                    for (g, x) in g.chunks(per * d.out_image()).zip(x.chunks(per * d.image())) {
                        let rows = x.len() / d.image() * l;
                        for (x, cols) in x.chunks_exact(d.image()).zip(cols.chunks_exact_mut(l * k))
                        {
                            im2col(x, d, cols);
                        }
                        // dw [O, K] += gᵀ [O, rows] × cols [rows, K]
                        matmul(
                            &mut dw,
                            View::row_major(o, k),
                            g,
                            View::row_major(rows, o).transposed(),
                            cols,
                            View::row_major(rows, k),
                            true,
                        );
                    }
                    dw
                })
                .collect();
            tensor(
                conv::weights_to_burn(&add_in_order(partial, o * k), d),
                [o, d.c, 3, 3],
            )
        });
        let dx = want_x.then(|| {
            let block = |cols: &mut Vec<f32>, (dx, g): (&mut [Out<f32>], &[f32])| {
                let rows = dx.len() / d.image() * l;
                cols.resize(rows * k, 0.0);
                // cols [rows, K] = g [rows, O] × wᵀ [O, K], then scattered back.
                matmul(
                    cols,
                    View::row_major(rows, k),
                    g,
                    View::row_major(rows, o),
                    &by_tap,
                    View::row_major(k, o).transposed(),
                    false,
                );
                let dx = zeroed(dx);
                for (dx, cols) in dx.chunks_exact_mut(d.image()).zip(cols.chunks_exact(l * k)) {
                    col2im(cols, d, dx);
                }
            };
            // SAFETY: each block's share is zeroed whole, then added to.
            let dx = unsafe {
                written(d.batch * d.image(), |dx| {
                    dx.par_chunks_mut(per * d.image())
                        .zip(gp.par_chunks(per * d.out_image()))
                        .for_each_init(Vec::new, block);
                })
            };
            from_channels_last(dx, [d.batch, d.c, d.h, d.w])
        });
        [dx, dw, db]
    }
}

/// The partial sums added one after another, in their order.
fn add_in_order(partial: Vec<Vec<f32>>, len: usize) -> Vec<f32> {
    let mut sum = vec![0f32; len];
    for p in &partial {
        cifar_loops::add_into(&mut sum, p);
    }
    sum
}
