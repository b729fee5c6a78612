//! `PagedCompactor`: the replacements of Zeph's context paths (assembly under its budget,
//! soft, hard and micro compaction) driven by pages and budgets, honouring `CompactionState`.

use std::collections::HashMap;

use page_core::Repr;
use zeph_context::manager::{CompactionState, ContextManager};
use zeph_llm::provider::Message;

use crate::AdapterError;
use crate::convert::{Diagnostic, UnitKind, structure};
use crate::directory::Directory;
use crate::pages::{PagedHistory, Pager, tool_pages};
use crate::render::render;
use crate::select::{Selection, select};
use crate::tokens::ZephTokens;

pub use self::summary::LlmSummarizer;
use self::summary::{deterministic_digest, left_out_messages, llm_summary, summary_message};

mod summary;

/// Knobs, mirroring Zeph's `[memory]` keys where one exists (see `docs/zeph-integration.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterConfig {
    /// Newest messages always rendered at full (`compaction_preserve_tail`, Zeph default 6).
    pub preserve_tail: usize,
    /// `[memory.microcompact] gap_threshold_minutes`: idle time that makes old evidence stale.
    pub microcompact_gap_minutes: u64,
    /// `[memory.microcompact] keep_recent`: evidence pages that keep their full text.
    pub microcompact_keep_recent: usize,
    /// Largest LLM summary accepted, in tokens (`max_summary_tokens`).
    pub max_summary_tokens: usize,
    /// Builder knobs for the representations.
    pub build: page_engine::BuildConfig,
    /// Render a page directory whenever a page is below full: the specifics (paths,
    /// identifiers) each degraded or left-out page holds that no page at full shows, by page
    /// id, so what a later turn cites stays resolvable instead of silently gone.
    pub directory: bool,
}

impl AdapterConfig {
    /// The knobs Zeph's own `[memory]` section already sets: `compaction_preserve_tail` and
    /// `[memory.microcompact]`'s gap and `keep_recent`; the rest keep their defaults.
    #[must_use]
    pub fn from_zeph(memory: &zeph_config::MemoryConfig) -> Self {
        Self {
            preserve_tail: memory.compaction_preserve_tail,
            microcompact_gap_minutes: u64::from(memory.microcompact.gap_threshold_minutes),
            microcompact_keep_recent: memory.microcompact.keep_recent,
            ..Self::default()
        }
    }
}

impl Default for AdapterConfig {
    fn default() -> Self {
        Self {
            preserve_tail: 6,
            microcompact_gap_minutes: 60,
            microcompact_keep_recent: 3,
            max_summary_tokens: 2_000,
            build: page_engine::BuildConfig::default(),
            directory: true,
        }
    }
}

/// An assembled context.
#[derive(Debug, Clone)]
pub struct Assembled {
    /// The messages to send (a provider-ready history).
    pub messages: Vec<Message>,
    /// Their Zeph-counted tokens (agent-visible messages).
    pub tokens: usize,
    /// The selection behind them.
    pub selection: Selection,
    /// Orphaned tool parts of the input (rendered as text).
    pub diagnostics: Vec<Diagnostic>,
}

/// What a hard compaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HardOutcome {
    /// Tokens were freed; the state is `CompactedThisTurn`.
    Compacted {
        /// Tokens before and after.
        before: usize,
        /// Tokens after.
        after: usize,
        /// Where the summary came from.
        summary: SummarySource,
    },
    /// Skipped: compacted this turn already, cooling down, or exhausted.
    Skipped(CompactionState),
    /// Nothing could be freed below the hard threshold; the state is now `Exhausted`.
    Exhausted,
}

/// The origin of a hard compaction's summary of the pages it left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummarySource {
    /// Nothing was left out, so nothing is summarised.
    None,
    /// The LLM's summary, validated.
    Llm,
    /// The deterministic digest: the model was absent, failed, timed out, or its summary was
    /// rejected by validation.
    Deterministic,
}

/// The pagevm replacement of Zeph's compaction paths for one conversation.
///
/// Zeph's `messages` stays the full history (nothing is blanked in place); every path here
/// renders the view to send from pages, at levels the budget allows. State between turns:
/// level caps left by soft and micro compaction, and the summary of a hard compaction.
#[derive(Debug)]
pub struct PagedCompactor {
    pager: Pager,
    config: AdapterConfig,
    caps: HashMap<String, Repr>,
    summary: Option<String>,
}

fn clamp_budget(max: usize, ratio: f32) -> usize {
    // Zeph computes its thresholds the same way (`max as f32 * ratio) as usize`).
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "mirrors Zeph's threshold arithmetic exactly; budgets are far below 2^24"
    )]
    let v = (max as f32 * ratio) as usize;
    v
}

