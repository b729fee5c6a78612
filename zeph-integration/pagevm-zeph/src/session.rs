//! `PagedSession`: a Zeph conversation paged by page-engine's lifecycle engine, so every
//! message and tool result becomes a durable, audited page under the id Zeph's own rows give
//! it, and every request is the engine's prompt rendered back onto Zeph's messages.

use std::collections::HashMap;

use page_core::{CompactionKind, ContentDigest, PageId, Repr, SessionId, ToolCallId};
use page_engine::{Assembly, Engine, EngineConfig};
use page_writeback::{BoundaryReport, PrincipalId, ReprChange, Store};
use pagevm_migrate::ids;
use zeph_llm::provider::{Message, Role};

use crate::AdapterError;
use crate::convert::{Diagnostic, UnitKind, structure};
use crate::fixed::{FixedParts, GiveWay, Pressure};
use crate::render::render_view;
use crate::tokens::ZephTokens;

use self::ingest::{message_keys, token_count, unit_keys};
use self::view::EngineView;

mod ingest;
mod view;

/// How a session is set up.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Zeph's `conversation_id`: the session is `zeph-conversation-<id>` and its pages are
    /// named `zeph-c<id>-…`, as `pagevm migrate` names them.
    pub conversation: i64,
    /// The engine's knobs (policy, builders); its session is always the conversation's.
    pub engine: EngineConfig,
}

impl SessionConfig {
    /// The engine's defaults for conversation `conversation`, written by principal `zeph`.
    ///
    /// # Errors
    /// [`AdapterError::Id`] never in practice: the ids are formed from an integer.
    pub fn new(conversation: i64) -> Result<Self, AdapterError> {
        Ok(Self {
            conversation,
            engine: EngineConfig::new(
                SessionId::new(ids::session(conversation))?,
                PrincipalId::new("zeph")?,
            ),
        })
    }
}

/// A prompt assembled for one request.
#[derive(Debug, Clone)]
pub struct SessionPrompt {
    /// The messages to send, in Zeph's order.
    pub messages: Vec<Message>,
    /// Their Zeph-counted tokens (agent-visible messages); never above the budget.
    pub tokens: usize,
    /// Tokens of what is sent as it is, outside the engine's budget: the system prompt,
    /// verbatim messages, memory excerpts, legacy tool output and turns without text.
    pub fixed_tokens: usize,
    /// What of those gave way so that the request fits (empty when they fit as they are), in
    /// the order of [`GiveWay`].
    pub pressure: Vec<Pressure>,
    /// The engine's prompt behind them: every page placed, its level, faults, unmet demands.
    pub assembly: Assembly,
    /// Orphaned tool parts of the input (rendered as text).
    pub diagnostics: Vec<Diagnostic>,
}

/// A slot of a unit, relative to the unit: the text of its `n`-th message, or call `c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum UnitSlot {
    Text(usize),
    Call(usize),
}

