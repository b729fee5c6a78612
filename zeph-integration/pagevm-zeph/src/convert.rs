//! Structure of a Zeph history: which messages form the bootstrap, the turns, the memory
//! excerpts and the tool groups, decided by roles, part kinds and metadata, never by text.

use std::fmt;

use zeph_llm::provider::{Message, MessagePart, Role};

/// What a unit of the history is, decided from its structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitKind {
    /// `messages[0]` when it is a system message: the system prompt. Never compacted.
    Bootstrap,
    /// A user or assistant message of text (thinking blocks and images travel with it).
    Turn,
    /// Injected memory: a message whose parts are `Recall`, `CrossSession`, `Summary` or
    /// `CodeContext`, or a system message after the first (Zeph injects memory and summaries as
    /// system messages).
    Memory(MemoryKind),
    /// An assistant message's tool uses and the message holding their results: one evidence
    /// group with one page per call. Rendered together or not at all.
    ToolGroup,
    /// A message of legacy text-tool output (`ToolOutput` parts).
    ToolOutput,
    /// A message kept verbatim at every budget: `focus_pinned` (hard pin), Claude's server-side
    /// `Compaction` block, or a message the LLM never sees (`UserOnly`).
    Verbatim(VerbatimWhy),
}

/// Where a memory excerpt came from (its provenance label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryKind {
    /// `MessagePart::Recall`: semantic recall.
    Recall,
    /// `MessagePart::CrossSession`: a previous conversation.
    CrossSession,
    /// `MessagePart::Summary`: a compaction or tool-pair summary.
    Summary,
    /// `MessagePart::CodeContext`: repository code.
    CodeContext,
    /// A system message after the first, without typed parts (injected context).
    SystemNote,
}

impl MemoryKind {
    /// The label used as the excerpt's source (and the evidence page's tool name).
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Recall => "zeph.recall",
            Self::CrossSession => "zeph.cross_session",
            Self::Summary => "zeph.summary",
            Self::CodeContext => "zeph.code_context",
            Self::SystemNote => "zeph.system_note",
        }
    }
}

/// Why a unit is kept verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerbatimWhy {
    /// `metadata.focus_pinned`: excluded from every compaction pass.
    FocusPinned,
    /// Holds a `Compaction` block, which the provider needs back verbatim.
    ServerCompaction,
    /// Not agent-visible: it never reaches the LLM and is passed through untouched.
    Hidden,
}

/// One tool call of a group: where its use and its result are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSite {
    /// The tool use id.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// Message and part index of the `ToolUse`.
    pub use_at: (usize, usize),
    /// Message and part index of the matching `ToolResult`.
    pub result_at: (usize, usize),
}

/// A unit of the history: the messages it covers (ascending source indices) and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// What it is.
    pub kind: UnitKind,
    /// Source message indices, ascending.
    pub messages: Vec<usize>,
    /// For a tool group: its calls, in use order.
    pub calls: Vec<CallSite>,
}

/// A structural problem of the input history, named by message index (and `db_id` when set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Diagnostic {
    /// A `ToolUse` whose result is not in the next agent-visible, non-system message.
    OrphanToolUse {
        /// Message index.
        message: usize,
        /// The message's `db_id`.
        db_id: Option<i64>,
        /// The tool use id.
        id: String,
    },
    /// A `ToolResult` whose use is not in the previous agent-visible, non-system message.
    OrphanToolResult {
        /// Message index.
        message: usize,
        /// The message's `db_id`.
        db_id: Option<i64>,
        /// The tool use id it names.
        id: String,
    },
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, message, db_id, id) = match self {
            Self::OrphanToolUse { message, db_id, id } => {
                ("tool_use without result", message, db_id, id)
            }
            Self::OrphanToolResult { message, db_id, id } => {
                ("tool_result without use", message, db_id, id)
            }
        };
        write!(f, "messages[{message}]")?;
        if let Some(db) = db_id {
            write!(f, " (db_id {db})")?;
        }
        write!(
            f,
            ": {what} {id:?}; rendered as text so no provider sees an orphan"
        )
    }
}

