//! The page directory as Zeph carries it: page-engine's directory of a selection, in one
//! agent-only system message.

use page_core::Repr;
use page_engine::{Listing, is_directory as is_directory_text};
use zeph_llm::provider::{Message, MessageMetadata, MessagePart, Role};

use crate::pages::PagedHistory;
use crate::tokens::ZephTokens;

/// Whether `m` is a page directory message.
pub(crate) fn is_directory(m: &Message) -> bool {
    is_directory_text(&m.content)
}

/// The directory of one selection of `history`, in history order.
#[derive(Debug)]
pub(crate) struct Directory<'h>(page_engine::Directory<'h>);

fn message(text: String) -> Message {
    let mut m = Message::from_parts(Role::System, vec![MessagePart::Summary { text }]);
    m.metadata = MessageMetadata::agent_only();
    m
}

impl<'h> Directory<'h> {
    /// The directory of `history` rendered at `levels`; `None` when every specific of a page
    /// below full is shown by a page at full or by its own level's text.
    pub(crate) fn of(history: &'h PagedHistory, levels: &[Option<Repr>]) -> Option<Self> {
        let listings: Vec<Listing<'h>> = history
            .pages
            .iter()
            .zip(levels)
            .map(|(page, level)| Listing {
                page: page.id.as_str(),
                level: *level,
                text: level.and_then(|l| page.text(l)).unwrap_or_default(),
                specifics: &page.specifics,
            })
            .collect();
        page_engine::Directory::of(&listings).map(Self)
    }

    /// The whole directory.
    #[cfg(test)]
    pub(crate) fn message(&self) -> Message {
        message(self.0.text())
    }

    /// The directory within `limit` Zeph-counted tokens (a summary part counts as its text).
    pub(crate) fn within(&self, tokens: &ZephTokens, limit: usize) -> Option<Message> {
        self.0
            .within(limit, |t| tokens.text(t))
            .map(|(text, _)| message(text))
    }

    /// Zeph-counted tokens of the whole directory, line by line (see
    /// [`page_engine::Directory::estimate`]).
    pub(crate) fn estimate(&self, tokens: &ZephTokens) -> usize {
        self.0.estimate(|t| tokens.text(t))
    }
}

#[cfg(test)]
mod tests {
    use zeph_llm::provider::{Message, MessagePart, Role};

    use page_engine::DIRECTORY_HEADER;

    use super::*;
    use crate::pages::Pager;

    /// Tool pairs whose results name files: `src/shared.rs` in every one, one file of its own
    /// in each.
    fn history(pairs: usize) -> Vec<Message> {
        let mut m = vec![Message::from_parts(
            Role::System,
            vec![MessagePart::Text {
                text: "You are a coding agent.".into(),
            }],
        )];
        for k in 0..pairs {
            let id = format!("t{k}");
            m.push(Message::from_parts(
                Role::Assistant,
                vec![MessagePart::ToolUse {
                    id: id.clone(),
                    name: "grep".into(),
                    input: serde_json::json!({"pattern": "fn main"}),
                }],
            ));
            m.push(Message::from_parts(
                Role::User,
                vec![MessagePart::ToolResult {
                    tool_use_id: id,
                    content: format!("src/shared.rs:1: fn main\nsrc/only_{k}.rs:9: fn main\n"),
                    is_error: false,
                }],
            ));
        }
        m
    }

    #[test]
    fn a_directory_within_a_limit_fits_it_and_keeps_what_most_pages_hold() {
        let tokens = ZephTokens::new();
        let mut pager = Pager::new(tokens.clone(), page_engine::BuildConfig::default()).unwrap();
        let paged = pager.page(&history(6)).unwrap();
        let levels = vec![None; paged.pages.len()];
        let dir = Directory::of(&paged, &levels).unwrap();
        let whole = tokens.message(&dir.message());
        assert!(dir.message().content.contains("src/only_0.rs"));
        // The smallest directory that says anything: the fact every page holds, listed once,
        // on the first page that holds it. The greedy estimate may overshoot a line's exact
        // count by a token (a header or fact ending in punctuation joins the newline after
        // it), never undershoot it.
        let first = paged.pages[0].id.as_str();
        let one = tokens.text(&format!("{DIRECTORY_HEADER}\n{first}: src/shared.rs"));
        assert!(dir.within(&tokens, one - 1).is_none());
        for limit in one + 1..=whole + 2 {
            let m = dir.within(&tokens, limit).unwrap();
            let n = tokens.message(&m);
            assert!(n <= limit, "{n} tokens within a limit of {limit}");
            assert!(
                m.content.contains("src/shared.rs"),
                "{limit}: {}",
                m.content
            );
            if limit >= whole {
                assert_eq!(m.content, dir.message().content);
            } else {
                assert_ne!(m.content, dir.message().content);
            }
        }
    }

    #[test]
    fn what_a_rendered_page_shows_at_every_level_is_not_listed_again() {
        let tokens = ZephTokens::new();
        let mut pager = Pager::new(tokens, page_engine::BuildConfig::default()).unwrap();
        let mut messages = history(1);
        // The call's command renders with the tool use at every level of its page.
        messages[1].parts = vec![MessagePart::ToolUse {
            id: "t0".into(),
            name: "bash".into(),
            input: serde_json::json!({"command": "cargo test -p parser"}),
        }];
        // Long enough that its pointer is smaller than its full text.
        messages[2].parts = vec![MessagePart::ToolResult {
            tool_use_id: "t0".into(),
            content: format!(
                "src/only_0.rs:9: test failed\n{}",
                "running a test that only adds bulk to the log\n".repeat(30)
            ),
            is_error: false,
        }];
        let paged = pager.page(&messages).unwrap();
        assert_eq!(paged.pages.len(), 1);
        let listed = |level: Option<Repr>| {
            Directory::of(&paged, &[level]).map(|d| d.message().content.clone())
        };
        let at_pointer = listed(Some(Repr::Pointer)).unwrap();
        assert!(!at_pointer.contains("cargo test -p parser"), "{at_pointer}");
        assert!(at_pointer.contains("src/only_0.rs"), "{at_pointer}");
        let left_out = listed(None).unwrap();
        assert!(left_out.contains("cargo test -p parser"), "{left_out}");
    }
}
