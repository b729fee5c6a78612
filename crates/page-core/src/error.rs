//! Errors of the page model: every rejection names the field that is wrong.

use thiserror::Error;

use crate::page_type::PageType;
use crate::repr::Repr;

/// A string that is not one of the stable codes of a page-core enum.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown {what} code {got:?}")]
pub struct ParseCodeError {
    what: &'static str,
    got: String,
}

impl ParseCodeError {
    pub(crate) fn new(what: &'static str, got: &str) -> Self {
        Self {
            what,
            got: got.to_owned(),
        }
    }
}

/// Why a value could not become a page-core type.
///
/// Each variant names the field at fault, so a caller can report it to the user as it is.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum PageError {
    /// An identifier is empty, too long or contains a control character.
    #[error("invalid {field}: {reason}")]
    InvalidId {
        /// Which identifier (`page_id`, `session_id`, …).
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A degradation path is empty, unordered, does not start at `full`, or names `none`.
    #[error("invalid degradation_path for {page_type}: {reason}")]
    InvalidPath {
        /// The page type whose path is wrong.
        page_type: PageType,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The minimum fidelity is not one of the levels on the page's degradation path.
    #[error("min_fidelity {min} of {page_type} is not on its degradation path {path}")]
    MinFidelityOffPath {
        /// The page type.
        page_type: PageType,
        /// The requested minimum.
        min: Repr,
        /// The path, rendered as `full→structured`.
        path: String,
    },
    /// A representation is given for a level that is not on the page's degradation path.
    #[error("representations.{level} given, but {level} is not on the degradation path {path}")]
    RepresentationOffPath {
        /// The offending level.
        level: Repr,
        /// The path, rendered as `full→structured`.
        path: String,
    },
    /// A level on the path has no representation; in particular the minimum-fidelity one.
    #[error("representations.{level} is missing (required by the degradation path {path})")]
    MissingRepresentation {
        /// The missing level.
        level: Repr,
        /// The path, rendered as `full→structured`.
        path: String,
    },
    /// A lower level costs more tokens than a higher one on the same path.
    #[error(
        "representations.{lower}.tokens ({lower_tokens}) exceeds representations.{higher}.tokens ({higher_tokens}): costs must not decrease toward full"
    )]
    NonMonotoneCost {
        /// The lower level.
        lower: Repr,
        /// Its token cost.
        lower_tokens: u32,
        /// The next higher level on the path.
        higher: Repr,
        /// Its token cost.
        higher_tokens: u32,
    },
    /// A representation's digest does not match its content.
    #[error("representations.{level}.digest does not match its content")]
    DigestMismatch {
        /// The level whose digest is wrong.
        level: Repr,
    },
    /// A number that must be finite and non-negative is not.
    #[error("{field} must be finite and non-negative, got {value}")]
    InvalidNumber {
        /// Which field (`recompute_cost`, `base_utility`, `recency`).
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// A content digest is not 64 lowercase hex digits.
    #[error("a digest is not 64 lowercase hex digits: {0:?}")]
    InvalidDigest(String),
    /// A tool signature could not be canonicalised.
    #[error("invalid tool signature: {0}")]
    InvalidSignature(String),
    /// The schema version of a document is one this build does not read.
    #[error("unsupported schema_version {found} (this build reads {supported})")]
    UnsupportedSchemaVersion {
        /// Version found in the document.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
}

/// Why an operation on a [`crate::SessionPageTable`] failed.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum TableError {
    /// `insert` of an id that is already present.
    #[error("page {0} is already in the page table")]
    DuplicatePage(String),
    /// An operation named an id that is not present.
    #[error("page {0} is not in the page table")]
    UnknownPage(String),
    /// The new value is invalid for the page.
    #[error(transparent)]
    Invalid(#[from] PageError),
}
