//! `pagevm migrate` on the real Zeph fixtures: the JSON report (snapshot), idempotence, a dry
//! run that creates no store, the text report, and a clear error for a bad path.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../zeph-integration/fixtures")
        .join(name)
}

fn pagevm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pagevm"))
        .args(args)
        .output()
        .unwrap()
}

/// `pagevm migrate --zeph-db ZEPH --store STORE EXTRA...`.
fn migrate(zeph: &Path, store: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "migrate",
        "--zeph-db",
        zeph.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    pagevm(&args)
}

fn migrate_json(zeph: &Path, store: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let out = migrate(zeph, store, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty(), "no progress bar without a terminal");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn json_report_and_a_second_run_that_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("pagevm.db");
    let zeph = fixture("zeph-0.21.4.db");
    let out = migrate(&zeph, &store, &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    insta::assert_snapshot!("migrate_json", String::from_utf8(out.stdout).unwrap());

    let second = migrate_json(&zeph, &store, &[]);
    assert_eq!(second["pages_created"], 0);
    assert_eq!(second["pages_existing"], 35);
    for key in [
        "conversations",
        "messages_read",
        "pages_created",
        "tool_groups",
        "orphaned_tool_parts",
        "corrupt_rows",
        "summaries",
        "archives",
        "skipped_deleted",
    ] {
        assert!(second[key].is_u64(), "{key} missing from the JSON report");
    }
}

#[test]
fn dry_run_creates_no_store_and_one_conversation_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("pagevm.db");
    let zeph = fixture("zeph-m040.db");
    let dry = migrate_json(&zeph, &store, &["--dry-run"]);
    assert_eq!(
        (dry["dry_run"].as_bool(), dry["pages_created"].as_u64()),
        (Some(true), Some(13))
    );
    assert!(!store.exists(), "a dry run created the store");
    let one = migrate_json(&fixture("zeph-0.21.4.db"), &store, &["--conversation", "2"]);
    assert_eq!(one["conversations"], 1);
    assert_eq!(one["messages_read"], 20);
}

#[test]
fn text_report_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("pagevm.db");
    let zeph = fixture("zeph-m072.db");
    let out = migrate(&zeph, &store, &[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("Migrated ") && text.contains("(Zeph schema at migration 72)"),
        "{text}"
    );
    assert!(
        text.contains("  13 pages created (0 already in the store), 5 tool groups"),
        "{text}"
    );

    let out = migrate(&fixture("zeph-0.21.4.db"), &store, &[]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(
            "  conversation 1 message 15: orphaned_tool_use: tool_use call_interrupted (bash)"
        ) && text.contains("  conversation 2 message 32: corrupt_parts: parts is not JSON"),
        "{text}"
    );

    let missing = dir.path().join("nope.db");
    let out = migrate(&missing, &store, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("nope.db") && err.contains("no such file"),
        "{err}"
    );
    let out = migrate(&zeph, &store, &["--conversation", "7"]);
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("conversation 7 does not exist")
    );
}

/// Every session's boundaries, pages (with versions) and audit rows, in a canonical form
/// that two stores with the same content print alike (boundary numbers differ in order).
fn store_dump(store: &Path) -> String {
    use page_core::SessionId;
    let db = page_store_sqlite::SqliteStore::open(store).unwrap();
    let mut out = String::new();
    for c in 1..=2 {
        let session = SessionId::new(format!("zeph-conversation-{c}")).unwrap();
        let mut boundaries: Vec<String> = db
            .boundaries(&session)
            .unwrap()
            .into_iter()
            .map(|(_, ctx)| format!("{ctx:?}"))
            .collect();
        boundaries.sort();
        out.push_str(&format!(
            "{session}: {} boundaries {boundaries:?}\n",
            boundaries.len()
        ));
        for row in db.page_table(&session).unwrap() {
            let id = row.id;
            let versions = db.page_versions(&id).unwrap();
            let audit: Vec<String> = db
                .audit_trail(&id)
                .unwrap()
                .into_iter()
                .map(|a| format!("{:?}->{:?} {}", a.change.from, a.change.to, a.change.reason))
                .collect();
            out.push_str(&format!("  {id} v{versions:?} audit {audit:?}\n"));
        }
    }
    out
}

#[test]
fn concurrent_migrations_of_one_source_write_what_one_would() {
    let dir = tempfile::tempdir().unwrap();
    let zeph = fixture("zeph-0.21.4.db");
    let alone = dir.path().join("alone.db");
    let report = migrate_json(&zeph, &alone, &[]);
    let expected = store_dump(&alone);
    assert!(
        expected.contains("audit [\""),
        "the fixture has compacted pages: {expected}"
    );
    for trial in 0..6 {
        let store = dir.path().join(format!("together-{trial}.db"));
        let runs: Vec<_> = (0..3)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_pagevm"))
                    .args(["migrate", "--json", "--zeph-db"])
                    .arg(&zeph)
                    .arg("--store")
                    .arg(&store)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut created = 0;
        for run in runs {
            let out = run.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            created += v["pages_created"].as_u64().unwrap();
        }
        assert_eq!(store_dump(&store), expected, "trial {trial}");
        assert_eq!(
            created,
            report["pages_created"].as_u64().unwrap(),
            "trial {trial}"
        );
    }
}
