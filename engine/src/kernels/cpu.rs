//! The CPU kernels: im2col + `gemm` convolutions, a direct 2x2 pooling scan, dropout masks
//! from a counter-based hash ([`crate::seeding`]), and a vectorized tanh, all parallel on rayon's pool.
#![allow(unsafe_code)]

use burn::tensor::{Shape, TensorData, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

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

/// Sizes of one convolution.
#[derive(Clone, Copy, Debug)]
struct Dims {
    batch: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
}

impl Dims {
    fn ho(self) -> usize {
        self.h - 2
    }
    fn wo(self) -> usize {
        self.w - 2
    }
    /// Patch length: one row of im2col per (channel, kernel row, kernel column).
    fn k(self) -> usize {
        self.c * 9
    }
    /// Output positions per image.
    fn l(self) -> usize {
        self.ho() * self.wo()
    }
}

/// `cols` [K, L] ← the 3x3 patches of one image `x` [C, H, W], channel-major like `w`.
fn im2col(x: &[f32], d: Dims, cols: &mut [f32]) {
    let (ho, wo, l) = (d.ho(), d.wo(), d.l());
    for c in 0..d.c {
        for ki in 0..3 {
            for kj in 0..3 {
                let row = &mut cols[((c * 3 + ki) * 3 + kj) * l..][..l];
                for y in 0..ho {
                    let src = &x[c * d.h * d.w + (y + ki) * d.w + kj..][..wo];
                    row[y * wo..][..wo].copy_from_slice(src);
                }
            }
        }
    }
}

/// `x` [C, H, W] += the patches in `cols` [K, L] put back where they came from.
fn col2im(cols: &[f32], d: Dims, x: &mut [f32]) {
    let (ho, wo, l) = (d.ho(), d.wo(), d.l());
    for c in 0..d.c {
        for ki in 0..3 {
            for kj in 0..3 {
                let row = &cols[((c * 3 + ki) * 3 + kj) * l..][..l];
                for y in 0..ho {
                    let dst = &mut x[c * d.h * d.w + (y + ki) * d.w + kj..][..wo];
                    for (d, s) in dst.iter_mut().zip(&row[y * wo..][..wo]) {
                        *d += s;
                    }
                }
            }
        }
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

/// tanh by Eigen's rational approximation (odd degree-13 over even degree-6 polynomial), within
/// 1e-6 of the true value (7 ulps at most): plain arithmetic that the compiler vectorizes, where
/// `f32::tanh` is a libm call per element. The input is clamped to Eigen's ±7.9053, where the
/// rational form reaches ±1 (beyond it, it would leave [-1, 1]; tanh is within 3e-7 of ±1
/// there); NaN stays NaN (`clamp` passes it).
#[inline(always)]
#[allow(clippy::excessive_precision)] // Eigen's coefficients as published
fn tanh_rational(x: f32) -> f32 {
    const LIMIT: f32 = 7.905_311_107_635_498;
    let x = x.clamp(-LIMIT, LIMIT);
    let x2 = x * x;
    let mut p = -2.76076847742355e-16_f32;
    p = p * x2 + 2.00018790482477e-13;
    p = p * x2 + -8.60467152213735e-11;
    p = p * x2 + 5.12229709037114e-08;
    p = p * x2 + 1.48572235717979e-05;
    p = p * x2 + 6.37261928875436e-04;
    p = p * x2 + 4.89352455891786e-03;
    let mut q = 1.19825839466702e-06_f32;
    q = q * x2 + 1.18534705686654e-04;
    q = q * x2 + 2.26843463243900e-03;
    q = q * x2 + 4.89352518554385e-03;
    x * p / q
}

#[inline(always)]
fn tanh_affine_body(out: &mut [f32], x: &[f32], f: TanhAffine) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f.c + f.a * tanh_rational(f.b * v);
    }
}

/// The same loop, compiled for AVX2's 8 lanes (the default x86-64 target has SSE2's 4). Rust
/// never fuses a multiply and an add on its own, so both paths give the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn tanh_affine_avx2(out: &mut [f32], x: &[f32], f: TanhAffine) {
    tanh_affine_body(out, x, f)
}

