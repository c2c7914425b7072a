//! CIFAR-10's official binary layout, parsed once into memory as u8.

use std::path::{Path, PathBuf};

/// Class names, in label order.
pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Bytes of one image: 32x32 pixels, the R plane, then G, then B.
pub const IMAGE_BYTES: usize = 3 * 32 * 32;
/// One record: a label byte followed by the image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// Records in each official batch file.
pub const RECORDS_PER_FILE: usize = 10_000;
/// The folder the official archive unpacks to.
pub const BATCHES_DIR: &str = "cifar-10-batches-bin";
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
pub const TEST_FILE: &str = "test_batch.bin";

/// What is wrong with the data. The fix for a damaged file depends on whose folder it is (see
/// [`super::DataError`]), so those messages stop at the diagnosis.
#[derive(Debug, thiserror::Error)]
pub enum CifarError {
    #[error(
        "CIFAR-10 not found: {dir} holds neither {BATCHES_DIR}/ nor its batch files. \
         Fix: point --data (or data_dir in config.toml) at the folder that holds {BATCHES_DIR}/, \
         or leave it unset to download into the cache"
    )]
    NotFound { dir: PathBuf },
    #[error("missing {path}: expected the CIFAR-10 binary batch {name}")]
    Missing { path: PathBuf, name: &'static str },
    #[error("{path} is a symbolic link to {target}, which does not exist")]
    DanglingLink { path: PathBuf, target: PathBuf },
    #[error(
        "{path} is {what}, not the CIFAR-10 binary batch {name}: only files (or links to \
         them) are read"
    )]
    NotAFile {
        path: PathBuf,
        name: &'static str,
        what: &'static str,
    },
    #[error(
        "{path} is {actual} bytes, expected {expected} ({RECORDS_PER_FILE} records of 1 label \
         byte + {IMAGE_BYTES} pixel bytes): the file is {what}"
    )]
    WrongSize {
        path: PathBuf,
        actual: u64,
        expected: u64,
        what: &'static str,
    },
    #[error(
        "{path}: record {record} has label {label}, expected 0..9; this is not CIFAR-10's binary \
         layout (CIFAR-100 has two label bytes). Fix: use cifar-10-binary.tar.gz"
    )]
    BadLabel {
        path: PathBuf,
        record: usize,
        label: u8,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl CifarError {
    /// Whether the message still needs the fix for a damaged copy (the others carry their own).
    pub fn needs_fix(&self) -> bool {
        !matches!(
            self,
            CifarError::NotFound { .. } | CifarError::BadLabel { .. }
        )
    }
}

/// Images and labels of one split, as stored on disk: `images` holds `len() * IMAGE_BYTES` bytes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Split {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

/// Per-channel mean and standard deviation of pixel values scaled to [0,1].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChannelStats {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image `i`'s pixels: its red, green and blue planes of 32x32, in that order.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES]
    }

    /// The first `n` images (all of them when `n` is larger).
    pub fn head(&self, n: usize) -> Split {
        let n = n.min(self.len());
        Split {
            images: self.images[..n * IMAGE_BYTES].to_vec(),
            labels: self.labels[..n].to_vec(),
        }
    }

    /// The last `n` images (all of them when `n` is larger).
    pub fn tail(&self, n: usize) -> Split {
        let from = self.len() - n.min(self.len());
        Split {
            images: self.images[from * IMAGE_BYTES..].to_vec(),
            labels: self.labels[from..].to_vec(),
        }
    }

    /// How many of the ten classes have at least one image here.
    pub fn classes_present(&self) -> usize {
        let mut seen = [false; CLASSES.len()];
        for &l in &self.labels {
            if let Some(s) = seen.get_mut(l as usize) {
                *s = true;
            }
        }
        seen.iter().filter(|&&s| s).count()
    }

    /// Mean and std per channel, accumulated in f64 so 150 M pixels lose nothing.
    pub fn channel_stats(&self) -> ChannelStats {
        let mut sum = [0f64; 3];
        let mut sq = [0f64; 3];
        for image in self.images.chunks_exact(IMAGE_BYTES) {
            for (c, plane) in image.chunks_exact(IMAGE_BYTES / 3).enumerate() {
                // Integer sums per plane are exact and much faster than f64 per pixel.
                let (s, q) = plane.iter().fold((0u64, 0u64), |(s, q), &p| {
                    (s + p as u64, q + (p as u64) * (p as u64))
                });
                sum[c] += s as f64;
                sq[c] += q as f64;
            }
        }
        let n = (self.len() * IMAGE_BYTES / 3).max(1) as f64;
        let mut stats = ChannelStats {
            mean: [0.0; 3],
            std: [1.0; 3],
        };
        for c in 0..3 {
            let mean = sum[c] / n / 255.0;
            let var = (sq[c] / n / (255.0 * 255.0) - mean * mean).max(0.0);
            stats.mean[c] = mean as f32;
            stats.std[c] = (var.sqrt() as f32).max(1e-6);
        }
        stats
    }
}

