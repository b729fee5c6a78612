//! Same inputs, byte-identical outputs: the evaluation run twice and written twice.

use std::fs;
use std::path::Path;

use page_eval::{Fixed, MANIFEST, NoProgress, OutputDir, run_eval, write_outputs};
use pretty_assertions::assert_eq;

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn two_runs_write_byte_identical_files() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    write_outputs(
        &mut OutputDir::prepare(a.path(), &[]).unwrap(),
        crate::full(),
    )
    .unwrap();
    let second = run_eval(&crate::plan("second"), &mut NoProgress).unwrap();
    write_outputs(&mut OutputDir::prepare(b.path(), &[]).unwrap(), &second).unwrap();
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert!(
        fa.len() > 100,
        "expected summaries, workloads and traces, got {}",
        fa.len()
    );
    assert_eq!(
        fa.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        fb.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in fa.iter().zip(&fb) {
        assert!(x == y, "{name} differs between two runs");
    }
}

#[test]
fn rewriting_replaces_stale_traces_of_its_own_and_keeps_the_users_files() {
    let dir = tempfile::tempdir().unwrap();
    write_outputs(
        &mut OutputDir::prepare(dir.path(), &[]).unwrap(),
        crate::full(),
    )
    .unwrap();
    // A trace an earlier run wrote (listed in the manifest) that this run does not write.
    let stale = dir.path().join("traces/sweep/stale.jsonl");
    fs::write(&stale, "{}\n").unwrap();
    let manifest = dir.path().join(MANIFEST);
    let mut listed = fs::read_to_string(&manifest).unwrap();
    listed.push_str("traces/sweep/stale.jsonl\n");
    fs::write(&manifest, listed).unwrap();
    // A file of the user's beside the traces.
    let users = dir.path().join("traces/sweep/notes.md");
    fs::write(&users, "mine\n").unwrap();
    write_outputs(
        &mut OutputDir::prepare(dir.path(), &[]).unwrap(),
        crate::full(),
    )
    .unwrap();
    assert!(!stale.exists());
    assert_eq!(fs::read_to_string(&users).unwrap(), "mine\n");
    assert!(dir.path().join("summary.json").exists());
}

#[test]
fn fixed_floats_have_fixed_decimals() {
    let cases = [
        (Fixed::<3>(0.901).to_string(), "0.901"),
        (Fixed::<3>(1.0).to_string(), "1.000"),
        (Fixed::<3>(-0.0).to_string(), "0.000"),
        (Fixed::<3>(2.0 / 3.0).to_string(), "0.667"),
        (Fixed::<2>(67.75).to_string(), "67.75"),
        (Fixed::<2>(1e21).to_string(), "1000000000000000000000.00"),
        (Fixed::<3>(f64::NAN).to_string(), "null"),
        (
            serde_json::to_string(&Fixed::<3>(0.1 + 0.2)).unwrap(),
            "0.300",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}
