//! How Zeph's messages become the engine's pages: which units are paged, the page id of each
//! message (Zeph's row id, else a provisional id from its content), and the hooks each unit
//! goes through; and the content keys that find a unit again in the next request's history.

use std::collections::HashMap;

use page_core::{ContentDigest, PageId, TokenCount, TokenCounter as _, ToolCallId};
use page_engine::{HarnessPage, ModelOutput, ToolCallRequest, ToolOutput};
use page_writeback::Store;
use pagevm_migrate::ids;
use zeph_llm::provider::{Message, Role};

use crate::convert::{Structure, Unit, UnitKind};
use crate::pages::{call_source, non_tool_text, non_tool_tokens, role_word, turn_source};
use crate::{AdapterError, READ_PAGE};

use super::{PagedSession, UnitSlot};

impl<S: Store> PagedSession<S> {
    /// Whether unit `u` becomes pages (otherwise it is sent as it is).
    pub(super) fn paged(&self, messages: &[Message], s: &Structure, u: usize) -> bool {
        let unit = &s.units[u];
        match unit.kind {
            UnitKind::ToolGroup => true,
            UnitKind::Turn => {
                let i = unit.messages[0];
                !turn_source(&messages[i], i, s, &self.tokens)
                    .0
                    .trim()
                    .is_empty()
            }
            UnitKind::Bootstrap
            | UnitKind::Verbatim(_)
            | UnitKind::Memory(_)
            | UnitKind::ToolOutput => false,
        }
    }

    /// The page id of message `i`'s text: from its `messages.id`, else provisional.
    pub(super) fn message_page(&self, messages: &[Message], i: usize) -> String {
        match messages[i].metadata.db_id {
            Some(db) => ids::message_page(self.conversation, db),
            None => self.provisional_page(i),
        }
    }

    fn provisional_page(&self, i: usize) -> String {
        let (digest, occurrence) = self.message_keys[i];
        ids::provisional_message_page(self.conversation, &digest.to_hex()[..12], occurrence)
    }

    /// The page message `i`'s text is ingested under: [`message_page`](Self::message_page),
    /// unless the store holds only its provisional page (an earlier process paged it before
    /// Zeph numbered it): then that page, which the engine adopts instead of paging the
    /// message a second time.
    pub(super) fn ingest_page(
        &self,
        messages: &[Message],
        i: usize,
    ) -> Result<String, AdapterError> {
        let page = self.message_page(messages, i);
        if messages[i].metadata.db_id.is_none() || self.engine.holds(&PageId::new(&page)?)? {
            return Ok(page);
        }
        let provisional = self.provisional_page(i);
        Ok(if self.engine.holds(&PageId::new(&provisional)?)? {
            provisional
        } else {
            page
        })
    }

    /// Ingests unit `u` through the engine's hooks; returns the page of each slot.
    pub(super) fn ingest(
        &mut self,
        messages: &[Message],
        s: &Structure,
        u: usize,
    ) -> Result<Vec<(UnitSlot, PageId)>, AdapterError> {
        let unit = &s.units[u];
        let mut slots = Vec::new();
        if unit.kind == UnitKind::Turn {
            let i = unit.messages[0];
            let msg = &messages[i];
            let (text, frame) = turn_source(msg, i, s, &self.tokens);
            // Zeph counts a message part by part; the page's text joins them.
            let zeph_text = self.tokens.message(msg).saturating_sub(frame);
            let page =
                self.harness_page(&self.ingest_page(messages, i)?, frame, zeph_text, &text)?;
            let id = self.text_page(msg.role, page, &text)?;
            slots.push((UnitSlot::Text(0), id));
            return Ok(slots);
        }
        self.ingest_group(messages, s, unit, &mut slots)?;
        Ok(slots)
    }

    /// A tool group, message by message: results answering an earlier message first (they
    /// complete its calls), then the message's own text and calls, then results in the same
    /// message.
    fn ingest_group(
        &mut self,
        messages: &[Message],
        s: &Structure,
        unit: &Unit,
        slots: &mut Vec<(UnitSlot, PageId)>,
    ) -> Result<(), AdapterError> {
        for (n, &m) in unit.messages.iter().enumerate() {
            for (c, call) in unit.calls.iter().enumerate() {
                if call.result_at.0 == m && call.use_at.0 != m {
                    self.result(messages, s, unit, c)?;
                }
            }
            let msg = &messages[m];
            let text = non_tool_text(msg, m, s);
            let text_page = if text.trim().is_empty() {
                None
            } else {
                let (zeph_text, _) = non_tool_tokens(&self.tokens, msg, m, s);
                let id = self.ingest_page(messages, m)?;
                Some(self.harness_page(&id, 0, zeph_text, &text)?)
            };
            let own: Vec<usize> = (0..unit.calls.len())
                .filter(|&c| unit.calls[c].use_at.0 == m)
                .collect();
            if own.is_empty() {
                if let Some(page) = text_page {
                    slots.push((UnitSlot::Text(n), self.text_page(msg.role, page, &text)?));
                }
                continue;
            }
            let base = self.ingest_page(messages, m)?;
            let mut calls = Vec::with_capacity(own.len());
            for (k, &c) in own.iter().enumerate() {
                let call = &unit.calls[c];
                let source = call_source(unit, c, messages, s, &self.tokens).ok_or_else(|| {
                    AdapterError::Structure(format!("call {} of message {m}", call.id))
                })?;
                let id = PageId::new(ids::tool_page_of(&base, k))?;
                let call_id = if call.id.is_empty() {
                    id.as_str()
                } else {
                    &call.id
                };
                calls.push(ToolCallRequest {
                    call_id: ToolCallId::new(call_id)?,
                    tool: call.name.clone(),
                    args_json: source.args,
                    page: Some(HarnessPage {
                        id: id.clone(),
                        frame: token_count(source.frame),
                    }),
                });
                slots.push((UnitSlot::Call(c), id));
            }
            if let Some(page) = &text_page {
                slots.push((UnitSlot::Text(n), page.id.clone()));
            }
            self.engine.post_model(ModelOutput {
                text: text_page.as_ref().map(|_| text.clone()),
                page: text_page,
                tool_calls: calls,
                ..ModelOutput::default()
            })?;
            for c in own {
                if unit.calls[c].result_at.0 == m {
                    self.result(messages, s, unit, c)?;
                }
            }
        }
        Ok(())
    }

