//! CPU time per turn of Zeph 0.21.4's deterministic paths and of the adapter, replaying the
//! recorded traces turn by turn exactly as the side-by-side test does (without the observer).
//!
//! Each session starts with an empty token memo on both sides, as a live session meets every
//! message once: Zeph counts each new message, the adapter builds its pages. A turn is what
//! each side runs before a model call: Zeph's pipeline and the request `prepare_context` trims
//! to the budget; the adapter's microcompact and assembly.
//!
//! Two more split the costs: the adapter's turn with every page already built (its caps from
//! microcompact carry over between iterations, which only makes the selection's input
//! steadier), and counting each message once on an empty memo, the least work of any path
//! that keeps Zeph-compatible counts.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pagevm_zeph::compare::{CompareConfig, session_to_messages};
use pagevm_zeph::zeph_paths::ZephPaths;
use pagevm_zeph::{PagedCompactor, ZephTokens};
use zeph_llm::provider::{Message, Role};

type History = (Vec<Message>, Vec<Option<i64>>);

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

fn turns(h: &[History]) -> u64 {
    h.iter()
        .map(|(m, _)| {
            m.iter()
                .enumerate()
                .filter(|(i, x)| *i > 0 && x.role == Role::Assistant)
                .count() as u64
        })
        .sum()
}

fn bench(c: &mut Criterion) {
    let tokens = ZephTokens::new();
    let hs = histories();
    let n = turns(&hs);
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
        let mut g = c.benchmark_group(format!("side_by_side/{name}"));
        g.throughput(Throughput::Elements(n));
        g.bench_function("zeph_0.21.4", |b| {
            b.iter(|| {
                for (messages, times) in &hs {
                    let mut z = ZephPaths::new(
                        config.manager(),
                        tokens.fresh(),
                        config.keep_recent,
                        config.gap_minutes,
                    );
                    let mut v: Vec<Message> = Vec::new();
                    for (i, m) in messages.iter().enumerate() {
                        if m.role == Role::Assistant && i > 0 {
                            let mut t = z.turn(&mut v, config.idle_minutes(times, i), 0);
                            black_box(z.request(&v, &mut t));
                        }
                        v.push(m.clone());
                    }
                }
            });
        });
        g.bench_function("pagevm", |b| {
            b.iter(|| {
                for (messages, times) in &hs {
                    let Ok(mut a) = PagedCompactor::with_tokens(config.adapter(), tokens.fresh())
                    else {
                        return;
                    };
                    for (i, m) in messages.iter().enumerate() {
                        if m.role == Role::Assistant && i > 0 {
                            let _ = black_box(
                                a.microcompact(&messages[..i], config.idle_minutes(times, i)),
                            );
                            let _ = black_box(a.assemble_within(
                                &messages[..i],
                                config.view_budget(),
                                config.budget,
                                0,
                            ));
                        }
                    }
                }
            });
        });
        // The adapter's turn without building: every page of every session built beforehand,
        // so a turn is paging lookups, microcompact, selection, the directory and rendering.
        g.bench_function("pagevm_pages_built", |b| {
            let mut built = Vec::new();
            for (messages, _) in &hs {
                let Ok(mut a) = PagedCompactor::with_tokens(config.adapter(), tokens.fresh())
                else {
                    return;
                };
                for i in 1..=messages.len() {
                    let _ = a.page(&messages[..i]);
                }
                built.push(a);
            }
            b.iter(|| {
                for ((messages, times), a) in hs.iter().zip(&mut built) {
                    for (i, m) in messages.iter().enumerate() {
                        if m.role == Role::Assistant && i > 0 {
                            let _ = black_box(
                                a.microcompact(&messages[..i], config.idle_minutes(times, i)),
                            );
                            let _ = black_box(a.assemble_within(
                                &messages[..i],
                                config.view_budget(),
                                config.budget,
                                0,
                            ));
                        }
                    }
                }
            });
        });
        // The least any path keeping Zeph-compatible counts does: count each message once,
        // when it arrives, on an empty memo. Both paths above include it.
        g.bench_function("count_each_message_once", |b| {
            b.iter(|| {
                for (messages, _) in &hs {
                    let t = tokens.fresh();
                    for m in messages {
                        black_box(t.message(m));
                    }
                }
            });
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
