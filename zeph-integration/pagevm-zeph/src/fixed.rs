//! What a [`PagedSession`](crate::PagedSession) sends as it is, outside the engine's pages, and
//! the order it gives way in when it alone leaves no room for the request.
//!
//! The system prompt, verbatim messages (pinned, server compaction blocks), memory excerpts
//! Zeph injects, legacy text-tool output and turns without text are not pages: they render
//! verbatim and their tokens come off the budget before the engine selects. When they exceed
//! what the budget leaves after the newest request, a request would go over the provider's
//! limit; instead they give way, oldest first within each step, one step after another until
//! they fit:
//!
//! 1. memory excerpts are left out (Zeph derives them again for every request);
//! 2. legacy tool output is left out (it stays in Zeph's history);
//! 3. turns without text (images, thinking blocks) are left out;
//! 4. verbatim messages are left out;
//! 5. the system prompt is cut to its first lines that fit, with a line saying how many were
//!    cut, or left out when not even that fits.
//!
//! Every part that gave way is a [`Pressure`] with a reason code, traced as
//! `context.pagevm.page_level` and written to the store's audit by the engine.

use std::collections::HashSet;

use page_core::{PageType, Repr};
use zeph_llm::provider::Message;

use crate::convert::{Structure, UnitKind};
use crate::render::{Slot, text_message};
use crate::tokens::ZephTokens;

/// Why a part sent as it is gave way. The variants are in the order the parts give way in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GiveWay {
    /// A memory excerpt was left out.
    MemoryOmitted,
    /// Legacy tool output was left out.
    ToolOutputOmitted,
    /// A turn without text was left out.
    TextlessTurnOmitted,
    /// A verbatim message (pinned, a server compaction block) was left out.
    VerbatimOmitted,
    /// The system prompt was cut to its first lines, or left out.
    SystemPromptCut,
}

impl GiveWay {
    /// The stable code the audit and the trace carry.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::MemoryOmitted => "memory_omitted",
            Self::ToolOutputOmitted => "tool_output_omitted",
            Self::TextlessTurnOmitted => "textless_turn_omitted",
            Self::VerbatimOmitted => "verbatim_omitted",
            Self::SystemPromptCut => "system_prompt_cut",
        }
    }

    /// The page type its audit rows carry: what the part would be as a page.
    #[must_use]
    pub const fn page_type(self) -> PageType {
        match self {
            Self::SystemPromptCut => PageType::Bootstrap,
            Self::MemoryOmitted | Self::ToolOutputOmitted => PageType::Evidence,
            Self::TextlessTurnOmitted | Self::VerbatimOmitted => PageType::Conversation,
        }
    }

    /// The step a unit of `kind` gives way in; `None` for units that are pages.
    const fn of(kind: UnitKind) -> Option<Self> {
        match kind {
            UnitKind::Memory(_) => Some(Self::MemoryOmitted),
            UnitKind::ToolOutput => Some(Self::ToolOutputOmitted),
            UnitKind::Turn => Some(Self::TextlessTurnOmitted),
            UnitKind::Verbatim(_) => Some(Self::VerbatimOmitted),
            UnitKind::Bootstrap => Some(Self::SystemPromptCut),
            UnitKind::ToolGroup => None,
        }
    }
}

/// One part sent as it is that gave way for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pressure {
    /// The message (its index in the history).
    pub message: usize,
    /// Why, and what happened to it.
    pub reason: GiveWay,
    /// Its Zeph-counted tokens as it is.
    pub tokens_before: usize,
    /// Its tokens as sent (0: left out).
    pub tokens_after: usize,
}

/// The parts of a history sent as they are, and how each shows in a request.
#[derive(Debug, Clone)]
pub(crate) struct FixedParts {
    units: HashSet<usize>,
    /// Units left out.
    omitted: HashSet<usize>,
    /// The system prompt's message and the text it is cut to.
    cut: Option<(usize, String)>,
    /// Zeph-counted tokens of what is sent.
    tokens: usize,
    pressure: Vec<Pressure>,
}

