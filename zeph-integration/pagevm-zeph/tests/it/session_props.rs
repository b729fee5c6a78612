//! `PagedSession` over random Zeph histories: every request within its budget with no
//! orphaned tool pair, an audit record for every level change, every page id a request names
//! readable in full with `read_page`, and a restart on the same store that writes nothing.

use std::collections::{BTreeMap, BTreeSet};

use page_core::{PageId, Repr};
use page_writeback::{HistoryStore, MemoryStore};
use pagevm_zeph::{PagedSession, SessionConfig, ZephTokens, orphaned_pairs, read_page};
use proptest::prelude::*;
use serde_json::json;
use zeph_llm::provider::{Message, MessagePart, Role};

use crate::{text, tool_result, tool_use};

const CONVERSATION: i64 = 3;

#[derive(Debug, Clone)]
struct Call {
    tool: usize,
    target: usize,
    lines: usize,
}

#[derive(Debug, Clone)]
struct Turn {
    words: usize,
    /// Assistant messages that call tools, each with its calls.
    rounds: Vec<Vec<Call>>,
    reply: bool,
}

const TOOLS: [&str; 3] = ["read", "grep", "bash"];

fn turn() -> impl Strategy<Value = Turn> {
    let call = (0..TOOLS.len(), 0..4usize, 1..160usize).prop_map(|(tool, target, lines)| Call {
        tool,
        target,
        lines,
    });
    (
        1..60usize,
        prop::collection::vec(prop::collection::vec(call, 1..4), 0..3),
        any::<bool>(),
    )
        .prop_map(|(words, rounds, reply)| Turn {
            words,
            rounds,
            reply,
        })
}

/// The history, numbered as Zeph's database numbers rows, and the exact output of each tool
/// page (`zeph-c3-m<row>-t<k>`).
fn history(turns: &[Turn]) -> (Vec<Message>, BTreeMap<PageId, String>) {
    let mut h = vec![text(
        Role::System,
        "You are a coding agent. Never push to main.",
    )];
    let mut outputs = Vec::new();
    for (t, turn) in turns.iter().enumerate() {
        let words: Vec<String> = (0..turn.words).map(|w| format!("w{t}_{w}")).collect();
        h.push(text(Role::User, &format!("Task {t}: {}", words.join(" "))));
        for (r, round) in turn.rounds.iter().enumerate() {
            let mut uses = vec![MessagePart::Text {
                text: format!("Round {r} of task {t}."),
            }];
            let mut results = Vec::new();
            for (k, c) in round.iter().enumerate() {
                let id = format!("toolu_{t}_{r}_{k}");
                let tool = TOOLS[c.tool];
                uses.push(tool_use(
                    &id,
                    tool,
                    json!({"target": format!("src/m{}.rs", c.target)}),
                ));
                let out: String = (0..c.lines)
                    .map(|l| format!("{tool} m{} line {l}: value {t}.{r}.{k}\n", c.target))
                    .collect();
                results.push(tool_result(&id, &out));
                outputs.push((h.len(), k, out));
            }
            h.push(Message::from_parts(Role::Assistant, uses));
            h.push(Message::from_parts(Role::User, results));
        }
        if turn.reply {
            h.push(text(Role::Assistant, &format!("Done with task {t}.")));
        }
    }
    for (i, m) in h.iter_mut().enumerate() {
        m.metadata.db_id = Some(i64::try_from(i).unwrap() + 1);
    }
    let outputs = outputs
        .into_iter()
        .map(|(row, k, out)| {
            (
                PageId::new(format!("zeph-c{CONVERSATION}-m{}-t{k}", row + 1)).unwrap(),
                out,
            )
        })
        .collect();
    (h, outputs)
}

fn session(store: &MemoryStore) -> PagedSession<&MemoryStore> {
    PagedSession::start(
        store,
        ZephTokens::new(),
        SessionConfig::new(CONVERSATION).unwrap(),
    )
    .unwrap()
}

/// Every `zeph-c3-m<row>[-t<k>]` a text names.
fn named_ids(text: &str) -> BTreeSet<String> {
    let prefix = format!("zeph-c{CONVERSATION}-m");
    let mut out = BTreeSet::new();
    for (at, _) in text.match_indices(&prefix) {
        let rest = &text[at + prefix.len()..];
        let row: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if row.is_empty() {
            continue;
        }
        let mut id = format!("{prefix}{row}");
        let after = &rest[row.len()..];
        if let Some(k) = after.strip_prefix("-t") {
            let k: String = k.chars().take_while(char::is_ascii_digit).collect();
            if !k.is_empty() {
                id = format!("{id}-t{k}");
            }
        }
        out.insert(id);
    }
    out
}

