//! The specifics a text mentions (file paths and identifiers): what users complain compaction
//! loses, and what later turns refer back to.

use std::collections::{BTreeSet, HashMap};

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

/// Which page a mention of a specific cites: the latest page that held it, since a later read
/// of the same file or a later run of the same command supersedes an earlier one. The one
/// citation rule of every path that demands cited pages (the Zeph adapter's selection, the
/// replay's workloads).
///
/// ```
/// let mut c = page_engine::Citations::default();
/// c.hold(&1, ["src/a.rs", "parse"]);
/// c.hold(&2, ["src/a.rs"]);
/// assert_eq!(c.cited(["src/a.rs", "parse", "unknown"]), [1, 2]);
/// ```
#[derive(Debug, Clone)]
pub struct Citations<P> {
    latest: HashMap<String, P>,
}

impl<P> Default for Citations<P> {
    fn default() -> Self {
        Self {
            latest: HashMap::new(),
        }
    }
}

impl<P: Clone + Ord> Citations<P> {
    /// Records that `page` holds `specifics`: from now on it is what they cite.
    pub fn hold<'a>(&mut self, page: &P, specifics: impl IntoIterator<Item = &'a str>) {
        for s in specifics {
            self.latest.insert(s.to_owned(), page.clone());
        }
    }

    /// The pages a text mentioning `specifics` cites, sorted and without repeats.
    pub fn cited<'a>(&self, specifics: impl IntoIterator<Item = &'a str>) -> Vec<P> {
        let mut out: Vec<P> = specifics
            .into_iter()
            .filter_map(|s| self.latest.get(s).cloned())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}
