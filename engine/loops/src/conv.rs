//! A 3x3 convolution (stride 1, no padding) on channels-last images, as im2col + gemm.
//!
//! Channels last ([H, W, C], each pixel's channels side by side) because then the nine
//! (kernel row, kernel column) taps of one output position are three runs of `3·C` contiguous
//! values, the patches of a whole block of images form one tall matrix [positions, 9·C], and the
//! output [positions, O] is channels-last again, ready for the next layer: no op transposes.

use crate::Out;

/// Sizes of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub batch: usize,
    /// Input channels.
    pub c: usize,
    pub h: usize,
    pub w: usize,
    /// Output channels.
    pub o: usize,
}

impl Dims {
    pub fn ho(self) -> usize {
        self.h - 2
    }
    pub fn wo(self) -> usize {
        self.w - 2
    }
    /// Patch length: one column of im2col per (kernel row, kernel column, channel).
    pub fn k(self) -> usize {
        self.c * 9
    }
    /// Output positions per image.
    pub fn l(self) -> usize {
        self.ho() * self.wo()
    }
    /// Values in one input image.
    pub fn image(self) -> usize {
        self.c * self.h * self.w
    }
    /// Values in one output image.
    pub fn out_image(self) -> usize {
        self.o * self.l()
    }
}

/// `cols` [L, K] ← the 3x3 patches of one image `x` [H, W, C], row `y·Wo + x` holding the
/// (kernel row, kernel column, channel) values around output position (y, x).
pub fn im2col(x: &[f32], d: Dims, cols: &mut [f32]) {
    // The seed CNN's runs as fixed-size copies: a memcpy call per run cost 6% of a step.
    match d.c {
        3 => im2col_runs::<9>(x, d, cols),
        32 => im2col_runs::<96>(x, d, cols),
        64 => im2col_runs::<192>(x, d, cols),
        _ => im2col_any(x, d, cols),
    }
}

fn im2col_runs<const RUN: usize>(x: &[f32], d: Dims, cols: &mut [f32]) {
    let (wc, k, wo) = (d.w * d.c, d.k(), d.wo());
    for (p, row) in cols[..d.l() * k].chunks_exact_mut(k).enumerate() {
        let at = (p / wo) * wc + (p % wo) * d.c;
        for (ki, run) in row.chunks_exact_mut(RUN).enumerate() {
            let src: &[f32; RUN] = x[at + ki * wc..][..RUN].try_into().expect("run");
            run.copy_from_slice(src);
        }
    }
}

fn im2col_any(x: &[f32], d: Dims, cols: &mut [f32]) {
    let (wc, k, wo, run) = (d.w * d.c, d.k(), d.wo(), 3 * d.c);
    for (p, row) in cols[..d.l() * k].chunks_exact_mut(k).enumerate() {
        let at = (p / wo) * wc + (p % wo) * d.c;
        for (ki, dst) in row.chunks_exact_mut(run).enumerate() {
            dst.copy_from_slice(&x[at + ki * wc..][..run]);
        }
    }
}

/// `x` [H, W, C] += the patches in `cols` [L, K] put back where they came from.
pub fn col2im(cols: &[f32], d: Dims, x: &mut [f32]) {
    let (wc, k, wo, run) = (d.w * d.c, d.k(), d.wo(), 3 * d.c);
    for (p, row) in cols[..d.l() * k].chunks_exact(k).enumerate() {
        let at = (p / wo) * wc + (p % wo) * d.c;
        for (ki, src) in row.chunks_exact(run).enumerate() {
            crate::add_into(&mut x[at + ki * wc..][..run], src);
        }
    }
}

/// burn's weights `w` [O, C, 3, 3] as the gemm's right-hand side [K, O]: row
/// `(ki·3 + kj)·C + c` holds every output channel's weight for that tap and channel.
pub fn weights_by_tap(w: &[f32], d: Dims) -> Vec<f32> {
    let (k, o) = (d.k(), d.o);
    let mut out = vec![0.0; k * o];
    for (oc, filter) in w.chunks_exact(d.c * 9).enumerate() {
        for c in 0..d.c {
            for tap in 0..9 {
                out[(tap * d.c + c) * o + oc] = filter[c * 9 + tap];
            }
        }
    }
    out
}

