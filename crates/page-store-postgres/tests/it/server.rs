//! What only a server store has: schema versions in a table, concurrent first opens, an
//! unreachable server, connections the server drops between and during operations.

use std::thread;
use std::time::Duration;

use page_store_contract::fixture;
use page_store_postgres::{PostgresConfig, PostgresError, PostgresStore};
use page_writeback::{BlobStore, HistoryStore as _, StoreError};
use pretty_assertions::assert_eq;

use crate::backend::{PgBackend, fresh_database, server_url, test_config};

fn postgres_error(e: &StoreError) -> &PostgresError {
    let StoreError::Backend(source) = e else {
        panic!("not a backend error: {e:?}");
    };
    source
        .downcast_ref::<PostgresError>()
        .unwrap_or_else(|| panic!("not a PostgresError: {source:?}"))
}

#[test]
fn a_newer_schema_is_refused_with_a_clear_error() {
    let url = fresh_database(&server_url(), "pagevm_s");
    let store = PostgresStore::open_with(&url, test_config()).unwrap();
    assert_eq!(store.schema_version().unwrap(), 2);
    drop(store);
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute("UPDATE schema_version SET version = 99")
        .unwrap();
    let err = PostgresStore::open_with(&url, test_config()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NewerSchema {
                found: 99,
                supported: 2
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "database schema version 99 is newer than the newest this build knows (2); upgrade pagevm"
    );
}

#[test]
fn a_version_1_audit_row_gets_its_pages_full_tokens_from_the_stored_representation() {
    let url = fresh_database(&server_url(), "pagevm_s");
    {
        let store = PostgresStore::open_with(&url, test_config()).unwrap();
        let mut pages = fixture::table("s1");
        let mut wb = fixture::writeback(&store, "s1");
        wb.commit_boundary(
            fixture::turn(1),
            &mut pages,
            vec![fixture::change("s1", "budget")],
        )
        .unwrap();
    }
    // Turn the database back into what version 1 wrote.
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let full: i64 = admin
        .query_one(
            "SELECT tokens FROM representations WHERE page = 'ev-s1' AND level = 'full'",
            &[],
        )
        .unwrap()
        .get(0);
    admin
        .batch_execute(
            "ALTER TABLE audit DROP COLUMN full_tokens; UPDATE schema_version SET version = 1",
        )
        .unwrap();
    // Not the column's default, so only the backfill can have written it.
    assert_ne!(full, 0);
    let store = PostgresStore::open_with(&url, test_config()).unwrap();
    assert_eq!(store.schema_version().unwrap(), 2);
    let trail = store.audit_trail(&fixture::id("ev-s1")).unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(i64::from(trail[0].change.full_tokens.get()), full);
}

#[test]
fn concurrent_first_opens_migrate_once() {
    let url = fresh_database(&server_url(), "pagevm_s");
    thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| PostgresStore::open_with(&url, test_config()).unwrap());
        }
    });
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let rows = admin
        .query("SELECT version FROM schema_version", &[])
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i32>(0), 2);
}

#[test]
fn an_unreachable_server_is_a_clear_error_after_the_timeout() {
    let dir = std::env::temp_dir().join("pagevm-no-server-here");
    let host = dir.to_str().unwrap().replace('/', "%2F");
    let url = format!("postgres://nobody@{host}:5432/postgres");
    let config = PostgresConfig {
        connect_timeout: Duration::from_millis(500),
        ..PostgresConfig::default()
    };
    let err = PostgresStore::open_with(&url, config).unwrap_err();
    assert!(
        matches!(
            postgres_error(&err),
            PostgresError::Unavailable { waited_ms: 500, .. }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with("storage backend failed: PostgreSQL server unreachable after 500 ms"),
        "{text}"
    );
    let err = PostgresStore::open("postgres://a:b@host:notaport/db").unwrap_err();
    assert!(
        matches!(postgres_error(&err), PostgresError::InvalidUrl(_)),
        "{err:?}"
    );
}

/// Every connection of the store's database is terminated by the server (as a restart or an
/// administrator does) between operations and while writers commit boundaries: no operation
/// fails, and the store ends with exactly the union of what the writers acknowledged.
#[test]
fn dropped_connections_are_retried_inside() {
    let url = fresh_database(&server_url(), "pagevm_s");
    let store = PostgresStore::open_with(&url, test_config()).unwrap();
    let mut admin = postgres::Client::connect(&server_url(), postgres::NoTls).unwrap();
    let mut kill = move |url: &str| {
        let db = url.rsplit('/').next().unwrap();
        admin
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&db],
            )
            .unwrap()
            .len()
    };
    let a = store.put_blob(b"before").unwrap();
    assert!(kill(&url) >= 1, "the store held no connection to kill");
    // The pooled connection is dead; the store notices and retries on a new one.
    let b = store.put_blob(b"after").unwrap();
    assert_eq!(store.get_blob(&a).unwrap().unwrap(), b"before");
    assert_eq!(store.get_blob(&b).unwrap().unwrap(), b"after");

    let kills = page_store_contract::threads_commit_the_union_disturbed(
        &PgBackend::new(),
        4,
        2,
        12,
        5,
        // Every 100 ms: an operation slowed down by a loaded machine still gets through
        // between two rounds within its retries.
        &mut |location| {
            thread::sleep(Duration::from_millis(100));
            kill(location)
        },
    );
    assert!(kills > 0, "no connection was dropped while the writers ran");
}
