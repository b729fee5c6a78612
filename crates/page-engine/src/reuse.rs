//! When a repeated tool call may be answered from an earlier result instead of running again.
//!
//! Serving a stored result is only right when running the tool again would return the same
//! bytes. That holds for tools that read (files, searches, listings) and only while nothing
//! that could change what they read has run since: a shell command or a write between two
//! `read(src/lib.rs)` calls may have changed the file. So a call is served when its tool is
//! read-only, its canonical signature produced a result before, no tool outside the read-only
//! set has run since that result, and the result's full text is still in the page table or
//! the store.

use std::collections::BTreeSet;

/// The tools whose results may answer a repeated call: matched by name, case-insensitively.
///
/// ```
/// use page_engine::ReadOnlyTools;
///
/// let tools = ReadOnlyTools::default();
/// assert!(tools.contains("read") && tools.contains("GREP"));
/// assert!(!tools.contains("bash") && !tools.contains("write"));
/// assert!(!ReadOnlyTools::none().contains("read"));
/// assert!(ReadOnlyTools::new(["my_lookup"]).contains("My_Lookup"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOnlyTools {
    names: BTreeSet<String>,
}

impl ReadOnlyTools {
    /// The default: file reads, searches and listings under the names Zeph's tools and the
    /// common agent harnesses give them. Never a shell, a write, an edit or a web fetch (a page
    /// on the web changes between two fetches).
    pub const DEFAULT: &'static [&'static str] = &[
        "read",
        "read_file",
        "cat",
        "view",
        "grep",
        "rg",
        "ripgrep",
        "search",
        "search_code",
        "glob",
        "find",
        "find_path",
        "list_directory",
        "ls",
    ];

    /// Exactly `names`.
    pub fn new<I, N>(names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        Self {
            names: names
                .into_iter()
                .map(|n| n.as_ref().to_lowercase())
                .collect(),
        }
    }

    /// No tool: every call runs.
    #[must_use]
    pub fn none() -> Self {
        Self {
            names: BTreeSet::new(),
        }
    }

    /// Whether `tool` is read-only.
    #[must_use]
    pub fn contains(&self, tool: &str) -> bool {
        self.names.contains(&tool.to_lowercase())
    }

    /// The names, lower-cased, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }
}

impl Default for ReadOnlyTools {
    fn default() -> Self {
        Self::new(Self::DEFAULT)
    }
}

/// Why a call runs, or that it was served: the decision `tool_before` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reuse {
    /// An earlier result answers it.
    Served,
    /// No earlier call had this signature.
    New,
    /// The tool is not in [`ReadOnlyTools`].
    NotReadOnly,
    /// A tool outside the read-only set ran after the earlier result and may have changed
    /// what it read.
    ChangedSince,
    /// The earlier result's text is in neither the page table nor the store.
    ResultGone,
}

impl Reuse {
    /// The `reason` field of the `context.pagevm.tool_decision` event.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Served => "served",
            Self::New => "new_call",
            Self::NotReadOnly => "not_read_only",
            Self::ChangedSince => "changed_since",
            Self::ResultGone => "result_gone",
        }
    }
}
