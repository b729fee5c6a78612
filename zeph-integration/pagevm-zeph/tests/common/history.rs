//! A Zeph coding session for the adapter's tests (the in-process suite and the crash test):
//! message constructors and a numbered history with long tool results.

use serde_json::json;
use zeph_llm::provider::{Message, MessagePart, Role};

pub(crate) fn text(role: Role, t: &str) -> Message {
    Message::from_parts(role, vec![MessagePart::Text { text: t.into() }])
}

pub(crate) fn tool_use(id: &str, name: &str, input: serde_json::Value) -> MessagePart {
    MessagePart::ToolUse {
        id: id.into(),
        name: name.into(),
        input,
    }
}

pub(crate) fn tool_result(id: &str, content: &str) -> MessagePart {
    MessagePart::ToolResult {
        tool_use_id: id.into(),
        content: content.into(),
        is_error: false,
    }
}

/// A build log of `lines` lines naming `name`, distinct per turn.
pub(crate) fn log(name: &str, lines: usize) -> String {
    let mut s = format!(
        "error[E0425]: cannot find value `{name}` in this scope\n --> src/{name}.rs:2:13\n"
    );
    for l in 0..lines {
        s.push_str(&format!(
            "   Compiling {name}_dep_{l} v0.1.{l} (registry)\n"
        ));
    }
    s
}

/// A coding session of `turns` turns, each: a user request, an assistant message that thinks
/// and runs a command, its long result, and a reply. Messages are numbered as Zeph's database
/// numbers rows when `db` is set.
pub(crate) fn history(turns: usize, db: bool) -> Vec<Message> {
    let mut h = vec![text(
        Role::System,
        "You are a coding agent. Never push to main. Run the tests before you answer.",
    )];
    for t in 0..turns {
        let id = format!("toolu_{t}");
        h.push(text(
            Role::User,
            &format!("Step {t}: fix module_{t} and rerun its tests."),
        ));
        h.push(Message::from_parts(
            Role::Assistant,
            vec![
                MessagePart::ThinkingBlock {
                    thinking: format!("Run the tests of module_{t} first."),
                    signature: format!("sig-{t}"),
                },
                MessagePart::Text {
                    text: format!("Running the tests of module_{t}."),
                },
                tool_use(
                    &id,
                    "bash",
                    json!({"command": format!("cargo test -p module_{t}")}),
                ),
            ],
        ));
        h.push(Message::from_parts(
            Role::User,
            vec![tool_result(&id, &log(&format!("module_{t}"), 60))],
        ));
        h.push(text(
            Role::Assistant,
            &format!(
                "module_{t} used `module_{t}` before defining it; fixed in src/module_{t}.rs."
            ),
        ));
    }
    if db {
        for (i, m) in h.iter_mut().enumerate() {
            m.metadata.db_id = Some(i64::try_from(i).unwrap() + 100);
        }
    }
    h
}

/// Where Zeph calls the model: after each user message and after each tool result.
pub(crate) fn requests(h: &[Message]) -> Vec<usize> {
    (1..=h.len())
        .filter(|&end| h[end - 1].role == Role::User)
        .collect()
}
