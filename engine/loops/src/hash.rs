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

/// `out[j]` ← `scale` where the draw of element `first + j` is at or above `threshold`, else 0:
/// one block of an inverted-dropout mask.
pub fn mask(out: &mut [f32], first: u32, (k0, k1): (u32, u32), threshold: u32, scale: f32) {
    for (i, v) in (first..).zip(out.iter_mut()) {
        *v = if draw(k0, k1, i) >= threshold {
            scale
        } else {
            0.0
        };
    }
}
