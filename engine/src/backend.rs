//! The backends (burn's `flex` on the CPU, `cuda` on NVIDIA GPUs, `wgpu` on the GPUs that
//! Vulkan, Metal or DX12 reach) and choosing between them.

use crate::events::{DeviceChoice, DeviceKind};
use burn::backend::Autodiff;
use burn::tensor::Tensor;

pub type Cpu = burn::backend::Flex;
pub type CpuAd = Autodiff<Cpu>;
pub type Gpu = burn::backend::Cuda;
pub type GpuAd = Autodiff<Gpu>;
pub type CudaDevice = burn::backend::cuda::CudaDevice;
pub type Wgpu = burn::backend::Wgpu;
pub type WgpuDevice = burn::backend::wgpu::WgpuDevice;
pub type WgpuAd = Autodiff<Wgpu>;

/// Why no GPU can be used, each with its fix. Parsed from what the CUDA stack said (its panic
/// messages: the runtime panics instead of returning errors), never from a guess.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GpuError {
    #[error("CIFAR_TUI_NO_CUDA is set. Fix: unset it to use the GPU")]
    Disabled,
    #[error(
        "no NVIDIA driver found (libcuda.so is not on the library path). Fix: install the NVIDIA \
         driver (`nvidia-smi` should list the GPU), or use --device cpu"
    )]
    NoDriver,
    #[error(
        "libcuda.so is CUDA's stub library, not the driver{}. Fix: remove the `stubs` folder from \
         LD_LIBRARY_PATH",
        .0.as_ref().map(|d| format!(" (found in {d})")).unwrap_or_default()
    )]
    StubDriver(Option<String>),
    #[error(
        "the NVIDIA driver is older than this CUDA build needs. Fix: update the driver, or use \
         --device cpu"
    )]
    OldDriver,
    #[error("the NVIDIA driver found no GPU. Fix: check `nvidia-smi`, or use --device cpu")]
    NoGpu,
    #[error("GPU {index} does not exist{}. Fix: pick one `nvidia-smi -L` lists", count_note(*.count))]
    NoSuchDevice { index: usize, count: Option<usize> },
    #[error(
        "NVRTC (libnvrtc.so, CUDA's runtime compiler) is not on the library path. Fix: install \
         the CUDA toolkit's nvrtc package (e.g. cuda-nvrtc-12-x) or add its lib folder to \
         LD_LIBRARY_PATH"
    )]
    NoNvrtc,
    #[error(
        "the GPU is out of memory ({0}). Fix: free it (`nvidia-smi` shows who holds it), use a \
         smaller batch, or --device cpu"
    )]
    OutOfMemory(String),
    #[error("CUDA failed: {0}. Fix: check `nvidia-smi`, or use --device cpu")]
    Other(String),
    #[error(
        "wgpu found no GPU (no Vulkan, Metal or DX12 adapter). Fix: install the GPU's Vulkan \
         driver (Linux: mesa-vulkan-drivers for AMD and Intel, the NVIDIA driver for NVIDIA), or \
         use --device cpu"
    )]
    NoWgpu,
}

fn count_note(count: Option<usize>) -> String {
    match count {
        Some(1) => " (this machine has 1 GPU: 0)".into(),
        Some(n) => format!(" (this machine has {n}: 0 to {})", n.saturating_sub(1)),
        None => String::new(),
    }
}

impl GpuError {
    /// The cause in a few words, for the CPU fallback notice.
    pub fn short(&self) -> String {
        match self {
            GpuError::Disabled => "CIFAR_TUI_NO_CUDA is set".into(),
            GpuError::NoDriver => "no NVIDIA driver found".into(),
            GpuError::StubDriver(_) => "libcuda.so is CUDA's stub, not the driver".into(),
            GpuError::OldDriver => "the NVIDIA driver is too old".into(),
            GpuError::NoGpu => "the NVIDIA driver found no GPU".into(),
            GpuError::NoSuchDevice { index, .. } => format!("GPU {index} does not exist"),
            GpuError::NoNvrtc => "NVRTC is not installed".into(),
            GpuError::OutOfMemory(_) => "the GPU is out of memory".into(),
            GpuError::Other(why) => format!("CUDA failed: {why}"),
            GpuError::NoWgpu => "wgpu found no GPU".into(),
        }
    }

