//! The order of training images in each epoch.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha12Rng;

use crate::config::Order;

/// The order of training images in an epoch: a function of the order setting, the seed, the
/// epoch and the labels alone, so any epoch can be replayed. The generator is named (ChaCha12,
/// which `rand_chacha` keeps value-stable), not `StdRng`, which `rand` may change in any
/// release; `rand` itself is pinned by Cargo.lock, and a test holds the order fixed.
pub fn epoch_order(order: Order, seed: u64, epoch: usize, labels: &[u8]) -> Vec<i64> {
    let n = labels.len();
    let shuffled = || {
        let mut order: Vec<i64> = (0..n as i64).collect();
        let mut rng = ChaCha12Rng::seed_from_u64(
            seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        order.shuffle(&mut rng);
        order
    };
    match order {
        Order::Shuffled => shuffled(),
        Order::Sequential => (0..n as i64).collect(),
        Order::Interleaved => {
            // The epoch's permutation, split by class (so each class comes in shuffled order),
            // then dealt one class at a time; classes that run out drop from the turn.
            let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
            let mut queues = vec![std::collections::VecDeque::new(); classes];
            for i in shuffled() {
                queues[labels[i as usize] as usize].push_back(i);
            }
            let mut dealt = Vec::with_capacity(n);
            while dealt.len() < n {
                dealt.extend(queues.iter_mut().filter_map(|q| q.pop_front()));
            }
            dealt
        }
    }
}
