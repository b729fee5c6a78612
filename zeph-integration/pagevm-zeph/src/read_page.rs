//! The `read_page` tool: the model asks for a page by the id a pointer or the directory names,
//! and gets its full text back as a new tool result at the tail of the conversation, from the
//! page table or the store (never by re-running the original tool); the page itself is not
//! promoted in place.

use page_core::{PageId, TokenCounter};
use page_engine::{Engine, EngineError};
use page_writeback::Store;
use schemars::JsonSchema;
use serde::Deserialize;
use thiserror::Error;
use zeph_common::ToolDefinition;

/// The tool's name, as the model calls it.
pub const READ_PAGE: &str = "read_page";

/// The tool's input.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadPageInput {
    /// The page id, exactly as a pointer or the page directory shows it (for example
    /// `zeph-c12-m340-t0`).
    pub page: String,
}

/// Why `read_page` returned no page. The message is what the model reads as the tool error.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReadPageError {
    /// The input is not `{"page": "<id>"}`.
    #[error("read_page takes {{\"page\": \"<page id>\"}}: {0}")]
    Input(#[from] serde_json::Error),
    /// The id is not a page id at all.
    #[error("{page:?} is not a page id: {reason}")]
    NotAnId {
        /// What was given.
        page: String,
        /// Why it is not an id.
        reason: String,
    },
    /// No page of that id is known to this session or its store.
    #[error("no page {page} in this session; use an id a pointer or the page directory shows")]
    Unknown {
        /// The id.
        page: String,
    },
    /// The page belongs to another session or project.
    #[error("page {page} belongs to another session and cannot be read here")]
    OutOfScope {
        /// The id.
        page: String,
    },
    /// The store could not be read; the page may exist.
    #[error("the page store failed: {0}")]
    Store(EngineError),
}

/// The tool's definition for the provider: name, description and the JSON Schema of
/// [`ReadPageInput`], generated from the type.
#[must_use]
pub fn read_page_definition() -> ToolDefinition {
    ToolDefinition {
        name: READ_PAGE.into(),
        description: "Read the full text of an earlier page of this conversation that is \
            shown shortened or left out (a pointer or the page directory names its id). The \
            text comes back as this tool's result; the tool that produced it is not run again."
            .to_owned(),
        parameters: schemars::schema_for!(ReadPageInput).to_value(),
        output_schema: None,
    }
}

/// Runs `read_page` with the model's `arguments` against `engine`'s page table and store.
///
/// # Errors
/// A [`ReadPageError`] naming what is wrong; never a panic.
pub fn read_page<S: Store, C: TokenCounter>(
    engine: &Engine<S, C>,
    arguments: &serde_json::Value,
) -> Result<String, ReadPageError> {
    let input = ReadPageInput::deserialize(arguments)?;
    let page = input.page.trim();
    let id = PageId::new(page).map_err(|e| ReadPageError::NotAnId {
        page: page.to_owned(),
        reason: e.to_string(),
    })?;
    engine.page_text(&id).map_err(|e| match e {
        EngineError::UnknownPage { page } => ReadPageError::Unknown { page },
        EngineError::OutOfScope { page, .. } => ReadPageError::OutOfScope { page },
        other => ReadPageError::Store(other),
    })
}
