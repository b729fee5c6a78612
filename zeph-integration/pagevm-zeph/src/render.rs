//! Rendering a paged history back to `Vec<Message>` at chosen levels: tool pairs adjacent and
//! whole, thinking blocks verbatim, metadata (`db_id`, visibility, deferred summary) carried.

use page_core::Repr;
use zeph_llm::provider::{Message, MessagePart};

use crate::convert::UnitKind;
use crate::flatten_orphan;
use crate::pages::PagedHistory;

/// Renders `history` (paged from `messages`) with page `i` at `levels[i]` (`None`: not
/// rendered). `now_ts` stamps `compacted_at` on degraded legacy tool outputs.
///
/// Guarantees, whatever the levels: a tool use and its result are both rendered or both left
/// out, in their original messages and order; orphaned tool parts of the input are rendered as
/// text; a message whose parts are all left out is left out; thinking blocks are never edited.
#[must_use]
pub fn render(
    messages: &[Message],
    history: &PagedHistory,
    levels: &[Option<Repr>],
    now_ts: i64,
) -> Vec<Message> {
    let s = &history.structure;
    // Pages of each unit, in call order.
    let mut unit_pages: Vec<Vec<usize>> = vec![Vec::new(); s.units.len()];
    for (p, page) in history.pages.iter().enumerate() {
        if let Some(v) = unit_pages.get_mut(page.unit) {
            v.push(p);
        }
    }
    let level = |p: usize| levels.get(p).copied().flatten();
    let mut out = Vec::with_capacity(messages.len());
    for (u, unit) in s.units.iter().enumerate() {
        match unit.kind {
            UnitKind::Bootstrap | UnitKind::Verbatim(_) => {
                out.extend(unit.messages.iter().map(|&m| messages[m].clone()));
            }
            UnitKind::Turn | UnitKind::Memory(_) => {
                let i = unit.messages[0];
                let Some(&p) = unit_pages[u].first() else {
                    continue;
                };
                let Some(lv) = level(p) else { continue };
                let msg = &messages[i];
                let mut m = msg.clone();
                if lv == Repr::Full {
                    for (k, part) in m.parts.iter_mut().enumerate() {
                        if s.is_orphan(i, k)
                            && let Some(text) = flatten_orphan(part)
                        {
                            *part = MessagePart::Text { text };
                        }
                    }
                    m.rebuild_content();
                    out.push(m);
                    continue;
                }
                let text = history.pages[p].text(lv).unwrap_or_default().to_owned();
                if msg.parts.is_empty() {
                    m.content = text;
                    out.push(m);
                    continue;
                }
                // The page's text takes the place of the first text-like part (or orphan); the
                // other parts (thinking blocks, images) stay where they were, verbatim.
                let mut parts = Vec::with_capacity(msg.parts.len());
                let mut placed = false;
                for (k, part) in msg.parts.iter().enumerate() {
                    let textual = s.is_orphan(i, k) || part.as_plain_text().is_some();
                    if !textual {
                        parts.push(part.clone());
                    } else if !placed {
                        placed = true;
                        parts.push(same_kind(part, text.clone()));
                    }
                }
                m.parts = parts;
                m.rebuild_content();
                out.push(m);
            }
            UnitKind::ToolOutput => {
                let i = unit.messages[0];
                let msg = &messages[i];
                let pages = &unit_pages[u];
                let mut m = msg.clone();
                let mut parts = Vec::with_capacity(msg.parts.len());
                let mut c = 0usize;
                let first_resident = pages.first().and_then(|&p| level(p)).is_some();
                for part in &msg.parts {
                    match part {
                        MessagePart::ToolOutput {
                            tool_name,
                            body,
                            compacted_at,
                        } => {
                            let p = pages.get(c).copied();
                            c += 1;
                            match p.and_then(|p| level(p).map(|l| (p, l))) {
                                None => {}
                                Some((_, Repr::Full)) => parts.push(part.clone()),
                                Some((p, lv)) => parts.push(MessagePart::ToolOutput {
                                    tool_name: tool_name.clone(),
                                    body: history.pages[p]
                                        .text(lv)
                                        .map_or_else(|| body.clone(), str::to_owned),
                                    compacted_at: compacted_at.or(Some(now_ts)),
                                }),
                            }
                        }
                        _ if first_resident => parts.push(part.clone()),
                        _ => {}
                    }
                }
                if !parts.is_empty() {
                    m.parts = parts;
                    m.rebuild_content();
                    out.push(m);
                }
            }
            UnitKind::ToolGroup => {
                let pages = &unit_pages[u];
                for &i in &unit.messages {
                    let msg = &messages[i];
                    // The call whose level decides this message's other parts.
                    let owner = unit
                        .calls
                        .iter()
                        .position(|c| c.use_at.0 == i)
                        .or_else(|| unit.calls.iter().position(|c| c.result_at.0 == i));
                    let owner_resident = owner
                        .and_then(|c| pages.get(c))
                        .and_then(|&p| level(p))
                        .is_some();
                    let mut parts = Vec::with_capacity(msg.parts.len());
                    for (k, part) in msg.parts.iter().enumerate() {
                        let as_use = unit.calls.iter().position(|c| c.use_at == (i, k));
                        let as_result = unit.calls.iter().position(|c| c.result_at == (i, k));
                        match (as_use, as_result) {
                            (Some(c), _) => {
                                if pages.get(c).and_then(|&p| level(p)).is_some() {
                                    parts.push(part.clone());
                                }
                            }
                            (None, Some(c)) => {
                                let Some(&p) = pages.get(c) else { continue };
                                match level(p) {
                                    None => {}
                                    Some(Repr::Full) => parts.push(part.clone()),
                                    Some(lv) => {
                                        if let MessagePart::ToolResult {
                                            tool_use_id,
                                            is_error,
                                            ..
                                        } = part
                                        {
                                            parts.push(MessagePart::ToolResult {
                                                tool_use_id: tool_use_id.clone(),
                                                content: history.pages[p]
                                                    .text(lv)
                                                    .unwrap_or_default()
                                                    .to_owned(),
                                                is_error: *is_error,
                                            });
                                        }
                                    }
                                }
                            }
                            (None, None) if owner_resident => {
                                if s.is_orphan(i, k) {
                                    if let Some(text) = flatten_orphan(part) {
                                        parts.push(MessagePart::Text { text });
                                    }
                                } else {
                                    parts.push(part.clone());
                                }
                            }
                            (None, None) => {}
                        }
                    }
                    if !parts.is_empty() {
                        let mut m = msg.clone();
                        m.parts = parts;
                        m.rebuild_content();
                        out.push(m);
                    }
                }
            }
        }
    }
    out
}

/// A text-like part of the same kind as `part` holding `text` (a `Recall` stays a `Recall`, so
/// Zeph's per-source handling still applies); anything else becomes `Text`.
fn same_kind(part: &MessagePart, text: String) -> MessagePart {
    match part {
        MessagePart::Recall { .. } => MessagePart::Recall { text },
        MessagePart::CodeContext { .. } => MessagePart::CodeContext { text },
        MessagePart::Summary { .. } => MessagePart::Summary { text },
        MessagePart::CrossSession { .. } => MessagePart::CrossSession { text },
        _ => MessagePart::Text { text },
    }
}