fn message_text(m: &Message) -> String {
    let mut s = m.content.clone();
    for p in &m.parts {
        if let MessagePart::ToolResult { content, .. } | MessagePart::Text { text: content } = p {
            s.push('\n');
            s.push_str(content);
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_histories_keep_every_invariant_through_a_restart(
        turns in prop::collection::vec(turn(), 1..9),
        budget in 1_500usize..5_000,
    ) {
        let (h, outputs) = history(&turns);
        let store = MemoryStore::new();
        let mut s = session(&store);
        let mut changes: BTreeMap<PageId, Vec<(Repr, Repr)>> = BTreeMap::new();
        let mut previous: Vec<(PageId, Repr)> = Vec::new();
        let mut named = BTreeSet::new();
        let mut gone = BTreeSet::new();
        // Each request, and last the whole history (its final reply too).
        let mut ends: Vec<usize> = (1..h.len()).filter(|&e| h[e - 1].role == Role::User).collect();
        ends.push(h.len());
        for end in ends {
            let prompt = s.assemble(&h[..end], budget, 1_700_000_000).unwrap();
            prop_assert!(prompt.tokens <= budget, "{} > {budget}", prompt.tokens);
            prop_assert_eq!(orphaned_pairs(&prompt.messages), 0);
            let now: BTreeMap<&PageId, Repr> =
                prompt.assembly.placed.iter().map(|p| (&p.page, p.level)).collect();
            for (page, from) in &previous {
                let to = now.get(page).copied().unwrap_or(Repr::None);
                if to != *from {
                    changes.entry(page.clone()).or_default().push((*from, to));
                }
                if to == Repr::None {
                    gone.insert(page.clone());
                }
            }
            // A page left out and shown again comes back from `none`.
            for (page, to) in &now {
                if gone.remove(*page) {
                    changes.entry((*page).clone()).or_default().push((Repr::None, *to));
                }
            }
            previous = prompt.assembly.placed.iter().map(|p| (p.page.clone(), p.level)).collect();
            for m in &prompt.messages {
                named.extend(named_ids(&message_text(m)));
            }
        }
        let paged: Vec<PageId> = s.engine().pages().iter().map(|p| p.id().clone()).collect();
        let (_, _) = s.end().map_err(|e| e.0).unwrap();
        // An audit record for every level change, in order.
        for (page, want) in &changes {
            let trail: Vec<(Repr, Repr)> = store
                .audit_trail(page)
                .unwrap()
                .iter()
                .map(|r| (r.change.from, r.change.to))
                .collect();
            prop_assert_eq!(&trail, want, "{}", page);
        }
        // Every id a request named reads back; a tool page's text is the exact output.
        let s = session(&store);
        for id in &named {
            let text = read_page(s.engine(), &json!({"page": id}));
            prop_assert!(text.is_ok(), "{id}: {text:?}");
            if let Some(out) = outputs.get(&PageId::new(id).unwrap()) {
                prop_assert_eq!(&text.unwrap(), out);
            }
        }
        // Every tool output is in the store in full, named after its row.
        let versions = |s: &PagedSession<&MemoryStore>| -> BTreeMap<PageId, Vec<u64>> {
            paged
                .iter()
                .map(|p| (p.clone(), s.engine().store().page_versions(p).unwrap()))
                .collect()
        };
        let before = versions(&s);
        prop_assert!(before.values().all(|v| v.len() == 1), "{before:?}");
        for (page, out) in &outputs {
            prop_assert!(before.contains_key(page), "{page} not paged");
            prop_assert_eq!(&read_page(s.engine(), &json!({"page": page.as_str()})).unwrap(), out);
        }
        // A restart replays the whole history: the same pages, none written again.
        let mut s = s;
        let prompt = s.assemble(&h, budget, 1_700_000_001).unwrap();
        prop_assert!(prompt.tokens <= budget);
        prop_assert_eq!(orphaned_pairs(&prompt.messages), 0);
        let ids = |pages: &[PageId]| pages.iter().cloned().collect::<BTreeSet<_>>();
        let replayed: Vec<PageId> = s.engine().pages().iter().map(|p| p.id().clone()).collect();
        prop_assert_eq!(ids(&replayed), ids(&paged));
        let (_, _) = s.end().map_err(|e| e.0).unwrap();
        prop_assert_eq!(versions(&session(&store)), before);
    }
}