    /// Names what the CUDA stack said, in the order it said it: the first message that names a
    /// cause wins (the thread that saw the failure panics first; the ones waiting on it report
    /// only a closed channel).
    pub fn classify(messages: &[String]) -> GpuError {
        let found = |needle: &str| messages.iter().any(|m| m.contains(needle));
        if found("Unable to dynamically load the \"cuda\"") {
            GpuError::NoDriver
        } else if found("CUDA_ERROR_STUB_LIBRARY") {
            GpuError::StubDriver(stubs_on_library_path())
        } else if found("CUDA_ERROR_INSUFFICIENT_DRIVER") || found("SYSTEM_DRIVER_MISMATCH") {
            GpuError::OldDriver
        } else if found("CUDA_ERROR_NO_DEVICE") {
            GpuError::NoGpu
        } else if found("CUDA_ERROR_INVALID_DEVICE") || found("invalid device ordinal") {
            GpuError::NoSuchDevice {
                index: 0,
                count: None,
            }
        } else if found("Unable to dynamically load the \"nvrtc\"") {
            GpuError::NoNvrtc
        } else if let Some(m) = messages.iter().find(|m| m.contains("OUT_OF_MEMORY")) {
            GpuError::OutOfMemory(first_line(m))
        } else {
            let cause = messages
                .iter()
                .find(|m| !m.contains("RecvError") && !m.contains("SendError"))
                .or(messages.first());
            GpuError::Other(cause.map_or("no answer".into(), |m| first_line(m)))
        }
    }

    /// One line a child process prints and its parent reads back: `<kind>\t<detail>`.
    fn to_line(&self) -> String {
        let (kind, detail) = match self {
            GpuError::Disabled => ("disabled", String::new()),
            GpuError::NoDriver => ("no-driver", String::new()),
            GpuError::StubDriver(d) => ("stub", d.clone().unwrap_or_default()),
            GpuError::OldDriver => ("old-driver", String::new()),
            GpuError::NoGpu => ("no-gpu", String::new()),
            GpuError::NoSuchDevice { index, count } => (
                "no-such-device",
                format!("{index} {}", count.map_or(String::new(), |c| c.to_string())),
            ),
            GpuError::NoNvrtc => ("no-nvrtc", String::new()),
            GpuError::OutOfMemory(d) => ("oom", d.clone()),
            GpuError::Other(d) => ("other", d.clone()),
            GpuError::NoWgpu => ("no-wgpu", String::new()),
        };
        format!("{kind}\t{}", detail.replace(['\n', '\t'], " "))
    }

    fn from_line(line: &str) -> GpuError {
        let (kind, detail) = line.split_once('\t').unwrap_or((line, ""));
        let detail = detail.to_string();
        match kind {
            "disabled" => GpuError::Disabled,
            "no-driver" => GpuError::NoDriver,
            "stub" => GpuError::StubDriver(Some(detail).filter(|d| !d.is_empty())),
            "old-driver" => GpuError::OldDriver,
            "no-gpu" => GpuError::NoGpu,
            "no-such-device" => {
                let mut parts = detail.split_whitespace().map(|p| p.parse().ok());
                GpuError::NoSuchDevice {
                    index: parts.next().flatten().unwrap_or(0),
                    count: parts.next().flatten(),
                }
            }
            "no-nvrtc" => GpuError::NoNvrtc,
            "oom" => GpuError::OutOfMemory(detail),
            "no-wgpu" => GpuError::NoWgpu,
            _ => GpuError::Other(detail),
        }
    }
}

impl GpuError {
    #[cfg(test)]
    fn index(&self) -> usize {
        match self {
            GpuError::NoSuchDevice { index, .. } => *index,
            _ => 0,
        }
    }
}

fn first_line(message: &str) -> String {
    message
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

/// The `stubs` folder on LD_LIBRARY_PATH that holds a libcuda.so, if any: named in the fix.
fn stubs_on_library_path() -> Option<String> {
    std::env::var("LD_LIBRARY_PATH")
        .ok()?
        .split(':')
        .find(|dir| dir.contains("stubs") && std::path::Path::new(dir).join("libcuda.so").exists())
        .map(str::to_string)
}

/// Where a run trains: the CPU, one CUDA GPU by its number, or one wgpu adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Cpu,
    Gpu(usize),
    Wgpu(WgpuKind),
}

