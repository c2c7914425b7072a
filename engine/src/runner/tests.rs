//! The training loop's tests, on tiny synthetic data and the CPU backend.

use super::warm_up::shapes;
use super::*;
use crate::backend::{Cpu, CpuAd};
use crate::config::{Hyper, Init, LossKind, LrPolicy, Optimizer, OptimizerKind, Order};
use crate::data::cifar::IMAGE_BYTES;
use crate::data::toy::{synthetic, tiny};
use crate::events::VAL_POINTS;
use crate::tricks::{self, Trick, TrickSet};
use burn::tensor::ElementConversion;
use std::path::Path;

fn config(tricks: &[Trick]) -> TrainConfig {
    let set: TrickSet = tricks.iter().copied().collect();
    let mut cfg = tricks::resolve(
        &set,
        &Hyper {
            epochs: 3,
            batch_size: 32,
            ..Hyper::default()
        },
    );
    cfg.seed = 7;
    cfg
}

/// A job on `data` that keeps no checkpoint, resumes nothing, and takes no validation
/// point within the epoch nor a warm-up: tests add what they look at.
fn plain_job<'a>(
    data: &'a Cifar10,
    config: &'a TrainConfig,
    cancel: &'a AtomicBool,
) -> RunInputs<'a> {
    RunInputs {
        data,
        config,
        cancel,
        checkpoints: None,
        done: Vec::new(),
        val_points: 0,
        warm_up: false,
    }
}

/// Trains on [`tiny`]; `stop_after` cancels the run once that many epochs are done.
fn run_tiny(
    cfg: &TrainConfig,
    checkpoints: Option<&Path>,
    done: Vec<EpochStats>,
    stop_after: Option<usize>,
) -> Result<Outcome, TrainError> {
    let cancel = AtomicBool::new(false);
    let data = tiny();
    let owner = checkpoint::Owner {
        history: "test.db".into(),
        run: 1,
        created: "now".into(),
    };
    let job = RunInputs {
        checkpoints: checkpoints.map(|dir| checkpoint::Slot { dir, owner: &owner }),
        done,
        ..plain_job(&data, cfg, &cancel)
    };
    train::<CpuAd>(&Default::default(), DeviceKind::Cpu, job, |e| {
        if let (TrainEvent::Epoch(e), Some(k)) = (e, stop_after)
            && e.epoch == k
        {
            cancel.store(true, Ordering::Relaxed);
        }
    })
}

fn train_tiny(cfg: &TrainConfig) -> Outcome {
    run_tiny(cfg, None, Vec::new(), None).unwrap()
}

/// Everything but wall-clock times.
fn figures(o: &Outcome) -> Vec<(usize, f64, f64, f64, f64, f64, f64)> {
    o.epochs
        .iter()
        .map(|e| {
            (
                e.epoch,
                e.lr,
                e.train_loss,
                e.train_accuracy,
                e.val_loss,
                e.val_accuracy,
                0.0,
            )
        })
        .collect()
}

#[test]
fn a_resumed_run_ends_exactly_like_an_uninterrupted_one() {
    let cfg = config(&[Trick::DropoutConv, Trick::WeightDecay, Trick::LrSchedule]);
    resumes_exactly(&cfg);
}

/// Every optimizer's state survives a checkpoint: SGD's velocities, and an L2 that starts
/// after the resume point (the optimizer is rebuilt there with its state).
#[test]
fn resume_works_for_every_optimizer() {
    for optimizer in [OptimizerKind::Sgd, OptimizerKind::SgdMomentum] {
        let hyper = Hyper {
            epochs: 3,
            batch_size: 32,
            optimizer,
            regularize_after: 1,
            loss: LossKind::Mse,
            order: Order::Interleaved,
            ..Hyper::default()
        };
        let mut cfg = tricks::resolve(&[Trick::WeightDecay, Trick::L1].into(), &hyper);
        cfg.seed = 7;
        resumes_exactly(&cfg);
    }
}

fn resumes_exactly(cfg: &TrainConfig) {
    let cfg = cfg.clone();
    let whole = train_tiny(&cfg);
    let tmp = tempfile::tempdir().unwrap();
    let stopped = run_tiny(&cfg, Some(tmp.path()), Vec::new(), Some(1));
    assert!(matches!(stopped, Err(TrainError::Cancelled)));
    assert_eq!(checkpoint::complete(tmp.path()), [1]);
    let first = whole.epochs[..1].to_vec();
    let resumed = run_tiny(&cfg, Some(tmp.path()), first, None).unwrap();
    assert_eq!(figures(&resumed), figures(&whole));
    assert_eq!(resumed.confusion, whole.confusion);
    assert_eq!(resumed.predictions, whole.predictions);
    assert_eq!(
        resumed.pictures, whole.pictures,
        "the same filters, the same inputs"
    );
    assert_eq!(
        checkpoint::complete(tmp.path()),
        [1, 2, 3],
        "the engine removes no checkpoint: its caller prunes after recording the epoch"
    );
}

