//! Importers for recorded agent sessions: the formats agents actually write, read into one
//! neutral transcript model that replay and evaluation build pages from.
//!
//! Every input is untrusted. A file that is not of the format at all is an [`ImportError`]; a
//! malformed line, an unknown event kind, a tool result without its call or a call without its
//! result becomes a [`Diagnostic`] naming where it is, and the rest of the file is still read.
//! No input makes an importer panic (property-tested on arbitrary bytes).
//!
//! The model keeps structure, not interpretation: who spoke ([`Event::User`],
//! [`Event::Assistant`], [`Event::System`]), which tool was called with which arguments
//! ([`Event::ToolCall`]) and what it returned ([`Event::ToolResult`]), with the ids and
//! timestamps the source recorded. Deciding page types, demands and costs is the replay's job.
//!
//! ```
//! use page_import::{Event, Format, import};
//!
//! let line = r#"{"type":"assistant","sessionId":"s1","uuid":"a1","timestamp":"2025-06-14T10:00:05Z","message":{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"Read","input":{"file_path":"src/lib.rs"}}]}}"#;
//! let t = import(line, Some(Format::ClaudeCode))?;
//! assert_eq!(t.sessions.len(), 1);
//! assert!(matches!(&t.sessions[0].events[0], Event::ToolCall { tool, .. } if tool == "Read"));
//! // The call has no result in this file: reported, not dropped.
//! assert_eq!(t.diagnostics[0].message, "tool call toolu_1 (Read) has no result");
//! # Ok::<(), page_import::ImportError>(())
//! ```

mod aider;
mod claude_code;
mod codex;
mod files;
mod gemini;
mod openhands;
mod swe_agent;
mod time;

pub use crate::files::{FileError, MAX_TRACE_BYTES, Skipped, TraceFiles, find_traces, import_file};
pub use crate::time::parse_ms;

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// A recorded-session format this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Claude Code's on-disk transcript: JSON lines with `uuid`/`parentUuid`, `message.content`
    /// blocks `text`, `tool_use`, `tool_result`, `thinking`.
    ClaudeCode,
    /// Claude Code's `--output-format stream-json` output (the Agent SDK message stream):
    /// `system`/`user`/`assistant`/`result` records keyed by `session_id`.
    ClaudeCodeStream,
    /// Codex CLI's rollout JSON lines: `{timestamp, type, payload}` records (`session_meta`,
    /// `response_item`, …), or the early layout of bare response items.
    Codex,
    /// Gemini CLI's chat recording (`{sessionId, projectHash, messages}` as one document or as
    /// JSON lines) or a saved trajectory (a `[{role, parts}]` content list).
    GeminiCli,
    /// SWE-agent's `.traj`: a JSON object whose `history` lists system, user, assistant (with
    /// `action` or function `tool_calls`) and tool messages.
    SweAgent,
    /// OpenHands' event stream: a JSON list of actions (`message`, `run`, `edit`, …) and
    /// observations linked to their action by `cause`.
    OpenHands,
    /// aider's chat history markdown: `# aider chat started at …` per session, `#### ` user
    /// lines, `> ` tool and system output, the model's replies in between.
    Aider,
}

impl Format {
    /// Every format, in detection order.
    pub const ALL: [Format; 7] = [
        Format::ClaudeCode,
        Format::ClaudeCodeStream,
        Format::Codex,
        Format::GeminiCli,
        Format::SweAgent,
        Format::OpenHands,
        Format::Aider,
    ];