/// A Zeph conversation on the engine.
///
/// Zeph keeps its history; each [`assemble`](Self::assemble) ingests the units that are new
/// since the previous request through the engine's hooks (a user turn as
/// `user_message_as`, an assistant turn and each tool-using message as `post_model`, each
/// result as `tool_after`), under ids from Zeph's `messages.id` (`zeph-c<c>-m<id>`, its calls
/// `-t<k>`), so a restart or a migrated session adopts the pages the store holds instead of
/// building them again. A message without an id (Zeph numbers a text message after the
/// request that carries it) gets a provisional id by content; should Zeph number it later, the
/// session keeps the page it has (units are known by content, not by id), and a restarted
/// session, whose reloaded history is numbered, adopts the stored provisional page of a
/// message whose numbered page the store does not hold, so nothing is paged twice.
///
/// Zeph's budget hint, which ends the system prompt and changes at every request, is sent at
/// the end of the newest message instead, so that it does not re-bill the whole prompt.
///
/// What is not a page is sent as it is and counted outside the engine's budget: the system
/// prompt, pinned and hidden messages, server compaction blocks, memory excerpts Zeph injects
/// (they change every turn and Zeph re-derives them), legacy text-tool output and turns
/// without text. When those alone leave no room for the newest request, they give way in a
/// fixed order (see [`GiveWay`]), so no request is ever above the budget.
pub struct PagedSession<S> {
    engine: Engine<S, ZephTokens>,
    tokens: ZephTokens,
    conversation: i64,
    /// The units already ingested, by content and occurrence, with the page of each slot.
    known: HashMap<(ContentDigest, usize), Vec<(UnitSlot, PageId)>>,
    /// The unit ingested under each first message's page id: a unit Zeph rewrote in place
    /// (tool-output pruning, microcompact) is found by it and keeps its pages.
    by_first_message: HashMap<String, (ContentDigest, usize)>,
    /// Each message of the history being assembled: its content digest and how many earlier
    /// messages have the same one (what a provisional page id is made of).
    message_keys: Vec<(ContentDigest, usize)>,
    /// Whether a prompt was assembled yet: the first request catches up on the history.
    started: bool,
    /// The parts sent as they are that gave way for the previous request, by message page:
    /// how they were sent (level, tokens), so the audit records changes, not every request.
    gave_way: HashMap<PageId, (Repr, usize, GiveWay)>,
}

impl<S> std::fmt::Debug for PagedSession<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagedSession")
            .field("conversation", &self.conversation)
            .field("known_units", &self.known.len())
            .finish_non_exhaustive()
    }
}

impl<S: Store> PagedSession<S> {
    /// Starts the session of `config.conversation` on `store`, counting with `tokens`.
    ///
    /// # Errors
    /// [`AdapterError::Engine`] when the engine cannot start.
    pub fn start(
        store: S,
        tokens: ZephTokens,
        config: SessionConfig,
    ) -> Result<Self, AdapterError> {
        let mut engine_config = config.engine;
        engine_config.session = SessionId::new(ids::session(config.conversation))?;
        Ok(Self {
            engine: Engine::session_start(store, tokens.clone(), engine_config)?,
            tokens,
            conversation: config.conversation,
            known: HashMap::new(),
            by_first_message: HashMap::new(),
            message_keys: Vec::new(),
            started: false,
            gave_way: HashMap::new(),
        })
    }

    /// Before Zeph runs tool call `call_id` (`tool` with JSON arguments `args_json`): the
    /// stored result that answers it instead, when it repeats a read-only call whose result
    /// the engine holds and nothing outside the read-only tools ran since (page-engine's
    /// rules, `EngineConfig::read_only_tools`; the decision is traced as
    /// `context.pagevm.tool_decision`). `None`: run the tool, then call
    /// [`after_tool`](Self::after_tool).
    ///
    /// # Errors
    /// [`AdapterError::Id`] for an empty call id, [`AdapterError::Engine`] for a malformed
    /// tool name or a store that cannot be read.
    pub fn before_tool(
        &self,
        call_id: &str,
        tool: &str,
        args_json: &str,
    ) -> Result<Option<String>, AdapterError> {
        let call_id = ToolCallId::new(call_id)?;
        Ok(self
            .engine
            .stored_result(&call_id, tool, args_json)?
            .map(|(_, text)| text))
    }

    /// After Zeph ran a tool (one [`before_tool`](Self::before_tool) did not answer): the
    /// engine sees its result with the next request, but a tool outside the read-only set may
    /// already have changed what earlier reads returned, so none is served until then.
    pub fn after_tool(&mut self, tool: &str) {
        self.engine.tool_ran(tool);
    }

    /// The engine (for `read_page`, faults and the page table).
    #[must_use]
    pub fn engine(&self) -> &Engine<S, ZephTokens> {
        &self.engine
    }

