//! Token counts compatible with Zeph's: cl100k, with the per-part framing overheads of
//! `zeph_memory::TokenCounter`, exposed through the traits Zeph's context crates take.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use page_core::{TokenCount, TokenCounter};
use page_tokenizer::{Encoding, FastBpeCounter};
use zeph_common::memory::TokenCounting;
use zeph_context::summarization::MessageTokenCounter;
use zeph_llm::provider::{Message, MessagePart};

// The framing overheads `zeph_memory::TokenCounter` (0.21.4) adds per part: the JSON block a
// provider API wraps around each tool use, tool result, tool output, image and thinking block.
// Copied, not imported, because zeph-memory links sqlx (see zeph-integration/README.md).
pub(crate) const TOOL_USE_OVERHEAD: usize = 20;
pub(crate) const TOOL_RESULT_OVERHEAD: usize = 15;
pub(crate) const TOOL_OUTPUT_OVERHEAD: usize = 8;
pub(crate) const IMAGE_TOKENS: usize = 50 + 1000;
pub(crate) const THINKING_OVERHEAD: usize = 10;
/// Zeph counts inputs longer than this with its chars/4 estimate instead of the BPE.
const MAX_BPE_INPUT: usize = 65_536;

/// Zeph-compatible token counter: `cl100k_base` (Zeph's encoding) over each part,
/// plus Zeph's per-part framing overheads, so budgets and tiers computed here agree with the
/// `cached_prompt_tokens` Zeph keeps. The counts are tiktoken's (what Zeph uses), computed by
/// page-tokenizer's [`FastBpeCounter`], whose equality with tiktoken-rs page-tokenizer's tests
/// check.
///
/// One known difference: Zeph encodes with special tokens enabled, so a tool output containing
/// the literal text `<|endoftext|>` counts one token there and several here. Counting such text
/// as ordinary text is the safe side: it never under-counts.
#[derive(Clone, Debug)]
pub struct ZephTokens {
    bpe: FastBpeCounter,
    // Zeph's counter memoizes counts by text hash (10,000 entries); so does this one, so both
    // sides of the comparison recount an unchanged message at the same (low) price.
    cache: Arc<Mutex<HashMap<u64, usize>>>,
}

const CACHE_CAP: usize = 10_000;

impl Default for ZephTokens {
    fn default() -> Self {
        Self::new()
    }
}

impl ZephTokens {
    /// A counter over `cl100k_base` (the rank tables are embedded; built once per process).
    #[must_use]
    pub fn new() -> Self {
        Self {
            bpe: FastBpeCounter::new(Encoding::Cl100kBase),
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The same counter with an empty memo, as a new Zeph process has: every text is counted
    /// once more. Clones share their memo; this one does not.
    #[must_use]
    pub fn fresh(&self) -> Self {
        Self {
            bpe: self.bpe,
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Tokens of a plain text, as `zeph_memory::TokenCounter::count_tokens` counts them.
    #[must_use]
    pub fn text(&self, text: &str) -> usize {
        if text.is_empty() {
            0
        } else if text.len() > MAX_BPE_INPUT {
            zeph_common::text::estimate_tokens(text)
        } else {
            // DefaultHasher::new() has fixed keys: the same text always hashes the same.
            let mut h = DefaultHasher::new();
            text.hash(&mut h);
            let key = h.finish();
            if let Ok(cache) = self.cache.lock()
                && let Some(&n) = cache.get(&key)
            {
                return n;
            }
            let n = self.bpe.count(text).get() as usize;
            if let Ok(mut cache) = self.cache.lock() {
                if cache.len() >= CACHE_CAP {
                    cache.clear();
                }
                cache.insert(key, n);
            }
            n
        }
    }

    /// Tokens of one message part, framing included.
    #[must_use]
    pub fn part(&self, part: &MessagePart) -> usize {
        match part {
            MessagePart::Text { text }
            | MessagePart::Recall { text }
            | MessagePart::CodeContext { text }
            | MessagePart::Summary { text }
            | MessagePart::CrossSession { text } => {
                if text.trim().is_empty() {
                    0
                } else {
                    self.text(text)
                }
            }
            MessagePart::ToolOutput {
                tool_name, body, ..
            } => TOOL_OUTPUT_OVERHEAD + self.text(tool_name.as_str()) + self.text(body),
            MessagePart::ToolUse { id, name, input } => {
                TOOL_USE_OVERHEAD + self.text(id) + self.text(name) + self.text(&input.to_string())
            }
            MessagePart::ToolResult {
                tool_use_id,
                content,
                ..
            } => TOOL_RESULT_OVERHEAD + self.text(tool_use_id) + self.text(content),
            MessagePart::Image(_) => IMAGE_TOKENS,
            MessagePart::ThinkingBlock {
                thinking,
                signature,
            } => THINKING_OVERHEAD + self.text(thinking) + self.text(signature),
            MessagePart::RedactedThinkingBlock { data } => {
                THINKING_OVERHEAD + zeph_common::text::estimate_tokens(data)
            }
            MessagePart::Compaction { summary } => self.text(summary),
            // A part kind newer than 0.21.4: Zeph counts it as 0 too.
            _ => 0,
        }
    }

    /// Tokens of a message: its parts when it has any, else its flat content.
    #[must_use]
    pub fn message(&self, msg: &Message) -> usize {
        if msg.parts.is_empty() {
            self.text(&msg.content)
        } else {
            msg.parts.iter().map(|p| self.part(p)).sum()
        }
    }

    /// Tokens of the messages an LLM would see (agent-visible ones only).
    #[must_use]
    pub fn context(&self, messages: &[Message]) -> usize {
        messages
            .iter()
            .filter(|m| m.metadata.visibility.is_agent_visible())
            .map(|m| self.message(m))
            .sum()
    }
}

impl MessageTokenCounter for ZephTokens {
    fn count_message_tokens(&self, msg: &Message) -> usize {
        self.message(msg)
    }
}

impl TokenCounting for ZephTokens {
    fn count_tokens(&self, text: &str) -> usize {
        self.text(text)
    }

    // Zeph's own count walks the OpenAI function-calling layout; the schema's canonical JSON
    // text is within a few tokens of it and never depends on key order.
    fn count_tool_schema_tokens(&self, schema: &serde_json::Value) -> usize {
        self.text(&schema.to_string())
    }
}

impl TokenCounter for ZephTokens {
    fn count(&self, text: &str) -> TokenCount {
        TokenCount::new(u32::try_from(self.text(text)).unwrap_or(u32::MAX))
    }

    fn encoding(&self) -> &str {
        self.bpe.encoding()
    }
}
