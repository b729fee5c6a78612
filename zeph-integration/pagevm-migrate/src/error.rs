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
    /// The database has a hot rollback journal (its writer was killed mid-transaction), which
    /// only a writer can roll back; pagevm never writes the Zeph database.
    #[error(
        "{path} has an unfinished transaction ({journal} exists: its writer was killed); pagevm opens it read-only and cannot roll it back. Open it once with Zeph or `sqlite3 {path} 'PRAGMA quick_check;'`, then run this again"
    )]
    HotJournal {
        /// The database file.
        path: PathBuf,
        /// The journal file beside it.
        journal: PathBuf,
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
    /// The store named is the Zeph database itself (the same file, by any path or link), which
    /// pagevm never writes.
    #[error(
        "the store {store} is the Zeph database {zeph} (the same file): pagevm never writes the Zeph database; give the store a path of its own"
    )]
    StoreIsSource {
        /// The store path given.
        store: PathBuf,
        /// The Zeph database path given.
        zeph: PathBuf,
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
