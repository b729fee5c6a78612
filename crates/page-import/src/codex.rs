//! Codex CLI rollouts (`~/.codex/sessions/YYYY/MM/DD/rollout-<time>-<uuid>.jsonl`).
//!
//! Format, from openai/codex `codex-rs/protocol/src/protocol.rs` (`RolloutLine`, `RolloutItem`,
//! `SessionMetaLine`) and `codex-rs/protocol/src/models.rs` (`ResponseItem`, `ContentItem`,
//! `FunctionCallOutputPayload`, `LocalShellAction`): one JSON object per line,
//! `{"timestamp": "<RFC 3339>", "type": <kind>, "payload": {...}}` with kinds
//!
//! - `session_meta`: `id`, `timestamp`, `cwd`, `originator`, `cli_version`, `instructions` (or
//!   `base_instructions.text`), `git`: the session id and the harness instructions;
//! - `response_item`: what the model saw and said, tagged by `type`: `message` (`role` `user`,
//!   `assistant`, `developer` or `system`; `content` a list of `input_text`/`output_text` parts),
//!   `function_call` (`name`, `arguments` as JSON text, `call_id`), `function_call_output`
//!   (`call_id`, `output`: a string, a list of content items, or, in older files,
//!   `{content, success}`), `local_shell_call` (`call_id`, `action.command` argv),
//!   `custom_tool_call` / `custom_tool_call_output` (`apply_patch` and friends), `reasoning`,
//!   `web_search_call`, `ghost_snapshot`, `compaction`;
//! - `compacted`, `turn_context`, `event_msg`: Codex's own compaction summaries, per-turn
//!   settings and UI events (which repeat the messages above): no new conversation.
//!
//! Early rollouts (2025 before the `payload` envelope) wrote the session meta object as the
//! first line and bare `ResponseItem`s after it; both layouts are read. Codex injects the
//! repository's `AGENTS.md` and an `<environment_context>` block as `user` messages: those are
//! instructions, not the user speaking, and become system events.

use serde_json::Value;

use crate::time::parse_ms;
use crate::{Diagnostic, Event, Session, diag, json_line};

/// The `type` tags of `ResponseItem` (serde `snake_case`), for recognising bare items.
pub(crate) const RESPONSE_ITEM_TYPES: [&str; 11] = [
    "message",
    "reasoning",
    "local_shell_call",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "web_search_call",
    "ghost_snapshot",
    "compaction",
    "compaction_summary",
];

pub(crate) fn read(text: &str, diags: &mut Vec<Diagnostic>) -> Vec<Session> {
    let mut session = Session {
        id: "rollout".to_owned(),
        events: Vec::new(),
    };
    for (n, line) in text.lines().enumerate() {
        let Some((at, v)) = json_line(n, line, diags) else {
            continue;
        };
        if !v.is_object() {
            diag(diags, at, "record is not a JSON object");
            continue;
        }
        let at_ms = v
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(parse_ms);
        let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
        match (kind, v.get("payload")) {
            ("session_meta", Some(p)) => meta(p, &mut session),
            ("response_item", Some(p)) => item(p, at_ms, &at, &mut session.events, diags),
            ("compacted" | "turn_context" | "event_msg", Some(_)) => {}
            (k, Some(_)) => diag(diags, at, format!("unknown rollout item {k:?}")),
            // The early layout: bare items, and the meta object without a `type`.
            (k, None) if RESPONSE_ITEM_TYPES.contains(&k) => {
                item(&v, at_ms, &at, &mut session.events, diags);
            }
            ("", None) if v.get("id").is_some() && n == first_line(text) => meta(&v, &mut session),
            // Early rollouts interleave `{"record_type": "state"}` bookkeeping lines.
            ("", None) if v.get("record_type").is_some() => {}
            ("", None) => diag(diags, at, "record has no \"type\""),
            (k, None) => diag(diags, at, format!("unknown record type {k:?}")),
        }
    }
    vec![session]
}

/// Index of the first non-blank line.
fn first_line(text: &str) -> usize {
    text.lines()
        .position(|l| !l.trim().is_empty())
        .unwrap_or_default()
}

fn meta(p: &Value, session: &mut Session) {
    if let Some(id) = p
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        id.clone_into(&mut session.id);
    }
    let instructions = p
        .get("instructions")
        .and_then(Value::as_str)
        .or_else(|| {
            p.get("base_instructions")
                .and_then(|b| b.get("text"))
                .and_then(Value::as_str)
        })
        .filter(|s| !s.trim().is_empty());
    if let Some(text) = instructions {
        session.events.push(Event::System {
            text: text.to_owned(),
        });
    }
}

