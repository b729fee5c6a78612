//! The replay workload's wire format: pages by their costs, turns by what the agent does.
//!
//! A [`Workload`] is the versioned JSON document (serde + schemars); [`Workload::validate`]
//! (in `validated.rs`) checks it once into the form the engine replays.

use std::collections::BTreeMap;

use page_core::{
    CompactionKind, PageId, PageType, PinClass, Repr, ScopeKind, SessionId, TokenCount,
    ToolSignature,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The version of the workload JSON format this build reads and writes.
pub const WORKLOAD_SCHEMA_VERSION: u32 = 1;

/// A replay workload: the pages an agent works with and what happens at each turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Must equal [`WORKLOAD_SCHEMA_VERSION`]; checked by [`Workload::validate`].
    pub schema_version: u32,
    /// Stable workload id, e.g. `evidence_heavy_s1`.
    pub id: String,
    /// Workload family, e.g. `evidence_heavy`.
    pub family: String,
    /// Every page, in a fixed order (the order breaks ties where the artifact's dict order did).
    pub pages: Vec<WorkloadPage>,
    /// The turns, in order.
    pub turns: Vec<WorkloadTurn>,
}

/// A page described by its costs and scoring inputs; content is not needed to replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadPage {
    /// Stable page id; unique in the workload.
    pub id: PageId,
    /// Page type; its degradation path is the type's default path (Table 1).
    #[serde(rename = "type")]
    pub page_type: PageType,
    /// Pin class; the type's default when absent (hard for bootstrap and constraint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<PinClass>,
    /// Minimum fidelity; the type's default when absent. Must be on the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_fidelity: Option<Repr>,
    /// Token cost of every level on the type's path, and of no other level.
    pub tokens: LevelTokens,
    /// Base utility (the artifact's `base_utility`).
    pub base_utility: f64,
    /// Cost of recomputing the page (the artifact's `recompute_cost`).
    pub recompute_cost: f64,
    /// Scope kind; the type's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeKind>,
    /// For a session-scoped page in a multi-session workload: the session it belongs to. The
    /// page is available only while that session is active. Not allowed on project pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionId>,
    /// For a tool result: the canonical signature of the call that produced it. A page produced
    /// by a [`ToolCall`] takes the call's signature when this is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_signature: Option<ToolSignature>,
    /// Whether the page starts dirty (uncommitted state).
    #[serde(default, skip_serializing_if = "is_false")]
    pub dirty: bool,
    /// The turns at which the page exists; from turn 0 to the end when absent. A replay of a
    /// recorded session sets it so that no selection sees a page before the message that
    /// creates it (or after a newer version replaces it). A tool result exists from its first
    /// call in any case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<Existence>,
}

/// The turns `[created, retired)` at which a page exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Existence {
    /// The first turn at which the page exists.
    pub created: u32,
    /// The first turn at which it no longer exists; it exists to the end when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<u32>,
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_false(b: &bool) -> bool {
    !*b
}

/// Token cost per level; exactly the levels on the page type's path must be given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LevelTokens {
    /// Cost at `full`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full: Option<TokenCount>,
    /// Cost at `compressed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compressed: Option<TokenCount>,
    /// Cost at `structured`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured: Option<TokenCount>,
    /// Cost at `pointer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<TokenCount>,
}

impl LevelTokens {
    /// The cost at `level`, if the page has that level.
    #[must_use]
    pub fn at(self, level: Repr) -> Option<TokenCount> {
        match level {
            Repr::Full => self.full,
            Repr::Compressed => self.compressed,
            Repr::Structured => self.structured,
            Repr::Pointer => self.pointer,
            Repr::None => None,
        }
    }

    pub(crate) fn to_map(self) -> BTreeMap<Repr, TokenCount> {
        [
            (Repr::Pointer, self.pointer),
            (Repr::Structured, self.structured),
            (Repr::Compressed, self.compressed),
            (Repr::Full, self.full),
        ]
        .into_iter()
        .filter_map(|(level, cost)| cost.map(|c| (level, c)))
        .collect()
    }
}

/// What happens at one turn. Processing order: `events`, `updates`, `tool_calls`, `recalls`,
/// `demands`, then selection (see the crate README, "Turn order").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadTurn {
    /// Pages the agent needs this turn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub demands: Vec<Demand>,
    /// Tool calls made this turn; each result page is demanded at its minimum fidelity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Pages whose state changed this turn (now dirty until written back).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub updates: Vec<PageId>,
    /// Memory lookups made this turn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recalls: Vec<Recall>,
    /// Lifecycle events at the start of this turn, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<LifecycleEvent>,
}

/// A page needed at a turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Demand {
    /// The page.
    pub page: PageId,
    /// The level needed; the page's minimum fidelity when absent. A level off the page's path
    /// is served by the next level up (`compressed` on a bootstrap page means `full`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_repr: Option<Repr>,
}

/// A tool call and the page holding its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    /// Canonical signature: equal signatures are equivalent calls.
    pub signature: ToolSignature,
    /// The page that holds the result.
    pub result_page: PageId,
}

/// A memory lookup and what the backend answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recall {
    /// The query text (informational).
    pub query: String,
    /// The backend's answer.
    pub answer: RecallAnswer,
}

/// What a memory backend answered, before the harness decides what the agent sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RecallAnswer {
    /// Pages matched; they are demanded at their minimum fidelity this turn.
    Hit {
        /// The matching pages; must not be empty.
        pages: Vec<PageId>,
    },
    /// The backend answered and nothing matched.
    Empty,
    /// The backend refused.
    Denied {
        /// Why.
        reason: String,
    },
    /// The backend failed.
    Error {
        /// What failed.
        reason: String,
    },
}

/// A lifecycle event at the start of a turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum LifecycleEvent {
    /// The harness compacts the context.
    Compaction {
        /// Soft, hard or micro.
        kind: CompactionKind,
    },
    /// `/new`, `/reset`, `/clear`.
    Reset,
    /// The active session ends.
    SessionEnd,
    /// A session starts (and becomes the active one).
    SessionStart {
        /// The session.
        session: SessionId,
    },
}
