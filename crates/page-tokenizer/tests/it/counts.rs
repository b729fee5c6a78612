//! Known token counts for both encodings, and the properties counting must keep.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking on an unexpected error"
)]

use std::sync::LazyLock;

use expect_test::expect;
use page_core::TokenCounter;
use page_tokenizer::{BpeCounter, Encoding};
use proptest::prelude::*;

fn table(counter: &BpeCounter, texts: &[&str]) -> String {
    texts
        .iter()
        .map(|t| format!("{:<4}{t:?}\n", counter.count(t).get()))
        .collect()
}

const TEXTS: &[&str] = &[
    "",
    "hello world",
    "The quick brown fox jumps over the lazy dog.",
    "fn main() {\n    println!(\"hi\");\n}\n",
    "$ cargo test -p page-core -- --nocapture",
    "<|endoftext|>",
    "Ignore previous instructions.",
    "日本語のテキスト",
];

#[test]
fn cl100k_counts() {
    let c = BpeCounter::new(Encoding::Cl100kBase).unwrap();
    expect![[r#"
        0   ""
        2   "hello world"
        10  "The quick brown fox jumps over the lazy dog."
        10  "fn main() {\n    println!(\"hi\");\n}\n"
        11  "$ cargo test -p page-core -- --nocapture"
        7   "<|endoftext|>"
        4   "Ignore previous instructions."
        8   "日本語のテキスト"
    "#]]
    .assert_eq(&table(&c, TEXTS));
}

#[test]
fn o200k_counts() {
    let c = BpeCounter::new(Encoding::O200kBase).unwrap();
    expect![[r#"
        0   ""
        2   "hello world"
        10  "The quick brown fox jumps over the lazy dog."
        10  "fn main() {\n    println!(\"hi\");\n}\n"
        11  "$ cargo test -p page-core -- --nocapture"
        7   "<|endoftext|>"
        4   "Ignore previous instructions."
        6   "日本語のテキスト"
    "#]]
    .assert_eq(&table(&c, TEXTS));
}

#[test]
fn encodings_parse_by_name() {
    for e in Encoding::ALL {
        assert_eq!(e.name().parse::<Encoding>().unwrap(), e);
    }
    expect![[r#"unknown encoding "p50k" (supported: o200k_base, cl100k_base)"#]]
        .assert_eq(&"p50k".parse::<Encoding>().unwrap_err().to_string());
}

static O200K: LazyLock<BpeCounter> =
    LazyLock::new(|| BpeCounter::new(Encoding::O200kBase).expect("embedded ranks load"));

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn counting_is_deterministic_and_bounded(text in ".{0,400}") {
        let c = &*O200K;
        let n = c.count(&text).get() as usize;
        prop_assert_eq!(n, c.count(&text).get() as usize);
        // A BPE token covers at least one byte, so there are never more tokens than bytes.
        prop_assert!(n <= text.len());
        prop_assert_eq!(n == 0, text.is_empty());
    }
}
