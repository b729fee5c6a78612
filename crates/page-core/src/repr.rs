//! Representation levels: the fidelities a page can be resident at, ordered by information kept.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ParseCodeError;

/// A residency level, ordered `None < Pointer < Structured < Compressed < Full`.
///
/// `None` means "not resident": the page still exists in the page table and the store, but
/// nothing of it is in the prompt. Every other level is a representation a page may hold.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Repr {
    /// Not resident.
    None,
    /// A resolvable handle plus minimal metadata.
    Pointer,
    /// Typed fields sufficient to satisfy the page's invariant.
    Structured,
    /// Token-reduced text.
    Compressed,
    /// Verbatim content.
    Full,
}

impl Repr {
    /// All levels in ascending order, `None` first.
    pub const ALL: [Repr; 5] = [
        Repr::None,
        Repr::Pointer,
        Repr::Structured,
        Repr::Compressed,
        Repr::Full,
    ];

    /// The levels a page can hold content for, ascending (every level but `None`).
    pub const RESIDENT: [Repr; 4] = [
        Repr::Pointer,
        Repr::Structured,
        Repr::Compressed,
        Repr::Full,
    ];

    /// Position in [`Repr::ALL`]: `None` = 0 … `Full` = 4.
    #[must_use]
    pub const fn index(self) -> usize {
        match self {
            Repr::None => 0,
            Repr::Pointer => 1,
            Repr::Structured => 2,
            Repr::Compressed => 3,
            Repr::Full => 4,
        }
    }

    /// The stable snake_case code used in traces, reports and the store.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Repr::None => "none",
            Repr::Pointer => "pointer",
            Repr::Structured => "structured",
            Repr::Compressed => "compressed",
            Repr::Full => "full",
        }
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Repr {
    type Err = ParseCodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Repr::ALL
            .into_iter()
            .find(|r| r.code() == s)
            .ok_or_else(|| ParseCodeError::new("representation", s))
    }
}
