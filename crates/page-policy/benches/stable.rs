//! Cost of cache-stable paging on a growing history (one tool result per turn, demanded at
//! full as it arrives, plus a few earlier pages at their minimum): a turn with nothing to
//! degrade at 50 and at 5,000 pages (the mean of the session's last 40 turns), and one
//! degradation event at 5,000 pages.
//!
//! Run: `cargo bench -p page-policy --bench stable -- --warm-up-time 1 --measurement-time 3`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "benchmark harness: panics on a broken generator are fine"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use page_core::{PageId, PageType, PinClass, Repr, TokenCount};
use page_policy::{
    Demand, Existence, LevelTokens, PolicyConfig, PolicyEngine, PolicyId, ValidatedWorkload,
    WORKLOAD_SCHEMA_VERSION, Workload, WorkloadPage, WorkloadTurn,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` pages, page `i` created at turn `i` (two hard-pinned rules first), each turn demanding
/// its new page at full and two earlier pages at their minimum. Returns the workload and the
/// tokens of its whole history at full.
fn growing(n: usize, seed: u64) -> (ValidatedWorkload, u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let id = |i: usize| PageId::new(format!("p{i:05}")).unwrap();
    let mut history = 0;
    let pages = (0..n)
        .map(|i| {
            let c = |x: u32| Some(TokenCount::new(x));
            let pointer = rng.random_range(3..8);
            let structured = pointer + rng.random_range(10..40);
            let compressed = structured + rng.random_range(40..200);
            let full = compressed + rng.random_range(100..2_000);
            history += u64::from(full);
            let rule = i < 2;
            WorkloadPage {
                id: id(i),
                page_type: if rule {
                    PageType::Constraint
                } else {
                    PageType::Evidence
                },
                pin: Some(if rule { PinClass::Hard } else { PinClass::Soft }),
                min_fidelity: None,
                tokens: if rule {
                    LevelTokens {
                        full: c(full),
                        structured: c(structured),
                        ..LevelTokens::default()
                    }
                } else {
                    LevelTokens {
                        full: c(full),
                        compressed: c(compressed),
                        structured: c(structured),
                        pointer: c(pointer),
                    }
                },
                base_utility: 5.0,
                recompute_cost: f64::from(rng.random_range(0..80u32)) / 10.0,
                scope: None,
                session: None,
                tool_signature: None,
                dirty: false,
                exists: Some(Existence {
                    created: u32::try_from(i).unwrap(),
                    retired: None,
                }),
            }
        })
        .collect();
    let turns = (0..n)
        .map(|t| {
            let mut demands = vec![Demand {
                page: id(t),
                required_repr: Some(Repr::Full),
            }];
            for _ in 0..2 {
                demands.push(Demand {
                    page: id(rng.random_range(0..=t)),
                    required_repr: None,
                });
            }
            WorkloadTurn {
                demands,
                ..WorkloadTurn::default()
            }
        })
        .collect();
    let w = Workload {
        schema_version: WORKLOAD_SCHEMA_VERSION,
        id: format!("growing_{n}"),
        family: "bench".into(),
        pages,
        turns,
    };
    (w.validate().unwrap(), history)
}

/// Turns stepped per sample of the turn benchmarks.
const TAIL: usize = 40;

/// An engine stepped to the last turn of `w` under `budget`, recording no trace.
fn before_last_turn<'w>(
    w: &'w ValidatedWorkload,
    config: &PolicyConfig,
    budget: u32,
) -> PolicyEngine<'w> {
    let mut engine = PolicyEngine::new(w, config, TokenCount::new(budget));
    engine.set_record_trace(false);
    while engine.next_turn() + 1 < w.n_turns() {
        engine.step();
    }
    engine
}

fn stable(c: &mut Criterion) {
    let config = PolicyConfig::preset(PolicyId::CacheStable);
    for n in [50, 5_000] {
        // A budget the whole history fits: the last turns append and degrade nothing. Each
        // sample steps the last TAIL turns of a clone (the clone is not timed).
        let (w, history) = growing(n, 11);
        let budget = u32::try_from(history * 2).unwrap();
        let mut engine = PolicyEngine::new(&w, &config, TokenCount::new(budget));
        engine.set_record_trace(false);
        while engine.next_turn() + TAIL < w.n_turns() {
            engine.step();
        }
        c.bench_function(
            &format!("cache_stable/turn_without_degradation/{n}_pages"),
            |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let mut e = engine.clone();
                        #[expect(clippy::disallowed_methods, reason = "benchmarks measure time")]
                        let start = Instant::now();
                        for _ in 0..TAIL {
                            black_box(e.step());
                        }
                        total += start.elapsed();
                    }
                    total / u32::try_from(TAIL).unwrap()
                });
            },
        );
    }
    // A budget whose high watermark (90 %) the last page crosses and nothing before it does:
    // the last turn is one degradation event over every page.
    let (w, _) = growing(5_000, 11);
    let probe = before_last_turn(&w, &config, u32::MAX);
    let tokens: u64 = probe
        .prompt()
        .map(|i| u64::from(w.level_costs()[i.page].get(i.level).unwrap().get()))
        .sum();
    let last = w.level_costs()[w.n_pages() - 1]
        .get(Repr::Full)
        .unwrap()
        .get();
    let budget = u32::try_from((tokens + u64::from(last)) * 10 / 9 - 1).unwrap();
    let engine = before_last_turn(&w, &config, budget);
    let rewrites = engine.rewrites();
    c.bench_function("cache_stable/degradation_event/5000_pages", |b| {
        b.iter_batched_ref(
            || engine.clone(),
            |e| {
                black_box(e.step());
                assert_eq!(e.rewrites(), rewrites + 1, "the measured turn must rewrite");
            },
            BatchSize::LargeInput,
        );
    });
}

criterion_group!(benches, stable);
criterion_main!(benches);