/// A weight gradient in gemm order [O, K] (see [`weights_by_tap`]) as burn's [O, C, 3, 3].
pub fn weights_to_burn(dw: &[f32], d: Dims) -> Vec<f32> {
    let k = d.k();
    let mut out = vec![0.0; d.o * k];
    for (row, filter) in dw.chunks_exact(k).zip(out.chunks_exact_mut(k)) {
        for c in 0..d.c {
            for tap in 0..9 {
                filter[c * 9 + tap] = row[tap * d.c + c];
            }
        }
    }
    out
}

/// `sums` [O] += the column sums of `g` [n, O]: a bias's gradient.
pub fn add_columns(sums: &mut [f32], g: &[f32]) {
    for row in g.chunks_exact(sums.len()) {
        crate::add_into(sums, row);
    }
}

/// One image [C, H·W] (burn's layout) → [H·W, C], every value written.
pub fn to_channels_last(x: &[f32], c: usize, hw: usize, out: &mut [Out<f32>]) {
    for (ch, plane) in x[..c * hw].chunks_exact(hw).enumerate() {
        for (p, &v) in plane.iter().enumerate() {
            out[p * c + ch].write(v);
        }
    }
}

/// One image [H·W, C] → [C, H·W]: the inverse of [`to_channels_last`], every value written.
pub fn to_channels_first(x: &[f32], c: usize, hw: usize, out: &mut [Out<f32>]) {
    for (p, px) in x[..c * hw].chunks_exact(c).enumerate() {
        for (ch, &v) in px.iter().enumerate() {
            out[ch * hw + p].write(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{out, read};

    fn dims() -> Dims {
        Dims {
            batch: 1,
            c: 2,
            h: 4,
            w: 5,
            o: 1,
        }
    }

    #[test]
    fn col2im_adds_back_what_im2col_took() {
        for d in [dims(), Dims { c: 3, ..dims() }] {
            let x: Vec<f32> = (0..d.image()).map(|i| i as f32).collect();
            let mut cols = vec![0.0; d.k() * d.l()];
            im2col(&x, d, &mut cols);
            // Patch (ki=1, kj=2, c=1) at output (y=1, x=0) reads x[y=2, x=2, c=1].
            let col = (3 + 2) * d.c + 1;
            assert_eq!(
                cols[d.wo() * d.k() + col],
                x[(2 * d.w + 2) * d.c + 1],
                "c = {}",
                d.c
            );
            // Every input pixel comes back once per patch that holds it.
            let mut back = vec![0.0; d.image()];
            col2im(&cols, d, &mut back);
            let uses = |y: usize, x: usize| {
                let span = |i: usize, n: usize| (0..3).filter(|k| i >= *k && i - k < n).count();
                span(y, d.ho()) * span(x, d.wo())
            };
            for y in 0..d.h {
                for xx in 0..d.w {
                    for c in 0..d.c {
                        let i = (y * d.w + xx) * d.c + c;
                        assert_eq!(back[i], x[i] * uses(y, xx) as f32, "at {y},{xx},{c}");
                    }
                }
            }
        }
    }

    #[test]
    fn weights_go_to_gemm_order_and_back() {
        let d = Dims { o: 3, ..dims() };
        let w: Vec<f32> = (0..d.o * d.k()).map(|i| i as f32).collect();
        let by_tap = weights_by_tap(&w, d);
        // Output channel 2, channel 1, tap (ki=0, kj=2) → row (2·C + 1), column 2.
        assert_eq!(by_tap[(2 * d.c + 1) * d.o + 2], w[2 * d.k() + 9 + 2]);
        // The gradient's order is the transpose of the right-hand side's.
        let mut rows = vec![0.0; d.o * d.k()];
        for k in 0..d.k() {
            for o in 0..d.o {
                rows[o * d.k() + k] = by_tap[k * d.o + o];
            }
        }
        assert_eq!(weights_to_burn(&rows, d), w);
    }

    #[test]
    fn channels_last_puts_each_pixels_channels_together_and_first_undoes_it() {
        let x: Vec<f32> = (0..2 * 3 * 4).map(|i| i as f32).collect();
        for image in 0..2 {
            let x = &x[image * 12..][..12];
            let mut last = out(12, f32::NAN);
            to_channels_last(x, 3, 4, &mut last);
            let last = read(&last);
            // Pixel 2, channel 1.
            assert_eq!(last[2 * 3 + 1], x[4 + 2]);
            let mut back = out(12, f32::NAN);
            to_channels_first(&last, 3, 4, &mut back);
            assert_eq!(read(&back), x);
        }
    }
}
