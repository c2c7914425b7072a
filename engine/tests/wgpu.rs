//! The GPU path, on a software GPU: burn's `wgpu` backend on Mesa's lavapipe runs the same cube
//! kernels, fusion and autotune as CUDA, on a machine without a GPU (CI). What it checks: the
//! ops' GPU path against `flex`, runs side by side on one device giving their solo figures,
//! cancel and resume among several, the warm-up covering every kernel a run needs.
//!
//! Its own `main` (no test harness): the checks run one after another in one process, the
//! warm-up first, while the process has compiled nothing, and the later ones reuse its
//! kernels. Without a wgpu adapter it says so and passes, unless `CIFAR_TUI_REQUIRE_WGPU` is
//! set (`.ci/run` sets it and installs lavapipe).
//!
//! Shapes stay small: lavapipe sums at most 65,535 terms per reduction loop, and silently
//! drops the rest (../shared/notes/wgpu-lavapipe.md), so no reduction here is longer.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::backend::wgpu::WgpuDevice;
use burn::tensor::ops::FloatTensorOps;
use burn::tensor::{Shape, Tensor, TensorData, TensorPrimitive, Tolerance};
use cifar_engine::backend::{Cpu, CpuAd, Wgpu, WgpuAd};
use cifar_engine::checkpoint::{Owner, Slot};
use cifar_engine::config::{Hyper, TrainConfig, Trick};
use cifar_engine::data::{Cifar10, Split};
use cifar_engine::events::{DeviceKind, Outcome, TrainEvent, VAL_POINTS};
use cifar_engine::kernels::{self, ConvAct, KernelBackend, TanhAffine, burn_ops};
use cifar_engine::runner::{RunInputs, TrainError, train};
use cifar_engine::seeding::StepKey;
use cifar_engine::tricks::{self, TrickSet};

/// The cubecl logs this process writes: every kernel compiled, every autotune result.
struct Logs {
    compiled: PathBuf,
    tuned: PathBuf,
}

impl Logs {
    fn sizes(&self) -> (u64, u64) {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        (size(&self.compiled), size(&self.tuned))
    }
}

