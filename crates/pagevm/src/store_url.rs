//! Opening a `--store` ([`StoreUrl`]: a file path, `sqlite:PATH` or a `postgres://` URL) in
//! its backend. The commands reach either through page-writeback's traits.

use anyhow::{Context as _, Result};
use page_store_postgres::PostgresStore;
use page_store_sqlite::{SqliteConfig, SqliteStore};
use page_writeback::{CopyStore, StoreUrl};

/// An open store of either backend.
pub(crate) enum OpenStore {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl OpenStore {
    /// Opens (creating if needed) the store at `url` with each backend's defaults.
    pub(crate) fn open(url: &StoreUrl) -> Result<Self> {
        Self::open_sqlite_with(url, SqliteConfig::default())
    }

    /// Opens the store for loading many pages in a row from a source that can be loaded again:
    /// for SQLite, [`SqliteConfig::bulk_load`] (call [`OpenStore::finish`] at the end); for
    /// PostgreSQL, the defaults (every commit is durable when it returns).
    pub(crate) fn open_for_load(url: &StoreUrl) -> Result<Self> {
        Self::open_sqlite_with(url, SqliteConfig::bulk_load())
    }

    /// Opens the store at `url` if it exists (a missing SQLite file is `None`: nothing is
    /// created). A PostgreSQL database always exists; opening it creates the schema tables
    /// when they are missing.
    pub(crate) fn open_existing(url: &StoreUrl) -> Result<Option<Self>> {
        match url {
            StoreUrl::Sqlite(path) if !path.exists() => Ok(None),
            StoreUrl::Sqlite(_) | StoreUrl::Postgres(_) => Self::open(url).map(Some),
        }
    }

    fn open_sqlite_with(url: &StoreUrl, config: SqliteConfig) -> Result<Self> {
        Ok(match url {
            StoreUrl::Sqlite(path) => OpenStore::Sqlite(
                SqliteStore::open_with(path, config)
                    .with_context(|| format!("opening the store {url}"))?,
            ),
            StoreUrl::Postgres(u) => OpenStore::Postgres(
                PostgresStore::open(u).with_context(|| format!("opening the store {url}"))?,
            ),
        })
    }

    /// The store, through its traits.
    pub(crate) fn store(&self) -> &dyn CopyStore {
        match self {
            OpenStore::Sqlite(s) => s,
            OpenStore::Postgres(s) => s,
        }
    }

    /// Makes everything loaded durable (SQLite: a checkpoint; PostgreSQL: nothing to do).
    pub(crate) fn finish(&self, url: &StoreUrl) -> Result<()> {
        if let OpenStore::Sqlite(s) = self {
            s.checkpoint()
                .with_context(|| format!("checkpointing the store {url}"))?;
        }
        Ok(())
    }
}
