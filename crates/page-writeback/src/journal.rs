//! Journal entries and their life-cycle: Staged → Validated → Committed, or Staged → Rejected.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use page_core::{
    Boundary, FaultKind, Page, PageId, PageType, Repr, SessionId, TokenCount, ToolCallId,
};
use serde_json::Value;

use crate::update::{FieldVersion, Update};

/// Why an update was rejected. The codes are stable and SCREAMING_SNAKE, as the paper and the
/// issue name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ReasonCode {
    /// The value does not validate against its page type's field schema: unknown page or
    /// field, wrong type, too large, not JSON.
    Schema,
    /// `evidence_ref` resolves to no page or tool call.
    Provenance,
    /// The principal may not write the claimed scope, or the claimed scope is not the page's.
    ScopeDenied,
    /// A version mismatch, a removal, or any op that would overwrite committed content.
    DestructiveOp,
    /// A policy rule, e.g. dropping content of a hard-pinned page.
    Policy,
    /// A pluggable [`crate::SemanticValidator`] refused the update.
    Semantic,
}

impl ReasonCode {
    /// Every code, in the order the checks run.
    pub const ALL: [ReasonCode; 6] = [
        ReasonCode::Schema,
        ReasonCode::Provenance,
        ReasonCode::ScopeDenied,
        ReasonCode::DestructiveOp,
        ReasonCode::Policy,
        ReasonCode::Semantic,
    ];

    /// The stable code.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            ReasonCode::Schema => "SCHEMA",
            ReasonCode::Provenance => "PROVENANCE",
            ReasonCode::ScopeDenied => "SCOPE_DENIED",
            ReasonCode::DestructiveOp => "DESTRUCTIVE_OP",
            ReasonCode::Policy => "POLICY",
            ReasonCode::Semantic => "SEMANTIC",
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for ReasonCode {
    type Err = crate::error::UpdateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReasonCode::ALL
            .into_iter()
            .find(|c| c.code() == s)
            .ok_or_else(|| crate::error::UpdateError::UnknownReasonCode(s.to_owned()))
    }
}

/// A rejection: its code and a human-readable detail naming what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rejection {
    code: ReasonCode,
    detail: String,
}

impl Rejection {
    /// A rejection with `code` and `detail`.
    #[must_use]
    pub fn new(code: ReasonCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }

    /// The stable code.
    #[must_use]
    pub const fn code(&self) -> ReasonCode {
        self.code
    }

    /// What is wrong, for a person.
    #[must_use]
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

/// The id of a journal entry: assigned by the journal store, increasing in staging order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(u64);

impl EntryId {
    /// Wraps a raw id (stores only).
    #[must_use]
    pub const fn new(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw id.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The sequence number of a committed boundary: increasing across the whole store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BoundarySeq(u64);

impl BoundarySeq {
    /// Wraps a raw sequence number (stores only).
    #[must_use]
    pub const fn new(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw number.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// Where an entry is in its life-cycle.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntryState {
    /// Journalled, not yet checked. Changes nothing.
    Staged,
    /// Passed every check against the committed state it was checked with. Changes nothing
    /// until its boundary commits.
    Validated,
    /// Applied by the boundary with this sequence number.
    Committed(BoundarySeq),
    /// Refused; changes nothing, stays in the journal for diagnosis.
    Rejected(Rejection),
}

impl EntryState {
    /// The stable code: `staged`, `validated`, `committed`, `rejected`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            EntryState::Staged => "staged",
            EntryState::Validated => "validated",
            EntryState::Committed(_) => "committed",
            EntryState::Rejected(_) => "rejected",
        }
    }

    /// Whether the entry is still waiting for a boundary (staged or validated).
    #[must_use]
    pub const fn is_pending(&self) -> bool {
        matches!(self, EntryState::Staged | EntryState::Validated)
    }
}

/// One journal entry: an update of a session and its state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JournalEntry {
    id: EntryId,
    session: SessionId,
    update: Update,
    state: EntryState,
}

impl JournalEntry {
    /// An entry as a store rebuilds it.
    #[must_use]
    pub fn new(id: EntryId, session: SessionId, update: Update, state: EntryState) -> Self {
        Self {
            id,
            session,
            update,
            state,
        }
    }

    /// The id.
    #[must_use]
    pub const fn id(&self) -> EntryId {
        self.id
    }

    /// The session that staged it.
    #[must_use]
    pub fn session(&self) -> &SessionId {
        &self.session
    }

    /// The update.
    #[must_use]
    pub fn update(&self) -> &Update {
        &self.update
    }

    /// The state.
    #[must_use]
    pub fn state(&self) -> &EntryState {
        &self.state
    }

    pub(crate) fn set_state(&mut self, state: EntryState) {
        self.state = state;
    }
}

/// An update that passed validation. Only [`crate::Writeback`] builds these, so a store can
/// only ever commit validated updates.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedUpdate {
    entry: EntryId,
    update: Update,
    value: Value,
    page_type: PageType,
}

impl ValidatedUpdate {
    pub(crate) fn new(entry: EntryId, update: Update, value: Value, page_type: PageType) -> Self {
        Self {
            entry,
            update,
            value,
            page_type,
        }
    }

