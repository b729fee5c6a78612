//! OpenHands trajectories: a JSON list of events; actions (`message`, `run`, `edit`, `browse`,
//! …) and observations that name the action they answer in `cause`.

use serde_json::Value;

use crate::time::parse_ms;
use crate::{Diagnostic, Event, Format, ImportError, Session, diag};

pub(crate) fn read(text: &str, diags: &mut Vec<Diagnostic>) -> Result<Vec<Session>, ImportError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ImportError::NotTheFormat {
        format: Format::OpenHands,
        reason: e.to_string(),
    })?;
    let Some(list) = v.as_array() else {
        return Err(ImportError::NotTheFormat {
            format: Format::OpenHands,
            reason: "the top level is not a list of events".to_owned(),
        });
    };
    let mut events = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let id = e
            .get("id")
            .map(|v| v.to_string().trim_matches('"').to_owned());
        let at = format!("event {}", id.as_deref().unwrap_or(&i.to_string()));
        let at_ms = e
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(parse_ms);
        let source = e.get("source").and_then(Value::as_str).unwrap_or_default();
        let content = e
            .get("content")
            .and_then(Value::as_str)
            .or_else(|| e.get("message").and_then(Value::as_str))
            .unwrap_or_default()
            .to_owned();
        if let Some(action) = e.get("action").and_then(Value::as_str) {
            match action {
                "message" => {
                    let text = e
                        .get("args")
                        .and_then(|a| a.get("content"))
                        .and_then(Value::as_str)
                        .map_or(content, str::to_owned);
                    match source {
                        "user" => events.push(Event::User { id, text, at_ms }),
                        "agent" => events.push(Event::Assistant { id, text, at_ms }),
                        _ => events.push(Event::System { text }),
                    }
                }
                // Bookkeeping actions change agent state, not the conversation.
                "system" | "change_agent_state" | "recall" | "think" | "finish" | "null" => {}
                tool => match id {
                    Some(call_id) => events.push(Event::ToolCall {
                        call_id,
                        tool: tool.to_owned(),
                        args_json: e
                            .get("args")
                            .map_or_else(|| "{}".to_owned(), Value::to_string),
                        at_ms,
                    }),
                    None => diag(diags, at, format!("{tool} action without an id")),
                },
            }
        } else if let Some(obs) = e.get("observation").and_then(Value::as_str) {
            let cause = e
                .get("cause")
                .map(|c| c.to_string().trim_matches('"').to_owned());
            match (obs, cause) {
                ("agent_state_changed" | "null" | "recall", _) => {}
                (_, Some(call_id)) => {
                    let exit = e
                        .get("extras")
                        .and_then(|x| x.get("exit_code"))
                        .and_then(Value::as_i64);
                    events.push(Event::ToolResult {
                        call_id,
                        output: content,
                        is_error: obs == "error" || exit.is_some_and(|c| c != 0),
                    });
                }
                (_, None) => diag(diags, at, format!("{obs} observation without a cause")),
            }
        } else {
            diag(diags, at, "event is neither an action nor an observation");
        }
    }
    Ok(vec![Session {
        id: "trajectory".to_owned(),
        events,
    }])
}
