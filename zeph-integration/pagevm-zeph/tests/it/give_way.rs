//! `PagedSession` when what it sends as it is leaves no room for the request: the parts give
//! way in the documented order, the request stays whole, nothing is sent above the budget, and
//! the audit records each change once.

use page_core::{PageId, Repr};
use page_writeback::{HistoryStore as _, MemoryStore};
use pagevm_zeph::{GiveWay, PagedSession, SessionConfig, ZephTokens, orphaned_pairs};
use zeph_llm::provider::{Message, Role};

use crate::text;

const CONVERSATION: i64 = 9;

/// A session whose system prompt is long, with a memory excerpt, a pinned message and a
/// user request after them; messages numbered from 100 as Zeph's database numbers rows.
fn history() -> Vec<Message> {
    let system: String = (0..120)
        .map(|n| format!("Rule {n}: keep module_{n} free of unsafe code and document it.\n"))
        .collect();
    let mut pinned = text(
        Role::User,
        "Pinned: the release branch is frozen until Friday.",
    );
    pinned.metadata.focus_pinned = true;
    let mut h = vec![
        text(Role::System, &system),
        text(Role::User, "Set up the workspace."),
        text(
            Role::Assistant,
            "The workspace builds; module_3 needs work.",
        ),
        text(
            Role::System,
            "[memory] module_3 failed its tests last week.",
        ),
        pinned,
        text(Role::User, "Fix module_3 and tell me what you changed."),
    ];
    for (i, m) in h.iter_mut().enumerate() {
        m.metadata.db_id = Some(i64::try_from(i).unwrap() + 100);
    }
    h
}

fn page(message: i64) -> PageId {
    PageId::new(format!("zeph-c{CONVERSATION}-m{message}")).unwrap()
}

fn reasons(store: &MemoryStore, id: &PageId) -> Vec<(String, Repr, Repr)> {
    store
        .audit_trail(id)
        .unwrap()
        .into_iter()
        .map(|r| (r.change.reason, r.change.from, r.change.to))
        .collect()
}

#[test]
fn the_fixed_parts_give_way_in_order_and_the_request_stays_whole() {
    let h = history();
    let tokens = ZephTokens::new();
    let system = tokens.message(&h[0]);
    let request = tokens.message(&h[5]);
    let store = MemoryStore::new();
    let mut s = PagedSession::start(
        &store,
        ZephTokens::new(),
        SessionConfig::new(CONVERSATION).unwrap(),
    )
    .unwrap();

    // Room for everything: nothing gives way.
    let roomy = tokens.context(&h) + 50;
    let prompt = s.assemble(&h, roomy, 1_700_000_000).unwrap();
    assert!(prompt.pressure.is_empty(), "{:?}", prompt.pressure);
    assert_eq!(prompt.messages[0].content, h[0].content);

    // Half the system prompt: memory and the pinned message go first, then the system prompt
    // is cut; the request is sent whole.
    let budget = system / 2 + request;
    let prompt = s.assemble(&h, budget, 1_700_000_001).unwrap();
    assert!(prompt.tokens <= budget, "{} > {budget}", prompt.tokens);
    assert_eq!(prompt.tokens, tokens.context(&prompt.messages));
    assert_eq!(orphaned_pairs(&prompt.messages), 0);
    let steps: Vec<(usize, GiveWay)> = prompt
        .pressure
        .iter()
        .map(|p| (p.message, p.reason))
        .collect();
    assert_eq!(
        steps,
        [
            (3, GiveWay::MemoryOmitted),
            (4, GiveWay::VerbatimOmitted),
            (0, GiveWay::SystemPromptCut),
        ]
    );
    let cut = &prompt.messages[0];
    assert_eq!(cut.role, Role::System);
    assert!(
        cut.content.starts_with("Rule 0: keep module_0"),
        "{}",
        cut.content
    );
    assert!(cut.content.contains("more lines of the system prompt cut"));
    assert!(cut.content.len() < h[0].content.len());
    assert!(
        prompt
            .messages
            .iter()
            .all(|m| !m.content.contains("[memory]"))
    );
    assert!(
        prompt
            .messages
            .iter()
            .all(|m| !m.content.starts_with("Pinned:"))
    );
    assert_eq!(
        prompt.messages.last().unwrap().content,
        h[5].content,
        "request whole"
    );

    // The same pressure again writes no second audit row; room again raises them back.
    s.assemble(&h, budget, 1_700_000_002).unwrap();
    let prompt = s.assemble(&h, roomy, 1_700_000_003).unwrap();
    assert!(prompt.pressure.is_empty());
    assert_eq!(prompt.messages[0].content, h[0].content);
    // The audit is committed at a boundary: the next request's.
    s.assemble(&h, roomy, 1_700_000_004).unwrap();
    assert_eq!(
        reasons(&store, &page(100)),
        [
            ("system_prompt_cut".to_owned(), Repr::Full, Repr::Compressed),
            ("raised".to_owned(), Repr::Compressed, Repr::Full),
        ]
    );
    assert_eq!(
        reasons(&store, &page(103)),
        [
            ("memory_omitted".to_owned(), Repr::Full, Repr::None),
            ("raised".to_owned(), Repr::None, Repr::Full),
        ]
    );
    assert_eq!(
        reasons(&store, &page(104)),
        [
            ("verbatim_omitted".to_owned(), Repr::Full, Repr::None),
            ("raised".to_owned(), Repr::None, Repr::Full),
        ]
    );
}

#[test]
fn a_budget_below_the_request_itself_is_still_never_exceeded() {
    let h = history();
    let mut s = PagedSession::start(
        MemoryStore::new(),
        ZephTokens::new(),
        SessionConfig::new(CONVERSATION).unwrap(),
    )
    .unwrap();
    for budget in [0, 1, 5, 12, 40, 200, 900] {
        let prompt = s.assemble(&h, budget, 1_700_000_000).unwrap();
        assert!(prompt.tokens <= budget, "{} > {budget}", prompt.tokens);
        assert_eq!(orphaned_pairs(&prompt.messages), 0);
        assert!(
            prompt
                .pressure
                .windows(2)
                .all(|w| w[0].reason <= w[1].reason),
            "{:?}",
            prompt.pressure
        );
    }
}
