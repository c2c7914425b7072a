//! Histories made up for tests: runs of the presets, recorded through a real (in-memory)
//! store as training would record them.

use std::path::{Path, PathBuf};

use crate::run::Run;
use crate::run::fixtures::{outcome, train_points};
use crate::store::Store;
use crate::store::runs::Curves;
use cifar_engine::config::Hyper;
use cifar_engine::tricks::{self, PRESETS};

/// Stored runs of the first `n` presets, accuracy rising with the preset.
pub(crate) fn stored(n: usize) -> Vec<Run> {
    let mut s = Store::in_memory();
    for (i, p) in PRESETS.iter().take(n).enumerate() {
        let cfg = tricks::resolve(&p.trick_set(), &Hyper::default());
        let id = s.insert(p.name, &cfg).unwrap();
        s.start(id, "cpu").unwrap();
        let o = outcome(0.6 + 0.01 * i as f64, 3);
        for e in &o.epochs {
            s.record_epoch(id, e, Curves::points(&train_points(&[2.0, 1.5, 1.2]), 20))
                .unwrap();
        }
        s.finish(id, &o).unwrap();
    }
    s.list().unwrap()
}

/// The first `presets` presets on each of `seeds` (seed-major), accuracy rising with the
/// preset and a little with the seed; run ids from 1 in training order.
pub(crate) fn stored_seeds(presets: usize, seeds: &[u64]) -> Vec<Run> {
    let mut s = Store::in_memory();
    for (k, &seed) in seeds.iter().enumerate() {
        for (i, p) in PRESETS.iter().take(presets).enumerate() {
            let mut cfg = tricks::resolve(&p.trick_set(), &Hyper::default());
            cfg.seed = seed;
            let id = s.insert(p.name, &cfg).unwrap();
            s.start(id, "cpu").unwrap();
            let o = outcome(0.6 + 0.01 * i as f64 + 0.002 * k as f64, 3);
            for e in &o.epochs {
                s.record_epoch(id, e, Curves::points(&train_points(&[2.0, 1.5, 1.2]), 20))
                    .unwrap();
            }
            s.finish(id, &o).unwrap();
        }
    }
    s.list().unwrap()
}

/// `chattr +i` on a path for the life of the guard; `None` where the file system or the
/// process's capabilities do not allow it.
pub(crate) struct Immutable(PathBuf);

impl Immutable {
    pub(crate) fn set(path: &Path) -> Option<Immutable> {
        let ok = std::process::Command::new("chattr")
            .arg("+i")
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Immutable(path.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}
