//! CPU time per turn of Zeph 0.21.4's deterministic paths and of the adapter, replaying the
//! fixture traces turn by turn exactly as the side-by-side test does (without the observer).
//!
//! Each session starts with an empty token memo on both sides, as a live session meets every
//! message once: Zeph counts each new message, the adapter builds its pages. A turn is what
//! each side runs before a model call: Zeph's pipeline and the request `prepare_context` trims
//! to the budget; the adapter's microcompact and assembly. Two more split the costs: the
//! adapter's turn with every page already built, and counting each message once, the least
//! work of any path that keeps Zeph-compatible counts. The replays are
//! `pagevm_zeph::replay::Replays`'s, as `side_by_side --cpu` times them on any traces.

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pagevm_zeph::ZephTokens;
use pagevm_zeph::compare::{CompareConfig, History, session_to_messages};
use pagevm_zeph::replay::Replays;

fn histories() -> Vec<History> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/traces");
    let mut out = Vec::new();
    for dir in ["aider", "claude-code", "openhands", "swe-agent"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            let Ok(t) = page_import::import(&text, None) else {
                continue;
            };
            out.extend(t.sessions.iter().map(session_to_messages));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let tokens = ZephTokens::new();
    for (name, config) in [
        ("recorded_gaps", CompareConfig::default()),
        (
            "idle_every_turn",
            CompareConfig {
                idle_every_turn: true,
                ..CompareConfig::default()
            },
        ),
    ] {
        let w = Replays::new(histories(), &config, &tokens);
        let mut g = c.benchmark_group(format!("side_by_side/{name}"));
        g.throughput(Throughput::Elements(w.turns() as u64));
        g.bench_function("zeph_0.21.4", |b| b.iter(|| w.zeph(&tokens)));
        g.bench_function("pagevm", |b| b.iter(|| w.pagevm(&tokens)));
        if let Ok(mut built) = w.built(&tokens) {
            g.bench_function("pagevm_pages_built", |b| {
                b.iter(|| w.pagevm_built(&mut built));
            });
        }
        g.bench_function("count_each_message_once", |b| {
            b.iter(|| w.count_once(&tokens));
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
