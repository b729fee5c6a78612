//! The page directory: one agent-only system message naming, per page below full, the
//! specifics (paths, commands, identifiers) its level no longer shows, so what a later turn
//! cites stays resolvable instead of silently gone.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};

use page_core::Repr;
use zeph_llm::provider::{Message, MessageMetadata, MessagePart, Role};

use crate::pages::PagedHistory;
use crate::tokens::ZephTokens;

/// First line of the page directory.
const HEADER: &str = "[page directory: page id: what it holds]";

/// Whether `m` is a page directory message.
pub(crate) fn is_directory(m: &Message) -> bool {
    m.content.starts_with(HEADER)
}

/// One page's line: its id, then the facts no rendered text shows, key ones (paths, the
/// command) before identifiers.
#[derive(Debug)]
struct Line<'h> {
    page: &'h str,
    key: Vec<&'h str>,
    identifiers: Vec<&'h str>,
}

impl Line<'_> {
    fn facts(&self) -> impl Iterator<Item = &str> {
        self.key.iter().chain(&self.identifiers).copied()
    }
}

/// The directory of one selection, in history order.
#[derive(Debug)]
pub(crate) struct Directory<'h> {
    history: &'h PagedHistory,
    lines: Vec<Line<'h>>,
}

/// A fact as the directory writes it: a multi-line command stays on its page's line,
/// JSON-escaped as the tool call's own arguments are sent.
fn push_fact(text: &mut String, fact: &str) {
    text.push(' ');
    if fact.contains('\n') {
        text.push_str(&serde_json::Value::String(fact.to_owned()).to_string());
    } else {
        text.push_str(fact);
    }
}

fn message(text: String) -> Message {
    let mut m = Message::from_parts(Role::System, vec![MessagePart::Summary { text }]);
    m.metadata = MessageMetadata::agent_only();
    m
}

impl<'h> Directory<'h> {
    /// The directory of `history` rendered at `levels`; `None` when every fact of a page
    /// below full is shown by a page at full or by its own level's text.
    pub(crate) fn of(history: &'h PagedHistory, levels: &[Option<Repr>]) -> Option<Self> {
        // Shown: every fact of a page at full, and what any rendered page's frame shows.
        let mut shown: HashSet<&str> = HashSet::new();
        for (page, level) in history.pages.iter().zip(levels) {
            match level {
                Some(Repr::Full) => shown.extend(page.facts.iter()),
                Some(_) => shown.extend(page.facts.framed.iter().map(String::as_str)),
                None => {}
            }
        }
        let mut listed: HashSet<&str> = HashSet::new();
        let mut lines = Vec::new();
        for (page, level) in history.pages.iter().zip(levels) {
            if *level == Some(Repr::Full) {
                continue;
            }
            let own = level.and_then(|l| page.text(l)).unwrap_or_default();
            let mut new = |facts: &'h [String]| -> Vec<&'h str> {
                facts
                    .iter()
                    .map(String::as_str)
                    .filter(|f| !shown.contains(f) && !own.contains(f) && listed.insert(f))
                    .collect()
            };
            let key = new(&page.facts.key);
            let identifiers = new(&page.facts.identifiers);
            if !key.is_empty() || !identifiers.is_empty() {
                lines.push(Line {
                    page: page.id.as_str(),
                    key,
                    identifiers,
                });
            }
        }
        (!lines.is_empty()).then_some(Self { history, lines })
    }

    /// The whole directory.
    pub(crate) fn message(&self) -> Message {
        self.render(|_, _| true)
    }

    /// The directory within `limit` Zeph-counted tokens: the whole one when it fits, else as
    /// many facts as fit, those a later turn most likely cites first (held by more pages, then
    /// on a newer page); `None` when not even one does.
    pub(crate) fn within(&self, tokens: &ZephTokens, limit: usize) -> Option<Message> {
        let whole = self.message();
        if tokens.message(&whole) <= limit {
            return Some(whole);
        }
        // Priority over (line, fact index): facts more pages hold first (what a session
        // keeps coming back to), then the newest page's, in line order.
        let mut held: HashMap<&str, usize> = HashMap::new();
        for f in self.history.pages.iter().flat_map(|p| p.facts.iter()) {
            *held.entry(f).or_default() += 1;
        }
        let mut order: Vec<(Reverse<usize>, Reverse<usize>, usize)> = Vec::new();
        for (l, line) in self.lines.iter().enumerate() {
            for (f, fact) in line.facts().enumerate() {
                let times = held.get(fact).copied().unwrap_or(0);
                order.push((Reverse(times), Reverse(l), f));
            }
        }
        order.sort_unstable();
        // Greedy by summed counts: a fact follows a space, so its pieces never join its
        // neighbours'; a line's newline can join a punctuation end before it, so the sum may
        // overshoot by a token a line. The exact count of the result decides, dropping the
        // last chosen fact while it is over.
        let mut chosen: Vec<(usize, usize)> = Vec::new();
        let mut opened = vec![false; self.lines.len()];
        let mut estimate = tokens.text(HEADER);
        for (_, Reverse(l), f) in order {
            let line = &self.lines[l];
            let mut piece = String::new();
            push_fact(&mut piece, line.facts().nth(f).unwrap_or_default());
            let mut cost = tokens.text(&piece);
            if !opened[l] {
                cost += tokens.text(&format!("\n{}:", line.page));
            }
            if estimate + cost <= limit {
                estimate += cost;
                opened[l] = true;
                chosen.push((l, f));
            }
        }
        while !chosen.is_empty() {
            let keep: HashSet<(usize, usize)> = chosen.iter().copied().collect();
            let m = self.render(|l, f| keep.contains(&(l, f)));
            if tokens.message(&m) <= limit {
                return Some(m);
            }
            chosen.pop();
        }
        None
    }

    /// The message holding the facts `keep` selects (by line and fact index).
    fn render(&self, keep: impl Fn(usize, usize) -> bool) -> Message {
        let mut text = String::from(HEADER);
        for (l, line) in self.lines.iter().enumerate() {
            let mut facts = line
                .facts()
                .enumerate()
                .filter(|(f, _)| keep(l, *f))
                .map(|(_, fact)| fact)
                .peekable();
            if facts.peek().is_none() {
                continue;
            }
            push_line(&mut text, line.page, facts);
        }
        message(text)
    }

    /// Zeph-counted tokens of the whole directory, summed line by line, so a line that did
    /// not change since the last count is a memo hit. At least the exact count but for a
    /// token a line (a header or fact ending in punctuation joins the newline after it).
    pub(crate) fn estimate(&self, tokens: &ZephTokens) -> usize {
        let mut text = String::new();
        let mut n = tokens.text(HEADER);
        for line in &self.lines {
            text.clear();
            push_line(&mut text, line.page, line.facts());
            n += tokens.text(&text);
        }
        n
    }
}

/// One line of the directory: a newline, the page id, then its facts.
fn push_line<'a>(text: &mut String, page: &str, facts: impl Iterator<Item = &'a str>) {
    text.push('\n');
    text.push_str(page);
    text.push(':');
    for fact in facts {
        push_fact(text, fact);
    }
}

#[cfg(test)]
mod tests {
    use zeph_llm::provider::{Message, MessagePart, Role};

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
        let first = dir.lines[0].page;
        let one = tokens.text(&format!("{HEADER}\n{first}: src/shared.rs"));
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
