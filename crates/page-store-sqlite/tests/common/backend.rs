//! The SQLite store as a contract-suite backend: each store a file in one temporary directory
//! (made on first use, so child processes that only open make none).

#![allow(
    clippy::unwrap_used,
    reason = "test fixture: a store that cannot be made or opened fails the test"
)]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use page_store_contract::Backend;
use page_store_sqlite::SqliteStore;

#[derive(Default)]
pub(crate) struct SqliteBackend {
    dir: OnceLock<tempfile::TempDir>,
    next: AtomicUsize,
}

impl Backend for SqliteBackend {
    type Store = SqliteStore;

    fn create(&self) -> String {
        let dir = self.dir.get_or_init(|| tempfile::tempdir().unwrap());
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = dir.path().join(format!("store-{n}.db"));
        drop(SqliteStore::open(&path).unwrap());
        path.to_str().unwrap().to_owned()
    }

    fn open(&self, location: &str) -> SqliteStore {
        SqliteStore::open(location).unwrap()
    }

    fn integrity(&self, store: &SqliteStore) -> String {
        store.integrity_check().unwrap()
    }
}
