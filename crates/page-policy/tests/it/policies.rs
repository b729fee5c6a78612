//! The policy presets as a table (the reference's §4 table) and the ablation switches.

use expect_test::expect;
use page_policy::{Feature, Paging, PolicyConfig, PolicyId};

fn row(c: &PolicyConfig) -> String {
    let yn = |b: bool| if b { "yes" } else { "no" };
    format!(
        "{:<22} pin={:<3} prefetch={:<3} wb_compaction={:<3} wb_reset={:<3} upgrade={:<7} pointer={:<3} recall_reasons={:<3} scale={:<4} paging={}",
        c.policy.code(),
        yn(c.auto_pin_hard),
        yn(c.prefetch_pointer),
        yn(c.writeback_compaction),
        yn(c.writeback_reset),
        c.upgrade_mode.code(),
        yn(c.pointer_resolves_evidence),
        yn(c.surface_recall_reasons),
        c.multisession_budget_scale,
        match c.paging {
            Paging::PerTurn => "per_turn".to_owned(),
            Paging::CacheStable(m) => format!(
                "cache_stable(high={} low={} min_free={} rewrite_weight={})",
                m.high(),
                m.low(),
                m.min_free(),
                m.rewrite_weight()
            ),
        },
    )
}

#[test]
fn presets_are_the_papers_policies_then_cache_stable() {
    let table: Vec<String> = PolicyId::ALL
        .iter()
        .map(|&p| row(&PolicyConfig::preset(p)))
        .collect();
    expect![[r#"
        retrieval_only         pin=no  prefetch=no  wb_compaction=no  wb_reset=no  upgrade=none    pointer=no  recall_reasons=no  scale=0.78 paging=per_turn
        retrieval_only_cached  pin=no  prefetch=no  wb_compaction=no  wb_reset=no  upgrade=none    pointer=yes recall_reasons=no  scale=0.78 paging=per_turn
        compaction_hybrid      pin=no  prefetch=yes wb_compaction=yes wb_reset=no  upgrade=recency pointer=yes recall_reasons=no  scale=0.85 paging=per_turn
        clawvm                 pin=yes prefetch=yes wb_compaction=yes wb_reset=yes upgrade=clawvm  pointer=yes recall_reasons=yes scale=1    paging=per_turn
        lru                    pin=yes prefetch=yes wb_compaction=yes wb_reset=yes upgrade=lru     pointer=yes recall_reasons=yes scale=1    paging=per_turn
        oracle_h3              pin=yes prefetch=yes wb_compaction=yes wb_reset=yes upgrade=oracle  pointer=yes recall_reasons=yes scale=1    paging=per_turn
        cache_stable           pin=yes prefetch=yes wb_compaction=yes wb_reset=yes upgrade=clawvm  pointer=yes recall_reasons=yes scale=1    paging=cache_stable(high=0.9 low=0.6 min_free=1024 rewrite_weight=1)"#]].assert_eq(&table.join("\n"));
}

#[test]
fn each_ablation_switches_exactly_one_flag() {
    let clawvm = PolicyConfig::preset(PolicyId::Clawvm);
    let table: Vec<String> = Feature::ALL
        .iter()
        .map(|&f| format!("-{:<21} {}", f.code(), row(&clawvm.without(f))))
        .collect();
    expect![[r#"
        -pointer_resolution    clawvm                 pin=yes prefetch=yes wb_compaction=yes wb_reset=yes upgrade=clawvm  pointer=no  recall_reasons=yes scale=1    paging=per_turn
        -writeback_compaction  clawvm                 pin=yes prefetch=yes wb_compaction=no  wb_reset=yes upgrade=clawvm  pointer=yes recall_reasons=yes scale=1    paging=per_turn
        -auto_pin              clawvm                 pin=no  prefetch=yes wb_compaction=yes wb_reset=yes upgrade=clawvm  pointer=yes recall_reasons=yes scale=1    paging=per_turn
        -writeback_reset       clawvm                 pin=yes prefetch=yes wb_compaction=yes wb_reset=no  upgrade=clawvm  pointer=yes recall_reasons=yes scale=1    paging=per_turn
        -upgrade_scoring       clawvm                 pin=yes prefetch=yes wb_compaction=yes wb_reset=yes upgrade=none    pointer=yes recall_reasons=yes scale=1    paging=per_turn
        -prefetch              clawvm                 pin=yes prefetch=no  wb_compaction=yes wb_reset=yes upgrade=clawvm  pointer=yes recall_reasons=yes scale=1    paging=per_turn
        -recall_reasons        clawvm                 pin=yes prefetch=yes wb_compaction=yes wb_reset=yes upgrade=clawvm  pointer=yes recall_reasons=no  scale=1    paging=per_turn"#]].assert_eq(&table.join("\n"));
}

#[test]
fn codes_round_trip() {
    for p in PolicyId::ALL {
        assert_eq!(p.code().parse::<PolicyId>(), Ok(p));
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            format!("\"{}\"", p.code())
        );
    }
    for f in Feature::ALL {
        assert_eq!(f.code().parse::<Feature>(), Ok(f));
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            format!("\"{}\"", f.code())
        );
    }
    assert!("clawvm2".parse::<PolicyId>().is_err());
}
