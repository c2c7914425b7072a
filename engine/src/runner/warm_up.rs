//! The warm-up: every kernel a run will need, compiled and tuned before its first step.

use burn::module::AutodiffModule;

use super::evaluate::{EVAL_BATCH, evaluate_head};
use super::inputs::{DeviceSplit, InputMap};
use super::step;
use super::tally::Tally;
use crate::checkpoint;
use crate::config::TrainConfig;
use crate::events::{TrainEvent, VAL_POINT_IMAGES};
use crate::kernels::TrainBackend;
use crate::model::Cnn;
use crate::objective::Objective;
use crate::optim::Optim;
use crate::seeding::StepKey;

/// The batch sizes a run will meet: training (a full batch, and the epoch's last one when it
/// is short) and scoring (likewise), each once.
pub(super) fn shapes(train: usize, batch: usize, test: usize) -> (Vec<usize>, Vec<usize>) {
    let last = |n: usize, of: usize| (n > of && !n.is_multiple_of(of)).then_some(n % of);
    let steps = [Some(batch.min(train)), last(train, batch)];
    let scoring = [Some(EVAL_BATCH.min(test)), last(test, EVAL_BATCH)];
    (
        steps.into_iter().flatten().collect(),
        scoring.into_iter().flatten().collect(),
    )
}

// A validation point within the epoch scores one full scoring batch: its kernels are warm.
const _: () = assert!(VAL_POINT_IMAGES == EVAL_BATCH);

/// Training steps in a row per batch shape in the warm-up: enough that the steps after them
/// meet no kernel they did not (checked on lavapipe by engine/tests/wgpu.rs).
pub(super) const WARM_UP_STEPS: usize = 3;

/// [`WARM_UP_STEPS`] steps of each training shape, with the loop's bookkeeping, and one
/// forward pass of each scoring shape, on copies that are thrown away: the kernels they need
/// are compiled and tuned before the run's own first step. Its dropout masks are keyed like the epoch's first step's: it takes nothing
/// from the run's own draws (every draw is a function of its key).
pub(super) fn warm_up<B: TrainBackend>(
    model: &Cnn<B>,
    cfg: &TrainConfig,
    epoch: usize,
    (train, test, input): (&DeviceSplit<B>, &DeviceSplit<B::InnerBackend>, InputMap),
    emit: &mut impl FnMut(TrainEvent),
) {
    let device = train.labels.device();
    let (steps, scoring) = shapes(train.len(), cfg.batch_size, test.len());
    let total = steps.len() + scoring.len();
    emit(TrainEvent::Preparing { done: 0, total });
    let objective = Objective::new(cfg, epoch, &device);
    let lr = cfg.lr.at(epoch);
    for (k, &n) in steps.iter().enumerate() {
        // Steps in a row, as the loop takes them: the first without the optimizer's state, the
        // next with it, the sums running across them (the device fuses each pattern into
        // kernels of its own). Then the loop's reads and a checkpoint's encoding. Reading a
        // value waits for the device: the kernels ran, so they are compiled and tuned.
        let mut optim = Optim::<B>::new(cfg, epoch);
        let mut tally = Tally::new(&device);
        let mut copy = model.clone();
        let index: Vec<i64> = (0..n as i64).collect();
        for i in 0..WARM_UP_STEPS {
            let (x, y) = train.batch(&index, input);
            let labels = y.clone().inner();
            let key = StepKey::new(cfg.seed, epoch, i);
            let (next, loss, logits) = step(copy, &mut optim, &objective, lr, key, (x, y));
            tally.add(loss, logits, labels);
            copy = next;
        }
        let _ = (tally.read_window(), tally.epoch());
        let _ = checkpoint::encode(&copy, &optim);
        emit(TrainEvent::Preparing { done: k + 1, total });
    }
    let valid = model.valid();
    for (k, &n) in scoring.iter().enumerate() {
        let _ = evaluate_head(&valid, test, input, n);
        emit(TrainEvent::Preparing {
            done: steps.len() + k + 1,
            total,
        });
    }
}