    /// The name used on the command line.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Format::ClaudeCode => "claude-code",
            Format::ClaudeCodeStream => "claude-code-stream",
            Format::Codex => "codex",
            Format::GeminiCli => "gemini-cli",
            Format::SweAgent => "swe-agent",
            Format::OpenHands => "openhands",
            Format::Aider => "aider",
        }
    }

    /// Guesses the format from the content: the first non-blank character and the keys of the
    /// first record (or of the whole document).
    ///
    /// # Errors
    /// [`ImportError::UnknownFormat`] when nothing matches.
    pub fn detect(text: &str) -> Result<Format, ImportError> {
        let t = text.trim_start_matches('\u{feff}').trim_start();
        if t.starts_with('[') {
            // A Gemini trajectory is a list of `{role, parts}`; OpenHands lists events.
            let gemini = match serde_json::from_str::<serde_json::Value>(t) {
                Ok(serde_json::Value::Array(items)) => items
                    .first()
                    .is_some_and(|c| c.get("parts").is_some() && c.get("role").is_some()),
                _ => false,
            };
            return Ok(if gemini {
                Format::GeminiCli
            } else {
                Format::OpenHands
            });
        }
        if t.starts_with('{') {
            let first_line = t.lines().next().unwrap_or_default();
            if let Ok(serde_json::Value::Object(rec)) = serde_json::from_str(first_line) {
                if let Some(f) = detect_record(&rec) {
                    return Ok(f);
                }
            } else if first_line.contains("\"projectHash\"") {
                return Ok(Format::GeminiCli);
            } else if first_line.contains("\"sessionId\"") || first_line.contains("\"parentUuid\"")
            {
                return Ok(Format::ClaudeCode);
            }
            // A whole JSON document (a `.traj`, a Gemini session) is recognised by its keys.
            if let Ok(serde_json::Value::Object(doc)) = serde_json::from_str(t) {
                if doc.contains_key("history") || doc.contains_key("trajectory") {
                    return Ok(Format::SweAgent);
                }
                if doc.contains_key("messages") && doc.contains_key("sessionId") {
                    return Ok(Format::GeminiCli);
                }
            }
        }
        if t.lines()
            .any(|l| l.starts_with("# aider chat started at") || l.starts_with("#### "))
        {
            return Ok(Format::Aider);
        }
        Err(ImportError::UnknownFormat)
    }
}

/// The format of a JSON-lines file from the keys of its first record.
fn detect_record(rec: &serde_json::Map<String, serde_json::Value>) -> Option<Format> {
    let kind = rec.get("type").and_then(serde_json::Value::as_str);
    if rec.contains_key("projectHash") {
        return Some(Format::GeminiCli);
    }
    if rec.contains_key("payload")
        && matches!(
            kind,
            Some("session_meta" | "response_item" | "turn_context" | "event_msg" | "compacted")
        )
    {
        return Some(Format::Codex);
    }
    if rec.contains_key("session_id") && kind.is_some() {
        return Some(Format::ClaudeCodeStream);
    }
    if rec.contains_key("sessionId") || rec.contains_key("parentUuid") {
        return Some(Format::ClaudeCode);
    }
    // Early Codex rollouts: a meta object `{id, timestamp, instructions}`, or bare items.
    if kind.is_none()
        && rec.contains_key("id")
        && rec.contains_key("timestamp")
        && !rec.contains_key("history")
    {
        return Some(Format::Codex);
    }
    if kind.is_some_and(|k| codex::RESPONSE_ITEM_TYPES.contains(&k))
        && (rec.contains_key("role") || rec.contains_key("call_id"))
    {
        return Some(Format::Codex);
    }
    None
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = ImportError;

    fn from_str(s: &str) -> Result<Self, ImportError> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| ImportError::UnknownFormatName(s.to_owned()))
    }
}

/// What one file held: its sessions and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// The format read.
    pub format: Format,
    /// The sessions, in the order they start in the file.
    pub sessions: Vec<Session>,
    /// Problems found, in file order; each names its place.
    pub diagnostics: Vec<Diagnostic>,
}

/// One agent session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The source's session id, or one derived from the file position (`session-3`).
    pub id: String,
    /// What happened, in order.
    pub events: Vec<Event>,
}

/// One thing that happened in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A system prompt or instructions the harness gave the model.
    System {
        /// The text.
        text: String,
    },
    /// A user message.
    User {
        /// The source's message id, when it has one.
        id: Option<String>,
        /// The text.
        text: String,
        /// Milliseconds since the Unix epoch, when recorded.
        at_ms: Option<i64>,
    },
    /// A model message (text only; its tool calls are separate events).
    Assistant {
        /// The source's message id, when it has one.
        id: Option<String>,
        /// The text.
        text: String,
        /// Milliseconds since the Unix epoch, when recorded.
        at_ms: Option<i64>,
    },
    /// A tool call.
    ToolCall {
        /// The call's id (the source's, or derived from its position).
        call_id: String,
        /// The tool's name.
        tool: String,
        /// The arguments as JSON text.
        args_json: String,
        /// Milliseconds since the Unix epoch, when recorded.
        at_ms: Option<i64>,
    },
    /// A tool's result.
    ToolResult {
        /// The id of the call it answers.
        call_id: String,
        /// What the tool returned.
        output: String,
        /// Whether the source marked it as an error.
        is_error: bool,
    },
}

