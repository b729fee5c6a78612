//! Claude Code transcripts: one JSON object per line, grouped into sessions by `sessionId`.

use serde_json::Value;

use crate::time::parse_ms;
use crate::{Diagnostic, Event, Session, diag};

pub(crate) fn read(text: &str, diags: &mut Vec<Diagnostic>) -> Vec<Session> {
    let mut sessions: Vec<Session> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = format!("line {}", n + 1);
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                diag(diags, at, format!("not JSON: {e}"));
                continue;
            }
        };
        let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
        if !matches!(kind, "user" | "assistant" | "system") {
            // `summary`, `file-history-snapshot` and the like carry no conversation.
            if kind.is_empty() {
                diag(diags, at, "record has no \"type\"");
            }
            continue;
        }
        let session_id = v
            .get("sessionId")
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
        let id = v.get("uuid").and_then(Value::as_str).map(str::to_owned);
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
