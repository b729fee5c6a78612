//! SWE-agent `.traj` files: a JSON object whose `history` is the message list.
//!
//! Two dialects: older runs put the command in the assistant's `action` and the observation in
//! the next `user` message; function-calling runs put `tool_calls` on the assistant and the
//! observation in a `tool` message carrying `tool_call_ids`.

use serde_json::Value;

use crate::{Diagnostic, Event, Format, ImportError, Session, diag};

pub(crate) fn read(text: &str, diags: &mut Vec<Diagnostic>) -> Result<Vec<Session>, ImportError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ImportError::NotTheFormat {
        format: Format::SweAgent,
        reason: e.to_string(),
    })?;
    let Some(history) = v.get("history").and_then(Value::as_array) else {
        return Err(ImportError::NotTheFormat {
            format: Format::SweAgent,
            reason: "no \"history\" list".to_owned(),
        });
    };
    let id = v
        .get("environment")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("trajectory")
        .to_owned();
    let mut events = Vec::new();
    // The call an observation in the next `user` message answers (action dialect).
    let mut pending: Option<String> = None;
    let mut seen_task = false;
    for (i, m) in history.iter().enumerate() {
        let at = format!("history[{i}]");
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        let content = crate::parts_text(m.get("content"));
        match role {
            "system" => events.push(Event::System { text: content }),
            "user" => {
                if let Some(call_id) = pending.take() {
                    events.push(Event::ToolResult {
                        call_id,
                        output: content,
                        is_error: false,
                    });
                } else {
                    // Demonstrations and the task statement are user messages before any action.
                    seen_task = true;
                    events.push(Event::User {
                        id: Some(at),
                        text: content,
                        at_ms: None,
                    });
                }
            }
            "assistant" => {
                let thought = m
                    .get("thought")
                    .and_then(Value::as_str)
                    .map_or(content.clone(), str::to_owned);
                if !thought.trim().is_empty() {
                    events.push(Event::Assistant {
                        id: Some(at.clone()),
                        text: thought,
                        at_ms: None,
                    });
                }
                let calls = m.get("tool_calls").and_then(Value::as_array);
                if let Some(calls) = calls.filter(|c| !c.is_empty()) {
                    for (k, c) in calls.iter().enumerate() {
                        let f = c.get("function");
                        let name = f.and_then(|f| f.get("name")).and_then(Value::as_str);
                        let args = f.and_then(|f| f.get("arguments"));
                        let call_id = c
                            .get("id")
                            .and_then(Value::as_str)
                            .map_or_else(|| format!("{at}.{k}"), str::to_owned);
                        match name {
                            Some(n) => events.push(Event::ToolCall {
                                call_id,
                                tool: n.to_owned(),
                                args_json: match args {
                                    Some(Value::String(s)) => s.clone(),
                                    Some(other) => other.to_string(),
                                    None => "{}".to_owned(),
                                },
                                at_ms: None,
                            }),
                            None => diag(
                                diags,
                                format!("{at}.tool_calls[{k}]"),
                                "function call without a name",
                            ),
                        }
                    }
                } else if let Some(action) = m
                    .get("action")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                {
                    let tool = action
                        .split_whitespace()
                        .next()
                        .unwrap_or("command")
                        .to_owned();
                    let call_id = format!("{at}.action");
                    events.push(Event::ToolCall {
                        call_id: call_id.clone(),
                        tool,
                        args_json: serde_json::json!({ "command": action }).to_string(),
                        at_ms: None,
                    });
                    pending = Some(call_id);
                }
            }
            "tool" => {
                let ids: Vec<String> = match m.get("tool_call_ids") {
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                    _ => Vec::new(),
                };
                if ids.is_empty() {
                    diag(diags, at, "tool message without tool_call_ids");
                }
                for call_id in ids {
                    events.push(Event::ToolResult {
                        call_id,
                        output: content.clone(),
                        is_error: false,
                    });
                }
            }
            other => diag(diags, at, format!("unknown role {other:?}")),
        }
    }
    if !seen_task {
        diag(
            diags,
            "history",
            "no user message (task statement) before the first action",
        );
    }
    Ok(vec![Session { id, events }])
}
