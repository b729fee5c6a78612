//! Golden decision traces: hand-written workloads under `tests/golden/*.workload.json`, each
//! replayed under every policy at one budget; the JSON-lines trace of each run is compared
//! with `tests/golden/<workload>.<policy>.jsonl`. Regenerate with `UPDATE_EXPECT=1`.

use std::path::{Path, PathBuf};

use expect_test::expect_file;
use page_core::TokenCount;
use page_policy::{PolicyConfig, PolicyId, Workload, simulate};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn jsonl(workload: &Workload, policy: PolicyId, budget: u32) -> String {
    let validated = workload.validate().unwrap();
    let sim = simulate(
        &validated,
        &PolicyConfig::preset(policy),
        TokenCount::new(budget),
    );
    let mut out = String::new();
    for event in &sim.trace {
        out.push_str(&serde_json::to_string(event).unwrap());
        out.push('\n');
    }
    let mut summary = sim.clone();
    summary.trace.clear();
    out.push_str(&serde_json::to_string(&summary).unwrap());
    out.push('\n');
    out
}

#[test]
fn golden_traces_match() {
    let mut names: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".workload.json"))
        .collect();
    names.sort();
    assert!(names.len() >= 3, "golden workloads missing: {names:?}");
    for path in names {
        let text = std::fs::read_to_string(&path).unwrap();
        let workload: Workload = serde_json::from_str(&text).unwrap();
        let stem = path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".workload.json")
            .to_owned();
        // The budget is part of the file name: `<name>_b<budget>.workload.json`.
        let budget: u32 = stem.rsplit_once("_b").unwrap().1.parse().unwrap();
        for policy in PolicyId::ALL {
            let expected = golden_dir().join(format!("{stem}.{}.jsonl", policy.code()));
            expect_file![expected].assert_eq(&jsonl(&workload, policy, budget));
        }
    }
}

#[test]
fn traces_are_identical_across_runs() {
    let path = golden_dir().join("lifecycle_b120.workload.json");
    let workload: Workload = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for policy in PolicyId::ALL {
        assert_eq!(jsonl(&workload, policy, 120), jsonl(&workload, policy, 120));
    }
}
