//! Why a workload was rejected: every error names the page or the turn and field at fault.

use page_core::{PageError, PageId};
use thiserror::Error;

/// A workload that cannot be replayed, found by [`crate::Workload::validate`].
///
/// Page errors name `pages[i]` and the page id; turn errors name `turns[t]` and the field
/// (`demands[2].page`, `tool_calls[0].result_page`, …), so a generator bug can be fixed from the
/// message alone.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum WorkloadError {
    /// The document was written for another version of the workload format.
    #[error("unsupported workload schema_version {found} (this build reads {supported})")]
    UnsupportedSchemaVersion {
        /// Version found in the document.
        found: u32,
        /// Version this build reads ([`crate::WORKLOAD_SCHEMA_VERSION`]).
        supported: u32,
    },
    /// The workload `id` or `family` is empty.
    #[error("workload {field} is empty")]
    EmptyField {
        /// `id` or `family`.
        field: &'static str,
    },
    /// Two pages share an id.
    #[error("pages[{index}]: page id {page} appears twice")]
    DuplicatePage {
        /// Position of the second occurrence.
        index: usize,
        /// The repeated id.
        page: PageId,
    },
    /// A page's costs or minimum fidelity violate a page-core invariant.
    #[error("pages[{index}] ({page}): {source}")]
    InvalidPage {
        /// Position of the page.
        index: usize,
        /// The page.
        page: PageId,
        /// The violated invariant.
        source: PageError,
    },
    /// `base_utility` or `recompute_cost` is NaN or infinite.
    #[error("pages[{index}] ({page}).{field} must be finite, got {value}")]
    InvalidNumber {
        /// Position of the page.
        index: usize,
        /// The page.
        page: PageId,
        /// `base_utility` or `recompute_cost`.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// A page's fields contradict each other (a project-scoped page with a session, …).
    #[error("pages[{index}] ({page}): {reason}")]
    InconsistentPage {
        /// Position of the page.
        index: usize,
        /// The page.
        page: PageId,
        /// What contradicts what.
        reason: &'static str,
    },
    /// A turn names a page id the workload does not define.
    #[error("turns[{turn}].{field}: unknown page {page}")]
    UnknownPage {
        /// The turn.
        turn: usize,
        /// The field, e.g. `demands[2].page`.
        field: String,
        /// The unknown id.
        page: PageId,
    },
    /// A turn names a page that is not available at that turn (not yet produced by its tool
    /// call, or belonging to a session that is not active).
    #[error("turns[{turn}].{field}: page {page} {reason}")]
    UnavailablePage {
        /// The turn.
        turn: usize,
        /// The field, e.g. `updates[0]`.
        field: String,
        /// The page.
        page: PageId,
        /// Why it is not available.
        reason: &'static str,
    },
    /// A turn field is malformed in some other way.
    #[error("turns[{turn}].{field}: {reason}")]
    InvalidTurn {
        /// The turn.
        turn: usize,
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A live selection's prompt-already-sent limits do not have one entry per page.
    #[error("{pages} live pages but {caps} caps and {bonuses} keep bonuses")]
    SentMismatch {
        /// Pages given.
        pages: usize,
        /// Caps given.
        caps: usize,
        /// Keep bonuses given.
        bonuses: usize,
    },
}
