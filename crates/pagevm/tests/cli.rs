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

// `pagevm migrate` on the real Zeph fixtures.
#[path = "cli/migrate.rs"]
mod migrate;
