//! What a harness hands the engine's hooks and gets back: its named pages, the model's
//! output and tool calls, tool outputs and the decision whether a call must run.

use page_core::{PageId, TokenCount, ToolCallId};
use page_writeback::Update;

/// A page as the harness names and renders it: its durable id (a database row, a migrated
/// page), so a restart finds the same page, and the tokens the harness's own message format
/// adds around the page's text at every level (a tool call's use and result framing, reasoning
/// blocks, images), so the budget the engine keeps is the one the provider counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarnessPage {
    /// The page id.
    pub id: PageId,
    /// Tokens that render with the page at any level.
    pub frame: TokenCount,
}

/// A tool call the model made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCallRequest {
    /// The provider's call id.
    pub call_id: ToolCallId,
    /// Tool name.
    pub tool: String,
    /// Arguments as the model wrote them (JSON; malformed text is kept and signed verbatim).
    pub args_json: String,
    /// The evidence page that will hold its result, when the harness names its pages (see
    /// [`Engine::user_message_as`](crate::Engine::user_message_as)); its frame replaces the engine's own count of the call
    /// (tool name, arguments and, on a response's first call, its reasoning blocks). `None`
    /// lets the engine number and count it.
    pub page: Option<HarnessPage>,
}

/// What the model produced in one response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelOutput {
    /// Visible text, if any.
    pub text: Option<String>,
    /// The conversation page of `text`, when the harness names its pages (see
    /// [`Engine::user_message_as`](crate::Engine::user_message_as)); `None` lets the engine number it.
    pub page: Option<HarnessPage>,
    /// Reasoning blocks, verbatim; they stay with this turn's tool calls.
    pub thinking: Vec<String>,
    /// Tool calls, in order. They and their results form one evidence group.
    pub tool_calls: Vec<ToolCallRequest>,
    /// State changes to write back (plan steps, preferences), validated at the next boundary.
    pub updates: Vec<Update>,
}

/// Whether a tool call must run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolDecision {
    /// Nothing equivalent is known: run the tool, then report with
    /// [`Engine::tool_after`](crate::Engine::tool_after).
    Run,
    /// An equivalent call (same canonical signature) ran before; its result, re-paged from
    /// the page table or the store, is now this call's result. Do not run the tool.
    Served {
        /// The page of the earlier result.
        from: PageId,
        /// The page now holding this call's result.
        page: PageId,
        /// The result text.
        output: String,
    },
}

/// What a tool returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    /// The output, verbatim.
    pub output: String,
    /// Whether the tool reported an error.
    pub is_error: bool,
    /// Exit code for commands.
    pub exit_code: Option<i32>,
}