impl Place {
    /// The kind of device, as runs record it.
    pub fn kind(self) -> DeviceKind {
        match self {
            Place::Cpu => DeviceKind::Cpu,
            Place::Gpu(_) => DeviceKind::Cuda,
            Place::Wgpu(_) => DeviceKind::Wgpu,
        }
    }

    /// The GPU's name, where its backend gives one (wgpu's adapters): "Apple M2 (Metal)".
    pub fn gpu_name(self) -> Option<String> {
        match self {
            Place::Wgpu(kind) => adapters()
                .iter()
                .find(|a| a.kind == kind)
                .map(Adapter::label),
            Place::Cpu | Place::Gpu(_) => None,
        }
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Cpu => f.write_str("cpu"),
            Place::Gpu(n) => write!(f, "cuda:{n}"),
            Place::Wgpu(_) => f.write_str("wgpu"),
        }
    }
}

/// Which wgpu adapter, as burn's `WgpuDevice` reaches it: the n-th of its type, in the order
/// the graphics API lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WgpuKind {
    Discrete(usize),
    Integrated(usize),
    Virtual(usize),
    /// A software rasterizer on the CPU (Mesa's lavapipe, SwiftShader, WARP).
    Software,
}

impl WgpuKind {
    pub fn device(self) -> WgpuDevice {
        match self {
            WgpuKind::Discrete(n) => WgpuDevice::DiscreteGpu(n),
            WgpuKind::Integrated(n) => WgpuDevice::IntegratedGpu(n),
            WgpuKind::Virtual(n) => WgpuDevice::VirtualGpu(n),
            WgpuKind::Software => WgpuDevice::Cpu,
        }
    }
}

/// A GPU that wgpu reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adapter {
    /// As its driver names it ("Apple M2", "AMD Radeon RX 7600 (RADV NAVI33)", "llvmpipe ...").
    pub name: String,
    /// The graphics API: Vulkan, Metal or Dx12.
    pub api: String,
    pub kind: WgpuKind,
    pub software: bool,
}

impl Adapter {
    /// How the header and the notices name it: "Apple M2 (Metal)".
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.api)
    }

    /// One line a lister process prints and its parent reads back: `kind\tindex\tapi\tname`.
    fn to_line(&self) -> String {
        let (kind, index) = match self.kind {
            WgpuKind::Discrete(n) => ("discrete", n),
            WgpuKind::Integrated(n) => ("integrated", n),
            WgpuKind::Virtual(n) => ("virtual", n),
            WgpuKind::Software => ("software", 0),
        };
        let clean = |s: &str| s.replace(['\t', '\n'], " ");
        format!(
            "{kind}\t{index}\t{}\t{}",
            clean(&self.api),
            clean(&self.name)
        )
    }

    fn from_line(line: &str) -> Option<Adapter> {
        let mut parts = line.splitn(4, '\t');
        let (kind, index) = (parts.next()?, parts.next()?.parse().ok()?);
        let (api, name) = (parts.next()?.to_string(), parts.next()?.to_string());
        let kind = match kind {
            "discrete" => WgpuKind::Discrete(index),
            "integrated" => WgpuKind::Integrated(index),
            "virtual" => WgpuKind::Virtual(index),
            "software" => WgpuKind::Software,
            _ => return None,
        };
        Some(Adapter {
            name,
            api,
            kind,
            software: kind == WgpuKind::Software,
        })
    }
}