fn main() {
    let Some(adapter) = cifar_engine::backend::wgpu_adapters()
        .into_iter()
        .find(|a| a.software)
    else {
        let why = "no software wgpu adapter (Debian: apt-get install mesa-vulkan-drivers)";
        if std::env::var_os("CIFAR_TUI_REQUIRE_WGPU").is_some() {
            eprintln!("wgpu: CIFAR_TUI_REQUIRE_WGPU is set and there is {why}");
            std::process::exit(1);
        }
        println!("wgpu: SKIPPED, {why}");
        return;
    };
    println!("wgpu: checking the GPU path on {}", adapter.name);
    let logs = log_to(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let device = WgpuDevice::Cpu;
    let data = tiny();
    let solos = OnceLock::new();
    let checks: [(&str, &dyn Fn()); 5] = [
        ("the warm-up leaves nothing to compile or tune", &|| {
            warm_up_leaves_nothing_to_compile(&device, &data, &logs)
        }),
        ("the ops match flex forward and backward", &|| {
            ops_match_flex(&device)
        }),
        ("runs side by side equal their solo runs", &|| {
            side_by_side_equals_solo(&device, &data, &solos)
        }),
        ("one run cancelled among several resumes exactly", &|| {
            cancelled_among_several_resumes_exactly(&device, &data, &solos)
        }),
        ("a seed trains alike on the GPU and the CPU", &|| {
            gpu_and_cpu_agree(&device, &data, &solos)
        }),
    ];
    // `cargo test --test wgpu -- WORDS`: only the checks whose name holds them.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (mut passed, mut failed) = (0, 0);
    for (name, check) in checks {
        if !only.is_empty() && !only.iter().any(|w| name.contains(w.as_str())) {
            continue;
        }
        let t = Instant::now();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
            Ok(()) => {
                passed += 1;
                println!("check {name} ... ok ({:.1} s)", t.elapsed().as_secs_f64());
            }
            Err(_) => {
                failed += 1;
                println!("check {name} ... FAILED");
            }
        }
    }
    println!("wgpu: {passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}

/// Sends cubecl's compilation and autotune logs to files under `dir`, and keeps its autotune
/// cache there (cold in a fresh clone, as on a new user's machine).
fn log_to(dir: &Path) -> Logs {
    use burn::cubecl::config::cache::CacheConfig;
    use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
    let dir = dir.join("wgpu-check");
    std::fs::create_dir_all(&dir).expect("a folder for the cubecl logs");
    let logs = Logs {
        compiled: dir.join("compiled.log"),
        tuned: dir.join("tuned.log"),
    };
    for log in [&logs.compiled, &logs.tuned] {
        let _ = std::fs::remove_file(log);
    }
    let mut config = CubeClRuntimeConfig::default();
    config.compilation.logger.file = Some(logs.compiled.clone());
    config.compilation.logger.level = burn::cubecl::config::compilation::CompilationLogLevel::Basic;
    config.autotune.logger.file = Some(logs.tuned.clone());
    config.autotune.cache = CacheConfig::File(dir.join("autotune"));
    CubeClRuntimeConfig::set(config);
    logs
}

/// A learnable toy set: each class its own colour, plus noise (as the engine's unit tests).
fn synthetic(n: usize, seed: u64) -> Split {
    let mut split = Split::default();
    let mut state = seed;
    for i in 0..n {
        let label = (i % 10) as u8;
        split.labels.push(label);
        for c in 0..3 {
            let digit = (label as u32 / 3u32.pow(c)) % 3;
            let base = 40 + 88 * digit as i32;
            for _ in 0..1024 {
                state = cifar_engine::seeding::splitmix(state);
                let noise = (state % 51) as i32 - 25;
                split.images.push((base + noise).clamp(0, 255) as u8);
            }
        }
    }
    split
}

/// 96 training images (three steps of 32 an epoch), 60 test images: lavapipe takes about a
/// second a step.
fn tiny() -> Cifar10 {
    Cifar10::new(synthetic(96, 1), synthetic(60, 2))
}

fn config(tricks: &[Trick], seed: u64, epochs: usize) -> TrainConfig {
    let set: TrickSet = tricks.iter().copied().collect();
    let mut cfg = tricks::resolve(
        &set,
        &Hyper {
            epochs,
            batch_size: 32,
            ..Hyper::default()
        },
    );
    cfg.seed = seed;
    cfg
}

/// Run A: dropout everywhere (every draw of a run is in its masks); run B: other tricks.
fn run_a() -> TrainConfig {
    config(
        &[Trick::DropoutConv, Trick::DropoutDense, Trick::InitWeights],
        7,
        2,
    )
}
fn run_b() -> TrainConfig {
    config(&[Trick::NormInputs, Trick::DropoutDense], 8, 2)
}

/// Everything a run reports but wall-clock times.
type Figures = (Vec<[f64; 5]>, Vec<Vec<u64>>);

fn figures(o: &Outcome) -> Figures {
    let epochs = o
        .epochs
        .iter()
        .map(|e| {
            [
                e.lr,
                e.train_loss,
                e.train_accuracy,
                e.val_loss,
                e.val_accuracy,
            ]
        })
        .collect();
    (epochs, o.confusion.counts.clone())
}

fn job<'a>(data: &'a Cifar10, cfg: &'a TrainConfig, cancel: &'a AtomicBool) -> RunInputs<'a> {
    RunInputs {
        data,
        config: cfg,
        cancel,
        checkpoints: None,
        done: Vec::new(),
        val_points: 0,
        warm_up: false,
    }
}

fn solo(device: &WgpuDevice, data: &Cifar10, cfg: &TrainConfig) -> Outcome {
    let cancel = AtomicBool::new(false);
    train::<WgpuAd>(device, DeviceKind::Wgpu, job(data, cfg, &cancel), |_| {}).expect("a solo run")
}

/// Runs A and B trained alone, once for the checks that compare with them.
type Solos = OnceLock<(Outcome, Outcome)>;

fn solos<'a>(cache: &'a Solos, device: &WgpuDevice, data: &Cifar10) -> &'a (Outcome, Outcome) {
    cache.get_or_init(|| (solo(device, data, &run_a()), solo(device, data, &run_b())))
}