    /// The prompt for a request over Zeph's whole history `messages`, within `budget`
    /// Zeph-counted tokens. `now_ts` (Unix seconds) stamps new pages and degraded legacy
    /// output.
    ///
    /// What is sent as it is comes off the budget first; when it leaves less than the newest
    /// request's tokens (or more than the budget), it gives way in [`GiveWay`]'s order, each
    /// part that gave way an audit row (reason: the step's code) and a
    /// [`SessionPrompt::pressure`] entry.
    ///
    /// # Errors
    /// [`AdapterError::Engine`] when ingest or the turn boundary fails (a failed commit is
    /// `FlushMiss`: nothing is dropped, the next request retries);
    /// [`AdapterError::OverBudget`] if the rendered prompt counts above the budget (the
    /// engine's counts and Zeph's disagree: a bug, reported rather than sent).
    pub fn assemble(
        &mut self,
        messages: &[Message],
        budget: usize,
        now_ts: i64,
    ) -> Result<SessionPrompt, AdapterError> {
        self.engine.set_now_ms(now_ts.saturating_mul(1000));
        let s = structure(messages);
        self.message_keys = message_keys(messages);
        let keys = unit_keys(&self.message_keys, &s);
        let mut fixed = FixedParts::new(
            messages,
            &s,
            (0..s.units.len())
                .filter(|&u| !self.paged(messages, &s, u))
                .collect(),
            &self.tokens,
        );
        let new: Vec<usize> = (0..s.units.len())
            .filter(|u| !fixed.contains(*u) && !self.known.contains_key(&keys[*u]))
            .collect();
        let catching_up = !self.started && new.len() > 1;
        for (n, &u) in new.iter().enumerate() {
            // A history seen for the first time demands only its newest unit, not its past.
            if catching_up && n + 1 == new.len() {
                self.engine.settle_demands();
            }
            let first = self.ingest_page(messages, s.units[u].messages[0])?;
            let held = self
                .by_first_message
                .get(&first)
                .and_then(|key| self.known.get(key))
                .cloned();
            if let Some(slots) = held {
                // Zeph rewrote a message of a unit the session holds (its tool-output pruning
                // or microcompact shortened a result): the unit keeps its pages, whose full
                // text the store holds, instead of being paged a second time.
                tracing::event!(
                    name: "context.pagevm.zeph_rewrite",
                    tracing::Level::DEBUG,
                    session = %ids::session(self.conversation),
                    page = %first,
                );
                self.known.insert(keys[u], slots);
                continue;
            }
            let slots = self.ingest(messages, &s, u)?;
            self.by_first_message.insert(first, keys[u]);
            self.known.insert(keys[u], slots);
        }
        self.started = true;
        // The request being answered stays in full, however many results came after it.
        let newest_request = (0..s.units.len()).rev().find(|&u| {
            s.units[u].kind == UnitKind::Turn
                && !fixed.contains(u)
                && messages[s.units[u].messages[0]].role == Role::User
        });
        let mut reserve = 0;
        if let Some(u) = newest_request
            && let Some(slots) = self.known.get(&keys[u])
        {
            for (_, page) in slots {
                self.engine.demand(page, Repr::Full)?;
            }
            // Room for it comes before what is sent as it is, unless it cannot be whole
            // anyway.
            reserve = self.tokens.message(&messages[s.units[u].messages[0]]);
            if reserve > budget {
                reserve = 0;
            }
        }
        fixed.fit(messages, &s, budget - reserve, &self.tokens);
        self.audit_pressure(messages, fixed.pressure())?;
        let fixed_tokens = fixed.tokens();
        let page_budget = budget.saturating_sub(fixed_tokens);
        let assembly = self.engine.prompt_assemble(token_count(page_budget))?;
        let view = EngineView::new(&s, &keys, &self.known, &fixed, &assembly);
        // The directory and the hint at the tail, each left out in turn (the directory first)
        // where Zeph's count of them there, which may differ from the engine's count of the
        // directory alone by a token at a seam, is over the budget.
        let directory = assembly.directory.as_ref().map(|d| d.text.as_str());
        let mut out = Vec::new();
        let mut tokens = 0;
        for (with_directory, with_hint) in [(true, true), (false, true), (false, false)] {
            out = render_view(messages, &s, &view, now_ts);
            let mut moved = false;
            if with_directory && let Some(d) = directory {
                moved |= crate::volatile::directory_to_tail(&mut out, d);
            }
            if with_hint {
                moved |= crate::volatile::hint_to_tail(&mut out);
            }
            tokens = self.tokens.context(&out);
            if !moved || tokens <= budget {
                break;
            }
        }
        tracing::event!(
            name: "context.pagevm.session_assemble",
            tracing::Level::DEBUG,
            session = %ids::session(self.conversation),
            messages = messages.len(),
            new_units = new.len(),
            budget,
            fixed_tokens,
            gave_way = fixed.pressure().len(),
            tokens,
            pages = assembly.placed.len(),
            unmet = assembly.unmet.len(),
        );
        if tokens > budget {
            return Err(AdapterError::OverBudget { tokens, budget });
        }
        Ok(SessionPrompt {
            messages: out,
            tokens,
            fixed_tokens,
            pressure: fixed.pressure().to_vec(),
            assembly,
            diagnostics: s.diagnostics,
        })
    }

