//! The harness-facing side of pagevm: the lifecycle [`Engine`] an agent harness calls, and the
//! [`RepresentationBuilder`] that turns what it sees into pages.
//!
//! The engine implements the paper's hooks over a page table, the writeback journal and a
//! store: `session_start`, `post_model`, `tool_before` / `tool_after` (tool mediation: a
//! repeated read-only call is served from the store instead of re-run, see [`ReadOnlyTools`]), `prompt_assemble(budget)`,
//! `compaction`, `reset` and `session_end`. Every boundary is a write barrier; every prompt fits
//! its budget, keeps each tool call with its result, and keeps rules at their minimum fidelity
//! or reports why not. Pages are paged cache-stably by default: a page keeps the level it was
//! sent at, so between degradation events every prompt extends the previous one byte for byte
//! and a provider's prompt cache holds it (`Paging::CacheStable` in page-policy; the paper's
//! per-turn policies are one `EngineConfig::policy` away). [`EngineHandle`] runs it on its own
//! thread for async harnesses.
//!
//! ```
//! use page_core::{SessionId, TokenCount, ToolCallId};
//! use page_engine::{Engine, EngineConfig, ModelOutput, RulesKind, ToolCallRequest, ToolDecision, ToolOutput};
//! use page_tokenizer::{BpeCounter, Encoding};
//! use page_writeback::{MemoryStore, PrincipalId};
//!
//! let config = EngineConfig::new(SessionId::new("s1")?, PrincipalId::new("agent")?);
//! let store = MemoryStore::new(); // page_store_sqlite::SqliteStore in production
//! let mut engine = Engine::session_start(&store, BpeCounter::new(Encoding::O200kBase)?, config)?;
//! engine.add_rules(RulesKind::Bootstrap, "- Never push to main.", "system prompt")?;
//! engine.user_message("Why does the build fail?")?;
//! let call = ToolCallRequest {
//!     call_id: ToolCallId::new("toolu_1")?,
//!     tool: "bash".into(),
//!     args_json: r#"{"cmd": "cargo build"}"#.into(),
//!     page: None, // the engine numbers the page
//! };
//! engine.post_model(ModelOutput { tool_calls: vec![call.clone()], ..ModelOutput::default() })?;
//! if engine.tool_before(&call.call_id)? == ToolDecision::Run {
//!     let output = "error[E0425]: cannot find value `x`\n --> src/main.rs:2:13\n";
//!     engine.tool_after(&call.call_id, &ToolOutput { output: output.into(), is_error: true, exit_code: Some(101) })?;
//! }
//! let prompt = engine.prompt_assemble(TokenCount::new(2_000))?;
//! assert!(prompt.tokens.get() <= 2_000 && prompt.tool_pairs_intact());
//! let (_report, _store) = engine.session_end().map_err(|e| e.0)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`RepresentationBuilder::ingest`] is the one way an event becomes a page: a [`Source`]
//! (system prompt, constraint, plan, preference, message, tool call with its result, memory
//! excerpt) gives an [`Ingested`] page: its type, every representation of its degradation path
//! with exact token counts, its pin, scores, the call's signature and the specifics it is cited
//! by. The engine, the Zeph adapter, the migration and the replay all page through it; only the
//! id, the scope and the provenance are theirs. Building all levels up front is what lets every
//! later budget decision be a table lookup: the selector never compresses or summarizes under
//! pressure, it only picks among levels that already exist. The builders are deterministic
//! (same input, same bytes) and need no model; they guarantee the page-core cost invariant
//! themselves: a lower level whose text would cost more tokens than the level above reuses that
//! level's text instead. A [`Summarizer`] may propose model-written levels, admitted only
//! through the same schema and invariants.
//!
//! ```
//! use page_core::{Page, PageId, PinClass, Provenance, Repr, Scope, SessionId, ToolCallId,
//!     TypeTable};
//! use page_engine::{BuildConfig, RepresentationBuilder, Source, ToolResult};
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
//! let built = builder.ingest(&id, &Source::ToolResult(ToolResult {
//!     tool: "bash", args_json: r#"{"cmd":"cargo build"}"#, output: &out,
//!     is_error: true, exit_code: Some(101),
//! }))?;
//! let structured = built.representations[&Repr::Structured].content();
//! assert!(structured.contains("status: error (exit 101)"));
//! assert!(structured.contains("paths: src/main.rs"));
//! assert!(built.specifics().identifiers.contains("E0425"));
//!
//! let call = Provenance::ToolCall {
//!     call_id: ToolCallId::new("t1")?,
//!     signature: built.signature.clone().ok_or("a tool result is signed")?,
//! };
//! let spec = built.into_spec(id, Scope::Session(SessionId::new("s")?), call);
//! let page = Page::from_spec(spec, &TypeTable::default())?;
//! assert_eq!(page.levels().iter().count(), 4);
//! assert_eq!(page.pin(), PinClass::Soft);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod anchors;
mod assembly;
mod build;
mod directory;
mod engine;
mod error;
mod handle;
mod ingest;
mod reuse;
mod scoring;
mod specifics;
mod stable;
mod summarize;

pub use crate::assembly::{
    Assembly, Block, ObservedFault, Placed, PromptDirectory, PromptMessage, Role,
};
pub use crate::build::{
    BuildConfig, BuildError, ConversationTurn, EvidenceReprs, PlanState, Preference,
    RepresentationBuilder, Rules, RulesKind, ToolResult,
};
pub use crate::directory::{DIRECTORY_HEADER, Directory, Listing, is_directory};
pub use crate::engine::{
    Engine, EngineConfig, HarnessPage, ModelOutput, ToolCallRequest, ToolDecision, ToolOutput,
};
pub use crate::error::EngineError;
pub use crate::handle::{EngineHandle, EngineStopped};
pub use crate::ingest::{Ingested, Source};
pub use crate::reuse::ReadOnlyTools;
pub use crate::scoring::base_utility;
pub use crate::specifics::{Citations, PageSpecifics, Specifics, command_of, specifics};
pub use crate::summarize::{ModelSummary, Summarizer, SummaryInput, SummaryRejection};
