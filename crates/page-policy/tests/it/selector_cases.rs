//! Data-driven selector and observer cases: a fixture workload in, the rendered run out.
//! Update with `UPDATE_EXPECT=1` and review the diff.

use expect_test::{Expect, expect};
use page_core::TokenCount;
use page_policy::{Feature, PolicyConfig, PolicyId, simulate};

use crate::fixture::{parse, render};

#[track_caller]
fn check(policy: PolicyId, budget: u32, fixture: &str, expected: Expect) {
    check_config(&PolicyConfig::preset(policy), budget, fixture, expected);
}

#[track_caller]
fn check_config(config: &PolicyConfig, budget: u32, fixture: &str, expected: Expect) {
    let workload = parse("case", fixture).validate().unwrap();
    let sim = simulate(&workload, config, TokenCount::new(budget));
    expected.assert_eq(&render(&sim));
}

const THREE: &str = "
    page boot bootstrap_policy full=40 structured=10 base=9 rc=1
    page rule constraint full=30 structured=12 base=7 rc=1
    page e1 evidence full=60 compressed=30 structured=12 pointer=3 base=5 rc=8 pin=soft
    demand e1 full
";

#[test]
fn required_set_installs_in_priority_order_without_fallback() {
    // 10 + 12 installed first (hard pins); e1 at full (60) does not fit in 30 and is not
    // tried lower.
    check(
        PolicyId::Clawvm,
        52,
        THREE,
        expect![[r#"
            t0 select 52/52: boot=structured rule=full e1=structured
            t0 pressure e1@full (demand_unmet)
            faults=0 alerts=0 hits=0 thrash=0.000 pressure=1 fits=false
        "#]],
    );
}

#[test]
fn pinned_pages_that_do_not_fit_are_invariant_pressure() {
    check(
        PolicyId::Clawvm,
        15,
        THREE,
        expect![[r#"
            t0 select 13/15: boot=structured e1=pointer
            t0 pressure rule@structured (pinned_unmet)
            t0 pressure e1@full (demand_unmet)
            faults=0 alerts=0 hits=0 thrash=0.000 pressure=2 fits=false
        "#]],
    );
}

#[test]
fn upgrades_follow_ratio_then_larger_page_id() {
    // Same score and costs: equal ratios, so the lexicographically larger id goes first.
    check(
        PolicyId::Clawvm,
        14,
        "
        page a plan full=20 structured=8 pointer=2 base=1 rc=0
        page b plan full=20 structured=8 pointer=2 base=1 rc=0
        ",
        expect![[r#"
            t0 select 10/14: a=pointer b=structured
            faults=0 alerts=0 hits=0 thrash=0.000 pressure=0 fits=true
        "#]],
    );
}

#[test]
fn zero_delta_step_blocks_later_upgrades() {
    // compressed costs what structured costs: no candidate for it, and full is then never
    // one step above the page's level (artifact quirk, kept).
    check(
        PolicyId::Clawvm,
        100,
        "
        page a evidence full=20 compressed=8 structured=8 pointer=2 base=1 rc=0
        ",
        expect![[r#"
            t0 select 8/100: a=structured
            faults=0 alerts=0 hits=0 thrash=0.000 pressure=0 fits=true
        "#]],
    );
}

#[test]
fn prefetch_orders_by_recompute_cost_then_base_utility() {
    check_config(
        &PolicyConfig::preset(PolicyId::Clawvm).without(Feature::UpgradeScoring),
        5,
        "
        page a evidence full=20 compressed=8 structured=6 pointer=2 base=1 rc=1
        page b evidence full=20 compressed=8 structured=6 pointer=2 base=1 rc=9
        page c evidence full=20 compressed=8 structured=6 pointer=2 base=2 rc=9
        ",
        expect![[r#"
            t0 select 4/5: b=pointer c=pointer
            faults=0 alerts=0 hits=0 thrash=0.000 pressure=0 fits=true
        "#]],
    );
}

#[test]
fn retrieval_installs_only_the_required_set() {
    check(
        PolicyId::RetrievalOnly,
        500,
        THREE,
        expect![[r#"
            t0 select 60/500: e1=full
            faults=0 alerts=0 hits=0 thrash=0.000 pressure=0 fits=true
        "#]],
    );
}

#[test]
fn oracle_upgrades_pages_demanded_soon() {
    let fixture = "
        page a plan full=20 structured=8 pointer=2 base=1 rc=0
        page z plan full=20 structured=8 pointer=2 base=1 rc=0
        turn
        turn
        demand a
    ";
    check(
        PolicyId::Clawvm,
        14,
        fixture,
        expect![[r#"
            t0 select 10/14: a=pointer z=structured
            t1 select 10/14: a=pointer z=structured
            t2 select 10/14: a=pointer z=structured
            faults=0 alerts=0 hits=0 thrash=0.000 pressure=0 fits=true
        "#]],
    );
    check(
        PolicyId::OracleH3,
        14,
        fixture,
        expect![[r#"
            t0 select 10/14: a=structured z=pointer
            t1 select 10/14: a=structured z=pointer
            t2 select 10/14: a=pointer z=structured
            faults=0 alerts=0 hits=0 thrash=0.000 pressure=0 fits=true
        "#]],
    );
}

const LIFECYCLE: &str = "
    page boot bootstrap_policy full=40 structured=10 base=9 rc=1
    page plan plan full=30 structured=12 pointer=2 base=3 rc=2
    page e1 evidence full=60 compressed=30 structured=12 pointer=3 base=5 rc=8
    call e1 grep{\"q\":\"x\"}
    update plan
    turn
    demand e1
    turn
    event compaction_hard
    demand e1
    update plan
    turn
    event reset
    call e1 grep{\"q\":\"x\"}
    recall denied
    recall empty
";

#[test]
fn lifecycle_under_clawvm_has_no_faults() {
    check(
        PolicyId::Clawvm,
        120,
        LIFECYCLE,
        expect![[r#"
            t0 select 112/120: boot=full plan=structured e1=full
            t1 hit e1 (resident)
            t1 select 112/120: boot=full plan=structured e1=full
            t2 boundary compaction_hard committed=1 lost=0
            t2 hit e1 (pointer_resolved)
            t2 select 112/120: boot=full plan=structured e1=full
            t3 boundary reset committed=1 lost=0
            t3 alert duplicate_signature e1 (signature_resolvable)
            t3 select 112/120: boot=full plan=structured e1=full
            faults=0 alerts=1 hits=2 thrash=0.333 pressure=0 fits=true
        "#]],
    );
}

#[test]
fn lifecycle_under_compaction_hybrid_loses_reset_state_and_recall_reasons() {
    check(
        PolicyId::CompactionHybrid,
        60,
        LIFECYCLE,
        expect![[r#"
            t0 select 52/60: boot=structured plan=structured e1=compressed
            t1 hit e1 (resident)
            t1 select 52/60: boot=structured plan=structured e1=compressed
            t2 boundary compaction_hard committed=1 lost=0
            t2 hit e1 (pointer_resolved)
            t2 select 52/60: boot=structured plan=structured e1=compressed
            t3 FAULT flush_miss plan (no_writeback_at_reset)
            t3 boundary reset committed=0 lost=1
            t3 alert duplicate_signature e1 (signature_resolvable)
            t3 FAULT silent_recall - (recall_denied_silently)
            t3 select 52/60: boot=structured plan=structured e1=compressed
            faults=2 alerts=1 hits=2 thrash=1.000 pressure=0 fits=true
        "#]],
    );
}

#[test]
fn lifecycle_under_retrieval_faults_on_every_eviction() {
    check(
        PolicyId::RetrievalOnly,
        120,
        LIFECYCLE,
        expect![[r#"
            t0 select 3/120: e1=pointer
            t1 hit e1 (resident)
            t1 select 3/120: e1=pointer
            t2 FAULT flush_miss plan (no_writeback_at_compaction)
            t2 boundary compaction_hard committed=0 lost=1
            t2 FAULT duplicate_tool e1 (evicted_result_rerun)
            t2 select 3/120: e1=pointer
            t2 FAULT post_compaction_bootstrap boot (bootstrap_not_restored)
            t3 FAULT flush_miss plan (no_writeback_at_reset)
            t3 boundary reset committed=0 lost=1
            t3 FAULT duplicate_tool e1 (signature_rerun_after_eviction)
            t3 FAULT silent_recall - (recall_denied_silently)
            t3 select 3/120: e1=pointer
            faults=6 alerts=0 hits=1 thrash=3.000 pressure=0 fits=true
        "#]],
    );
}

#[test]
fn repeated_call_with_resident_result_is_an_alert() {
    check(
        PolicyId::Clawvm,
        120,
        "
        page e1 evidence full=60 compressed=30 structured=12 pointer=3 base=5 rc=8
        page e2 evidence full=60 compressed=30 structured=12 pointer=3 base=5 rc=8
        call e1 read{\"p\":1}
        turn
        call e2 read{\"p\":1}
        ",
        expect![[r#"
            t0 select 60/120: e1=full
            t1 alert duplicate_signature e1 (signature_resident)
            t1 select 120/120: e1=full e2=full
            faults=0 alerts=1 hits=0 thrash=1.000 pressure=0 fits=true
        "#]],
    );
}

#[test]
fn multi_session_budget_scale_shrinks_baseline_budgets() {
    let fixture = "
        page pref preference full=20 compressed=10 structured=6 pointer=2 base=4 rc=1
        page s1plan plan full=30 structured=12 pointer=2 base=3 rc=2 session=s1
        page s2plan plan full=30 structured=12 pointer=2 base=3 rc=2 session=s2
        event session_start s1
        demand s1plan
        demand pref
        turn
        event session_end
        event session_start s2
        demand s2plan
        demand pref
    ";
    check(
        PolicyId::CompactionHybrid,
        100,
        fixture,
        expect![[r#"
        t0 session_start s1
        t0 select 36/85: pref=structured s1plan=full
        t1 boundary session_end committed=0 lost=0
        t1 session_start s2
        t1 hit pref (pointer_resolved)
        t1 select 36/85: pref=structured s2plan=full
        faults=0 alerts=0 hits=1 thrash=0.000 pressure=0 fits=true
    "#]],
    );
    check(
        PolicyId::Clawvm,
        100,
        fixture,
        expect![[r#"
        t0 session_start s1
        t0 select 36/100: pref=structured s1plan=full
        t1 boundary session_end committed=0 lost=0
        t1 session_start s2
        t1 hit pref (pointer_resolved)
        t1 select 36/100: pref=structured s2plan=full
        faults=0 alerts=0 hits=1 thrash=0.000 pressure=0 fits=true
    "#]],
    );
}