/// As a GPU run in the app trains (warm-up on, validation points, a checkpoint after every
/// epoch), no kernel is compiled and nothing is tuned once the warm-up has said it is done.
fn warm_up_leaves_nothing_to_compile(device: &WgpuDevice, data: &Cifar10, logs: &Logs) {
    let cfg = config(
        &[Trick::NormInputs, Trick::DropoutConv, Trick::DropoutDense],
        3,
        2,
    );
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let owner = Owner {
        history: "test.db".into(),
        run: 1,
        created: "now".into(),
    };
    let cancel = AtomicBool::new(false);
    let job = RunInputs {
        checkpoints: Some(Slot {
            dir: tmp.path(),
            owner: &owner,
        }),
        val_points: VAL_POINTS,
        warm_up: true,
        ..job(data, &cfg, &cancel)
    };
    let before = logs.sizes();
    let mut warm = None;
    // Where any late compilation happened: the size of the log at each event after warm-up.
    let mut trail = Vec::new();
    train::<WgpuAd>(device, DeviceKind::Wgpu, job, |e| {
        let size = logs.sizes().0;
        match e {
            TrainEvent::Preparing { done, total } if done == total => warm = Some(logs.sizes()),
            TrainEvent::Progress(p) => trail.push((format!("step {}.{}", p.epoch, p.step), size)),
            TrainEvent::Validation(v) => trail.push((format!("point {:.2}", v.at), size)),
            TrainEvent::Evaluating { epoch } => trail.push((format!("scoring {epoch}"), size)),
            TrainEvent::Epoch(e) => trail.push((format!("epoch {}", e.epoch), size)),
            _ => {}
        }
    })
    .expect("the run");
    let mut last = warm.map_or(0, |w| w.0);
    for (what, size) in trail {
        if size > last {
            println!("  compiled before {what}: {} bytes of log", size - last);
            last = size;
        }
    }
    let (warm, after) = (warm.expect("a warm-up"), logs.sizes());
    let compiled = std::fs::read(&logs.compiled).unwrap_or_default();
    let count = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .matches("[Compiling kernel]")
            .count()
    };
    let late = String::from_utf8_lossy(&compiled[warm.0 as usize..]).into_owned();
    println!(
        "  kernels compiled: {} in the warm-up, {} after it; autotune log: {} bytes in the \
         warm-up, {} after it",
        count(&compiled[..warm.0 as usize]),
        count(late.as_bytes()),
        warm.1,
        after.1 - warm.1
    );
    assert!(
        warm.0 > before.0,
        "the warm-up compiled nothing: is the log on?"
    );
    assert_eq!(after, warm, "compiled or tuned after the warm-up:\n{late}");
}

