//! Page types, their degradation paths and the per-type defaults of the paper's Table 1.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{PageError, ParseCodeError};
use crate::repr::Repr;
use crate::scope::ScopeKind;

/// The six page types. The serialized codes are the artifact's type strings.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PageType {
    /// System prompt, operating policy, repository instructions. Restored after every
    /// compaction and reset.
    #[serde(rename = "bootstrap_policy")]
    Bootstrap,
    /// A rule the agent must keep obeying (a user requirement, a safety constraint).
    Constraint,
    /// The task's goal, its steps and the current step.
    Plan,
    /// A user or project preference: key, value, scope, provenance.
    Preference,
    /// A tool result or a memory excerpt with provenance.
    Evidence,
    /// A span of user and assistant conversation.
    #[serde(rename = "conversation_segment")]
    Conversation,
}

impl PageType {
    /// All page types, in the order of the paper's Table 1.
    pub const ALL: [PageType; 6] = [
        PageType::Bootstrap,
        PageType::Constraint,
        PageType::Plan,
        PageType::Preference,
        PageType::Evidence,
        PageType::Conversation,
    ];

    /// The stable code (the artifact's type string).
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            PageType::Bootstrap => "bootstrap_policy",
            PageType::Constraint => "constraint",
            PageType::Plan => "plan",
            PageType::Preference => "preference",
            PageType::Evidence => "evidence",
            PageType::Conversation => "conversation_segment",
        }
    }

    /// The paper's Table 1 row for this type.
    #[must_use]
    pub const fn defaults(self) -> TypePolicy {
        use Repr::{Compressed, Full, Pointer, Structured};
        let (min_fidelity, path, pin, scope) = match self {
            PageType::Bootstrap => (
                Structured,
                DegradationPath::from_bits(bit(Full) | bit(Structured)),
                PinClass::Hard,
                ScopeKind::Project,
            ),
            PageType::Constraint => (
                Structured,
                DegradationPath::from_bits(bit(Full) | bit(Structured)),
                PinClass::Hard,
                ScopeKind::Session,
            ),
            PageType::Plan => (
                Pointer,
                DegradationPath::from_bits(bit(Full) | bit(Structured) | bit(Pointer)),
                PinClass::None,
                ScopeKind::Session,
            ),
            PageType::Preference => (
                Pointer,
                DegradationPath::from_bits(
                    bit(Full) | bit(Compressed) | bit(Structured) | bit(Pointer),
                ),
                PinClass::None,
                ScopeKind::Project,
            ),
            PageType::Evidence | PageType::Conversation => (
                Pointer,
                DegradationPath::from_bits(
                    bit(Full) | bit(Compressed) | bit(Structured) | bit(Pointer),
                ),
                PinClass::None,
                ScopeKind::Session,
            ),
        };
        TypePolicy {
            min_fidelity,
            path,
            pin,
            scope,
        }
    }
}

impl fmt::Display for PageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for PageType {
    type Err = ParseCodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PageType::ALL
            .into_iter()
            .find(|t| t.code() == s)
            .ok_or_else(|| ParseCodeError::new("page type", s))
    }
}

/// How strongly a page is held resident.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PinClass {
    /// Selected only if its utility justifies its cost.
    #[default]
    None,
    /// Strongly preferred, but may be dropped.
    Soft,
    /// Must be resident at or above its minimum fidelity whenever the budget allows.
    Hard,
}

impl PinClass {
    /// The stable code.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            PinClass::None => "none",
            PinClass::Soft => "soft",
            PinClass::Hard => "hard",
        }
    }
}

const fn bit(r: Repr) -> u8 {
    1 << r.index()
}

/// The levels a page type may degrade through, always including `full`.
///
/// Stored as a set of levels; it reads from `full` downward (`full→compressed→structured→pointer`),
/// and upgrades walk it upward one step at a time. `none` is never on a path: leaving the prompt
/// is not a representation.
///
/// ```
/// use page_core::{DegradationPath, PageType, Repr};
///
/// let path = DegradationPath::new(PageType::Plan, &[Repr::Full, Repr::Structured, Repr::Pointer])?;
/// assert_eq!(path.to_string(), "full→structured→pointer");
/// assert_eq!(path.step_up(Repr::None), Some(Repr::Pointer));
/// assert_eq!(path.step_up(Repr::Structured), Some(Repr::Full));
/// assert_eq!(path.step_down(Repr::Full), Some(Repr::Structured));
/// assert!(DegradationPath::new(PageType::Plan, &[Repr::Structured]).is_err());
/// # Ok::<(), page_core::PageError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DegradationPath {
    bits: u8,
}