/// Every test image's prediction is kept, and they add up to the confusion matrix cell by
/// cell: what the Results screen shows behind a cell is what was counted in it.
#[test]
fn every_test_image_keeps_its_prediction() {
    let o = train_tiny(&config(&[]));
    let test_images: u64 = o.confusion.counts.iter().flatten().sum();
    assert_eq!(o.predictions.0.len() as u64, test_images);
    for (t, row) in o.confusion.counts.iter().enumerate() {
        for (p, &count) in row.iter().enumerate() {
            assert_eq!(o.predictions.cell(t, p).len() as u64, count, "cell {t},{p}");
        }
    }
    // The top of ten probabilities is at least a tenth.
    let least = o
        .predictions
        .0
        .iter()
        .map(|p| p.probability())
        .fold(1.0, f64::min);
    assert!((0.1 - 1e-4..=1.0).contains(&least), "{least}");
}

/// The first convolution's filters come at the start and after each epoch, the inputs once,
/// as the network receives them; the outcome keeps the last filters and the inputs.
#[test]
fn the_first_filters_come_each_epoch_and_the_inputs_once() {
    let cfg = config(&[Trick::NormInputs]);
    let (data, cancel) = (tiny(), AtomicBool::new(false));
    let job = plain_job(&data, &cfg, &cancel);
    let (mut filters, mut inputs) = (Vec::new(), Vec::new());
    let o = train::<CpuAd>(&Default::default(), DeviceKind::Cpu, job, |e| match e {
        TrainEvent::Filters(f) => filters.push(f),
        TrainEvent::Inputs(v) => inputs.push(v),
        _ => {}
    })
    .unwrap();
    let epochs: Vec<usize> = filters.iter().map(|f| f.epoch).collect();
    assert_eq!(epochs, [0, 1, 2, 3]);
    assert!(filters.iter().all(|f| f.count() == 32));
    let initial = initial_model::<Cpu>(&cfg, &Default::default()).first_filters(0);
    assert_eq!(filters[0], initial, "the initial weights first");
    assert_ne!(
        filters[0].weights, filters[3].weights,
        "training moves them"
    );

    assert_eq!(inputs.len(), 1);
    let v = &inputs[0];
    assert_eq!(v.classes, (0..10).collect::<Vec<u8>>(), "one image a class");
    // What is shown is the normalized input: the training set's per-channel standard score,
    // to within one step of the 256 shown, where it lies inside the range shown.
    let stats = data.train.channel_stats();
    let step = (v.high - v.low) / 255.0;
    let mut inside = 0;
    for (j, (&raw, &seen)) in v.raw.iter().zip(&v.seen).enumerate() {
        let c = (j / 1024) % 3;
        let z = (f32::from(raw) / 255.0 - stats.mean[c]) / stats.std[c];
        if (v.low..=v.high).contains(&z) {
            let shown = v.low + f32::from(seen) * step;
            assert!((shown - z).abs() <= step, "pixel {j}: {shown} for {z}");
            inside += 1;
        }
    }
    assert!(inside > v.raw.len() * 9 / 10, "{inside} of {}", v.raw.len());
    let kept = o.pictures.unwrap();
    assert_eq!((&kept.filters, &kept.inputs), (&filters[3], v));
}

/// The app shows "scoring the test set" instead of a frozen gauge: each epoch says when
/// its steps are done, before its figures; its running train accuracy ends at the epoch's.
#[test]
fn each_epoch_says_when_its_test_set_is_scored() {
    let cfg = config(&[]);
    let (data, cancel) = (tiny(), AtomicBool::new(false));
    let job = plain_job(&data, &cfg, &cancel);
    let mut said = Vec::new();
    let mut running = 0.0;
    train::<CpuAd>(&Default::default(), DeviceKind::Cpu, job, |e| match e {
        TrainEvent::Evaluating { epoch } => said.push(format!("scoring {epoch}")),
        TrainEvent::Epoch(e) => {
            said.push(format!("epoch {}", e.epoch));
            // The last report of an epoch covers all of it: the running train accuracy
            // is then the epoch's.
            assert!(
                (running - e.train_accuracy).abs() < 1e-12,
                "{running} {e:?}"
            );
        }
        TrainEvent::Progress(p) => running = p.accuracy,
        _ => {}
    })
    .unwrap();
    let expected: Vec<String> = (0..cfg.epochs)
        .flat_map(|k| [format!("scoring {k}"), format!("epoch {}", k + 1)])
        .collect();
    assert_eq!(said, expected);
}

