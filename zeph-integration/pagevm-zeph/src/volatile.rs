//! Volatile text after stable text: the page directory and Zeph's budget hint go at the end of
//! the newest message, where their changes cost a provider's prefix cache nothing before them.
//!
//! With `[agent] budget_hint_enabled` (Zeph's default) the system prompt ends with a
//! `<budget>…</budget>` block that counts the tool rounds left (and the day's remaining spend),
//! so it changes at every request. At the start of the prompt that re-bills everything after
//! it, whatever the paging does: measured on Zeph's real loop, it made 33 to 40 of every 100
//! requests a prefix rewrite. At the tail it changes only the newest message. Its text is
//! Zeph's own, unchanged; only its place differs.

use zeph_llm::provider::{Message, MessagePart, Role};

/// Where Zeph's hint opens (`BudgetHint::format_xml`, appended after a blank line).
const OPEN: &str = "\n\n<budget>";
/// Where it closes: the system prompt's last characters.
const CLOSE: &str = "</budget>";

/// Moves the budget hint that ends the system prompt `messages[0]` to the end of the last
/// message, when that message is the user's side (a request, or tool results); otherwise, or
/// without a hint, changes nothing. Returns whether it moved.
pub(crate) fn hint_to_tail(messages: &mut [Message]) -> bool {
    let [first, .., last] = messages else {
        return false;
    };
    if first.role != Role::System || last.role != Role::User || !first.content.ends_with(CLOSE) {
        return false;
    }
    let Some(at) = first.content.rfind(OPEN) else {
        return false;
    };
    let hint = first.content.split_off(at);
    // The system prompt's parts, if any, carry the same text.
    if let Some(MessagePart::Text { text }) = first.parts.last_mut()
        && text.ends_with(&hint)
    {
        text.truncate(text.len() - hint.len());
    }
    push_tail(last, hint);
    true
}

/// Appends the page directory `text` to the last message, when that message is the user's
/// side (a request, or tool results); otherwise changes nothing. Returns whether it did.
pub(crate) fn directory_to_tail(messages: &mut [Message], text: &str) -> bool {
    match messages.last_mut() {
        Some(last) if last.role == Role::User => {
            push_tail(last, format!("\n\n{text}"));
            true
        }
        _ => false,
    }
}

/// Appends `text` to `m`: a text part of its own when it has parts.
fn push_tail(m: &mut Message, text: String) {
    if m.parts.is_empty() {
        m.content.push_str(&text);
    } else {
        m.parts.push(MessagePart::Text { text });
        m.rebuild_content();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HINT: &str = "\n\n<budget>\n<remaining_tool_calls>7</remaining_tool_calls>\n<max_tool_calls>10</max_tool_calls>\n</budget>";

    fn system(text: &str) -> Message {
        Message::from_legacy(Role::System, text)
    }

    #[test]
    fn the_hint_moves_to_the_newest_user_side_message() {
        let mut plain = vec![
            system(&format!("You are Zeph.{HINT}")),
            Message::from_legacy(Role::User, "Fix the build."),
        ];
        assert!(hint_to_tail(&mut plain));
        assert_eq!(plain[0].content, "You are Zeph.");
        assert_eq!(plain[1].content, format!("Fix the build.{HINT}"));

        let results = Message::from_parts(
            Role::User,
            vec![MessagePart::ToolResult {
                tool_use_id: "t1".into(),
                content: "ok".into(),
                is_error: false,
            }],
        );
        let mut with_parts = vec![system(&format!("You are Zeph.{HINT}")), results];
        assert!(hint_to_tail(&mut with_parts));
        assert!(matches!(
            with_parts[1].parts.last(),
            Some(MessagePart::Text { text }) if text == HINT
        ));
        assert!(with_parts[1].content.ends_with("</budget>"));
    }

    #[test]
    fn without_a_hint_or_a_user_tail_nothing_changes() {
        let cases = [
            vec![
                system("You are Zeph."),
                Message::from_legacy(Role::User, "Hi"),
            ],
            vec![
                system(&format!("You are Zeph.{HINT}")),
                Message::from_legacy(Role::Assistant, "Done."),
            ],
            vec![system(&format!("You are Zeph.{HINT}"))],
            vec![
                system(&format!("You are Zeph.{HINT} and more")),
                Message::from_legacy(Role::User, "Hi"),
            ],
        ];
        for mut case in cases {
            let before = case.clone();
            assert!(!hint_to_tail(&mut case));
            assert_eq!(format!("{case:?}"), format!("{before:?}"));
        }
    }
}
