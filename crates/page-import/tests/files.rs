//! Walking and reading session files on disk: cycles, FIFOs, devices, dangling links, size,
//! byte-order marks and invalid UTF-8 each end in a named skip or error, never a hang.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking on an unexpected error"
)]

use std::fs;
use std::path::Path;

use page_import::{FileError, find_traces, import_file};

const CODEX_LINE: &str = r#"{"timestamp":"2025-01-01T00:00:00Z","type":"session_meta","payload":{"id":"s1","timestamp":"2025-01-01T00:00:00Z","cwd":"/w","originator":"codex_cli_rs","cli_version":"0.1"}}"#;

fn fixture(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/traces")
        .join(rel)
}

fn names(paths: &[std::path::PathBuf], root: &Path) -> Vec<String> {
    paths
        .iter()
        .map(|p| p.strip_prefix(root).unwrap().display().to_string())
        .collect()
}

#[cfg(unix)]
#[test]
fn a_hostile_directory_is_walked_once_and_every_skip_has_a_reason() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir_all(root.join("a/b")).unwrap();
    fs::copy(
        fixture("claude-code/session_b.jsonl"),
        root.join("a/b/s.jsonl"),
    )
    .unwrap();
    // Two symlink cycles, a link out to a device, a dangling link and a FIFO.
    symlink(root.join("a"), root.join("a/b/up")).unwrap();
    symlink(root, root.join("a/root")).unwrap();
    symlink("/dev/zero", root.join("zero.jsonl")).unwrap();
    symlink(root.join("missing.jsonl"), root.join("dangling.jsonl")).unwrap();
    let fifo = root.join("pipe.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());

    let found = find_traces(root).unwrap();
    assert_eq!(names(&found.files, root), ["a/b/s.jsonl"]);
    let skipped: Vec<(String, String)> = found
        .skipped
        .iter()
        .map(|s| {
            (
                s.path.strip_prefix(root).unwrap().display().to_string(),
                s.reason.clone(),
            )
        })
        .collect();
    let reason = |name: &str| {
        skipped
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{name} not reported in {skipped:?}"))
    };
    assert!(reason("a/b/up").contains("symlink cycle"));
    assert!(reason("a/root").contains("symlink cycle"));
    assert!(reason("zero.jsonl").contains("character device"));
    assert!(reason("dangling.jsonl").contains("symlink to nothing"));
    assert!(reason("pipe.jsonl").contains("FIFO"));

    // Named directly, a FIFO or a device is refused as such, before any read.
    for path in [fifo.as_path(), Path::new("/dev/zero")] {
        let err = find_traces(path).unwrap_err();
        assert!(matches!(err, FileError::NotRegular { .. }), "{err}");
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let err = import_file(path, None).unwrap_err();
        assert!(matches!(err, FileError::NotRegular { .. }), "{err}");
    }
}

#[test]
fn a_byte_order_mark_is_accepted_and_invalid_utf8_is_a_diagnostic() {
    let tmp = tempfile::tempdir().unwrap();
    let bom = tmp.path().join("bom.jsonl");
    fs::write(&bom, format!("\u{feff}{CODEX_LINE}\n")).unwrap();
    let t = import_file(&bom, None).unwrap();
    assert_eq!(t.format.name(), "codex");
    assert!(t.diagnostics.is_empty(), "{:?}", t.diagnostics);

    let bad = tmp.path().join("bad.jsonl");
    let mut bytes = format!("{CODEX_LINE}\n").into_bytes();
    bytes.extend_from_slice(b"{\"type\":\"\xff\xfe\"}\n");
    fs::write(&bad, bytes).unwrap();
    let t = import_file(&bad, None).unwrap();
    let first = t.diagnostics.first().expect("a diagnostic");
    assert!(first.message.contains("invalid UTF-8"), "{first}");
    assert_eq!(first.location, format!("byte {}", CODEX_LINE.len() + 10));
}

#[test]
fn a_missing_path_is_an_io_error_naming_it() {
    let err = find_traces(Path::new("/nonexistent/pagevm-trace")).unwrap_err();
    assert!(matches!(err, FileError::Io { .. }));
    assert!(
        err.to_string().contains("/nonexistent/pagevm-trace"),
        "{err}"
    );
}