impl PagedCompactor {
    /// A compactor counting with Zeph's encoding.
    ///
    /// # Errors
    /// [`AdapterError::Build`] on an invalid configuration.
    pub fn new(config: AdapterConfig) -> Result<Self, AdapterError> {
        Self::with_tokens(config, ZephTokens::new())
    }

    /// A compactor sharing an existing counter (the rank table loads once per process).
    ///
    /// # Errors
    /// [`AdapterError::Build`] on an invalid configuration.
    pub fn with_tokens(config: AdapterConfig, tokens: ZephTokens) -> Result<Self, AdapterError> {
        Ok(Self {
            pager: Pager::new(tokens, config.build.clone())?,
            config,
            caps: HashMap::new(),
            summary: None,
        })
    }

    /// The counter (for `cached_prompt_tokens`).
    #[must_use]
    pub fn tokens(&self) -> &ZephTokens {
        self.pager.tokens()
    }

    /// Pages `messages` (cached by content: only new or changed pages are built).
    ///
    /// # Errors
    /// [`AdapterError::Build`] when a page cannot be built.
    pub fn page(&mut self, messages: &[Message]) -> Result<PagedHistory, AdapterError> {
        self.pager.page(messages)
    }

    fn full_from(&self, messages: &[Message]) -> usize {
        messages.len().saturating_sub(self.config.preserve_tail)
    }

    fn summary_message(&self) -> Option<Message> {
        self.summary.as_ref().map(|s| summary_message(s))
    }

    /// Context assembly: the history rendered to fit `budget` tokens (Zeph-counted), with the
    /// preserved tail at full and the system prompt verbatim. Replaces `prepare_context`'s
    /// silent `trim_messages_to_budget`: what does not fit is degraded level by level by
    /// utility per token, and only then left out, pairs whole.
    ///
    /// # Errors
    /// [`AdapterError`] when paging or selection fails.
    pub fn assemble(
        &mut self,
        messages: &[Message],
        budget: usize,
        now_ts: i64,
    ) -> Result<Assembled, AdapterError> {
        let history = self.pager.page(messages)?;
        self.assemble_paged(messages, &history, budget, now_ts)
    }

    /// [`assemble`](Self::assemble) aiming at `target` tokens (Zeph's hard threshold, so the
    /// view never sets off Zeph's own hard tier) but letting the turn's required pages (the
    /// preserved tail, pages it cites) use the headroom up to `ceiling` (the budget itself)
    /// when they do not fit under the target: a required page is never squeezed to honour a
    /// threshold below what the model can take.
    ///
    /// # Errors
    /// [`AdapterError`] when paging or selection fails.
    pub fn assemble_within(
        &mut self,
        messages: &[Message],
        target: usize,
        ceiling: usize,
        now_ts: i64,
    ) -> Result<Assembled, AdapterError> {
        let history = self.pager.page(messages)?;
        let a = self.assemble_paged(messages, &history, target, now_ts)?;
        if a.selection.unmet == 0 || ceiling <= target {
            return Ok(a);
        }
        let wider = self.assemble_paged(messages, &history, ceiling, now_ts)?;
        // Where the headroom does not meet more of them either, the target's view is the
        // smaller overrun.
        Ok(if wider.selection.unmet < a.selection.unmet {
            wider
        } else {
            a
        })
    }

    fn assemble_paged(
        &self,
        messages: &[Message],
        history: &PagedHistory,
        budget: usize,
        now_ts: i64,
    ) -> Result<Assembled, AdapterError> {
        let summary = self.summary_message();
        let summary_tokens = summary.as_ref().map_or(0, |m| self.tokens().message(m));
        let page_budget = budget.saturating_sub(history.fixed_tokens + summary_tokens);
        let full_from = self.full_from(messages);
        let mut selection = select(history, page_budget, full_from, &self.caps)?;
        let mut directory = None;
        if self.config.directory {
            selection = self.reserve_for_directory(history, page_budget, full_from, selection)?;
            // Whatever the reserve, the directory only takes budget the pages left: when even
            // the required pages overrun (invariant pressure), it is not rendered.
            let left = page_budget.saturating_sub(selection.page_tokens);
            if selection.unmet == 0 {
                directory = Directory::of(history, &selection.levels)
                    .and_then(|d| d.within(self.tokens(), left));
            }
        }
        let mut out = render(messages, history, &selection.levels, now_ts);
        // The summary covers pages left out; it goes right after the system prompt, as
        // Zeph's compaction summary does, and only while something is left out. The
        // directory follows it.
        let at = usize::from(
            history
                .structure
                .units
                .first()
                .is_some_and(|u| u.kind == UnitKind::Bootstrap),
        )
        .min(out.len());
        if let Some(d) = directory {
            out.insert(at, d);
        }
        if let Some(s) = summary
            && selection.levels.iter().any(Option::is_none)
        {
            out.insert(at, s);
        }
        let tokens = self.tokens().context(&out);
        Ok(Assembled {
            messages: out,
            tokens,
            selection,
            diagnostics: history.structure.diagnostics.clone(),
        })
    }

