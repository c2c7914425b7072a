//! ZCA whitening (Efficient BackProp, sec. 4.3: inputs decorrelated, with equal variances):
//! `x ↦ (x − μ) W`, `W = (C + εI)^{-1/2}`, fitted on the training set's pixels in [0, 1].
//!
//! `W` is symmetric, so whitened images still look like images (unlike PCA whitening). It is
//! computed with the coupled Newton–Schulz iteration, three matrix products a step, so fitting
//! needs only the backend's matmul (and runs on the GPU where training does).

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::data::{Split, cifar::IMAGE_BYTES};

/// Newton–Schulz steps at most; convergence is checked after each.
pub const MAX_STEPS: usize = 60;
/// Done when every entry of `ZY − I` is below this (f32 rounding over 3072-term dot products
/// keeps it from going much lower), or when a step no longer halves it.
const TOLERANCE: f32 = 1e-4;

/// A fitted whitening: the training set's mean and the matrix.
pub struct Zca<B: Backend> {
    mean: Tensor<B, 2>,  // [1, d]
    white: Tensor<B, 2>, // [d, d], symmetric
    /// Newton–Schulz steps the fit took.
    pub steps: usize,
}

/// A split's pixels as f32 rows in [0, 1]: [n, 3072].
pub fn pixels<B: Backend>(split: &Split, device: &B::Device) -> Tensor<B, 2> {
    let x: Vec<f32> = split.images.iter().map(|&p| p as f32 / 255.0).collect();
    Tensor::from_data(TensorData::new(x, [split.len(), IMAGE_BYTES]), device)
}

impl<B: Backend> Zca<B> {
    /// Fits on the rows of `x` [n, d]: the covariance divided by n, plus `epsilon` on its
    /// diagonal (which keeps near-empty directions, pixel noise, from being blown up).
    #[cfg(test)]
    pub fn fit(x: Tensor<B, 2>, epsilon: f64) -> Self {
        Self::fit_watched(x, epsilon, &mut |_| true).expect("a fit nobody stops ends")
    }

    /// [`Zca::fit`], saying each Newton–Schulz step done to `step` (0: the covariance is
    /// being computed); `None` as soon as `step` answers `false` (a cancel).
    pub fn fit_watched(
        x: Tensor<B, 2>,
        epsilon: f64,
        step: &mut dyn FnMut(usize) -> bool,
    ) -> Option<Self> {
        let [n, d] = x.dims();
        let device = x.device();
        if !step(0) {
            return None;
        }
        let mean = x.clone().mean_dim(0); // [1, d]
        let centred = x - mean.clone();
        let cov = centred.clone().transpose().matmul(centred) / n as f64
            + Tensor::eye(d, &device) * epsilon;
        let (white, steps) = inverse_sqrt(cov, step)?;
        tracing::debug!("ZCA: {steps} Newton-Schulz steps");
        Some(Self { mean, white, steps })
    }

    /// Whitens the rows of `x` [n, d].
    pub fn apply(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        (x - self.mean.clone()).matmul(self.white.clone())
    }

    /// [`Zca::fit`] on a split's pixels, reusing this process's previous fit when it was of
    /// the same images with the same epsilon: a study's runs share one training set, and a
    /// fit takes minutes on a CPU. Runs side by side wait for one fit rather than each doing it.
    /// `step` as in [`Zca::fit_watched`]; `None` when it stopped the fit.
    pub fn fit_split(
        split: &Split,
        epsilon: f64,
        device: &B::Device,
        step: &mut dyn FnMut(usize) -> bool,
    ) -> Option<Self> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        split.images.hash(&mut h);
        let key = (h.finish(), split.len(), epsilon.to_bits());
        Self::reuse_or(key, device, || {
            Self::fit_watched(pixels(split, device), epsilon, step)
        })
    }

    /// The kept fit if it has `key`, else `fit()`, kept under `key` (a stopped fit is not).
    fn reuse_or(
        key: FitKey,
        device: &B::Device,
        fit: impl FnOnce() -> Option<Self>,
    ) -> Option<Self> {
        let mut last = LAST_FIT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(kept) = last.as_ref().filter(|f| f.key == key) {
            let d = kept.mean.len();
            return Some(Self {
                mean: Tensor::from_data(TensorData::new(kept.mean.clone(), [1, d]), device),
                white: Tensor::from_data(TensorData::new(kept.white.clone(), [d, d]), device),
                steps: 0,
            });
        }
        let fitted = fit()?;
        let host = |t: &Tensor<B, 2>| t.clone().into_data().convert::<f32>().into_vec();
        if let (Ok(mean), Ok(white)) = (host(&fitted.mean), host(&fitted.white)) {
            *last = Some(HostFit { key, mean, white });
        }
        Some(fitted)
    }
}

