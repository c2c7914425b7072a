use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, ModuleOps};
use burn::tensor::{Distribution, Tensor, TensorPrimitive};
use cifar_tui::train::backend::Cpu;
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
fn prim(t: Tensor<Cpu, 4>) -> <Cpu as burn::tensor::backend::BackendTypes>::FloatTensorPrimitive {
    t.into_primitive().tensor()
}

fn main() {
    cifar_tui::train::install_pool();
    let dev = Default::default();
    for (c, o, h) in [(3usize, 32usize, 32usize), (32, 64, 15), (64, 64, 6)] {
        let x = Tensor::<Cpu, 4>::random([64, c, h, h], Distribution::Default, &dev);
        let w = Tensor::<Cpu, 4>::random([o, c, 3, 3], Distribution::Default, &dev);
        let g = Tensor::<Cpu, 4>::random([64, o, h - 2, h - 2], Distribution::Default, &dev);
        let opt = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
        time(&format!("{c}->{o} {h}: conv2d fwd"), 10, || {
            let _ = Cpu::conv2d(prim(x.clone()), prim(w.clone()), None, opt.clone());
        });
        time(
            &format!("{c}->{o} {h}: x backward (conv_transpose)"),
            10,
            || {
                let _ = Cpu::conv2d_x_backward(
                    prim(x.clone()),
                    prim(w.clone()),
                    prim(g.clone()),
                    opt.clone(),
                );
            },
        );
        time(
            &format!("{c}->{o} {h}: weight backward (default)"),
            10,
            || {
                let _ = Cpu::conv2d_weight_backward(
                    prim(x.clone()),
                    prim(w.clone()),
                    prim(g.clone()),
                    opt.clone(),
                );
            },
        );
        // im2col weight grad: P [B, C*9, L] via 9 shifted slices; G [B, O, L]; dW = sum_b G P^T
        let (ho, wo) = (h - 2, h - 2);
        time(
            &format!("{c}->{o} {h}: weight backward (im2col+mm)"),
            10,
            || {
                let mut parts = Vec::new();
                for i in 0..3 {
                    for j in 0..3 {
                        parts.push(x.clone().slice([0..64, 0..c, i..i + ho, j..j + wo]));
                    }
                }
                // [B, C, 9, L]: channel-major like the weight layout [O, C, 3, 3]
                let p = Tensor::stack::<5>(parts, 2).reshape([64, c * 9, ho * wo]);
                let pt = p.swap_dims(0, 1).reshape([c * 9, 64 * ho * wo]); // [C*9, B*L]
                let gt = g
                    .clone()
                    .reshape([64, o, ho * wo])
                    .swap_dims(0, 1)
                    .reshape([o, 64 * ho * wo]);
                let _ = gt.matmul(pt.transpose()).reshape([o, c, 3, 3]);
            },
        );
        let _ = ConvTransposeOptions::new([1, 1], [0, 0], [0, 0], [1, 1], 1);
    }
}
