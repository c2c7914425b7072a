//! A run's training reports as the history keeps them: each a report window's mean loss with
//! the step the window ended at, so every screen places it where it was trained, and the rest
//! of the report (running accuracy, speed, time), so a replay shows what the live screens
//! showed. An epoch's last window is shorter than the others (2 steps of 782 on the full set);
//! placing points by their count instead drifted a fifth of an epoch per epoch on small
//! subsets.

use serde::{Deserialize, Serialize};

use cifar_engine::events::{REPORT_EVERY, report_steps};

/// Most points a run keeps; older points are merged pairwise beyond that, so a long run costs
/// bounded memory and drawing time.
pub const MAX_TRAIN_POINTS: usize = 1024;

/// One training report (see [`cifar_engine::events::Progress`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Stored")]
pub struct TrainPoint {
    /// Training steps done when the window ended, counted from the run's start (step 5 of the
    /// second epoch of 782 is 787). 0 for a value stored before points kept their step, until
    /// [`place_legacy`] places it.
    pub step: usize,
    /// The window's mean training loss.
    pub loss: f64,
    /// The epoch's running train accuracy, its speed so far and the run's seconds of training
    /// at the report; `None` in points stored before they were kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub images_per_sec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

impl TrainPoint {
    /// A point of which only the loss is known (tests, curves stored before the rest was).
    pub fn new(step: usize, loss: f64) -> Self {
        Self {
            step,
            loss,
            ..Self::default()
        }
    }
}

/// As histories and sweep results hold a point: `{"step": 787, "loss": 1.52, …}`, or a bare
/// value (schema 4 and before, placed afterwards by [`place_legacy`]).
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Point {
        step: usize,
        loss: f64,
        #[serde(default)]
        accuracy: Option<f64>,
        #[serde(default)]
        images_per_sec: Option<f64>,
        #[serde(default)]
        seconds: Option<f64>,
    },
    Value(f64),
}

impl From<Stored> for TrainPoint {
    fn from(s: Stored) -> Self {
        match s {
            Stored::Point {
                step,
                loss,
                accuracy,
                images_per_sec,
                seconds,
            } => TrainPoint {
                step,
                loss,
                accuracy,
                images_per_sec,
                seconds,
            },
            Stored::Value(loss) => TrainPoint {
                loss,
                ..TrainPoint::default()
            },
        }
    }
}

/// Adds a report's point; beyond [`MAX_TRAIN_POINTS`], neighbours merge pairwise: the losses
/// each weighted by the steps its window holds, so the curve keeps its span and its mean; the
/// running figures (accuracy, speed, time) as the later point has them.
pub fn push(points: &mut Vec<TrainPoint>, point: TrainPoint) {
    points.push(point);
    if points.len() > MAX_TRAIN_POINTS {
        *points = halve(points);
    }
}

fn halve(points: &[TrainPoint]) -> Vec<TrainPoint> {
    let mut start = 0;
    points
        .chunks(2)
        .map(|pair| {
            let (mut sum, mut steps) = (0.0, 0);
            for p in pair {
                let len = p.step.saturating_sub(start).max(1);
                sum += p.loss * len as f64;
                steps += len;
                start = p.step;
            }
            TrainPoint {
                loss: sum / steps as f64,
                ..pair[pair.len() - 1]
            }
        })
        .collect()
}

