//! The inner loops of the engine's CPU kernels, on plain slices: one image plane, one row of
//! patches, one block of a mask at a time. The engine splits tensors over rayon and calls these.
//!
//! Why a crate of its own: the workspace's test profile optimizes dependencies but not its own
//! crates, and these loops unoptimized made every CPU test train about three times slower (the
//! debug build spent most of a step in range iterators and bounds checks here). As a crate the
//! profile names, they are optimized in every build for a few seconds of compile time, where
//! optimizing the whole engine cost minutes (burn's generics monomorphized three times over).

pub mod conv;
pub mod hash;
pub mod pool;
pub mod tanh;

/// `dst[i] += src[i]`.
pub fn add_into(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// One image's bytes as floats, channel by channel: `out = byte · scale[c] + shift[c]`, each
/// channel `plane` values long.
pub fn bytes_affine(out: &mut [f32], bytes: &[u8], plane: usize, scale: &[f32], shift: &[f32]) {
    for (c, (out, bytes)) in out.chunks_mut(plane).zip(bytes.chunks(plane)).enumerate() {
        let (a, b) = (scale[c], shift[c]);
        for (o, &p) in out.iter_mut().zip(bytes) {
            *o = p as f32 * a + b;
        }
    }
}
