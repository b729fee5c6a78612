//! The store's own errors: what went wrong talking to PostgreSQL, without driver types.
//!
//! Every trait method returns page-writeback's [`StoreError`]; a failure of the server or the
//! connection is a [`StoreError::Backend`] whose source is a [`PostgresError`], so a caller can
//! tell an unreachable server from a failed statement by downcasting.

use std::fmt;

use page_writeback::StoreError;
use thiserror::Error;

/// A PostgreSQL failure the store could not retry away.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The connection URL does not parse.
    #[error("invalid PostgreSQL URL: {0}")]
    InvalidUrl(DriverError),
    /// No connection could be made within the configured time (the server is down,
    /// restarting, refusing connections or out of connection slots).
    #[error("PostgreSQL server unreachable after {waited_ms} ms: {reason}")]
    Unavailable {
        /// How long the store kept trying.
        waited_ms: u64,
        /// The last connection error.
        reason: String,
    },
    /// Transient failures (lost connections, serialization failures, deadlocks) went on for
    /// every allowed attempt.
    #[error("{operation} still failed after {attempts} attempts: {source}")]
    RetriesExhausted {
        /// The store operation.
        operation: &'static str,
        /// How many times it ran.
        attempts: u32,
        /// The last failure.
        #[source]
        source: DriverError,
    },
    /// The connection broke while the server committed a write that cannot be told apart
    /// afterwards (whether it committed is unknown; the store could not find out either).
    #[error(
        "{operation}: the connection broke during COMMIT and the outcome could not be checked: {source}"
    )]
    UnknownOutcome {
        /// The store operation.
        operation: &'static str,
        /// The failure.
        #[source]
        source: DriverError,
    },
    /// A statement failed for good (a constraint, a permission, a missing table).
    #[error("{operation} failed: {source}")]
    Statement {
        /// The store operation.
        operation: &'static str,
        /// The driver's error.
        #[source]
        source: DriverError,
    },
}

impl From<PostgresError> for StoreError {
    fn from(e: PostgresError) -> Self {
        StoreError::backend(e)
    }
}

/// The PostgreSQL client's error, opaque: its SQLSTATE code and message are readable, its type
/// stays private to this crate.
pub struct DriverError(pub(crate) postgres::Error);

impl DriverError {
    /// The SQLSTATE code the server reported, e.g. `40001`, when there is one.
    #[must_use]
    pub fn sqlstate(&self) -> Option<&str> {
        self.0.code().map(postgres::error::SqlState::code)
    }
}

impl fmt::Debug for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_db_error() {
            // The server's message, with its code; tokio-postgres's own Display says only "db error".
            Some(db) => write!(f, "{} ({})", db.message(), db.code().code()),
            None => match std::error::Error::source(&self.0) {
                Some(inner) => write!(f, "{}: {inner}", self.0),
                None => fmt::Display::fmt(&self.0, f),
            },
        }
    }
}

impl std::error::Error for DriverError {}
