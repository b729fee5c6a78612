//! Integration tests of the Zeph adapter: structure, rendering, compaction paths, token
//! counts, the side-by-side comparison on the recorded traces, and Zeph's database beside
//! pagevm's store in one binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on unexpected errors"
)]

#[path = "../common/history.rs"]
mod history;

mod compaction;
mod convert;
mod give_way;
mod migrated;
mod read_page;
mod session;
mod session_props;
mod side_by_side;
mod sqlite_link;

pub(crate) use history::{text, tool_result, tool_use};
use zeph_llm::provider::{Message, MessagePart, Role};

/// A coding session: system prompt, task, three tool pairs with long outputs, replies.
pub(crate) fn session() -> Vec<Message> {
    let log = |name: &str| {
        let mut s = format!(
            "error[E0425]: cannot find value `{name}` in this scope\n --> src/{name}.rs:2:13\n"
        );
        s.push_str(
            &"   Compiling a crate whose build log only adds bulk to the output\n".repeat(40),
        );
        s
    };
    vec![
        text(Role::System, "You are a coding agent. Never push to main."),
        text(Role::User, "Fix the build of the parser crate."),
        Message::from_parts(
            Role::Assistant,
            vec![
                MessagePart::ThinkingBlock {
                    thinking: "Build first.".into(),
                    signature: "sig-1".into(),
                },
                tool_use(
                    "t1",
                    "bash",
                    serde_json::json!({"command": "cargo build -p parser"}),
                ),
            ],
        ),
        Message::from_parts(Role::User, vec![tool_result("t1", &log("lexer"))]),
        Message::from_parts(
            Role::Assistant,
            vec![tool_use(
                "t2",
                "read",
                serde_json::json!({"path": "src/lexer.rs"}),
            )],
        ),
        Message::from_parts(Role::User, vec![tool_result("t2", &log("token"))]),
        text(
            Role::Assistant,
            "The lexer uses `token` before defining it.",
        ),
        Message::from_parts(
            Role::Assistant,
            vec![tool_use(
                "t3",
                "bash",
                serde_json::json!({"command": "cargo test -p parser"}),
            )],
        ),
        Message::from_parts(Role::User, vec![tool_result("t3", &log("ast"))]),
        text(Role::Assistant, "Three errors remain: lexer, token, ast."),
    ]
}
