//! A run's whole configuration as short "key value" pairs, for the Results screen and for the
//! differences between runs in Compare. Read from the configuration's own serialisation, so
//! every setting shows, also ones added later.

use serde_json::Value;

use crate::app::params::fmt_float;
use cifar_engine::config::TrainConfig;

/// Every setting but the trick list (the tricks are shown on their own), by name:
/// `lr` → "exp 2e-3 x0.8", `weight_decay` → "1e-4" or "off", `normalize` → "yes".
pub fn pairs(cfg: &TrainConfig) -> Vec<(String, String)> {
    let Ok(Value::Object(map)) = serde_json::to_value(cfg) else {
        return Vec::new();
    };
    map.into_iter()
        .filter(|(key, _)| key != "tricks")
        .map(|(key, value)| (key, text(&value)))
        .collect()
}

/// "key: mine (was theirs)" for each setting that differs from `reference`.
pub fn diff(cfg: &TrainConfig, reference: &TrainConfig) -> Vec<String> {
    let theirs = pairs(reference);
    pairs(cfg)
        .into_iter()
        .zip(theirs)
        .filter(|((_, a), (_, b))| a != b)
        .map(|((key, a), (_, b))| format!("{key} {a} (was {b})"))
        .collect()
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "off".into(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::Number(n) if n.is_u64() => n.to_string(),
        Value::Number(n) => n.as_f64().map(fmt_float).unwrap_or_default(),
        Value::String(s) => s.clone(),
        // A learning-rate policy and the like: its kind, then its numbers.
        Value::Object(map) => {
            let mut parts: Vec<String> = Vec::new();
            if let Some(Value::String(kind)) = map.get("kind") {
                parts.push(kind.clone());
            }
            parts.extend(
                map.iter()
                    .filter(|(k, _)| *k != "kind")
                    .map(|(k, v)| format!("{k} {}", text(v))),
            );
            parts.join(" ")
        }
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cifar_engine::config::Hyper;
    use cifar_engine::tricks::{self, PRESETS};

    #[test]
    fn every_setting_shows_and_differences_name_both_values() {
        let h = Hyper::default();
        let base = tricks::resolve(&PRESETS[0].trick_set(), &h);
        let sched = tricks::resolve(&PRESETS[2].trick_set(), &h);
        let shown = pairs(&base);
        let keys: Vec<&str> = shown.iter().map(|(k, _)| k.as_str()).collect();
        for key in [
            "epochs",
            "batch_size",
            "seed",
            "lr",
            "normalize",
            "weight_decay",
            "init",
        ] {
            assert!(keys.contains(&key), "{key} missing from {keys:?}");
        }
        assert!(
            shown.contains(&("normalize".into(), "no".into())),
            "{shown:?}"
        );
        assert!(
            shown.contains(&("weight_decay".into(), "off".into())),
            "{shown:?}"
        );
        let d = diff(&sched, &base);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("lr exponential"), "{d:?}");
        assert!(d[0].ends_with("(was constant lr 1e-3)"), "{d:?}");
        assert_eq!(d[1], "normalize yes (was no)");
        assert!(diff(&base, &base).is_empty());
    }
}
