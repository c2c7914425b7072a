//! 2x2 max pooling (stride 2, floor) of one channels-last image, and its gradient. Each
//! window's four pixels are four runs of C channels, so the loops run along the channels and
//! the compiler vectorizes them (the comparisons become selects, no branch per value).
//!
//! Both write every value of their output, so they take it uninitialised: zeroing it first
//! was a measurable share of a training step (the profile's memset).

use crate::Out;

/// `out` and `index` [H/2, W/2, C] ← the maximum of each 2x2 window of `x` [H, W, C] and where
/// it was (0..4, row-major in the window). The first maximum wins ties, as in PyTorch and burn.
/// Every value of `out` and `index` is written.
pub fn max2x2(
    x: &[f32],
    h: usize,
    w: usize,
    c: usize,
    out: &mut [Out<f32>],
    index: &mut [Out<u8>],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: this CPU has AVX2 (checked above).
        return unsafe { max_avx2(x, h, w, c, out, index) };
    }
    max_body(x, h, w, c, out, index)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn max_avx2(x: &[f32], h: usize, w: usize, c: usize, out: &mut [Out<f32>], index: &mut [Out<u8>]) {
    max_body(x, h, w, c, out, index)
}

#[inline(always)]
fn max_body(x: &[f32], h: usize, w: usize, c: usize, out: &mut [Out<f32>], index: &mut [Out<u8>]) {
    let (ho, wo) = (h / 2, w / 2);
    for oy in 0..ho {
        for ox in 0..wo {
            let at = |dy: usize, dx: usize| &x[((2 * oy + dy) * w + 2 * ox + dx) * c..][..c];
            let (a, b, cc, d) = (at(0, 0), at(0, 1), at(1, 0), at(1, 1));
            let o = (oy * wo + ox) * c;
            let (out, index) = (&mut out[o..][..c], &mut index[o..][..c]);
            for i in 0..c {
                let (mut m, mut k) = (a[i], 0u8);
                if b[i] > m {
                    (m, k) = (b[i], 1);
                }
                if cc[i] > m {
                    (m, k) = (cc[i], 2);
                }
                if d[i] > m {
                    (m, k) = (d[i], 3);
                }
                out[i].write(m);
                index[i].write(k);
            }
        }
    }
}

/// `dx` [H, W, C] ← each window's gradient `g` [H/2, W/2, C] at the place its maximum came
/// from, zero elsewhere (every value of `dx` is written).
pub fn max2x2_grad(index: &[u8], g: &[f32], h: usize, w: usize, c: usize, dx: &mut [Out<f32>]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: this CPU has AVX2 (checked above).
        return unsafe { grad_avx2(index, g, h, w, c, dx) };
    }
    grad_body(index, g, h, w, c, dx)
}

/// The same loop for AVX2's 8 lanes and its byte-to-word widening (the default x86-64 target
/// has neither): measured 13% of a training step without it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn grad_avx2(index: &[u8], g: &[f32], h: usize, w: usize, c: usize, dx: &mut [Out<f32>]) {
    grad_body(index, g, h, w, c, dx)
}

#[inline(always)]
fn grad_body(index: &[u8], g: &[f32], h: usize, w: usize, c: usize, dx: &mut [Out<f32>]) {
    let (ho, wo) = (h / 2, w / 2);
    // Rows and columns that floor pooling dropped get no gradient.
    let zero = Out::new(0.0);
    if h % 2 == 1 {
        dx[(h - 1) * w * c..][..w * c].fill(zero);
    }
    if w % 2 == 1 {
        for y in 0..2 * ho {
            dx[(y * w + w - 1) * c..][..c].fill(zero);
        }
    }
    for oy in 0..ho {
        let (top, bottom) = dx[2 * oy * w * c..][..2 * w * c].split_at_mut(w * c);
        for ox in 0..wo {
            let o = (oy * wo + ox) * c;
            let (index, g) = (&index[o..][..c], &g[o..][..c]);
            let (d0, d1) = top[2 * ox * c..][..2 * c].split_at_mut(c);
            let (d2, d3) = bottom[2 * ox * c..][..2 * c].split_at_mut(c);
            for i in 0..c {
                let (k, v) = (index[i], g[i]);
                d0[i].write(if k == 0 { v } else { 0.0 });
                d1[i].write(if k == 1 { v } else { 0.0 });
                d2[i].write(if k == 2 { v } else { 0.0 });
                d3[i].write(if k == 3 { v } else { 0.0 });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{out, read};

    #[test]
    fn the_first_maximum_wins_and_its_gradient_goes_back_there() {
        // One channel, two windows side by side, a 5th column that pooling drops.
        let x = [
            1.0, 3.0, 2.0, 2.0, 9.0, //
            3.0, 0.0, 2.0, 2.0, 9.0,
        ];
        let (mut pooled, mut index) = (out(2, 7.0), out(2, 7));
        max2x2(&x, 2, 5, 1, &mut pooled, &mut index);
        assert_eq!(read(&pooled), [3.0, 2.0]);
        assert_eq!(read(&index), [1, 0]);
        let mut dx = out(10, 7.0);
        max2x2_grad(&read(&index), &[0.5, -1.0], 2, 5, 1, &mut dx);
        assert_eq!(
            read(&dx),
            [0.0, 0.5, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn channels_pool_apart() {
        // 3x2 pixels (the last row dropped), 2 channels: channel 0 peaks at the bottom right,
        // channel 1 at the top left.
        let mut x = [0.0f32; 3 * 2 * 2];
        x[(2 + 1) * 2] = 5.0; // (y=1, x=1, c=0)
        x[1] = 4.0; // (y=0, x=0, c=1)
        x[(2 * 2) * 2] = 9.0; // (y=2, x=0, c=0): a dropped row
        let (mut pooled, mut index) = (out(2, 7.0), out(2, 7));
        max2x2(&x, 3, 2, 2, &mut pooled, &mut index);
        assert_eq!((read(&pooled), read(&index)), (vec![5.0, 4.0], vec![3, 0]));
        let mut dx = out(12, 7.0);
        max2x2_grad(&read(&index), &[1.0, 2.0], 3, 2, 2, &mut dx);
        let mut want = [0.0; 12];
        want[6] = 1.0;
        want[1] = 2.0;
        assert_eq!(read(&dx), want);
    }
}