#[cfg(test)]
impl<B: Backend> Zca<B> {
    /// The whitening that changes nothing but the offset: W = I, μ = `mean` in every column.
    pub(crate) fn identity(d: usize, mean: f32, device: &B::Device) -> Self {
        Self {
            mean: Tensor::full([1, d], mean, device),
            white: Tensor::eye(d, device),
            steps: 0,
        }
    }
}

/// What a fit was fitted on: (hash of the pixels, images, epsilon's bits).
type FitKey = (u64, usize, u64);

/// A fit kept on the host, with what it was fitted on.
struct HostFit {
    key: FitKey,
    mean: Vec<f32>,
    white: Vec<f32>,
}

static LAST_FIT: std::sync::Mutex<Option<HostFit>> = std::sync::Mutex::new(None);

/// `A^{-1/2}` of a symmetric positive definite `a`, by the coupled Newton–Schulz iteration
/// (Higham, Functions of Matrices, 2008, eq. 6.35): with `Y₀ = A/c`, `Z₀ = I`,
/// `T = (3I − ZY)/2`, `Y ← YT`, `Z ← TZ`, `Z` tends to `(A/c)^{-1/2}`. Scaling by the trace
/// `c` puts every eigenvalue in (0, 1], where it converges.
fn inverse_sqrt<B: Backend>(
    a: Tensor<B, 2>,
    step: &mut dyn FnMut(usize) -> bool,
) -> Option<(Tensor<B, 2>, usize)> {
    let d = a.dims()[0];
    let device = a.device();
    let eye = Tensor::<B, 2>::eye(d, &device);
    let trace: f32 = (a.clone() * eye.clone()).sum().into_scalar().elem();
    let mut y = a / trace as f64;
    let mut z = eye.clone();
    let mut steps = 0;
    let mut last = f32::INFINITY;
    while steps < MAX_STEPS {
        let zy = z.clone().matmul(y.clone());
        let residual = zy.clone() - eye.clone();
        let off: f32 = residual.clone().abs().max().into_scalar().elem();
        // The Frobenius norm bounds every eigenvalue's residual: once it is below 1/2 the
        // iteration is quadratic and more than halves it each step, until rounding stops it.
        let fro: f32 = residual.powi_scalar(2).sum().sqrt().into_scalar().elem();
        if off < TOLERANCE || (fro < 0.5 && fro > last / 2.0) {
            break;
        }
        last = fro;
        let t = (eye.clone() * 3.0 - zy) * 0.5;
        y = y.matmul(t.clone());
        z = t.matmul(z);
        steps += 1;
        if !step(steps) {
            return None;
        }
    }
    Some((z / (trace as f64).sqrt(), steps))
}