/// Validation points within the epoch read the model and draw no random number: a run
/// with them ends with the figures of a run without them, and they come where asked.
#[test]
fn validation_within_the_epoch_changes_nothing_and_comes_evenly() {
    let cfg = config(&[Trick::DropoutConv, Trick::DropoutDense, Trick::NormInputs]);
    let run = |val_points| {
        let (data, cancel) = (tiny(), AtomicBool::new(false));
        let job = RunInputs {
            val_points,
            ..plain_job(&data, &cfg, &cancel)
        };
        let mut points = Vec::new();
        let outcome = train::<CpuAd>(&Default::default(), DeviceKind::Cpu, job, |e| {
            if let TrainEvent::Validation(v) = e {
                points.push(v);
            }
        })
        .unwrap();
        (outcome, points)
    };
    let (plain, none) = run(0);
    let (watched, points) = run(VAL_POINTS);
    assert!(none.is_empty());
    assert_eq!(figures(&watched), figures(&plain));
    assert_eq!(watched.confusion, plain.confusion);
    // 400 images in batches of 32: 13 steps an epoch, points after steps 4, 7 and 10
    // (the 13th is the epoch's own evaluation).
    let expected: Vec<f64> = (0..cfg.epochs)
        .flat_map(|e| [4.0, 7.0, 10.0].map(|s| e as f64 + s / 13.0))
        .collect();
    let at: Vec<f64> = points.iter().map(|v| v.at).collect();
    assert_eq!(at, expected);
    // The tiny test set has fewer than VAL_POINT_IMAGES: all of it is scored.
    assert!(points.iter().all(|v| v.images == 100));
    assert!(points.iter().all(|v| (0.0..=1.0).contains(&v.accuracy)));
    assert!(
        !val_point_at(13, 13, VAL_POINTS)
            && !val_point_at(3, 13, VAL_POINTS)
            && val_point_at(4, 13, VAL_POINTS)
    );
    assert!(
        (1..100).all(|s| !val_point_at(s, 100, 1)),
        "one point: the epoch's own"
    );
}

/// The GPU's warm-up, run here on the CPU: every batch shape once on throwaway copies, said
/// step by step before the first training step, and the run's figures are those of a run
/// without it (the epoch loop reseeds what the warm-up drew).
#[test]
fn the_warm_up_says_its_progress_and_changes_nothing() {
    let cfg = config(&[Trick::DropoutConv, Trick::WeightDecay]);
    let run = |warm_up| {
        let (data, cancel) = (tiny(), AtomicBool::new(false));
        let job = RunInputs {
            warm_up,
            ..plain_job(&data, &cfg, &cancel)
        };
        let mut said = Vec::new();
        let outcome = train::<CpuAd>(&Default::default(), DeviceKind::Cpu, job, |e| match e {
            TrainEvent::Preparing { done, total } => said.push(format!("{done}/{total}")),
            TrainEvent::Progress(_) if said.last().is_some_and(|s| s != "step") => {
                said.push("step".into())
            }
            _ => {}
        })
        .unwrap();
        (outcome, said)
    };
    let (plain, none) = run(false);
    let (warmed, said) = run(true);
    assert!(none.is_empty());
    // 400 images in batches of 32 (and a last one of 16), 100 test images: three shapes.
    assert_eq!(said, ["0/3", "1/3", "2/3", "3/3", "step"]);
    assert_eq!(figures(&warmed), figures(&plain));
    assert_eq!(warmed.confusion, plain.confusion);
    assert_eq!(shapes(50_000, 64, 10_000), (vec![64, 16], vec![1000]));
    assert_eq!(shapes(50_000, 100, 10_500), (vec![100], vec![1000, 500]));
    assert_eq!(shapes(30, 64, 500), (vec![30], vec![500]));
}

