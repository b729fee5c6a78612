//! Adapter putting pagevm under the Zeph agent (0.21.4) in place of its flat compaction paths.
//!
//! Zeph's compactors mutate one `Vec<Message>` in place: microcompact and pruning blank tool
//! outputs, hard compaction drains a prefix into one LLM summary, and `prepare_context` drops
//! the oldest messages silently. This crate reads the same `Vec<zeph_llm::provider::Message>`
//! by structure ([`structure`]: the system prompt, turns, memory excerpts, tool groups), builds
//! every representation of every page once ([`Pager`], page-engine's builders, Zeph's cl100k
//! counts through [`ZephTokens`]), lets page-policy's selector choose a level per page under
//! Zeph's budget, and renders the result back to messages ([`render`]) with tool pairs whole
//! and adjacent, thinking blocks verbatim and `db_id` carried.
//!
//! [`PagedCompactor`] has the replacements of Zeph's paths with their inputs and outputs:
//! [`PagedCompactor::assemble`] (context assembly under a budget),
//! [`PagedCompactor::soft_compact`], [`PagedCompactor::hard_compact`] (with an optional,
//! validated LLM summary through Zeph's provider types and a deterministic fallback) and
//! [`PagedCompactor::microcompact`], honouring Zeph's `CompactionState`. [`zeph_paths`] runs
//! Zeph's own deterministic paths on the same histories, and [`compare`] counts both with one
//! fault observer. `docs/zeph-integration.md` has the seam Zeph needs, the config section and
//! the measured comparison.
//!
//! ```
//! use pagevm_zeph::{AdapterConfig, PagedCompactor, orphaned_pairs};
//! use zeph_llm::provider::{Message, MessagePart, Role};
//!
//! let history = vec![
//!     Message::from_legacy(Role::System, "You are a coding agent. Never push to main."),
//!     Message::from_legacy(Role::User, "Why does the build fail?"),
//!     Message::from_parts(Role::Assistant, vec![MessagePart::ToolUse {
//!         id: "t1".into(), name: "bash".into(),
//!         input: serde_json::json!({"command": "cargo build"}),
//!     }]),
//!     Message::from_parts(Role::User, vec![MessagePart::ToolResult {
//!         tool_use_id: "t1".into(),
//!         content: "error[E0425]: cannot find value `x`\n --> src/main.rs:2:13\n".repeat(30),
//!         is_error: true,
//!     }]),
//!     Message::from_legacy(Role::Assistant, "`x` is undefined in src/main.rs."),
//! ];
//! let mut compactor = PagedCompactor::new(AdapterConfig { preserve_tail: 1, ..Default::default() })?;
//! let full = compactor.assemble(&history, usize::MAX, 0)?;
//! let tight = compactor.assemble(&history, full.tokens / 3, 0)?;
//! assert!(tight.tokens <= full.tokens / 3);
//! assert_eq!(orphaned_pairs(&tight.messages), 0);
//! assert_eq!(tight.messages[0].content, history[0].content); // the system prompt, verbatim
//! # Ok::<(), pagevm_zeph::AdapterError>(())
//! ```

mod compactor;
pub mod compare;
mod convert;
mod directory;
mod fixed;
mod invariant;
pub mod measure;
pub mod observer;
mod pages;
mod read_page;
mod render;
pub mod replay;
mod select;
mod session;
mod store;
mod tokens;
mod volatile;
pub mod zeph_paths;

use thiserror::Error;
use zeph_llm::provider::MessagePart;

pub use crate::compactor::{
    AdapterConfig, Assembled, HardOutcome, LlmSummarizer, PagedCompactor, SummarySource,
};
pub use crate::convert::{
    CallSite, Diagnostic, MemoryKind, Structure, Unit, UnitKind, VerbatimWhy, orphaned_pairs,
    structure,
};
pub use crate::fixed::{GiveWay, Pressure};
pub use crate::invariant::PathRetainingToolOutput;
pub use crate::pages::{PagedHistory, Pager, ZephPage};
pub use crate::read_page::{
    READ_PAGE, ReadPageError, ReadPageInput, read_page, read_page_definition,
};
pub use crate::render::render;
pub use crate::select::{Selection, select};
pub use crate::session::{PagedSession, SessionConfig, SessionPrompt};
pub use crate::store::{STORE_FILE, default_store_path, open_default_store};
pub use crate::tokens::ZephTokens;

/// Why the adapter could not do what was asked.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// A page's representations could not be built.
    #[error("building a page: {0}")]
    Build(#[from] page_engine::BuildError),
    /// An id derived from the history is not a valid page or call id.
    #[error("page id: {0}")]
    Id(#[from] page_core::PageError),
    /// The workload handed to the selector is invalid.
    #[error("selection workload: {0}")]
    Workload(#[from] page_policy::WorkloadError),
    /// The principal the session writes as is invalid.
    #[error("principal: {0}")]
    Principal(#[from] page_writeback::UpdateError),
    /// The lifecycle engine refused an event or could not commit (`FlushMiss` drops nothing).
    #[error("engine: {0}")]
    Engine(#[from] page_engine::EngineError),
    /// The rendered prompt counts above the budget: the engine's counts and Zeph's disagree.
    #[error("the rendered prompt takes {tokens} tokens, above the budget of {budget}")]
    OverBudget {
        /// Zeph-counted tokens of the prompt.
        tokens: usize,
        /// The budget.
        budget: usize,
    },
    /// The durable store failed.
    #[error("store: {0}")]
    Store(#[from] page_writeback::StoreError),
    /// Zeph's database is not a file, so the store has no default place beside it.
    #[error(
        "Zeph's database {zeph_db:?} is not a file: name the pagevm store's path in the configuration"
    )]
    NoStorePath {
        /// Zeph's `[memory] sqlite_path`.
        zeph_db: String,
    },
    /// A tool call of the structure lacks its use or result part.
    #[error("tool group: {0} is not a use and a result")]
    Structure(String),
}

/// The text form of an orphaned tool part, as Zeph flattens it (`[tool_use: name(id)]`,
/// `[tool_result: id]\ncontent`). `None` for parts that are not tool parts.
pub(crate) fn flatten_orphan(part: &MessagePart) -> Option<String> {
    match part {
        MessagePart::ToolUse { id, name, input } => {
            Some(format!("[tool_use: {name}({id})] {input}"))
        }
        MessagePart::ToolResult {
            tool_use_id,
            content,
            ..
        } => Some(format!("[tool_result: {tool_use_id}]\n{content}")),
        _ => None,
    }
}
