//! pagevm's page store on PostgreSQL, for agent fleets that outgrow one SQLite file: many
//! processes on many machines writing one database.
//!
//! [`PostgresStore`] implements page-writeback's storage traits
//! ([`page_writeback::JournalStore`], [`page_writeback::PageStore`],
//! [`page_writeback::BlobStore`], [`page_writeback::HistoryStore`]) with the same schema
//! concepts, commit protocol and guarantees as page-store-sqlite, and is checked by the same
//! contract suite (`page-store-contract`). A boundary commit is one transaction; concurrent
//! committers serialise per field on transaction-scoped advisory locks taken in one global
//! order, so writers of different sessions commit in parallel, and writers of one field compose
//! (exactly the union of what each acknowledged). Deadlocks, serialization failures, lost
//! connections and restarting servers are retried inside the store with a bound; a write whose
//! `COMMIT` lost its connection is looked up by the token it wrote, so it is neither lost nor
//! applied twice. The schema is migrated on open (a `schema_version` table); a database of a
//! newer schema is refused.
//!
//! The key design decision: the client stays inside this crate. It uses the synchronous
//! `postgres` crate (tokio-postgres under a private runtime) with an r2d2 pool, because the
//! store traits are synchronous; no driver type appears in the API, and errors are
//! page-writeback's [`page_writeback::StoreError`] with a [`PostgresError`] inside
//! `Backend`. See `docs/design/store.md` §11 for the client choice, schema, locking and
//! numbers.

mod codec;
mod commit;
mod conn;
mod copy;
mod error;
mod schema;
mod store;

pub use crate::error::{DriverError, PostgresError};
pub use crate::store::{PostgresConfig, PostgresStore};
