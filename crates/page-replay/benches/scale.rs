//! Replay cost against session length: a synthetic agent session (a task, then read calls
//! with 20-line results) of 1k, 3k and 10k events replayed under ClawVM at 25 % of its history
//! with the directory on, measuring as it goes (no decision trace kept). The slope shows what
//! grows with the session: conversion and measurement are linear; the per-turn selector re-ranks
//! every page every turn (the paper's policy), so it grows with turns × pages.

#![allow(
    clippy::expect_used,
    missing_docs,
    reason = "a benchmark aborts on setup errors; criterion's macros generate undocumented items"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use page_core::TypeTable;
use page_engine::{BuildConfig, RepresentationBuilder};
use page_import::{Event, Session};
use page_policy::PolicyId;
use page_replay::{Budget, Directory, Measures, replay_session};
use page_tokenizer::{Encoding, FastBpeCounter};

/// A session of about `events` events: the task, then per step the model's note, a read
/// call and its 20-line result.
fn session(events: usize) -> Session {
    let mut ev = vec![Event::User {
        id: None,
        text: "Fix the failing tests in src/lib.rs and crates/core/src/parser.rs".to_owned(),
        at_ms: None,
    }];
    let mut k = 0;
    while ev.len() < events {
        let path = format!("src/mod_{}/file_{k}.rs", k % 97);
        ev.push(Event::Assistant {
            id: None,
            text: format!("Let me look at {path}."),
            at_ms: None,
        });
        ev.push(Event::ToolCall {
            call_id: format!("toolu_{k}"),
            tool: "Read".to_owned(),
            args_json: format!(r#"{{"file_path":"{path}"}}"#),
            at_ms: None,
        });
        ev.push(Event::ToolResult {
            call_id: format!("toolu_{k}"),
            output: (0..20)
                .map(|j| format!("{j:4}  fn item_{k}_{j}() -> u32 {{ {j} }}"))
                .collect::<Vec<_>>()
                .join("\n"),
            is_error: false,
        });
        k += 1;
    }
    Session {
        id: format!("synthetic-{events}"),
        events: ev,
    }
}

fn bench(c: &mut Criterion) {
    let builder = RepresentationBuilder::new(
        FastBpeCounter::new(Encoding::O200kBase),
        TypeTable::default(),
        BuildConfig::default(),
    )
    .expect("builder");
    let mut group = c.benchmark_group("replay_session");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for events in [1_000, 3_000, 10_000] {
        let s = session(events);
        group.bench_with_input(BenchmarkId::from_parameter(events), &s, |b, s| {
            b.iter(|| {
                replay_session(
                    black_box(s),
                    "claude-code",
                    &builder,
                    Budget::Fraction(0.25),
                    PolicyId::Clawvm,
                    Directory::On,
                    &Measures::default(),
                )
                .expect("replays")
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
