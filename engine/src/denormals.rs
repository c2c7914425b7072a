//! Flush-to-zero for every thread that does float work.
//!
//! Weight decay drives many values into the subnormal range, where x86 arithmetic takes
//! microcode slow paths: PyTorch ran the seed's `weight_decay` scenario 4.6x slower without
//! flush-to-zero on our machines (shared/notes/denormals.md). The MXCSR flags are per thread,
//! so the training thread and every worker of the pool the CPU backend uses must set them.
#![allow(unsafe_code)]

/// Whether flushing is on; `CIFAR_TUI_KEEP_DENORMALS=1` turns it off, to measure its effect.
pub fn enabled() -> bool {
    std::env::var_os("CIFAR_TUI_KEEP_DENORMALS").is_none()
}

/// Runs `f` with subnormal inputs and results flushed to zero on this thread.
pub fn flushed<R>(f: impl FnOnce() -> R) -> R {
    if !enabled() {
        return f();
    }
    // SAFETY: the flags only change how subnormal floats round (to zero), which is what we
    // want for training; the guard restores the previous MXCSR when `f` returns. Rust code
    // compiled for the default FP environment keeps working, with those values flushed.
    unsafe { no_denormals::no_denormals(f) }
}

/// Builds rayon's global pool (which burn's `flex` backend and gemm use) with flushing workers.
/// Must run before anything touches rayon; later calls do nothing.
pub fn install_pool() {
    let built = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("flex-{i}"))
        .spawn_handler(|thread| {
            let mut b = std::thread::Builder::new();
            if let Some(name) = thread.name() {
                b = b.name(name.to_owned());
            }
            b.spawn(|| flushed(|| thread.run()))?;
            Ok(())
        })
        .build_global();
    if let Err(e) = built {
        tracing::debug!("rayon pool already built: {e}");
    }
}