    /// Records in the engine's audit each part sent as it is whose showing changed since the
    /// previous request: one that gave way (its step's code), or one back as it is (`raised`).
    fn audit_pressure(
        &mut self,
        messages: &[Message],
        pressure: &[Pressure],
    ) -> Result<(), AdapterError> {
        let mut now = HashMap::new();
        for p in pressure {
            let page = PageId::new(self.message_page(messages, p.message))?;
            let to = match (p.reason, p.tokens_after) {
                (_, 0) => Repr::None,
                // A cut system prompt is a lossy form of it, as a compressed one is.
                _ => Repr::Compressed,
            };
            let shown = (to, p.tokens_after, p.reason);
            now.insert(page.clone(), shown);
            if self.gave_way.get(&page) == Some(&shown) {
                continue;
            }
            self.engine.record_level_change(ReprChange {
                page,
                page_type: p.reason.page_type(),
                from: Repr::Full,
                to,
                tokens_before: token_count(p.tokens_before),
                tokens_after: token_count(p.tokens_after),
                full_tokens: token_count(p.tokens_before),
                reason: p.reason.code().to_owned(),
            });
        }
        let back: Vec<(PageId, (Repr, usize, GiveWay))> = self
            .gave_way
            .iter()
            .filter(|(page, _)| !now.contains_key(*page))
            .map(|(page, shown)| (page.clone(), *shown))
            .collect();
        for (page, (from, tokens_after, reason)) in back {
            let Some(i) =
                (0..messages.len()).find(|&i| self.message_page(messages, i) == page.as_str())
            else {
                // The message itself is gone from Zeph's history: nothing is back.
                continue;
            };
            let full = self.tokens.message(&messages[i]);
            self.engine.record_level_change(ReprChange {
                page,
                page_type: reason.page_type(),
                from,
                to: Repr::Full,
                tokens_before: token_count(tokens_after),
                tokens_after: token_count(full),
                full_tokens: token_count(full),
                reason: "raised".to_owned(),
            });
        }
        self.gave_way = now;
        Ok(())
    }

    /// A Zeph compaction event: a write barrier, then the engine's cooling of `kind`.
    ///
    /// # Errors
    /// [`AdapterError::Engine`] (`FlushMiss`: nothing is dropped).
    pub fn compaction(&mut self, kind: CompactionKind) -> Result<BoundaryReport, AdapterError> {
        Ok(self.engine.compaction(kind)?)
    }

    /// The end of the session: the last write barrier. Returns the store.
    ///
    /// # Errors
    /// [`AdapterError::Engine`] when the commit fails; the session is given back with it so
    /// nothing is lost.
    pub fn end(self) -> Result<(BoundaryReport, S), Box<(AdapterError, Self)>> {
        let Self {
            engine,
            tokens,
            conversation,
            known,
            by_first_message,
            message_keys,
            started,
            gave_way,
        } = self;
        engine.session_end().map_err(|e| {
            let (error, engine) = *e;
            Box::new((
                AdapterError::Engine(error),
                Self {
                    engine,
                    tokens,
                    conversation,
                    known,
                    by_first_message,
                    message_keys,
                    started,
                    gave_way,
                },
            ))
        })
    }
}
