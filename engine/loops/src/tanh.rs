//! `c + a·tanh(b·x)` (LeCun's sigmoid), forward and backward, vectorized.

use crate::Out;

/// The map `c + a·tanh(b·x)` as `[a, b, c]`.
pub type Affine = [f32; 3];

/// tanh by Eigen's rational approximation (odd degree-13 over even degree-6 polynomial), within
/// 1e-6 of the true value (7 ulps at most): plain arithmetic that the compiler vectorizes, where
/// `f32::tanh` is a libm call per element. The input is clamped to Eigen's ±7.9053, where the
/// rational form reaches ±1 (beyond it, it would leave [-1, 1]; tanh is within 3e-7 of ±1
/// there); NaN stays NaN (`clamp` passes it).
#[inline(always)]
#[allow(clippy::excessive_precision)] // Eigen's coefficients as published
pub fn tanh_rational(x: f32) -> f32 {
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
fn forward_body(out: &mut [Out<f32>], x: &[f32], [a, b, c]: Affine) {
    for (o, &v) in out.iter_mut().zip(x) {
        o.write(c + a * tanh_rational(b * v));
    }
}

/// The same loop, compiled for AVX2's 8 lanes (the default x86-64 target has SSE2's 4). Rust
/// never fuses a multiply and an add on its own, so both paths give the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn forward_avx2(out: &mut [Out<f32>], x: &[f32], f: Affine) {
    forward_body(out, x, f)
}

/// `out` ← `c + a·tanh(b·x)`, every value (as long as `x`) written.
pub fn forward(out: &mut [Out<f32>], x: &[f32], f: Affine) {
    assert_eq!(out.len(), x.len(), "lengths");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: this CPU has AVX2 (checked above).
        return unsafe { forward_avx2(out, x, f) };
    }
    forward_body(out, x, f)
}

/// `y` ← `c + a·tanh(b·y)`, in place.
pub fn forward_in_place(y: &mut [f32], f: Affine) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: this CPU has AVX2 (checked above).
        return unsafe { in_place_avx2(y, f) };
    }
    in_place_body(y, f)
}

#[inline(always)]
fn in_place_body(y: &mut [f32], [a, b, c]: Affine) {
    for v in y.iter_mut() {
        *v = c + a * tanh_rational(b * *v);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn in_place_avx2(y: &mut [f32], f: Affine) {
    in_place_body(y, f)
}

/// `dx` ← `g · dy/dx` from the output `y`: `a·b·(1 − tanh²) = (a² − (y − c)²)·b/a`. Every
/// value of `dx` (as long as `y` and `g`) is written.
pub fn backward(dx: &mut [Out<f32>], y: &[f32], g: &[f32], [a, b, c]: Affine) {
    assert!(dx.len() == g.len() && y.len() == g.len(), "lengths");
    let (a2, k) = (a * a, b / a);
    for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(g) {
        let d = y - c;
        dx.write(g * ((a2 - d * d) * k));
    }
}
