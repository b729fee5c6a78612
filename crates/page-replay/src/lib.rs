//! Real-session replay: an imported agent session ([`page_import::Session`]) becomes a
//! [`page_policy::Workload`] whose pages carry the exact token costs of their real
//! representations, so every policy can be replayed on what agents actually did.
//!
//! The conversion, in order of the session's events:
//!
//! - a system message becomes a bootstrap page (rules kept verbatim in its structured form);
//! - the first user message is the task statement and becomes the plan page (goal = its first
//!   line, steps = its lines);
//! - every other user or assistant message becomes a conversation page;
//! - a tool call and its result become one evidence page (soft-pinned, base utility 5,
//!   recompute cost 8 for reads and commands, 12 for edits, 6 for other tools: the artifact's
//!   transcript converter); a later call with the same canonical signature is not a new page
//!   but a repeated call of the first one, which the observer counts as a duplicate or an alert;
//! - each page's creation is one turn that demands it at `full`; a later page that mentions a
//!   file path, identifier or command an earlier page contained demands that earlier page (at
//!   its minimum fidelity: it must at least be resolvable);
//! - a hard compaction is inserted before the turn at which the full text of the pages created
//!   since the last compaction would exceed the budget: what a harness does when its window
//!   fills.
//!
//! - with [`Directory::On`] ([`convert_with`], [`replay_session`]), a page directory: a
//!   hard-pinned page whose full form maps every path, command and identifier to the pages
//!   holding it and whose pointer (`[dir]`) stays in every prompt under auto-pinning policies.
//!   Like a harness's, it holds only what was ingested before it: one version exists from
//!   turn 0 and a new one, rebuilt from everything mentioned so far, replaces it at each
//!   compaction ([`DirectoryVersion`]).
//!
//! The replay is causal: every page exists from the turn of the event that creates it
//! ([`page_policy::Existence`]), so no selection holds a page before it exists. What the
//! agent did is kept beside the workload: its model requests ([`Request`], a run of
//! consecutive assistant messages and tool calls is one response to one request) and, per
//! action, the specifics it used that were mentioned before its request and the anchor lines
//! of its edits ([`Action`]); [`replay_converted`] measures them against the context the
//! request was sent with.
//!
//! All token costs come from [`page_engine::RepresentationBuilder`], so they are the costs the
//! engine itself would assemble with.
//!
//! ```
//! use page_core::{TokenCount, TypeTable};
//! use page_engine::{BuildConfig, RepresentationBuilder};
//! use page_import::{Format, import};
//! use page_policy::{PolicyConfig, PolicyId, simulate};
//! use page_replay::convert;
//! use page_tokenizer::{BpeCounter, Encoding};
//!
//! let builder = RepresentationBuilder::new(
//!     BpeCounter::new(Encoding::O200kBase)?, TypeTable::default(), BuildConfig::default())?;
//! let text = concat!(
//!     r#"{"type":"user","sessionId":"s","uuid":"u1","message":{"content":"Fix the panic in src/lib.rs"}}"#, "\n",
//!     r#"{"type":"assistant","sessionId":"s","uuid":"a1","message":{"content":[{"type":"tool_use","id":"t1","name":"Read","input":{"file_path":"src/lib.rs"}}]}}"#, "\n",
//!     r#"{"type":"user","sessionId":"s","uuid":"u2","message":{"content":[{"type":"tool_result","tool_use_id":"t1","content":"fn main() { panic!() }"}]}}"#, "\n",
//! );
//! let session = &import(text, Some(Format::ClaudeCode))?.sessions[0];
//! let converted = convert(session, "claude-code", &builder, TokenCount::new(200))?;
//! let workload = converted.workload.validate()?;
//! let run = simulate(&workload, &PolicyConfig::preset(PolicyId::Clawvm), TokenCount::new(200));
//! assert_eq!(run.total_faults, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod convert;
mod directory;
mod measure;
mod replay;
mod retention;

use std::collections::BTreeMap;

use page_core::Repr;
use page_policy::Workload;
use thiserror::Error;