fn item(
    p: &Value,
    at_ms: Option<i64>,
    at: &str,
    events: &mut Vec<Event>,
    diags: &mut Vec<Diagnostic>,
) {
    let kind = p.get("type").and_then(Value::as_str).unwrap_or_default();
    let str_field = |k: &str| p.get(k).and_then(Value::as_str);
    match kind {
        "message" => {
            let text = crate::parts_text(p.get("content"));
            if text.trim().is_empty() {
                return;
            }
            let id = str_field("id").map(str::to_owned);
            match str_field("role").unwrap_or_default() {
                "user" if is_injected_context(&text) => events.push(Event::System { text }),
                "user" => events.push(Event::User { id, text, at_ms }),
                "assistant" => events.push(Event::Assistant { id, text, at_ms }),
                "developer" | "system" => events.push(Event::System { text }),
                other => diag(diags, at, format!("message with unknown role {other:?}")),
            }
        }
        "function_call" => match (str_field("call_id"), str_field("name")) {
            (Some(call_id), Some(name)) => events.push(Event::ToolCall {
                call_id: call_id.to_owned(),
                tool: name.to_owned(),
                args_json: match p.get("arguments") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => "{}".to_owned(),
                },
                at_ms,
            }),
            _ => diag(diags, at, "function_call without call_id or name"),
        },
        "custom_tool_call" => match (str_field("call_id"), str_field("name")) {
            (Some(call_id), Some(name)) => events.push(Event::ToolCall {
                call_id: call_id.to_owned(),
                tool: name.to_owned(),
                args_json: serde_json::json!({ "input": str_field("input").unwrap_or_default() })
                    .to_string(),
                at_ms,
            }),
            _ => diag(diags, at, "custom_tool_call without call_id or name"),
        },
        "local_shell_call" => {
            let call_id = str_field("call_id").or_else(|| str_field("id"));
            let argv: Option<Vec<&str>> = p
                .get("action")
                .and_then(|a| a.get("command"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect());
            match (call_id, argv) {
                (Some(call_id), Some(argv)) => events.push(Event::ToolCall {
                    call_id: call_id.to_owned(),
                    tool: "local_shell".to_owned(),
                    args_json: serde_json::json!({ "command": argv }).to_string(),
                    at_ms,
                }),
                _ => diag(diags, at, "local_shell_call without call_id or command"),
            }
        }
        "function_call_output" | "custom_tool_call_output" => match str_field("call_id") {
            Some(call_id) => {
                let (output, is_error) = output_text(p.get("output"));
                events.push(Event::ToolResult {
                    call_id: call_id.to_owned(),
                    output,
                    is_error,
                });
            }
            None => diag(diags, at, format!("{kind} without call_id")),
        },
        // Provider state (encrypted reasoning, compaction blobs), snapshots and searches the
        // transcript cannot replay.
        "reasoning" | "web_search_call" | "ghost_snapshot" | "compaction"
        | "compaction_summary" | "other" => {}
        "" => diag(diags, at, "response item has no \"type\""),
        other => diag(diags, at, format!("unknown response item {other:?}")),
    }
}

/// Blocks Codex injects as `user` messages that are instructions, not the user.
fn is_injected_context(text: &str) -> bool {
    let t = text.trim_start();
    [
        "<user_instructions>",
        "<environment_context>",
        "# AGENTS.md",
    ]
    .iter()
    .any(|p| t.starts_with(p))
}

/// A tool output: a string (for shell calls often itself JSON `{output, metadata: {exit_code}}`),
/// a list of content items, or the older `{content, success}` object.
fn output_text(v: Option<&Value>) -> (String, bool) {
    match v {
        Some(Value::String(s)) => {
            if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(s)
                && let Some(out) = o.get("output").and_then(Value::as_str)
            {
                let exit = o
                    .get("metadata")
                    .and_then(|m| m.get("exit_code"))
                    .and_then(Value::as_i64);
                return (out.to_owned(), exit.is_some_and(|c| c != 0));
            }
            (s.clone(), false)
        }
        Some(Value::Array(_)) => (crate::parts_text(v), false),
        Some(Value::Object(o)) => (
            o.get("content")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            o.get("success").and_then(Value::as_bool) == Some(false),
        ),
        _ => (String::new(), false),
    }
}