#[test]
fn a_saturated_net_is_told_from_a_slow_one() {
    let watch = Divergence::new(10);
    let stuck = (14.08, 0.10018);
    // LeCun's recipe at sgd_lr 0.02 on real CIFAR-10: every epoch at 10%, loss 14-15.
    assert!(watch.saturated(782, [stuck, (15.3, 0.1)]));
    // Slow but sane: near chance with a loss near ln 10; or learning with a high loss.
    assert!(!watch.saturated(782, [(2.31, 0.1), (2.31, 0.1)]));
    assert!(!watch.saturated(782, [stuck, (5.0, 0.2)]));
    assert!(!watch.saturated(782, [stuck, (0.9, 0.7)]));
    // One bad epoch is no verdict: it can learn in the next.
    assert!(!watch.saturated(782, [(0.9, 0.7), stuck]));
    // One step of 64 images (a test's subset): a fresh net's 5.3 at chance is no verdict.
    assert!(!watch.saturated(1, [(5.293, 0.094), (5.293, 0.094)]));
}

#[test]
fn the_divergence_watch_tells_blown_up_losses_from_noisy_ones() {
    let watch = Divergence::new(10);
    let first = |losses: &[f64]| losses.iter().position(|&l| watch.diverged(l));
    // Learning, with a bumpy start and a spike well above the start.
    assert_eq!(first(&[2.31, 2.9, 2.05, 6.5, 1.7, 1.2, 0.4]), None);
    // Overfitting or a too-high lr that stays near chance is not divergence.
    assert_eq!(first(&[2.3, 2.30, 2.31, 2.302, 2.9]), None);
    // Adam keeps a blown-up loss finite: 1.75e12 after lr = 9.
    assert_eq!(first(&[2.3, 1.75e12]), Some(1));
    assert_eq!(first(&[2.3, 4.1, 11.0, 40.0, 9.0]), Some(3));
    assert_eq!(first(&[2.3, f64::NAN]), Some(1));
    assert_eq!(first(&[f64::INFINITY]), Some(0));
    assert_eq!(first(&[1e5]), Some(0), "blown up before the first report");
}

