//! One test per Tier-1 gate: the verdict and what it rests on (baseline fault with its reason
//! code, ClawVM clean), both computed by the runs.

use expect_test::{Expect, expect};

#[track_caller]
fn check(gate: &str, expect: Expect) {
    let row = crate::full()
        .summary
        .tier1
        .iter()
        .find(|g| g.gate == gate)
        .unwrap_or_else(|| panic!("no gate {gate}"));
    expect.assert_eq(&format!("passed={}\n{}", row.passed, row.detail));
}

#[test]
fn gates_are_the_six_of_table_3_in_order() {
    let gates: Vec<&str> = crate::full()
        .summary
        .tier1
        .iter()
        .map(|g| g.gate.as_str())
        .collect();
    assert_eq!(
        gates,
        [
            "post_compaction_bootstrap",
            "reset_flush_miss",
            "threshold_jump_race",
            "silent_recall_visibility",
            "unsafe_persistence_rejection",
            "evidence_churn_duplicate_tool",
        ]
    );
}

#[test]
fn gate_post_compaction_bootstrap() {
    check(
        "post_compaction_bootstrap",
        expect![[r#"
        passed=true
        budget 150; compaction_hybrid: 1 post_compaction_bootstrap (bootstrap_not_restored) at boot1@3; clawvm: 0 faults, boot1 at structured after the compaction"#]],
    );
}

#[test]
fn gate_reset_flush_miss() {
    check(
        "reset_flush_miss",
        expect![[r#"
        passed=true
        compaction_hybrid: 2 flush_miss (no_writeback_at_reset) at plan@2, pref1@2; clawvm: 0 faults, reset committed 2 dirty pages, lost 0"#]],
    );
}

#[test]
fn gate_threshold_jump_race() {
    check(
        "threshold_jump_race",
        expect![[r#"
        passed=true
        tokens jump past the threshold in one turn, hard compaction next; retrieval_only_cached: 1 flush_miss (no_writeback_at_compaction) at plan@3; clawvm: 0 flush_miss, the compaction committed 1 dirty page(s), lost 0"#]],
    );
}

#[test]
fn gate_silent_recall_visibility() {
    check(
        "silent_recall_visibility",
        expect![[r#"
        passed=true
        retrieval_only: 2 silent_recall (recall_denied_silently at turn 1, recall_error_silently at turn 2), the no-match recall is not a fault; clawvm: 0 faults, denied and backend_error surfaced"#]],
    );
}

#[test]
fn gate_unsafe_persistence_rejection() {
    check(
        "unsafe_persistence_rejection",
        expect![[r#"
            passed=true
            direct write (no journal): committed goal overwritten, no reason code; clawvm journal on the in-memory store: rejected [DESTRUCTIVE_OP, SCOPE_DENIED], committed goal intact at version 1; clawvm journal on the SQLite store: rejected [DESTRUCTIVE_OP, SCOPE_DENIED], committed goal intact at version 1"#]],
    );
}

#[test]
fn gate_evidence_churn_duplicate_tool() {
    check(
        "evidence_churn_duplicate_tool",
        expect![[r#"
            passed=true
            budget 120, 24 results then 4 re-runs; retrieval_only: 4 duplicate_tool (signature_rerun_after_eviction) at e1@24, e2@25, e3@26, e4@27; clawvm: 0 faults, 4 re-runs of evicted results served through their pointers (signature_resolvable)"#]],
    );
}

/// Golden decision traces of the gate scenarios (small workloads, every event with its reason
/// code). `UPDATE_EXPECT=1` rewrites them; review the diff.
#[test]
fn gate_traces_match_golden_files() {
    let traces: Vec<&(String, String)> = crate::full()
        .traces
        .iter()
        .filter(|(path, _)| path.starts_with("traces/tier1/"))
        .collect();
    assert_eq!(traces.len(), 10, "two runs for each simulated gate");
    for (path, text) in traces {
        let name = path.trim_start_matches("traces/tier1/");
        expect_test::expect_file![format!("golden/tier1/{name}")].assert_eq(text);
    }
}
