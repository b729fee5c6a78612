//! The specifics a text mentions (file paths and identifiers): what users complain compaction
//! loses, and what later turns refer back to.

use std::collections::BTreeSet;

use crate::build::scan::{identifiers_in, paths_in};

/// Distinct file paths and identifiers mentioned in a text, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Specifics {
    /// Path-like words (`src/lib.rs`, `Cargo.toml`), without `:line:col` suffixes.
    pub paths: BTreeSet<String>,
    /// Identifier-like words (`snake_case`, `CamelCase`, `a::b::c`, `E0308`).
    pub identifiers: BTreeSet<String>,
}

/// Scans `text` with the same rules the evidence builder uses for its structured form, so what
/// counts as "mentioned" and what a structured representation keeps agree.
///
/// ```
/// let s = page_engine::specifics("error[E0425] in src/main.rs:3:1 calling parse_args");
/// assert!(s.paths.contains("src/main.rs"));
/// assert!(s.identifiers.contains("parse_args") && s.identifiers.contains("E0425"));
/// ```
#[must_use]
pub fn specifics(text: &str) -> Specifics {
    let mut s = Specifics::default();
    for line in text.lines() {
        s.paths.extend(paths_in(line).map(str::to_owned));
        s.identifiers
            .extend(identifiers_in(line).map(str::to_owned));
    }
    s
}