impl FixedParts {
    /// `units` of `messages` (structure `s`), all sent as they are.
    pub(crate) fn new(
        messages: &[Message],
        s: &Structure,
        units: HashSet<usize>,
        tokens: &ZephTokens,
    ) -> Self {
        let sum = units
            .iter()
            .map(|&u| unit_tokens(messages, s, u, tokens))
            .sum();
        Self {
            units,
            omitted: HashSet::new(),
            cut: None,
            tokens: sum,
            pressure: Vec::new(),
        }
    }

    /// Whether unit `u` is sent as it is (not paged).
    pub(crate) fn contains(&self, u: usize) -> bool {
        self.units.contains(&u)
    }

    /// Zeph-counted tokens of what is sent.
    pub(crate) const fn tokens(&self) -> usize {
        self.tokens
    }

    /// The parts that gave way, in the order they did.
    pub(crate) fn pressure(&self) -> &[Pressure] {
        &self.pressure
    }

    /// How a slot of fixed unit `u` shows: as it is, cut, or left out (`None`).
    pub(crate) fn shown(&self, u: usize, slot: Slot) -> Option<(Repr, &str)> {
        if self.omitted.contains(&u) {
            return None;
        }
        match (&self.cut, slot) {
            (Some((m, text)), Slot::Text(at)) if *m == at => Some((Repr::Compressed, text)),
            _ => Some((Repr::Full, "")),
        }
    }

    /// Gives way, in the module's order, until what is sent is at most `limit` tokens.
    pub(crate) fn fit(
        &mut self,
        messages: &[Message],
        s: &Structure,
        limit: usize,
        tokens: &ZephTokens,
    ) {
        let mut order: Vec<(GiveWay, usize)> = self
            .units
            .iter()
            .filter_map(|&u| GiveWay::of(s.units[u].kind).map(|step| (step, u)))
            .collect();
        order.sort_unstable();
        for (step, u) in order {
            if self.tokens <= limit {
                return;
            }
            let before = unit_tokens(messages, s, u, tokens);
            if before == 0 {
                continue;
            }
            let message = s.units[u].messages[0];
            let after = if step == GiveWay::SystemPromptCut {
                let room = limit.saturating_sub(self.tokens - before);
                match cut_to(&messages[message], message, s, room, tokens) {
                    Some((text, n)) => {
                        self.cut = Some((message, text));
                        n
                    }
                    None => {
                        self.omitted.insert(u);
                        0
                    }
                }
            } else {
                self.omitted.insert(u);
                0
            };
            self.tokens = self.tokens - before + after;
            self.pressure.push(Pressure {
                message,
                reason: step,
                tokens_before: before,
                tokens_after: after,
            });
        }
    }
}

/// Zeph-counted tokens of unit `u`'s agent-visible messages.
fn unit_tokens(messages: &[Message], s: &Structure, u: usize, tokens: &ZephTokens) -> usize {
    s.units[u]
        .messages
        .iter()
        .map(|&m| &messages[m])
        .filter(|m| m.metadata.visibility.is_agent_visible())
        .map(|m| tokens.message(m))
        .sum()
}

/// The system prompt `msg` (message `i`) cut to its longest run of first lines that, with a
/// line saying how many were cut, renders in at most `room` tokens; `None` when not even the
/// note fits. Returns the text and its rendered tokens.
fn cut_to(
    msg: &Message,
    i: usize,
    s: &Structure,
    room: usize,
    tokens: &ZephTokens,
) -> Option<(String, usize)> {
    let lines: Vec<&str> = msg.content.lines().collect();
    let cut = |keep: usize| {
        let mut text = lines[..keep].join("\n");
        if keep > 0 {
            text.push('\n');
        }
        text.push_str(&format!(
            "[… {} more lines of the system prompt cut: the request's budget has no room for them]",
            lines.len() - keep
        ));
        let n = text_message(msg, i, s, Some((Repr::Compressed, &text)))
            .map_or(0, |m| tokens.message(&m));
        (text, n)
    };
    // The rendered cost grows with the lines kept: the longest fitting prefix by bisection.
    let (mut lo, mut hi) = (0usize, lines.len());
    if cut(0).1 > room {
        return None;
    }
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if cut(mid).1 <= room {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Some(cut(lo))
}
