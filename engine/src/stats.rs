//! Figures repeated over seeds: the mean with its 95% confidence interval (Student's t, n - 1
//! degrees of freedom), and paired differences between variants trained on the same seeds.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// A figure measured once per seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub n: usize,
    pub mean: f64,
    /// Half the width of the 95% interval; `None` for a single value (no spread to go on).
    pub half_width: Option<f64>,
    /// Every seed's value, in seed order.
    pub values: Vec<f64>,
}

impl Interval {
    /// `None` when there is no value at all.
    pub fn of(values: &[f64]) -> Option<Interval> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let half_width = (n >= 2).then(|| {
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            t_975(n - 1) * (var / n as f64).sqrt()
        });
        Some(Interval {
            n,
            mean,
            half_width,
            values: values.to_vec(),
        })
    }

    pub fn low(&self) -> f64 {
        self.mean - self.half_width.unwrap_or(0.0)
    }

    pub fn high(&self) -> f64 {
        self.mean + self.half_width.unwrap_or(0.0)
    }

    /// The two-sided p-value of the t test that the true mean is zero (for a paired
    /// difference: the paired t test); `None` for a single value. No spread at all gives 0
    /// for a non-zero mean, 1 for a zero one.
    pub fn p_value(&self) -> Option<f64> {
        let n = self.n;
        if n < 2 {
            return None;
        }
        let var = self
            .values
            .iter()
            .map(|v| (v - self.mean).powi(2))
            .sum::<f64>()
            / (n - 1) as f64;
        let se = (var / n as f64).sqrt();
        if se == 0.0 {
            return Some(if self.mean == 0.0 { 1.0 } else { 0.0 });
        }
        let t = (self.mean / se).abs();
        let dist = StudentsT::new(0.0, 1.0, (n - 1) as f64).ok()?;
        Some((2.0 * (1.0 - dist.cdf(t))).clamp(0.0, 1.0))
    }

    /// What the interval says of a difference: a real gain or loss only when it excludes zero.
    pub fn verdict(&self) -> Verdict {
        match self.half_width {
            None => Verdict::NotShown,
            Some(_) if self.low() > 0.0 => Verdict::Higher,
            Some(_) if self.high() < 0.0 => Verdict::Lower,
            Some(_) => Verdict::WithinNoise,
        }
    }
}

/// The seed-by-seed differences `a[k] - b[k]`: variants trained on the same seeds share their
/// initial weights, data order and dropout stream, so what is left is the variants' own effect.
/// `None` unless both have the same, non-zero number of seeds.
pub fn paired_difference(a: &[f64], b: &[f64]) -> Option<Interval> {
    if a.len() != b.len() {
        return None;
    }
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    Interval::of(&d)
}

/// Holm's step-down adjustment of p-values tested together: the smallest times m, the next
/// times m − 1, …, each at least the one before it and at most 1; a claim holds for the whole
/// family at 5% when its adjusted p is under 0.05. `None` (no test) stays `None` and does not
/// count in m. In the order given.
pub fn holm(p: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut tested: Vec<(usize, f64)> = p
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|p| (i, p)))
        .collect();
    tested.sort_by(|a, b| a.1.total_cmp(&b.1));
    let m = tested.len();
    let mut out = vec![None; p.len()];
    let mut running: f64 = 0.0;
    for (k, (i, p)) in tested.into_iter().enumerate() {
        running = running.max(((m - k) as f64 * p).min(1.0));
        out[i] = Some(running);
    }
    out
}

/// Whether a difference is real at 95%.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Higher,
    Lower,
    WithinNoise,
    /// One seed: no interval, so no claim either way.
    NotShown,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Higher => "higher",
            Verdict::Lower => "lower",
            Verdict::WithinNoise => "within noise",
            Verdict::NotShown => "not shown (1 seed)",
        }
    }
}

