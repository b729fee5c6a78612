//! Per-turn cost of the policy engine (selection + fault observation + recency update) at
//! paper scale (tens of pages) and at 1k and 10k pages, on seeded synthetic workloads built
//! here (no dependency on page-eval).
//!
//! Also `select_live` compiling 5,000 live pages afresh, what a harness without a kept
//! `LiveSelector` pays per selection.
//!
//! Run: `cargo bench -p page-policy -- --warm-up-time 1 --measurement-time 3`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "benchmark harness: panics on a broken generator are fine"
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use page_core::{
    CompactionKind, LevelCosts, PageId, PageType, PinClass, Repr, TokenCount, ToolSignature,
};
use page_policy::{
    Demand, Feature, LevelTokens, LifecycleEvent, LivePage, PolicyConfig, PolicyEngine, PolicyId,
    ToolCall, WORKLOAD_SCHEMA_VERSION, Workload, WorkloadPage, WorkloadTurn, select_live,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n_pages` pages (a few bootstrap/constraint, the rest plan/preference/evidence/conversation),
/// `n_turns` turns with 1–4 demands, a tool call every other turn, occasional updates and a
/// compaction every 15 turns.
fn synthetic(n_pages: usize, n_turns: usize, seed: u64) -> Workload {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pages = Vec::with_capacity(n_pages);
    for i in 0..n_pages {
        let page_type = match i {
            0 | 1 => PageType::Bootstrap,
            2..=4 => PageType::Constraint,
            _ => [
                PageType::Plan,
                PageType::Preference,
                PageType::Evidence,
                PageType::Evidence,
                PageType::Conversation,
            ][rng.random_range(0..5)],
        };
        let pointer = rng.random_range(2..5);
        let structured = pointer + rng.random_range(4..12);
        let compressed = structured + rng.random_range(4..16);
        let full = compressed + rng.random_range(8..40);
        let c = |n: u32| Some(TokenCount::new(n));
        let tokens = match page_type {
            PageType::Bootstrap | PageType::Constraint => LevelTokens {
                full: c(full),
                structured: c(structured),
                ..LevelTokens::default()
            },
            PageType::Plan => LevelTokens {
                full: c(full),
                structured: c(structured),
                pointer: c(pointer),
                ..LevelTokens::default()
            },
            _ => LevelTokens {
                full: c(full),
                compressed: c(compressed),
                structured: c(structured),
                pointer: c(pointer),
            },
        };
        pages.push(WorkloadPage {
            id: PageId::new(format!("p{i:05}")).unwrap(),
            page_type,
            pin: (page_type == PageType::Evidence).then_some(PinClass::Soft),
            min_fidelity: None,
            tokens,
            base_utility: f64::from(rng.random_range(10..90u32)) / 10.0,
            recompute_cost: f64::from(rng.random_range(0..120u32)) / 10.0,
            scope: None,
            session: None,
            tool_signature: None,
            dirty: false,
            exists: None,
        });
    }
    let mut turns = Vec::with_capacity(n_turns);
    for t in 0..n_turns {
        let mut turn = WorkloadTurn::default();
        for _ in 0..rng.random_range(1..5) {
            let p = rng.random_range(0..n_pages);
            turn.demands.push(Demand {
                page: pages[p].id.clone(),
                required_repr: None,
            });
        }
        if t % 2 == 0 {
            let sig = rng.random_range(0..8u32);
            let signature =
                ToolSignature::from_json_text("read_file", &format!(r#"{{"path":"f{sig}"}}"#))
                    .unwrap();
            // A fresh page id per call would need new pages; reuse an evidence page that is
            // only ever produced by this signature.
            if let Some(p) = pages
                .iter()
                .skip(5 + sig as usize)
                .step_by(8)
                .find(|p| p.page_type == PageType::Evidence)
            {
                turn.tool_calls.push(ToolCall {
                    signature,
                    result_page: p.id.clone(),
                });
            }
        }
        if rng.random_range(0..4) == 0 {
            turn.updates
                .push(pages[rng.random_range(2..n_pages)].id.clone());
        }
        if t % 15 == 14 {
            turn.events.push(LifecycleEvent::Compaction {
                kind: CompactionKind::Hard,
            });
        }
        turns.push(turn);
    }
    // A tool-result page must not be demanded before its first call: demand only after.
    let mut w = Workload {
        schema_version: WORKLOAD_SCHEMA_VERSION,
        id: format!("synthetic_{n_pages}"),
        family: "bench".into(),
        pages,
        turns,
    };
    let mut first_call = std::collections::BTreeMap::new();
    for (t, turn) in w.turns.iter().enumerate() {
        for c in &turn.tool_calls {
            first_call.entry(c.result_page.clone()).or_insert(t);
        }
    }
    for (t, turn) in w.turns.iter_mut().enumerate() {
        turn.demands
            .retain(|d| first_call.get(&d.page).is_none_or(|&first| first <= t));
    }
    w
}

fn bench_engine(c: &mut Criterion, name: &str, n_pages: usize, budget: u32, policy: PolicyId) {
    bench_config(c, name, n_pages, budget, &PolicyConfig::preset(policy));
}

fn bench_config(c: &mut Criterion, name: &str, n_pages: usize, budget: u32, config: &PolicyConfig) {
    let workload = synthetic(n_pages, 60, 7).validate().unwrap();
    let config = *config;
    let mut engine = PolicyEngine::new(&workload, &config, TokenCount::new(budget));
    engine.set_record_trace(false);
    c.bench_function(name, |b| {
        b.iter(|| {
            if let Some(stats) = engine.step() {
                black_box(stats);
            } else {
                engine.rewind();
            }
        });
    });
}

fn per_turn(c: &mut Criterion) {
    bench_engine(
        c,
        "per_turn/paper_scale_30_pages/clawvm",
        30,
        180,
        PolicyId::Clawvm,
    );
    bench_engine(
        c,
        "per_turn/paper_scale_30_pages/oracle_h3",
        30,
        180,
        PolicyId::OracleH3,
    );
    bench_engine(
        c,
        "per_turn/paper_scale_30_pages/compaction_hybrid",
        30,
        180,
        PolicyId::CompactionHybrid,
    );
    bench_engine(
        c,
        "per_turn/1k_pages/clawvm",
        1_000,
        8_000,
        PolicyId::Clawvm,
    );
    bench_engine(
        c,
        "per_turn/10k_pages/clawvm",
        10_000,
        80_000,
        PolicyId::Clawvm,
    );
    // The same without Phase 2, to show what the candidate sort costs.
    bench_config(
        c,
        "per_turn/10k_pages/clawvm_without_upgrades",
        10_000,
        80_000,
        &PolicyConfig::preset(PolicyId::Clawvm).without(Feature::UpgradeScoring),
    );
}

/// `n` evidence pages whose ids interleave in byte order (`e-<k·7919 mod n>`), with seeded
/// costs and scores.
fn live_pages(n: usize, seed: u64) -> Vec<LivePage> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let defaults = PageType::Evidence.defaults();
    (0..n)
        .map(|k| {
            let pointer = rng.random_range(3..8u32);
            let structured = pointer + rng.random_range(10..40u32);
            let compressed = structured + rng.random_range(20..200u32);
            let full = compressed + rng.random_range(50..2_000u32);
            let costs = [
                (Repr::Pointer, pointer),
                (Repr::Structured, structured),
                (Repr::Compressed, compressed),
                (Repr::Full, full),
            ]
            .into_iter()
            .map(|(r, t)| (r, TokenCount::new(t)))
            .collect();
            LivePage {
                id: PageId::new(format!("e-{}", (k * 7_919) % n)).unwrap(),
                levels: LevelCosts::new(
                    PageType::Evidence,
                    defaults.path(),
                    defaults.min_fidelity(),
                    &costs,
                )
                .unwrap(),
                pin: defaults.default_pin(),
                base_utility: f64::from(rng.random_range(0..4u8)),
                recompute_cost: f64::from(rng.random_range(0..3u8)),
                recency: rng.random_range(0.0..1.0),
            }
        })
        .collect()
}

fn live(c: &mut Criterion) {
    let pages = live_pages(5_000, 7);
    let config = PolicyConfig::preset(PolicyId::Clawvm);
    c.bench_function("select_live/5000_pages_afresh/clawvm", |b| {
        b.iter(|| {
            black_box(select_live(&config, &pages, &[], TokenCount::new(16_000), None).unwrap())
        });
    });
}

criterion_group!(benches, per_turn, live);
criterion_main!(benches);
