//! Where a store lives, as users write it (`--store`, a configuration's `store`):
//! `postgres://…` and `postgresql://…` URLs name a PostgreSQL database (page-store-postgres);
//! a `sqlite:` URL (`sqlite:PATH`, `sqlite://PATH`) or a plain file path names an SQLite file
//! (page-store-sqlite). Opening it is the binary's: this crate knows no driver.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where a store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

/// A store location that names no store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreUrlError {
    /// `sqlite:` with nothing after it, or an empty string.
    #[error("{0:?} names no file")]
    NoFile(String),
    /// A `scheme://` that is neither PostgreSQL nor SQLite.
    #[error("{0:?}: unknown store URL scheme (postgres://, postgresql://, sqlite: or a file path)")]
    Scheme(String),
}

impl FromStr for StoreUrl {
    type Err = StoreUrlError;

    fn from_str(s: &str) -> Result<Self, StoreUrlError> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(s.to_owned()));
        }
        let path = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
            .unwrap_or(s);
        if path.is_empty() {
            return Err(StoreUrlError::NoFile(s.to_owned()));
        }
        if path.contains("://") {
            return Err(StoreUrlError::Scheme(s.to_owned()));
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

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
