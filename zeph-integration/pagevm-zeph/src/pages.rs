//! Pages of a Zeph history: every level of every page built once at ingest by page-engine's
//! builders, with the exact Zeph-counted cost of rendering it at that level.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use page_core::{
    ContentDigest, PageId, PageType, PinClass, Provenance, Repr, Representation, ToolCallId,
};
use page_engine::{
    ConversationTurn, Ingested, PageSpecifics, RepresentationBuilder, Source, ToolResult,
};
use zeph_llm::provider::{Message, MessagePart, Role};

use crate::convert::{Structure, Unit, UnitKind, structure};
use crate::tokens::TOOL_RESULT_OVERHEAD;
use crate::tokens::ZephTokens;
use crate::{AdapterError, flatten_orphan};

/// One page of a history.
#[derive(Debug, Clone)]
pub struct ZephPage {
    /// Stable id: `u{unit}` or `u{unit}c{call}` (units are numbered by first message, so ids
    /// survive appending to the history).
    pub id: PageId,
    /// Evidence (tool results, legacy tool output, memory excerpts) or conversation.
    pub page_type: PageType,
    /// The unit it belongs to.
    pub unit: usize,
    /// For a tool group or legacy tool output: the call or part it covers.
    pub call: Option<usize>,
    /// Tool name (evidence) or memory label, for signatures and the fault observer.
    pub tool: Option<String>,
    /// Where it came from: the tool call, or the Zeph messages (by `db_id` when known).
    pub provenance: Provenance,
    /// Every level of the page's path.
    pub reprs: BTreeMap<Repr, Representation>,
    /// Its pin class (tool results are soft-pinned), from page-engine's ingest.
    pub pin: PinClass,
    /// Utility independent of recency and pins, from page-engine's ingest.
    pub base_utility: f64,
    /// What re-creating it costs, from page-engine's ingest.
    pub recompute_cost: f64,
    /// Tokens that render with the page at any level: a tool use part, a result's framing,
    /// the thinking blocks and images of a turn. Part of every level's cost.
    pub frame: usize,
    /// The last source message the page covers (its position, for recency).
    pub last_message: usize,
    /// What a later turn can cite the page by, scanned once when the page is built.
    pub specifics: PageSpecifics,
}

impl ZephPage {
    /// The page page-engine's ingest built, placed in the history: its unit and call, the
    /// tool (or memory label) it came from, its origin, its call's command and the text that
    /// renders with it (`framed`), its frame tokens and its last message.
    #[allow(clippy::too_many_arguments)]
    fn ingested(
        id: &PageId,
        page: Ingested,
        (unit, call): (usize, Option<usize>),
        tool: Option<String>,
        provenance: Provenance,
        (command, framed): (Option<String>, &str),
        frame: usize,
        last_message: usize,
    ) -> Self {
        Self {
            id: id.clone(),
            page_type: page.page_type,
            unit,
            call,
            tool,
            provenance,
            specifics: PageSpecifics::of(
                page.representations
                    .get(&Repr::Full)
                    .map_or("", Representation::content),
                command,
                framed,
            ),
            pin: page.pin.unwrap_or(page.page_type.defaults().default_pin()),
            base_utility: page.base_utility,
            recompute_cost: page.recompute_cost,
            reprs: page.representations,
            frame,
            last_message,
        }
    }

    /// Zeph-counted tokens of the page rendered at `level` (0 when not rendered).
    #[must_use]
    pub fn cost(&self, level: Option<Repr>) -> usize {
        match level.and_then(|l| self.reprs.get(&l)) {
            Some(r) => self.frame + r.tokens().get() as usize,
            None => 0,
        }
    }

    /// Text of the page at `level`.
    #[must_use]
    pub fn text(&self, level: Repr) -> Option<&str> {
        self.reprs.get(&level).map(Representation::content)
    }
}

/// A history with its structure and pages.
#[derive(Debug, Clone)]
pub struct PagedHistory {
    /// The structure the pages were built from.
    pub structure: Structure,
    /// Pages in history order (shared with the pager's cache: a turn copies no page).
    pub pages: Vec<Arc<ZephPage>>,
    /// Zeph-counted tokens that no page carries and that render at every budget: the system
    /// prompt, verbatim messages (pinned, server compaction blocks).
    pub fixed_tokens: usize,
}

/// Builds pages and caches them by content, so a turn only builds what is new.
pub struct Pager {
    builder: RepresentationBuilder<ZephTokens>,
    tokens: ZephTokens,
    cache: HashMap<PageId, (ContentDigest, Arc<ZephPage>)>,
}

impl std::fmt::Debug for Pager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pager")
            .field("cached_pages", &self.cache.len())
            .finish_non_exhaustive()
    }
}

