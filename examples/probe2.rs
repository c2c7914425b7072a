use burn::nn::conv::Conv2dConfig;
use burn::tensor::{Distribution, Tensor, backend::Backend};
use cifar_tui::train::backend::CpuAd;
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

/// 3x3 valid conv as shifted slices + matmul. x [B,C,H,W], w [O, C*9], b [O]
fn conv_mm<B: Backend>(x: Tensor<B, 4>, w: Tensor<B, 2>, b: Tensor<B, 1>) -> Tensor<B, 4> {
    let [n, c, h, wd] = x.dims();
    let (ho, wo) = (h - 2, wd - 2);
    let mut parts = Vec::with_capacity(9);
    for i in 0..3 {
        for j in 0..3 {
            parts.push(x.clone().slice([0..n, 0..c, i..i + ho, j..j + wo]));
        }
    }
    // [B, 9, C, Ho, Wo] -> [B, 9*C, L]
    let p = Tensor::stack::<5>(parts, 1).reshape([n, 9 * c, ho * wo]);
    let o = w.dims()[0];
    let y = w.unsqueeze::<3>().matmul(p); // [B, O, L]
    (y + b.reshape([1, o, 1])).reshape([n, o, ho, wo])
}

fn main() {
    cifar_tui::train::install_pool();
    let dev = Default::default();
    for (c, o, h) in [(3usize, 32usize, 32usize), (32, 64, 15), (64, 64, 6)] {
        let conv = Conv2dConfig::new([c, o], [3, 3]).init::<CpuAd>(&dev);
        let x =
            Tensor::<CpuAd, 4>::random([64, c, h, h], Distribution::Default, &dev).require_grad();
        time(&format!("burn conv {c}->{o} {h}x{h} fwd"), 10, || {
            let _ = conv.forward(x.clone());
        });
        time(&format!("burn conv {c}->{o} {h}x{h} fwd+bwd"), 10, || {
            let _ = conv.forward(x.clone()).sum().backward();
        });
        let w = Tensor::<CpuAd, 2>::random([o, 9 * c], Distribution::Default, &dev).require_grad();
        let b = Tensor::<CpuAd, 1>::random([o], Distribution::Default, &dev).require_grad();
        time(&format!("mm conv {c}->{o} {h}x{h} fwd"), 10, || {
            let _ = conv_mm(x.clone(), w.clone(), b.clone());
        });
        time(&format!("mm conv {c}->{o} {h}x{h} fwd+bwd"), 10, || {
            let _ = conv_mm(x.clone(), w.clone(), b.clone()).sum().backward();
        });
    }
}