/// The whole data set, in memory.
#[derive(Clone, Debug, Default)]
pub struct Cifar10 {
    pub train: Split,
    pub test: Split,
    fingerprint: std::sync::OnceLock<String>,
}

/// One image in this many is read for [`Cifar10::fingerprint`]: every pixel took 2.5 s in a
/// test build, and another copy of CIFAR-10 (re-encoded, damaged, another data set) differs in
/// the labels or in most images, not in one.
pub const FINGERPRINT_STRIDE: usize = 16;

impl Cifar10 {
    pub fn new(train: Split, test: Split) -> Self {
        Self {
            train,
            test,
            fingerprint: Default::default(),
        }
    }

    /// What tells this data set from another: the MD5 of the sizes, every label and every
    /// [`FINGERPRINT_STRIDE`]th image, train then test, in hex. A run resumed on other data
    /// would train on both; the history keeps this with the run to refuse that. Computed once.
    pub fn fingerprint(&self) -> &str {
        self.fingerprint.get_or_init(|| {
            use md5::{Digest, Md5};
            let mut hasher = Md5::new();
            for split in [&self.train, &self.test] {
                hasher.update((split.labels.len() as u64).to_le_bytes());
                hasher.update(&split.labels);
                for image in split.images.chunks(IMAGE_BYTES).step_by(FINGERPRINT_STRIDE) {
                    hasher.update(image);
                }
            }
            format!("{:x}", hasher.finalize())
        })
    }
}

/// Parses one batch file's bytes; `path` only names it in errors.
pub fn parse_batch(bytes: &[u8], path: &Path) -> Result<Split, CifarError> {
    let expected = (RECORDS_PER_FILE * RECORD_BYTES) as u64;
    let actual = bytes.len() as u64;
    if actual != expected {
        return Err(CifarError::WrongSize {
            path: path.to_path_buf(),
            actual,
            expected,
            what: if actual < expected {
                "truncated"
            } else {
                "too large, not a CIFAR-10 batch"
            },
        });
    }
    let mut split = Split {
        images: Vec::with_capacity(RECORDS_PER_FILE * IMAGE_BYTES),
        labels: Vec::with_capacity(RECORDS_PER_FILE),
    };
    for (record, chunk) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let label = chunk[0];
        if label as usize >= CLASSES.len() {
            return Err(CifarError::BadLabel {
                path: path.to_path_buf(),
                record,
                label,
            });
        }
        split.labels.push(label);
        split.images.extend_from_slice(&chunk[1..]);
    }
    Ok(split)
}

/// What `path` is when it is there but not a file (after links): reading a FIFO would wait
/// forever, a device would read without end. `None` for a file, or for nothing there (reading
/// it then says why).
fn not_a_file(path: &Path) -> Option<&'static str> {
    let kind = std::fs::metadata(path).ok()?.file_type();
    if kind.is_file() {
        return None;
    }
    if kind.is_dir() {
        return Some("a folder");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return Some("a named pipe (FIFO)");
        }
        if kind.is_socket() {
            return Some("a socket");
        }
        if kind.is_char_device() || kind.is_block_device() {
            return Some("a device");
        }
    }
    Some("not a file")
}

fn read_batch(dir: &Path, name: &'static str) -> Result<Split, CifarError> {
    let path = dir.join(name);
    if let Some(what) = not_a_file(&path) {
        return Err(CifarError::NotAFile { path, name, what });
    }
    let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => match std::fs::read_link(&path) {
            Ok(target) => CifarError::DanglingLink {
                path: path.clone(),
                target,
            },
            Err(_) => CifarError::Missing {
                path: path.clone(),
                name,
            },
        },
        _ => CifarError::Io {
            path: path.clone(),
            source,
        },
    })?;
    parse_batch(&bytes, &path)
}

