//! The GPU probe never swaps this process's panic hook (issue 10, item 18). The app's hook
//! restores the terminal; a panic anywhere in the app while a probe runs must still reach it.
//! Its own `main` (no test harness): the probe runs in a child, which is this very program
//! started again, and `serve_probe` must be the first thing that program does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static HEARD: AtomicUsize = AtomicUsize::new(0);
const PROBES: usize = 40;

fn main() {
    // In the child: probe, print the answer, exit.
    cifar_engine::backend::serve_probe();
    if std::env::var_os("CIFAR_TUI_NO_CUDA").is_some() {
        println!("probe_hook: skipped, CIFAR_TUI_NO_CUDA is set (the probe would not run)");
        return;
    }
    std::panic::set_hook(Box::new(|_| {
        HEARD.fetch_add(1, Ordering::SeqCst);
    }));
    // Panics raised elsewhere in the app, one after another, for as long as the probe runs.
    let probing = Arc::new(AtomicBool::new(true));
    let still = Arc::clone(&probing);
    let elsewhere = std::thread::spawn(move || {
        let mut raised = 0usize;
        while raised == 0 || still.load(Ordering::SeqCst) {
            let _ = std::panic::catch_unwind(|| panic!("a panic elsewhere in the app"));
            raised += 1;
        }
        raised
    });
    // Many probes: a probe that swapped the hook in this process would do so for a few
    // milliseconds each time, and at least one of these panics would fall in such a window.
    let answers: Vec<_> = (0..PROBES)
        .map(|_| cifar_engine::backend::probe(0))
        .collect();
    let answer = &answers[0];
    probing.store(false, Ordering::SeqCst);
    let raised = elsewhere
        .join()
        .expect("the panicking thread catches its panics");
    drop(std::panic::take_hook());
    let heard = HEARD.load(Ordering::SeqCst);
    assert_eq!(
        heard,
        raised,
        "{} of {raised} panics during the GPU probe missed the app's panic hook",
        raised - heard
    );
    println!(
        "probe_hook: ok, {PROBES} probes answered {answer:?}; all {raised} panics raised \
         meanwhile reached the app's hook"
    );
}
