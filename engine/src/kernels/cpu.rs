//! The CPU kernels: im2col + `gemm` convolutions, a direct 2x2 pooling scan, dropout masks
//! from a counter-based hash ([`crate::seeding`]), and a vectorized tanh, all parallel on rayon's pool.
//! This file splits the tensors over rayon; the loops over one plane or block are in the
//! `cifar_loops` crate.
#![allow(unsafe_code)]

use burn::tensor::{Shape, TensorData, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use cifar_loops::conv::{Dims, col2im, fill_bias, im2col};
use cifar_loops::{pool, tanh};

use super::{KernelBackend, TanhAffine, burn_ops};
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
    assert!(
        av.rows == cv.rows && bv.cols == cv.cols && av.cols == bv.rows,
        "shapes"
    );
    assert!(
        cv.extent() <= c.len() && av.extent() <= a.len() && bv.extent() <= b.len(),
        "bounds"
    );
    // SAFETY: the three views lie inside their slices (checked above), `c` is borrowed mutably
    // and so does not alias `a` or `b`, and gemm reads and writes only within the views.
    unsafe {
        gemm::gemm(
            cv.rows,
            cv.cols,
            av.cols,
            c.as_mut_ptr(),
            cv.col_stride as isize,
            cv.row_stride as isize,
            accumulate,
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

/// Elements per rayon task of the elementwise kernels: large enough to amortize the task.
const ELEMENTWISE_BLOCK: usize = 1 << 14;

/// Images per partial sum of a weight gradient: 8 tasks at batch 64.
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
        let xs = f32s(&x);
        let mut out = vec![0f32; b * c * ho * wo];
        let mut index = vec![0u8; b * c * ho * wo];
        out.par_chunks_mut(ho * wo)
            .zip(index.par_chunks_mut(ho * wo))
            .zip(xs.par_chunks(h * w))
            .for_each(|((out, index), plane)| pool::max2x2(plane, w, out, index));
        let state = Argmax::Ours {
            index: std::sync::Arc::new(index),
            input: [b, c, h, w],
        };
        (tensor(out, [b, c, ho, wo]), state)
    }

    fn pool2x2_grad(state: Argmax, g: FlexTensor) -> FlexTensor {
        let (index, [b, c, h, w]) = match state {
            Argmax::Ours { index, input } => (index, input),
            Argmax::Burn(state) => return burn_ops::pool2x2_grad::<Flex>(state, g),
        };
        let (ho, wo) = (h / 2, w / 2);
        let gs = f32s(&g);
        let mut dx = vec![0f32; b * c * h * w];
        dx.par_chunks_mut(h * w)
            .zip(index.par_chunks(ho * wo))
            .zip(gs.par_chunks(ho * wo))
            .for_each(|((dx, index), g)| pool::max2x2_grad(index, g, w, dx));
        tensor(dx, [b, c, h, w])
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
        const PLANE: usize = 1024;
        // A no-op for the uploaded split, which is contiguous.
        let images = images.to_contiguous();
        let bytes = images
            .as_slice::<u8>()
            .expect("the splits are uploaded as u8");
        let mut out = vec![0f32; index.len() * 3 * PLANE];
        out.par_chunks_mut(3 * PLANE)
            .zip(index.par_iter())
            .for_each(|(out, &i)| {
                let image = &bytes[i as usize * 3 * PLANE..][..3 * PLANE];
                cifar_loops::bytes_affine(out, image, PLANE, &scale, &shift);
            });
        tensor(out, [index.len(), 3, 32, 32])
    }

    fn dropout_mask(
        shape: Shape,
        p: f64,
        key: MaskKey,
        device: &burn_flex::FlexDevice,
    ) -> FlexTensor {
        if uses_burn(CpuKernel::Mask) {
            return burn_ops::dropout_mask::<Flex>(shape, p, key, device);
        }
        let n = shape.num_elements();
        let scale = (1.0 / (1.0 - p)) as f32;
        let threshold = keep_threshold(p);
        let mut mask = vec![0f32; n];
        mask.par_chunks_mut(MASK_BLOCK)
            .enumerate()
            .for_each(|(block, out)| {
                let first = (block * MASK_BLOCK) as u32;
                cifar_loops::hash::mask(out, first, (key.k0, key.k1), threshold, scale);
            });
        tensor(mask, shape)
    }

    fn tanh_affine(x: FlexTensor, f: TanhAffine) -> FlexTensor {
        if uses_burn(CpuKernel::Tanh) {
            return burn_ops::tanh_affine::<Flex>(x, f);
        }
        let shape = x.shape();
        let xs = f32s(&x);
        let mut y = vec![0f32; xs.len()];
        y.par_chunks_mut(ELEMENTWISE_BLOCK)
            .zip(xs.par_chunks(ELEMENTWISE_BLOCK))
            .for_each(|(y, x)| tanh::forward(y, x, affine(f)));
        tensor(y, shape)
    }

    fn tanh_affine_grad(y: FlexTensor, g: FlexTensor, f: TanhAffine) -> FlexTensor {
        if uses_burn(CpuKernel::Tanh) {
            return burn_ops::tanh_affine_grad::<Flex>(y, g, f);
        }
        let shape = y.shape();
        let (ys, gs) = (f32s(&y), f32s(&g));
        let mut dx = vec![0f32; ys.len()];
        dx.par_chunks_mut(ELEMENTWISE_BLOCK)
            .zip(ys.par_chunks(ELEMENTWISE_BLOCK))
            .zip(gs.par_chunks(ELEMENTWISE_BLOCK))
            .for_each(|((dx, y), g)| tanh::backward(dx, y, g, affine(f)));
        tensor(dx, shape)
    }

    fn conv3x3(x: FlexTensor, w: FlexTensor, b: FlexTensor) -> FlexTensor {
        if uses_burn(CpuKernel::Conv) {
            return burn_ops::conv3x3::<Flex>(x, w, b);
        }
        let d = dims(&x, &w);
        let (xs, ws, bs) = (f32s(&x), f32s(&w), f32s(&b));
        let (k, l) = (d.k(), d.l());
        let mut out = vec![0f32; d.batch * d.o * l];
        out.par_chunks_mut(d.o * l)
            .zip(xs.par_chunks(d.image()))
            .for_each_init(
                || vec![0f32; k * l],
                |cols, (y, x)| {
                    im2col(x, d, cols);
                    // Start from the bias, then y [O, L] += w [O, K] × cols [K, L].
                    fill_bias(y, &bs, l);
                    let yv = View::row_major(d.o, l);
                    matmul(
                        y,
                        yv,
                        &ws,
                        View::row_major(d.o, k),
                        cols,
                        View::row_major(k, l),
                        true,
                    );
                },
            );
        tensor(out, [d.batch, d.o, d.ho(), d.wo()])
    }

    fn conv3x3_x_grad(x: FlexTensor, w: FlexTensor, g: FlexTensor) -> FlexTensor {
        if uses_burn(CpuKernel::Conv) {
            return burn_ops::conv3x3_x_grad::<Flex>(x, w, g);
        }
        let d = dims(&x, &w);
        let (ws, gs) = (f32s(&w), f32s(&g));
        let (k, l) = (d.k(), d.l());
        let mut dx = vec![0f32; d.batch * d.image()];
        dx.par_chunks_mut(d.image())
            .zip(gs.par_chunks(d.o * l))
            .for_each_init(
                || vec![0f32; k * l],
                |cols, (dx, g)| {
                    // cols [K, L] = wᵀ [K, O] × g [O, L], then scattered back onto the image.
                    let wt = View::row_major(d.o, k).transposed();
                    matmul(
                        cols,
                        View::row_major(k, l),
                        &ws,
                        wt,
                        g,
                        View::row_major(d.o, l),
                        false,
                    );
                    col2im(cols, d, dx);
                },
            );
        tensor(dx, [d.batch, d.c, d.h, d.w])
    }

    fn conv3x3_w_grad(x: FlexTensor, w: FlexTensor, g: FlexTensor) -> FlexTensor {
        if uses_burn(CpuKernel::Conv) {
            return burn_ops::conv3x3_w_grad::<Flex>(x, w, g);
        }
        let d = dims(&x, &w);
        let (xs, gs) = (f32s(&x), f32s(&g));
        let (k, l) = (d.k(), d.l());
        // Each share of the batch is summed into its own dw, then the shares are added in
        // order. The shares are a fixed size, not one per thread, so that the sum (and so the
        // run's figures) is the same on 2 cores and on 64.
        let share = W_GRAD_SHARE;
        let partial: Vec<Vec<f32>> = (0..d.batch.div_ceil(share))
            .into_par_iter()
            .map(|t| {
                let mut dw = vec![0f32; d.o * k];
                let mut cols = vec![0f32; k * l];
                for i in t * share..((t + 1) * share).min(d.batch) {
                    im2col(&xs[i * d.image()..][..d.image()], d, &mut cols);
                    // dw [O, K] += g [O, L] × colsᵀ [L, K]
                    let g = &gs[i * d.o * l..][..d.o * l];
                    let colst = View::row_major(k, l).transposed();
                    matmul(
                        &mut dw,
                        View::row_major(d.o, k),
                        g,
                        View::row_major(d.o, l),
                        &cols,
                        colst,
                        true,
                    );
                }
                dw
            })
            .collect();
        let mut dw = vec![0f32; d.o * k];
        for p in &partial {
            cifar_loops::add_into(&mut dw, p);
        }
        tensor(dw, [d.o, d.c, 3, 3])
    }
}