impl DegradationPath {
    const fn from_bits(bits: u8) -> Self {
        Self { bits }
    }

    /// Builds a path from its levels, written from `full` downward.
    ///
    /// # Errors
    /// [`PageError::InvalidPath`] when the list is empty, does not start at `full`, is not
    /// strictly descending, or contains `none`.
    pub fn new(page_type: PageType, levels_full_first: &[Repr]) -> Result<Self, PageError> {
        let invalid = |reason| PageError::InvalidPath { page_type, reason };
        if levels_full_first.first() != Some(&Repr::Full) {
            return Err(invalid("it must start at full"));
        }
        let mut bits = 0u8;
        let mut prev: Option<Repr> = None;
        for &level in levels_full_first {
            if level == Repr::None {
                return Err(invalid("none is not a representation"));
            }
            if prev.is_some_and(|p| p <= level) {
                return Err(invalid("levels must be strictly descending from full"));
            }
            bits |= bit(level);
            prev = Some(level);
        }
        Ok(Self { bits })
    }

    /// Whether `level` is on this path.
    #[must_use]
    pub const fn contains(self, level: Repr) -> bool {
        self.bits & bit(level) != 0
    }

    /// The levels on the path, ascending (lowest first, `full` last).
    pub fn ascending(self) -> impl DoubleEndedIterator<Item = Repr> + Clone {
        Repr::RESIDENT
            .into_iter()
            .filter(move |&r| self.contains(r))
    }

    /// The lowest level on the path.
    #[must_use]
    pub fn lowest(self) -> Repr {
        self.ascending().next().unwrap_or(Repr::Full)
    }

    /// The next level above `from` on this path (from `none`, the lowest level), or `None` at `full`.
    #[must_use]
    pub fn step_up(self, from: Repr) -> Option<Repr> {
        self.ascending().find(|&r| r > from)
    }

    /// The next level below `from` on this path, or `None` at the lowest level.
    #[must_use]
    pub fn step_down(self, from: Repr) -> Option<Repr> {
        self.ascending().rev().find(|&r| r < from)
    }

    /// The lowest level on the path at or above `level`; `full` when `level` is above all others.
    #[must_use]
    pub fn at_least(self, level: Repr) -> Repr {
        self.ascending().find(|&r| r >= level).unwrap_or(Repr::Full)
    }
}

impl fmt::Display for DegradationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, level) in self.ascending().rev().enumerate() {
            if i > 0 {
                f.write_str("→")?;
            }
            f.write_str(level.code())?;
        }
        Ok(())
    }
}

impl fmt::Debug for DegradationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DegradationPath({self})")
    }
}

/// The rules a page type imposes on its pages: one row of Table 1, possibly overridden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypePolicy {
    min_fidelity: Repr,
    path: DegradationPath,
    pin: PinClass,
    scope: ScopeKind,
}

impl TypePolicy {
    /// Builds a row, checking that the minimum fidelity is on the path.
    ///
    /// # Errors
    /// [`PageError::MinFidelityOffPath`] when it is not.
    pub fn new(
        page_type: PageType,
        min_fidelity: Repr,
        path: DegradationPath,
        pin: PinClass,
        scope: ScopeKind,
    ) -> Result<Self, PageError> {
        if !path.contains(min_fidelity) {
            return Err(PageError::MinFidelityOffPath {
                page_type,
                min: min_fidelity,
                path: path.to_string(),
            });
        }
        Ok(Self {
            min_fidelity,
            path,
            pin,
            scope,
        })
    }

    /// The lowest representation a page of this type may be assembled at.
    #[must_use]
    pub const fn min_fidelity(&self) -> Repr {
        self.min_fidelity
    }

    /// The representations a page of this type holds.
    #[must_use]
    pub const fn path(&self) -> DegradationPath {
        self.path
    }

    /// The pin class a new page of this type gets unless its creator says otherwise.
    #[must_use]
    pub const fn default_pin(&self) -> PinClass {
        self.pin
    }

    /// The scope kind a new page of this type gets unless its creator says otherwise.
    #[must_use]
    pub const fn default_scope(&self) -> ScopeKind {
        self.scope
    }
}
