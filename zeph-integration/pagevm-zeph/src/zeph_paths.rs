//! Zeph 0.21.4's own deterministic compaction paths, run on a history in place as Zeph runs
//! them, for the side-by-side comparison: the microcompact sweep and the typed-page
//! classification and invariant checks are Zeph's functions called as they are; the soft-tier
//! pruning and the hard-tier drain (whose drivers live in zeph-agent-context and zeph-core,
//! which are not part of the 0.21.4 pin) follow the documented behaviour, with Zeph's own
//! no-LLM fallback summary (`build_metadata_summary`) standing in for the model.

use zeph_context::budget::ContextBudget;
use zeph_context::manager::{CompactionState, CompactionTier, ContextManager};
use zeph_context::microcompact::sweep_stale_tool_outputs;
use zeph_context::summarization::build_metadata_summary;
use zeph_context::typed_page::{PageType as ZephPageType, classify_with_role};
use zeph_llm::provider::{Message, MessageMetadata, MessagePart, Role};

use crate::tokens::ZephTokens;

/// What Zeph's deterministic paths did in one turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZephTurn {
    /// Tool outputs the microcompact sweep cleared.
    pub swept: usize,
    /// `ToolOutput` bodies the soft tier pruned.
    pub pruned: usize,
    /// Messages the hard tier drained into a summary.
    pub drained: usize,
    /// The state after the turn is `Exhausted`.
    pub exhausted: bool,
    /// Messages `prepare_context`'s trim left out of the request.
    pub trimmed: usize,
}

/// Zeph's per-turn deterministic pipeline for one conversation.
pub struct ZephPaths {
    /// Zeph's context manager (budget, thresholds, `CompactionState`).
    pub manager: ContextManager,
    tokens: ZephTokens,
    keep_recent: usize,
    gap_minutes: u64,
}

impl std::fmt::Debug for ZephPaths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZephPaths")
            .field("state", &self.manager.compaction_state())
            .field("keep_recent", &self.keep_recent)
            .field("gap_minutes", &self.gap_minutes)
            .finish_non_exhaustive()
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

impl ZephPaths {
    /// The pipeline with `manager`'s budget and thresholds and the microcompact settings.
    #[must_use]
    pub fn new(
        manager: ContextManager,
        tokens: ZephTokens,
        keep_recent: usize,
        gap_minutes: u64,
    ) -> Self {
        Self {
            manager,
            tokens,
            keep_recent,
            gap_minutes,
        }
    }

    /// One turn over `messages`, in Zeph's order (§5.2 of the reference): advance the
    /// compaction state, time-based microcompact, then the soft or hard tier.
    pub fn turn(
        &mut self,
        messages: &mut Vec<Message>,
        idle_minutes: u64,
        now_ts: i64,
    ) -> ZephTurn {
        let mut t = ZephTurn::default();
        self.manager.advance_turn();
        if idle_minutes >= self.gap_minutes {
            let sentinel = format!("[cleared — stale tool output after {idle_minutes}min idle]");
            t.swept = sweep_stale_tool_outputs(messages, self.keep_recent, &sentinel, now_ts);
            for m in messages.iter_mut() {
                m.rebuild_content();
            }
        }
        let cached = self.tokens.context(messages) as u64;
        let tier = self.manager.compaction_tier(cached);
        let state = self.manager.compaction_state();
        if state.is_exhausted() || state.is_compacted_this_turn() {
            t.exhausted = state.is_exhausted();
            return t;
        }
        if let CompactionState::Cooling { turns_remaining } = state {
            self.manager.set_compaction_state(if turns_remaining > 1 {
                CompactionState::Cooling {
                    turns_remaining: turns_remaining - 1,
                }
            } else {
                CompactionState::Ready
            });
        }
        match tier {
            CompactionTier::None => {}
            CompactionTier::Soft => {
                t.pruned = self.prune(messages, self.manager.soft_compaction_threshold, now_ts);
            }
            _ => {
                if matches!(
                    self.manager.compaction_state(),
                    CompactionState::Cooling { .. }
                ) {
                    return t;
                }
                t.pruned = self.prune(messages, self.manager.hard_compaction_threshold, now_ts);
                let after_prune = self.tokens.context(messages) as u64;
                if self.manager.compaction_tier(after_prune) == CompactionTier::Hard {
                    t.drained = self.drain(messages);
                    let after = self.tokens.context(messages) as u64;
                    if t.drained == 0
                        || after >= after_prune
                        || self.manager.compaction_tier(after) == CompactionTier::Hard
                    {
                        self.manager
                            .set_compaction_state(CompactionState::Exhausted { warned: false });
                        t.exhausted = true;
                        return t;
                    }
                }
                self.manager
                    .set_compaction_state(CompactionState::CompactedThisTurn {
                        cooldown: self.manager.compaction_cooldown_turns(),
                    });
            }
        }
        t
    }

