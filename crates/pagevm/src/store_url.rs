//! `--store` values: which backend a store lives in, and opening it.
//!
//! `postgres://…` and `postgresql://…` URLs name a PostgreSQL database (page-store-postgres);
//! a `sqlite:` URL (`sqlite:PATH`, `sqlite://PATH`) or a plain file path names an SQLite file
//! (page-store-sqlite). The commands reach either through page-writeback's traits.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context as _, Result};
use page_store_postgres::PostgresStore;
use page_store_sqlite::{SqliteConfig, SqliteStore};
use page_writeback::CopyStore;

/// Where a store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreUrl {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl FromStr for StoreUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(s.to_owned()));
        }
        let path = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
            .unwrap_or(s);
        if path.is_empty() {
            return Err(format!("{s:?} names no file"));
        }
        if path.contains("://") {
            return Err(format!(
                "{s:?}: unknown store URL scheme (postgres://, postgresql://, sqlite: or a file path)"
            ));
        }
        Ok(StoreUrl::Sqlite(PathBuf::from(path)))
    }
}

impl fmt::Display for StoreUrl {
    /// The path, or the URL without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite(path) => write!(f, "{}", path.display()),
            StoreUrl::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

/// `url` with the password of its user info replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_parse_by_scheme() {
        let cases = [
            ("postgres://u@h/db", "postgres postgres://u@h/db"),
            (
                "postgresql://u:secret@h:5433/db",
                "postgres postgresql://u:***@h:5433/db",
            ),
            ("sqlite:pagevm.db", "sqlite pagevm.db"),
            ("sqlite:///var/lib/pagevm.db", "sqlite /var/lib/pagevm.db"),
            ("./pagevm.db", "sqlite ./pagevm.db"),
        ];
        for (input, want) in cases {
            let url: StoreUrl = input.parse().unwrap();
            let kind = match url {
                StoreUrl::Sqlite(_) => "sqlite",
                StoreUrl::Postgres(_) => "postgres",
            };
            assert_eq!(format!("{kind} {url}"), want, "{input}");
        }
        assert!("mysql://h/db".parse::<StoreUrl>().is_err());
        assert!("sqlite:".parse::<StoreUrl>().is_err());
    }
}
