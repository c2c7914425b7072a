//! The patch copies of a 3x3 convolution (stride 1, no padding) done as im2col + gemm.

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
    /// Patch length: one row of im2col per (channel, kernel row, kernel column).
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
}

/// `cols` [K, L] ← the 3x3 patches of one image `x` [C, H, W], channel-major like the weights.
pub fn im2col(x: &[f32], d: Dims, cols: &mut [f32]) {
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
pub fn col2im(cols: &[f32], d: Dims, x: &mut [f32]) {
    let (ho, wo, l) = (d.ho(), d.wo(), d.l());
    for c in 0..d.c {
        for ki in 0..3 {
            for kj in 0..3 {
                let row = &cols[((c * 3 + ki) * 3 + kj) * l..][..l];
                for y in 0..ho {
                    let dst = &mut x[c * d.h * d.w + (y + ki) * d.w + kj..][..wo];
                    crate::add_into(dst, &row[y * wo..][..wo]);
                }
            }
        }
    }
}

/// Each output row of `y` [O, L] set to its channel's bias, before the gemm adds the rest.
pub fn fill_bias(y: &mut [f32], bias: &[f32], l: usize) {
    for (row, &b) in y.chunks_mut(l).zip(bias) {
        row.fill(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn col2im_adds_back_what_im2col_took() {
        let d = Dims {
            batch: 1,
            c: 2,
            h: 4,
            w: 5,
            o: 1,
        };
        let x: Vec<f32> = (0..d.image()).map(|i| i as f32).collect();
        let mut cols = vec![0.0; d.k() * d.l()];
        im2col(&x, d, &mut cols);
        // Patch (c=1, ki=1, kj=2) at output (y=1, x=0) reads x[1, 2, 2].
        let l = d.l();
        assert_eq!(
            cols[((3 + 1) * 3 + 2) * l + d.wo()],
            x[d.h * d.w + 2 * d.w + 2]
        );
        // Every input pixel comes back once per patch that holds it.
        let mut back = vec![0.0; d.image()];
        col2im(&cols, d, &mut back);
        let uses = |y: usize, x: usize| {
            let span = |i: usize, n: usize| (0..3).filter(|k| i >= *k && i - k < n).count();
            span(y, d.ho()) * span(x, d.wo())
        };
        for c in 0..d.c {
            for y in 0..d.h {
                for xx in 0..d.w {
                    let i = c * d.h * d.w + y * d.w + xx;
                    assert_eq!(back[i], x[i] * uses(y, xx) as f32, "at {c},{y},{xx}");
                }
            }
        }
    }
}