/// The ops the model runs on a GPU (burn's kernels inside this engine's autodiff nodes) agree
/// with `flex` forward and backward; dropout masks and input gathering are the same bits.
fn ops_match_flex(device: &WgpuDevice) {
    let cpu = Default::default();
    let host = |shape: Vec<usize>, seed: u64| -> TensorData {
        let mut s = cifar_engine::seeding::Stream::new(seed, 0);
        let n = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| (2.0 * s.uniform() - 1.0) as f32).collect();
        TensorData::new(v, shape)
    };
    let tol = Tolerance::<f32>::rel_abs(1e-4, 1e-4);
    let same = |gpu: TensorData, cpu: TensorData| gpu.assert_approx_eq::<f32>(&cpu, tol);

    // conv3x3 with its activation: forward and the three gradients.
    for (c, o, h, act) in [
        (3, 32, 12, ConvAct::Relu),
        (32, 64, 6, ConvAct::Tanh(TanhAffine::SCALED_TANH)),
    ] {
        let on_both = |shape: Vec<usize>, seed| {
            let d = host(shape, seed);
            (
                Tensor::<WgpuAd, 4>::from_data(d.clone(), device).require_grad(),
                Tensor::<CpuAd, 4>::from_data(d, &cpu).require_grad(),
            )
        };
        let (xg, xc) = on_both(vec![3, c, h, h + 1], 1);
        let (wg, wc) = on_both(vec![o, c, 3, 3], 2);
        let bd = host(vec![o], 3);
        let bg = Tensor::<WgpuAd, 1>::from_data(bd.clone(), device).require_grad();
        let bc = Tensor::<CpuAd, 1>::from_data(bd, &cpu).require_grad();
        let rd = host(vec![3, o, h - 2, h - 1], 4);
        let yg = kernels::conv3x3(xg.clone(), wg.clone(), bg.clone(), act);
        let yc = kernels::conv3x3(xc.clone(), wc.clone(), bc.clone(), act);
        same(yg.to_data(), yc.to_data());
        let gg = (yg * Tensor::from_data(rd.clone(), device))
            .sum()
            .backward();
        let gc = (yc * Tensor::from_data(rd, &cpu)).sum().backward();
        same(
            xg.grad(&gg).unwrap().to_data(),
            xc.grad(&gc).unwrap().to_data(),
        );
        same(
            wg.grad(&gg).unwrap().to_data(),
            wc.grad(&gc).unwrap().to_data(),
        );
        same(
            bg.grad(&gg).unwrap().to_data(),
            bc.grad(&gc).unwrap().to_data(),
        );
    }

    // pool2x2: forward and backward (random inputs have no ties).
    let xd = host(vec![2, 3, 13, 13], 5);
    let xg = Tensor::<WgpuAd, 4>::from_data(xd.clone(), device).require_grad();
    let xc = Tensor::<CpuAd, 4>::from_data(xd, &cpu).require_grad();
    let rd = host(vec![2, 3, 6, 6], 6);
    let (pg, pc) = (kernels::pool2x2(xg.clone()), kernels::pool2x2(xc.clone()));
    same(pg.to_data(), pc.to_data());
    let gg = xg.grad(
        &(pg * Tensor::from_data(rd.clone(), device))
            .sum()
            .backward(),
    );
    let gc = xc.grad(&(pc * Tensor::from_data(rd, &cpu)).sum().backward());
    same(gg.unwrap().to_data(), gc.unwrap().to_data());

    // The tanh op in its three forms: forward, and backward from its output.
    for f in [
        TanhAffine::TANH,
        TanhAffine::SCALED_TANH,
        TanhAffine::SIGMOID,
    ] {
        let xd = host(vec![4096], 7).convert::<f32>();
        let xs: Vec<f32> = xd
            .to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|v| v * 9.0)
            .collect();
        let xd = TensorData::new(xs, [4096]);
        let xg = Tensor::<WgpuAd, 1>::from_data(xd.clone(), device).require_grad();
        let xc = Tensor::<CpuAd, 1>::from_data(xd, &cpu).require_grad();
        let rd = host(vec![4096], 8);
        let (yg, yc) = (
            kernels::tanh_affine(xg.clone(), f),
            kernels::tanh_affine(xc.clone(), f),
        );
        same(yg.to_data(), yc.to_data());
        let gg = xg.grad(
            &(yg * Tensor::from_data(rd.clone(), device))
                .sum()
                .backward(),
        );
        let gc = xc.grad(&(yc * Tensor::from_data(rd, &cpu)).sum().backward());
        same(gg.unwrap().to_data(), gc.unwrap().to_data());
    }

    // Dropout: the same values dropped as on the CPU for the same key.
    for (shape, p, key) in [
        (vec![32, 32, 30, 30], 0.2, StepKey::new(7, 1, 4).mask(0)),
        (vec![32, 64], 0.5, StepKey::new(u64::MAX, 0, 0).mask(3)),
    ] {
        let n: usize = shape.iter().product();
        let flat = TensorData::new((1..=n).map(|i| i as f32).collect::<Vec<_>>(), [n]);
        let gpu_x = <Wgpu as FloatTensorOps<Wgpu>>::float_reshape(
            Tensor::<Wgpu, 1>::from_data(flat.clone(), device)
                .into_primitive()
                .tensor(),
            Shape::from(shape.clone()),
        );
        let cpu_x = <Cpu as FloatTensorOps<Cpu>>::float_reshape(
            Tensor::<Cpu, 1>::from_data(flat, &cpu)
                .into_primitive()
                .tensor(),
            Shape::from(shape),
        );
        let gpu =
            Tensor::<Wgpu, 1>::from_primitive(TensorPrimitive::Float(burn_ops::dropout::<Wgpu>(
                gpu_x, p, key,
            )));
        let cpu_dropped = Tensor::<Cpu, 1>::from_primitive(TensorPrimitive::Float(
            <Cpu as KernelBackend>::dropout(cpu_x, p, key),
        ));
        assert_eq!(gpu.into_data(), cpu_dropped.into_data(), "dropout p {p}");
    }

    // Inputs gathered from the u8 images resident on the device, mapped per channel.
    let images: Vec<u8> = (0..4 * 3072).map(|i| (i * 37 % 256) as u8).collect();
    let (scale, shift) = ([1.0 / 255.0, 0.5, 2.0], [-0.5, 0.0, 1.0]);
    let g = kernels::gather_images(
        kernels::upload_images::<Wgpu>(images.clone(), 4, device),
        &[3, 0, 2],
        scale,
        shift,
    );
    let c = kernels::gather_images(
        kernels::upload_images::<Cpu>(images, 4, &cpu),
        &[3, 0, 2],
        scale,
        shift,
    );
    same(g.into_data(), c.into_data());
}

