//! Rendering a paged history back to `Vec<Message>` at chosen levels: tool pairs adjacent and
//! whole, thinking blocks verbatim, metadata (`db_id`, visibility, deferred summary) carried.

use page_core::Repr;
use zeph_llm::provider::{Message, MessagePart};

use crate::convert::{Structure, UnitKind};
use crate::flatten_orphan;
use crate::pages::PagedHistory;

/// Where a page sits in a unit of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Slot {
    /// The text of message `m`: a turn's or memory excerpt's page, or the text parts of a
    /// tool group's message.
    Text(usize),
    /// Call `c` of a tool group, or legacy tool output part `c`.
    Call(usize),
}

/// What the pages of a history show: the renderer asks, a paged view answers.
pub(crate) trait View {
    /// The level of the page of `unit` at `slot` and its text at that level; `None` when it
    /// is left out. At `Full` the text is not read: the message's own parts are shown.
    fn shown(&self, unit: usize, slot: Slot) -> Option<(Repr, &str)>;
}

/// A [`PagedHistory`] with page `i` at `levels[i]`.
struct Levels<'a> {
    history: &'a PagedHistory,
    levels: &'a [Option<Repr>],
    /// Pages of each unit, in call order.
    unit_pages: Vec<Vec<usize>>,
}

impl Levels<'_> {
    fn page(&self, unit: usize, n: usize) -> Option<(Repr, &str)> {
        let &p = self.unit_pages.get(unit)?.get(n)?;
        let level = self.levels.get(p).copied().flatten()?;
        Some((level, self.history.pages[p].text(level).unwrap_or_default()))
    }
}

impl View for Levels<'_> {
    fn shown(&self, unit: usize, slot: Slot) -> Option<(Repr, &str)> {
        let u = &self.history.structure.units[unit];
        match (u.kind, slot) {
            // No page: always sent as it is.
            (UnitKind::Bootstrap | UnitKind::Verbatim(_), _) => Some((Repr::Full, "")),
            // A group message's text renders whole with the call that owns the message: the
            // first call used in it, else the first answered in it.
            (UnitKind::ToolGroup, Slot::Text(m)) => {
                let owner = u
                    .calls
                    .iter()
                    .position(|c| c.use_at.0 == m)
                    .or_else(|| u.calls.iter().position(|c| c.result_at.0 == m))?;
                self.page(unit, owner).map(|_| (Repr::Full, ""))
            }
            (_, Slot::Text(_)) => self.page(unit, 0),
            (_, Slot::Call(c)) => self.page(unit, c),
        }
    }
}

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
    let mut unit_pages: Vec<Vec<usize>> = vec![Vec::new(); history.structure.units.len()];
    for (p, page) in history.pages.iter().enumerate() {
        if let Some(v) = unit_pages.get_mut(page.unit) {
            v.push(p);
        }
    }
    let view = Levels {
        history,
        levels,
        unit_pages,
    };
    render_view(messages, &history.structure, &view, now_ts)
}

/// Renders `messages` (of structure `s`) as `view` shows their pages, with the guarantees of
/// [`render`].
pub(crate) fn render_view(
    messages: &[Message],
    s: &Structure,
    view: &impl View,
    now_ts: i64,
) -> Vec<Message> {
    let mut out = Vec::with_capacity(messages.len());
    for (u, unit) in s.units.iter().enumerate() {
        match unit.kind {
            UnitKind::Bootstrap | UnitKind::Verbatim(_) => {
                // As it is, byte for byte, unless it gave way (left out, or a system prompt cut).
                for &m in &unit.messages {
                    match view.shown(u, Slot::Text(m)) {
                        None => {}
                        Some((Repr::Full, _)) => out.push(messages[m].clone()),
                        shown => out.extend(text_message(&messages[m], m, s, shown)),
                    }
                }
            }
            UnitKind::Turn | UnitKind::Memory(_) => {
                let i = unit.messages[0];
                if let Some(m) = text_message(&messages[i], i, s, view.shown(u, Slot::Text(i))) {
                    out.push(m);
                }
            }
            UnitKind::ToolOutput => {
                let i = unit.messages[0];
                let msg = &messages[i];
                let mut parts = Vec::with_capacity(msg.parts.len());
                let mut c = 0usize;
                let first_resident = view.shown(u, Slot::Call(0)).is_some();
                for part in &msg.parts {
                    match part {
                        MessagePart::ToolOutput {
                            tool_name,
                            compacted_at,
                            ..
                        } => {
                            let shown = view.shown(u, Slot::Call(c));
                            c += 1;
                            match shown {
                                None => {}
                                Some((Repr::Full, _)) => parts.push(part.clone()),
                                Some((_, text)) => parts.push(MessagePart::ToolOutput {
                                    tool_name: tool_name.clone(),
                                    body: text.to_owned(),
                                    compacted_at: compacted_at.or(Some(now_ts)),
                                }),
                            }
                        }
                        _ if first_resident => parts.push(part.clone()),
                        _ => {}
                    }
                }
                if !parts.is_empty() {
                    let mut m = msg.clone();
                    m.parts = parts;
                    m.rebuild_content();
                    out.push(m);
                }
            }
            UnitKind::ToolGroup => {
                for &i in &unit.messages {
                    if let Some(m) = group_message(&messages[i], i, u, s, view) {
                        out.push(m);
                    }
                }
            }
        }
    }
    out
}

