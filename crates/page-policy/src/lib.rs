//! The budget-driven core of pagevm: the two-phase representation selector, the paper's six
//! policies, the fault observer and the per-turn replay engine.
//!
//! A [`Workload`] (versioned JSON, see [`WORKLOAD_SCHEMA_VERSION`]) describes pages by their
//! per-level token costs and turns by what the agent does: demands, tool calls, updates,
//! recalls and lifecycle events. [`Workload::validate`] checks it once into a
//! [`ValidatedWorkload`]; [`simulate`] replays it under a [`PolicyConfig`] (a
//! [`PolicyConfig::preset`] of a [`PolicyId`], possibly with a [`Feature`] switched off) and a
//! token budget, and returns a [`Simulation`]: faults per kind, duplicate-signature alerts,
//! hits, thrash, invariant pressure and the decision trace ([`TraceEvent`]).
//! [`PolicyEngine`] is the same replay one turn at a time, on reused buffers, for benchmarks.
//!
//! The key design decision: everything that does not depend on the policy (id resolution,
//! cost tables, the merged demand list of each turn, tool-signature predecessors, the oracle's
//! future-demand index) is computed once at validation, so a turn is array lookups plus one
//! sort of the candidate upgrades: O(n log n) in candidates, no allocation without a trace.
//!
//! This crate does no IO: no files, no clock, no environment, no randomness. The crate
//! README documents where the selector follows the artifact, where it deviates, and the exact
//! fault rules.
//!
//! ```
//! use page_policy::{PolicyConfig, PolicyId, Workload, simulate};
//! use page_core::TokenCount;
//!
//! let workload: Workload = serde_json::from_str(r#"{
//!   "schema_version": 1, "id": "tiny", "family": "example",
//!   "pages": [
//!     {"id": "boot", "type": "bootstrap_policy", "tokens": {"full": 40, "structured": 10},
//!      "base_utility": 9.0, "recompute_cost": 1.0},
//!     {"id": "e1", "type": "evidence", "tokens": {"full": 60, "compressed": 30,
//!      "structured": 12, "pointer": 3}, "base_utility": 5.0, "recompute_cost": 8.0}
//!   ],
//!   "turns": [
//!     {"demands": [{"page": "e1", "required_repr": "full"}]},
//!     {"events": [{"event": "compaction", "kind": "hard"}]},
//!     {"demands": [{"page": "e1"}]}
//!   ]
//! }"#)?;
//! let workload = workload.validate()?;
//! let clawvm = simulate(&workload, &PolicyConfig::preset(PolicyId::Clawvm), TokenCount::new(120));
//! let retrieval =
//!     simulate(&workload, &PolicyConfig::preset(PolicyId::RetrievalOnly), TokenCount::new(120));
//! assert_eq!(clawvm.total_faults, 0);
//! assert_eq!(retrieval.faults.post_compaction_bootstrap, 1);
//! assert_eq!(retrieval.faults.duplicate_tool + retrieval.faults.refetch, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod cost;
mod engine;
mod error;
mod live;
mod observer;
mod selector;
mod simulation;
mod validated;
mod workload;

pub use crate::config::{
    Feature, Paging, ParsePolicyError, PolicyConfig, PolicyId, UpgradeMode, Watermarks,
    WatermarksError, Weights,
};
pub use crate::cost::{
    CacheMode, CostError, CostMeter, CostSummary, Pricing, RequestCost, RequestItem, RewriteFloor,
};
pub use crate::engine::{PolicyEngine, PromptItem, simulate};
pub use crate::error::WorkloadError;
pub use crate::live::{LivePage, LiveSelection, LiveSelector, Sent, select_live};
pub use crate::observer::{
    FaultCounts, InvariantPressure, PressureEvent, ReasonCode, SelectedPage, TraceEvent,
};
pub use crate::simulation::{Simulation, TurnStats};
pub use crate::validated::{ValidatedWorkload, auto_pinned};
pub use crate::workload::{
    Demand, Existence, LevelTokens, LifecycleEvent, Recall, RecallAnswer, ToolCall,
    WORKLOAD_SCHEMA_VERSION, Workload, WorkloadPage, WorkloadTurn,
};
