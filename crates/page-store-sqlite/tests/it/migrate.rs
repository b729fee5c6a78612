//! Schema versions: a newer file is refused, an older one is migrated in a transaction.

use page_store_contract::fixture::change;
use page_store_sqlite::SqliteStore;
use page_writeback::StoreError;
use rusqlite::Connection;

use crate::support::{self, id, table, turn, writeback};

#[test]
fn a_newer_schema_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pagevm.db");
    drop(SqliteStore::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(
        err,
        StoreError::NewerSchema {
            found: 99,
            supported: 3
        }
    ));
    assert_eq!(
        err.to_string(),
        "database schema version 99 is newer than the newest this build knows (3); upgrade pagevm"
    );
}

fn indexes(path: &std::path::Path) -> Vec<String> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('journal_pending', 'faults_session') ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// What version 2 wrote: an audit table without `full_tokens` (SQLite ≥ 3.35 drops a column).
const BACK_TO_VERSION_2: &str =
    "ALTER TABLE audit DROP COLUMN full_tokens; PRAGMA user_version = 2;";

#[test]
fn a_version_1_file_is_migrated_to_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pagevm.db");
    drop(SqliteStore::open(&path).unwrap());
    // Turn the file back into what version 1 wrote: migration 2 only adds two indexes.
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(BACK_TO_VERSION_2).unwrap();
    conn.execute_batch(
        "DROP INDEX journal_pending; DROP INDEX faults_session; PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    assert!(indexes(&path).is_empty());
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 3);
    assert_eq!(store.integrity_check().unwrap(), "ok");
    assert_eq!(indexes(&path), ["faults_session", "journal_pending"]);
}

#[test]
fn a_version_2_audit_row_gets_its_pages_full_tokens_from_the_stored_representation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pagevm.db");
    {
        let store = support::open(dir.path());
        let mut pages = table("s1");
        let mut wb = writeback(&store, "s1");
        wb.commit_boundary(turn(1), &mut pages, vec![change("s1", "budget")])
            .unwrap();
    }
    let full: i64 = {
        let conn = Connection::open(&path).unwrap();
        let full = conn
            .query_row(
                "SELECT tokens FROM representations WHERE page = 'ev-s1' AND level = 'full'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        conn.execute_batch(BACK_TO_VERSION_2).unwrap();
        full
    };
    // Not the column's default, so only the backfill can have written it.
    assert_ne!(full, 0);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 3);
    let trail = store.audit_trail(&id("ev-s1")).unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(i64::from(trail[0].change.full_tokens.get()), full);
}

#[test]
fn a_file_that_is_not_a_database_is_a_backend_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pagevm.db");
    std::fs::write(
        &path,
        b"this is not an SQLite database, just text long enough to matter....",
    )
    .unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err}");
}
