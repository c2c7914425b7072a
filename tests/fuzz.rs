//! Property tests: the CIFAR parser and the config parser never panic, whatever bytes or text
//! they get, and accept exactly what they should.

use std::path::Path;

use cifar_engine::data::cifar::{self, IMAGE_BYTES, RECORD_BYTES, RECORDS_PER_FILE};
use cifar_tui::settings::Settings;
use proptest::prelude::*;

const FILE_BYTES: usize = RECORDS_PER_FILE * RECORD_BYTES;

/// Cases per property: `FUZZ_CASES` (`FUZZ_FILES` for the 30 MB files) for a longer
/// campaign, else enough for CI.
fn cases(var: &str, default: u32) -> ProptestConfig {
    let n = std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(n)
}

proptest! {
    #![proptest_config(cases("FUZZ_CASES", 2000))]

    /// Arbitrary bytes, mostly of the wrong size: an error, never a panic.
    #[test]
    fn cifar_parser_survives_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..20_000)) {
        prop_assert!(cifar::parse_batch(&bytes, Path::new("fuzz.bin")).is_err());
    }

}

proptest! {
    // Each case is a whole 30 MB batch file.
    #![proptest_config(cases("FUZZ_FILES", 24))]

    /// Right-sized files with random bytes: accepted exactly when every label is 0..9.
    #[test]
    fn cifar_parser_checks_every_label(seed in any::<u64>(), bad_record in prop::option::of(0..RECORDS_PER_FILE)) {
        let mut bytes = vec![0u8; FILE_BYTES];
        let mut x = seed | 1;
        for b in bytes.iter_mut() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            *b = x as u8;
        }
        for r in 0..RECORDS_PER_FILE {
            bytes[r * RECORD_BYTES] %= 10;
        }
        if let Some(r) = bad_record {
            bytes[r * RECORD_BYTES] = 10 + (seed % 246) as u8;
        }
        let parsed = cifar::parse_batch(&bytes, Path::new("fuzz.bin"));
        prop_assert_eq!(parsed.is_ok(), bad_record.is_none());
        if let Ok(split) = parsed {
            prop_assert_eq!(split.images.len(), RECORDS_PER_FILE * IMAGE_BYTES);
        }
    }
}

proptest! {
    #![proptest_config(cases("FUZZ_CASES", 2000))]

    /// Arbitrary text: parsed or refused with a message, never a panic.
    #[test]
    fn config_parser_survives_any_text(text in "\\PC{0,300}") {
        let _ = Settings::parse(&text, Path::new("config.toml"));
    }

    /// Plausible TOML with random keys and values: refused or accepted, and whatever is
    /// accepted is in range.
    #[test]
    fn accepted_configs_are_valid(
        key in prop::sample::select(vec![
            "epochs", "batch_size", "lr", "schedule_lr", "schedule_gamma", "weight_decay",
            "l1", "dropout", "seed", "bogus",
        ]),
        value in prop_oneof![
            any::<i64>().prop_map(|v| v.to_string()),
            any::<f64>().prop_map(|v| format!("{v:?}")),
            Just("\"text\"".to_string()),
            Just("nan".to_string()),
            Just("-inf".to_string()),
        ],
    ) {
        let text = format!("[train]\n{key} = {value}\n");
        if let Ok(s) = Settings::parse(&text, Path::new("config.toml")) {
            prop_assert!(s.train.validate().is_ok());
        }
    }
}