/// The folder holding the batch files: `dir` itself or `dir/cifar-10-batches-bin`.
pub fn batches_dir(dir: &Path) -> Result<PathBuf, CifarError> {
    let nested = dir.join(BATCHES_DIR);
    if nested.join(TEST_FILE).exists() || nested.is_dir() {
        Ok(nested)
    } else if dir.join(TEST_FILE).exists() || dir.join(TRAIN_FILES[0]).exists() {
        Ok(dir.to_path_buf())
    } else {
        Err(CifarError::NotFound {
            dir: dir.to_path_buf(),
        })
    }
}

/// Loads all six batch files from `dir` (see [`batches_dir`]).
pub fn load(dir: &Path) -> Result<Cifar10, CifarError> {
    let dir = batches_dir(dir)?;
    let mut train = Split::default();
    for name in TRAIN_FILES {
        let part = read_batch(&dir, name)?;
        train.images.extend_from_slice(&part.images);
        train.labels.extend_from_slice(&part.labels);
    }
    let test = read_batch(&dir, TEST_FILE)?;
    Ok(Cifar10::new(train, test))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid batch file's bytes: record `i` has label `i % 10` and every pixel `(i + c) % 256`
    /// in plane `c`.
    pub(crate) fn batch_bytes() -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORDS_PER_FILE * RECORD_BYTES);
        for i in 0..RECORDS_PER_FILE {
            out.push((i % 10) as u8);
            for c in 0..3 {
                out.extend(std::iter::repeat_n(((i + c) % 256) as u8, 1024));
            }
        }
        out
    }

    /// Writes a complete, valid data set into `dir/cifar-10-batches-bin`.
    pub(crate) fn write_dataset(dir: &Path) -> PathBuf {
        let out = dir.join(BATCHES_DIR);
        std::fs::create_dir_all(&out).unwrap();
        let bytes = batch_bytes();
        for name in TRAIN_FILES.iter().chain([&TEST_FILE]) {
            std::fs::write(out.join(name), &bytes).unwrap();
        }
        out
    }

    #[test]
    fn parses_a_good_batch_into_planes_and_labels() {
        let split = parse_batch(&batch_bytes(), Path::new("x.bin")).unwrap();
        assert_eq!(split.len(), RECORDS_PER_FILE);
        assert_eq!(split.images.len(), RECORDS_PER_FILE * IMAGE_BYTES);
        assert_eq!(split.labels[..3], [0, 1, 2]);
        // image 7: R plane 7, G plane 8, B plane 9
        let img = &split.images[7 * IMAGE_BYTES..8 * IMAGE_BYTES];
        assert_eq!((img[0], img[1023], img[1024], img[2048]), (7, 7, 8, 9));
    }

    #[test]
    fn truncated_and_oversized_files_say_what_was_expected() {
        let mut bytes = batch_bytes();
        bytes.truncate(bytes.len() - 5);
        let err = parse_batch(&bytes, Path::new("data_batch_1.bin")).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(
            err,
            CifarError::WrongSize {
                what: "truncated",
                ..
            }
        ));
        assert!(
            msg.contains("data_batch_1.bin") && msg.contains("30730000"),
            "{msg}"
        );

        let mut bytes = batch_bytes();
        bytes.push(0);
        let err = parse_batch(&bytes, Path::new("b.bin")).unwrap_err();
        assert!(matches!(
            err,
            CifarError::WrongSize {
                actual: 30730001,
                ..
            }
        ));
        assert!(parse_batch(&[], Path::new("e.bin")).is_err());
    }

    #[test]
    fn a_label_above_nine_is_rejected_with_its_record() {
        let mut bytes = batch_bytes();
        bytes[3 * RECORD_BYTES] = 42;
        let err = parse_batch(&bytes, Path::new("b.bin")).unwrap_err();
        assert!(
            matches!(
                err,
                CifarError::BadLabel {
                    record: 3,
                    label: 42,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn loads_a_folder_or_its_parent_and_reports_missing_files() {
        let tmp = tempfile::tempdir().unwrap();
        let inner = write_dataset(tmp.path());
        let data = load(tmp.path()).unwrap();
        assert_eq!((data.train.len(), data.test.len()), (50_000, 10_000));
        assert_eq!(load(&inner).unwrap().test, data.test);

        std::fs::remove_file(inner.join("data_batch_3.bin")).unwrap();
        let err = load(tmp.path()).unwrap_err();
        assert!(
            matches!(
                err,
                CifarError::Missing {
                    name: "data_batch_3.bin",
                    ..
                }
            ),
            "{err}"
        );

        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            load(empty.path()),
            Err(CifarError::NotFound { .. })
        ));
    }

    #[test]
    fn the_fingerprint_tells_one_data_set_from_another() {
        let tmp = tempfile::tempdir().unwrap();
        write_dataset(tmp.path());
        let a = load(tmp.path()).unwrap();
        assert_eq!(a.fingerprint(), load(tmp.path()).unwrap().fingerprint());
        assert_eq!(a.fingerprint().len(), 32);
        let mut b = a.clone();
        b.test.images[FINGERPRINT_STRIDE * IMAGE_BYTES] ^= 1;
        let b = Cifar10::new(b.train, b.test);
        assert_ne!(
            a.fingerprint(),
            b.fingerprint(),
            "one pixel of a read image differs"
        );
        let mut c = a.clone();
        c.train.labels[1] = (c.train.labels[1] + 1) % 10;
        let c = Cifar10::new(c.train, c.test);
        assert_ne!(a.fingerprint(), c.fingerprint(), "one label differs");
    }

    #[test]
    fn a_folder_a_fifo_or_a_dangling_link_in_place_of_a_batch_is_named_as_such() {
        let tmp = tempfile::tempdir().unwrap();
        let inner = write_dataset(tmp.path());
        let batch = inner.join("data_batch_2.bin");
        std::fs::remove_file(&batch).unwrap();
        std::fs::create_dir(&batch).unwrap();
        let msg = load(tmp.path()).unwrap_err().to_string();
        assert!(msg.contains("data_batch_2.bin is a folder"), "{msg}");
        std::fs::remove_dir(&batch).unwrap();
        #[cfg(unix)]
        {
            // Read, a FIFO waits for a writer that never comes: the load would hang.
            let made = std::process::Command::new("mkfifo").arg(&batch).status();
            assert!(made.unwrap().success(), "mkfifo");
            let (tx, rx) = std::sync::mpsc::channel();
            let dir = tmp.path().to_path_buf();
            std::thread::spawn(move || tx.send(load(&dir).map(|_| ()).map_err(|e| e.to_string())));
            let msg = rx
                .recv_timeout(std::time::Duration::from_secs(20))
                .expect("the load hangs on a FIFO")
                .unwrap_err();
            assert!(
                msg.contains("data_batch_2.bin is a named pipe (FIFO), not the CIFAR-10"),
                "{msg}"
            );
            std::fs::remove_file(&batch).unwrap();
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/gone/data_batch_2.bin", &batch).unwrap();
            let msg = load(tmp.path()).unwrap_err().to_string();
            assert!(
                msg.contains("symbolic link to /gone/data_batch_2.bin, which does not exist"),
                "{msg}"
            );
        }
    }

    #[test]
    fn channel_stats_match_a_hand_computation() {
        // Two images: channel 0 all 0 and all 255 -> mean 0.5, std 0.5; channel 1 constant 51.
        let mut images = Vec::new();
        for v in [0u8, 255] {
            images.extend(std::iter::repeat_n(v, 1024));
            images.extend(std::iter::repeat_n(51, 1024));
            images.extend(std::iter::repeat_n(v / 5, 1024));
        }
        let s = Split {
            images,
            labels: vec![0, 1],
        }
        .channel_stats();
        assert!((s.mean[0] - 0.5).abs() < 1e-6 && (s.std[0] - 0.5).abs() < 1e-6);
        assert!((s.mean[1] - 0.2).abs() < 1e-6 && s.std[1] <= 1e-3);
        assert!((s.mean[2] - 0.1).abs() < 1e-6 && (s.std[2] - 0.1).abs() < 1e-6);
    }
}
