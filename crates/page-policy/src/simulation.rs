//! What a replay returns: a whole workload's counts and trace ([`Simulation`]), and one
//! turn's ([`TurnStats`]).

use page_core::TokenCount;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::observer::{FaultCounts, InvariantPressure, TraceEvent};

/// The result of replaying a workload under one policy and budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Simulation {
    /// The workload id.
    pub workload: String,
    /// The policy preset the configuration started from.
    pub policy: crate::PolicyId,
    /// The budget asked for.
    pub budget: TokenCount,
    /// The budget the policy ran with (`floor(budget × multisession_budget_scale)` in a
    /// multi-session workload, else `budget`).
    pub effective_budget: TokenCount,
    /// Turns replayed.
    pub turns: u32,
    /// Policy-controllable faults per kind.
    pub faults: FaultCounts,
    /// `faults.total()`.
    pub total_faults: u64,
    /// Duplicate-signature alerts (not faults; counted in thrash).
    pub duplicate_signature_alerts: u64,
    /// Hits.
    pub hits: u64,
    /// `(total_faults + duplicate_signature_alerts) / (hits + 1)`.
    pub thrash: f64,
    /// Whether the minimum-fidelity set (every available hard-pinned or bootstrap page at its
    /// minimum, every demanded page at its demand level) fit the effective budget at every turn.
    pub min_fidelity_fits: bool,
    /// Required installs that did not fit: physical insufficiency, not policy faults.
    pub invariant_pressure: InvariantPressure,
    /// The decision trace (empty when recording was switched off).
    pub trace: Vec<TraceEvent>,
}

/// What one turn did, for callers timing or stepping the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TurnStats {
    /// The turn just replayed.
    pub turn: u32,
    /// Tokens used by its selection.
    pub tokens_used: TokenCount,
    /// Policy-controllable faults observed in it.
    pub faults: u32,
    /// Hits observed in it.
    pub hits: u32,
    /// Duplicate-signature alerts observed in it.
    pub alerts: u32,
    /// Unmet required installs (invariant pressure) in it.
    pub unmet: u32,
}
