//! Every random number a run draws, from counter-based streams keyed by the run's seed: the
//! initial weights by (seed, parameter), the dropout masks by (seed, epoch, step, layer).
//!
//! Why: burn's `Backend::seed` sets one generator per process (on `flex`, `cuda` and `wgpu`
//! alike), so runs side by side on one device would take each other's draws, and a resumed run
//! would draw other masks than the run it continues. A draw that is a pure function of its key
//! is the run's own on any device, beside any other run, after any resume (PyTorch's CUDA
//! dropout and JAX do the same with Philox). The same keys give the same weights and the same
//! masks on the CPU and on every GPU backend: the mask hash is written once for the CPU (plain
//! `u32` arithmetic) and once as integer tensor ops for the GPUs, and a test holds them equal.

/// SplitMix64's finalizer: a well-mixed bijection of 64-bit words.
pub fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// The hash's CPU loop lives with the other CPU loops, optimized even in test builds.
pub use cifar_loops::hash::{M31, MIX, mix31};

/// What one training step draws from: the run's seed, the epoch and the step in it (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StepKey {
    pub seed: u64,
    pub epoch: usize,
    pub step: usize,
}

impl StepKey {
    pub fn new(seed: u64, epoch: usize, step: usize) -> Self {
        Self { seed, epoch, step }
    }

    /// The key of the dropout mask of layer `layer` in this step.
    pub fn mask(self, layer: usize) -> MaskKey {
        let mut h = splitmix(self.seed ^ 0xD50C_0017);
        for word in [self.epoch, self.step, layer] {
            h = splitmix(h ^ word as u64);
        }
        MaskKey {
            k0: (h as u32) & M31,
            k1: ((h >> 32) as u32) & M31,
        }
    }
}

/// The key of one dropout mask: two 31-bit words, hashed in one after the other so that two
/// masks are never shifts or permutations of one another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaskKey {
    pub k0: u32,
    pub k1: u32,
}

impl MaskKey {
    /// The draw of element `i` (row-major in the masked tensor), uniform in `[0, 2³¹)`.
    #[inline(always)]
    pub fn draw(self, i: u32) -> u32 {
        cifar_loops::hash::draw(self.k0, self.k1, i)
    }
}

/// An element is kept when its draw is at or above this: `p·2³¹`, so it is dropped with
/// probability `p` (to within 2⁻³¹). Capped at [`M31`] so that it is an `i32` too.
pub fn keep_threshold(p: f64) -> u32 {
    (p * 2_147_483_648.0).round().clamp(0.0, M31 as f64) as u32
}

/// A stream of uniform and normal numbers keyed by (seed, what): the initial weights of the
/// parameter numbered `what`, drawn on the host, so a seed starts from the same network on
/// every device.
pub struct Stream {
    key: u64,
    counter: u64,
}

impl Stream {
    pub fn new(seed: u64, what: u64) -> Self {
        Self {
            key: splitmix(splitmix(seed ^ 0x1417_0A17) ^ what),
            counter: 0,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.counter += 1;
        splitmix(self.key ^ splitmix(self.counter))
    }

    /// Uniform in `[0, 1)`, 53 bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller, one value per pair of uniforms).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform(); // in (0, 1]: ln is finite
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_drop_p_and_differ_by_every_part_of_their_key() {
        let n = 200_000u32;
        let dropped = |key: MaskKey, p: f64| {
            let t = keep_threshold(p);
            (0..n).filter(|&i| key.draw(i) < t).count() as f64 / n as f64
        };
        let key = StepKey::new(7, 2, 31);
        for p in [0.1, 0.2, 0.5] {
            let got = dropped(key.mask(0), p);
            // Binomial sd at n = 2e5 is under 0.0012: 5 sd.
            assert!((got - p).abs() < 0.006, "p {p}: dropped {got}");
        }
        assert_eq!(dropped(key.mask(0), 0.0), 0.0);
        // Any change of seed, epoch, step or layer gives an unrelated mask: two independent
        // masks at p = 0.5 agree on about half the elements.
        let others = [
            StepKey::new(8, 2, 31).mask(0),
            StepKey::new(7, 3, 31).mask(0),
            StepKey::new(7, 2, 32).mask(0),
            key.mask(1),
        ];
        let t = keep_threshold(0.5);
        for other in others {
            assert_ne!(other, key.mask(0));
            let agree = (0..n)
                .filter(|&i| (key.mask(0).draw(i) < t) == (other.draw(i) < t))
                .count() as f64
                / n as f64;
            assert!((agree - 0.5).abs() < 0.01, "{other:?}: agree {agree}");
        }
        // Neighbouring elements are not correlated either.
        let a = key.mask(0);
        let same_as_next = (0..n - 1)
            .filter(|&i| (a.draw(i) < t) == (a.draw(i + 1) < t))
            .count() as f64
            / (n - 1) as f64;
        assert!((same_as_next - 0.5).abs() < 0.01, "{same_as_next}");
    }

    #[test]
    fn draws_are_31_bit_and_fixed_for_ever() {
        let key = StepKey::new(1, 0, 0).mask(0);
        assert!((0..10_000).all(|i| key.draw(i) <= M31));
        // A change here changes every dropout run's figures: the README says which are exact.
        let first: Vec<u32> = (0..4).map(|i| key.draw(i)).collect();
        let again: Vec<u32> = (0..4)
            .map(|i| StepKey::new(1, 0, 0).mask(0).draw(i))
            .collect();
        assert_eq!(first, again);
        assert_eq!(mix31(0), 0);
        assert_eq!(mix31(1), 0x3125_1BA7); // by hand (Python)
        assert_eq!(keep_threshold(0.5), 1 << 30);
        assert_eq!(keep_threshold(1.0), M31);
    }

    #[test]
    fn streams_are_uniform_normal_and_their_own() {
        let mut s = Stream::new(3, 0);
        let u: Vec<f64> = (0..100_000).map(|_| s.uniform()).collect();
        let mean = u.iter().sum::<f64>() / u.len() as f64;
        assert!((mean - 0.5).abs() < 0.005, "{mean}");
        assert!(u.iter().all(|&v| (0.0..1.0).contains(&v)));
        let z: Vec<f64> = (0..100_000).map(|_| s.normal()).collect();
        let mean = z.iter().sum::<f64>() / z.len() as f64;
        let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / z.len() as f64;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.02,
            "{mean} {var}"
        );
        let first = |seed, what| Stream::new(seed, what).uniform();
        assert_eq!(first(3, 0), first(3, 0));
        assert_ne!(first(3, 0), first(3, 1));
        assert_ne!(first(3, 0), first(4, 0));
    }
}
