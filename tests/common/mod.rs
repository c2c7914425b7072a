//! What the integration tests share: a tiny synthetic CIFAR-10 copy.

use std::path::{Path, PathBuf};

/// Bytes of one record: a label and 32x32x3 pixels.
#[allow(dead_code)] // each test crate compiles this module; not every one corrupts records
pub const RECORD: usize = 3073;

/// A valid data set: 10,000 records per file, labels cycling 0..9, each class its own colour
/// (so a few epochs on a few hundred images learn something).
pub fn write_data(dir: &Path) -> PathBuf {
    let out = dir.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&out).unwrap();
    let mut bytes = Vec::with_capacity(10_000 * RECORD);
    for i in 0..10_000usize {
        let label = (i % 10) as u8;
        bytes.push(label);
        for c in 0..3u32 {
            let level = 40 + 88 * ((label as u32 / 3u32.pow(c)) % 3);
            bytes.extend((0..1024u32).map(|p| (level + (p * 7 + i as u32) % 32) as u8));
        }
    }
    for name in [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
        "test_batch.bin",
    ] {
        std::fs::write(out.join(name), &bytes).unwrap();
    }
    out
}
