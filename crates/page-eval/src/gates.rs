//! The six Tier-1 lifecycle gates (the paper's Table 3) as contract scenarios.
//!
//! Each gate is a small hand-built workload (or, for unsafe persistence, a writeback journal
//! session) run twice: under the baseline that lacks the mechanism, which must fail in the
//! expected way with the expected reason code, and under ClawVM, which must not. `passed` is
//! computed from both runs; nothing is asserted.

use std::path::Path;

use page_core::{Boundary, CompactionKind, FaultKind, Repr, TokenCount};
use page_policy::{
    PolicyConfig, PolicyId, ReasonCode, Simulation, TraceEvent, ValidatedWorkload, Workload,
    simulate,
};
use serde_json::{Value, json};

use crate::error::EvalError;
use crate::persistence;
use crate::summary::GateRow;

/// A gate's stable code and the runs behind its verdict.
pub(crate) struct GateRun {
    pub(crate) row: GateRow,
    /// `(run name, simulation)` for the decision traces; empty for the journal gate.
    pub(crate) runs: Vec<(String, Simulation)>,
}

/// The gate codes, in the paper's Table 3 order.
pub(crate) const GATES: [&str; 6] = [
    "post_compaction_bootstrap",
    "reset_flush_miss",
    "threshold_jump_race",
    "silent_recall_visibility",
    "unsafe_persistence_rejection",
    "evidence_churn_duplicate_tool",
];

/// Runs every gate, in [`GATES`] order. `sqlite_dir` is where the unsafe-persistence gate puts
/// its SQLite store (it also runs on the in-memory store).
pub(crate) fn run_gates(sqlite_dir: Option<&Path>) -> Result<Vec<GateRun>, EvalError> {
    let claw = PolicyConfig::preset(PolicyId::Clawvm);
    Ok(vec![
        post_compaction_bootstrap(&claw)?,
        reset_flush_miss(&claw)?,
        threshold_jump_race(&claw)?,
        silent_recall_visibility(&claw)?,
        unsafe_persistence_rejection(sqlite_dir),
        evidence_churn_duplicate_tool(&claw)?,
    ])
}

fn workload(id: &str, pages: Value, turns: Value) -> Result<ValidatedWorkload, EvalError> {
    let doc = json!({
        "schema_version": page_policy::WORKLOAD_SCHEMA_VERSION,
        "id": id,
        "family": "tier1",
        "pages": pages,
        "turns": turns,
    });
    let invalid = |reason: String| EvalError::InvalidWorkload {
        workload: id.to_owned(),
        reason,
    };
    let w: Workload = serde_json::from_value(doc).map_err(|e| invalid(e.to_string()))?;
    w.validate().map_err(|e| invalid(e.to_string()))
}

fn boot(id: &str) -> Value {
    json!({"id": id, "type": "bootstrap_policy", "tokens": {"full": 40, "structured": 12},
           "base_utility": 6.0, "recompute_cost": 2.0})
}

fn plan(id: &str) -> Value {
    json!({"id": id, "type": "plan", "tokens": {"full": 36, "structured": 14, "pointer": 4},
           "base_utility": 4.0, "recompute_cost": 3.0})
}

fn pref(id: &str) -> Value {
    json!({"id": id, "type": "preference",
           "tokens": {"full": 20, "compressed": 12, "structured": 8, "pointer": 3},
           "base_utility": 3.0, "recompute_cost": 1.0})
}

fn evidence(id: &str, full: u32) -> Value {
    json!({"id": id, "type": "evidence", "pin": "soft",
           "tokens": {"full": full, "compressed": full * 2 / 5, "structured": full / 5,
                      "pointer": 5},
           "base_utility": 5.0, "recompute_cost": 8.0})
}

fn call(path: &str, page: &str) -> Value {
    json!({"signature": format!("read_file({{\"path\":\"{path}\"}})"), "result_page": page})
}

fn run(w: &ValidatedWorkload, policy: PolicyId, budget: u32) -> Simulation {
    simulate(w, &PolicyConfig::preset(policy), TokenCount::new(budget))
}

/// Fault events of `kind` with `reason`, as `page@turn`.
fn faults_with(sim: &Simulation, kind: FaultKind, reason: ReasonCode) -> Vec<String> {
    sim.trace
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Fault {
                turn,
                page,
                kind: k,
                reason: r,
            } if *k == kind && *r == reason => Some(match page {
                Some(p) => format!("{p}@{turn}"),
                None => format!("turn {turn}"),
            }),
            _ => None,
        })
        .collect()
}

