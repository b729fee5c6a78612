//! Billed input under prompt caching and quality by content of one path's requests in the
//! side-by-side: the measures `pagevm replay` reports, on the message lists Zeph and the
//! adapter would send (see docs/evaluation.md, "Quality by content and billed input").

use std::collections::BTreeSet;

use page_core::ContentDigest;
use page_engine::{DIRECTORY_HEADER, anchors};
use page_policy::{CacheMode, CostMeter, Pricing};
use zeph_llm::provider::{Message, MessagePart};

use crate::directory::is_directory;
use crate::tokens::ZephTokens;

/// Quality by content, summed over requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quality {
    /// Uses of a specific found in the context's text outside the page directory.
    pub hits: usize,
    /// Uses only the page directory names: the model reads the page back.
    pub page_ins: usize,
    /// Uses neither the text nor the directory holds.
    pub faults: usize,
    /// Messages read back (each one more billed request).
    pub pages_read: usize,
    /// Edits whose old text came from the history.
    pub edit_anchors: usize,
    /// Their anchor lines.
    pub anchor_lines: usize,
    /// Of those, in the context the edit was sent with (after its page-ins).
    pub anchor_lines_present: usize,
    /// Edits under [`anchors::COVERAGE_FLOOR`].
    pub edit_refetches: usize,
}

impl Quality {
    pub(crate) fn add(&mut self, o: &Quality) {
        self.hits += o.hits;
        self.page_ins += o.page_ins;
        self.faults += o.faults;
        self.pages_read += o.pages_read;
        self.edit_anchors += o.edit_anchors;
        self.anchor_lines += o.anchor_lines;
        self.anchor_lines_present += o.anchor_lines_present;
        self.edit_refetches += o.edit_refetches;
    }

    /// Anchor lines present / anchor lines (1 without edits).
    #[must_use]
    #[expect(clippy::cast_precision_loss, reason = "line counts are small")]
    pub fn edit_anchor_coverage(&self) -> f64 {
        if self.anchor_lines == 0 {
            1.0
        } else {
            self.anchor_lines_present as f64 / self.anchor_lines as f64
        }
    }
}

/// Billed input, summed over requests and histories.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cost {
    /// Σ billed input, in units of the base input price (page-ins included).
    pub billed_input: f64,
    /// The same with the whole history on every request.
    pub billed_input_no_compaction: f64,
    /// Σ tokens sent.
    pub tokens_sent: u64,
    /// Σ tokens read from the cache.
    pub tokens_cached: u64,
    /// Requests whose common prefix with the previous one is shorter than it.
    pub prefix_rewrites: u64,
    /// Requests billed.
    pub requests: u64,
    /// Most tokens sent in one request.
    pub max_tokens_sent: u64,
}

impl Cost {
    pub(crate) fn add(&mut self, o: &Cost) {
        self.billed_input += o.billed_input;
        self.billed_input_no_compaction += o.billed_input_no_compaction;
        self.tokens_sent += o.tokens_sent;
        self.tokens_cached += o.tokens_cached;
        self.prefix_rewrites += o.prefix_rewrites;
        self.requests += o.requests;
        self.max_tokens_sent = self.max_tokens_sent.max(o.max_tokens_sent);
    }

    /// `billed_input / billed_input_no_compaction`.
    #[must_use]
    pub fn ratio_to_no_compaction(&self) -> f64 {
        if self.billed_input_no_compaction > 0.0 {
            self.billed_input / self.billed_input_no_compaction
        } else {
            0.0
        }
    }

    /// Σ cached / Σ sent.
    #[must_use]
    #[expect(clippy::cast_precision_loss, reason = "token sums stay far below 2^53")]
    pub fn cache_read_share(&self) -> f64 {
        if self.tokens_sent == 0 {
            0.0
        } else {
            self.tokens_cached as f64 / self.tokens_sent as f64
        }
    }

