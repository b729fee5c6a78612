//! The rows of an evaluation summary: what `summary.json`, `summary.csv` and `summary.md` hold.
//!
//! These are the harness's own wire types. They are built from simulation results by the
//! runner and never read back, so they only serialize. Floats are [`Fixed`]: a value with a
//! fixed number of decimals, written the same way on every platform and every run.

use std::fmt;

use page_policy::FaultCounts;
use serde::ser::Error as _;
use serde::{Serialize, Serializer};

/// Version of the shape of `summary.json`. Bump it when a field changes meaning or goes away.
pub const SUMMARY_SCHEMA_VERSION: u32 = 1;

/// A float written with exactly `D` decimals (`0.901`, `67.75`), never in exponent form.
///
/// Rust's fixed-precision formatting rounds the exact binary value half to even, so the text
/// depends only on the value, not on the platform: this is what makes the summaries
/// byte-identical across runs and machines. Non-finite values are written as `null`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fixed<const D: usize>(pub f64);

impl<const D: usize> fmt::Display for Fixed<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_finite() {
            // Adding 0.0 turns a negative zero into a positive one, so `-0.000` never appears.
            write!(f, "{:.*}", D, self.0 + 0.0)
        } else {
            f.write_str("null")
        }
    }
}

impl<const D: usize> Serialize for Fixed<D> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = serde_json::value::RawValue::from_string(self.to_string())
            .map_err(|e| S::Error::custom(format!("fixed float {}: {e}", self.0)))?;
        raw.serialize(serializer)
    }
}

/// A float with three decimals: thrash indices.
pub type Fixed3 = Fixed<3>;

/// A float with two decimals: means of fault counts.
pub type Fixed2 = Fixed<2>;

/// One Tier-1 lifecycle gate: a contract scenario run under the failing baseline and ClawVM.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateRow {
    /// The gate's stable code, e.g. `post_compaction_bootstrap`.
    pub gate: String,
    /// Computed from the runs: the baseline failed the expected way and ClawVM did not.
    pub passed: bool,
    /// What each side did, with reason codes.
    pub detail: String,
}

/// One configuration of the Tier-2 sweep: a workload replayed under a policy at a budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepRow {
    /// Workload id, e.g. `evidence_heavy`.
    pub workload: String,
    /// Policy id, e.g. `clawvm`.
    pub policy: String,
    /// Token budget.
    pub budget: u32,
    /// Faults by kind.
    pub faults: FaultCounts,
    /// Sum of `faults`.
    pub total_faults: u64,
    /// Repeated tool calls whose result was still resident (not faults; paging events in thrash).
    pub duplicate_signature_alerts: u64,
    /// Demands served by what was resident.
    pub hits: u64,
    /// `(total_faults + duplicate_signature_alerts) / (hits + 1)`.
    pub thrash: Fixed3,
    /// Whether the minimum-fidelity set fit the budget at every turn.
    pub min_fidelity_fits: bool,
    /// `total_faults` minus the oracle's on the same workload and budget.
    pub oracle_gap: i64,
}

/// One subtractive ablation: ClawVM with one feature removed, summed over the four families.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AblationRow {
    /// The removed feature (`none` for full ClawVM).
    pub removed: String,
    /// Token budget (180, as in the paper's Table 6).
    pub budget: u32,
    /// Faults by kind, summed over the workload families.
    pub faults: FaultCounts,
    /// Sum of `faults`.
    pub total_faults: u64,
    /// The paper's total for this row (Table 6), when published.
    pub paper_total_faults: Option<u64>,
}

/// One adversarial run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdversarialRow {
    /// `starvation`, `churn` or `cascade_reset`.
    pub scenario: String,
    /// Policy id.
    pub policy: String,
    /// Token budget.
    pub budget: u32,
    /// Faults by kind.
    pub faults: FaultCounts,
    /// Sum of `faults`.
    pub total_faults: u64,
    /// Required installs that did not fit the budget (physical insufficiency), over the run.
    pub invariant_pressure: u64,
    /// `total_faults` minus the oracle's on the same scenario and budget.
    pub oracle_gap: i64,
    /// The distinct reasons behind the invariant pressure, e.g. `b1 needs structured (14 tokens)`.
    pub pressure_reasons: Vec<String>,
}

/// One policy's row of the headline table (the paper's Table 4), over the whole sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeadlineRow {
    /// Policy id.
    pub policy: String,
    /// Mean total faults per configuration.
    pub mean_faults: Fixed2,
    /// Mean thrash index per configuration.
    pub mean_thrash: Fixed3,
    /// Mean oracle gap per configuration.
    pub mean_oracle_gap: Fixed2,
    /// Configurations in which the minimum-fidelity set fit and the policy had a
    /// policy-controllable fault.
    pub faulty_fitting_configs: u64,
    /// The paper's mean faults for this policy, when published.
    pub paper_mean_faults: Option<Fixed2>,
    /// The paper's thrash index for this policy, when published.
    pub paper_thrash: Option<Fixed3>,
}

/// Everything one `pagevm eval` run produces, in the order `summary.json` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// [`SUMMARY_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The six Tier-1 gates.
    pub tier1: Vec<GateRow>,
    /// Policies × families × budgets.
    pub sweep: Vec<SweepRow>,
    /// Subtractive ablations at budget 180.
    pub ablations: Vec<AblationRow>,
    /// Starvation, churn and cascade reset under every policy.
    pub adversarial: Vec<AdversarialRow>,
    /// Means per policy over the sweep, beside the paper's.
    pub headline: Vec<HeadlineRow>,
    /// Recorded sessions replayed under every policy at fractions of their history (absent
    /// when no sessions were given).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub real_sessions: Vec<crate::real::RealRow>,
    /// ClawVM retention of specifics on the recorded sessions per budget fraction, with and
    /// without the page directory (absent when no sessions were given).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub real_retention: Vec<crate::real::RetentionRow>,
    /// Billed input under prompt caching and quality by content on the recorded sessions, per
    /// policy and budget fraction (absent when no sessions were given).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub real_cost_quality: Vec<crate::real::CostQualityRow>,
}