fn msg_label(msg: &Message, index: usize) -> String {
    match msg.metadata.db_id {
        Some(id) => format!("zeph:message/{id}"),
        None => format!("zeph:messages[{index}]"),
    }
}

/// The text a turn or memory page holds: its text-like parts and any orphaned tool part
/// (downgraded to text), or the flat content when it has no parts.
fn page_text(msg: &Message, index: usize, s: &Structure) -> String {
    if msg.parts.is_empty() {
        return msg.content.clone();
    }
    let mut out = String::new();
    for (k, p) in msg.parts.iter().enumerate() {
        let piece = if s.is_orphan(index, k) {
            flatten_orphan(p)
        } else {
            p.as_plain_text().map(str::to_owned)
        };
        if let Some(t) = piece {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&t);
        }
    }
    out
}

pub(crate) fn role_word(role: Role) -> &'static str {
    match role {
        Role::Assistant => "assistant",
        Role::System => "system",
        _ => "user",
    }
}

impl Pager {
    /// A pager counting with `tokens`.
    ///
    /// # Errors
    /// [`AdapterError::Build`] when the builder's configuration is invalid.
    pub fn new(tokens: ZephTokens, config: page_engine::BuildConfig) -> Result<Self, AdapterError> {
        Ok(Self {
            builder: RepresentationBuilder::new(
                tokens.clone(),
                page_core::TypeTable::default(),
                config,
            )?,
            tokens,
            cache: HashMap::new(),
        })
    }

    /// The counter in use.
    #[must_use]
    pub fn tokens(&self) -> &ZephTokens {
        &self.tokens
    }

    fn cached(
        &mut self,
        id: PageId,
        key: &str,
        build: impl FnOnce(
            &RepresentationBuilder<ZephTokens>,
            &PageId,
        ) -> Result<ZephPage, AdapterError>,
    ) -> Result<Arc<ZephPage>, AdapterError> {
        let digest = ContentDigest::of(key.as_bytes());
        if let Some((d, page)) = self.cache.get(&id)
            && *d == digest
        {
            return Ok(Arc::clone(page));
        }
        let page = Arc::new(build(&self.builder, &id)?);
        self.cache.insert(id, (digest, Arc::clone(&page)));
        Ok(page)
    }