    /// The journal entry.
    #[must_use]
    pub const fn entry(&self) -> EntryId {
        self.entry
    }

    /// The update.
    #[must_use]
    pub fn update(&self) -> &Update {
        &self.update
    }

    /// The parsed operand.
    #[must_use]
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The type of the target page.
    #[must_use]
    pub const fn page_type(&self) -> PageType {
        self.page_type
    }
}

/// When a boundary happens: the caller's clock and turn counter, since libraries read no clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BoundaryContext {
    /// Which boundary.
    pub boundary: Boundary,
    /// The turn it ends or interrupts.
    pub turn: u64,
    /// Milliseconds since the Unix epoch, from the caller's clock.
    pub time_ms: i64,
}

/// A change of a page's representation, as the policy decided it, recorded in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReprChange {
    /// The page.
    pub page: PageId,
    /// Its type.
    pub page_type: PageType,
    /// The level before.
    pub from: Repr,
    /// The level after.
    pub to: Repr,
    /// Tokens at `from`.
    pub tokens_before: TokenCount,
    /// Tokens at `to`.
    pub tokens_after: TokenCount,
    /// Tokens of the page's full representation: what the page holds, whatever level it is
    /// shown at.
    pub full_tokens: TokenCount,
    /// Why (a stable code of the caller's, e.g. `budget`, `demand`, `compaction`).
    pub reason: String,
}

/// A fault the harness observed, kept in the store's fault log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FaultRecord {
    /// The session.
    pub session: SessionId,
    /// Which fault.
    pub kind: FaultKind,
    /// The page concerned, when there is one.
    pub page: Option<PageId>,
    /// The tool call concerned, when there is one.
    pub tool_call: Option<ToolCallId>,
    /// The turn.
    pub turn: u64,
    /// Milliseconds since the Unix epoch, from the caller's clock.
    pub time_ms: i64,
    /// What happened, for a person.
    pub detail: String,
}

/// Everything one boundary commits, as one atomic unit.
#[derive(Debug, Clone)]
pub struct CommitBatch {
    pub(crate) session: SessionId,
    pub(crate) context: BoundaryContext,
    pub(crate) updates: Vec<ValidatedUpdate>,
    pub(crate) rejected: Vec<(EntryId, Rejection)>,
    pub(crate) pages: Vec<Page>,
    pub(crate) repr_changes: Vec<ReprChange>,
}

impl CommitBatch {
    /// The session.
    #[must_use]
    pub fn session(&self) -> &SessionId {
        &self.session
    }

    /// The boundary.
    #[must_use]
    pub const fn context(&self) -> BoundaryContext {
        self.context
    }

    /// The validated updates, in journal order. A store applies them in this order, each on
    /// top of the value the previous one left, with [`crate::apply_op`].
    #[must_use]
    pub fn updates(&self) -> &[ValidatedUpdate] {
        &self.updates
    }

    /// Entries rejected while validating for this boundary: recorded as `Rejected` by the
    /// same commit.
    #[must_use]
    pub fn rejected(&self) -> &[(EntryId, Rejection)] {
        &self.rejected
    }

    /// The boundary this batch repeats, when it would store nothing new: no updates, no
    /// rejections, and only pages whose batch version is already stored (`already`: page →
    /// the boundary that stored that version) with audit rows of those pages only. Then the
    /// newest of those boundaries; `None` for a batch that has something of its own.
    #[must_use]
    pub fn replays(&self, already: &BTreeMap<PageId, BoundarySeq>) -> Option<BoundarySeq> {
        let nothing_new = self.updates.is_empty()
            && self.rejected.is_empty()
            && !self.pages.is_empty()
            && self.pages.iter().all(|p| already.contains_key(p.id()))
            && self
                .repr_changes
                .iter()
                .all(|c| already.contains_key(&c.page));
        if nothing_new {
            already.values().max().copied()
        } else {
            None
        }
    }

    /// Snapshots of the dirty pages, each to be stored as a new page version (idempotent per
    /// `(page, version)`).
    #[must_use]
    pub fn pages(&self) -> &[Page] {
        &self.pages
    }

    /// Representation changes for the audit log.
    #[must_use]
    pub fn repr_changes(&self) -> &[ReprChange] {
        &self.repr_changes
    }
}

/// What a successful commit reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitReceipt {
    /// The boundary's sequence number.
    pub seq: BoundarySeq,
    /// Each committed update's entry and the field version it produced.
    pub versions: Vec<(EntryId, FieldVersion)>,
    /// How many page versions this commit stored; a version already stored identically is
    /// not stored twice (see [`crate::JournalStore::commit`]).
    pub stored_pages: usize,
}

/// The committed value of one field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldState {
    /// The value.
    pub value: Value,
    /// Its version.
    pub version: FieldVersion,
}

/// One row of the audit log: a representation change, at a committed boundary.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuditRecord {
    /// The boundary that committed it.
    pub seq: BoundarySeq,
    /// The session.
    pub session: SessionId,
    /// The change.
    pub change: ReprChange,
    /// The boundary kind.
    pub boundary: Boundary,
    /// The turn.
    pub turn: u64,
    /// Milliseconds since the Unix epoch, from the caller's clock.
    pub time_ms: i64,
}