    /// Prefix rewrites per 100 requests.
    #[must_use]
    #[expect(clippy::cast_precision_loss, reason = "request counts are small")]
    pub fn prefix_rewrites_per_100(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.prefix_rewrites as f64 * 100.0 / self.requests as f64
        }
    }

    /// Mean tokens sent per request.
    #[must_use]
    #[expect(clippy::cast_precision_loss, reason = "token sums stay far below 2^53")]
    pub fn mean_tokens_sent(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.tokens_sent as f64 / self.requests as f64
        }
    }
}

/// Bills one path's requests over one history and classifies what each model message used.
pub(crate) struct RequestMeter {
    cost: CostMeter,
    baseline: CostMeter,
    items: Vec<(ContentDigest, u32)>,
    /// The baseline's request: the history so far, which only grows.
    baseline_items: Vec<(ContentDigest, u32)>,
    /// Messages of the history already in `baseline_items` (visible or not).
    baseline_len: usize,
}

impl RequestMeter {
    pub(crate) fn new(pricing: Pricing, mode: CacheMode) -> Self {
        Self {
            cost: CostMeter::new(pricing, mode),
            baseline: CostMeter::new(pricing, mode),
            items: Vec::new(),
            baseline_items: Vec::new(),
            baseline_len: 0,
        }
    }

    /// Measures the request `ctx` (what the path sends before model message `next`) of a
    /// history whose messages so far are `history` (the same history, longer at each call); `uses` are the specifics `next` names
    /// that an earlier message introduced.
    pub(crate) fn request(
        &mut self,
        history: &[Message],
        ctx: &[Message],
        next: &Message,
        uses: &BTreeSet<String>,
        at_ms: Option<i64>,
        tokens: &ZephTokens,
    ) -> Quality {
        let visible = |m: &&Message| m.metadata.visibility.is_agent_visible();
        let mut content = String::new();
        let mut named = String::new();
        for m in ctx.iter().filter(visible) {
            // A directory is a message of its own (the compactor's) or the tail of the
            // newest message (the session's): either way it names, it does not hold.
            let at = if is_directory(m) {
                0
            } else {
                m.content.find(DIRECTORY_HEADER).unwrap_or(m.content.len())
            };
            named.push_str(&m.content[at..]);
            push_text(&mut content, m, at);
        }
        let mut q = Quality::default();
        let mut reads: Vec<usize> = Vec::new();
        for s in uses {
            if holds(&content, s) {
                q.hits += 1;
            } else if holds(&named, s) {
                q.page_ins += 1;
                // What `read_page` returns: the latest message of the history that held it.
                if let Some(at) = history.iter().rposition(|m| holds(&text_of(m), s))
                    && !reads.contains(&at)
                {
                    reads.push(at);
                }
            } else {
                q.faults += 1;
            }
        }
        for &r in &reads {
            push_text(&mut content, &history[r], history[r].content.len());
        }
        let lines: Vec<String> = next
            .parts
            .iter()
            .flat_map(|p| match p {
                MessagePart::ToolUse { input, .. } => anchors::of_call(&input.to_string()),
                MessagePart::Text { text } => anchors::of_message(text),
                _ => Vec::new(),
            })
            .collect();
        if !lines.is_empty() {
            let past: String = history.iter().map(text_of).collect();
            let known = lines.iter().filter(|l| past.contains(l.as_str())).count();
            if anchors::came_from_history(known, lines.len()) {
                let present = lines
                    .iter()
                    .filter(|l| content.contains(l.as_str()))
                    .count();
                q.edit_anchors = 1;
                q.anchor_lines = lines.len();
                q.anchor_lines_present = present;
                q.edit_refetches = usize::from(anchors::is_refetch(present, lines.len()));
            }
        }
        // The request, then one more per message read back, at the tail.
        self.items.clear();
        self.items
            .extend(ctx.iter().filter(visible).map(|m| item(m, tokens)));
        self.cost.push_digests(at_ms, &self.items);
        for &r in &reads {
            self.items.push(item(&history[r], tokens));
            self.cost.push_digests(at_ms, &self.items);
        }
        q.pages_read = reads.len();
        // The history is append-only: each message is hashed once for the baseline.
        let new = history.get(self.baseline_len..).unwrap_or_default();
        self.baseline_items
            .extend(new.iter().filter(visible).map(|m| item(m, tokens)));
        self.baseline_len = history.len();
        self.baseline.push_digests(at_ms, &self.baseline_items);
        q
    }

