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

/// The billed input `replay --json` reports is recomputed here from the `--requests` dump alone,
/// with the published rule (longest common prefix of item hashes with the previous request,
/// nothing cached past the lifetime or under the minimum), for two presets and both modes.
#[test]
fn replay_billed_input_is_recomputed_from_the_request_dump() {
    let trace = fixture("");
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("requests.jsonl");
    for (preset, mode, read, write, life_ms, min) in [
        (
            "anthropic-5m",
            "lcp",
            0.1,
            1.25,
            Some(300_000_i64),
            1_024_u64,
        ),
        ("gemini", "lcp", 0.1, 1.0, None, 2_048),
        ("openai", "breakpoint", 0.1, 1.25, None, 1_024),
    ] {
        let out = pagevm(&[
            "replay",
            "--trace",
            &trace,
            "--budget-fraction",
            "0.5",
            "--policy",
            "all",
            "--preset",
            preset,
            "--cache-mode",
            mode,
            "--requests",
            dump.to_str().unwrap(),
            "--json",
        ]);
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        // One replay's requests run from request 0 on, in the order of the rows.
        let mut replays: Vec<Vec<serde_json::Value>> = Vec::new();
        for line in fs::read_to_string(&dump).unwrap().lines() {
            let r: serde_json::Value = serde_json::from_str(line).unwrap();
            if r["request"] == 0 {
                replays.push(Vec::new());
            }
            replays.last_mut().unwrap().push(r);
        }
        let rows: Vec<_> = rows.iter().filter(|r| r["cost"]["requests"] != 0).collect();
        assert_eq!(rows.len(), replays.len(), "{preset}");
        let mut cached_somewhere = false;
        for (row, requests) in rows.iter().zip(&replays) {
            assert_eq!(row["session"], requests[0]["session"]);
            assert_eq!(row["policy"], requests[0]["policy"]);
            let (mut billed, mut earlier): (f64, Vec<Vec<(String, u64)>>) = (0.0, Vec::new());
            let mut last_at: Option<i64> = None;
            for r in requests {
                let items: Vec<(String, u64)> = r["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| {
                        (
                            i["hash"].as_str().unwrap().to_owned(),
                            i["tokens"].as_u64().unwrap(),
                        )
                    })
                    .collect();
                let prefix_len = |other: &Vec<(String, u64)>| {
                    items
                        .iter()
                        .zip(other)
                        .take_while(|(a, b)| a.0 == b.0)
                        .count()
                };
                let common = match mode {
                    "lcp" => earlier.last().map_or(0, prefix_len),
                    _ => earlier
                        .iter()
                        .filter(|e| prefix_len(e) == e.len())
                        .map(Vec::len)
                        .max()
                        .unwrap_or(0),
                };
                let at = r["at_ms"].as_i64();
                let expired =
                    matches!((life_ms, last_at, at), (Some(l), Some(a), Some(b)) if b - a > l);
                let prefix: u64 = items[..common].iter().map(|i| i.1).sum();
                let sent: u64 = items.iter().map(|i| i.1).sum();
                let cached = if expired || prefix < min { 0 } else { prefix };
                cached_somewhere |= cached > 0;
                billed += cached as f64 * read + (sent - cached) as f64 * write;
                last_at = at.or(last_at);
                earlier.push(items);
            }
            let reported = row["cost"]["billed_input"].as_f64().unwrap();
            assert!(
                (reported - billed).abs() < 0.051,
                "{preset} {mode} {}/{}: reported {reported}, recomputed {billed}",
                row["session"],
                row["policy"]
            );
        }
        // The fixtures' prefixes pass Anthropic's and OpenAI's minimum, not Gemini's.
        assert_eq!(cached_somewhere, min < 2_048, "{preset}: cache reads");
    }
}

#[test]
fn replay_prints_a_table_and_rejects_bad_arguments() {
    let trace = fixture("codex");
    let out = pagevm(&["replay", "--trace", &trace, "--budget", "120"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("| session | format | policy | directory | budget |"),
        "{text}"
    );
    assert!(
        text.contains("| 0199a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b | codex | clawvm | on | 120 |"),
        "{text}"
    );
    // Both directory settings, side by side, in one run.
    let out = pagevm(&[
        "replay",
        "--trace",
        &trace,
        "--budget",
        "120",
        "--directory",
        "both",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    for setting in ["off", "on"] {
        assert!(
            text.contains(&format!("| codex | clawvm | {setting} | 120 |")),
            "{text}"
        );
    }
    for (args, message) in [
        (vec!["--format", "cursor"], "unknown format \"cursor\""),
        (vec!["--policy", "fifo"], "--policy \"fifo\""),
        (
            vec!["--budget-fraction", "1.5"],
            "budget fraction must be in (0, 1]",
        ),
        (
            vec!["--preset", "azure"],
            "unknown pricing preset \"azure\"",
        ),
        (vec!["--cache-mode", "lru"], "unknown cache mode \"lru\""),
        (vec!["--read-price=-1"], "read must be a finite number"),
        (
            vec!["--requests", "/nonexistent-dir/requests.jsonl"],
            "--requests /nonexistent-dir/requests.jsonl",
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

// `pagevm audit` on a migrated store.
#[path = "cli/audit.rs"]
mod audit;
