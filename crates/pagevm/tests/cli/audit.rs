//! `pagevm audit` on a store migrated from the real Zeph fixture: the table (snapshot), the
//! JSON listing the same changes, the session filter, and clear errors for an unknown session
//! or a missing store.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pagevm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pagevm"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap()
}

/// A store migrated from the current-schema Zeph fixture (its compactions are audit records).
fn migrated(dir: &Path) -> PathBuf {
    let zeph = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../zeph-integration/fixtures/zeph-0.21.4.db");
    let store = dir.join("pagevm.db");
    let out = pagevm(&[
        "migrate",
        "--zeph-db",
        zeph.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    store
}

#[test]
fn audit_lists_every_representation_change_of_a_migrated_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = migrated(dir.path());
    let store = store.to_str().unwrap();
    let table = pagevm(&["audit", "--store", store]);
    assert!(
        table.status.success(),
        "{}",
        String::from_utf8_lossy(&table.stderr)
    );
    insta::assert_snapshot!("audit_table", String::from_utf8(table.stdout).unwrap());

    let json = pagevm(&["audit", "--store", store, "--json"]);
    assert!(json.status.success());
    let all: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 8, "the table's 8 changes");
    for r in all {
        for key in [
            "seq",
            "session",
            "boundary",
            "turn",
            "time_ms",
            "page",
            "page_type",
            "level_before",
            "level_after",
            "tokens_before",
            "tokens_after",
            "reason",
        ] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
    }

    let one = pagevm(&[
        "audit",
        "--store",
        store,
        "--session",
        "zeph-conversation-2",
        "--json",
    ]);
    let one: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    let one = one.as_array().unwrap();
    assert_eq!(
        one.len(),
        all.iter()
            .filter(|r| r["session"] == "zeph-conversation-2")
            .count()
    );
    assert!(!one.is_empty());
    assert!(one.iter().all(|r| r["session"] == "zeph-conversation-2"));
}

#[test]
fn audit_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let store = migrated(dir.path());
    let out = pagevm(&[
        "audit",
        "--store",
        store.to_str().unwrap(),
        "--session",
        "nope",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "no session nope in the store (sessions: zeph-conversation-1, zeph-conversation-2)"
        ),
        "{err}"
    );

    let missing = dir.path().join("missing.db");
    let out = pagevm(&["audit", "--store", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not exist"), "{err}");
    assert!(!missing.exists(), "a missing store is not created");
}
