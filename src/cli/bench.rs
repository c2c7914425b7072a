//! `cifar-tui bench`: the engine's speed beside the PyTorch pipeline of the seed notebook, in
//! the same run on the same machine, as a table and as JSON.

use std::io::{BufRead as _, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use crate::cli::BenchArgs;
use crate::cli::setup::Context;
use cifar_engine::backend;
use cifar_engine::events::DeviceKind;
use cifar_engine::kernels::{CpuKernel, uses_burn};

/// The reference script, built into the binary so `bench` works from any folder.
const REFERENCE: &str = include_str!("../../scripts/torch_reference.py");

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A Python that has torch, or why there is none.
fn find_python(explicit: Option<&str>) -> Result<String, String> {
    let candidates: Vec<String> = match explicit {
        Some(p) => vec![p.to_string()],
        None => std::env::var("CIFAR_TUI_PYTHON")
            .into_iter()
            .chain(["python3".to_string(), "python".to_string()])
            .collect(),
    };
    for py in &candidates {
        let ok = Command::new(py)
            .args(["-c", "import torch, numpy, PIL"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(py.clone());
        }
    }
    Err(format!(
        "no Python with torch, numpy and Pillow found (tried {}); set CIFAR_TUI_PYTHON or --python",
        candidates.join(", ")
    ))
}

/// The PyTorch reference as a second process that takes turns with ours: it reads the data,
/// then runs one repetition per line it is sent (`torch_reference.py --paced`). Taking turns
/// rep by rep, not all ours then all its, keeps a machine that drifts over minutes (a VM's
/// neighbours, a laptop's clock) from weighing on one side only.
struct Reference {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    // The script lives here; dropped with the process.
    _dir: tempfile::TempDir,
}

impl Reference {
    fn start(python: &str, args: &BenchArgs, data_dir: &Path, device: &str) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let script = dir.path().join("torch_reference.py");
        std::fs::File::create(&script)?.write_all(REFERENCE.as_bytes())?;
        let mut cmd = Command::new(python);
        cmd.arg(&script)
            .arg("--data")
            .arg(data_dir)
            .args([
                "--paced",
                "--reps",
                &args.reps.to_string(),
                "--steps",
                &args.steps.to_string(),
            ])
            .args(["--device", device]);
        if let Some(n) = args.epoch_images {
            cmd.args(["--epoch-images", &n.to_string()]);
        }
        eprintln!("starting the PyTorch reference: {python} scripts/torch_reference.py --paced …");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        let mut reference = Reference {
            child,
            stdin,
            stdout,
            _dir: dir,
        };
        // Waiting for "ready" keeps its import and data reading out of our first repetition.
        let first = reference.line()?;
        if first.trim() != "ready" {
            bail!("the PyTorch reference did not start (it printed {first:?})");
        }
        Ok(reference)
    }

    fn line(&mut self) -> Result<String> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            let status = self.child.wait()?;
            bail!("the PyTorch reference stopped ({status})");
        }
        Ok(line)
    }

    /// One repetition of the reference, run now.
    fn rep(&mut self) -> Result<Value> {
        let stdin = self
            .stdin
            .as_mut()
            .context("the reference's input is closed")?;
        stdin.write_all(b"\n")?;
        stdin.flush()?;
        let line = self.line()?;
        serde_json::from_str(&line).context("the PyTorch reference printed no JSON")
    }

    /// Its summary: every repetition and their medians.
    fn finish(mut self) -> Result<Value> {
        drop(self.stdin.take());
        let summary = self.line()?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("the PyTorch reference failed ({status})");
        }
        serde_json::from_str(&summary).context("the PyTorch reference printed no JSON")
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        // A reference left behind (our side failed) must not keep running.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The processor the figures come from: its model as the OS names it and the vector
/// instructions the engine's kernels can use, so that figures of two machines are never mixed.
fn cpu() -> Value {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Model"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    #[allow(unused_mut)]
    let mut features: Vec<&str> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    for (name, has) in [
        ("avx2", std::arch::is_x86_feature_detected!("avx2")),
        ("fma", std::arch::is_x86_feature_detected!("fma")),
        ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
    ] {
        if has {
            features.push(name);
        }
    }
    #[cfg(target_arch = "aarch64")]
    if std::arch::is_aarch64_feature_detected!("neon") {
        features.push("neon");
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    json!({ "model": model, "features": features, "cores": cores })
}

pub fn run(ctx: &Context, args: &BenchArgs) -> Result<()> {
    let data = crate::cli::headless::load_data(ctx)?;
    let (device, notice) = backend::select(ctx.device)?;
    if let Some(n) = notice {
        eprintln!("{n}");
    }
    let threads = cifar_engine::worker_threads();
    let data_dir = match &ctx.data_dir {
        Some(d) => d.clone(),
        None => ctx.cache_dir.clone(),
    };
    let mut reference = if args.no_reference {
        Err("skipped (--no-reference)".to_string())
    } else {
        find_python(args.python.as_deref()).and_then(|py| {
            Reference::start(&py, args, &data_dir, &device.to_string())
                .map_err(|e| format!("{e:#}"))
        })
    };
    let mut reps = Vec::new();
    for rep in 0..args.reps {
        let f = cifar_engine::bench_on(device, &data, args.steps, args.epoch_images)?;
        eprintln!(
            "cifar-tui rep {}/{}: bare step {:.0} img/s, epoch {:.0} img/s, eval {:.0} img/s",
            rep + 1,
            args.reps,
            f.bare_step,
            f.epoch,
            f.eval
        );
        reps.push(f);
        if let Ok(r) = &mut reference
            && let Err(e) = r.rep()
        {
            reference = Err(format!("{e:#}"));
        }
    }
    let ours = json!({
        "bare_step": median(reps.iter().map(|f| f.bare_step).collect()),
        "epoch": median(reps.iter().map(|f| f.epoch).collect()),
        "eval": median(reps.iter().map(|f| f.eval).collect()),
    });
    let reference = reference.and_then(|r| r.finish().map_err(|e| format!("{e:#}")));
    let ratio = |key: &str, theirs: &str| -> Value {
        match &reference {
            Ok(r) => json!(
                ours[key].as_f64().unwrap_or(f64::NAN)
                    / r["median"][theirs].as_f64().unwrap_or(f64::NAN)
            ),
            Err(_) => Value::Null,
        }
    };
    let burn_kernels: Vec<&str> = CpuKernel::ALL
        .into_iter()
        .filter(|&k| device.kind() == DeviceKind::Cuda || uses_burn(k))
        .map(CpuKernel::name)
        .collect();
    let report = json!({
        "device": device.to_string(),
        "cpu": cpu(),
        "burn_kernels": burn_kernels,
        "threads": threads,
        "reps": args.reps,
        "steps": args.steps,
        "epoch_images": args.epoch_images.unwrap_or(data.train.len()),
        "cifar_tui": { "reps": reps, "median": ours },
        "reference": reference.as_ref().ok(),
        "reference_missing": reference.as_ref().err(),
        "ratios": {
            "bare_step_vs_torch_nchw": ratio("bare_step", "bare_step"),
            "bare_step_vs_torch_channels_last": ratio("bare_step", "bare_step_cl"),
            "epoch_vs_notebook": ratio("epoch", "epoch"),
            "epoch_vs_torch_in_memory_channels_last": ratio("epoch", "epoch_mem_cl"),
            "eval_vs_notebook": ratio("eval", "eval"),
        },
    });

    println!(
        "\ncifar-tui bench: seed CNN, batch 64, {device} ({threads} threads), medians of {} reps",
        args.reps
    );
    let features: Vec<&str> = report["cpu"]["features"]
        .as_array()
        .map(|f| f.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    println!(
        "CPU: {} ({} cores; {})",
        report["cpu"]["model"].as_str().unwrap_or("?"),
        report["cpu"]["cores"],
        if features.is_empty() {
            "no vector extension detected".to_string()
        } else {
            features.join(", ")
        }
    );
    if !burn_kernels.is_empty() {
        println!("burn's own kernels for: {}", burn_kernels.join(", "));
    }
    let theirs = |k: &str| match &reference {
        Ok(r) => format!("{:>10.0}", r["median"][k].as_f64().unwrap_or(f64::NAN)),
        Err(_) => format!("{:>10}", "–"),
    };
    let x = |k: &str| match report["ratios"][k].as_f64() {
        Some(r) => format!("{r:>6.2}x"),
        None => format!("{:>7}", "–"),
    };
    println!(
        "{:<28} {:>10} {:>10} {:>7}",
        "img/s", "cifar-tui", "PyTorch", "ratio"
    );
    println!(
        "{:<28} {:>10.0} {} {}",
        "bare train step (NCHW)",
        ours["bare_step"].as_f64().unwrap_or(0.0),
        theirs("bare_step"),
        x("bare_step_vs_torch_nchw")
    );
    println!(
        "{:<28} {:>10} {} {}",
        "bare train step (chan-last)",
        "",
        theirs("bare_step_cl"),
        x("bare_step_vs_torch_channels_last")
    );
    println!(
        "{:<28} {:>10.0} {} {}",
        "epoch end to end",
        ours["epoch"].as_f64().unwrap_or(0.0),
        theirs("epoch"),
        x("epoch_vs_notebook")
    );
    println!(
        "{:<28} {:>10} {} {}",
        "epoch (torch in memory, CL)",
        "",
        theirs("epoch_mem_cl"),
        x("epoch_vs_torch_in_memory_channels_last")
    );
    println!(
        "{:<28} {:>10.0} {} {}",
        "evaluation (10k test)",
        ours["eval"].as_f64().unwrap_or(0.0),
        theirs("eval"),
        x("eval_vs_notebook")
    );
    if let Err(why) = &reference {
        println!("PyTorch reference: {why}");
    }
    let text = serde_json::to_string_pretty(&report)?;
    match &args.json {
        Some(path) => {
            crate::sys::write_whole(&[(path, text.as_bytes())])
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("JSON written to {}", path.display());
        }
        None => println!("{text}"),
    }
    Ok(())
}
