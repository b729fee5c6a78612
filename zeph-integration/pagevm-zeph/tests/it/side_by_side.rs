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
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("jsonl" | "json" | "traj" | "md")
                )
            })
            .collect();
        files.sort();
        for f in files {
            out.push((dir.to_owned(), f));
        }
    }
    out
}

pub(crate) fn table(config: &CompareConfig, ratios: &[f64]) -> String {
    let mut out = String::from(
        "| budget (share of the history) | path | turns | faults | orphaned pairs | over budget | mean tokens | max tokens | retention (paths, commands) | misclassified results | invariant violations |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for &ratio in ratios {
        let config = CompareConfig {
            budget: 0,
            budget_ratio: Some(ratio),
            ..config.clone()
        };
        let mut runs = Vec::new();
        for (_, path) in traces() {
            let text = std::fs::read_to_string(&path).unwrap();
            let Ok(t) = page_import::import(&text, None) else {
                continue;
            };
            for s in &t.sessions {
                let (messages, times) = session_to_messages(s);
                runs.push(compare(&messages, &times, &config).unwrap());
            }
        }
        rows(&mut out, ratio, &total(&runs));
    }
    out
}

fn rows(
    out: &mut String,
    ratio: f64,
    all: &std::collections::BTreeMap<Strategy, pagevm_zeph::compare::Counts>,
) {
    for (s, c) in all {
        let name = match s {
            Strategy::Zeph => "Zeph 0.21.4",
            Strategy::Pagevm => "pagevm adapter",
        };
        out.push_str(&format!(
            "| {ratio} | {name} | {} | {} | {} | {} | {:.0} | {} | {:.3} | {} | {} / {} |\n",
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
}

#[test]
fn side_by_side_on_recorded_traces() {
    let t = table(&CompareConfig::default(), &[0.75, 0.5, 0.25]);
    expect![[r#"
        | budget (share of the history) | path | turns | faults | orphaned pairs | over budget | mean tokens | max tokens | retention (paths, commands) | misclassified results | invariant violations |
        |---|---|---|---|---|---|---|---|---|---|---|
        | 0.75 | Zeph 0.21.4 | 36 | 0 | 1 | 0 | 884 | 3469 | 0.841 | 28 | 0 / 0 |
        | 0.75 | pagevm adapter | 36 | 0 | 0 | 1 | 916 | 3234 | 0.938 | 0 | 0 / 8 |
        | 0.5 | Zeph 0.21.4 | 36 | 1 | 1 | 0 | 589 | 2173 | 0.676 | 28 | 0 / 0 |
        | 0.5 | pagevm adapter | 36 | 2 | 0 | 4 | 674 | 2178 | 0.828 | 0 | 0 / 17 |
        | 0.25 | Zeph 0.21.4 | 36 | 12 | 0 | 7 | 362 | 1463 | 0.297 | 28 | 0 / 0 |
        | 0.25 | pagevm adapter | 36 | 4 | 0 | 19 | 530 | 2048 | 0.566 | 0 | 0 / 27 |
    "#]].assert_eq(&t);
}

#[test]
fn side_by_side_when_every_turn_is_idle() {
    let t = table(
        &CompareConfig {
            idle_every_turn: true,
            ..CompareConfig::default()
        },
        &[0.5],
    );
    expect![[r#"
        | budget (share of the history) | path | turns | faults | orphaned pairs | over budget | mean tokens | max tokens | retention (paths, commands) | misclassified results | invariant violations |
        |---|---|---|---|---|---|---|---|---|---|---|
        | 0.5 | Zeph 0.21.4 | 36 | 1 | 1 | 0 | 589 | 2173 | 0.676 | 28 | 0 / 0 |
        | 0.5 | pagevm adapter | 36 | 2 | 0 | 4 | 674 | 2178 | 0.828 | 0 | 0 / 17 |
    "#]].assert_eq(&t);
}
