//! The fault observer: counts the six faults, duplicate-signature alerts, hits and invariant
//! pressure, and writes the decision trace.
//!
//! The trigger rules live in the engine (`engine.rs`) and are listed in the crate README,
//! "Fault rules"; this module only records what the engine observed, with a reason code.

use page_core::{AlertKind, Boundary, FaultKind, PageId, Repr, SessionId, TokenCount};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Faults per kind. Field names are the [`FaultKind`] codes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultCounts {
    /// `refetch`.
    pub refetch: u64,
    /// `duplicate_tool`.
    pub duplicate_tool: u64,
    /// `pinned_invariant_miss` (policy-controllable ones only; see [`InvariantPressure`]).
    pub pinned_invariant_miss: u64,
    /// `post_compaction_bootstrap`.
    pub post_compaction_bootstrap: u64,
    /// `silent_recall`.
    pub silent_recall: u64,
    /// `flush_miss`.
    pub flush_miss: u64,
}

impl FaultCounts {
    /// The count of one kind.
    #[must_use]
    pub const fn get(&self, kind: FaultKind) -> u64 {
        match kind {
            FaultKind::Refetch => self.refetch,
            FaultKind::DuplicateTool => self.duplicate_tool,
            FaultKind::PinnedInvariantMiss => self.pinned_invariant_miss,
            FaultKind::PostCompactionBootstrap => self.post_compaction_bootstrap,
            FaultKind::SilentRecall => self.silent_recall,
            FaultKind::FlushMiss => self.flush_miss,
        }
    }

    /// Counts one fault of `kind`.
    pub fn add(&mut self, kind: FaultKind) {
        *self.slot(kind) += 1;
    }

    fn slot(&mut self, kind: FaultKind) -> &mut u64 {
        match kind {
            FaultKind::Refetch => &mut self.refetch,
            FaultKind::DuplicateTool => &mut self.duplicate_tool,
            FaultKind::PinnedInvariantMiss => &mut self.pinned_invariant_miss,
            FaultKind::PostCompactionBootstrap => &mut self.post_compaction_bootstrap,
            FaultKind::SilentRecall => &mut self.silent_recall,
            FaultKind::FlushMiss => &mut self.flush_miss,
        }
    }

    /// The sum over all six kinds.
    #[must_use]
    pub const fn total(&self) -> u64 {
        self.refetch
            + self.duplicate_tool
            + self.pinned_invariant_miss
            + self.post_compaction_bootstrap
            + self.silent_recall
            + self.flush_miss
    }

    /// Refetch plus duplicate-tool: the working-set faults pointer resolution prevents.
    #[must_use]
    pub const fn dup_refetch(&self) -> u64 {
        self.refetch + self.duplicate_tool
    }

    /// Adds `other`'s counts kind by kind.
    pub fn add_counts(&mut self, other: &FaultCounts) {
        for &kind in FaultKind::ALL {
            *self.slot(kind) += other.get(kind);
        }
    }
}

/// Why an event was recorded. Stable snake_case codes; see the README's "Fault rules".
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReasonCode {
    /// Hit: the page was resident at or above the demanded level.
    Resident,
    /// Hit: the page was evicted (or below the demanded level) and its pointer was resolved.
    PointerResolved,
    /// Refetch: a non-tool page referenced before was evicted and had to be re-retrieved.
    EvictedPageRefetched,
    /// Duplicate-tool: a tool-result page referenced before was evicted; its tool re-runs.
    EvictedResultRerun,
    /// Duplicate-tool: a call repeats a signature whose earlier result was evicted.
    SignatureRerunAfterEviction,
    /// Duplicate-signature alert: a call repeats a signature whose result is still resident.
    SignatureResident,
    /// Duplicate-signature alert: a call repeats a signature whose result was evicted but is
    /// reachable through its pointer (the harness dereferences it instead of re-running).
    SignatureResolvable,
    /// Post-compaction bootstrap: a bootstrap page below its minimum at the first assembly
    /// after a compaction, and the policy did not require it.
    BootstrapNotRestored,
    /// Flush-miss: dirty page destroyed by a compaction without writeback.
    NoWritebackAtCompaction,
    /// Flush-miss: dirty page destroyed by a reset without writeback.
    NoWritebackAtReset,
    /// Silent recall: the backend denied, the agent saw an empty result.
    RecallDeniedSilently,
    /// Silent recall: the backend failed, the agent saw an empty result.
    RecallErrorSilently,
    /// Pinned-invariant miss / invariant pressure: a hard-pinned or bootstrap page did not fit.
    PinnedUnmet,
    /// Invariant pressure: a demanded page (not hard-pinned, not bootstrap) did not fit.
    DemandUnmet,
}