/// A turn or memory message with its text at `shown`: at full as it was (orphans as text),
/// below full with the page's text in place of its first text-like part; its other parts
/// (thinking blocks, images) stay where they were, verbatim.
pub(crate) fn text_message(
    msg: &Message,
    i: usize,
    s: &Structure,
    shown: Option<(Repr, &str)>,
) -> Option<Message> {
    let (level, text) = shown?;
    let mut m = msg.clone();
    if level == Repr::Full {
        for (k, part) in m.parts.iter_mut().enumerate() {
            if s.is_orphan(i, k)
                && let Some(text) = flatten_orphan(part)
            {
                *part = MessagePart::Text { text };
            }
        }
        m.rebuild_content();
        return Some(m);
    }
    if msg.parts.is_empty() {
        text.clone_into(&mut m.content);
        return Some(m);
    }
    let mut parts = Vec::with_capacity(msg.parts.len());
    let mut placed = false;
    for (k, part) in msg.parts.iter().enumerate() {
        let textual = s.is_orphan(i, k) || part.as_plain_text().is_some();
        if !textual {
            parts.push(part.clone());
        } else if !placed {
            placed = true;
            parts.push(same_kind(part, text.to_owned()));
        }
    }
    m.parts = parts;
    m.rebuild_content();
    Some(m)
}

/// Message `i` of tool group `u`: each call's use and result as its page is shown, the text
/// parts as the message's text page is shown, and its other parts (thinking blocks, images)
/// with the call that owns the message.
fn group_message(
    msg: &Message,
    i: usize,
    u: usize,
    s: &Structure,
    view: &impl View,
) -> Option<Message> {
    let unit = &s.units[u];
    let owner = unit
        .calls
        .iter()
        .position(|c| c.use_at.0 == i)
        .or_else(|| unit.calls.iter().position(|c| c.result_at.0 == i));
    let owner_resident = owner.and_then(|c| view.shown(u, Slot::Call(c))).is_some();
    let text = view.shown(u, Slot::Text(i));
    let mut text_placed = false;
    let mut parts = Vec::with_capacity(msg.parts.len());
    for (k, part) in msg.parts.iter().enumerate() {
        let as_use = unit.calls.iter().position(|c| c.use_at == (i, k));
        let as_result = unit.calls.iter().position(|c| c.result_at == (i, k));
        match (as_use, as_result) {
            (Some(c), _) => {
                if view.shown(u, Slot::Call(c)).is_some() {
                    parts.push(part.clone());
                }
            }
            (None, Some(c)) => match view.shown(u, Slot::Call(c)) {
                None => {}
                Some((Repr::Full, _)) => parts.push(part.clone()),
                Some((_, shown)) => {
                    if let MessagePart::ToolResult {
                        tool_use_id,
                        is_error,
                        ..
                    } = part
                    {
                        parts.push(MessagePart::ToolResult {
                            tool_use_id: tool_use_id.clone(),
                            content: shown.to_owned(),
                            is_error: *is_error,
                        });
                    }
                }
            },
            (None, None) if s.is_orphan(i, k) || part.as_plain_text().is_some() => match text {
                None => {}
                Some((Repr::Full, _)) => match flatten_orphan(part) {
                    Some(t) if s.is_orphan(i, k) => parts.push(MessagePart::Text { text: t }),
                    _ => parts.push(part.clone()),
                },
                Some((_, shown)) if !text_placed => {
                    text_placed = true;
                    parts.push(same_kind(part, shown.to_owned()));
                }
                Some(_) => {}
            },
            (None, None) if owner_resident => parts.push(part.clone()),
            (None, None) => {}
        }
    }
    if parts.is_empty() {
        return None;
    }
    let mut m = msg.clone();
    m.parts = parts;
    m.rebuild_content();
    Some(m)
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
