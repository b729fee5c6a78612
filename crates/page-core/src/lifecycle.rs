//! What the observer and the writeback journal speak about: faults, recall outcomes, boundaries.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::error::ParseCodeError;
use crate::ids::PageId;

macro_rules! coded_enum {
    (
        $(#[$meta:meta])* $name:ident, $what:literal {
            $($(#[$vmeta:meta])* $variant:ident => $code:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stable snake_case code.
            #[must_use]
            pub const fn code(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)*
                }
            }
        }

        impl FromStr for $name {
            type Err = ParseCodeError;

            fn from_str(s: &str) -> Result<Self, ParseCodeError> {
                match s {
                    $($code => Ok($name::$variant),)*
                    _ => Err(ParseCodeError::new($what, s)),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseCodeError;

            fn try_from(s: String) -> Result<Self, ParseCodeError> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.code().to_owned()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                code_schema(&[$($code,)*])
            }
        }
    };
}

coded_enum!(
    /// The six machine-counted faults. All are policy-controllable except a
    /// pinned-invariant miss caused by a budget smaller than the minimum-fidelity set
    /// (physical insufficiency, reported as invariant pressure).
    FaultKind, "fault kind" {
        /// A tool result re-retrieved after eviction.
        Refetch => "refetch",
        /// An equivalent tool call (same canonical signature) re-run because its result was evicted.
        DuplicateTool => "duplicate_tool",
        /// A hard-pinned page missing, or below its minimum, at prompt assembly.
        PinnedInvariantMiss => "pinned_invariant_miss",
        /// A bootstrap page missing after compaction.
        PostCompactionBootstrap => "post_compaction_bootstrap",
        /// A recall that returned empty without saying why.
        SilentRecall => "silent_recall",
        /// Dirty state destroyed by a boundary before it was committed.
        FlushMiss => "flush_miss",
    }
);

coded_enum!(
    /// Signals the observer records that are not faults but count as paging events in thrash.
    AlertKind, "alert kind" {
        /// A repeated tool call whose earlier result is still resident.
        DuplicateSignature => "duplicate_signature",
    }
);

coded_enum!(
    /// The kinds of compaction a harness performs.
    CompactionKind, "compaction kind" {
        /// Pruning old tool outputs and low-value content, no model call.
        Soft => "soft",
        /// Summarising history, usually with a model.
        Hard => "hard",
        /// Clearing stale tool outputs after an idle gap.
        Micro => "micro",
    }
);

/// A lifecycle boundary: a point where context may be destroyed, and so a write barrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Boundary {
    /// The end of a turn.
    Turn,
    /// A compaction of the given kind.
    Compaction(CompactionKind),
    /// A reset (`/new`, `/reset`, `/clear`).
    Reset,
    /// The end of the session.
    SessionEnd,
}

impl Boundary {
    /// Every boundary.
    pub const ALL: [Boundary; 6] = [
        Boundary::Turn,
        Boundary::Compaction(CompactionKind::Soft),
        Boundary::Compaction(CompactionKind::Hard),
        Boundary::Compaction(CompactionKind::Micro),
        Boundary::Reset,
        Boundary::SessionEnd,
    ];

    /// The stable code: `turn`, `compaction_soft`, `compaction_hard`, `compaction_micro`,
    /// `reset`, `session_end`.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Boundary::Turn => "turn",
            Boundary::Compaction(CompactionKind::Soft) => "compaction_soft",
            Boundary::Compaction(CompactionKind::Hard) => "compaction_hard",
            Boundary::Compaction(CompactionKind::Micro) => "compaction_micro",
            Boundary::Reset => "reset",
            Boundary::SessionEnd => "session_end",
        }
    }

    /// Whether the boundary destroys context (everything but a plain turn end).
    #[must_use]
    pub const fn is_destructive(self) -> bool {
        !matches!(self, Boundary::Turn)
    }
}

impl FromStr for Boundary {
    type Err = ParseCodeError;

    fn from_str(s: &str) -> Result<Self, ParseCodeError> {
        Boundary::ALL
            .into_iter()
            .find(|b| b.code() == s)
            .ok_or_else(|| ParseCodeError::new("boundary", s))
    }
}

impl TryFrom<String> for Boundary {
    type Error = ParseCodeError;

    fn try_from(s: String) -> Result<Self, ParseCodeError> {
        s.parse()
    }
}

impl From<Boundary> for String {
    fn from(b: Boundary) -> String {
        b.code().to_owned()
    }
}

impl JsonSchema for Boundary {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("Boundary")
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        code_schema(&Boundary::ALL.map(Boundary::code))
    }
}

/// A string schema that admits exactly `codes`.
fn code_schema(codes: &[&str]) -> Schema {
    json_schema!({ "type": "string", "enum": codes })
}

impl fmt::Display for Boundary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The result of a recall. There is no "empty" variant: an empty answer must say why.
///
/// ```
/// use page_core::RecallOutcome;
///
/// assert_eq!(RecallOutcome::from_pages(vec![]).code(), "no_match");
/// let denied = RecallOutcome::Denied { reason: "project scope not granted".into() };
/// assert_eq!(serde_json::to_string(&denied)?, r#"{"outcome":"denied","reason":"project scope not granted"}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case", deny_unknown_fields)]
#[schemars(
    description = "The result of a recall. There is no \"empty\" variant: an empty answer must say why."
)]
pub enum RecallOutcome {
    /// Pages matched, best first.
    Hit {
        /// The matching pages; never empty.
        pages: Vec<PageId>,
    },
    /// The backend answered and nothing matched.
    NoMatch,
    /// The principal may not read what matched.
    Denied {
        /// Why, for the user.
        reason: String,
    },
    /// The backend failed.
    BackendError {
        /// What failed, for the user.
        reason: String,
    },
}

impl RecallOutcome {
    /// A hit, or `NoMatch` when `pages` is empty: the one place an empty result is built.
    #[must_use]
    pub fn from_pages(pages: Vec<PageId>) -> Self {
        if pages.is_empty() {
            RecallOutcome::NoMatch
        } else {
            RecallOutcome::Hit { pages }
        }
    }

    /// The stable code: `hit`, `no_match`, `denied`, `backend_error`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            RecallOutcome::Hit { .. } => "hit",
            RecallOutcome::NoMatch => "no_match",
            RecallOutcome::Denied { .. } => "denied",
            RecallOutcome::BackendError { .. } => "backend_error",
        }
    }
}
