//! Recorded sessions as Zeph holds them: the messages the side-by-side replays.

use page_import::{Event, Session};
use zeph_llm::provider::{Message, MessagePart, Role};

/// Converts an imported session to Zeph messages, as Zeph would hold it: a system prompt
/// first, tool calls as `ToolUse` parts of the assistant message, results as `ToolResult`
/// parts of the following user message, `db_id`s in order. Returns the messages and, per
/// message, its time (milliseconds) when recorded.
#[must_use]
pub fn session_to_messages(session: &Session) -> (Vec<Message>, Vec<Option<i64>>) {
    let mut out: Vec<Message> = Vec::new();
    let mut at: Vec<Option<i64>> = Vec::new();
    for e in &session.events {
        match e {
            Event::System { text } => {
                out.push(Message::from_parts(
                    Role::System,
                    vec![MessagePart::Text { text: text.clone() }],
                ));
                at.push(None);
            }
            Event::User { text, at_ms, .. } => {
                out.push(Message::from_parts(
                    Role::User,
                    vec![MessagePart::Text { text: text.clone() }],
                ));
                at.push(*at_ms);
            }
            Event::Assistant { text, at_ms, .. } => {
                out.push(Message::from_parts(
                    Role::Assistant,
                    vec![MessagePart::Text { text: text.clone() }],
                ));
                at.push(*at_ms);
            }
            Event::ToolCall {
                call_id,
                tool,
                args_json,
                at_ms,
            } => {
                let input = serde_json::from_str(args_json)
                    .unwrap_or_else(|_| serde_json::Value::String(args_json.clone()));
                let part = MessagePart::ToolUse {
                    id: call_id.clone(),
                    name: tool.clone(),
                    input,
                };
                // Calls after a result start a new assistant message.
                match out.last_mut() {
                    Some(m) if m.role == Role::Assistant => m.parts.push(part),
                    _ => {
                        out.push(Message::from_parts(Role::Assistant, vec![part]));
                        at.push(*at_ms);
                    }
                }
            }
            Event::ToolResult {
                call_id,
                output,
                is_error,
            } => {
                let part = MessagePart::ToolResult {
                    tool_use_id: call_id.clone(),
                    content: output.clone(),
                    is_error: *is_error,
                };
                match out.last_mut() {
                    Some(m)
                        if m.role == Role::User
                            && m.parts
                                .iter()
                                .all(|p| matches!(p, MessagePart::ToolResult { .. })) =>
                    {
                        m.parts.push(part);
                    }
                    _ => {
                        out.push(Message::from_parts(Role::User, vec![part]));
                        at.push(None);
                    }
                }
            }
        }
    }
    for (i, m) in out.iter_mut().enumerate() {
        m.rebuild_content();
        m.metadata.db_id = i64::try_from(i + 1).ok();
    }
    // Zeph always holds its system prompt at index 0, and its hard compaction keeps index 0
    // unconditionally; a session recorded without one gets an empty-rule placeholder so the
    // comparison does not drain a real message Zeph would never have there.
    if out.first().is_none_or(|m| m.role != Role::System) {
        out.insert(
            0,
            Message::from_legacy(Role::System, "(no system prompt recorded)"),
        );
        at.insert(0, None);
    }
    (out, at)
}

/// A history to replay: its messages and their recorded times.
pub type History = (Vec<Message>, Vec<Option<i64>>);

/// Model messages of a history that the comparison observes (assistant messages after the
/// first message): the turns CPU time is divided by.
#[must_use]
pub fn observed_turns(messages: &[Message]) -> usize {
    messages
        .iter()
        .enumerate()
        .filter(|(i, m)| *i > 0 && m.role == Role::Assistant)
        .count()
}
