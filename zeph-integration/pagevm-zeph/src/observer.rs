//! The side-by-side's observer: before each recorded model message, what each path's request
//! held, measured against the recorded history. Every specific the message uses (a path or
//! identifier of its text or tool arguments, a command it runs) that an earlier message
//! introduced is looked up in the request (the `measure` module): in its text, a hit; named
//! only by the page directory, a page-in; neither, a fault. Each request is billed under prompt
//! caching beside the whole history sent every time, and each edit's anchor lines are looked
//! up. Also counted: orphaned tool pairs (what a provider rejects), tokens, requests over the
//! budget, the retention of paths and commands, and Zeph's own `ToolOutput` invariant on every
//! result a path sent changed. The requests may come from replayed paths
//! ([`crate::compare::compare`]) or from a real agent loop.

use std::collections::{BTreeMap, BTreeSet};

use page_engine::specifics;
use zeph_context::typed_page::{
    CompactedPage, InvariantRegistry, PageOrigin, PageType as ZephPageType, SchemaHint, TypedPage,
};
use zeph_llm::provider::{Message, MessagePart};

use crate::AdapterError;
use crate::compactor::PagedCompactor;
use crate::compare::{CompareConfig, Counts, Strategy};
use crate::convert::{Diagnostic, structure};
use crate::measure::{RequestMeter, context_text, holds};
use crate::tokens::ZephTokens;

/// Counts each path's requests over one recorded history.
pub struct Observer {
    tokens: ZephTokens,
    config: CompareConfig,
    /// Pages the recorded history to find each turn's minimum-fidelity set.
    minimum: PagedCompactor,
    /// The message index the last minimum set was found for, and whether it fit the budget.
    fits: Option<(usize, bool)>,
    seen: Seen,
    /// Each tool result of the history by its message's `db_id` and call id (call ids repeat:
    /// Ollama's `call_0`): the tool's name and the result as recorded.
    originals: BTreeMap<(Option<i64>, String), (String, String)>,
    /// Tool names by call id.
    names: BTreeMap<String, String>,
    meters: BTreeMap<Strategy, RequestMeter>,
    counts: BTreeMap<Strategy, Counts>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("budget", &self.config.budget)
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

impl Observer {
    /// An observer of one history under `config` (its budget fixed for that history:
    /// [`CompareConfig::for_history`]), counting with `tokens`.
    ///
    /// # Errors
    /// [`AdapterError`] when the adapter that finds minimum sets cannot be built.
    pub fn new(tokens: &ZephTokens, config: &CompareConfig) -> Result<Self, AdapterError> {
        Ok(Self {
            tokens: tokens.clone(),
            config: config.clone(),
            minimum: PagedCompactor::with_tokens(config.adapter(), tokens.clone())?,
            fits: None,
            seen: Seen::default(),
            originals: BTreeMap::new(),
            names: BTreeMap::new(),
            meters: BTreeMap::new(),
            counts: BTreeMap::new(),
        })
    }

    /// `strategy` sent `ctx` before message `i` of `history` (a model message), recorded at
    /// `at` (milliseconds). Messages before `i` must have been [`advance`](Self::advance)d.
    /// Returns the strategy's counts, for what only the caller knows.
    ///
    /// # Errors
    /// [`AdapterError`] when the history cannot be paged to find its minimum set.
    pub fn request(
        &mut self,
        strategy: Strategy,
        history: &[Message],
        i: usize,
        ctx: &[Message],
        at: Option<i64>,
    ) -> Result<&mut Counts, AdapterError> {
        let fits = match self.fits {
            Some((at_i, fits)) if at_i == i => fits,
            _ => {
                let fits = minimum_set(&mut self.minimum, &history[..i])? <= self.config.budget;
                self.fits = Some((i, fits));
                fits
            }
        };
        let msg = &history[i];
        let uses: BTreeSet<String> = used(msg).intersection(&self.seen.known).cloned().collect();
        let c = self.counts.entry(strategy).or_default();
        observe(
            c,
            &history[..i],
            ctx,
            &self.tokens,
            self.config.budget,
            &self.seen,
            fits,
        );
        let meter = self
            .meters
            .entry(strategy)
            .or_insert_with(|| RequestMeter::new(self.config.pricing, self.config.cache_mode));
        let q = meter.request(&history[..i], ctx, msg, &uses, at, &self.tokens);
        c.controllable_faults += if fits { q.faults } else { 0 };
        c.quality.add(&q);
        invariant_checks(c, ctx, &self.originals, &self.tokens);
        Ok(c)
    }

    /// Message `msg` of the history went by: what it introduces may be needed from now on.
    pub fn advance(&mut self, msg: &Message) {
        for p in &msg.parts {
            match p {
                MessagePart::ToolUse { id, name, .. } => {
                    self.names.insert(id.clone(), name.clone());
                }
                MessagePart::ToolResult {
                    tool_use_id,
                    content,
                    ..
                } => {
                    let tool = self.names.get(tool_use_id).cloned().unwrap_or_default();
                    self.originals.insert(
                        (msg.metadata.db_id, tool_use_id.clone()),
                        (tool, content.clone()),
                    );
                }
                _ => {}
            }
        }
        self.seen.known.extend(introduced(msg));
        self.seen.kept.extend(retained_kinds(msg));
    }

