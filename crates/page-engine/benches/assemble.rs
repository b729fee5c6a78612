//! Prompt assembly cost: one `prompt_assemble` over a session of many tool results, the
//! per-turn price of live selection (workload build, two-phase selection, group pass, render),
//! under cache-stable paging (the default: a turn with nothing new and nothing to degrade)
//! and under the paper's per-turn `clawvm`; and one cache-stable degradation event over 5,000
//! results (a new result crosses the high watermark; its ingest is not timed).

#![allow(
    clippy::expect_used,
    missing_docs,
    reason = "a benchmark aborts on setup errors; criterion's macros generate undocumented items"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use page_core::{SessionId, TokenCount, ToolCallId};
use page_engine::{Engine, EngineConfig, ModelOutput, RulesKind, ToolCallRequest, ToolOutput};
use page_policy::{PolicyConfig, PolicyId};
use page_tokenizer::{Encoding, FastBpeCounter};
use page_writeback::{MemoryStore, PrincipalId};

/// Records one call of `read_file` on `path` that returned `lines` lines.
fn tool_round(e: &mut Engine<&MemoryStore, FastBpeCounter>, id: &str, path: &str, lines: usize) {
    let call = ToolCallRequest {
        call_id: ToolCallId::new(id).expect("valid id"),
        tool: "read_file".to_owned(),
        args_json: format!(r#"{{"path":"{path}"}}"#),
        page: None,
    };
    e.post_model(ModelOutput {
        tool_calls: vec![call.clone()],
        ..ModelOutput::default()
    })
    .expect("post_model");
    let output: String = (0..lines)
        .map(|i| format!("{path}:{i}: pub fn item_{i}() -> usize {{ {i} }}\n"))
        .collect();
    e.tool_after(
        &call.call_id,
        &ToolOutput {
            output,
            is_error: false,
            exit_code: Some(0),
        },
    )
    .expect("tool_after");
}

fn session(
    store: &MemoryStore,
    results: usize,
    policy: PolicyId,
) -> Engine<&MemoryStore, FastBpeCounter> {
    let mut config = EngineConfig::new(
        SessionId::new("bench").expect("valid id"),
        PrincipalId::new("agent").expect("valid principal"),
    );
    config.policy = PolicyConfig::preset(policy);
    let mut e = Engine::session_start(store, FastBpeCounter::new(Encoding::O200kBase), config)
        .expect("engine starts");
    e.add_rules(
        RulesKind::Bootstrap,
        "- Never push to main.\n- Run tests.",
        "system",
    )
    .expect("rules");
    for k in 0..results {
        tool_round(&mut e, &format!("c{k}"), &format!("src/m{k}.rs"), 40);
    }
    e
}

fn assemble(c: &mut Criterion) {
    let mut group = c.benchmark_group("prompt_assemble");
    group.sample_size(20);
    for policy in [PolicyId::CacheStable, PolicyId::Clawvm] {
        for results in [100usize, 1_000, 5_000] {
            let store = MemoryStore::new();
            let mut e = session(&store, results, policy);
            let id = BenchmarkId::new(policy.code(), results);
            group.bench_with_input(id, &results, |b, _| {
                b.iter(|| {
                    e.prompt_assemble(black_box(TokenCount::new(16_000)))
                        .expect("assembles")
                });
            });
        }
    }
    group.finish();
}

/// A turn whose new result takes the context over the high watermark (90 % of 16k): about
/// 6k tokens on top of the 60 % an event leaves.
fn degradation_event(c: &mut Criterion) {
    let budget = TokenCount::new(16_000);
    let store = MemoryStore::new();
    let mut e = session(&store, 5_000, PolicyId::CacheStable);
    e.prompt_assemble(budget).expect("assembles");
    let mut n = 0usize;
    let mut event = |e: &mut Engine<&MemoryStore, FastBpeCounter>| {
        n += 1;
        tool_round(e, &format!("big{n}"), &format!("src/big{n}.rs"), 300);
        #[expect(clippy::disallowed_methods, reason = "benchmarks measure time")]
        let start = Instant::now();
        black_box(e.prompt_assemble(budget).expect("assembles"));
        start.elapsed()
    };
    let before = e.rewrites();
    event(&mut e);
    event(&mut e);
    assert_eq!(
        e.rewrites(),
        before + 2,
        "every round must be a degradation event"
    );
    let mut group = c.benchmark_group("degradation_event");
    group.sample_size(20);
    group.bench_function("cache_stable/5000", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| event(&mut e)).sum::<Duration>());
    });
    group.finish();
}

criterion_group!(benches, assemble, degradation_event);
criterion_main!(benches);
