//! The migration's error type: what went wrong, naming the file, table, row or page at fault.

use std::path::PathBuf;

use thiserror::Error;

/// Why a migration could not run or stopped. Problems *inside* readable data (a corrupt
/// `parts` row, an orphaned tool call) are not errors: they are reported as
/// [`crate::Diagnostic`]s and the migration goes on.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The Zeph database could not be opened or read.
    #[error("reading the Zeph database {path}: {what}: {source}")]
    Read {
        /// The database file.
        path: PathBuf,
        /// What was being read.
        what: String,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The file is a SQLite database but not a Zeph one.
    #[error("{path} is not a Zeph database: {reason}")]
    NotZeph {
        /// The database file.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// The migrations table and the real tables disagree, or a migration is half-applied.
    #[error("{path}: schema at migration {migration} does not match Zeph's: {detail}")]
    SchemaMismatch {
        /// The database file.
        path: PathBuf,
        /// The newest successful migration.
        migration: i64,
        /// What disagrees.
        detail: String,
    },
    /// `--conversation` names a conversation the database does not hold.
    #[error("conversation {0} does not exist in the Zeph database")]
    UnknownConversation(i64),
    /// The pagevm store failed.
    #[error("pagevm store: {0}")]
    Store(#[from] page_writeback::StoreError),
    /// A boundary could not commit; nothing of it was applied, and a re-run continues there.
    #[error("committing conversation {conversation}: {source}")]
    Commit {
        /// The Zeph conversation id.
        conversation: i64,
        /// What the journal reported.
        #[source]
        source: Box<page_writeback::FlushMiss>,
    },
    /// A page could not be built (an id or representation that fails page-core's checks).
    #[error("building page {page}: {detail}")]
    Build {
        /// The page id.
        page: String,
        /// What failed.
        detail: String,
    },
}

impl MigrateError {
    pub(crate) fn read(
        path: &std::path::Path,
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        MigrateError::Read {
            path: path.to_path_buf(),
            what: what.into(),
            source: Box::new(source),
        }
    }
}