    /// Soft-tier pruning as documented: oldest-first, only `ToolOutput` bodies (native
    /// `ToolResult`s are not touched), skipping focus-pinned messages, archived bodies and the
    /// newest `prune_protect_tokens`, until the context is under `ratio` of the budget.
    fn prune(&self, messages: &mut [Message], ratio: f32, now_ts: i64) -> usize {
        let Some(budget) = self.manager.budget.as_ref() else {
            return 0;
        };
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "Zeph's own threshold arithmetic"
        )]
        let target = (budget.max_tokens() as f32 * ratio) as usize;
        let mut total = self.tokens.context(messages);
        // The protected tail: newest messages whose tokens reach prune_protect_tokens.
        let mut protect_from = messages.len();
        let mut tail = 0usize;
        while protect_from > 1 && tail < self.manager.prune_protect_tokens {
            protect_from -= 1;
            tail += self.tokens.message(&messages[protect_from]);
        }
        let mut pruned = 0;
        for m in messages.iter_mut().take(protect_from).skip(1) {
            if total <= target {
                break;
            }
            if m.metadata.focus_pinned {
                continue;
            }
            let before = self.tokens.message(m);
            let mut touched = false;
            for p in &mut m.parts {
                if let MessagePart::ToolOutput {
                    body, compacted_at, ..
                } = p
                    && compacted_at.is_none()
                    && !body.starts_with("[archived:")
                {
                    body.clear();
                    *compacted_at = Some(now_ts);
                    touched = true;
                    pruned += 1;
                }
            }
            if touched {
                m.rebuild_content();
                total = total + self.tokens.message(m) - before.min(total);
            }
        }
        pruned
    }

    /// The hard tier's drain (`compact_context`) with the no-LLM summary: keep the system
    /// prompt and the last `compaction_preserve_tail` messages (walking back so the boundary
    /// does not fall right after a tool use), keep focus-pinned messages, replace the rest with
    /// one agent-only system message. Returns the messages drained.
    fn drain(&self, messages: &mut Vec<Message>) -> usize {
        let len = messages.len();
        let tail = self.manager.compaction_preserve_tail;
        if len <= tail + 1 {
            return 0;
        }
        let mut end = len - tail;
        // adjust_compact_end_for_tool_pairs: never leave a tool use's result behind.
        while end > 1
            && messages[end - 1]
                .parts
                .iter()
                .any(|p| matches!(p, MessagePart::ToolUse { .. }))
        {
            end -= 1;
        }
        if end <= 1 {
            return 0;
        }
        let drained: Vec<Message> = messages.drain(1..end).collect();
        let (pinned, to_compact): (Vec<Message>, Vec<Message>) =
            drained.into_iter().partition(|m| m.metadata.focus_pinned);
        let n = to_compact.len();
        let summary = build_metadata_summary(&to_compact, truncate);
        let mut m = Message::from_legacy(
            Role::System,
            format!("[conversation summary — {n} messages compacted]\n{summary}"),
        );
        m.metadata = MessageMetadata::agent_only();
        let mut insert = vec![m];
        insert.extend(pinned);
        messages.splice(1..1, insert);
        n
    }
}

impl ZephPaths {
    /// The request Zeph sends: `prepare_context`'s `trim_messages_to_budget` drops the oldest
    /// non-system messages until the history fits the budget (documented behaviour; the
    /// function is in zeph-agent-context, outside the pin). It is given the benefit of the
    /// doubt on pairs: a tool use and the message holding its results are dropped together.
    #[must_use]
    pub fn request(&self, messages: &[Message], t: &mut ZephTurn) -> Vec<Message> {
        let Some(budget) = self.manager.budget.as_ref().map(ContextBudget::max_tokens) else {
            return messages.to_vec();
        };
        let mut out: Vec<Message> = messages.to_vec();
        let mut total = self.tokens.context(&out);
        let mut i = 0;
        while total > budget && i < out.len() {
            if out[i].role == Role::System || out[i].metadata.focus_pinned {
                i += 1;
                continue;
            }
            let uses = out[i]
                .parts
                .iter()
                .any(|p| matches!(p, MessagePart::ToolUse { .. }));
            let mut n = 1;
            if uses && let Some(j) = (i + 1..out.len()).find(|&j| out[j].role != Role::System) {
                n = j - i + 1;
                // Keep system messages between the pair: only the two halves go.
                let partner = out.remove(j);
                total -= self.tokens.message(&partner).min(total);
                t.trimmed += 1;
                n -= 1;
            }
            let gone = out.remove(i);
            total -= self.tokens.message(&gone).min(total);
            t.trimmed += 1;
            let _ = n;
        }
        out
    }
}

/// Zeph's typed-page classification of a message, as `compact_context` classifies the batch
/// it compacts (prefix rules on the flattened content; `Role::System` forces system context).
#[must_use]
pub fn zeph_classify(msg: &Message) -> ZephPageType {
    classify_with_role(&msg.content, msg.role == Role::System)
}
