use burn::module::AutodiffModule;
use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::MaxPool2dConfig;
use burn::tensor::{Distribution, Tensor, backend::Backend};
use cifar_tui::train::backend::{Cpu, CpuAd};
use std::time::Instant;

fn time<F: FnMut()>(name: &str, n: usize, mut f: F) {
    f();
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    let ms = t.elapsed().as_secs_f64() * 1000.0 / n as f64;
    println!("{name:40} {ms:8.3} ms");
}

fn main() {
    cifar_tui::train::install_pool();
    let dev = Default::default();
    let x = Tensor::<Cpu, 4>::random([64, 3, 32, 32], Distribution::Default, &dev);
    let a1 = Tensor::<Cpu, 4>::random([64, 32, 30, 30], Distribution::Default, &dev);
    let a2 = Tensor::<Cpu, 4>::random([64, 64, 13, 13], Distribution::Default, &dev);
    let pool = MaxPool2dConfig::new([2, 2]).init();
    let c1 = Conv2dConfig::new([3, 32], [3, 3]).init::<Cpu>(&dev);
    let c2 = Conv2dConfig::new([32, 64], [3, 3]).init::<Cpu>(&dev);
    let p1 = Tensor::<Cpu, 4>::random([64, 32, 15, 15], Distribution::Default, &dev);
    time("conv1 fwd", 20, || {
        let _ = c1.forward(x.clone());
    });
    time("conv2 fwd", 20, || {
        let _ = c2.forward(p1.clone());
    });
    time("pool1 fwd 64x32x30x30", 20, || {
        let _ = pool.forward(a1.clone());
    });
    time("pool2 fwd 64x64x13x13", 20, || {
        let _ = pool.forward(a2.clone());
    });
    time("relu 64x32x30x30", 20, || {
        let _ = burn::tensor::activation::relu(a1.clone());
    });
    // reshape-max pool alternative
    time("pool1 via reshape+max", 20, || {
        let y = a1
            .clone()
            .reshape([64, 32, 15, 2, 15, 2])
            .max_dim(5)
            .max_dim(3);
        let _ = y.reshape([64, 32, 15, 15]);
    });
    let spec = cifar_tui::train::model::CnnSpec {
        init: cifar_tui::train::config::Init::Default,
        dropout_conv: None,
        dropout_dense: None,
    };
    let m = spec.init::<CpuAd>(&dev);
    let xa = Tensor::<CpuAd, 4>::random([64, 3, 32, 32], Distribution::Default, &dev);
    time("model fwd (autodiff)", 10, || {
        let _ = m.forward(xa.clone());
    });
    time("model fwd+bwd", 10, || {
        let y = m.forward(xa.clone());
        let _ = y.sum().backward();
    });
    let mi = m.valid();
    let xe = Tensor::<Cpu, 4>::random([1000, 3, 32, 32], Distribution::Default, &dev);
    time("eval fwd 1000", 3, || {
        let _ = mi.forward(xe.clone());
    });
    let _ = Cpu::name(&dev);
}
