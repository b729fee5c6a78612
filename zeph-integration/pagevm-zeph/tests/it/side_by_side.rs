//! Zeph 0.21.4's deterministic paths against the adapter on the recorded traces, counted by
//! one observer. The table is what `docs/zeph-integration.md` publishes (CPU time comes from
//! the criterion bench).

use std::path::PathBuf;

use expect_test::expect;
use pagevm_zeph::compare::{CompareConfig, Strategy, compare, session_to_messages, total};

fn traces() -> Vec<(String, PathBuf)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/traces");
    let mut out = Vec::new();
    for dir in ["aider", "claude-code", "openhands", "swe-agent"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                matches!(p.extension().and_then(|e| e.to_str()), Some("jsonl" | "json" | "traj" | "md"))
            })
            .collect();
        files.sort();
        for f in files {
            out.push((dir.to_owned(), f));
        }
    }
    out
}

pub(crate) fn table(config: &CompareConfig) -> String {
    let mut runs = Vec::new();
    for (_, path) in traces() {
        let text = std::fs::read_to_string(&path).unwrap();
        let Ok(t) = page_import::import(&text, None) else { continue };
        for s in &t.sessions {
            let (messages, times) = session_to_messages(s);
            runs.push(compare(&messages, &times, config).unwrap());
        }
    }
    let all = total(&runs);
    let mut out = String::from(
        "| path | turns | faults | orphaned pairs | over budget | mean tokens | max tokens | retention (paths, commands) | misclassified results | invariant violations |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (s, c) in &all {
        let name = match s {
            Strategy::Zeph => "Zeph 0.21.4",
            Strategy::Pagevm => "pagevm adapter",
        };
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {:.0} | {} | {:.3} | {} | {} / {} |\n",
            c.turns,
            c.faults,
            c.orphaned_pairs,
            c.over_budget,
            c.tokens_mean(),
            c.tokens_max,
            c.retention(),
            c.misclassified,
            c.invariant_violations,
            c.invariant_checks,
        ));
    }
    out
}

#[test]
fn side_by_side_on_recorded_traces() {
    let t = table(&CompareConfig::default());
    expect![[r#""#]].assert_eq(&t);
}

#[test]
fn side_by_side_when_every_turn_is_idle() {
    let t = table(&CompareConfig {
        idle_every_turn: true,
        ..CompareConfig::default()
    });
    expect![[r#""#]].assert_eq(&t);
}