    /// Each strategy's counts, with the billed input of its requests.
    #[must_use]
    pub fn finish(mut self) -> BTreeMap<Strategy, Counts> {
        for (strategy, meter) in &self.meters {
            if let Some(c) = self.counts.get_mut(strategy) {
                c.cost = meter.finish();
            }
        }
        self.counts
    }
}

/// The specifics a model message uses: paths and identifiers of its text and tool arguments,
/// and the commands it runs.
fn used(msg: &Message) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in &msg.parts {
        let text = match p {
            MessagePart::Text { text } => text.clone(),
            MessagePart::ToolUse { input, .. } => {
                if let Some(c) = page_engine::command_of(input) {
                    out.insert(c);
                }
                input.to_string()
            }
            _ => continue,
        };
        let s = specifics(&text);
        out.extend(s.paths);
        out.extend(s.identifiers);
    }
    out
}

/// Paths and commands (the specifics whose retention is reported) a message introduces.
fn retained_kinds(msg: &Message) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in &msg.parts {
        match p {
            MessagePart::ToolUse { input, .. } => {
                if let Some(c) = page_engine::command_of(input) {
                    out.insert(c);
                }
            }
            MessagePart::ToolResult { content, .. } => out.extend(specifics(content).paths),
            MessagePart::Text { text } => out.extend(specifics(text).paths),
            _ => {}
        }
    }
    out
}

/// Everything a message introduces that a later message could need.
fn introduced(msg: &Message) -> BTreeSet<String> {
    let mut out = retained_kinds(msg);
    for p in &msg.parts {
        if let MessagePart::ToolResult { content, .. } | MessagePart::Text { text: content } = p {
            out.extend(specifics(content).identifiers);
        }
    }
    out
}

/// Orphaned tool parts of what a provider would see, by message `db_id` and tool id.
fn orphan_keys(messages: &[Message]) -> BTreeSet<(Option<i64>, String, bool)> {
    let seen: Vec<Message> = messages
        .iter()
        .filter(|m| m.metadata.visibility.is_agent_visible())
        .cloned()
        .collect();
    structure(&seen)
        .diagnostics
        .iter()
        .map(|d| match d {
            Diagnostic::OrphanToolUse { message, id, .. } => {
                (seen[*message].metadata.db_id, id.clone(), true)
            }
            Diagnostic::OrphanToolResult { message, id, .. } => {
                (seen[*message].metadata.db_id, id.clone(), false)
            }
        })
        .collect()
}

/// The specifics introduced so far: all of them, and the paths and commands among them.
#[derive(Debug, Default)]
struct Seen {
    known: BTreeSet<String>,
    kept: BTreeSet<String>,
}

/// The observer's view of one context before a model message (its structure, size and
/// retention; what the message used is `measure`'s); `fits` says whether the turn's
/// minimum-fidelity set fits the budget.
fn observe(
    c: &mut Counts,
    prefix: &[Message],
    ctx: &[Message],
    tokens: &ZephTokens,
    budget: usize,
    seen: &Seen,
    fits: bool,
) {
    let kept = &seen.kept;
    let text = context_text(ctx);
    let n = tokens.context(ctx);
    c.turns += 1;
    c.insufficient_turns += usize::from(!fits);
    c.tokens_sum += n;
    c.tokens_max = c.tokens_max.max(n);
    c.over_budget += usize::from(n > budget);
    let before = orphan_keys(prefix);
    for k in orphan_keys(ctx) {
        if before.contains(&k) {
            c.input_orphans_sent += 1;
        } else {
            c.orphaned_pairs += 1;
        }
    }
    for s in kept {
        c.retention_checks += 1;
        c.retained += usize::from(holds(&text, s));
    }
}

/// Checks every tool result of `ctx` that differs from the original against Zeph's own
/// `ToolOutput` invariant (tool name and an exit status must survive compaction).
fn invariant_checks(
    c: &mut Counts,
    ctx: &[Message],
    originals: &BTreeMap<(Option<i64>, String), (String, String)>,
    tokens: &ZephTokens,
) {
    let registry = InvariantRegistry::default();
    for m in ctx {
        for p in &m.parts {
            if let MessagePart::ToolResult {
                tool_use_id,
                content,
                ..
            } = p
                && let Some((tool, original)) =
                    originals.get(&(m.metadata.db_id, tool_use_id.clone()))
                && content != original
            {
                let page = TypedPage::new(
                    ZephPageType::ToolOutput,
                    PageOrigin::ToolPair {
                        tool_name: tool.clone(),
                    },
                    u32::try_from(tokens.text(original)).unwrap_or(u32::MAX),
                    original.as_str().into(),
                    Some(SchemaHint::Text),
                );
                let compacted = CompactedPage {
                    body: content.as_str().into(),
                    tokens: u32::try_from(tokens.text(content)).unwrap_or(u32::MAX),
                };
                c.invariant_checks += 1;
                c.invariant_violations += usize::from(registry.enforce(&page, &compacted).is_err());
            }
        }
    }
}

/// Zeph-counted tokens of a history's minimum-fidelity set: what renders at every budget
/// (system prompt, verbatim messages) and the newest message's pages at their smallest level.
/// A property of the history, the same for every strategy.
fn minimum_set(adapter: &mut PagedCompactor, messages: &[Message]) -> Result<usize, AdapterError> {
    let history = adapter.page(messages)?;
    let newest = history.pages.iter().map(|p| p.last_message).max();
    let pages: usize = history
        .pages
        .iter()
        .filter(|p| Some(p.last_message) == newest)
        .map(|p| p.cost(p.reprs.keys().next().copied()))
        .sum();
    Ok(history.fixed_tokens + pages)
}
