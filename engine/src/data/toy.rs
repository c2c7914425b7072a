//! A learnable toy data set for tests: each class its own colour, plus noise.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Cifar10, Split};

/// A learnable toy set: each class has its own colour (its base-3 digits pick one of three
/// levels per channel), plus noise.
pub(crate) fn synthetic(n: usize, seed: u64) -> Split {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut split = Split::default();
    for i in 0..n {
        let label = (i % 10) as u8;
        split.labels.push(label);
        for c in 0..3 {
            let digit = (label as u32 / 3u32.pow(c as u32)) % 3;
            let base = 40 + 88 * digit as i32;
            for _ in 0..1024 {
                let v = base + rng.random_range(-25..=25);
                split.images.push(v.clamp(0, 255) as u8);
            }
        }
    }
    split
}

pub(crate) fn tiny() -> Cifar10 {
    Cifar10::new(synthetic(400, 1), synthetic(100, 2))
}