/// The adapters of the platform's graphics API (Vulkan on Linux, Metal on macOS, DX12 on
/// Windows: what burn's wgpu backend uses), best first: discrete, integrated, virtual, software.
pub fn wgpu_adapters() -> Vec<Adapter> {
    use burn::backend::wgpu::graphics::{AutoGraphicsApi, GraphicsApi};
    let api = AutoGraphicsApi::backend();
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: api.into(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let mut seen = [0usize; 3];
    let mut next = |slot: usize| {
        seen[slot] += 1;
        seen[slot] - 1
    };
    let mut found: Vec<Adapter> = block_on(instance.enumerate_adapters(api.into()))
        .into_iter()
        .filter_map(|adapter| {
            let info = adapter.get_info();
            let kind = match info.device_type {
                wgpu::DeviceType::DiscreteGpu => WgpuKind::Discrete(next(0)),
                wgpu::DeviceType::IntegratedGpu => WgpuKind::Integrated(next(1)),
                wgpu::DeviceType::VirtualGpu => WgpuKind::Virtual(next(2)),
                wgpu::DeviceType::Cpu => WgpuKind::Software,
                // burn reaches these only as a last resort, by no name of their own.
                wgpu::DeviceType::Other => return None,
            };
            Some(Adapter {
                name: info.name,
                api: format!("{:?}", info.backend),
                kind,
                software: kind == WgpuKind::Software,
            })
        })
        .collect();
    found.sort_by_key(|a| match a.kind {
        WgpuKind::Discrete(n) => (0, n),
        WgpuKind::Integrated(n) => (1, n),
        WgpuKind::Virtual(n) => (2, n),
        WgpuKind::Software => (3, 0),
    });
    found
}

/// Waits for a future that native wgpu answers at once (adapter enumeration).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

/// The environment variable that turns a process into a wgpu adapter lister.
const WGPU_PROBE_VAR: &str = "CIFAR_ENGINE_LIST_WGPU";

/// The adapters, listed once per process, in a child process where the program serves probes:
/// graphics drivers print to stderr as they load (Mesa: "XDG_RUNTIME_DIR is invalid"), which
/// would land on the interface's screen.
fn adapters() -> &'static [Adapter] {
    static ADAPTERS: std::sync::OnceLock<Vec<Adapter>> = std::sync::OnceLock::new();
    ADAPTERS.get_or_init(|| match CHILD_PROBES.get() {
        Some(()) => adapters_from_child(),
        None => wgpu_adapters(),
    })
}

