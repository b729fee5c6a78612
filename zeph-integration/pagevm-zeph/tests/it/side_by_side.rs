//! Zeph 0.21.4's deterministic paths against the adapter on the recorded traces, counted by
//! one observer. The table is what `docs/zeph-integration.md` publishes (CPU time comes from
//! the criterion bench).

use std::path::PathBuf;

use expect_test::expect;
use pagevm_zeph::compare::{CompareConfig, History, json, session_to_messages, table};

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

fn histories() -> Vec<History> {
    let mut out = Vec::new();
    for (_, path) in traces() {
        let text = std::fs::read_to_string(&path).unwrap();
        let Ok(t) = page_import::import(&text, None) else {
            continue;
        };
        out.extend(t.sessions.iter().map(session_to_messages));
    }
    out
}

#[test]
fn side_by_side_on_recorded_traces() {
    let t = table(&histories(), &CompareConfig::default(), &[0.75, 0.5, 0.25]).unwrap();
    expect![[r#"
        | budget (share of the history) | path | turns | hits | page-ins | faults | faults where the minimum set fits | turns where it does not | orphaned pairs introduced | input orphans sent as tool parts | over budget | fixed parts gave way | mean tokens | max tokens | retention (paths, commands) | misclassified results | invariant violations | billed × no compaction | cache read | rewrites /100 | anchor coverage (edits) |
        |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
        | 0.75 | Zeph 0.21.4 | 42 | 18 | 0 | 0 | 0 | 0 | 0 | 1 | 0 | 0 | 760 | 3469 | 0.876 | 29 | 0 / 0 | 1.073 | 0.477 | 16.7 | 1.000 (1) |
        | 0.75 | pagevm adapter | 42 | 18 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 784 | 3218 | 0.993 | 0 | 0 / 7 | 1.314 | 0.362 | 28.6 | 1.000 (1) |
        | 0.75 | pagevm session | 42 | 18 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 734 | 3469 | 0.931 | 0 | 0 / 11 | 0.936 | 0.536 | 9.5 | 1.000 (1) |
        | 0.5 | Zeph 0.21.4 | 42 | 15 | 0 | 3 | 3 | 1 | 0 | 1 | 0 | 0 | 507 | 2173 | 0.662 | 29 | 0 / 0 | 0.772 | 0.428 | 28.6 | 1.000 (1) |
        | 0.5 | pagevm adapter | 42 | 16 | 2 | 0 | 0 | 1 | 0 | 0 | 1 | 0 | 571 | 2171 | 0.993 | 0 | 0 / 17 | 1.047 | 0.443 | 36.4 | 1.000 (1) |
        | 0.5 | pagevm session | 42 | 17 | 0 | 1 | 1 | 1 | 0 | 0 | 0 | 0 | 552 | 2418 | 0.766 | 0 | 0 / 10 | 0.751 | 0.499 | 23.8 | 1.000 (1) |
        | 0.25 | Zeph 0.21.4 | 42 | 6 | 0 | 12 | 6 | 12 | 0 | 0 | 7 | 0 | 313 | 1463 | 0.297 | 29 | 0 / 0 | 0.304 | 0.668 | 23.8 | 1.000 (1) |
        | 0.25 | pagevm adapter | 42 | 11 | 4 | 3 | 0 | 12 | 0 | 0 | 12 | 0 | 384 | 1627 | 0.690 | 0 | 0 / 12 | 0.592 | 0.488 | 48.9 | 0.000 (1) |
        | 0.25 | pagevm session | 42 | 9 | 0 | 9 | 5 | 12 | 0 | 0 | 0 | 8 | 273 | 1202 | 0.669 | 0 | 0 / 13 | 0.685 | 0.000 | 35.7 | 1.000 (1) |
    "#]].assert_eq(&t);
}

#[test]
fn side_by_side_when_every_turn_is_idle() {
    let t = table(
        &histories(),
        &CompareConfig {
            idle_every_turn: true,
            ..CompareConfig::default()
        },
        &[0.5],
    )
    .unwrap();
    expect![[r#"
        | budget (share of the history) | path | turns | hits | page-ins | faults | faults where the minimum set fits | turns where it does not | orphaned pairs introduced | input orphans sent as tool parts | over budget | fixed parts gave way | mean tokens | max tokens | retention (paths, commands) | misclassified results | invariant violations | billed × no compaction | cache read | rewrites /100 | anchor coverage (edits) |
        |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
        | 0.5 | Zeph 0.21.4 | 42 | 15 | 0 | 3 | 3 | 1 | 0 | 1 | 0 | 0 | 507 | 2173 | 0.662 | 29 | 0 / 0 | 0.772 | 0.428 | 28.6 | 1.000 (1) |
        | 0.5 | pagevm adapter | 42 | 16 | 2 | 0 | 0 | 1 | 0 | 0 | 1 | 0 | 571 | 2171 | 0.993 | 0 | 0 / 17 | 1.047 | 0.443 | 36.4 | 1.000 (1) |
        | 0.5 | pagevm session | 42 | 17 | 0 | 1 | 1 | 1 | 0 | 0 | 0 | 0 | 552 | 2418 | 0.766 | 0 | 0 / 10 | 0.751 | 0.499 | 23.8 | 1.000 (1) |
    "#]].assert_eq(&t);
}

/// `--json` carries the two objects `pagevm replay --json` prints, per path; all paths are
/// measured on the same uses (what the recorded messages used does not depend on the path)
/// and billed against the same no-compaction baseline.
#[test]
fn side_by_side_json_measures_both_paths_on_the_same_uses() {
    let rows = json(&histories(), &CompareConfig::default(), &[0.5, 0.25]).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 6);
    for pair in rows.chunks(3) {
        let uses = |r: &serde_json::Value| {
            let q = &r["quality"];
            ["hits", "page_ins", "faults"]
                .map(|k| q[k].as_u64().unwrap())
                .iter()
                .sum::<u64>()
        };
        assert_eq!(pair[0]["path"], "zeph");
        assert_eq!(pair[1]["path"], "pagevm");
        assert_eq!(pair[2]["path"], "session");
        assert_eq!(uses(&pair[0]), uses(&pair[1]));
        assert_eq!(uses(&pair[0]), uses(&pair[2]));
        assert!(uses(&pair[0]) > 0);
        assert_eq!(
            pair[0]["cost"]["billed_input_no_compaction"],
            pair[1]["cost"]["billed_input_no_compaction"]
        );
        // The session never sends more than the budget.
        assert_eq!(pair[2]["over_budget"], 0);
        // Zeph's path has no page directory, so nothing is paged in.
        assert_eq!(pair[0]["quality"]["page_ins"], 0);
        for key in [
            "preset",
            "billed_input",
            "ratio_to_no_compaction",
            "cache_read_share",
            "prefix_rewrites_per_100",
            "requests",
            "mean_tokens_sent",
            "max_tokens_sent",
        ] {
            assert!(!pair[1]["cost"][key].is_null(), "cost.{key}");
        }
        for key in ["edit_anchors", "edit_anchor_coverage", "directory"] {
            assert!(!pair[1]["quality"][key].is_null(), "quality.{key}");
        }
    }
}