    pub(crate) fn finish(&self) -> Cost {
        let s = self.cost.summary();
        let b = self.baseline.summary();
        Cost {
            billed_input: s.billed_input,
            billed_input_no_compaction: b.billed_input,
            tokens_sent: s.tokens_sent,
            tokens_cached: s.tokens_cached,
            prefix_rewrites: s.prefix_rewrites,
            requests: s.requests,
            max_tokens_sent: s.max_tokens_sent,
        }
    }
}

/// A message as one cache item: the digest of what is sent (role, text, parts) and its
/// Zeph-counted tokens.
fn item(m: &Message, tokens: &ZephTokens) -> (ContentDigest, u32) {
    let mut bytes = format!("{:?}\n", m.role).into_bytes();
    bytes.extend_from_slice(text_of(m).as_bytes());
    (
        ContentDigest::of(&bytes),
        u32::try_from(tokens.message(m)).unwrap_or(u32::MAX),
    )
}

/// The text of every message of `ctx` the model sees, the page directory included.
pub(crate) fn context_text(ctx: &[Message]) -> String {
    let mut s = String::new();
    for m in ctx
        .iter()
        .filter(|m| m.metadata.visibility.is_agent_visible())
    {
        push_text(&mut s, m, m.content.len());
    }
    s
}

/// A message's text as sent: its flattened content and its tool inputs (sent as JSON).
fn text_of(m: &Message) -> String {
    let mut s = String::new();
    push_text(&mut s, m, m.content.len());
    s
}

/// Pushes the text of `m` up to byte `end` of its content, and its tool calls' arguments.
fn push_text(s: &mut String, m: &Message, end: usize) {
    s.push_str(&m.content[..end]);
    for p in &m.parts {
        if let MessagePart::ToolUse { input, .. } = p {
            s.push_str(&input.to_string());
        }
    }
    s.push('\n');
}

/// Whether a text holds a specific: verbatim, or JSON-escaped as tool arguments are sent.
pub(crate) fn holds(text: &str, specific: &str) -> bool {
    if text.contains(specific) {
        return true;
    }
    let escaped = serde_json::Value::String(specific.to_owned()).to_string();
    let inner = &escaped[1..escaped.len() - 1];
    inner != specific && text.contains(inner)
}

#[cfg(test)]
mod tests {
    use zeph_llm::provider::Role;

    use super::*;

    /// A directory at the tail of the newest message names a specific; it does not hold it.
    #[test]
    fn a_specific_only_the_directory_names_is_a_page_in_not_a_hit() {
        let history = vec![
            Message::from_legacy(Role::User, "Open src/gone.rs and src/kept.rs."),
            Message::from_legacy(Role::User, "Now fix them."),
        ];
        let ctx = vec![Message::from_legacy(
            Role::User,
            format!("Open src/kept.rs.\n\n{DIRECTORY_HEADER}\nzeph-c1-m1: src/gone.rs"),
        )];
        let next = Message::from_legacy(Role::Assistant, "Fixing src/gone.rs and src/kept.rs.");
        let uses: BTreeSet<String> = ["src/gone.rs", "src/kept.rs", "src/never.rs"]
            .map(str::to_owned)
            .into();
        let mut meter = RequestMeter::new(Pricing::ANTHROPIC_5M, CacheMode::Lcp);
        let q = meter.request(&history, &ctx, &next, &uses, None, &ZephTokens::new());
        assert_eq!((q.hits, q.page_ins, q.faults, q.pages_read), (1, 1, 1, 1));
    }
}