fn tanh_affine_slice(out: &mut [f32], x: &[f32], f: TanhAffine) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: this CPU has AVX2 (checked above).
        return unsafe { tanh_affine_avx2(out, x, f) };
    }
    tanh_affine_body(out, x, f)
}

/// Elements per rayon task of the elementwise kernels: large enough to amortize the task.
const ELEMENTWISE_BLOCK: usize = 1 << 14;

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
            .for_each(|((out, index), plane)| {
                for oy in 0..ho {
                    let top = &plane[2 * oy * w..];
                    let bottom = &plane[(2 * oy + 1) * w..];
                    for ox in 0..wo {
                        let window = [
                            top[2 * ox],
                            top[2 * ox + 1],
                            bottom[2 * ox],
                            bottom[2 * ox + 1],
                        ];
                        // The first maximum wins ties, as in PyTorch and burn.
                        let mut best = 0;
                        for k in 1..4 {
                            if window[k] > window[best] {
                                best = k;
                            }
                        }
                        out[oy * wo + ox] = window[best];
                        index[oy * wo + ox] = best as u8;
                    }
                }
            });
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
            .for_each(|((dx, index), g)| {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let k = index[oy * wo + ox] as usize;
                        dx[(2 * oy + k / 2) * w + 2 * ox + k % 2] = g[oy * wo + ox];
                    }
                }
            });
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
                for c in 0..3 {
                    let (a, b) = (scale[c], shift[c]);
                    for (o, &p) in out[c * PLANE..][..PLANE]
                        .iter_mut()
                        .zip(&image[c * PLANE..][..PLANE])
                    {
                        *o = p as f32 * a + b;
                    }
                }
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
                for (i, v) in (first..).zip(out.iter_mut()) {
                    *v = if key.draw(i) >= threshold { scale } else { 0.0 };
                }
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
            .for_each(|(y, x)| tanh_affine_slice(y, x, f));
        tensor(y, shape)
    }

    fn tanh_affine_grad(y: FlexTensor, g: FlexTensor, f: TanhAffine) -> FlexTensor {
        if uses_burn(CpuKernel::Tanh) {
            return burn_ops::tanh_affine_grad::<Flex>(y, g, f);
        }
        let shape = y.shape();
        let (ys, gs) = (f32s(&y), f32s(&g));
        let (a2, k) = (f.a * f.a, f.b / f.a);
        let mut dx = vec![0f32; ys.len()];
        dx.par_chunks_mut(ELEMENTWISE_BLOCK)
            .zip(ys.par_chunks(ELEMENTWISE_BLOCK))
            .zip(gs.par_chunks(ELEMENTWISE_BLOCK))
            .for_each(|((dx, y), g)| {
                for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(g) {
                    let d = y - f.c;
                    *dx = g * ((a2 - d * d) * k);
                }
            });
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
            .zip(xs.par_chunks(d.c * d.h * d.w))
            .for_each_init(
                || vec![0f32; k * l],
                |cols, (y, x)| {
                    im2col(x, d, cols);
                    // Start from the bias, then y [O, L] += w [O, K] × cols [K, L].
                    for (row, &bias) in y.chunks_mut(l).zip(bs.iter()) {
                        row.fill(bias);
                    }
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
        let mut dx = vec![0f32; d.batch * d.c * d.h * d.w];
        dx.par_chunks_mut(d.c * d.h * d.w)
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
        // Each worker sums its share of the batch into its own dw; the shares are then added.
        let threads = rayon::current_num_threads().max(1);
        let share = d.batch.div_ceil(threads);
        let partial: Vec<Vec<f32>> = (0..d.batch.div_ceil(share))
            .into_par_iter()
            .map(|t| {
                let mut dw = vec![0f32; d.o * k];
                let mut cols = vec![0f32; k * l];
                for i in t * share..((t + 1) * share).min(d.batch) {
                    im2col(&xs[i * d.c * d.h * d.w..][..d.c * d.h * d.w], d, &mut cols);
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
            for (a, b) in dw.iter_mut().zip(p) {
                *a += b;
            }
        }
        tensor(dw, [d.o, d.c, 3, 3])
    }
}
