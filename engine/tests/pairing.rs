//! Seeds are paired across variants: on seed k every variant of the same architecture starts
//! from the same weights and sees the same data order (and dropout stream, drawn from the same
//! per-epoch seed), so differences between variants on the same seeds are paired differences.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use cifar_engine::backend::Cpu;
use cifar_engine::config::{Hyper, TrainConfig};
use cifar_engine::runner::{epoch_order, initial_model};
use cifar_engine::tricks::{self, PRESETS};

/// Every parameter's values, in the model's order.
struct Weights(Vec<Vec<f32>>);

impl<B: Backend> ModuleVisitor<B> for Weights {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let values = param.val().into_data().convert::<f32>().to_vec::<f32>();
        self.0.push(values.expect("f32 parameters"));
    }
}

fn weights(cfg: &TrainConfig) -> Vec<Vec<f32>> {
    let mut w = Weights(Vec::new());
    initial_model::<Cpu>(cfg, &Default::default()).visit(&mut w);
    w.0
}

fn preset(name: &str, seed: u64) -> TrainConfig {
    let p = PRESETS
        .iter()
        .find(|p| p.name == name)
        .expect("a seed preset");
    let hyper = Hyper {
        seed,
        ..Hyper::default()
    };
    tricks::resolve(&p.trick_set(), &hyper)
}

#[test]
fn the_same_seed_gives_every_variant_the_same_initial_weights() {
    // Default init: the first four scenarios differ in inputs, lr and decay, not in weights.
    let default_init = ["baseline", "norm_inputs", "lr_schedule", "weight_decay"];
    // Kaiming init, with or without dropout (which has no parameters).
    let kaiming = [
        "init_weights",
        "dropout_dense",
        "dropout_conv",
        "dropout_both",
    ];
    for group in [&default_init, &kaiming] {
        for seed in [1, 2] {
            let first = weights(&preset(group[0], seed));
            assert_eq!(first.len(), 10, "5 layers, weight and bias each");
            for name in &group[1..] {
                assert!(
                    weights(&preset(name, seed)) == first,
                    "{name} vs {} on seed {seed}",
                    group[0]
                );
            }
        }
        // Another seed, other weights: the pairing comes from the seed, not from a constant.
        assert!(weights(&preset(group[0], 1)) != weights(&preset(group[0], 2)));
    }
    // Another init is another starting point, even on the same seed.
    assert!(weights(&preset("baseline", 1)) != weights(&preset("init_weights", 1)));
}

#[test]
fn the_same_seed_gives_every_variant_the_same_data_order() {
    // The order is a function of the order setting, the seed, the epoch and the labels alone:
    // no other field of a variant's configuration reaches it. Every preset on seed k sees
    // this order.
    let labels: Vec<u8> = (0..50_000).map(|i| (i % 10) as u8).collect();
    for seed in [1, 2, 3] {
        let configs: Vec<TrainConfig> = PRESETS.iter().map(|p| preset(p.name, seed)).collect();
        for epoch in 0..3 {
            let orders: Vec<Vec<i64>> = configs
                .iter()
                .map(|c| epoch_order(c.order, c.seed, epoch, &labels))
                .collect();
            assert!(orders.iter().all(|o| o == &orders[0]), "seed {seed}");
            let other = epoch_order(configs[0].order, seed + 10, epoch, &labels);
            assert_ne!(orders[0], other);
        }
    }
}
