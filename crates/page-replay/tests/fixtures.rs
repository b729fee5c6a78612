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
        "session | turns | calls | history tokens | budget | faults ro roc ch clawvm lru oracle stable | min set fits | retention resident/recoverable/total: clawvm paths commands; compaction_hybrid paths commands\n",
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
        session | turns | calls | history tokens | budget | faults ro roc ch clawvm lru oracle stable | min set fits | retention resident/recoverable/total: clawvm paths commands; compaction_hybrid paths commands
        claude-code/todowrite_session | 8 | 3 | 196 | 19 (10%) | 1 0 0 0 0 0 0 | false | 0/0/0 0/0/0; 0/0/0 0/0/0
        claude-code/todowrite_session | 8 | 3 | 196 | 49 (25%) | 1 0 0 0 0 0 0 | false | 0/0/0 0/0/0; 0/0/0 0/0/0
        claude-code/todowrite_session | 8 | 3 | 196 | 98 (50%) | 1 0 0 0 0 0 0 | true | 0/0/0 0/0/0; 0/0/0 0/0/0
        claude-code/test_session | 9 | 2 | 523 | 52 (10%) | 1 0 0 0 0 0 0 | false | 4/4/4 0/2/2; 4/4/4 0/2/2
        claude-code/test_session | 9 | 2 | 523 | 130 (25%) | 1 0 0 0 0 0 0 | false | 4/4/4 0/2/2; 4/4/4 0/2/2
        claude-code/test_session | 9 | 2 | 523 | 261 (50%) | 1 0 0 0 0 0 0 | true | 2/2/2 0/1/1; 2/2/2 0/1/1
        swe-agent/swe_main | 16 | 7 | 4386 | 438 (10%) | 17 5 5 0 0 0 0 | false | 0/24/33 0/8/16; 14/26/33 5/16/16
        swe-agent/swe_main | 16 | 7 | 4386 | 1096 (25%) | 13 2 2 0 0 0 0 | false | 10/18/20 4/9/9; 11/16/20 5/9/9
        swe-agent/swe_main | 16 | 7 | 4386 | 2193 (50%) | 10 2 0 0 0 0 0 | true | 8/11/11 4/7/7; 8/11/11 4/7/7
        swe-agent/trajectory | 12 | 5 | 1683 | 168 (10%) | 14 5 2 0 0 0 0 | false | 18/29/44 0/0/1; 18/30/44 0/1/1
        swe-agent/trajectory | 12 | 5 | 1683 | 420 (25%) | 10 2 0 0 0 0 0 | true | 13/14/18 0/1/1; 12/14/18 0/1/1
        swe-agent/trajectory | 12 | 5 | 1683 | 841 (50%) | 7 1 0 0 0 0 0 | true | 9/9/11 0/1/1; 9/9/11 0/1/1
        openhands/trajectory | 4 | 3 | 88 | 8 (10%) | 3 0 0 0 0 0 0 | false | 6/6/11 1/1/1; 6/6/11 1/1/1
        openhands/trajectory | 4 | 3 | 88 | 22 (25%) | 3 0 0 0 0 0 0 | false | 6/8/11 1/1/1; 6/8/11 1/1/1
        openhands/trajectory | 4 | 3 | 88 | 44 (50%) | 3 0 0 0 0 0 0 | false | 9/11/11 0/1/1; 9/11/11 0/1/1
        aider/preamble | 4 | 2 | 588 | 58 (10%) | 1 0 0 0 0 0 0 | false | 0/4/4 0/0/0; 0/4/4 0/0/0
        aider/preamble | 4 | 2 | 588 | 147 (25%) | 1 0 0 0 0 0 0 | false | 2/4/4 0/0/0; 2/4/4 0/0/0
        aider/preamble | 4 | 2 | 588 | 294 (50%) | 1 0 0 0 0 0 0 | true | 4/4/4 0/0/0; 4/4/4 0/0/0
        aider/session-1 | 1 | 1 | 97 | 9 (10%) | 0 0 0 0 0 0 0 | false | 0/0/2 0/0/0; 0/0/2 0/0/0
        aider/session-1 | 1 | 1 | 97 | 24 (25%) | 0 0 0 0 0 0 0 | false | 0/0/2 0/0/0; 0/0/2 0/0/0
        aider/session-1 | 1 | 1 | 97 | 48 (50%) | 0 0 0 0 0 0 0 | false | 0/2/2 0/0/0; 0/2/2 0/0/0
        aider/session-2 | 6 | 4 | 748 | 74 (10%) | 2 0 0 0 0 0 0 | false | 0/9/9 0/0/0; 0/9/9 0/0/0
        aider/session-2 | 6 | 4 | 748 | 187 (25%) | 2 0 0 0 0 0 0 | false | 6/6/6 0/0/0; 4/6/6 0/0/0
        aider/session-2 | 6 | 4 | 748 | 374 (50%) | 2 0 0 0 0 0 0 | false | 6/6/6 0/0/0; 6/6/6 0/0/0
        aider/session-3 | 6 | 3 | 198 | 19 (10%) | 3 0 0 0 0 0 0 | false | 0/0/10 0/0/0; 0/0/10 0/0/0
        aider/session-3 | 6 | 3 | 198 | 49 (25%) | 3 0 0 0 0 0 0 | false | 0/6/10 0/0/0; 0/6/10 0/0/0
        aider/session-3 | 6 | 3 | 198 | 99 (50%) | 2 0 0 0 0 0 0 | true | 0/6/6 0/0/0; 0/6/6 0/0/0
        aider/session-4 | 2 | 1 | 572 | 57 (10%) | 0 0 0 0 0 0 0 | false | 0/9/9 0/0/0; 0/9/9 0/0/0
        aider/session-4 | 2 | 1 | 572 | 143 (25%) | 0 0 0 0 0 0 0 | false | 1/9/9 0/0/0; 1/9/9 0/0/0
        aider/session-4 | 2 | 1 | 572 | 286 (50%) | 0 0 0 0 0 0 0 | false | 9/9/9 0/0/0; 9/9/9 0/0/0
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
/// and with the page directory, summed over every fixture session (names: a handle or the
/// directory names a specific), beside quality by content (what the recorded actions used,
/// found in the context their request was sent with) and the billed-input ratio.
///
/// Checked invariants: hits, page-ins and faults partition the same uses with and without the
/// directory; without a directory nothing is paged in.
#[test]
fn retention_with_and_without_the_page_directory() {
    use page_replay::{Budget, Directory, Measures, replay_session};

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
            sessions.push((t.format, s));
        }
    }
    let mut out = String::from(
        "fraction | directory | names: paths resident/named/total | names: commands resident/named/total | content: hits/page-ins/faults | billed input / no compaction\n",
    );
    for fraction in [0.05, 0.10, 0.20, 0.35, 0.50] {
        let mut uses = Vec::new();
        for directory in [Directory::Off, Directory::On] {
            let (mut p, mut c) = (RetentionCounts::default(), RetentionCounts::default());
            let (mut hits, mut page_ins, mut faults) = (0, 0, 0);
            let (mut billed, mut baseline) = (0.0, 0.0);
            for (format, session) in &sessions {
                let r = replay_session(
                    session,
                    format.name(),
                    &builder,
                    Budget::fraction(fraction).unwrap(),
                    PolicyId::Clawvm,
                    directory,
                    &Measures::default(),
                )
                .unwrap();
                let ret = &r.report.retention;
                for (sum, k) in [(&mut p, ret.paths), (&mut c, ret.commands)] {
                    sum.total += k.total;
                    sum.resident += k.resident;
                    sum.recoverable += k.recoverable;
                }
                let q = r.report.quality;
                if directory == Directory::Off {
                    assert_eq!(
                        q.page_ins, 0,
                        "{}: a page-in without a directory",
                        session.id
                    );
                }
                hits += q.hits;
                page_ins += q.page_ins;
                faults += q.faults;
                billed += r.report.cost.billed_input;
                baseline += r.report.cost.billed_input_no_compaction;
            }
            uses.push(hits + page_ins + faults);
            let _ = writeln!(
                out,
                "{:.0}% | {} | {}/{}/{} | {}/{}/{} | {hits}/{page_ins}/{faults} | {:.3}",
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
                billed / baseline,
            );
        }
        assert_eq!(
            uses[0], uses[1],
            "the directory changed what the actions used"
        );
    }
    expect![[r#"
        fraction | directory | names: paths resident/named/total | names: commands resident/named/total | content: hits/page-ins/faults | billed input / no compaction
        5% | off | 44/171/407 | 5/44/76 | 12/0/65 | 0.125
        5% | on | 40/283/407 | 5/54/76 | 9/27/41 | 0.912
        10% | off | 68/157/298 | 4/18/49 | 22/0/55 | 0.292
        10% | on | 62/271/298 | 4/42/49 | 22/38/17 | 1.345
        20% | off | 98/149/183 | 6/16/28 | 43/0/34 | 0.551
        20% | on | 109/170/183 | 6/25/28 | 39/25/13 | 1.157
        35% | off | 83/119/128 | 6/14/17 | 59/0/18 | 0.896
        35% | on | 79/123/128 | 6/17/17 | 55/16/6 | 1.402
        50% | off | 86/104/106 | 7/18/20 | 65/0/12 | 0.991
        50% | on | 94/106/106 | 11/20/20 | 64/9/4 | 1.363
    "#]].assert_eq(&out);
}