/// `(committed, lost)` at the boundaries of kind `boundary`, summed.
fn boundary_counts(sim: &Simulation, boundary: Boundary) -> (u32, u32) {
    sim.trace.iter().fold((0, 0), |(c, l), e| match e {
        TraceEvent::Boundary {
            boundary: b,
            committed,
            lost,
            ..
        } if *b == boundary => (c + committed, l + lost),
        _ => (c, l),
    })
}

fn selected_level(sim: &Simulation, turn: u32, page: &str) -> Repr {
    sim.trace
        .iter()
        .find_map(|e| match e {
            TraceEvent::Selection { turn: t, pages, .. } if *t == turn => Some(
                pages
                    .iter()
                    .find(|p| p.page.as_str() == page)
                    .map_or(Repr::None, |p| p.level),
            ),
            _ => None,
        })
        .unwrap_or(Repr::None)
}

fn gate(code: &str, passed: bool, detail: String, runs: Vec<(PolicyId, Simulation)>) -> GateRun {
    GateRun {
        row: GateRow {
            gate: code.to_owned(),
            passed,
            detail,
        },
        runs: runs
            .into_iter()
            .map(|(p, s)| (format!("{code}__{p}"), s))
            .collect(),
    }
}

/// Gate 1: a compaction mid-task under a tight budget. Compaction-Hybrid does not pin the
/// bootstrap page, spends the budget on the demanded evidence and prefetched pointers, and
/// leaves the bootstrap page out; ClawVM installs it in Phase 1.
fn post_compaction_bootstrap(claw_config: &PolicyConfig) -> Result<GateRun, EvalError> {
    let w = workload(
        "gate_post_compaction_bootstrap",
        json!([
            boot("boot1"),
            plan("plan"),
            evidence("e1", 60),
            evidence("e2", 60),
            evidence("e3", 60)
        ]),
        json!([
            {"tool_calls": [call("a.rs", "e1")], "demands": [{"page": "plan", "required_repr": "structured"}]},
            {"tool_calls": [call("b.rs", "e2")], "demands": [{"page": "e1", "required_repr": "compressed"}]},
            {"tool_calls": [call("c.rs", "e3")]},
            {"events": [{"event": "compaction", "kind": "hard"}],
             "demands": [{"page": "e2", "required_repr": "full"}, {"page": "e3", "required_repr": "full"},
                         {"page": "plan", "required_repr": "structured"}]},
        ]),
    )?;
    let budget = 150;
    let base = run(&w, PolicyId::CompactionHybrid, budget);
    let claw = simulate(&w, claw_config, TokenCount::new(budget));
    let base_faults = faults_with(
        &base,
        FaultKind::PostCompactionBootstrap,
        ReasonCode::BootstrapNotRestored,
    );
    let claw_level = selected_level(&claw, 3, "boot1");
    let passed =
        !base_faults.is_empty() && claw.total_faults == 0 && claw_level >= Repr::Structured;
    let detail = format!(
        "budget {budget}; compaction_hybrid: {} post_compaction_bootstrap (bootstrap_not_restored) at {}; \
         clawvm: {} faults, boot1 at {claw_level} after the compaction",
        base_faults.len(),
        base_faults.join(", "),
        claw.total_faults,
    );
    Ok(gate(
        GATES[0],
        passed,
        detail,
        vec![(PolicyId::CompactionHybrid, base), (PolicyId::Clawvm, claw)],
    ))
}

/// Gate 2: dirty plan and preference, then `/reset`. Compaction-Hybrid writes back only at
/// compaction, so the reset destroys both; ClawVM commits them first.
fn reset_flush_miss(claw_config: &PolicyConfig) -> Result<GateRun, EvalError> {
    let w = workload(
        "gate_reset_flush_miss",
        json!([boot("boot1"), plan("plan"), pref("pref1")]),
        json!([
            {"demands": [{"page": "plan", "required_repr": "structured"}]},
            {"updates": ["plan", "pref1"], "demands": [{"page": "pref1", "required_repr": "full"}]},
            {"events": [{"event": "reset"}], "demands": [{"page": "plan", "required_repr": "structured"}]},
        ]),
    )?;
    let budget = 180;
    let base = run(&w, PolicyId::CompactionHybrid, budget);
    let claw = simulate(&w, claw_config, TokenCount::new(budget));
    let base_faults = faults_with(&base, FaultKind::FlushMiss, ReasonCode::NoWritebackAtReset);
    let (committed, lost) = boundary_counts(&claw, Boundary::Reset);
    let passed = !base_faults.is_empty() && claw.total_faults == 0 && committed == 2 && lost == 0;
    let detail = format!(
        "compaction_hybrid: {} flush_miss (no_writeback_at_reset) at {}; \
         clawvm: {} faults, reset committed {committed} dirty pages, lost {lost}",
        base_faults.len(),
        base_faults.join(", "),
        claw.total_faults,
    );
    Ok(gate(
        GATES[1],
        passed,
        detail,
        vec![(PolicyId::CompactionHybrid, base), (PolicyId::Clawvm, claw)],
    ))
}