#[test]
fn a_diverging_run_stops_and_names_the_setting_to_lower() {
    let mut cfg = config(&[]);
    cfg.lr = LrPolicy::Constant { lr: 9.0 };
    let err = run_tiny(&cfg, None, Vec::new(), None).unwrap_err();
    let TrainError::Diverged { epoch, loss, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(*epoch, 1);
    assert!(!loss.is_finite() || *loss > 23.0, "{loss}");
    let msg = err.to_string();
    assert!(msg.contains("lower `lr` (now 9)"), "{msg}");
    let mut sgd = cfg.clone();
    sgd.optimizer = Optimizer::Sgd;
    assert!(divergence_fix(&sgd).contains("lower `sgd_lr` (now 9)"));

    cfg.weight_decay = Some(0.99);
    cfg.batch_size = 1;
    let fix = divergence_fix(&cfg);
    assert!(fix.contains("`weight_decay` (now 0.99)"), "{fix}");
    assert!(fix.contains("raise `batch_size` (now 1)"), "{fix}");
    assert!(
        !divergence_fix(&config(&[])).contains(", or "),
        "defaults are not blamed"
    );
}

#[test]
fn a_missing_checkpoint_is_a_clear_error() {
    let cfg = config(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let done = train_tiny(&cfg).epochs[..1].to_vec();
    let err = run_tiny(&cfg, Some(tmp.path()), done, None).unwrap_err();
    assert!(err.to_string().contains("after epoch 1"), "{err}");
    assert!(err.to_string().contains("stays resumable"), "{err}");
}

#[test]
fn normalized_batches_have_zero_mean_and_unit_std_per_channel() {
    let split = synthetic(200, 3);
    let dev = Default::default();
    let data = DeviceSplit::<Cpu>::upload(&split, &dev);
    let input = InputMap::new(Some(split.channel_stats()));
    let (x, _) = data.range(0, 200, input);
    for c in 0..3 {
        let ch = x.clone().slice([0..200, c..c + 1]).flatten::<1>(0, 3);
        let mean: f32 = ch.clone().mean().into_scalar();
        let std: f32 = (ch.clone() - mean)
            .powf_scalar(2.0)
            .mean()
            .sqrt()
            .into_scalar();
        assert!(mean.abs() < 1e-3, "channel {c} mean {mean}");
        assert!((std - 1.0).abs() < 1e-3, "channel {c} std {std}");
    }
    // Without normalization: u8 / 255, like PyTorch's ToTensor.
    let raw = InputMap::new(None);
    let (x, y) = data.range(5, 6, raw);
    let first: f32 = x.slice([0..1, 0..1, 0..1, 0..1]).into_scalar();
    assert!((first - split.images[5 * IMAGE_BYTES] as f32 / 255.0).abs() < 1e-6);
    assert_eq!(y.into_scalar().elem::<i64>(), split.labels[5] as i64);
}

#[test]
fn whitened_batches_are_the_rows_at_the_index_as_images() {
    let split = synthetic(20, 6);
    let dev = Default::default();
    let zca = Zca::<Cpu>::identity(IMAGE_BYTES, 0.5, &dev);
    let data = DeviceSplit::<Cpu>::upload_whitened(&split, &zca, &dev);
    let (x, y) = data.batch(&[7, 2], InputMap::new(None));
    assert_eq!(x.dims(), [2, 3, 32, 32]);
    let got: Vec<f32> = x.into_data().to_vec().unwrap();
    for (k, &row) in [7usize, 2].iter().enumerate() {
        for j in [0, 1, 1023, 1024, 3071] {
            let want = split.images[row * IMAGE_BYTES + j] as f32 / 255.0 - 0.5;
            assert!(
                (got[k * IMAGE_BYTES + j] - want).abs() < 1e-6,
                "row {row} pixel {j}"
            );
        }
    }
    let labels: Vec<i64> = y.into_data().iter::<i64>().collect();
    assert_eq!(labels, [split.labels[7] as i64, split.labels[2] as i64]);
}

/// One step of epoch `epoch` on a fixed batch; returns sum |w| over the weights before and
/// after.
fn one_step_in(cfg: &TrainConfig, epoch: usize) -> (f32, f32) {
    let dev = Default::default();
    let model: Cnn<CpuAd> = CnnSpec::from(cfg).init(11, &dev);
    let split = synthetic(32, 4);
    let data = DeviceSplit::<CpuAd>::upload(&split, &dev);
    let xy = data.range(0, 32, InputMap::new(None));
    let before: f32 = model.l1_norm().into_scalar();
    let mut optim = Optim::new(cfg, epoch);
    let objective = Objective::new(cfg, epoch, &dev);
    let key = StepKey::new(11, epoch, 0);
    let (model, _, _) = step(model, &mut optim, &objective, 1e-3, key, xy);
    (before, model.l1_norm().into_scalar())
}

fn one_step(cfg: &TrainConfig) -> (f32, f32) {
    one_step_in(cfg, 0)
}

#[test]
fn l1_and_l2_change_the_update_and_pull_weights_to_zero() {
    let plain = config(&[]);
    let (b0, a0) = one_step(&plain);
    let mut l2 = plain.clone();
    l2.weight_decay = Some(10.0);
    let mut l1 = plain.clone();
    l1.l1 = Some(10.0);
    let (b2, a2) = one_step(&l2);
    let (b1, a1) = one_step(&l1);
    assert_eq!((b0, b0), (b1, b2), "same initial weights");
    // 122,570 params, each moved by ~lr = 1e-3 towards zero: sum |w| drops by ~120.
    assert!(b2 - a2 > 50.0, "L2: {b2} -> {a2}");
    assert!(b1 - a1 > 50.0, "L1: {b1} -> {a1}");
    assert!((b0 - a0).abs() < 50.0, "plain step: {b0} -> {a0}");
    assert_ne!(a1, a2, "L1 and L2 are different penalties");
}

#[test]
fn delayed_l1_and_l2_are_off_before_their_epoch_and_on_after() {
    let mut plain = config(&[]);
    plain.regularize_from = 2;
    let mut l2 = plain.clone();
    l2.weight_decay = Some(10.0);
    let mut l1 = plain.clone();
    l1.l1 = Some(10.0);
    let (b0, a0) = one_step_in(&plain, 0);
    for epoch in [0, 1] {
        // Before epoch 2 the penalties do not act: the step is the plain one, exactly.
        assert_eq!(one_step_in(&l2, epoch), (b0, a0), "L2 in epoch {epoch}");
        assert_eq!(one_step_in(&l1, epoch), (b0, a0), "L1 in epoch {epoch}");
    }
    for epoch in [2, 3] {
        let (b2, a2) = one_step_in(&l2, epoch);
        let (b1, a1) = one_step_in(&l1, epoch);
        assert!(b2 - a2 > 50.0, "L2 in epoch {epoch}: {b2} -> {a2}");
        assert!(b1 - a1 > 50.0, "L1 in epoch {epoch}: {b1} -> {a1}");
    }
    assert_eq!(
        (0..4).map(|e| l1.l1_at(e)).collect::<Vec<_>>(),
        [None, None, Some(10.0), Some(10.0)]
    );
}

#[test]
fn a_short_training_on_tiny_synthetic_data_learns() {
    let out = train_tiny(&config(&[Trick::NormInputs, Trick::InitWeights]));
    assert_eq!(out.epochs.len(), 3);
    let first = out.epochs[0];
    let last = out.epochs[2];
    assert!(last.train_loss < first.train_loss, "{first:?} -> {last:?}");
    assert!(
        out.report.accuracy > 0.8,
        "accuracy {}",
        out.report.accuracy
    );
    assert_eq!(out.confusion.total(), 100);
    assert_eq!(
        out.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let cfg = config(&[Trick::DropoutDense, Trick::LrSchedule]);
    let (a, b) = (train_tiny(&cfg), train_tiny(&cfg));
    assert_eq!(figures(&a), figures(&b));
    assert_eq!(a.confusion, b.confusion);
    let mut other = cfg.clone();
    other.seed += 1;
    assert_ne!(figures(&a), figures(&train_tiny(&other)));
    assert!(matches!(cfg.lr, LrPolicy::Exponential { .. }));
    assert_eq!(a.epochs[2].lr, cfg.lr.at(2));
}

#[test]
fn cancel_stops_the_run() {
    let r = run_tiny(&config(&[]), None, Vec::new(), Some(1));
    assert!(matches!(r, Err(TrainError::Cancelled)));
}

#[test]
fn epoch_order_is_a_seeded_permutation() {
    let labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
    let order = |seed, epoch| epoch_order(Order::Shuffled, seed, epoch, &labels);
    let a = order(1, 0);
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
    assert_eq!(a, order(1, 0));
    assert_ne!(a, order(1, 1));
    assert_ne!(a, order(2, 0));
    let _ = Init::Default;
}

#[test]
fn sequential_order_is_the_files_every_epoch() {
    let labels = [3u8, 1, 4, 1, 5];
    for epoch in 0..3 {
        assert_eq!(
            epoch_order(Order::Sequential, 9, epoch, &labels),
            [0, 1, 2, 3, 4]
        );
    }
}

#[test]
fn interleaved_order_deals_the_classes_in_turn() {
    // 3 classes of unequal size, in the order a shuffled file might hold them.
    let labels: Vec<u8> = [0u8, 0, 1, 2, 0, 1, 0, 2, 1, 0, 0, 2].into_iter().collect();
    let count = |c: u8| labels.iter().filter(|&&l| l == c).count();
    assert_eq!((count(0), count(1), count(2)), (6, 3, 3));
    let order = epoch_order(Order::Interleaved, 4, 0, &labels);
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, (0..12).collect::<Vec<_>>(), "a permutation");
    let classes: Vec<u8> = order.iter().map(|&i| labels[i as usize]).collect();
    // Three full turns, then class 0's leftovers.
    assert_eq!(classes, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0, 0]);
    // Within a class, the epoch's shuffle decides who comes first.
    let of_class = |o: &[i64], c: u8| -> Vec<i64> {
        o.iter()
            .copied()
            .filter(|&i| labels[i as usize] == c)
            .collect()
    };
    let shuffled = epoch_order(Order::Shuffled, 4, 0, &labels);
    assert_eq!(of_class(&order, 0), of_class(&shuffled, 0));
    let other = (1..20)
        .map(|e| epoch_order(Order::Interleaved, 4, e, &labels))
        .any(|o| of_class(&o, 0) != of_class(&order, 0));
    assert!(other, "the order within classes changes with the epoch");

    // Balanced CIFAR-like labels: every run of 10 holds each class once.
    let labels: Vec<u8> = (0..1000).map(|i| ((i * 7) % 10) as u8).collect();
    let order = epoch_order(Order::Interleaved, 1, 0, &labels);
    for turn in order.chunks(10) {
        let mut c: Vec<u8> = turn.iter().map(|&i| labels[i as usize]).collect();
        c.sort();
        assert_eq!(c, (0..10).collect::<Vec<u8>>());
    }
}

/// Runs trained side by side, each on its own thread as the app trains them, give exactly
/// the figures they give alone: the same initial weights, data order and dropout masks.
#[test]
fn runs_side_by_side_equal_their_solo_runs() {
    let mut a = config(&[Trick::DropoutConv, Trick::DropoutDense, Trick::InitWeights]);
    a.epochs = 2;
    let mut b = config(&[Trick::NormInputs, Trick::DropoutDense]);
    b.epochs = 2;
    b.seed = 8;
    let (solo_a, solo_b) = (train_tiny(&a), train_tiny(&b));
    let together = {
        let data = tiny();
        let run = |cfg: &TrainConfig| {
            let cancel = AtomicBool::new(false);
            let job = plain_job(&data, cfg, &cancel);
            train::<CpuAd>(&Default::default(), DeviceKind::Cpu, job, |_| {}).unwrap()
        };
        std::thread::scope(|s| {
            let ta = s.spawn(|| run(&a));
            let tb = s.spawn(|| run(&b));
            (ta.join().unwrap(), tb.join().unwrap())
        })
    };
    let figures = |o: &Outcome| {
        let epochs: Vec<_> = o
            .epochs
            .iter()
            .map(|e| (e.train_loss, e.train_accuracy, e.val_loss, e.val_accuracy))
            .collect();
        (epochs, o.confusion.clone())
    };
    assert_eq!(figures(&together.0), figures(&solo_a));
    assert_eq!(figures(&together.1), figures(&solo_b));
    assert_ne!(figures(&solo_a), figures(&solo_b));
}

/// One run of two side by side cancelled after its first epoch (as `c` on the Train
/// screen does) ends exactly like its solo run once resumed from its checkpoint, and the
/// other run, which went on training beside it, like its own.
#[test]
fn one_run_cancelled_among_several_resumes_to_its_solo_figures() {
    let mut a = config(&[Trick::DropoutConv, Trick::LrSchedule]);
    a.epochs = 3;
    let mut b = config(&[Trick::NormInputs]);
    b.epochs = 3;
    b.seed = 8;
    let (solo_a, solo_b) = (train_tiny(&a), train_tiny(&b));
    let tmp = tempfile::tempdir().unwrap();
    let (stopped, beside) = {
        let data = tiny();
        let owner = checkpoint::Owner {
            history: "test.db".into(),
            run: 1,
            created: "now".into(),
        };
        std::thread::scope(|s| {
            let ta = s.spawn(|| {
                let cancel = AtomicBool::new(false);
                let job = RunInputs {
                    checkpoints: Some(checkpoint::Slot {
                        dir: tmp.path(),
                        owner: &owner,
                    }),
                    ..plain_job(&data, &a, &cancel)
                };
                train::<CpuAd>(&Default::default(), DeviceKind::Cpu, job, |e| {
                    if matches!(e, TrainEvent::Epoch(e) if e.epoch == 1) {
                        cancel.store(true, Ordering::Relaxed);
                    }
                })
            });
            let tb = s.spawn(|| {
                let cancel = AtomicBool::new(false);
                let job = plain_job(&data, &b, &cancel);
                train::<CpuAd>(&Default::default(), DeviceKind::Cpu, job, |_| {})
            });
            (ta.join().unwrap(), tb.join().unwrap().unwrap())
        })
    };
    assert!(matches!(stopped, Err(TrainError::Cancelled)));
    assert_eq!(figures(&beside), figures(&solo_b));
    assert_eq!(beside.confusion, solo_b.confusion);
    let first = solo_a.epochs[..1].to_vec();
    let resumed = run_tiny(&a, Some(tmp.path()), first, None).unwrap();
    assert_eq!(figures(&resumed), figures(&solo_a));
    assert_eq!(resumed.confusion, solo_a.confusion);
}

/// A cancel while ZCA is fitted (minutes on a CPU) stops the fit between its steps: the run
/// ends cancelled before its first step, having said where the fit was.
#[test]
fn a_cancel_during_the_zca_fit_is_heard() {
    let mut cfg = config(&[Trick::Zca]);
    // An epsilon no other test fits with: a fit this process kept would be reused unsaid.
    cfg.zca = Some(0.0123);
    let (data, cancel) = (tiny(), AtomicBool::new(false));
    let mut said = Vec::new();
    let ended = train::<CpuAd>(
        &Default::default(),
        DeviceKind::Cpu,
        plain_job(&data, &cfg, &cancel),
        |e| match e {
            TrainEvent::FittingZca { step } => {
                said.push(step);
                if step == 1 {
                    cancel.store(true, Ordering::Relaxed);
                }
            }
            other => panic!("after a cancel in the fit: {other:?}"),
        },
    );
    assert!(matches!(ended, Err(TrainError::Cancelled)), "{ended:?}");
    assert_eq!(said, [0, 1]);
}

/// A training subset without every class says so before it trains (the test set scores all
/// ten); the full tiny set says nothing.
#[test]
fn a_subset_missing_classes_is_named_before_training() {
    let warnings = |limit| {
        let mut cfg = config(&[]);
        cfg.train_limit = limit;
        let (data, cancel) = (tiny(), AtomicBool::new(false));
        let mut said = Vec::new();
        let _ = train::<CpuAd>(
            &Default::default(),
            DeviceKind::Cpu,
            plain_job(&data, &cfg, &cancel),
            |e| match e {
                TrainEvent::Warning(w) => said.push(w),
                // Enough seen: what comes before the first step is what is checked.
                _ => cancel.store(true, Ordering::Relaxed),
            },
        );
        said
    };
    let few = warnings(Some(3));
    assert!(
        few.len() == 1 && few[0].contains("3 training images hold only 3 of the 10 classes"),
        "{few:?}"
    );
    assert_eq!(warnings(None), Vec::<String>::new());
}

/// A run's figures do not depend on how many threads train it: every sum over the batch is
/// split the same way on 1 core and on many (over three epochs, a split by thread count
/// changed the last bits of the losses from the second).
#[test]
fn the_thread_count_changes_no_figure() {
    let cfg = config(&[Trick::NormInputs, Trick::DropoutConv, Trick::DropoutDense]);
    let on = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| figures(&train_tiny(&cfg)))
    };
    assert_eq!(on(1), on(3));
}