use burn::tensor::ElementConversion;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Covariance of the rows of `x` [n, d], divided by n, as f64 rows.
    fn covariance(x: Tensor<Cpu, 2>) -> Vec<Vec<f64>> {
        let [n, d] = x.dims();
        let v: Vec<f32> = x.into_data().to_vec().unwrap();
        let mean: Vec<f64> = (0..d)
            .map(|j| (0..n).map(|i| v[i * d + j] as f64).sum::<f64>() / n as f64)
            .collect();
        (0..d)
            .map(|a| {
                (0..d)
                    .map(|b| {
                        (0..n)
                            .map(|i| {
                                (v[i * d + a] as f64 - mean[a]) * (v[i * d + b] as f64 - mean[b])
                            })
                            .sum::<f64>()
                            / n as f64
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn whitened_data_has_identity_covariance() {
        // 2000 samples of 12 strongly correlated, unequally scaled variables: x = s M, s
        // uniform, M a random mixing with scales from 0.05 to 3.
        let (n, d) = (2000, 12);
        let mut rng = StdRng::seed_from_u64(5);
        let mix: Vec<f32> = (0..d * d)
            .map(|k| rng.random_range(-1.0..1.0) * (0.05 + 3.0 * (k % d) as f32 / d as f32))
            .collect();
        let s: Vec<f32> = (0..n * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let dev = Default::default();
        let x = Tensor::<Cpu, 2>::from_data(TensorData::new(s, [n, d]), &dev)
            .matmul(Tensor::from_data(TensorData::new(mix, [d, d]), &dev))
            + 0.3;
        let before = covariance(x.clone());
        let most = (0..d)
            .flat_map(|a| (0..d).filter(move |&b| b != a).map(move |b| (a, b)))
            .map(|(a, b)| before[a][b].abs())
            .fold(0.0, f64::max);
        assert!(most > 0.1, "the test data is correlated: {most}");
        let zca = Zca::fit(x.clone(), 1e-9);
        let cov = covariance(zca.apply(x));
        for (a, row) in cov.iter().enumerate() {
            for (b, &c) in row.iter().enumerate() {
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((c - want).abs() < 1e-3, "cov[{a}][{b}] = {c}");
            }
        }
        // ZCA, not any whitening: W is symmetric.
        let w: Vec<f32> = zca.white.clone().into_data().to_vec().unwrap();
        for a in 0..d {
            for b in 0..d {
                assert!((w[a * d + b] - w[b * d + a]).abs() < 1e-3 * w[a * d + a].abs());
            }
        }
    }

    #[test]
    fn a_fit_stops_when_asked_between_steps_and_says_each() {
        let dev = Default::default();
        let rows: Vec<f32> = (0..300).map(|i| ((i * 37) % 11) as f32 / 11.0).collect();
        let x = Tensor::<Cpu, 2>::from_data(TensorData::new(rows, [100, 3]), &dev);
        let mut said = Vec::new();
        let stopped = Zca::fit_watched(x.clone(), 0.1, &mut |k| {
            said.push(k);
            k < 2
        });
        assert!(stopped.is_none());
        assert_eq!(
            said,
            [0, 1, 2],
            "the covariance, then each step, until stopped"
        );
        let mut last = 0;
        let whole = Zca::fit_watched(x, 0.1, &mut |k| {
            last = k;
            true
        })
        .unwrap();
        assert_eq!(last, whole.steps);
    }

    #[test]
    fn a_fit_is_reused_only_for_the_same_key() {
        let dev = Default::default();
        let x = || {
            let rows: Vec<f32> = (0..300).map(|i| ((i * 37) % 11) as f32 / 11.0).collect();
            Tensor::<Cpu, 2>::from_data(TensorData::new(rows, [100, 3]), &dev)
        };
        let first = Zca::<Cpu>::reuse_or((1, 100, 7), &dev, || Some(Zca::fit(x(), 0.1))).unwrap();
        assert!(first.steps > 0);
        let again = Zca::<Cpu>::reuse_or((1, 100, 7), &dev, || panic!("fitted again")).unwrap();
        assert_eq!(again.steps, 0);
        assert_eq!(again.white.into_data(), first.white.clone().into_data());
        assert_eq!(again.mean.into_data(), first.mean.into_data());
        let other = Zca::<Cpu>::reuse_or((2, 100, 7), &dev, || Some(Zca::fit(x(), 0.2))).unwrap();
        assert!(other.steps > 0, "another key is fitted anew");
    }

    #[test]
    fn epsilon_shrinks_the_weak_directions() {
        // Variances 4 and 0.01, uncorrelated: ε = 0.01 whitens the first to 4/4.01 and the
        // second only to 0.01/0.02 = 0.5.
        let dev = Default::default();
        let rows: Vec<f32> = (0..4000)
            .flat_map(|i| {
                let a = if i % 2 == 0 { 2.0 } else { -2.0 };
                let b = if (i / 2) % 2 == 0 { 0.1 } else { -0.1 };
                [a, b]
            })
            .collect();
        let x = Tensor::<Cpu, 2>::from_data(TensorData::new(rows, [4000, 2]), &dev);
        let cov = covariance(Zca::fit(x.clone(), 0.01).apply(x));
        assert!((cov[0][0] - 4.0 / 4.01).abs() < 1e-3, "{cov:?}");
        assert!((cov[1][1] - 0.5).abs() < 1e-3, "{cov:?}");
    }

    /// Fitting on the real training set: `CIFAR_DIR=/work/data cargo test -p cifar-engine
    /// --release zca_fit_on_cifar -- --ignored --nocapture` prints the time.
    #[test]
    #[ignore = "needs CIFAR-10 in $CIFAR_DIR"]
    fn zca_fit_on_cifar_times() {
        let dir = std::env::var("CIFAR_DIR").expect("CIFAR_DIR");
        let data = crate::data::cifar::load(std::path::Path::new(&dir)).unwrap();
        let dev = Default::default();
        let t = std::time::Instant::now();
        let x = pixels::<Cpu>(&data.train, &dev);
        let zca = Zca::fit(x.clone(), 1e-2);
        let fitted = t.elapsed().as_secs_f64();
        let white = zca.apply(x);
        let _ = white.clone().slice([0..1, 0..1]).into_data();
        let applied = t.elapsed().as_secs_f64() - fitted;
        let test = zca.apply(pixels::<Cpu>(&data.test, &dev));
        let _ = test.slice([0..1, 0..1]).into_data();
        eprintln!(
            "ZCA on {} images: fit {fitted:.1} s ({} Newton-Schulz steps), whitening the \
             training set {applied:.1} s, total with the test set {:.1} s",
            data.train.len(),
            zca.steps,
            t.elapsed().as_secs_f64()
        );
    }
}