/// Gate 3: one tool result large enough to jump from well below the compaction threshold to
/// past it in a single turn, so a hard compaction follows with no soft-threshold turn in
/// between (the OpenClaw stale-token-count race). A policy that relies on a pre-compaction
/// flush turn (Retrieval+Cache) loses the dirty plan; ClawVM writes back at the compaction
/// boundary itself, whatever the threshold did.
fn threshold_jump_race(claw_config: &PolicyConfig) -> Result<GateRun, EvalError> {
    let w = workload(
        "gate_threshold_jump_race",
        json!([
            boot("boot1"),
            plan("plan"),
            evidence("e1", 30),
            evidence("big", 400)
        ]),
        json!([
            {"tool_calls": [call("small.rs", "e1")], "demands": [{"page": "plan", "required_repr": "structured"}]},
            {"updates": ["plan"], "demands": [{"page": "plan", "required_repr": "full"}]},
            {"tool_calls": [call("huge.log", "big")], "demands": [{"page": "big", "required_repr": "full"}]},
            {"events": [{"event": "compaction", "kind": CompactionKind::Hard.code()}],
             "demands": [{"page": "plan", "required_repr": "structured"}]},
        ]),
    )?;
    let budget = 500;
    let base = run(&w, PolicyId::RetrievalOnlyCached, budget);
    let claw = simulate(&w, claw_config, TokenCount::new(budget));
    let base_faults = faults_with(
        &base,
        FaultKind::FlushMiss,
        ReasonCode::NoWritebackAtCompaction,
    );
    let (committed, lost) = boundary_counts(&claw, Boundary::Compaction(CompactionKind::Hard));
    let flush_faults = claw.faults.flush_miss;
    let passed = !base_faults.is_empty() && flush_faults == 0 && committed >= 1 && lost == 0;
    let detail = format!(
        "tokens jump past the threshold in one turn, hard compaction next; retrieval_only_cached: {} flush_miss \
         (no_writeback_at_compaction) at {}; clawvm: {flush_faults} flush_miss, the compaction committed \
         {committed} dirty page(s), lost {lost}",
        base_faults.len(),
        base_faults.join(", "),
    );
    Ok(gate(
        GATES[2],
        passed,
        detail,
        vec![
            (PolicyId::RetrievalOnlyCached, base),
            (PolicyId::Clawvm, claw),
        ],
    ))
}

/// Gate 4: three recalls answered no-match, denied and backend error. Retrieval shows the agent
/// an empty result for all three; ClawVM surfaces the reason, so only a real no-match is empty.
fn silent_recall_visibility(claw_config: &PolicyConfig) -> Result<GateRun, EvalError> {
    let w = workload(
        "gate_silent_recall_visibility",
        json!([boot("boot1"), pref("pref1")]),
        json!([
            {"recalls": [{"query": "deploy key", "answer": {"kind": "empty"}}]},
            {"recalls": [{"query": "team calendar", "answer": {"kind": "denied", "reason": "scope project:ops not granted"}}]},
            {"recalls": [{"query": "user preferences", "answer": {"kind": "error", "reason": "index unavailable"}}]},
            {"recalls": [{"query": "user preferences", "answer": {"kind": "hit", "pages": ["pref1"]}}]},
        ]),
    )?;
    let budget = 120;
    let base = run(&w, PolicyId::RetrievalOnly, budget);
    let claw = simulate(&w, claw_config, TokenCount::new(budget));
    let denied = faults_with(
        &base,
        FaultKind::SilentRecall,
        ReasonCode::RecallDeniedSilently,
    );
    let errored = faults_with(
        &base,
        FaultKind::SilentRecall,
        ReasonCode::RecallErrorSilently,
    );
    let passed = denied.len() == 1
        && errored.len() == 1
        && base.faults.silent_recall == 2
        && claw.total_faults == 0;
    let detail = format!(
        "retrieval_only: {} silent_recall (recall_denied_silently at {}, recall_error_silently at {}), \
         the no-match recall is not a fault; clawvm: {} faults, denied and backend_error surfaced",
        base.faults.silent_recall,
        denied.join(", "),
        errored.join(", "),
        claw.total_faults,
    );
    Ok(gate(
        GATES[3],
        passed,
        detail,
        vec![(PolicyId::RetrievalOnly, base), (PolicyId::Clawvm, claw)],
    ))
}

