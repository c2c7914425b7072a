//! Runs' figures made up for tests: an outcome of a given accuracy, whole and consistent.

use cifar_engine::events::{DeviceKind, EpochStats, Outcome};
use cifar_engine::metrics::{Confusion, Predictions};
use cifar_engine::pictures::{Filters, InputView, Pictures};

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
        pictures: None,
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

/// Pictures of a run: filters whose weights rise with their index (filter 0 all negative,
/// the last all positive), and one image a class that brightens row by row from its class
/// times 20, seen as a darker copy.
pub(crate) fn pictures() -> Pictures {
    let n = 32 * Filters::SIZE;
    let plane = 3 * 32 * 32;
    Pictures {
        filters: Filters {
            epoch: 2,
            weights: (0..n).map(|i| i as f32 / n as f32 - 0.49).collect(),
        },
        inputs: InputView {
            classes: (0..10).collect(),
            raw: (0..10u8).flat_map(|c| row_ramp(c * 20, plane)).collect(),
            seen: (0..10u8).flat_map(|c| row_ramp(c * 10, plane)).collect(),
            low: -1.9,
            high: 2.1,
        },
    }
}

/// Colour planes of 32x32 whose pixels brighten by 3 a row from `start`.
fn row_ramp(start: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|j| start.saturating_add(((j / 32) % 32) as u8 * 3))
        .collect()
}