/// The 97.5th percentile of Student's t with `df` degrees of freedom: a 95% two-sided interval.
fn t_975(df: usize) -> f64 {
    StudentsT::new(0.0, 1.0, df as f64)
        .map(|t| t.inverse_cdf(0.975))
        // `df >= 1` always holds here; the normal quantile is the limit for large df.
        .unwrap_or(1.959_964)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-5
    }

    #[test]
    fn t_quantiles_match_the_tables() {
        // Two-sided 95% critical values, as printed in any t table.
        for (df, t) in [
            (1, 12.7062),
            (2, 4.3027),
            (4, 2.7764),
            (9, 2.2622),
            (30, 2.0423),
        ] {
            assert!((t_975(df) - t).abs() < 1e-4, "df {df}: {}", t_975(df));
        }
    }

    #[test]
    fn intervals_by_hand() {
        // n = 2: mean 0.71, sd 0.0141421, se 0.01, t(1) = 12.706205.
        let i = Interval::of(&[0.70, 0.72]).unwrap();
        assert!(
            close(i.mean, 0.71) && close(i.half_width.unwrap(), 0.127062),
            "{i:?}"
        );
        // n = 3: mean 2, sd 1, se 0.577350, t(2) = 4.302653.
        let i = Interval::of(&[1.0, 2.0, 3.0]).unwrap();
        assert!(
            close(i.mean, 2.0) && close(i.half_width.unwrap(), 2.484138),
            "{i:?}"
        );
        // n = 5: mean 3.8, var 4.8 / 4 = 1.2, se 0.489898, t(4) = 2.776445.
        let i = Interval::of(&[2.0, 4.0, 4.0, 4.0, 5.0]).unwrap();
        assert!(
            close(i.mean, 3.8) && close(i.half_width.unwrap(), 1.360174),
            "{i:?}"
        );
        assert_eq!(i.values, vec![2.0, 4.0, 4.0, 4.0, 5.0]);
        // No spread: a zero-width interval, not NaN.
        let i = Interval::of(&[0.5, 0.5, 0.5]).unwrap();
        assert_eq!((i.mean, i.half_width), (0.5, Some(0.0)));
        // One value: a mean, no interval; nothing: nothing.
        assert_eq!(Interval::of(&[0.3]).unwrap().half_width, None);
        assert_eq!(Interval::of(&[]), None);
    }

    #[test]
    fn p_values_and_holm_by_hand() {
        // n = 3, df = 2: the t CDF is 1/2 + t / (2 sqrt(2 + t^2)), so p = 1 - t / sqrt(2 + t^2).
        // Mean 2, se 1/sqrt(3): t = 3.464102, p = 1 - 3.464102 / sqrt(14) = 0.074180.
        let p = Interval::of(&[1.0, 2.0, 3.0]).unwrap().p_value().unwrap();
        assert!(close(p, 0.074180), "{p}");
        // The interval excludes zero exactly when p < 0.05.
        let d = Interval::of(&[0.011, 0.009, 0.011]).unwrap();
        assert!(d.p_value().unwrap() < 0.05 && d.verdict() == Verdict::Higher);
        assert_eq!(Interval::of(&[0.3]).unwrap().p_value(), None);
        assert_eq!(Interval::of(&[0.0, 0.0]).unwrap().p_value(), Some(1.0));
        // Holm, as in his 1979 paper's scheme: sorted 0.01, 0.02, 0.03, 0.04 times 4, 3, 2, 1,
        // each at least the one before: 0.04, 0.06, 0.06, 0.06. Untested claims stay out of m.
        let adjusted = holm(&[Some(0.03), None, Some(0.01), Some(0.04), Some(0.02)]);
        let want = [Some(0.06), None, Some(0.04), Some(0.06), Some(0.06)];
        for (a, w) in adjusted.iter().zip(want) {
            assert_eq!(a.is_some(), w.is_some());
            assert!(close(a.unwrap_or(0.0), w.unwrap_or(0.0)), "{adjusted:?}");
        }
        assert_eq!(holm(&[Some(0.6), Some(0.5)]), [Some(1.0), Some(1.0)]);
    }

    #[test]
    fn paired_differences_decide_only_when_the_interval_excludes_zero() {
        // Same seeds, b consistently 0.01 better: a tiny spread, a clear difference.
        let a = [0.700, 0.710, 0.690];
        let b = [0.711, 0.719, 0.701];
        let d = paired_difference(&b, &a).unwrap();
        assert_eq!(d.verdict(), Verdict::Higher, "{d:?}");
        assert_eq!(paired_difference(&a, &b).unwrap().verdict(), Verdict::Lower);
        // Differences of either sign: within noise, although the means differ.
        let c = [0.720, 0.700, 0.695];
        assert_eq!(
            paired_difference(&c, &a).unwrap().verdict(),
            Verdict::WithinNoise
        );
        // Unpaired (different seed counts) is refused; one seed makes no claim.
        assert_eq!(paired_difference(&a, &b[..2]), None);
        assert_eq!(
            paired_difference(&a[..1], &b[..1]).unwrap().verdict(),
            Verdict::NotShown
        );
    }
}
