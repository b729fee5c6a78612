//! The fast counter against the reference: equal counts on every recorded session shipped
//! with the project, on the shared trace corpus when it is beside the checkout, and on
//! arbitrary text.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking on an unexpected error"
)]

use std::path::Path;
use std::sync::LazyLock;

use page_core::TokenCounter;
use page_tokenizer::{BpeCounter, Encoding, FastBpeCounter};
use proptest::prelude::*;

static REFERENCE: LazyLock<Vec<(BpeCounter, FastBpeCounter)>> = LazyLock::new(|| {
    Encoding::ALL
        .into_iter()
        .map(|e| (BpeCounter::new(e).unwrap(), FastBpeCounter::new(e)))
        .collect()
});

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every line of every recorded session: the text the engine counts at ingest.
#[test]
fn equal_counts_on_recorded_sessions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/traces");
    let mut paths = Vec::new();
    files(&root, &mut paths);
    assert!(
        paths.len() >= 10,
        "the fixture sessions are missing: {}",
        root.display()
    );
    let mut lines = 0usize;
    for path in &paths {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        for (reference, fast) in REFERENCE.iter() {
            assert_eq!(
                reference.count(&text),
                fast.count(&text),
                "{} in {}",
                path.display(),
                reference.encoding()
            );
        }
        lines += text.lines().count();
    }
    assert!(lines > 1_000, "only {lines} lines compared");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn equal_counts_on_arbitrary_text(text in "\\PC{0,200}") {
        for (reference, fast) in REFERENCE.iter() {
            prop_assert_eq!(reference.count(&text), fast.count(&text));
        }
    }

    #[test]
    fn equal_counts_on_code_like_text(text in "[a-z_:/.(){}<>|\\[\\] \\n\\t0-9'\"-]{0,300}") {
        for (reference, fast) in REFERENCE.iter() {
            prop_assert_eq!(reference.count(&text), fast.count(&text));
        }
    }
}
