//! Canonical JSON: keys sorted at every level, for published files that must not depend on how
//! a build configured serde_json.
//!
//! With `preserve_order` (which any crate in a build can turn on for serde_json or schemars;
//! Zeph's ollama-rs does) objects keep insertion order, without it they iterate sorted. Golden
//! files and schemas written through [`canonical_json`] are the same bytes either way.

use serde_json::Value;

/// `value` with the keys of every object sorted.
#[must_use]
pub fn canonical_json(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical_json(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical_json).collect()),
        other => other,
    }
}
