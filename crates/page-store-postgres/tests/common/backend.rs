//! The PostgreSQL store as a contract-suite backend: each store a fresh database on the server
//! at `PAGEVM_TEST_PG_URL` (`scripts/pg-test-server` starts a throwaway one), so tests run in
//! parallel. A missing URL fails the test, it does not skip it.

#![allow(
    clippy::unwrap_used,
    reason = "test fixture: a store that cannot be made or opened fails the test"
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use page_store_contract::Backend;
use page_store_postgres::{PostgresConfig, PostgresStore};

pub(crate) const URL_VAR: &str = "PAGEVM_TEST_PG_URL";

/// The server's URL, or a failure that says how to get one.
pub(crate) fn server_url() -> String {
    #[expect(
        clippy::disallowed_methods,
        reason = "the test server's URL comes from the environment, as the script sets it"
    )]
    let url = std::env::var(URL_VAR);
    url.unwrap_or_else(|_| {
        panic!(
            "{URL_VAR} is not set: the PostgreSQL tests need a server. Start a throwaway one \
             around the tests with `bash scripts/pg-test-server run -- cargo test -p \
             page-store-postgres` (or `url=$(bash scripts/pg-test-server start)`, then \
             `{URL_VAR}=$url cargo test -p page-store-postgres`, then \
             `bash scripts/pg-test-server stop $url`)"
        )
    })
}

/// `url` with its database replaced by `db` (URL or `key=value` form).
pub(crate) fn with_database(url: &str, db: &str) -> String {
    if !url.contains("://") {
        return format!("{url} dbname={db}");
    }
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").unwrap() + 3;
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{db}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Makes a new, empty database on the server and returns its URL.
pub(crate) fn fresh_database(admin_url: &str, prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let salt = {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    };
    let name = format!("{prefix}_{}_{n}_{:08x}", std::process::id(), salt as u32);
    let mut admin = postgres::Client::connect(admin_url, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot reach the test server at {admin_url}: {e}"));
    // template0 and FILE_COPY: no other session can block the copy, and it is fast.
    admin
        .batch_execute(&format!(
            "CREATE DATABASE \"{name}\" TEMPLATE template0 STRATEGY FILE_COPY"
        ))
        .unwrap();
    with_database(admin_url, &name)
}

pub(crate) fn test_config() -> PostgresConfig {
    PostgresConfig {
        pool_size: 4,
        connect_timeout: Duration::from_secs(20),
        ..PostgresConfig::default()
    }
}

pub(crate) struct PgBackend {
    admin_url: String,
}

impl PgBackend {
    pub(crate) fn new() -> Self {
        Self {
            admin_url: server_url(),
        }
    }
}

impl Backend for PgBackend {
    type Store = PostgresStore;

    fn create(&self) -> String {
        let url = fresh_database(&self.admin_url, "pagevm_t");
        drop(self.open(&url));
        url
    }

    fn open(&self, location: &str) -> PostgresStore {
        PostgresStore::open_with(location, test_config())
            .unwrap_or_else(|e| panic!("open {location}: {e}"))
    }

    fn integrity(&self, store: &PostgresStore) -> String {
        store.integrity_check().unwrap()
    }

    /// Waits until the server has ended every connection of process `pid` (the store names its
    /// connections `pagevm/<pid>`), so its last transaction is committed or rolled back.
    fn settle(&self, location: &str, pid: u32) {
        let mut client = postgres::Client::connect(location, postgres::NoTls).unwrap();
        let name = format!("pagevm/{pid}");
        for _ in 0..6000 {
            let n: i64 = client
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                    &[&name],
                )
                .unwrap()
                .get(0);
            if n == 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("the server kept the connections of killed process {pid} for 30 s");
    }
}