    /// Pages `messages`.
    ///
    /// # Errors
    /// [`AdapterError::Build`] when a page's representations cannot be built (an empty span
    /// id); no tool call fails (`ToolSignature::of_call`).
    pub fn page(&mut self, messages: &[Message]) -> Result<PagedHistory, AdapterError> {
        let s = structure(messages);
        let mut pages = Vec::new();
        let mut fixed = 0usize;
        for (u, unit) in s.units.iter().enumerate() {
            match unit.kind {
                UnitKind::Bootstrap | UnitKind::Verbatim(_) => {
                    fixed += unit
                        .messages
                        .iter()
                        .map(|&m| &messages[m])
                        .filter(|m| m.metadata.visibility.is_agent_visible())
                        .map(|m| self.tokens.message(m))
                        .sum::<usize>();
                }
                UnitKind::Turn | UnitKind::Memory(_) => {
                    let i = unit.messages[0];
                    let msg = &messages[i];
                    let (text, frame) = turn_source(msg, i, &s, &self.tokens);
                    let id = PageId::new(format!("u{u}"))?;
                    let label = msg_label(msg, i);
                    let memory = match unit.kind {
                        UnitKind::Memory(kind) => Some(kind.label()),
                        _ => None,
                    };
                    let key = format!(
                        "{}\u{0}{}\u{0}{label}\u{0}{frame}",
                        memory.unwrap_or(""),
                        text
                    );
                    let role = role_word(msg.role);
                    let page = self.cached(id, &key, |b, id| {
                        let source = match memory {
                            Some(label) => Source::Memory { label, text: &text },
                            None => Source::Turn(ConversationTurn {
                                role,
                                text: &text,
                                span: (&label, &label),
                                start_ms: None,
                            }),
                        };
                        let page = b.ingest(id, &source)?;
                        Ok(ZephPage::ingested(
                            id,
                            page,
                            (u, None),
                            memory.map(str::to_owned),
                            Provenance::Import {
                                source: label.clone(),
                            },
                            (None, ""),
                            frame,
                            i,
                        ))
                    })?;
                    pages.push(page);
                }
                UnitKind::ToolOutput => {
                    let i = unit.messages[0];
                    let msg = &messages[i];
                    let outputs: Vec<usize> = msg
                        .parts
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| matches!(p, MessagePart::ToolOutput { .. }))
                        .map(|(k, _)| k)
                        .collect();
                    // Parts other than the outputs render with the first output's page.
                    let rest: usize = msg
                        .parts
                        .iter()
                        .filter(|p| !matches!(p, MessagePart::ToolOutput { .. }))
                        .map(|p| self.tokens.part(p))
                        .sum();
                    for (c, &k) in outputs.iter().enumerate() {
                        let MessagePart::ToolOutput {
                            tool_name, body, ..
                        } = &msg.parts[k]
                        else {
                            continue;
                        };
                        let name = tool_name.as_str().to_owned();
                        let frame = crate::tokens::TOOL_OUTPUT_OVERHEAD
                            + self.tokens.text(&name)
                            + if c == 0 { rest } else { 0 };
                        let id = PageId::new(call_page_id(u, c))?;
                        let key = format!("{name}\u{0}{body}\u{0}{frame}");
                        let label = msg_label(msg, i);
                        let page = self.cached(id, &key, |b, id| {
                            let source = Source::ToolResult(ToolResult {
                                tool: &name,
                                args_json: "{}",
                                output: body,
                                is_error: false,
                                exit_code: None,
                            });
                            Ok(ZephPage::ingested(
                                id,
                                b.ingest(id, &source)?,
                                (u, Some(c)),
                                Some(name.clone()),
                                Provenance::Import {
                                    source: label.clone(),
                                },
                                (None, ""),
                                frame,
                                i,
                            ))
                        })?;
                        pages.push(page);
                    }
                }
                UnitKind::ToolGroup => {
                    for (c, call) in unit.calls.iter().enumerate() {
                        let Some(CallSource {
                            input,
                            args,
                            content,
                            is_error,
                            frame,
                            frame_text,
                            text_tokens,
                            last_message,
                        }) = call_source(unit, c, messages, &s, &self.tokens)
                        else {
                            continue;
                        };
                        // Here the messages' text renders with the call, as part of its frame.
                        let frame = frame + text_tokens;
                        let id = PageId::new(call_page_id(u, c))?;
                        let key = format!(
                            "{}\u{0}{args}\u{0}{content}\u{0}{is_error}\u{0}{frame}\u{0}{frame_text}",
                            call.name
                        );
                        let call_id = ToolCallId::new(if call.id.is_empty() {
                            call_page_id(u, c)
                        } else {
                            call.id.clone()
                        })?;
                        let page = self.cached(id, &key, |b, id| {
                            let source = Source::ToolResult(ToolResult {
                                tool: &call.name,
                                args_json: &args,
                                output: content,
                                is_error,
                                exit_code: None,
                            });
                            let page = b.ingest(id, &source)?;
                            let provenance = page.tool_call(call_id.clone()).unwrap_or_else(|| {
                                Provenance::Import {
                                    source: id.to_string(),
                                }
                            });
                            Ok(ZephPage::ingested(
                                id,
                                page,
                                (u, Some(c)),
                                Some(call.name.clone()),
                                provenance,
                                (page_engine::command_of(input), &frame_text),
                                frame,
                                last_message,
                            ))
                        })?;
                        pages.push(page);
                    }
                }
            }
        }
        Ok(PagedHistory {
            structure: s,
            pages,
            fixed_tokens: fixed,
        })
    }
}

/// The text of a turn or memory page and its frame: the thinking blocks, images and other
/// non-text parts that travel with it at every level.
pub(crate) fn turn_source(
    msg: &Message,
    index: usize,
    s: &Structure,
    tokens: &ZephTokens,
) -> (String, usize) {
    let frame = msg
        .parts
        .iter()
        .enumerate()
        .filter(|(k, p)| p.as_plain_text().is_none() && !s.is_orphan(index, *k))
        .map(|(_, p)| tokens.part(p))
        .sum();
    (page_text(msg, index, s), frame)
}

/// What the evidence page of one call of a tool group is made of.
pub(crate) struct CallSource<'a> {
    /// The call's input as the model wrote it.
    pub input: &'a serde_json::Value,
    /// The input's JSON text (signed by `ToolSignature::of_call`, as every path signs a call).
    pub args: String,
    /// The result's text.
    pub content: &'a str,
    /// Whether the tool reported an error.
    pub is_error: bool,
    /// Tokens that render with the page at every level: the use part, the result's framing
    /// and, on the first call placed in a message, that message's parts that are neither tool
    /// parts nor text (thinking blocks, images).
    pub frame: usize,
    /// The text of the messages whose first call this is (text parts and orphans downgraded
    /// to text, one part a line): what the page is also cited by.
    pub frame_text: String,
    /// Zeph-counted tokens of that text, part by part.
    pub text_tokens: usize,
    /// The last message the call covers.
    pub last_message: usize,
}

