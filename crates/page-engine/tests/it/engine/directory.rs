//! The page directory: a prompt that degrades a page names what it can still be cited by, in
//! text after the messages, and the budget still holds.

use std::collections::BTreeSet;

use page_core::{Repr, SessionId, TokenCounter};
use page_engine::{Assembly, Block, EngineConfig, is_directory, specifics};
use page_writeback::{MemoryStore, PrincipalId};

use super::{COUNTER, listing_session};

/// The listing session's prompts under `budget`, with the directory on or off.
fn prompts(directory: bool, budget: u32) -> Vec<Assembly> {
    let store = MemoryStore::new();
    let mut config = EngineConfig::new(
        SessionId::new("s1").unwrap(),
        PrincipalId::new("agent").unwrap(),
    );
    config.directory = directory;
    let mut e = page_engine::Engine::session_start(&store, COUNTER.clone(), config).unwrap();
    listing_session(&mut e, 8, |turn| 12 + 3 * turn, budget)
        .into_iter()
        .map(|(a, _)| a)
        .collect()
}

/// The specifics `a` shows whole: those of pages at full and of every tool call.
fn shown(a: &Assembly) -> BTreeSet<String> {
    let mut all = String::new();
    for block in a.messages.iter().flat_map(|m| &m.blocks) {
        match block {
            Block::Text { text, level, .. } | Block::ToolResult { text, level, .. }
                if *level == Repr::Full =>
            {
                all.push_str(text);
            }
            Block::ToolUse { args_json, .. } => all.push_str(args_json),
            _ => {}
        }
        all.push('\n');
    }
    let s = specifics(&all);
    s.paths.into_iter().chain(s.identifiers).collect()
}

#[test]
fn a_degraded_page_is_listed_by_what_no_shown_text_holds() {
    let budget = 1_600;
    let off = prompts(false, budget);
    let on = prompts(true, budget);
    assert!(off.iter().all(|a| a.directory.is_none()));
    let mut listed = 0;
    for (a, b) in off.iter().zip(&on) {
        // The directory is not a message: the messages, and so the cached prefix, are the same.
        assert_eq!(a.messages, b.messages);
        assert!(b.tokens.get() <= budget, "{} > {budget}", b.tokens.get());
        let Some(d) = &b.directory else {
            assert!(b.placed.iter().all(|p| p.level == Repr::Full));
            continue;
        };
        assert!(is_directory(&d.text));
        assert_eq!(d.tokens, COUNTER.count(&d.text));
        assert!(d.tokens.get() <= budget / 10);
        assert_eq!(b.tokens.get(), a.tokens.get() + d.tokens.get());
        let text = shown(b);
        for line in d.text.lines().skip(1) {
            let (page, specifics) = line.split_once(':').unwrap();
            assert!(
                b.placed
                    .iter()
                    .any(|p| p.page.as_str() == page && p.level < Repr::Full)
                    || !b.placed.iter().any(|p| p.page.as_str() == page),
                "{page} is listed but shown at full"
            );
            for s in specifics.split_whitespace() {
                assert!(!text.contains(s), "{s} is listed and shown whole");
                listed += 1;
            }
        }
    }
    assert!(
        listed > 0,
        "the budget must degrade a listing, or this shows nothing"
    );
}
