//! Smoke tests of the `pagevm` binary: `eval` writes byte-identical results and prints the
//! headline, `bench --json` prints the documented shape.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions panic when the binary misbehaves"
)]

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn pagevm(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_pagevm"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pagevm {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    fs::read(dir.join(name)).unwrap()
}

#[test]
fn eval_writes_identical_results_twice_and_prints_the_headline() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let first = pagevm(&["eval", "--out", a.path().to_str().unwrap(), "--quiet"]);
    pagevm(&["eval", "--out", b.path().to_str().unwrap(), "--quiet"]);
    let stdout = String::from_utf8(first.stdout).unwrap();
    assert!(stdout.starts_with("Tier-1 gates: 6/6 passed\n"), "{stdout}");
    assert!(stdout.contains("| retrieval_only | "), "{stdout}");
    assert!(stdout.contains("| clawvm | 0.00 | 0.00 | "), "{stdout}");
    // The shipped sessions are replayed by default: ClawVM without faults at 5% of history.
    assert!(stdout.contains("Recorded sessions ("), "{stdout}");
    assert!(stdout.contains("\n| 5% | 0 | "), "{stdout}");
    assert!(
        first.stderr.is_empty(),
        "no progress bar without a terminal"
    );
    for name in [
        "summary.json",
        "summary.csv",
        "summary.md",
        "workloads/evidence_heavy.json",
        "traces/sweep/multi_session__clawvm__180.jsonl",
        "traces/tier1/reset_flush_miss__clawvm.jsonl",
        "report/index.html",
        "traces/real/swe-agent_ctf__pwn__warmup_traj__swe_main__clawvm__10.jsonl",
    ] {
        assert_eq!(read(a.path(), name), read(b.path(), name), "{name}");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&read(a.path(), "summary.json")).unwrap();
    let keys: Vec<&str> = summary
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "schema_version",
        "tier1",
        "sweep",
        "ablations",
        "adversarial",
        "real_sessions",
        "real_retention",
    ] {
        assert!(keys.contains(&key), "summary.json lacks {key}");
    }
    let row = &summary["sweep"][0];
    for key in [
        "workload",
        "policy",
        "budget",
        "faults",
        "total_faults",
        "duplicate_signature_alerts",
        "hits",
        "thrash",
        "min_fidelity_fits",
    ] {
        assert!(row.get(key).is_some(), "sweep row lacks {key}");
    }
}

#[test]
fn bench_json_has_the_documented_shape() {
    let out = pagevm(&["bench", "--json", "--reps", "1"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["median", "p95", "p99", "max"] {
        assert!(
            v["per_turn_ns"][key].as_u64().is_some(),
            "per_turn_ns.{key}"
        );
    }
    for key in [
        "per_turn_ns_1k_pages",
        "per_turn_ns_10k_pages",
        "peak_heap_bytes_per_session",
    ] {
        assert!(v[key].as_u64().is_some_and(|n| n > 0), "{key}");
    }
}

fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/traces")
        .join(rel)
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn replay_json_of_a_fixture_session() {
    let trace = fixture("claude-code-stream/fix-parser.stream.jsonl");
    let out = pagevm(&[
        "replay",
        "--trace",
        &trace,
        "--format",
        "auto",
        "--budget-fraction",
        "0.25",
        "--policy",
        "all",
        "--json",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    insta::assert_snapshot!("replay_claude_code_stream_all_policies", text);
    // The fields the issue names, on every row.
    let rows: serde_json::Value = serde_json::from_str(&text).unwrap();
    for row in rows.as_array().unwrap() {
        for key in [
            "session",
            "format",
            "turns",
            "tool_calls",
            "policy",
            "budget",
            "faults",
            "total_faults",
            "min_fidelity_fits",
            "retention",
            "tokens",
        ] {
            assert!(row.get(key).is_some(), "replay row lacks {key}");
        }
        for kind in ["paths", "commands", "identifiers"] {
            for key in ["total", "resident", "recoverable"] {
                assert!(
                    row["retention"][kind][key].as_u64().is_some(),
                    "{kind}.{key}"
                );
            }
        }
        assert!(row["tokens"]["full_history"].as_u64().is_some());
        assert!(row["tokens"]["assembled_mean"].as_f64().is_some());
    }
}

#[test]
fn replay_prints_a_table_and_rejects_bad_arguments() {
    let trace = fixture("codex");
    let out = pagevm(&["replay", "--trace", &trace, "--budget", "120"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("| session | format | policy | budget |"),
        "{text}"
    );
    assert!(
        text.contains("| 0199a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b | codex | clawvm | 120 |"),
        "{text}"
    );
    for (args, message) in [
        (vec!["--format", "cursor"], "unknown format \"cursor\""),
        (vec!["--policy", "fifo"], "--policy \"fifo\""),
        (
            vec!["--budget-fraction", "1.5"],
            "budget fraction must be in (0, 1]",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_pagevm"))
            .args(["replay", "--trace", &trace])
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

// `pagevm migrate` on the real Zeph fixtures.
#[path = "cli/migrate.rs"]
mod migrate;

// Hostile and malformed input, as a table.
#[path = "cli/hostile.rs"]
mod hostile;

// `--store` URLs (SQLite and PostgreSQL).
#[path = "cli/store_url.rs"]
mod store_url;
