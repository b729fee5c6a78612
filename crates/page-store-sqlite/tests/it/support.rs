//! Shared fixture: the contract suite's pages, update builders and writeback (one copy for
//! every store's tests), and a store in a temporary directory.

use std::path::Path;

pub(crate) use page_store_contract::fixture::{agent, id, sid, table, turn, update, writeback};
use page_store_sqlite::SqliteStore;

pub(crate) fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(dir.join("pagevm.db")).unwrap()
}
