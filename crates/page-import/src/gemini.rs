//! Gemini CLI sessions (`~/.gemini/tmp/<project_hash>/chats/session-*.json[l]`) and saved
//! chat trajectories (`/chat save` checkpoints).
//!
//! Format, from google-gemini/gemini-cli `packages/core/src/services/chatRecordingTypes.ts`
//! (`ConversationRecord`, `MessageRecord`, `ToolCallRecord`) and `chatRecordingService.ts`
//! (`loadConversationRecord`):
//!
//! - legacy session files are one JSON object `{sessionId, projectHash, startTime, lastUpdated,
//!   messages: [...]}`;
//! - current session files are JSON lines: a metadata record (`sessionId`, `projectHash`, …),
//!   message records (identified by `id`; a later record with the same id replaces the earlier
//!   one in place, as the service re-appends a message when its tool calls complete),
//!   `{"$set": {...}}` metadata updates and `{"$rewindTo": "<id>"}`, which drops that message
//!   and everything after it;
//! - a message is `{id, timestamp, type, content}` with `type` `user`, `gemini`, `info`, `error`
//!   or `warning` and `content` a string or a list of parts (`{text}`); a `gemini` message may
//!   carry `toolCalls: [{id, name, args, result, status, timestamp, resultDisplay}]`, where
//!   `result` is a part list whose `functionResponse.response` holds `output` or `error`;
//! - a trajectory (checkpoint) is the model history itself, a list of `Content`:
//!   `[{role: "user" | "model", parts: [{text} | {functionCall: {id, name, args}} |
//!   {functionResponse: {id, name, response}}]}]` (the `@google/genai` types).
//!
//! `info`, `warning` and `error` messages are the CLI's notices to the user, not conversation.

use serde_json::Value;

use crate::time::parse_ms;
use crate::{Diagnostic, Event, Format, ImportError, Session, diag, json_line};

pub(crate) fn read(text: &str, diags: &mut Vec<Diagnostic>) -> Result<Vec<Session>, ImportError> {
    let t = text.trim_start_matches('\u{feff}').trim_start();
    if t.starts_with('[') {
        return trajectory(t, diags);
    }
    // A whole-document session file, else JSON lines.
    if let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(t) {
        let Some(messages) = doc.get("messages").and_then(Value::as_array) else {
            return Err(ImportError::NotTheFormat {
                format: Format::GeminiCli,
                reason: "a JSON object without a \"messages\" list".to_owned(),
            });
        };
        let id = doc
            .get("sessionId")
            .and_then(Value::as_str)
            .unwrap_or("session")
            .to_owned();
        let records: Vec<(String, &Value)> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| (format!("messages[{i}]"), m))
            .collect();
        return Ok(vec![session(id, &records, diags)]);
    }
    let mut id = "session".to_owned();
    // Messages by id, in first-appearance order; a re-appended id replaces in place.
    let mut records: Vec<(String, Value)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some((at, v)) = json_line(n, line, diags) else {
            continue;
        };
        if !v.is_object() {
            diag(diags, at, "record is not a JSON object");
            continue;
        }
        if let Some(target) = v.get("$rewindTo") {
            let target = target.as_str().unwrap_or_default();
            match records
                .iter()
                .position(|(_, m)| m.get("id").and_then(Value::as_str) == Some(target))
            {
                Some(i) => records.truncate(i),
                None => {
                    diag(
                        diags,
                        at,
                        format!("$rewindTo {target:?} names no earlier message; history cleared"),
                    );
                    records.clear();
                }
            }
        } else if let Some(set) = v.get("$set") {
            if let Some(s) = set.get("sessionId").and_then(Value::as_str) {
                s.clone_into(&mut id);
            }
        } else if let Some(mid) = v.get("id").and_then(Value::as_str).map(str::to_owned) {
            match records
                .iter_mut()
                .find(|(_, m)| m.get("id").and_then(Value::as_str) == Some(mid.as_str()))
            {
                Some(slot) => *slot = (at, v),
                None => records.push((at, v)),
            }
        } else if let Some(s) = v.get("sessionId").and_then(Value::as_str) {
            s.clone_into(&mut id);
        } else {
            diag(
                diags,
                at,
                "record is neither metadata, a message, $set nor $rewindTo",
            );
        }
    }
    let records: Vec<(String, &Value)> = records.iter().map(|(a, v)| (a.clone(), v)).collect();
    Ok(vec![session(id, &records, diags)])
}

/// The events of a list of message records.
fn session(id: String, records: &[(String, &Value)], diags: &mut Vec<Diagnostic>) -> Session {
    let mut events = Vec::new();
    for (at, m) in records {
        let at_ms = m
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(parse_ms);
        let mid = m.get("id").and_then(Value::as_str).map(str::to_owned);
        let text = crate::parts_text(m.get("content"));
        match m.get("type").and_then(Value::as_str).unwrap_or_default() {
            "user" => {
                if !text.trim().is_empty() {
                    events.push(Event::User {
                        id: mid,
                        text,
                        at_ms,
                    });
                }
            }
            "gemini" => {
                if !text.trim().is_empty() {
                    events.push(Event::Assistant {
                        id: mid,
                        text,
                        at_ms,
                    });
                }
                let calls = match m.get("toolCalls") {
                    Some(Value::Array(c)) => c.as_slice(),
                    None | Some(Value::Null) => &[],
                    Some(_) => {
                        diag(diags, at.clone(), "toolCalls is not a list");
                        &[]
                    }
                };
                for (k, c) in calls.iter().enumerate() {
                    tool_call(c, &format!("{at}.toolCalls[{k}]"), &mut events, diags);
                }
            }
            "info" | "warning" | "error" => {}
            "" => diag(diags, at.clone(), "message has no \"type\""),
            other => diag(diags, at.clone(), format!("unknown message type {other:?}")),
        }
    }
    Session { id, events }
}

