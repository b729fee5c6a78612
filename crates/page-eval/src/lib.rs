//! The replay harness of pagevm: the paper's evaluation, run against `page-policy`.
//!
//! It builds the four seeded workload families ([`Family`]), the six Tier-1 lifecycle gates as
//! small contract scenarios, the Tier-2 sweep (six policies × four families × six budgets),
//! the subtractive ablations at budget 180, the adversarial runs (starvation, churn, cascade
//! reset) and the oracle gap, and turns the results into a [`Summary`] rendered as JSON, CSV
//! and Markdown plus one decision trace (JSON lines) per run ([`run_eval`], [`write_outputs`]).
//!
//! The key design decision: every number in a summary is computed by replaying a workload
//! through `page_policy::simulate` (or, for the unsafe-persistence gate, through
//! `page_writeback`'s journal); a gate's `passed` is derived from the runs it compares, never
//! asserted. Workloads are generated from fixed seeds with ChaCha8, floats are written with
//! fixed decimals, and rows are built in a fixed order, so a build writes byte-identical files
//! on every run.

mod adversarial;
mod chart;
mod engine_gates;
mod error;
mod families;
mod gates;
mod output;
mod paper;
mod persistence;
mod progress;
mod real;
mod render;
mod report;
mod report_cost;
mod run;
mod schema;
mod summary;

pub use crate::engine_gates::{EngineGate, run_engine_gates};
pub use crate::error::EvalError;
pub use crate::families::{
    Family, MASTER_SEED, MIN_SET_CAP, RERUN_RATE, generate, scaled_workload,
};
pub use crate::output::{MANIFEST, OutputDir};
pub use crate::progress::{NoProgress, Progress};
pub use crate::real::{
    CostQualityRow, REAL_FRACTIONS, RealResults, RealRow, Residency, RetentionRow, run_real,
};
pub use crate::render::{
    headline_table, real_table, summary_csv, summary_json, summary_md, tier1_line,
};
pub use crate::report::report_html;
pub use crate::run::{
    ABLATION_BUDGET, EvalPlan, Evaluation, SWEEP_BUDGETS, run_eval, write_outputs,
};
pub use crate::schema::workload_schema_json;
pub use crate::summary::{
    AblationRow, AdversarialRow, Fixed, Fixed2, Fixed3, GateRow, HeadlineRow,
    SUMMARY_SCHEMA_VERSION, Summary, SweepRow,
};
