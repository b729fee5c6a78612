//! The embedded default store of pagevm: one SQLite file (WAL mode) holding sessions, page
//! versions, representations with token costs and digests, content-addressed blobs, field
//! versions, the writeback journal, the audit log and the fault log.
//!
//! [`SqliteStore`] implements page-writeback's storage traits ([`page_writeback::JournalStore`],
//! [`page_writeback::PageStore`], [`page_writeback::BlobStore`]); a boundary commit is one
//! `BEGIN IMMEDIATE` transaction, so it is all-or-nothing across every table. Nothing is
//! overwritten: page and field versions are appended, journal entries only move forward in
//! their life-cycle. The schema is migrated on open with a hand-written migrator on
//! `PRAGMA user_version`; a file of a newer schema is refused.
//!
//! The key design decision: the driver stays inside this crate. No `rusqlite` type appears in
//! its API; errors are page-writeback's [`page_writeback::StoreError`], and a busy database
//! is retried internally, never reported. See `docs/design/store.md` for the schema, the
//! commit protocol and the crash analysis.
//!
//! ```
//! use page_core::SessionId;
//! use page_store_sqlite::SqliteStore;
//! use page_writeback::JournalStore;
//!
//! let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open(dir.path().join("pagevm.db"))?;
//! assert_eq!(store.integrity_check()?, "ok");
//! assert!(store.entries(&SessionId::new("s1")?)?.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod codec;
mod copy;
mod query;
mod schema;
mod store;

pub use crate::query::PageRow;
pub use crate::store::{SqliteConfig, SqliteStore, Synchronous};