/// Gives bare values (stored before points kept their step) the steps they were reported at.
/// The engine has always reported after [`report_steps`] of each epoch, and a curve over
/// [`MAX_TRAIN_POINTS`] was halved pairwise from its start, so with `steps_per_point` =
/// REPORT_EVERY·2^k point i stands for reports i·2^k .. (i+1)·2^k of the run and ends with
/// the last of them. The last point may stand for fewer: curves were stored at epoch ends, so
/// it ends with the epoch of its first report (exact while an epoch holds 2^k reports or more).
/// A curve whose points have steps is left as it is.
pub fn place_legacy(points: &mut [TrainPoint], steps_per_point: usize, steps_per_epoch: usize) {
    if points.is_empty() || points.iter().any(|p| p.step > 0) {
        return;
    }
    let steps_per_epoch = steps_per_epoch.max(1);
    let per_epoch: Vec<usize> = report_steps(steps_per_epoch).collect();
    let epoch_of = |k: usize| k / per_epoch.len();
    let report = |k: usize| epoch_of(k) * steps_per_epoch + per_epoch[k % per_epoch.len()];
    let merged = (steps_per_point / REPORT_EVERY).max(1);
    let last = points.len() - 1;
    for (i, p) in points.iter_mut().enumerate() {
        p.step = report((i + 1) * merged - 1);
        if i == last {
            p.step = p.step.min((epoch_of(i * merged) + 1) * steps_per_epoch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(steps: &[usize]) -> Vec<TrainPoint> {
        steps
            .iter()
            .map(|&step| TrainPoint::new(step, 1.0))
            .collect()
    }

    #[test]
    fn a_merged_point_weighs_each_window_by_its_steps() {
        // An epoch of 41 steps: windows of 20, 20 and 1 step.
        let curve = [(20, 2.0), (40, 1.0), (41, 4.0), (61, 1.0)]
            .map(|(step, loss)| TrainPoint::new(step, loss));
        let halved = halve(&curve);
        assert_eq!(halved.iter().map(|p| p.step).collect::<Vec<_>>(), [40, 61]);
        assert_eq!(halved[0].loss, 1.5);
        // 1 step at 4.0 and 20 at 1.0, not (4 + 1) / 2.
        assert!(
            (halved[1].loss - 24.0 / 21.0).abs() < 1e-12,
            "{:?}",
            halved[1]
        );
    }

    #[test]
    fn a_long_curve_keeps_its_span() {
        let mut curve = Vec::new();
        for k in 1..=3 * MAX_TRAIN_POINTS {
            push(&mut curve, TrainPoint::new(20 * k, 1.0));
        }
        assert!(curve.len() <= MAX_TRAIN_POINTS);
        assert_eq!(curve.last().unwrap().step, 20 * 3 * MAX_TRAIN_POINTS);
        assert!(curve.iter().all(|p| p.loss == 1.0));
    }

    #[test]
    fn values_stored_bare_get_the_steps_the_engine_reported_at() {
        // 3,000 images at batch 64: 47 steps an epoch, reports after 20, 40 and 47.
        let mut curve = points(&[0; 6]);
        place_legacy(&mut curve, 20, 47);
        let steps: Vec<usize> = curve.iter().map(|p| p.step).collect();
        assert_eq!(steps, [20, 40, 47, 67, 87, 94]);
        // Halved once: each point ends with the later of its two reports.
        let mut curve = points(&[0; 3]);
        place_legacy(&mut curve, 40, 47);
        let steps: Vec<usize> = curve.iter().map(|p| p.step).collect();
        assert_eq!(steps, [40, 67, 94]);
        // 41 steps an epoch, reports after 20, 40 and 41: halved once, two epochs are three
        // points; one epoch is two, the last standing for its report alone.
        let mut curve = points(&[0; 3]);
        place_legacy(&mut curve, 40, 41);
        let steps: Vec<usize> = curve.iter().map(|p| p.step).collect();
        assert_eq!(steps, [40, 61, 82]);
        let mut curve = points(&[0; 2]);
        place_legacy(&mut curve, 40, 41);
        let steps: Vec<usize> = curve.iter().map(|p| p.step).collect();
        assert_eq!(steps, [40, 41]);
        // Points that have their steps are not moved.
        let mut curve = points(&[20, 40]);
        place_legacy(&mut curve, 20, 47);
        assert_eq!(curve, points(&[20, 40]));
    }

    #[test]
    fn a_merged_point_keeps_the_later_running_figures() {
        let at = |step, loss, accuracy, seconds| TrainPoint {
            accuracy: Some(accuracy),
            seconds: Some(seconds),
            images_per_sec: Some(1000.0),
            ..TrainPoint::new(step, loss)
        };
        let halved = halve(&[at(20, 2.0, 0.2, 1.0), at(40, 1.0, 0.3, 2.0)]);
        assert_eq!(halved, [at(40, 1.5, 0.3, 2.0)]);
    }

    #[test]
    fn points_read_with_and_without_their_steps() {
        let new: Vec<TrainPoint> = serde_json::from_str(r#"[{"step":20,"loss":2.5}]"#).unwrap();
        assert_eq!(new, [TrainPoint::new(20, 2.5)]);
        let old: Vec<TrainPoint> = serde_json::from_str("[2.5, 2.25]").unwrap();
        assert_eq!(old, [TrainPoint::new(0, 2.5), TrainPoint::new(0, 2.25)]);
        assert_eq!(
            serde_json::to_string(&new).unwrap(),
            r#"[{"step":20,"loss":2.5}]"#
        );
    }
}
