//! The harness-facing side of pagevm.
//!
//! So far: [`RepresentationBuilder`], which turns what a harness sees (tool results, plans,
//! preferences, rules, conversation) into every representation of a page's degradation path,
//! with exact token counts, at ingest. Building all levels up front is what lets every later
//! budget decision be a table lookup: the selector never compresses or summarizes under
//! pressure, it only picks among levels that already exist.
//!
//! The builders are deterministic (same input, same bytes) and need no model. They guarantee
//! the page-core cost invariant themselves: a lower level whose text would cost more tokens
//! than the level above reuses that level's text instead.
//!
//! ```
//! use page_core::{Page, PageId, PageSpec, PageType, Provenance, Repr, Scope, SessionId,
//!     ToolCallId, TypeTable};
//! use page_engine::{BuildConfig, RepresentationBuilder, ToolResult};
//! use page_tokenizer::{BpeCounter, Encoding};
//!
//! let builder = RepresentationBuilder::new(
//!     BpeCounter::new(Encoding::O200kBase)?,
//!     TypeTable::default(),
//!     BuildConfig::default(),
//! )?;
//! let id = PageId::new("ev-7")?;
//! let mut out = String::from("error[E0425]: cannot find value `x` in this scope\n --> src/main.rs:2:13\n");
//! out.push_str(&"note: a long build log line that only adds bulk to the output\n".repeat(40));
//! let built = builder.evidence(&id, &ToolResult {
//!     tool: "bash", args_json: r#"{"cmd":"cargo build"}"#, output: &out,
//!     is_error: true, exit_code: Some(101),
//! })?;
//! let structured = built.representations[&Repr::Structured].content();
//! assert!(structured.contains("status: error (exit 101)"));
//! assert!(structured.contains("paths: src/main.rs"));
//!
//! let page = Page::from_spec(
//!     PageSpec::new(id, PageType::Evidence, Scope::Session(SessionId::new("s")?),
//!         Provenance::ToolCall { call_id: ToolCallId::new("t1")?, signature: built.signature },
//!         built.representations),
//!     &TypeTable::default(),
//! )?;
//! assert_eq!(page.levels().iter().count(), 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod assembly;
mod build;
mod engine;
mod error;
mod scoring;
mod specifics;

pub use crate::assembly::{Assembly, Block, ObservedFault, Placed, PromptMessage, Role};
pub use crate::build::{
    BuildConfig, BuildError, ConversationTurn, EvidenceReprs, PlanState, Preference,
    RepresentationBuilder, Rules, RulesKind, ToolResult,
};
pub use crate::engine::{
    Engine, EngineConfig, ModelOutput, ToolCallRequest, ToolDecision, ToolOutput,
};
pub use crate::error::EngineError;
pub use crate::scoring::{TOOL_RESULT_UTILITY, base_utility, recompute_cost};
pub use crate::specifics::{Specifics, specifics};