fn adapters_from_child() -> Vec<Adapter> {
    let Ok(exe) = std::env::current_exe() else {
        return Vec::new();
    };
    let out = std::process::Command::new(exe)
        .env(WGPU_PROBE_VAR, "1")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    match out {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(Adapter::from_line)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// What `--device wgpu` picks: the best adapter, with a word when it is a software one.
fn wgpu_choice(found: &[Adapter]) -> Result<(Place, Option<String>), GpuError> {
    let best = found.first().ok_or(GpuError::NoWgpu)?;
    let note = if best.software {
        format!(
            "training on {} through wgpu: a software GPU on the CPU, far slower than --device \
             cpu (no hardware GPU answered)",
            best.label()
        )
    } else {
        format!("training on {} through wgpu", best.label())
    };
    Ok((Place::Wgpu(best.kind), Some(note)))
}

/// What `auto` picks once CUDA said `why` not: a hardware wgpu adapter, never a software one
/// (it is far slower than the CPU), else the CPU; and says which and why.
fn auto_without_cuda(why: &GpuError, found: &[Adapter]) -> (Place, Option<String>) {
    let cuda = why.short();
    match found.iter().find(|a| !a.software) {
        Some(a) => (
            Place::Wgpu(a.kind),
            Some(format!("{cuda}; training on {} through wgpu", a.label())),
        ),
        None => {
            let wgpu = match found.first() {
                Some(soft) => format!("wgpu has only {}, a software GPU", soft.name),
                None => "wgpu found no GPU".into(),
            };
            (
                Place::Cpu,
                Some(format!("{cuda}; {wgpu}; training on the CPU")),
            )
        }
    }
}

/// Turns a choice into a place to train. `auto` tries CUDA, then a hardware GPU through wgpu,
/// then the CPU, with a one-line notice naming what it picked and why; `cuda:all` gives each
/// call the next GPU in turn.
pub fn select(choice: DeviceChoice) -> Result<(Place, Option<String>), GpuError> {
    static TURN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    match choice {
        DeviceChoice::Cpu => Ok((Place::Cpu, None)),
        DeviceChoice::Cuda(index) => probe(index).map(|_| (Place::Gpu(index), None)),
        DeviceChoice::CudaAll => {
            let count = probe(0)?;
            let index = in_turn(&TURN, count);
            if index != 0 {
                probe(index)?;
            }
            Ok((Place::Gpu(index), None))
        }
        DeviceChoice::Wgpu => wgpu_choice(adapters()),
        DeviceChoice::Auto => Ok(match probe(0) {
            Ok(_) => (Place::Gpu(0), None),
            Err(why) => auto_without_cuda(&why, adapters()),
        }),
    }
}

/// The next of `count` GPUs, round the `turn` counter.
fn in_turn(turn: &std::sync::atomic::AtomicUsize, count: usize) -> usize {
    turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % count.max(1)
}

/// Keeps the GPU's kernel choices (autotune) and compiled kernels under `dir`, so that only a
/// machine's first run pays for them, wherever cifar-tui is started from. (cubecl's default is
/// the `target/` folder of the nearest Cargo.toml above the working directory, else a user
/// folder: the same binary tuned anew in each project folder.) Call before anything touches the
/// GPU; a `cubecl.toml` the person wrote wins, and `CUBECL_*` variables still apply.
pub fn keep_gpu_caches_in(dir: &std::path::Path) {
    use burn::cubecl::config::cache::CacheConfig;
    use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
    let written_by_hand = std::env::current_dir().ok().is_some_and(|cwd| {
        cwd.ancestors().any(|d| {
            ["cubecl.toml", "CubeCL.toml"]
                .iter()
                .any(|f| d.join(f).exists())
        })
    });
    if written_by_hand {
        return;
    }
    let mut config = CubeClRuntimeConfig::default();
    config.autotune.cache = CacheConfig::File(dir.join("autotune"));
    config.compilation.cache = Some(CacheConfig::File(dir.join("kernels")));
    // `set` panics once the configuration has been read or set: then it is too late anyway.
    if CubeClRuntimeConfig::storage().lock().is_none() {
        CubeClRuntimeConfig::set(config.override_from_env());
    }
}

/// The environment variable that turns a process into a GPU probe (see [`serve_probe`]).
const PROBE_VAR: &str = "CIFAR_ENGINE_PROBE_GPU";
/// Set once a program has offered to serve probes: only then are probes run in a child.
static CHILD_PROBES: std::sync::OnceLock<()> = std::sync::OnceLock::new();

/// Call first thing in `main`: when this process was started as a GPU probe, probes, prints
/// the answer and exits; otherwise lets [`select`] probe in a child process from now on.
///
/// The CUDA runtime reports a missing or broken driver by panicking, on threads of its own, and
/// can hang or crash the process. A child process keeps all of that away from the caller: no
/// panic hook of the caller's is swapped (a panic elsewhere in that window would skip the
/// terminal's restore) and nothing of the child's is printed.
pub fn serve_probe() {
    if std::env::var_os(WGPU_PROBE_VAR).is_some() {
        for a in wgpu_adapters() {
            println!("{}", a.to_line());
        }
        std::process::exit(0);
    }
    if let Some(index) = std::env::var_os(PROBE_VAR) {
        let index = index.to_str().and_then(|i| i.parse().ok()).unwrap_or(0);
        match probe_here(index) {
            Ok(count) => println!("ok\t{count}"),
            Err(e) => println!("err\t{}", e.to_line()),
        }
        std::process::exit(0);
    }
    let _ = CHILD_PROBES.set(());
}

/// Whether GPU `index` answers a tiny computation; if so, how many GPUs the driver shows.
pub fn probe(index: usize) -> Result<usize, GpuError> {
    if std::env::var_os("CIFAR_TUI_NO_CUDA").is_some() {
        return Err(GpuError::Disabled);
    }
    let answer = match CHILD_PROBES.get() {
        Some(()) => probe_in_child(index),
        // Test binaries and programs that never called `serve_probe`.
        None => probe_here(index),
    };
    if let Ok(count) = answer {
        GPU_COUNT.store(count, std::sync::atomic::Ordering::Relaxed);
    }
    answer
}

/// How many GPUs the driver showed the last probe that answered; 0 before any.
static GPU_COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many GPUs the driver shows: as the last answered probe said, else probed now; 1 when
/// none answers.
pub fn gpu_count() -> usize {
    match GPU_COUNT.load(std::sync::atomic::Ordering::Relaxed) {
        0 => probe(0).unwrap_or(1).max(1),
        known => known,
    }
}

fn probe_in_child(index: usize) -> Result<usize, GpuError> {
    let exe = std::env::current_exe().map_err(|e| GpuError::Other(e.to_string()))?;
    let mut child = std::process::Command::new(exe)
        .env(PROBE_VAR, index.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| GpuError::Other(format!("cannot start the GPU probe: {e}")))?;
    // A driver that hangs must not hang the app.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(GpuError::Other("CUDA did not answer within 90 s".into()));
            }
        }
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
    }
    parse_answer(&out, index, status.success())
}

