//! 2x2 max pooling (stride 2) of one plane, and its gradient.

/// `out` and `index` [H/2, W/2] ← the maximum of each 2x2 window of `plane` [H, W] and where
/// it was (0..4, row-major in the window). The first maximum wins ties, as in PyTorch and burn.
pub fn max2x2(plane: &[f32], w: usize, out: &mut [f32], index: &mut [u8]) {
    let wo = w / 2;
    if wo == 0 {
        return;
    }
    for (oy, (out, index)) in out.chunks_mut(wo).zip(index.chunks_mut(wo)).enumerate() {
        let top = &plane[2 * oy * w..][..2 * wo];
        let bottom = &plane[(2 * oy + 1) * w..][..2 * wo];
        for ox in 0..wo {
            let window = [
                top[2 * ox],
                top[2 * ox + 1],
                bottom[2 * ox],
                bottom[2 * ox + 1],
            ];
            let mut best = 0;
            for k in 1..4 {
                if window[k] > window[best] {
                    best = k;
                }
            }
            out[ox] = window[best];
            index[ox] = best as u8;
        }
    }
}

/// `dx` [H, W] ← each window's gradient `g` [H/2, W/2] at the place its maximum came from
/// (`dx` starts at zero).
pub fn max2x2_grad(index: &[u8], g: &[f32], w: usize, dx: &mut [f32]) {
    let wo = w / 2;
    if wo == 0 {
        return;
    }
    for (oy, (index, g)) in index.chunks(wo).zip(g.chunks(wo)).enumerate() {
        for (ox, (&k, &g)) in index.iter().zip(g).enumerate() {
            let k = k as usize;
            dx[(2 * oy + k / 2) * w + 2 * ox + k % 2] = g;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_maximum_wins_and_its_gradient_goes_back_there() {
        // Two windows side by side, a 5th column that pooling drops.
        let plane = [
            1.0, 3.0, 2.0, 2.0, 9.0, //
            3.0, 0.0, 2.0, 2.0, 9.0,
        ];
        let (mut out, mut index) = ([0.0; 2], [0u8; 2]);
        max2x2(&plane, 5, &mut out, &mut index);
        assert_eq!(out, [3.0, 2.0]);
        assert_eq!(index, [1, 0]);
        let mut dx = [0.0; 10];
        max2x2_grad(&index, &[0.5, -1.0], 5, &mut dx);
        assert_eq!(dx, [0.0, 0.5, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }
}