/// The structure of a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Structure {
    /// The units, in history order (by first message).
    pub units: Vec<Unit>,
    /// Orphaned tool parts found in the input. Each is downgraded to text when rendered.
    pub diagnostics: Vec<Diagnostic>,
    /// `(message, part)` of every orphaned tool part, sorted, for the renderer.
    pub orphan_parts: Vec<(usize, usize)>,
}

impl Structure {
    /// Whether `(message, part)` is an orphaned tool part.
    #[must_use]
    pub fn is_orphan(&self, message: usize, part: usize) -> bool {
        self.orphan_parts.binary_search(&(message, part)).is_ok()
    }
}

fn memory_kind(msg: &Message) -> Option<MemoryKind> {
    msg.parts.iter().find_map(|p| match p {
        MessagePart::Recall { .. } => Some(MemoryKind::Recall),
        MessagePart::CrossSession { .. } => Some(MemoryKind::CrossSession),
        MessagePart::Summary { .. } => Some(MemoryKind::Summary),
        MessagePart::CodeContext { .. } => Some(MemoryKind::CodeContext),
        _ => None,
    })
}

fn visible(msg: &Message) -> bool {
    msg.metadata.visibility.is_agent_visible()
}

/// The next agent-visible message after `i` that is not a system message: where a provider
/// expects the results of `i`'s tool uses (Zeph skips system hints both ways, bug-ops/zeph#3168).
fn next_partner(messages: &[Message], i: usize) -> Option<usize> {
    (i + 1..messages.len()).find(|&j| visible(&messages[j]) && messages[j].role != Role::System)
}