    /// Records the result of call `c` of `unit`.
    fn result(
        &mut self,
        messages: &[Message],
        s: &Structure,
        unit: &Unit,
        c: usize,
    ) -> Result<(), AdapterError> {
        let call = &unit.calls[c];
        let source = call_source(unit, c, messages, s, &self.tokens)
            .ok_or_else(|| AdapterError::Structure(format!("call {}", call.id)))?;
        let base = self.ingest_page(messages, call.use_at.0)?;
        let k = unit.calls[..c]
            .iter()
            .filter(|x| x.use_at.0 == call.use_at.0)
            .count();
        let id = ids::tool_page_of(&base, k);
        let call_id = ToolCallId::new(if call.id.is_empty() { &id } else { &call.id })?;
        let page = self.engine.tool_after(
            &call_id,
            &ToolOutput {
                output: source.content.to_owned(),
                is_error: source.is_error,
                exit_code: None,
            },
        )?;
        if call.name == READ_PAGE && !source.is_error {
            // The model asked for this page's text: it arrives whole if the budget allows,
            // whatever share of it the text takes.
            self.engine.demand_page_in(&page)?;
        }
        Ok(())
    }

    /// A named page whose frame also covers what Zeph's per-part count of `text` adds over
    /// the engine's count of it (`zeph_text`), so the budget the engine keeps is never below
    /// Zeph's count of the rendered prompt.
    fn harness_page(
        &self,
        id: &str,
        frame: usize,
        zeph_text: usize,
        text: &str,
    ) -> Result<HarnessPage, AdapterError> {
        let engine_text = self.tokens.count(text).get() as usize;
        Ok(HarnessPage {
            id: PageId::new(id)?,
            frame: token_count(frame + zeph_text.saturating_sub(engine_text)),
        })
    }

    /// A text page of `role`: a user message, or an assistant's output.
    fn text_page(
        &mut self,
        role: Role,
        page: HarnessPage,
        text: &str,
    ) -> Result<PageId, AdapterError> {
        let id = page.id.clone();
        if role == Role::Assistant {
            self.engine.post_model(ModelOutput {
                text: Some(text.to_owned()),
                page: Some(page),
                ..ModelOutput::default()
            })?;
        } else {
            self.engine.user_message_as(page, text)?;
        }
        Ok(id)
    }
}

pub(super) fn token_count(n: usize) -> TokenCount {
    TokenCount::new(u32::try_from(n).unwrap_or(u32::MAX))
}

/// A digest of a message's role, content and parts (not its metadata: a `db_id` Zeph assigns
/// later does not make it another message).
fn message_digest(msg: &Message) -> ContentDigest {
    let parts = serde_json::to_string(&msg.parts).unwrap_or_default();
    let role = role_word(msg.role);
    ContentDigest::of(format!("{role}\u{0}{}\u{0}{parts}", msg.content).as_bytes())
}

/// Each message's digest and its occurrence among the messages before it.
pub(super) fn message_keys(messages: &[Message]) -> Vec<(ContentDigest, usize)> {
    let mut seen: HashMap<ContentDigest, usize> = HashMap::new();
    messages
        .iter()
        .map(|m| {
            let digest = message_digest(m);
            let n = seen.entry(digest).or_insert(0);
            let key = (digest, *n);
            *n += 1;
            key
        })
        .collect()
}

/// The key of each unit: the digest of its messages and how many units before it have the
/// same digest, so two identical turns ("ok", "ok") are two units.
pub(super) fn unit_keys(
    message_keys: &[(ContentDigest, usize)],
    s: &Structure,
) -> Vec<(ContentDigest, usize)> {
    let mut seen: HashMap<ContentDigest, usize> = HashMap::new();
    s.units
        .iter()
        .map(|unit| {
            let joined: Vec<String> = unit
                .messages
                .iter()
                .map(|&m| message_keys[m].0.to_hex())
                .collect();
            let digest = ContentDigest::of(joined.join(",").as_bytes());
            let n = seen.entry(digest).or_insert(0);
            let key = (digest, *n);
            *n += 1;
            key
        })
        .collect()
}