impl ReasonCode {
    /// The stable code.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            ReasonCode::Resident => "resident",
            ReasonCode::PointerResolved => "pointer_resolved",
            ReasonCode::EvictedPageRefetched => "evicted_page_refetched",
            ReasonCode::EvictedResultRerun => "evicted_result_rerun",
            ReasonCode::SignatureRerunAfterEviction => "signature_rerun_after_eviction",
            ReasonCode::SignatureResident => "signature_resident",
            ReasonCode::SignatureResolvable => "signature_resolvable",
            ReasonCode::BootstrapNotRestored => "bootstrap_not_restored",
            ReasonCode::NoWritebackAtCompaction => "no_writeback_at_compaction",
            ReasonCode::NoWritebackAtReset => "no_writeback_at_reset",
            ReasonCode::RecallDeniedSilently => "recall_denied_silently",
            ReasonCode::RecallErrorSilently => "recall_error_silently",
            ReasonCode::PinnedUnmet => "pinned_unmet",
            ReasonCode::DemandUnmet => "demand_unmet",
        }
    }
}

/// One page of a turn's selection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectedPage {
    /// The page.
    pub page: PageId,
    /// Its level (never `none`: non-resident pages are omitted).
    pub level: Repr,
}

/// One line of the decision trace. Serialized with an `event` tag; one JSON object per line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum TraceEvent {
    /// A lifecycle boundary at the start of a turn, with what happened to dirty pages.
    Boundary {
        /// The turn.
        turn: u32,
        /// Which boundary.
        boundary: Boundary,
        /// Dirty pages written back before it.
        committed: u32,
        /// Dirty pages it destroyed (each also a `flush_miss` fault event).
        lost: u32,
    },
    /// A session became active.
    SessionStart {
        /// The turn.
        turn: u32,
        /// The session.
        session: SessionId,
    },
    /// A demand or tool call was served without a fault.
    Hit {
        /// The turn.
        turn: u32,
        /// The page.
        page: PageId,
        /// `resident` or `pointer_resolved`.
        reason: ReasonCode,
    },
    /// A policy-controllable fault.
    Fault {
        /// The turn.
        turn: u32,
        /// The page (for silent recall: none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        page: Option<PageId>,
        /// The fault kind.
        kind: FaultKind,
        /// Why.
        reason: ReasonCode,
    },
    /// A duplicate-signature alert.
    Alert {
        /// The turn.
        turn: u32,
        /// The resident page holding the earlier result.
        page: PageId,
        /// The alert kind.
        kind: AlertKind,
        /// Why.
        reason: ReasonCode,
    },
    /// A required install that did not fit: physical insufficiency, not a policy fault.
    Pressure {
        /// The turn.
        turn: u32,
        /// The page.
        page: PageId,
        /// The level it was required at.
        level: Repr,
        /// `pinned_unmet` or `demand_unmet`.
        reason: ReasonCode,
    },
    /// The turn's selection.
    Selection {
        /// The turn.
        turn: u32,
        /// The budget the policy ran with (after any multi-session scale).
        budget: TokenCount,
        /// Tokens used by the selection.
        tokens_used: TokenCount,
        /// Resident pages in page order.
        pages: Vec<SelectedPage>,
    },
}