pub use crate::convert::{convert, convert_with};
pub use crate::directory::DirectoryVersion;
pub use crate::measure::{CostReport, QualityReport, RequestRecord};
pub use crate::replay::{
    Budget, KindRetention, Measures, ReplayReport, RetentionReport, SessionReplay, TokenReport,
    Trace, full_history_tokens, replay_converted, replay_session,
};
pub use crate::retention::{Retention, RetentionCounts, RetentionMeter, retention};

/// Why a session could not be converted.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// An id derived from the session is not a valid page id.
    #[error("session {session:?}: {source}")]
    Id {
        /// The session.
        session: String,
        /// What is wrong.
        #[source]
        source: page_core::PageError,
    },
    /// The session has no event that makes a page.
    #[error("session {0:?} has nothing to replay")]
    Empty(String),
    /// The converted workload does not validate (a conversion bug, reported, not hidden).
    #[error("session {session:?}: the converted workload is invalid: {reason}")]
    Workload {
        /// The session.
        session: String,
        /// The validation error.
        reason: String,
    },
    /// A budget that is not usable.
    #[error("{0}")]
    InvalidBudget(String),
}

/// A converted session, with what the conversion had to skip.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The replay workload.
    pub workload: Workload,
    /// Tokens of every page at `full`: the whole history, as a harness without paging would
    /// have to hold it.
    pub full_history_tokens: u64,
    /// Tool calls in the session, repeated ones included.
    pub tool_calls: usize,
    /// Events that could not become pages, with the reason (malformed tool arguments, a system
    /// message without rules), in session order.
    pub skipped: Vec<String>,
    /// The text of every page at every level, in page order (what an assembled prompt would
    /// contain), for retention measurement.
    pub texts: Vec<BTreeMap<Repr, String>>,
    /// The specifics mentioned in the session, each with the turn it first appears at.
    pub mentioned: Vec<Mention>,
    /// The turn that creates each page, in page order (a directory version: the turn it is
    /// built at).
    pub created_at: Vec<usize>,
    /// The agent's actions, in session order.
    pub actions: Vec<Action>,
    /// The model requests the actions answered, in session order.
    pub requests: Vec<Request>,
    /// The directory's versions, in order (empty without a directory); they head the pages.
    pub directory: Vec<DirectoryVersion>,
}

/// A model request of the recorded session: sent with the context of the turn before `turn`,
/// answered by the actions that make turns from `turn` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// The turn of the first action of its response.
    pub turn: usize,
    /// When the response was recorded, in milliseconds since the epoch, if the trace says.
    pub at_ms: Option<i64>,
}

/// One action of the agent: an assistant message or a tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// The turn it makes.
    pub turn: usize,
    /// Its request, an index into [`Converted::requests`].
    pub request: usize,
    /// The specifics it names that were mentioned before its request (indices into
    /// [`Converted::mentioned`]): what it needed its context to hold.
    pub uses: Vec<usize>,
    /// For an edit, the lines of old text it quotes ([`page_engine::anchors`]).
    pub anchors: Vec<String>,
}

/// A specific (file path, shell command or identifier) mentioned in the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    /// What kind of specific.
    pub kind: SpecificKind,
    /// The text as mentioned.
    pub text: String,
    /// The turn at which it first appears.
    pub turn: usize,
    /// The pages that hold it, in the order they appeared (what the directory lists).
    pub holders: Vec<page_core::PageId>,
}

/// The kinds of specifics whose retention is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpecificKind {
    /// A file path.
    Path,
    /// A shell command a tool ran.
    Command,
    /// A distinctive identifier.
    Identifier,
}

/// Whether a converted session carries a page directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Directory {
    /// No directory: a specific is recoverable only through the handle of a page holding it.
    Off,
    /// A per-session page directory ([`DIRECTORY_PAGE`]): a hard-pinned page whose pointer is
    /// always resident under auto-pinning policies and whose full text maps every specific to
    /// the pages holding it, so any specific resolves to a stored page without re-running a tool.
    #[default]
    On,
}

/// The page id of the page directory.
pub const DIRECTORY_PAGE: &str = "dir";