/// Reads the structure of `messages`.
///
/// Pairing is by adjacency, never against a global id set (Ollama reuses `call_{i}` ids across
/// batches): a use matches a result with the same id in the same message after it, or in the
/// next agent-visible non-system message. Everything unmatched is a [`Diagnostic`].
#[must_use]
pub fn structure(messages: &[Message]) -> Structure {
    let n = messages.len();
    // Which unit claimed each message.
    let mut claimed: Vec<Option<usize>> = vec![None; n];
    let mut units: Vec<Unit> = Vec::new();
    let mut matched: Vec<(usize, usize)> = Vec::new();

    // Pass 1: tool groups. A result message can hold uses of its own (a chain), so a group
    // grows while its last message both answers and asks.
    for i in 0..n {
        if claimed[i].is_some() || !visible(&messages[i]) {
            continue;
        }
        let mut at = i;
        let mut group = Unit {
            kind: UnitKind::ToolGroup,
            messages: vec![],
            calls: vec![],
        };
        loop {
            let msg = &messages[at];
            let uses: Vec<(usize, &str, &str)> = msg
                .parts
                .iter()
                .enumerate()
                .filter_map(|(k, p)| match p {
                    MessagePart::ToolUse { id, name, .. } if !matched.contains(&(at, k)) => {
                        Some((k, id.as_str(), name.as_str()))
                    }
                    _ => None,
                })
                .collect();
            if uses.is_empty() {
                break;
            }
            let partner = next_partner(messages, at);
            let mut next = None;
            for (k, id, name) in uses {
                // Same message first (a result after its use), then the partner message.
                let same = messages[at].parts.iter().enumerate().skip(k + 1).find(|(r, p)| {
                    matches!(p, MessagePart::ToolResult { tool_use_id, .. } if tool_use_id == id)
                        && !matched.contains(&(at, *r))
                });
                let found = same.map(|(r, _)| (at, r)).or_else(|| {
                    let j = partner?;
                    if claimed[j].is_some() && next != Some(j) {
                        return None;
                    }
                    messages[j]
                        .parts
                        .iter()
                        .enumerate()
                        .find(|(r, p)| {
                            matches!(p, MessagePart::ToolResult { tool_use_id, .. } if tool_use_id == id)
                                && !matched.contains(&(j, *r))
                        })
                        .map(|(r, _)| (j, r))
                });
                if let Some(result_at) = found {
                    matched.push((at, k));
                    matched.push(result_at);
                    if result_at.0 != at {
                        next = Some(result_at.0);
                    }
                    group.calls.push(CallSite {
                        id: id.to_owned(),
                        name: name.to_owned(),
                        use_at: (at, k),
                        result_at,
                    });
                }
            }
            if !group.messages.contains(&at) && group.calls.iter().any(|c| c.use_at.0 == at) {
                group.messages.push(at);
            }
            match next {
                Some(j) => {
                    if !group.messages.contains(&j) {
                        group.messages.push(j);
                    }
                    at = j;
                }
                None => break,
            }
        }
        if !group.calls.is_empty() {
            let u = units.len();
            for &m in &group.messages {
                claimed[m] = Some(u);
            }
            units.push(group);
        }
    }

    // Pass 2: every other message is a unit of its own.
    for (i, msg) in messages.iter().enumerate() {
        if claimed[i].is_some() {
            continue;
        }
        let kind = if !visible(msg) {
            UnitKind::Verbatim(VerbatimWhy::Hidden)
        } else if i == 0 && msg.role == Role::System {
            UnitKind::Bootstrap
        } else if msg.metadata.focus_pinned {
            UnitKind::Verbatim(VerbatimWhy::FocusPinned)
        } else if msg
            .parts
            .iter()
            .any(|p| matches!(p, MessagePart::Compaction { .. }))
        {
            UnitKind::Verbatim(VerbatimWhy::ServerCompaction)
        } else if msg
            .parts
            .iter()
            .any(|p| matches!(p, MessagePart::ToolOutput { .. }))
        {
            UnitKind::ToolOutput
        } else if let Some(kind) = memory_kind(msg) {
            UnitKind::Memory(kind)
        } else if msg.role == Role::System {
            UnitKind::Memory(MemoryKind::SystemNote)
        } else {
            UnitKind::Turn
        };
        claimed[i] = Some(units.len());
        units.push(Unit {
            kind,
            messages: vec![i],
            calls: vec![],
        });
    }
    units.sort_by_key(|u| u.messages.first().copied().unwrap_or(usize::MAX));

    // Orphans: every tool part of an agent-visible message that no group matched.
    matched.sort_unstable();
    let mut diagnostics = Vec::new();
    let mut orphan_parts = Vec::new();
    for (i, msg) in messages.iter().enumerate() {
        if !visible(msg) {
            continue;
        }
        for (k, part) in msg.parts.iter().enumerate() {
            let db_id = msg.metadata.db_id;
            let d = match part {
                MessagePart::ToolUse { id, .. } => Diagnostic::OrphanToolUse {
                    message: i,
                    db_id,
                    id: id.clone(),
                },
                MessagePart::ToolResult { tool_use_id, .. } => Diagnostic::OrphanToolResult {
                    message: i,
                    db_id,
                    id: tool_use_id.clone(),
                },
                _ => continue,
            };
            if matched.binary_search(&(i, k)).is_err() {
                diagnostics.push(d);
                orphan_parts.push((i, k));
            }
        }
    }
    Structure {
        units,
        diagnostics,
        orphan_parts,
    }
}

/// Tool pairs a provider would reject in `messages`: agent-visible `ToolUse` parts without a
/// result by adjacency, plus `ToolResult` parts without a use. The check every renderer's
/// output must pass with 0.
#[must_use]
pub fn orphaned_pairs(messages: &[Message]) -> usize {
    // Only what the provider sees counts: hidden messages are filtered out before the request.
    let seen: Vec<Message> = messages.iter().filter(|m| visible(m)).cloned().collect();
    structure(&seen).diagnostics.len()
}