/// The shuffled order is pinned: a `rand` or generator change that moved it would change
/// every run's figures (and the README's tables) without a word.
#[test]
fn the_shuffled_order_is_pinned() {
    let labels: Vec<u8> = (0..20).map(|i| (i % 10) as u8).collect();
    let order = epoch_order(Order::Shuffled, 42, 0, &labels);
    assert_eq!(
        order,
        [
            12, 17, 9, 19, 1, 7, 16, 3, 5, 13, 6, 0, 4, 18, 15, 11, 8, 14, 2, 10
        ]
    );
}

/// `val_split`: the last training images validate (each epoch's figures, the curves), the
/// first ones train, and the test set scores the run once, at its end. Told apart by data
/// sets that share their training images: a run validated on the test set of one whose test
/// set is the held-out images has the same per-epoch figures; a test-validated run on the
/// same images ends with the same confusion.
#[test]
fn a_held_out_split_validates_and_the_test_set_scores_the_end() {
    let images = synthetic(400, 1);
    let held = images.tail(100);
    let with_test = Cifar10::new(images.clone(), synthetic(100, 2));
    let with_held_as_test = Cifar10::new(images, held);
    let mut first_300 = config(&[]);
    first_300.train_limit = Some(300);
    let mut split = config(&[]);
    split.val_split = Some(100);
    let run = |data: &Cifar10, cfg: &TrainConfig| {
        let cancel = AtomicBool::new(false);
        let mut images = 0;
        let mut scoring = 0;
        let o = train::<CpuAd>(
            &Default::default(),
            DeviceKind::Cpu,
            plain_job(data, cfg, &cancel),
            |e| match e {
                TrainEvent::Started { train_images, .. } => images = train_images,
                TrainEvent::Evaluating { .. } => scoring += 1,
                _ => {}
            },
        )
        .unwrap();
        (o, images, scoring)
    };
    let (held_out, images, scoring) = run(&with_test, &split);
    let (tested, _, tested_scoring) = run(&with_test, &first_300);
    let (on_held, _, _) = run(&with_held_as_test, &first_300);
    assert_eq!(images, 300);
    assert_eq!(
        (scoring, tested_scoring),
        (split.epochs + 1, split.epochs),
        "one more scoring: the test set's at the end"
    );
    let val = |o: &Outcome| -> Vec<(f64, f64)> {
        o.epochs
            .iter()
            .map(|e| (e.val_loss, e.val_accuracy))
            .collect()
    };
    assert_eq!(
        val(&held_out),
        val(&on_held),
        "validated on the held-out images"
    );
    assert_ne!(val(&held_out), val(&tested));
    assert_eq!(
        held_out.confusion, tested.confusion,
        "scored on the test set"
    );
    let train_figures = |o: &Outcome| -> Vec<(f64, f64)> {
        o.epochs
            .iter()
            .map(|e| (e.train_loss, e.train_accuracy))
            .collect()
    };
    assert_eq!(train_figures(&held_out), train_figures(&tested));
}
