//! Runs' figures made up for tests: an outcome of a given accuracy, whole and consistent.

use cifar_engine::events::{DeviceKind, EpochStats, Outcome};
use cifar_engine::metrics::{Confusion, Predictions};

/// A finished outcome whose accuracy is `acc`, for tests of views and state.
pub(crate) fn outcome(acc: f64, epochs: usize) -> Outcome {
    let mut c = Confusion::new(10);
    let right = (acc * 1000.0).round() as u64;
    for (k, row) in c.counts.iter_mut().enumerate() {
        row[k] = right;
        row[(k + 1) % 10] = 1000 - right;
    }
    Outcome {
        device: DeviceKind::Cpu,
        predictions: predictions(&c),
        epochs: (0..epochs)
            .map(|e| EpochStats {
                epoch: e + 1,
                lr: 1e-3,
                train_loss: 2.0 / (e + 1) as f64,
                train_accuracy: acc * (e + 1) as f64 / epochs as f64,
                val_loss: 2.1 / (e + 1) as f64,
                val_accuracy: acc * (e + 1) as f64 / epochs as f64,
                seconds: 60.0,
                train_images_per_sec: 1000.0,
            })
            .collect(),
        report: c.report(),
        confusion: c,
        seconds: 60.0 * epochs as f64,
        images_per_sec: 900.0,
    }
}

/// A prediction for each image the matrix counts, class by class, confidences spread over
/// [0.3, 0.99].
fn predictions(c: &Confusion) -> Predictions {
    let (mut truth, mut predicted, mut p) = (Vec::new(), Vec::new(), Vec::new());
    for (t, row) in c.counts.iter().enumerate() {
        for (q, &n) in row.iter().enumerate() {
            for i in 0..n {
                truth.push(t as u8);
                predicted.push(q as u8);
                p.push(0.3 + 0.69 * ((i * 37) % 100) as f32 / 99.0);
            }
        }
    }
    Predictions::new(&truth, &predicted, &p)
}

/// A loss curve of these values, one report window of 20 steps each.
pub(crate) fn train_points(values: &[f64]) -> Vec<crate::run::TrainPoint> {
    values
        .iter()
        .enumerate()
        .map(|(i, &loss)| crate::run::TrainPoint::new(20 * (i + 1), loss))
        .collect()
}
