//! Files that are not (complete) Zeph databases: a clear error naming what is wrong, never a
//! panic, and never a write.

use std::path::Path;

use pagevm_migrate::{MigrateError, MigrateOptions, NoProgress, ZephDb, migrate, zeph_builder};

use crate::support::{CURRENT, fixture, store};

/// A writable copy of the current fixture, changed by `sql`.
fn doctored(dir: &Path, sql: &str) -> std::path::PathBuf {
    let path = dir.join("doctored.db");
    std::fs::copy(fixture(CURRENT), &path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(sql).unwrap();
    path
}

#[test]
fn clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, b"this is not a database at all, just text").unwrap();
    let plain = dir.path().join("plain.db");
    rusqlite::Connection::open(&plain)
        .unwrap()
        .execute_batch("CREATE TABLE t(x)")
        .unwrap();
    let pagevm_store = dir.path().join("store.db");
    drop(page_store_sqlite::SqliteStore::open(&pagevm_store).unwrap());
    let cases: Vec<(std::path::PathBuf, &str)> = vec![
        (dir.path().join("missing.db"), "opening: no such file"),
        (garbage.clone(), "file is not a database"),
        (
            plain,
            "is not a Zeph database: it has no sqlx migrations table",
        ),
        (
            pagevm_store,
            "is not a Zeph database: it has no sqlx migrations table",
        ),
        (
            doctored(
                dir.path(),
                "UPDATE _sqlx_migrations SET success = 0 WHERE version = 96",
            ),
            "migration 96 is recorded as failed",
        ),
    ];
    for (path, want) in cases {
        let err = ZephDb::open(&path).unwrap_err().to_string();
        assert!(err.contains(want), "{}: {err}", path.display());
    }
    let dir2 = tempfile::tempdir().unwrap();
    let mismatched = doctored(
        dir2.path(),
        "DELETE FROM _sqlx_migrations WHERE version > 72",
    );
    let err = ZephDb::open(&mismatched).unwrap_err();
    assert!(
        matches!(err, MigrateError::SchemaMismatch { migration: 72, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("messages.agent_visible (added by migration 014) is missing"),
        "{err}"
    );
}

#[test]
fn unknown_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let zeph = ZephDb::open(fixture(CURRENT)).unwrap();
    let options = MigrateOptions {
        conversation: Some(99),
        ..MigrateOptions::default()
    };
    let err = migrate(
        &zeph,
        &store(&dir),
        &zeph_builder().unwrap(),
        &options,
        &mut NoProgress,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "conversation 99 does not exist in the Zeph database"
    );
}

#[test]
fn damaged_rows_are_reported_not_fatal() {
    // Every parts row of conversation 1 replaced by something unreadable, one kind each.
    let dir = tempfile::tempdir().unwrap();
    let path = doctored(
        dir.path(),
        "UPDATE messages SET parts = '[{\"kind\":\"tool_use\"}]' WHERE id = 3; \
         UPDATE messages SET parts = 'null' WHERE id = 4; \
         UPDATE messages SET parts = '[{\"Video\":{}}]' WHERE id = 5; \
         UPDATE messages SET parts = x'ff00fe' WHERE id = 6; \
         UPDATE messages SET content = x'c3', role = 'tool' WHERE id = 7;",
    );
    let dir2 = tempfile::tempdir().unwrap();
    let zeph = ZephDb::open(&path).unwrap();
    let report = migrate(
        &zeph,
        &store(&dir2),
        &zeph_builder().unwrap(),
        &MigrateOptions::default(),
        &mut NoProgress,
    )
    .unwrap();
    let corrupt: Vec<(i64, Option<i64>)> = report
        .diagnostics
        .iter()
        .filter(|d| d.kind == pagevm_migrate::DiagnosticKind::CorruptParts)
        .map(|d| (d.conversation, d.message))
        .collect();
    assert_eq!(
        corrupt,
        vec![
            (1, Some(3)),
            (1, Some(4)),
            (1, Some(5)),
            (1, Some(6)),
            (2, Some(32))
        ]
    );
    assert_eq!(report.corrupt_rows, 5);
}
