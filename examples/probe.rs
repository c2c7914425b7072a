use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::MaxPool2dConfig;
use burn::tensor::{Distribution, Tensor};
use cifar_tui::train::backend::{Cpu, CpuAd};
use std::time::Instant;

fn time<F: FnMut()>(name: &str, n: usize, mut f: F) {
    f();
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    let ms = t.elapsed().as_secs_f64() * 1000.0 / n as f64;
    println!("{name:44} {ms:8.3} ms");
}

fn main() {
    cifar_tui::train::install_pool();
    let dev = Default::default();
    let pool = MaxPool2dConfig::new([2, 2]).init();
    for (c, h) in [(32usize, 30usize), (64, 13)] {
        let a =
            Tensor::<CpuAd, 4>::random([64, c, h, h], Distribution::Default, &dev).require_grad();
        time(&format!("pool {c}x{h} fwd+bwd (burn)"), 10, || {
            let y = pool.forward(a.clone());
            let _ = y.sum().backward();
        });
        let e = h / 2 * 2;
        time(&format!("pool {c}x{h} fwd+bwd (reshape+max)"), 10, || {
            let x = if e == h {
                a.clone()
            } else {
                a.clone().slice([0..64, 0..c, 0..e, 0..e])
            };
            let y = x.reshape([64, c, e / 2, 2, e / 2, 2]).max_dim(5).max_dim(3);
            let _ = y.sum().backward();
        });
        time(
            &format!("pool {c}x{h} fwd+bwd (strided slices)"),
            10,
            || {
                use burn::tensor::s;
                let x = a.clone();
                let p00 = x.clone().slice(s![.., .., 0..e;2, 0..e;2]);
                let p01 = x.clone().slice(s![.., .., 0..e;2, 1..e;2]);
                let p10 = x.clone().slice(s![.., .., 1..e;2, 0..e;2]);
                let p11 = x.slice(s![.., .., 1..e;2, 1..e;2]);
                let y = p00.max_pair(p01).max_pair(p10.max_pair(p11));
                let _ = y.sum().backward();
            },
        );
    }
    let c1 = Conv2dConfig::new([3, 32], [3, 3]).init::<CpuAd>(&dev);
    let c2 = Conv2dConfig::new([32, 64], [3, 3]).init::<CpuAd>(&dev);
    let c3 = Conv2dConfig::new([64, 64], [3, 3]).init::<CpuAd>(&dev);
    let x1 = Tensor::<CpuAd, 4>::random([64, 3, 32, 32], Distribution::Default, &dev);
    let x2 =
        Tensor::<CpuAd, 4>::random([64, 32, 15, 15], Distribution::Default, &dev).require_grad();
    let x3 = Tensor::<CpuAd, 4>::random([64, 64, 6, 6], Distribution::Default, &dev).require_grad();
    time("conv1 fwd+bwd", 10, || {
        let _ = c1.forward(x1.clone()).sum().backward();
    });
    time("conv2 fwd+bwd", 10, || {
        let _ = c2.forward(x2.clone()).sum().backward();
    });
    time("conv3 fwd+bwd", 10, || {
        let _ = c3.forward(x3.clone()).sum().backward();
    });
    let a =
        Tensor::<CpuAd, 4>::random([64, 32, 30, 30], Distribution::Default, &dev).require_grad();
    time("relu 64x32x30x30 fwd+bwd", 10, || {
        let _ = burn::tensor::activation::relu(a.clone()).sum().backward();
    });
    let d = burn::nn::DropoutConfig::new(0.2).init();
    time("dropout 64x32x30x30 fwd+bwd", 10, || {
        let _ = d.forward(a.clone()).sum().backward();
    });
    let r = Tensor::<Cpu, 4>::random([64, 32, 30, 30], Distribution::Default, &dev);
    time("random bernoulli 64x32x30x30", 10, || {
        let _ = r.random_like(Distribution::Bernoulli(0.8));
    });
}
