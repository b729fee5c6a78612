//! Claude Code, in its two dialects: one JSON object per line, grouped into sessions.
//!
//! - The on-disk transcript (`~/.claude/projects/<project>/<session>.jsonl`): records with
//!   `type` `user`/`assistant`/`system`, `uuid`, `parentUuid`, `sessionId`, `timestamp` and an
//!   Anthropic Messages `message` whose `content` is a string or a list of `text`, `tool_use`,
//!   `tool_result`, `thinking` blocks.
//! - `claude -p --output-format stream-json --verbose` (the Claude Agent SDK's message stream,
//!   documented at <https://docs.claude.com/en/docs/agent-sdk/> under "SDKMessage"): the same
//!   `user`/`assistant` messages keyed by `session_id`, plus `system` (subtype `init`: tools,
//!   model, cwd), `result` (the final text, cost and turn count, repeating the last assistant
//!   text), `stream_event` (partial deltas, only with `--include-partial-messages`) and
//!   `rate_limit_event` records, which carry no conversation and are skipped. Only the
//!   assistant's and tool results' messages are echoed; the prompt itself appears only with
//!   `--replay-user-messages`.

use serde_json::Value;

use crate::time::parse_ms;
use crate::{Diagnostic, Event, Session, diag, json_line};

/// Which dialect a file is in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// The on-disk transcript.
    OnDisk,
    /// `--output-format stream-json`.
    Stream,
}

pub(crate) fn read(text: &str, dialect: Dialect, diags: &mut Vec<Diagnostic>) -> Vec<Session> {
    let session_key = match dialect {
        Dialect::OnDisk => "sessionId",
        Dialect::Stream => "session_id",
    };
    let mut sessions: Vec<Session> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some((at, v)) = json_line(n, line, diags) else {
            continue;
        };
        let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
        if dialect == Dialect::Stream {
            match kind {
                "user" | "assistant" => {}
                // Session metadata, the closing summary (it repeats the last assistant text),
                // partial deltas of messages that follow complete, and rate-limit notices.
                "system" | "result" | "stream_event" | "rate_limit_event" => continue,
                "" => {
                    diag(diags, at, "record has no \"type\"");
                    continue;
                }
                other => {
                    diag(diags, at, format!("unknown record type {other:?}"));
                    continue;
                }
            }
        }
        if !matches!(kind, "user" | "assistant" | "system") {
            // `summary`, `file-history-snapshot` and the like carry no conversation.
            if kind.is_empty() {
                diag(diags, at, "record has no \"type\"");
            }
            continue;
        }
        let session_id = v
            .get(session_key)
            .and_then(Value::as_str)
            .unwrap_or("session-1")
            .to_owned();
        let idx = match sessions.iter().position(|s| s.id == session_id) {
            Some(i) => i,
            None => {
                sessions.push(Session {
                    id: session_id,
                    events: Vec::new(),
                });
                sessions.len() - 1
            }
        };
        let events = &mut sessions[idx].events;
        let id = v
            .get("uuid")
            .or_else(|| v.get("message").and_then(|m| m.get("id")))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let at_ms = v
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(parse_ms);
        let content = v.get("message").and_then(|m| m.get("content"));
        if kind == "system" {
            let text = v
                .get("content")
                .and_then(Value::as_str)
                .or_else(|| content.and_then(Value::as_str));
            if let Some(t) = text {
                events.push(Event::System { text: t.to_owned() });
            }
            continue;
        }
        let Some(content) = content else {
            diag(diags, at, "message has no content");
            continue;
        };
        let speak = |text: String| {
            if kind == "user" {
                Event::User {
                    id: id.clone(),
                    text,
                    at_ms,
                }
            } else {
                Event::Assistant {
                    id: id.clone(),
                    text,
                    at_ms,
                }
            }
        };
        match content {
            Value::String(s) => events.push(speak(s.clone())),
            Value::Array(blocks) => {
                let mut text = String::new();
                for (b, block) in blocks.iter().enumerate() {
                    if !block.is_object() {
                        diag(
                            diags,
                            format!("{at} block {b}"),
                            "content block is not an object",
                        );
                        continue;
                    }
                    let bt = block
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    match bt {
                        "text" => {
                            if let Some(t) = block.get("text").and_then(Value::as_str) {
                                if !text.is_empty() {
                                    text.push('\n');
                                }
                                text.push_str(t);
                            }
                        }
                        "tool_use" => {
                            let call_id = block.get("id").and_then(Value::as_str);
                            let tool = block.get("name").and_then(Value::as_str);
                            match (call_id, tool) {
                                (Some(c), Some(t)) => events.push(Event::ToolCall {
                                    call_id: c.to_owned(),
                                    tool: t.to_owned(),
                                    args_json: block
                                        .get("input")
                                        .map_or_else(|| "{}".to_owned(), Value::to_string),
                                    at_ms,
                                }),
                                _ => diag(
                                    diags,
                                    format!("{at} block {b}"),
                                    "tool_use without id or name",
                                ),
                            }
                        }
                        "tool_result" => match block.get("tool_use_id").and_then(Value::as_str) {
                            Some(c) => events.push(Event::ToolResult {
                                call_id: c.to_owned(),
                                output: result_text(block.get("content")),
                                is_error: block
                                    .get("is_error")
                                    .and_then(Value::as_bool)
                                    .unwrap_or(false),
                            }),
                            None => diag(
                                diags,
                                format!("{at} block {b}"),
                                "tool_result without tool_use_id",
                            ),
                        },
                        // Reasoning is provider state, not conversation; images have no text.
                        "thinking" | "redacted_thinking" | "image" => {}
                        other => diag(
                            diags,
                            format!("{at} block {b}"),
                            format!("unknown content block {other:?}"),
                        ),
                    }
                }
                if !text.is_empty() {
                    events.push(speak(text));
                }
            }
            _ => diag(
                diags,
                at,
                "message content is neither text nor a block list",
            ),
        }
    }
    sessions
}

/// A tool result's content: a string, or a list of blocks whose text parts are joined.
fn result_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}
