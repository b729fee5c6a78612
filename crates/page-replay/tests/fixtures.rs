//! Every recorded fixture session converts into a valid workload, and its replay under the six
//! policies at several budgets gives the fault table below.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking on an unexpected error"
)]

use std::fmt::Write as _;
use std::path::Path;

use expect_test::expect;
use page_core::{TokenCount, TypeTable};
use page_engine::{BuildConfig, RepresentationBuilder};
use page_import::import;
use page_policy::{PolicyConfig, PolicyId, simulate};
use page_replay::{RetentionCounts, convert, retention};
use page_tokenizer::{BpeCounter, Encoding};

const FIXTURES: [&str; 6] = [
    "claude-code/todowrite_examples.jsonl",
    "claude-code/representative_messages.jsonl",
    "swe-agent/ctf__pwn__warmup.traj",
    "swe-agent/function_calling_simple.traj",
    "openhands/wrong_initial_state.json",
    "aider/chat-history-excerpt.md",
];

#[test]
fn fault_table_of_the_recorded_sessions() {
    let builder = RepresentationBuilder::new(
        BpeCounter::new(Encoding::O200kBase).unwrap(),
        TypeTable::default(),
        BuildConfig::default(),
    )
    .unwrap();
    let mut out = String::from(
        "session | turns | calls | history tokens | budget | faults ro roc ch clawvm lru oracle | min set fits | retention resident/recoverable/total: clawvm paths commands; compaction_hybrid paths commands\n",
    );
    for rel in FIXTURES {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/traces")
            .join(rel);
        let text = std::fs::read_to_string(&path).unwrap();
        let transcript = import(&text, None).unwrap();
        for session in &transcript.sessions {
            // Size the budgets from the history itself, as the real-session evaluation does.
            let probe = convert(
                session,
                transcript.format.name(),
                &builder,
                TokenCount::new(u32::MAX),
            )
            .unwrap();
            let history = probe.full_history_tokens;
            for fraction in [0.10, 0.25, 0.50] {
                let budget = TokenCount::new(((history as f64 * fraction) as u32).max(1));
                let converted =
                    convert(session, transcript.format.name(), &builder, budget).unwrap();
                let workload = converted.workload.validate().unwrap();
                let mut faults = Vec::new();
                let mut fits = true;
                let mut kept = Vec::new();
                for policy in PolicyId::ALL {
                    let config = PolicyConfig::preset(policy);
                    let run = simulate(&workload, &config, budget);
                    faults.push(run.total_faults.to_string());
                    fits &= run.min_fidelity_fits;
                    if matches!(policy, PolicyId::Clawvm | PolicyId::CompactionHybrid) {
                        let r = retention(&converted, &config, &run);
                        let show = |c: RetentionCounts| {
                            format!("{}/{}/{}", c.resident, c.recoverable, c.total)
                        };
                        kept.push(format!("{} {}", show(r.paths), show(r.commands)));
                    }
                }
                // compaction_hybrid comes before clawvm in PolicyId::ALL; show clawvm first.
                kept.reverse();
                let _ = writeln!(
                    out,
                    "{}/{} | {} | {} | {history} | {} ({:.0}%) | {} | {fits} | {}",
                    rel.split('/').next().unwrap_or_default(),
                    session.id,
                    workload.n_turns(),
                    converted.tool_calls,
                    budget.get(),
                    fraction * 100.0,
                    faults.join(" "),
                    kept.join("; "),
                );
            }
        }
    }
    expect![[r#"
        session | turns | calls | history tokens | budget | faults ro roc ch clawvm lru oracle | min set fits | retention resident/recoverable/total: clawvm paths commands; compaction_hybrid paths commands
        claude-code/todowrite_session | 8 | 3 | 196 | 19 (10%) | 1 0 0 0 0 0 | false | 0/0/0 0/0/0; 0/0/0 0/0/0
        claude-code/todowrite_session | 8 | 3 | 196 | 49 (25%) | 1 0 0 0 0 0 | false | 0/0/0 0/0/0; 0/0/0 0/0/0
        claude-code/todowrite_session | 8 | 3 | 196 | 98 (50%) | 1 0 0 0 0 0 | true | 0/0/0 0/0/0; 0/0/0 0/0/0
        claude-code/test_session | 9 | 2 | 523 | 52 (10%) | 1 0 0 0 0 0 | false | 4/4/4 0/0/2; 4/4/4 0/0/2
        claude-code/test_session | 9 | 2 | 523 | 130 (25%) | 1 0 0 0 0 0 | false | 4/4/4 0/0/2; 4/4/4 0/0/2
        claude-code/test_session | 9 | 2 | 523 | 261 (50%) | 1 0 0 0 0 0 | true | 2/2/2 0/0/1; 2/2/2 0/0/1
        swe-agent/swe_main | 16 | 7 | 4386 | 438 (10%) | 16 5 5 0 0 0 | false | 0/25/33 0/2/16; 10/26/33 0/9/16
        swe-agent/swe_main | 16 | 7 | 4386 | 1096 (25%) | 12 2 2 0 0 0 | false | 7/18/20 0/6/9; 11/16/20 1/6/9
        swe-agent/swe_main | 16 | 7 | 4386 | 2193 (50%) | 9 2 2 0 0 0 | true | 7/11/11 2/4/7; 8/9/11 2/4/7
        swe-agent/trajectory | 12 | 5 | 1683 | 168 (10%) | 14 5 5 0 0 0 | false | 13/29/44 0/0/1; 13/29/44 0/0/1
        swe-agent/trajectory | 12 | 5 | 1683 | 420 (25%) | 10 2 0 0 0 0 | true | 12/14/18 0/0/1; 11/14/18 0/0/1
        swe-agent/trajectory | 12 | 5 | 1683 | 841 (50%) | 7 1 0 0 0 0 | true | 9/9/11 0/0/1; 9/9/11 0/0/1
        openhands/trajectory | 4 | 3 | 88 | 8 (10%) | 3 0 0 0 0 0 | false | 0/0/11 0/0/1; 0/0/11 0/0/1
        openhands/trajectory | 4 | 3 | 88 | 22 (25%) | 3 0 0 0 0 0 | false | 0/4/11 0/0/1; 0/4/11 0/0/1
        openhands/trajectory | 4 | 3 | 88 | 44 (50%) | 3 0 0 0 0 0 | false | 9/10/11 0/0/1; 9/10/11 0/0/1
        aider/preamble | 4 | 2 | 588 | 58 (10%) | 1 0 0 0 0 0 | false | 0/4/4 0/0/0; 0/4/4 0/0/0
        aider/preamble | 4 | 2 | 588 | 147 (25%) | 1 0 0 0 0 0 | false | 2/4/4 0/0/0; 2/4/4 0/0/0
        aider/preamble | 4 | 2 | 588 | 294 (50%) | 1 0 0 0 0 0 | true | 4/4/4 0/0/0; 4/4/4 0/0/0
        aider/session-1 | 1 | 1 | 97 | 9 (10%) | 0 0 0 0 0 0 | false | 0/0/2 0/0/0; 0/0/2 0/0/0
        aider/session-1 | 1 | 1 | 97 | 24 (25%) | 0 0 0 0 0 0 | false | 0/0/2 0/0/0; 0/0/2 0/0/0
        aider/session-1 | 1 | 1 | 97 | 48 (50%) | 0 0 0 0 0 0 | false | 0/2/2 0/0/0; 0/2/2 0/0/0
        aider/session-2 | 6 | 4 | 748 | 74 (10%) | 2 0 0 0 0 0 | false | 0/9/9 0/0/0; 0/9/9 0/0/0
        aider/session-2 | 6 | 4 | 748 | 187 (25%) | 2 0 0 0 0 0 | false | 6/6/6 0/0/0; 4/6/6 0/0/0
        aider/session-2 | 6 | 4 | 748 | 374 (50%) | 2 0 0 0 0 0 | false | 6/6/6 0/0/0; 6/6/6 0/0/0
        aider/session-3 | 6 | 3 | 198 | 19 (10%) | 3 0 0 0 0 0 | false | 0/0/10 0/0/0; 0/0/10 0/0/0
        aider/session-3 | 6 | 3 | 198 | 49 (25%) | 3 0 0 0 0 0 | false | 0/6/10 0/0/0; 0/6/10 0/0/0
        aider/session-3 | 6 | 3 | 198 | 99 (50%) | 2 0 0 0 0 0 | true | 2/6/6 0/0/0; 2/6/6 0/0/0
        aider/session-4 | 2 | 1 | 572 | 57 (10%) | 0 0 0 0 0 0 | false | 0/9/9 0/0/0; 0/9/9 0/0/0
        aider/session-4 | 2 | 1 | 572 | 143 (25%) | 0 0 0 0 0 0 | false | 1/9/9 0/0/0; 1/9/9 0/0/0
        aider/session-4 | 2 | 1 | 572 | 286 (50%) | 0 0 0 0 0 0 | false | 9/9/9 0/0/0; 9/9/9 0/0/0
    "#]].assert_eq(&out);
}

/// Every fixture file, the recorded sessions and the format fixtures.
const ALL_FIXTURES: [&str; 13] = [
    "aider/chat-history-excerpt.md",
    "claude-code/edge_cases.jsonl",
    "claude-code/representative_messages.jsonl",
    "claude-code/session_b.jsonl",
    "claude-code/todowrite_examples.jsonl",
    "claude-code-stream/fix-parser.stream.jsonl",
    "codex/rollout-2025-09-18T14-02-11-tinykv.jsonl",
    "gemini-cli/checkpoint-render.json",
    "gemini-cli/session-2025-10-02T09-15-b3f0c2d1.jsonl",
    "openhands/basic_interactions.json",
    "openhands/wrong_initial_state.json",
    "swe-agent/ctf__pwn__warmup.traj",
    "swe-agent/function_calling_simple.traj",
];

/// Retention of paths and commands under ClawVM at 5–50% of each session's history, without
/// and with the page directory, summed over every fixture session; and the sessions where the
/// directory did not make every path and command recoverable, with the measured reason.
///
/// Checked invariant: wherever the directory's pointer was resident at every measurement point,
/// every path and command mentioned so far was recoverable.
#[test]
fn retention_with_and_without_the_page_directory() {
    use page_policy::TraceEvent;
    use page_replay::{Budget, DIRECTORY_PAGE, Directory, Trace, replay_session};

    let builder = RepresentationBuilder::new(
        BpeCounter::new(Encoding::O200kBase).unwrap(),
        TypeTable::default(),
        BuildConfig::default(),
    )
    .unwrap();
    let mut sessions = Vec::new();
    for rel in ALL_FIXTURES {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/traces")
            .join(rel);
        let t = import(&std::fs::read_to_string(&path).unwrap(), None).unwrap();
        for s in t.sessions {
            sessions.push((rel, t.format, s));
        }
    }
    let mut out = String::from(
        "fraction | directory | paths resident/recoverable/total | commands resident/recoverable/total | recoverable % paths, commands\n",
    );
    let mut misses = String::new();
    for fraction in [0.05, 0.10, 0.20, 0.35, 0.50] {
        for directory in [Directory::Off, Directory::On] {
            let (mut p, mut c) = (RetentionCounts::default(), RetentionCounts::default());
            for (rel, format, session) in &sessions {
                let r = replay_session(
                    session,
                    format.name(),
                    &builder,
                    Budget::fraction(fraction).unwrap(),
                    PolicyId::Clawvm,
                    directory,
                    Trace::Keep,
                )
                .unwrap();
                let ret = &r.report.retention;
                for (sum, k) in [(&mut p, ret.paths), (&mut c, ret.commands)] {
                    sum.total += k.total;
                    sum.resident += k.resident;
                    sum.recoverable += k.recoverable;
                }
                if directory == Directory::Off {
                    continue;
                }
                // Was the directory's handle in the prompt at every measurement point?
                let measured = retention(
                    &r.converted,
                    &PolicyConfig::preset(PolicyId::Clawvm),
                    &r.run,
                )
                .measured_turns;
                let missing = measured
                    .iter()
                    .filter(|&&t| {
                        !r.run.trace.iter().any(|e| {
                            matches!(e, TraceEvent::Selection { turn, pages, .. }
                                if *turn == t && pages.iter().any(|s| s.page.as_str() == DIRECTORY_PAGE))
                        })
                    })
                    .count();
                let full = ret.paths.recoverable == ret.paths.total
                    && ret.commands.recoverable == ret.commands.total;
                if missing == 0 {
                    assert!(
                        full,
                        "{rel}/{} at {fraction}: handle resident, yet {ret:?}",
                        session.id
                    );
                } else {
                    let dir_tokens = r.converted.workload.pages[0].tokens.pointer.unwrap().get();
                    let _ = writeln!(
                        misses,
                        "{rel}/{} @ {:.0}%: budget {} (history {}), directory pointer {dir_tokens} tokens, not resident at {missing} of {} points; paths {}/{}, commands {}/{}",
                        session.id,
                        fraction * 100.0,
                        r.report.budget,
                        r.report.tokens.full_history,
                        measured.len(),
                        ret.paths.recoverable,
                        ret.paths.total,
                        ret.commands.recoverable,
                        ret.commands.total,
                    );
                }
            }
            let pct = |k: RetentionCounts| {
                if k.total == 0 {
                    100.0
                } else {
                    k.recoverable as f64 * 100.0 / k.total as f64
                }
            };
            let _ = writeln!(
                out,
                "{:.0}% | {} | {}/{}/{} | {}/{}/{} | {:.1}, {:.1}",
                fraction * 100.0,
                if directory == Directory::On {
                    "on"
                } else {
                    "off"
                },
                p.resident,
                p.recoverable,
                p.total,
                c.resident,
                c.recoverable,
                c.total,
                pct(p),
                pct(c),
            );
        }
    }
    out.push_str("sessions where the directory left a path or command unrecoverable:\n");
    out.push_str(&misses);
    expect![[r#"
        fraction | directory | paths resident/recoverable/total | commands resident/recoverable/total | recoverable % paths, commands
        5% | off | 32/160/407 | 3/24/76 | 39.3, 31.6
        5% | on | 36/407/407 | 3/76/76 | 100.0, 100.0
        10% | off | 51/142/298 | 3/5/49 | 47.7, 10.2
        10% | on | 46/298/298 | 3/49/49 | 100.0, 100.0
        20% | off | 77/136/183 | 2/7/28 | 74.3, 25.0
        20% | on | 84/183/183 | 2/28/28 | 100.0, 100.0
        35% | off | 79/115/128 | 3/5/17 | 89.8, 29.4
        35% | on | 84/128/128 | 3/17/17 | 100.0, 100.0
        50% | off | 84/103/106 | 3/6/20 | 97.2, 30.0
        50% | on | 82/106/106 | 4/20/20 | 100.0, 100.0
        sessions where the directory left a path or command unrecoverable:
        claude-code/edge_cases.jsonl/todowrite_session @ 5%: budget 1 (history 0), directory pointer 3 tokens, not resident at 1 of 1 points; paths 0/0, commands 0/0
        claude-code/edge_cases.jsonl/todowrite_session @ 10%: budget 1 (history 0), directory pointer 3 tokens, not resident at 1 of 1 points; paths 0/0, commands 0/0
        claude-code/edge_cases.jsonl/todowrite_session @ 20%: budget 1 (history 0), directory pointer 3 tokens, not resident at 1 of 1 points; paths 0/0, commands 0/0
        claude-code/edge_cases.jsonl/todowrite_session @ 35%: budget 1 (history 0), directory pointer 3 tokens, not resident at 1 of 1 points; paths 0/0, commands 0/0
        claude-code/edge_cases.jsonl/todowrite_session @ 50%: budget 1 (history 0), directory pointer 3 tokens, not resident at 1 of 1 points; paths 0/0, commands 0/0
    "#]].assert_eq(&out);
}
