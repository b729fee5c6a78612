//! Why a lifecycle hook failed.

use page_writeback::{FlushMiss, SchemaError, StoreError, UpdateError};
use thiserror::Error;

use crate::build::BuildError;

/// Why a lifecycle hook of [`crate::Engine`] failed. A failed hook changes nothing that was
/// committed, and a failed boundary drops nothing from memory.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A representation could not be built from the input.
    #[error("cannot build the page: {0}")]
    Build(#[from] BuildError),
    /// A page or id broke a page-model invariant.
    #[error("invalid page: {0}")]
    Page(#[from] page_core::PageError),
    /// The page table refused a change.
    #[error("page table: {0}")]
    Table(#[from] page_core::TableError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The built-in field schemas did not compile (a bug).
    #[error("field schemas: {0}")]
    Schema(#[from] SchemaError),
    /// An update could not be formed.
    #[error("update: {0}")]
    Update(#[from] UpdateError),
    /// The selector refused the live pages (a page whose costs do not fit its type's path).
    #[error("selector: {0}")]
    Select(#[from] page_policy::WorkloadError),
    /// A boundary could not commit. Nothing was dropped: the state is still in memory, dirty,
    /// and the next boundary retries.
    #[error("{0}")]
    FlushMiss(Box<FlushMiss>),
    /// Tool calls of the last response have no result yet; a prompt with a call but no
    /// result would be refused by the provider.
    #[error("tool calls without a result: {}", missing.join(", "))]
    PendingToolResults {
        /// The call ids.
        missing: Vec<String>,
    },
    /// A call id that is not among the last response's tool calls.
    #[error("tool call {call_id} is not a pending call of the last model response")]
    UnknownToolCall {
        /// The call id.
        call_id: String,
    },
    /// A tool call that cannot be signed (an empty tool name, a repeated call id).
    #[error("tool call {call_id}: {reason}")]
    InvalidToolCall {
        /// The call id.
        call_id: String,
        /// What is wrong.
        reason: String,
    },
    /// A page neither the page table nor the store holds.
    #[error("no page {page} in the session or the store")]
    UnknownPage {
        /// The page id.
        page: String,
    },
    /// A harness named a page the session already holds.
    #[error("page {page} is already in the session; a named page is ingested once")]
    PageExists {
        /// The page id.
        page: String,
    },
    /// A harness named a page that the store holds as something else.
    #[error("page {page} cannot be adopted from the store: {reason}")]
    NamedPageConflict {
        /// The page id.
        page: String,
        /// What differs.
        reason: String,
    },
    /// A page that belongs to another session or project.
    #[error("page {page} belongs to {scope}, not to this session or its project")]
    OutOfScope {
        /// The page id.
        page: String,
        /// Its scope.
        scope: String,
    },
}
