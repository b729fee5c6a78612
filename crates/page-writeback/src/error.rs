//! Errors of writeback and of the stores behind it, each naming what is wrong.

use std::error::Error as StdError;

use page_core::{Boundary, PageId, PageType};
use thiserror::Error;

use crate::journal::EntryId;

/// A value that cannot become part of a typed update.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// A field path that is empty, too long or not lowercase snake case.
    #[error("invalid field path {path:?}: {reason}")]
    InvalidFieldPath {
        /// The path given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A principal id that is empty, too long or contains white space.
    #[error("invalid principal id {0:?}")]
    InvalidPrincipal(String),
    /// An evidence reference that is not `page:<id>` or `tool_call:<id>`.
    #[error("invalid evidence reference {0:?}")]
    InvalidEvidenceRef(String),
    /// An op code a store holds that this version does not know.
    #[error("unknown op code {0:?}")]
    UnknownOp(String),
    /// A reason code a store holds that this version does not know.
    #[error("unknown reason code {0:?}")]
    UnknownReasonCode(String),
}

/// A field schema that cannot be built.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The schema refers to a document outside itself; validation never touches the network or
    /// the file system, so such a schema is refused when it is built.
    #[error(
        "schema of {page_type}.{field} has a remote $ref {reference:?}; only local refs (#...) are allowed"
    )]
    RemoteRef {
        /// The page type.
        page_type: PageType,
        /// The field.
        field: String,
        /// The reference found.
        reference: String,
    },
    /// The schema of a page type is not an object with `properties`.
    #[error("schema of {page_type} has no properties object")]
    NoProperties {
        /// The page type.
        page_type: PageType,
    },
    /// jsonschema refused to compile the schema.
    #[error("schema of {page_type}.{field} does not compile: {message}")]
    Invalid {
        /// The page type.
        page_type: PageType,
        /// The field.
        field: String,
        /// jsonschema's message.
        message: String,
    },
}

/// A store operation that failed. Stores map their driver's errors into these; no driver type
/// crosses this boundary.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage backend failed (IO, disk full, a driver error). The operation had no effect.
    #[error("storage backend failed: {0}")]
    Backend(#[source] Box<dyn StdError + Send + Sync + 'static>),
    /// A committed value changed between validation and commit (another writer committed a
    /// `set_with_version` of the same field first). The whole commit was rolled back.
    #[error("entry {entry} conflicts with a concurrent commit: {detail}")]
    Conflict {
        /// The entry whose op no longer applies.
        entry: EntryId,
        /// What changed.
        detail: String,
    },
    /// A page version is already committed with different content (two writers built the same
    /// version of one page). The whole commit was rolled back.
    #[error("page {page} version {version} is already committed with different content")]
    PageConflict {
        /// The page.
        page: PageId,
        /// The version.
        version: u64,
    },
    /// The stored data breaks an invariant of this crate's types.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database was written by a newer version of pagevm.
    #[error(
        "database schema version {found} is newer than the newest this build knows ({supported}); upgrade pagevm"
    )]
    NewerSchema {
        /// The version found.
        found: u32,
        /// The newest version this build supports.
        supported: u32,
    },
    /// An entry id the journal does not hold (or holds for another session).
    #[error("journal entry {0} does not exist")]
    UnknownEntry(EntryId),
    /// The database holds data pagevm did not write (it is not empty and not a pagevm store),
    /// so pagevm refuses to add its tables to it. Nothing was written.
    #[error(
        "{0} is not a pagevm store (it holds tables pagevm did not create); pagevm writes only to an empty or pagevm database"
    )]
    NotAStore(String),
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(e: impl StdError + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

/// A boundary that could not commit. Nothing of it was applied; the dirty pages stay dirty and
/// the validated entries stay pending, so a later boundary can still commit them.
#[derive(Debug, Error)]
#[error(
    "flush miss at {boundary}: {pending} pending updates and {dirty_pages} dirty pages not committed: {reason}"
)]
pub struct FlushMiss {
    /// The boundary.
    pub boundary: Boundary,
    /// Updates left pending.
    pub pending: usize,
    /// Dirty pages left dirty.
    pub dirty_pages: usize,
    /// Why the commit failed.
    pub reason: String,
    /// The store error, when the store failed.
    #[source]
    pub source: Option<StoreError>,
}