fn parse_answer(out: &str, index: usize, exited_cleanly: bool) -> Result<usize, GpuError> {
    match out.lines().next() {
        Some(line) if line == "ok" || line.starts_with("ok\t") => {
            Ok(line[2..].trim().parse().unwrap_or(1).max(1))
        }
        Some(line) if line.starts_with("err\t") => Err(match GpuError::from_line(&line[4..]) {
            GpuError::NoSuchDevice { count, .. } => GpuError::NoSuchDevice { index, count },
            e => e,
        }),
        _ if exited_cleanly => Err(GpuError::Other("the GPU probe gave no answer".into())),
        _ => Err(GpuError::Other(
            "the GPU probe crashed (the driver or CUDA runtime failed)".into(),
        )),
    }
}

/// Runs one tiny computation on GPU `index` in this process, collecting every panic message the
/// CUDA stack produces meanwhile. Swaps the process's panic hook: meant for a probe process.
fn probe_here(index: usize) -> Result<usize, GpuError> {
    use std::sync::{Arc, Mutex};
    if std::env::var_os("CIFAR_TUI_NO_CUDA").is_some() {
        return Err(GpuError::Disabled);
    }
    // The hook is process-wide: one probe at a time, or one would hear another's panics.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let said = Arc::new(Mutex::new(Vec::<String>::new()));
    let hook = std::panic::take_hook();
    let sink = Arc::clone(&said);
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("a CUDA thread panicked");
        if let Ok(mut said) = sink.lock() {
            said.push(message.to_string());
        }
    }));
    // An element-wise op, not a reduction: a reduction would be autotuned on a fresh machine,
    // seconds before the probe could answer.
    let result = std::panic::catch_unwind(|| {
        let device = CudaDevice::new(index);
        let x = Tensor::<Gpu, 1>::ones([4], &device);
        let y: Vec<f32> = (x.clone() + x).into_data().to_vec().unwrap_or_default();
        y.iter().sum::<f32>()
    });
    std::panic::set_hook(hook);
    let said = said.lock().map(|s| s.clone()).unwrap_or_default();
    match result {
        Ok(8.0) => Ok(<Gpu as burn::tensor::backend::Backend>::device_count(0).max(1)),
        Ok(v) => Err(GpuError::Other(format!(
            "1 + 1 on the GPU summed to {v}, expected 8"
        ))),
        Err(_) => Err(match GpuError::classify(&said) {
            GpuError::NoSuchDevice { count, .. } => GpuError::NoSuchDevice { index, count },
            e => e,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_available_and_auto_never_fails() {
        assert_eq!(select(DeviceChoice::Cpu).unwrap(), (Place::Cpu, None));
        let (place, notice) = select(DeviceChoice::Auto).unwrap();
        // On a machine without a GPU (CI), auto must fall back with a notice naming the cause.
        if place == Place::Cpu {
            let notice = notice.unwrap();
            assert!(notice.ends_with("; training on the CPU"), "{notice}");
            assert!(!notice.contains("RecvError"), "{notice}");
        }
    }

    #[test]
    fn a_machine_without_a_driver_says_so_not_recv_error() {
        if std::path::Path::new("/proc/driver/nvidia").exists() {
            return; // a GPU machine: nothing to check here
        }
        let e = probe_here(0).unwrap_err();
        assert_eq!(e, GpuError::NoDriver, "{e}");
        let (place, notice) = select(DeviceChoice::Auto).unwrap();
        let notice = notice.unwrap();
        assert!(notice.starts_with("no NVIDIA driver found; "), "{notice}");
        if place == Place::Cpu {
            assert!(notice.ends_with("; training on the CPU"), "{notice}");
        }
        for asked in [
            DeviceChoice::Cuda(0),
            DeviceChoice::Cuda(3),
            DeviceChoice::CudaAll,
        ] {
            let e = select(asked).unwrap_err().to_string();
            assert!(
                e.starts_with("no NVIDIA driver found") && e.contains("Fix: install"),
                "{e}"
            );
        }
    }

    fn adapter(name: &str, kind: WgpuKind) -> Adapter {
        Adapter {
            name: name.into(),
            api: "Vulkan".into(),
            kind,
            software: kind == WgpuKind::Software,
        }
    }

    /// `auto` without CUDA: a hardware GPU through wgpu, never a software one (the CPU then),
    /// saying which and why; `wgpu` takes the best there is and warns of a software one.
    #[test]
    fn auto_tries_cuda_then_a_hardware_wgpu_gpu_then_the_cpu() {
        let lavapipe = adapter("llvmpipe (LLVM 15.0.6, 256 bits)", WgpuKind::Software);
        let radeon = adapter("AMD Radeon 780M", WgpuKind::Integrated(0));
        let none = GpuError::NoDriver;
        assert_eq!(
            auto_without_cuda(&none, std::slice::from_ref(&lavapipe)),
            (
                Place::Cpu,
                Some(
                    "no NVIDIA driver found; wgpu has only llvmpipe (LLVM 15.0.6, 256 bits), a \
                     software GPU; training on the CPU"
                        .into()
                )
            )
        );
        assert_eq!(
            auto_without_cuda(&none, &[radeon.clone(), lavapipe.clone()]),
            (
                Place::Wgpu(WgpuKind::Integrated(0)),
                Some(
                    "no NVIDIA driver found; training on AMD Radeon 780M (Vulkan) through wgpu"
                        .into()
                )
            )
        );
        assert_eq!(
            auto_without_cuda(&none, &[]).1.as_deref(),
            Some("no NVIDIA driver found; wgpu found no GPU; training on the CPU")
        );
        let (place, note) = wgpu_choice(std::slice::from_ref(&lavapipe)).unwrap();
        assert_eq!(place, Place::Wgpu(WgpuKind::Software));
        assert!(note.unwrap().contains("far slower than --device cpu"));
        assert_eq!(wgpu_choice(&[]), Err(GpuError::NoWgpu));
        assert_eq!(Place::Wgpu(WgpuKind::Software).kind(), DeviceKind::Wgpu);
        // What a lister process prints, its parent reads back.
        for a in [lavapipe, radeon] {
            assert_eq!(Adapter::from_line(&a.to_line()), Some(a));
        }
        assert_eq!(Adapter::from_line("garbage"), None);
        assert_eq!(WgpuKind::Discrete(1).device(), WgpuDevice::DiscreteGpu(1));
    }

    #[test]
    fn cuda_all_deals_the_gpus_in_turn_and_the_probe_says_how_many() {
        let turn = std::sync::atomic::AtomicUsize::new(0);
        let dealt: Vec<usize> = (0..7).map(|_| in_turn(&turn, 3)).collect();
        assert_eq!(dealt, [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(in_turn(&turn, 0), 0, "no count: GPU 0");
        assert_eq!(parse_answer("ok\t4\n", 0, true), Ok(4));
        assert_eq!(
            parse_answer("ok\n", 0, true),
            Ok(1),
            "an older probe's answer"
        );
        assert_eq!(
            parse_answer("err\tno-such-device\t0 2\n", 5, true),
            Err(GpuError::NoSuchDevice {
                index: 5,
                count: Some(2)
            })
        );
        assert_eq!(Place::Gpu(2).to_string(), "cuda:2");
        assert_eq!(Place::Gpu(2).kind(), DeviceKind::Cuda);
    }

    fn said(messages: &[&str]) -> GpuError {
        GpuError::classify(&messages.iter().map(|m| m.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn the_cause_is_the_first_message_that_names_one_not_the_closed_channel() {
        let recv = "called `Result::unwrap()` on an `Err` value: RecvError";
        assert_eq!(
            said(&[
                recv,
                "Unable to dynamically load the \"cuda\" shared library - searched for ..."
            ]),
            GpuError::NoDriver
        );
        assert_eq!(
            said(&["DriverError(CUDA_ERROR_STUB_LIBRARY, \"CUDA driver is a stub library\")"]),
            GpuError::StubDriver(stubs_on_library_path())
        );
        assert_eq!(
            said(&[
                "DriverError(CUDA_ERROR_NO_DEVICE, \"no CUDA-capable device\")",
                recv
            ]),
            GpuError::NoGpu
        );
        assert_eq!(
            said(&["DriverError(CUDA_ERROR_INVALID_DEVICE, \"invalid device ordinal\")"]),
            GpuError::NoSuchDevice {
                index: 0,
                count: None
            }
        );
        assert_eq!(
            said(&["Unable to dynamically load the \"nvrtc\" shared library"]),
            GpuError::NoNvrtc
        );
        assert_eq!(
            said(&["DriverError(CUDA_ERROR_INSUFFICIENT_DRIVER, \"...\")"]),
            GpuError::OldDriver
        );
        assert!(matches!(
            said(&["DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")\nmore"]),
            GpuError::OutOfMemory(m) if m == "DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")"
        ));
        // Only a closed channel: say what there is, never an empty cause.
        assert_eq!(said(&[recv]), GpuError::Other(recv.into()));
        assert_eq!(said(&[]), GpuError::Other("no answer".into()));
    }

    #[test]
    fn every_message_is_one_line_with_a_fix() {
        let all = [
            GpuError::Disabled,
            GpuError::NoDriver,
            GpuError::StubDriver(Some("/usr/local/cuda/lib64/stubs".into())),
            GpuError::StubDriver(None),
            GpuError::OldDriver,
            GpuError::NoGpu,
            GpuError::NoSuchDevice {
                index: 3,
                count: Some(2),
            },
            GpuError::NoNvrtc,
            GpuError::OutOfMemory("CUDA_ERROR_OUT_OF_MEMORY".into()),
            GpuError::Other("boom".into()),
            GpuError::NoWgpu,
        ];
        for e in &all {
            let text = e.to_string();
            assert!(text.contains("Fix: ") && !text.contains('\n'), "{text}");
            // What a probe process prints, its parent reads back unchanged.
            let back = parse_answer(&format!("err\t{}\n", e.to_line()), e.index(), true);
            assert_eq!(back.unwrap_err(), *e);
        }
        assert_eq!(
            all[6].to_string(),
            "GPU 3 does not exist (this machine has 2: 0 to 1). Fix: pick one `nvidia-smi -L` lists"
        );
        assert!(
            all[2]
                .to_string()
                .contains("(found in /usr/local/cuda/lib64/stubs)")
        );
        assert_eq!(parse_answer("ok\n", 0, true), Ok(1));
        assert!(
            parse_answer("", 0, false)
                .unwrap_err()
                .to_string()
                .contains("crashed")
        );
    }

    #[test]
    fn gpu_caches_go_under_the_given_folder() {
        use burn::cubecl::config::cache::CacheConfig;
        use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
        let dir = std::path::Path::new("/tmp/cifar-tui-test-cache/gpu");
        keep_gpu_caches_in(dir);
        let config = CubeClRuntimeConfig::get();
        assert!(
            matches!(&config.autotune.cache, CacheConfig::File(p) if p == &dir.join("autotune")),
            "{:?}",
            config.autotune.cache
        );
        assert!(
            matches!(&config.compilation.cache, Some(CacheConfig::File(p)) if p == &dir.join("kernels")),
            "{:?}",
            config.compilation.cache
        );
        // A second call (the configuration is in use by now) changes nothing and does not panic.
        keep_gpu_caches_in(std::path::Path::new("/elsewhere"));
        assert!(
            matches!(&CubeClRuntimeConfig::get().autotune.cache, CacheConfig::File(p) if p == &dir.join("autotune"))
        );
    }
}