/// Two runs trained at once on one GPU, each on its own thread as the app trains them, give
/// exactly their solo figures. (Before the draws were keyed, their dropout masks came from one
/// process-wide generator that each run reseeded every epoch: this check failed.)
fn side_by_side_equals_solo(device: &WgpuDevice, data: &Cifar10, cache: &Solos) {
    let (a, b) = (run_a(), run_b());
    let (solo_a, solo_b) = solos(cache, device, data);
    let (together_a, together_b) = std::thread::scope(|s| {
        let ta = s.spawn(|| solo(device, data, &a));
        let tb = s.spawn(|| solo(device, data, &b));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert_eq!(figures(&together_a), figures(solo_a), "run A beside B");
    assert_eq!(figures(&together_b), figures(solo_b), "run B beside A");
    assert_ne!(figures(solo_a), figures(solo_b));
    // And again: a re-run on the same device gives the same figures.
    assert_eq!(
        figures(&solo(device, data, &a)),
        figures(solo_a),
        "a re-run"
    );
}

/// One run of two on the GPU, cancelled after its first epoch and resumed from its checkpoint,
/// ends exactly like its solo run; the run beside it like its own.
fn cancelled_among_several_resumes_exactly(device: &WgpuDevice, data: &Cifar10, cache: &Solos) {
    let (a, b) = (run_a(), run_b());
    let (solo_a, solo_b) = solos(cache, device, data);
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let owner = Owner {
        history: "test.db".into(),
        run: 1,
        created: "now".into(),
    };
    let slot = || Slot {
        dir: tmp.path(),
        owner: &owner,
    };
    let (stopped, beside) = std::thread::scope(|s| {
        let ta = s.spawn(|| {
            let cancel = AtomicBool::new(false);
            let job = RunInputs {
                checkpoints: Some(slot()),
                ..job(data, &a, &cancel)
            };
            train::<WgpuAd>(device, DeviceKind::Wgpu, job, |e| {
                if matches!(e, TrainEvent::Epoch(e) if e.epoch == 1) {
                    cancel.store(true, Ordering::Relaxed);
                }
            })
        });
        let tb = s.spawn(|| solo(device, data, &b));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert!(matches!(stopped, Err(TrainError::Cancelled)), "{stopped:?}");
    assert_eq!(figures(&beside), figures(solo_b), "the run beside it");
    let cancel = AtomicBool::new(false);
    let resumed = RunInputs {
        checkpoints: Some(slot()),
        done: solo_a.epochs[..1].to_vec(),
        ..job(data, &a, &cancel)
    };
    let resumed = train::<WgpuAd>(device, DeviceKind::Wgpu, resumed, |_| {}).expect("the resume");
    assert_eq!(figures(&resumed), figures(solo_a), "the resumed run");
}

/// A seed starts from the same weights and draws the same masks on every device, so its
/// figures on the GPU and the CPU differ only by float rounding (the order of sums).
fn gpu_and_cpu_agree(device: &WgpuDevice, data: &Cifar10, cache: &Solos) {
    let a = run_a();
    let gpu = &solos(cache, device, data).0;
    let cancel = AtomicBool::new(false);
    let cpu = train::<CpuAd>(
        &Default::default(),
        DeviceKind::Cpu,
        job(data, &a, &cancel),
        |_| {},
    )
    .expect("the CPU run");
    for (g, c) in gpu.epochs.iter().zip(&cpu.epochs) {
        println!(
            "  epoch {}: train loss gpu {:.6} cpu {:.6}, val loss gpu {:.6} cpu {:.6}",
            g.epoch, g.train_loss, c.train_loss, g.val_loss, c.val_loss
        );
        assert!((g.train_loss - c.train_loss).abs() < 1e-3, "{g:?} vs {c:?}");
        assert!((g.val_loss - c.val_loss).abs() < 1e-3, "{g:?} vs {c:?}");
    }
}