/// Required installs that did not fit the budget: physical insufficiency, reported apart from
/// the policy-controllable faults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvariantPressure {
    /// Unmet required installs over the run (pinned and demanded).
    pub count: u64,
    /// Of those, hard-pinned or bootstrap pages: pinned-invariant misses caused by a minimum-fidelity set
    /// larger than the budget.
    pub pinned_invariant_misses: u64,
    /// Each unmet install, in order. Each carries a `pinned_unmet` or `demand_unmet` reason.
    pub events: Vec<PressureEvent>,
}

/// One unmet required install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PressureEvent {
    /// The turn.
    pub turn: u32,
    /// The page.
    pub page: PageId,
    /// The level it was required at.
    pub level: Repr,
    /// `pinned_unmet` or `demand_unmet`.
    pub reason: ReasonCode,
}

/// Counters and the trace of one run.
#[derive(Debug, Clone, Default)]
pub(crate) struct FaultObserver {
    pub(crate) faults: FaultCounts,
    pub(crate) alerts: u64,
    pub(crate) hits: u64,
    pub(crate) pressure: InvariantPressure,
    pub(crate) record: bool,
    pub(crate) trace: Vec<TraceEvent>,
    /// Faults, hits, alerts and unmet installs of the current turn.
    pub(crate) turn_faults: u32,
    pub(crate) turn_hits: u32,
    pub(crate) turn_alerts: u32,
    pub(crate) turn_unmet: u32,
}

impl FaultObserver {
    pub(crate) fn begin_turn(&mut self) {
        self.turn_faults = 0;
        self.turn_hits = 0;
        self.turn_alerts = 0;
        self.turn_unmet = 0;
    }

    pub(crate) fn reset(&mut self) {
        let record = self.record;
        let mut trace = std::mem::take(&mut self.trace);
        trace.clear();
        let mut events = std::mem::take(&mut self.pressure.events);
        events.clear();
        *self = Self {
            record,
            trace,
            pressure: InvariantPressure {
                events,
                ..InvariantPressure::default()
            },
            ..Self::default()
        };
    }

    pub(crate) fn fault(
        &mut self,
        turn: u32,
        page: Option<&PageId>,
        kind: FaultKind,
        reason: ReasonCode,
    ) {
        *self.faults.slot(kind) += 1;
        self.turn_faults += 1;
        if self.record {
            self.trace.push(TraceEvent::Fault {
                turn,
                page: page.cloned(),
                kind,
                reason,
            });
        }
    }

    pub(crate) fn hit(&mut self, turn: u32, page: &PageId, reason: ReasonCode) {
        self.hits += 1;
        self.turn_hits += 1;
        if self.record {
            self.trace.push(TraceEvent::Hit {
                turn,
                page: page.clone(),
                reason,
            });
        }
    }

    pub(crate) fn alert(&mut self, turn: u32, page: &PageId, reason: ReasonCode) {
        self.alerts += 1;
        self.turn_alerts += 1;
        if self.record {
            self.trace.push(TraceEvent::Alert {
                turn,
                page: page.clone(),
                kind: AlertKind::DuplicateSignature,
                reason,
            });
        }
    }

    pub(crate) fn pressure(&mut self, turn: u32, page: &PageId, level: Repr, pinned: bool) {
        let reason = if pinned {
            ReasonCode::PinnedUnmet
        } else {
            ReasonCode::DemandUnmet
        };
        self.pressure.count += 1;
        if pinned {
            self.pressure.pinned_invariant_misses += 1;
        }
        self.turn_unmet += 1;
        // Pressure events are part of the result even without a trace: the starvation
        // scenario reports them with their reasons.
        self.pressure.events.push(PressureEvent {
            turn,
            page: page.clone(),
            level,
            reason,
        });
        if self.record {
            self.trace.push(TraceEvent::Pressure {
                turn,
                page: page.clone(),
                level,
                reason,
            });
        }
    }

    pub(crate) fn push(&mut self, event: TraceEvent) {
        if self.record {
            self.trace.push(event);
        }
    }
}