/// The source of call `c` of tool group `unit`; `None` when its parts are not a use and a
/// result (the structure never makes such a call).
pub(crate) fn call_source<'a>(
    unit: &Unit,
    c: usize,
    messages: &'a [Message],
    s: &Structure,
    tokens: &ZephTokens,
) -> Option<CallSource<'a>> {
    let call = unit.calls.get(c)?;
    let (um, up) = call.use_at;
    let (rm, rp) = call.result_at;
    let MessagePart::ToolUse { input, .. } = &messages[um].parts[up] else {
        return None;
    };
    let MessagePart::ToolResult {
        content, is_error, ..
    } = &messages[rm].parts[rp]
    else {
        return None;
    };
    // The use part renders whole at every level; the result's framing too.
    let mut frame =
        tokens.part(&messages[um].parts[up]) + TOOL_RESULT_OVERHEAD + tokens.text(&call.id);
    // Non-tool parts of a message render with the first call placed in it. Their text is
    // scanned for the page's specifics too: a turn that both talks and calls a tool is cited by
    // what it said.
    let mut frame_text = String::new();
    let mut text_tokens = 0;
    if unit.calls.iter().position(|x| x.use_at.0 == um) == Some(c) {
        let (text, other) = non_tool_tokens(tokens, &messages[um], um, s);
        frame += other;
        text_tokens += text;
        frame_text.push_str(&non_tool_text(&messages[um], um, s));
    }
    if rm != um && unit.calls.iter().position(|x| x.result_at.0 == rm) == Some(c) {
        let (text, other) = non_tool_tokens(tokens, &messages[rm], rm, s);
        frame += other;
        text_tokens += text;
        frame_text.push('\n');
        frame_text.push_str(&non_tool_text(&messages[rm], rm, s));
    }
    Some(CallSource {
        input,
        args: input.to_string(),
        content,
        is_error: *is_error,
        frame,
        frame_text,
        text_tokens,
        last_message: rm.max(um),
    })
}

/// The id of the evidence page of call (or legacy output part) `call` of unit `unit`.
fn call_page_id(unit: usize, call: usize) -> String {
    format!("u{unit}c{call}")
}

/// The tool evidence pages of a history (tool calls and legacy tool outputs), by id, with
/// the last message each covers, in page order: what microcompact ranks by recency, known
/// from the structure alone, without building a page.
pub(crate) fn tool_pages(s: &Structure, messages: &[Message]) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (u, unit) in s.units.iter().enumerate() {
        match unit.kind {
            UnitKind::ToolGroup => out.extend(
                unit.calls
                    .iter()
                    .enumerate()
                    .map(|(c, call)| (call_page_id(u, c), call.use_at.0.max(call.result_at.0))),
            ),
            UnitKind::ToolOutput => {
                let i = unit.messages[0];
                let outputs = messages[i]
                    .parts
                    .iter()
                    .filter(|p| matches!(p, MessagePart::ToolOutput { .. }))
                    .count();
                out.extend((0..outputs).map(|c| (call_page_id(u, c), i)));
            }
            _ => {}
        }
    }
    out
}

/// Text of a group message's parts that are not its matched tool parts (text, orphans
/// downgraded to text), one part a line.
pub(crate) fn non_tool_text(msg: &Message, index: usize, s: &Structure) -> String {
    let mut out = String::new();
    for (k, p) in msg.parts.iter().enumerate() {
        let piece = if s.is_orphan(index, k) {
            flatten_orphan(p)
        } else if matches!(
            p,
            MessagePart::ToolUse { .. } | MessagePart::ToolResult { .. }
        ) {
            None
        } else {
            p.as_plain_text().map(str::to_owned)
        };
        if let Some(t) = piece {
            out.push_str(&t);
            out.push('\n');
        }
    }
    out
}

/// Zeph-counted tokens of a group message's parts that are not its matched tool parts: the
/// textual ones (text, orphans downgraded to text) and the others (thinking blocks, images).
pub(crate) fn non_tool_tokens(
    tokens: &ZephTokens,
    msg: &Message,
    index: usize,
    s: &Structure,
) -> (usize, usize) {
    let (mut text, mut other) = (0, 0);
    for (k, p) in msg.parts.iter().enumerate() {
        let tool = matches!(
            p,
            MessagePart::ToolUse { .. } | MessagePart::ToolResult { .. }
        );
        if s.is_orphan(index, k) {
            text += flatten_orphan(p).map_or(0, |t| tokens.text(&t));
        } else if p.as_plain_text().is_some() {
            text += tokens.part(p);
        } else if !tool {
            other += tokens.part(p);
        }
    }
    (text, other)
}