fn tool_call(c: &Value, at: &str, events: &mut Vec<Event>, diags: &mut Vec<Diagnostic>) {
    let (Some(call_id), Some(name)) = (
        c.get("id").and_then(Value::as_str),
        c.get("name").and_then(Value::as_str),
    ) else {
        diag(diags, at, "tool call without id or name");
        return;
    };
    events.push(Event::ToolCall {
        call_id: call_id.to_owned(),
        tool: name.to_owned(),
        args_json: c
            .get("args")
            .map_or_else(|| "{}".to_owned(), Value::to_string),
        at_ms: c
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(parse_ms),
    });
    let status = c.get("status").and_then(Value::as_str).unwrap_or_default();
    let output = match c.get("result") {
        Some(r) if !r.is_null() => response_text(r),
        // No result recorded (cancelled before it ran, or still running when the file was
        // written): the display text is all there is.
        _ => match c.get("resultDisplay").and_then(Value::as_str) {
            Some(d) => d.to_owned(),
            None => return,
        },
    };
    events.push(Event::ToolResult {
        call_id: call_id.to_owned(),
        output,
        is_error: matches!(status, "error" | "cancelled"),
    });
}

/// The text of a `PartListUnion` tool result: `functionResponse.response.output` (or `error`,
/// or the response as JSON), and any text parts.
fn response_text(v: &Value) -> String {
    let part = |p: &Value| -> Option<String> {
        if let Some(t) = p.as_str() {
            return Some(t.to_owned());
        }
        if let Some(t) = p.get("text").and_then(Value::as_str) {
            return Some(t.to_owned());
        }
        let r = p.get("functionResponse")?.get("response")?;
        Some(
            r.get("output")
                .or_else(|| r.get("error"))
                .and_then(Value::as_str)
                .map_or_else(|| r.to_string(), str::to_owned),
        )
    };
    match v {
        Value::Array(parts) => parts.iter().filter_map(part).collect::<Vec<_>>().join("\n"),
        other => part(other).unwrap_or_default(),
    }
}

/// A saved trajectory: the `Content[]` model history.
fn trajectory(t: &str, diags: &mut Vec<Diagnostic>) -> Result<Vec<Session>, ImportError> {
    let v: Value = serde_json::from_str(t).map_err(|e| ImportError::NotTheFormat {
        format: Format::GeminiCli,
        reason: e.to_string(),
    })?;
    let Some(list) = v.as_array() else {
        return Err(ImportError::NotTheFormat {
            format: Format::GeminiCli,
            reason: "the top level is not a list of contents".to_owned(),
        });
    };
    let mut events = Vec::new();
    // Calls without an id are answered in order, per tool name.
    let mut open: Vec<(String, String)> = Vec::new();
    for (i, content) in list.iter().enumerate() {
        let at = format!("contents[{i}]");
        let role = content
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(parts) = content.get("parts").and_then(Value::as_array) else {
            diag(diags, at, "content without a parts list");
            continue;
        };
        let mut text = String::new();
        // Text before a call or response is said before it: flushed first, to keep the order.
        let flush = |text: &mut String, events: &mut Vec<Event>, diags: &mut Vec<Diagnostic>| {
            if text.trim().is_empty() {
                text.clear();
                return;
            }
            let text = std::mem::take(text);
            match role {
                "user" => events.push(Event::User {
                    id: Some(at.clone()),
                    text,
                    at_ms: None,
                }),
                "model" => events.push(Event::Assistant {
                    id: Some(at.clone()),
                    text,
                    at_ms: None,
                }),
                other => diag(diags, at.clone(), format!("unknown role {other:?}")),
            }
        };
        for (k, p) in parts.iter().enumerate() {
            if let Some(t) = p.get("text").and_then(Value::as_str) {
                // Thought parts are the model's reasoning, not conversation.
                if p.get("thought").and_then(Value::as_bool) != Some(true) {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(t);
                }
            } else if let Some(fc) = p.get("functionCall") {
                flush(&mut text, &mut events, diags);
                let Some(name) = fc.get("name").and_then(Value::as_str) else {
                    diag(
                        diags,
                        format!("{at}.parts[{k}]"),
                        "functionCall without a name",
                    );
                    continue;
                };
                let call_id = fc
                    .get("id")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("{at}.parts[{k}]"), str::to_owned);
                open.push((name.to_owned(), call_id.clone()));
                events.push(Event::ToolCall {
                    call_id,
                    tool: name.to_owned(),
                    args_json: fc
                        .get("args")
                        .map_or_else(|| "{}".to_owned(), Value::to_string),
                    at_ms: None,
                });
            } else if let Some(fr) = p.get("functionResponse") {
                flush(&mut text, &mut events, diags);
                let name = fr.get("name").and_then(Value::as_str).unwrap_or_default();
                let call_id = match fr.get("id").and_then(Value::as_str) {
                    Some(id) => {
                        open.retain(|(_, c)| c != id);
                        id.to_owned()
                    }
                    None => match open.iter().position(|(n, _)| n == name) {
                        Some(j) => open.remove(j).1,
                        None => format!("{at}.parts[{k}]"),
                    },
                };
                events.push(Event::ToolResult {
                    call_id,
                    output: response_text(p),
                    is_error: fr.get("response").and_then(|r| r.get("error")).is_some(),
                });
            }
        }
        flush(&mut text, &mut events, diags);
    }
    Ok(vec![Session {
        id: "trajectory".to_owned(),
        events,
    }])
}
