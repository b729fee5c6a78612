//! What [`crate::Engine::prompt_assemble`] returns: the prompt as provider-neutral messages,
//! with the level and cost of every page in it, the faults observed and the prefix churn.

use page_core::{FaultKind, PageId, Repr, TokenCount, ToolCallId};

/// Who a prompt message is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Rules, plans and preferences the harness puts in the system part of the prompt.
    System,
    /// The user, and tool results (which providers carry in user-side messages).
    User,
    /// The model.
    Assistant,
}

/// One block of a prompt message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// A page's text at its selected level.
    Text {
        /// The page.
        page: PageId,
        /// The level shown.
        level: Repr,
        /// The representation's text.
        text: String,
    },
    /// A reasoning block of the model, verbatim (providers reject edited ones).
    Thinking {
        /// The block as the provider returned it.
        text: String,
    },
    /// A tool call of the model. Always followed, in the next message, by its result.
    ToolUse {
        /// The provider's call id.
        call_id: ToolCallId,
        /// Tool name.
        tool: String,
        /// Arguments as the model wrote them.
        args_json: String,
    },
    /// A tool result at its selected level. Always preceded by its call.
    ToolResult {
        /// The provider's call id.
        call_id: ToolCallId,
        /// The evidence page holding the result.
        page: PageId,
        /// The level shown.
        level: Repr,
        /// The representation's text.
        text: String,
        /// Whether the tool reported an error.
        is_error: bool,
    },
}

/// One prompt message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptMessage {
    /// Sender.
    pub role: Role,
    /// Content, in order.
    pub blocks: Vec<Block>,
}

/// A page in the assembled prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The page.
    pub page: PageId,
    /// Its level.
    pub level: Repr,
    /// What it costs in this prompt, including its share of call and reasoning blocks.
    pub tokens: TokenCount,
}

/// A fault the engine observed, with the page it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedFault {
    /// Which of the six.
    pub kind: FaultKind,
    /// The page, when one is concerned.
    pub page: Option<PageId>,
    /// Why, for people.
    pub detail: String,
}

/// An assembled prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembly {
    /// The 0-based number of this assembly in the session.
    pub turn: u32,
    /// The messages, in page creation order (prefix-stable).
    pub messages: Vec<PromptMessage>,
    /// Every page in the prompt, in order, with its level and cost.
    pub placed: Vec<Placed>,
    /// Total tokens of the pages placed; never above the budget.
    pub tokens: TokenCount,
    /// Tokens of the previous prompt from the first page whose level or content changed to
    /// its end: what a provider's prefix cache loses.
    pub prefix_churn: TokenCount,
    /// Required pages (pinned, bootstrap, demanded) that did not fit, with the level needed.
    pub unmet: Vec<(PageId, Repr)>,
    /// Faults observed by this assembly.
    pub faults: Vec<ObservedFault>,
    /// The page directory (with [`crate::EngineConfig::directory`]), counted in `tokens`.
    /// It is not a message: a harness sends it after the newest message, where its changes
    /// cost a provider's prefix cache nothing before it.
    pub directory: Option<PromptDirectory>,
}

/// A prompt's page directory (see [`crate::Directory`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptDirectory {
    /// Its text, opening with [`crate::DIRECTORY_HEADER`].
    pub text: String,
    /// Its tokens, as the engine counts a text.
    pub tokens: TokenCount,
}

impl Assembly {
    /// Whether the prompt pairs every tool call with its result and the reverse, each call
    /// in an assistant message directly followed by a message holding its result.
    #[must_use]
    pub fn tool_pairs_intact(&self) -> bool {
        let mut open: Vec<&ToolCallId> = Vec::new();
        for m in &self.messages {
            let mut results: Vec<&ToolCallId> = Vec::new();
            for b in &m.blocks {
                match b {
                    Block::ToolResult { call_id, .. } => results.push(call_id),
                    Block::ToolUse { .. } | Block::Text { .. } | Block::Thinking { .. } => {}
                }
            }
            if results != open {
                return false;
            }
            open = m
                .blocks
                .iter()
                .filter_map(|b| match b {
                    Block::ToolUse { call_id, .. } => Some(call_id),
                    _ => None,
                })
                .collect();
        }
        open.is_empty()
    }
}
