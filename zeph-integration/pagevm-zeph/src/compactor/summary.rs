//! A hard compaction's summary of the pages it leaves out: from the LLM through Zeph's
//! `single_pass_summary` when it passes validation, else a deterministic digest of the pages'
//! pointers; and the agent-only message that carries it.

use std::time::Duration;

use page_core::Repr;
use zeph_context::summarization::{SummarizationDeps, single_pass_summary};
use zeph_context::typed_page::BatchAssertions;
use zeph_llm::provider::{Message, MessageMetadata, MessagePart, Role};

use super::AdapterConfig;
use crate::pages::PagedHistory;
use crate::tokens::ZephTokens;

/// An optional LLM summarizer through Zeph's provider types.
#[derive(Clone)]
pub struct LlmSummarizer {
    /// Zeph's summarization dependencies (provider, per-call timeout, counter).
    pub deps: SummarizationDeps,
    /// Compression guidelines passed to Zeph's prompt builder.
    pub guidelines: String,
}

impl std::fmt::Debug for LlmSummarizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmSummarizer")
            .field("timeout", &self.deps.llm_timeout)
            .finish_non_exhaustive()
    }
}

/// The agent-only system message holding a hard compaction's summary, in Zeph's shape.
pub(super) fn summary_message(text: &str) -> Message {
    let mut m = Message::from_parts(
        Role::System,
        vec![MessagePart::Summary {
            text: text.to_owned(),
        }],
    );
    m.metadata = MessageMetadata::agent_only();
    m
}

/// One line per page left out: its pointer (page id, tool, digest, size), which the store
/// dereferences. Deterministic and model-free.
pub(super) fn deterministic_digest(history: &PagedHistory, left_out: &[usize]) -> String {
    let mut s = format!(
        "[conversation summary — {} pages paged out; each line names one]",
        left_out.len()
    );
    for &i in left_out {
        let p = &history.pages[i];
        s.push('\n');
        s.push_str(p.text(Repr::Pointer).unwrap_or(p.id.as_str()));
    }
    s
}

pub(super) fn left_out_messages(
    messages: &[Message],
    history: &PagedHistory,
    left_out: &[usize],
) -> Vec<Message> {
    let mut idx: Vec<usize> = left_out
        .iter()
        .flat_map(|&i| {
            history.structure.units[history.pages[i].unit]
                .messages
                .clone()
        })
        .collect();
    idx.sort_unstable();
    idx.dedup();
    idx.into_iter().map(|i| messages[i].clone()).collect()
}

/// Asks the model for a summary and validates it: not empty, within `max_summary_tokens`,
/// smaller than what it replaces, and naming at least one tool of the batch (Zeph's own
/// `BatchAssertions`). `None` on any failure, timeout included.
pub(super) async fn llm_summary(
    s: &LlmSummarizer,
    dropped: &[Message],
    history: &PagedHistory,
    left_out: &[usize],
    tokens: &ZephTokens,
    config: &AdapterConfig,
) -> Option<String> {
    // One overall deadline on top of the provider's per-call timeout.
    let deadline = s
        .deps
        .llm_timeout
        .saturating_add(Duration::from_millis(100));
    let text = tokio::time::timeout(
        deadline,
        single_pass_summary(&s.deps, dropped, &s.guidelines),
    )
    .await
    .ok()?
    .ok()?;
    let text = text.trim().to_owned();
    let n = tokens.text(&text);
    let replaced: usize = dropped.iter().map(|m| tokens.message(m)).sum();
    if text.is_empty() || n > config.max_summary_tokens || n >= replaced {
        return None;
    }
    let mut tools: Vec<String> = left_out
        .iter()
        .filter_map(|&i| history.pages[i].tool.clone())
        .collect();
    tools.sort();
    tools.dedup();
    let batch = BatchAssertions {
        tool_names_in_batch: tools,
        has_memory_excerpt: false,
        excerpt_labels: Vec::new(),
    };
    if !batch.check(&text).is_empty() {
        return None;
    }
    Some(format!(
        "[conversation summary — {} pages paged out]\n{text}",
        left_out.len()
    ))
}