/// A problem in the input, with its place (`line 12`, `history[4]`, `event id 17`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where in the input.
    pub location: String,
    /// What is wrong, for the user.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Why a file could not be read at all.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ImportError {
    /// Format detection found nothing it recognises.
    #[error(
        "cannot tell the format of this file; name it explicitly (claude-code, claude-code-stream, codex, gemini-cli, swe-agent, openhands, aider)"
    )]
    UnknownFormat,
    /// A format name that is not one of [`Format::ALL`].
    #[error(
        "unknown format {0:?} (supported: auto, claude-code, claude-code-stream, codex, gemini-cli, swe-agent, openhands, aider)"
    )]
    UnknownFormatName(String),
    /// The file is not JSON where the format requires a JSON document.
    #[error("not a {format} file: {reason}")]
    NotTheFormat {
        /// The format expected.
        format: Format,
        /// What is wrong, with position.
        reason: String,
    },
}

/// Reads `text` as `format` (detected when `None`).
///
/// # Errors
/// [`ImportError`] when the format cannot be detected or the file is not of that format at all.
/// Problems inside an otherwise readable file are [`Transcript::diagnostics`].
pub fn import(text: &str, format: Option<Format>) -> Result<Transcript, ImportError> {
    // A byte-order mark is no part of the content (editors on Windows write one).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let format = match format {
        Some(f) => f,
        None => Format::detect(text)?,
    };
    let mut diags = Vec::new();
    let mut sessions = match format {
        Format::ClaudeCode => claude_code::read(text, claude_code::Dialect::OnDisk, &mut diags),
        Format::ClaudeCodeStream => {
            claude_code::read(text, claude_code::Dialect::Stream, &mut diags)
        }
        Format::Codex => codex::read(text, &mut diags),
        Format::GeminiCli => gemini::read(text, &mut diags)?,
        Format::SweAgent => swe_agent::read(text, &mut diags)?,
        Format::OpenHands => openhands::read(text, &mut diags)?,
        Format::Aider => aider::read(text, &mut diags),
    };
    sessions.retain(|s| !s.events.is_empty());
    for s in &sessions {
        check_pairs(s, &mut diags);
    }
    Ok(Transcript {
        format,
        sessions,
        diagnostics: diags,
    })
}

/// Reports tool calls without a result and results without a call (orphans, in Zeph's terms).
fn check_pairs(session: &Session, diags: &mut Vec<Diagnostic>) {
    use std::collections::BTreeSet;
    let calls: BTreeSet<&str> = session
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ToolCall { call_id, .. } => Some(call_id.as_str()),
            _ => None,
        })
        .collect();
    let results: BTreeSet<&str> = session
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ToolResult { call_id, .. } => Some(call_id.as_str()),
            _ => None,
        })
        .collect();
    for e in &session.events {
        match e {
            Event::ToolCall { call_id, tool, .. } if !results.contains(call_id.as_str()) => {
                diags.push(Diagnostic {
                    location: format!("session {}", session.id),
                    message: format!("tool call {call_id} ({tool}) has no result"),
                });
            }
            Event::ToolResult { call_id, .. } if !calls.contains(call_id.as_str()) => {
                diags.push(Diagnostic {
                    location: format!("session {}", session.id),
                    message: format!("tool result for {call_id} has no call"),
                });
            }
            _ => {}
        }
    }
}

pub(crate) fn diag(
    diags: &mut Vec<Diagnostic>,
    location: impl Into<String>,
    message: impl Into<String>,
) {
    diags.push(Diagnostic {
        location: location.into(),
        message: message.into(),
    });
}

/// One line of a JSON Lines file with its location (`line N`, 1-based): `None` for a blank
/// line, and for a line that is not JSON, which is reported. Shared by the JSONL formats.
pub(crate) fn json_line(
    n: usize,
    line: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<(String, serde_json::Value)> {
    let at = format!("line {}", n + 1);
    if line.trim().is_empty() {
        return None;
    }
    match serde_json::from_str(line) {
        Ok(v) => Some((at, v)),
        Err(e) => {
            diag(diags, at, format!("not JSON: {e}"));
            None
        }
    }
}

/// The text of a message's content: a string, or a list of parts whose `text` fields are joined
/// by newlines (images and other non-text parts are skipped). Shared by the formats that use
/// the OpenAI/Anthropic content shape.
pub(crate) fn parts_text(v: Option<&serde_json::Value>) -> String {
    use serde_json::Value;
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}