    /// The selection re-made so the page directory fits beside it. The directory's tokens
    /// come out of the pages' budget, which can degrade more pages and grow it: re-select
    /// with a reserve until the directory fits in what the pages leave, but never squeeze a
    /// required page for it. The reserve only grows, so the rounds end. When the whole
    /// directory would cost a required page, the largest reserve that does not is bisected
    /// for, and the directory loses detail to fit what is left (`Directory::within`).
    fn reserve_for_directory(
        &self,
        history: &PagedHistory,
        page_budget: usize,
        full_from: usize,
        mut selection: Selection,
    ) -> Result<Selection, AdapterError> {
        let reselect = |reserve: usize| {
            select(
                history,
                page_budget.saturating_sub(reserve),
                full_from,
                &self.caps,
            )
        };
        let mut reserve = 0;
        for _ in 0..DIRECTORY_ROUNDS {
            let Some(d) = Directory::of(history, &selection.levels) else {
                break;
            };
            let n = d.estimate(self.tokens());
            let left = page_budget.saturating_sub(selection.page_tokens);
            if n <= left {
                break;
            }
            let tried = n.max(reserve + 1);
            let next = reselect(tried)?;
            if next.unmet <= selection.unmet {
                reserve = tried;
                selection = next;
                continue;
            }
            let (mut fits, mut costs) = (left.max(reserve), tried);
            for _ in 0..DIRECTORY_BISECTIONS {
                if costs - fits <= 1 {
                    break;
                }
                let mid = fits + (costs - fits) / 2;
                let s = reselect(mid)?;
                if s.unmet <= selection.unmet {
                    fits = mid;
                    selection = s;
                } else {
                    costs = mid;
                }
            }
            break;
        }
        Ok(selection)
    }

    /// Soft compaction: degrade evidence deterministically (full → compressed → structured →
    /// pointer, by utility per token) until the context is under Zeph's soft threshold, instead
    /// of blanking tool outputs. No LLM, no state change (as Zeph's soft tier). The levels
    /// chosen become caps, so later assemblies do not re-inflate what was just degraded.
    ///
    /// # Errors
    /// [`AdapterError`] when paging or selection fails.
    pub fn soft_compact(
        &mut self,
        messages: &[Message],
        manager: &ContextManager,
        now_ts: i64,
    ) -> Result<Assembled, AdapterError> {
        let Some(budget) = manager.budget.as_ref() else {
            return self.assemble(messages, usize::MAX, now_ts);
        };
        let target = clamp_budget(budget.max_tokens(), manager.soft_compaction_threshold);
        let history = self.pager.page(messages)?;
        let a = self.assemble_paged(messages, &history, target, now_ts)?;
        self.record_caps(&history, &a.selection, self.full_from(messages));
        Ok(a)
    }

    fn record_caps(&mut self, history: &PagedHistory, selection: &Selection, full_from: usize) {
        for (page, level) in history.pages.iter().zip(&selection.levels) {
            if page.last_message >= full_from {
                continue;
            }
            if let Some(l) = level
                && *l < Repr::Full
            {
                let cap = self.caps.entry(page.id.as_str().to_owned()).or_insert(*l);
                *cap = (*cap).min(*l);
            }
        }
    }

    /// Microcompact: after an idle gap of at least `gap_threshold_minutes`, every evidence page
    /// but the `keep_recent` most recently produced is capped at its structured form (tool,
    /// status, paths, errors: what a later turn needs to avoid re-running the tool), whatever
    /// the tool; Zeph's version blanks only a fixed list of "low-value" tools. Does not change
    /// `CompactionState` and builds no page (recency is a matter of structure). Returns the
    /// pages newly capped.
    pub fn microcompact(&mut self, messages: &[Message], idle_minutes: u64) -> usize {
        if idle_minutes < self.config.microcompact_gap_minutes {
            return 0;
        }
        let mut evidence = tool_pages(&structure(messages), messages);
        // Recency: newest first, by the last message the page covers; ties by page order.
        evidence.sort_by_key(|(_, last)| std::cmp::Reverse(*last));
        let mut capped = 0;
        for (id, _) in evidence
            .into_iter()
            .skip(self.config.microcompact_keep_recent)
        {
            let cap = self.caps.entry(id).or_insert(Repr::Full);
            if *cap > Repr::Structured {
                *cap = Repr::Structured;
                capped += 1;
            }
        }
        capped
    }

