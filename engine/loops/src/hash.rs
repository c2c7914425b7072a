//! The integer hash behind every dropout mask, and the CPU's mask loop.

/// The words a GPU hash works in: 31 bits, so that every intermediate value is a non-negative
/// `i32` (the GPUs' integer type) and an `i64` backend gives the same bits.
pub const M31: u32 = 0x7FFF_FFFF;
/// The multiplier of the 32-bit integer hash by T. Mueller (two multiply-xorshift rounds).
pub const MIX: u32 = 0x045D_9F3B;

/// A 31-bit integer hash: the 32-bit `x ^= x >> 16; x *= MIX` rounds with the top bit dropped
/// after each multiplication (the low 31 bits of a product are the same in wrapping `i32`,
/// `u32` and exact `i64` arithmetic).
#[inline(always)]
pub fn mix31(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(MIX) & M31;
    x ^= x >> 16;
    x = x.wrapping_mul(MIX) & M31;
    x ^ (x >> 16)
}

/// The draw of element `i` under the key `(k0, k1)`, uniform in `[0, 2³¹)`.
#[inline(always)]
pub fn draw(k0: u32, k1: u32, i: u32) -> u32 {
    mix31(mix31(i ^ k0) ^ k1)
}

/// Element `i`'s inverted-dropout factor: `scale` where its draw is at or above `threshold`,
/// else 0.
#[inline(always)]
fn factor((k0, k1): (u32, u32), i: u32, threshold: u32, scale: f32) -> f32 {
    if draw(k0, k1, i) >= threshold {
        scale
    } else {
        0.0
    }
}

/// `values[j]` ← `values[j]` times the factor of element `first + j`: inverted dropout on a
/// block in the tensor's logical order.
pub fn drop(values: &mut [f32], first: u32, key: (u32, u32), threshold: u32, scale: f32) {
    for (i, v) in (first..).zip(values.iter_mut()) {
        *v *= factor(key, i, threshold, scale);
    }
}

/// [`drop`] on one channels-last image [`hw`, `c`] whose logical (channels-first) elements
/// start at `first`: the value of channel `ch` at pixel `p` is logical element
/// `first + ch·hw + p`, so the same key drops the same activations in either layout.
pub fn drop_channels_last(
    values: &mut [f32],
    first: u32,
    c: usize,
    key: (u32, u32),
    threshold: u32,
    scale: f32,
) {
    let hw = values.len() / c;
    for (p, px) in values.chunks_exact_mut(c).enumerate() {
        for (ch, v) in px.iter_mut().enumerate() {
            *v *= factor(key, first + (ch * hw + p) as u32, threshold, scale);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channels_last_image_drops_what_its_channels_first_self_drops() {
        let (c, hw, key, t) = (3, 5, (17, 99), M31 / 2);
        let first = (2 * c * hw) as u32; // the third image
        let mut logical: Vec<f32> = (0..c * hw).map(|i| i as f32 + 1.0).collect();
        let mut last = vec![0.0; c * hw];
        for ch in 0..c {
            for p in 0..hw {
                last[p * c + ch] = logical[ch * hw + p];
            }
        }
        drop(&mut logical, first, key, t, 2.0);
        drop_channels_last(&mut last, first, c, key, t, 2.0);
        for ch in 0..c {
            for p in 0..hw {
                assert_eq!(last[p * c + ch], logical[ch * hw + p], "{ch} {p}");
            }
        }
        assert!(logical.contains(&0.0) && logical.iter().any(|&v| v > 2.0));
    }
}