/// Tool results produced before the re-runs of gate 6.
const CHURN: u32 = 24;

/// Gate 5: through the real writeback journal of `page-writeback` (see [`persistence`]).
fn unsafe_persistence_rejection(sqlite_dir: Option<&Path>) -> GateRun {
    let outcome = persistence::run(sqlite_dir);
    GateRun {
        row: GateRow {
            gate: GATES[4].to_owned(),
            passed: outcome.passed,
            detail: outcome.detail,
        },
        runs: Vec::new(),
    }
}

/// Gate 6: evidence churn under a tight budget: 24 results, more than even their pointers
/// fit, then the agent re-runs the four oldest calls (cheap greps, so prefetch keeps the
/// pointers of costlier results). Retrieval re-runs the tools (duplicate-tool); ClawVM resolves
/// the evicted results through their pointers.
fn evidence_churn_duplicate_tool(claw_config: &PolicyConfig) -> Result<GateRun, EvalError> {
    let mut pages = vec![boot("boot1")];
    let mut turns = Vec::new();
    for i in 1..=CHURN {
        let mut page = evidence(&format!("e{i}"), 60);
        if i <= 4 {
            page["recompute_cost"] = json!(6.0);
        }
        pages.push(page);
        turns.push(json!({
            "tool_calls": [call(&format!("src/f{i}.rs"), &format!("e{i}"))],
            "demands": [{"page": format!("e{i}"), "required_repr": "full"}],
        }));
    }
    for i in 1..=4 {
        turns.push(json!({"tool_calls": [call(&format!("src/f{i}.rs"), &format!("e{i}"))]}));
    }
    let w = workload(
        "gate_evidence_churn_duplicate_tool",
        Value::Array(pages),
        Value::Array(turns),
    )?;
    let budget = 120;
    let base = run(&w, PolicyId::RetrievalOnly, budget);
    let claw = simulate(&w, claw_config, TokenCount::new(budget));
    let base_faults = faults_with(
        &base,
        FaultKind::DuplicateTool,
        ReasonCode::SignatureRerunAfterEviction,
    );
    // The evicted results' pointers are dereferenced: the tool does not re-run.
    let resolved = claw
        .trace
        .iter()
        .filter(|e| {
            matches!(
                e,
                TraceEvent::Alert {
                    turn,
                    reason: ReasonCode::SignatureResolvable,
                    ..
                } if *turn >= CHURN
            )
        })
        .count();
    let passed = base_faults.len() == 4 && claw.total_faults == 0 && resolved == 4;
    let detail = format!(
        "budget {budget}, {CHURN} results then 4 re-runs; retrieval_only: {} duplicate_tool \
         (signature_rerun_after_eviction) at {}; clawvm: {} faults, {resolved} re-runs of evicted \
         results served through their pointers (signature_resolvable)",
        base_faults.len(),
        base_faults.join(", "),
        claw.total_faults,
    );
    Ok(gate(
        GATES[5],
        passed,
        detail,
        vec![(PolicyId::RetrievalOnly, base), (PolicyId::Clawvm, claw)],
    ))
}

#[cfg(test)]
mod tests {
    //! The verdicts are computed: ClawVM with the gate's mechanism switched off fails the gate.

    use page_policy::{Feature, PolicyConfig, PolicyId};

    use super::*;

    type GateFn = fn(&PolicyConfig) -> Result<GateRun, EvalError>;

    fn without(feature: Feature) -> PolicyConfig {
        PolicyConfig::preset(PolicyId::Clawvm).without(feature)
    }

    #[test]
    fn each_simulated_gate_fails_without_its_mechanism() {
        let cases: [(&str, GateFn, Feature); 5] = [
            (GATES[0], post_compaction_bootstrap, Feature::AutoPin),
            (GATES[1], reset_flush_miss, Feature::WritebackReset),
            (GATES[2], threshold_jump_race, Feature::WritebackCompaction),
            (GATES[3], silent_recall_visibility, Feature::RecallReasons),
            (
                GATES[5],
                evidence_churn_duplicate_tool,
                Feature::PointerResolution,
            ),
        ];
        for (code, gate, feature) in cases {
            let full = gate(&PolicyConfig::preset(PolicyId::Clawvm)).unwrap();
            assert!(full.row.passed, "{code}: {}", full.row.detail);
            let ablated = gate(&without(feature)).unwrap();
            assert!(
                !ablated.row.passed,
                "{code} passed without {feature}: {}",
                ablated.row.detail
            );
        }
    }
}
