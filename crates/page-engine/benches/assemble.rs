//! Prompt assembly cost: one `prompt_assemble` over a session of many tool results, the
//! per-turn price of live selection (workload build, two-phase selection, group pass, render),
//! under cache-stable paging (the default: a turn with nothing new and nothing to degrade)
//! and under the paper's per-turn `clawvm`.

#![allow(
    clippy::expect_used,
    missing_docs,
    reason = "a benchmark aborts on setup errors; criterion's macros generate undocumented items"
)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use page_core::{SessionId, TokenCount, ToolCallId};
use page_engine::{Engine, EngineConfig, ModelOutput, RulesKind, ToolCallRequest, ToolOutput};
use page_policy::{PolicyConfig, PolicyId};
use page_tokenizer::{Encoding, FastBpeCounter};
use page_writeback::{MemoryStore, PrincipalId};

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
        let call = ToolCallRequest {
            call_id: ToolCallId::new(format!("c{k}")).expect("valid id"),
            tool: "read_file".to_owned(),
            args_json: format!(r#"{{"path":"src/m{k}.rs"}}"#),
            page: None,
        };
        e.post_model(ModelOutput {
            tool_calls: vec![call.clone()],
            ..ModelOutput::default()
        })
        .expect("post_model");
        let output: String = (0..40)
            .map(|i| format!("src/m{k}.rs:{i}: pub fn item_{i}() -> usize {{ {i} }}\n"))
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

criterion_group!(benches, assemble);
criterion_main!(benches);