    /// Hard compaction with Zeph's `CompactionState` contract: skipped when compacted this
    /// turn, cooling or exhausted; otherwise the context is re-selected to fit under the soft
    /// threshold (so the next turn does not compact again), pages left out are summarised
    /// (by the LLM when one is given and its summary passes validation, else by a
    /// deterministic digest), and the state becomes `CompactedThisTurn{cooldown}`, or
    /// `Exhausted{warned: false}` when nothing could be brought below the hard threshold.
    /// Never orphans a pair: pages are left out with both halves.
    ///
    /// # Errors
    /// [`AdapterError`] when paging or selection fails (the state is left unchanged).
    pub async fn hard_compact(
        &mut self,
        messages: &[Message],
        manager: &mut ContextManager,
        summarizer: Option<&LlmSummarizer>,
        now_ts: i64,
    ) -> Result<(HardOutcome, Assembled), AdapterError> {
        let state = manager.compaction_state();
        let max = manager
            .budget
            .as_ref()
            .map_or(usize::MAX, |b| b.max_tokens());
        if state == (CompactionState::Exhausted { warned: false }) {
            // Zeph warns once, then stays silent: the warning is latched in the state.
            manager.set_compaction_state(CompactionState::Exhausted { warned: true });
        }
        if !matches!(state, CompactionState::Ready) {
            let a = self.assemble(messages, max, now_ts)?;
            return Ok((HardOutcome::Skipped(state), a));
        }
        let history = self.pager.page(messages)?;
        let before = self.tokens().context(messages);
        let target = clamp_budget(max, manager.soft_compaction_threshold);
        let hard = clamp_budget(max, manager.hard_compaction_threshold);
        let previous = self.summary.take();
        let mut a = self.assemble_paged(messages, &history, target, now_ts)?;
        let left_out: Vec<usize> = a
            .selection
            .levels
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_none())
            .map(|(i, _)| i)
            .collect();
        let mut source = SummarySource::None;
        if !left_out.is_empty() {
            let digest = deterministic_digest(&history, &left_out);
            let mut text = digest.clone();
            source = SummarySource::Deterministic;
            if let Some(s) = summarizer {
                let dropped = left_out_messages(messages, &history, &left_out);
                match llm_summary(
                    s,
                    &dropped,
                    &history,
                    &left_out,
                    self.tokens(),
                    &self.config,
                )
                .await
                {
                    Some(t) => {
                        text = t;
                        source = SummarySource::Llm;
                    }
                    None => text = digest,
                }
            }
            self.summary = Some(text);
            // Re-assemble with the summary's tokens reserved; if the LLM's summary does not
            // fit, the digest is tried, then no summary (the budget is never exceeded).
            let mut again = self.assemble_paged(messages, &history, target, now_ts)?;
            if again.tokens > target && source == SummarySource::Llm {
                self.summary = Some(deterministic_digest(&history, &left_out));
                source = SummarySource::Deterministic;
                again = self.assemble_paged(messages, &history, target, now_ts)?;
            }
            if again.tokens > target {
                self.summary = previous;
                source = SummarySource::None;
                again = self.assemble_paged(messages, &history, target, now_ts)?;
            }
            a = again;
        } else {
            self.summary = previous;
        }
        self.record_caps(&history, &a.selection, self.full_from(messages));
        let after = a.tokens;
        if after >= before || after > hard {
            manager.set_compaction_state(CompactionState::Exhausted { warned: false });
            return Ok((HardOutcome::Exhausted, a));
        }
        manager.set_compaction_state(CompactionState::CompactedThisTurn {
            cooldown: manager.compaction_cooldown_turns(),
        });
        manager.set_turns_since_last_hard_compaction(Some(0));
        Ok((
            HardOutcome::Compacted {
                before,
                after,
                summary: source,
            },
            a,
        ))
    }
}

/// Re-selections an assembly makes at most to fit the page directory (each with a larger
/// reserve). Directories seen on the recorded traces settle within four.
const DIRECTORY_ROUNDS: usize = 8;

/// Bisection steps for the largest directory reserve that costs no required page.
const DIRECTORY_BISECTIONS: usize = 6;
