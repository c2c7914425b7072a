//! The inner loops of the engine's CPU kernels, on plain slices: one image plane, one row of
//! patches, one block of a mask at a time. The engine splits tensors over rayon and calls these.
//!
//! Why a crate of its own: the workspace's test profile optimizes dependencies but not its own
//! crates, and these loops unoptimized made every CPU test train about three times slower (the
//! debug build spent most of a step in range iterators and bounds checks here). As a crate the
//! profile names, they are optimized in every build for a few seconds of compile time, where
//! optimizing the whole engine cost minutes (burn's generics monomorphized three times over).

pub mod act;
pub mod conv;
pub mod hash;
pub mod pool;
pub mod tanh;

/// An output a loop writes whole before anything reads it, so its buffer need not be zeroed
/// first (that zeroing, a memset per output, was ~5% of a CPU training step).
pub type Out<T> = std::mem::MaybeUninit<T>;

/// `dst[i] += src[i]`.
pub fn add_into(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// One image's bytes [C, H·W] as floats, channels last [H·W, C]:
/// `out[p·C + c] = byte[c·plane + p] · scale[c] + shift[c]`, every value of `out` written.
pub fn bytes_affine_channels_last(
    out: &mut [Out<f32>],
    bytes: &[u8],
    scale: &[f32],
    shift: &[f32],
) {
    assert_eq!(out.len(), bytes.len(), "lengths");
    let c = scale.len();
    let plane = bytes.len() / c;
    for (p, px) in out.chunks_exact_mut(c).take(plane).enumerate() {
        for (ch, v) in px.iter_mut().enumerate() {
            v.write(bytes[ch * plane + p] as f32 * scale[ch] + shift[ch]);
        }
    }
}

/// Slots that a test's loop will overwrite, holding `fill` so a slot it skipped shows.
#[cfg(test)]
mod testing {
    use super::Out;

    pub fn out<T: Copy>(n: usize, fill: T) -> Vec<Out<T>> {
        vec![Out::new(fill); n]
    }

    /// The values written (every slot holds one: `out` filled them all).
    pub fn read<T: Copy>(slots: &[Out<T>]) -> Vec<T> {
        // SAFETY: every slot was initialised by `out` and only ever overwritten with values.
        slots.iter().map(|s| unsafe { s.assume_init() }).collect()
    }
}
