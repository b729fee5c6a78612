//! `PagedSession`: a Zeph history driven through the lifecycle engine request by request,
//! under a budget that forces degradation, with a durable store across a restart.

use page_core::{PageId, Repr};
use page_store_sqlite::SqliteStore;
use page_writeback::{MemoryStore, PageStore, Store};
use pagevm_zeph::{
    PagedSession, STORE_FILE, SessionConfig, SessionPrompt, ZephTokens, default_store_path,
    open_default_store, orphaned_pairs, read_page,
};
use serde_json::json;
use zeph_llm::provider::{Message, Role};

use crate::history::{history, log, requests};
use crate::{text, tool_result, tool_use};

const CONVERSATION: i64 = 7;

fn session<S: Store>(store: S) -> PagedSession<S> {
    PagedSession::start(
        store,
        ZephTokens::new(),
        SessionConfig::new(CONVERSATION).unwrap(),
    )
    .unwrap()
}

fn check(prompt: &SessionPrompt, h: &[Message], budget: usize) {
    assert!(prompt.tokens <= budget, "{} > {budget}", prompt.tokens);
    assert_eq!(prompt.tokens, ZephTokens::new().context(&prompt.messages));
    assert_eq!(orphaned_pairs(&prompt.messages), 0);
    assert_eq!(
        prompt.messages[0].content, h[0].content,
        "system prompt verbatim"
    );
    assert!(
        prompt.assembly.unmet.is_empty(),
        "{:?}",
        prompt.assembly.unmet
    );
}

#[test]
fn every_request_fits_pairs_stay_whole_and_degraded_pages_read_back_in_full() {
    let h = history(40, true);
    let budget = 4_000;
    let store = MemoryStore::new();
    let mut s = session(&store);
    let mut last = None;
    for end in requests(&h) {
        let prompt = s.assemble(&h[..end], budget, 1_700_000_000).unwrap();
        check(&prompt, &h[..end], budget);
        last = Some(prompt);
    }
    let last = last.unwrap();
    // The whole history is far above the budget: pages were degraded or left out.
    let full = ZephTokens::new().context(&h);
    assert!(full > 5 * budget, "{full}");
    let degraded: Vec<&PageId> = last
        .assembly
        .placed
        .iter()
        .filter(|p| p.level < Repr::Full)
        .map(|p| &p.page)
        .collect();
    assert!(!degraded.is_empty());
    // Pages are named after Zeph's rows: message 3 (turn 0's tool use) holds call t0.
    let first_result = PageId::new("zeph-c7-m102-t0").unwrap();
    assert!(s.engine().pages().get(&first_result).is_some());
    // read_page returns a degraded or left-out result's full text.
    let text = read_page(s.engine(), &json!({"page": first_result.as_str()})).unwrap();
    assert_eq!(text, log("module_0", 60));
    // The request being answered is in the prompt, and its newest result in full.
    assert!(last.messages.iter().any(|m| m.content.contains("Step 39:")));
    let newest = last.messages.last().unwrap();
    assert!(
        newest.content.contains("module_39_dep_59"),
        "{}",
        newest.content
    );
}

#[test]
fn the_directory_ends_the_newest_message_and_leaves_the_prefix_alone() {
    let h = history(40, true);
    let budget = 4_000;
    let mut config = SessionConfig::new(CONVERSATION).unwrap();
    config.engine.directory = true;
    let mut with = PagedSession::start(MemoryStore::new(), ZephTokens::new(), config).unwrap();
    let mut without = session(MemoryStore::new());
    let mut listed = 0;
    for end in requests(&h) {
        let on = with.assemble(&h[..end], budget, 1_700_000_000).unwrap();
        let off = without.assemble(&h[..end], budget, 1_700_000_000).unwrap();
        check(&on, &h[..end], budget);
        // The same messages but for the newest one's tail: a provider's cache keeps them.
        let n = off.messages.len();
        assert_eq!(on.messages.len(), n);
        assert_eq!(
            format!("{:?}", &on.messages[..n - 1]),
            format!("{:?}", &off.messages[..n - 1])
        );
        let Some(d) = &on.assembly.directory else {
            assert_eq!(on.messages[n - 1].content, off.messages[n - 1].content);
            continue;
        };
        let newest = &on.messages[n - 1].content;
        assert!(newest.ends_with(&d.text), "{newest}");
        assert!(newest.starts_with(&off.messages[n - 1].content));
        // Every page it names is one read_page returns.
        for line in d.text.lines().skip(1) {
            let (page, _) = line.split_once(':').unwrap();
            read_page(with.engine(), &json!({ "page": page })).unwrap();
            listed += 1;
        }
    }
    assert!(
        listed > 0,
        "no request listed a page: the test shows nothing"
    );
}

#[test]
fn a_restart_adopts_the_stored_pages_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let mut memory = zeph_config::Config::default().memory;
    memory.sqlite_path = dir.path().join("zeph.db").to_str().unwrap().to_owned();
    let h = history(12, true);
    let budget = 3_000;
    let cut = requests(&h)[12]; // mid-session
    {
        let mut s = session(open_default_store(&memory).unwrap());
        for end in requests(&h).into_iter().filter(|&e| e <= cut) {
            check(
                &s.assemble(&h[..end], budget, 1).unwrap(),
                &h[..end],
                budget,
            );
        }
        s.end().map_err(|e| e.0).unwrap();
    }
    let store = SqliteStore::open(dir.path().join(STORE_FILE)).unwrap();
    let before: Vec<(String, Vec<u64>)> = (0..cut)
        .flat_map(|i| {
            let m = i64::try_from(i).unwrap() + 100;
            [format!("zeph-c7-m{m}"), format!("zeph-c7-m{m}-t0")]
        })
        .filter_map(|id| {
            let page = PageId::new(&id).unwrap();
            store.page(&page).unwrap()?;
            Some((id, store.page_versions(&page).unwrap()))
        })
        .collect();
    assert!(before.len() > 10, "{before:?}");
    // A new process: the history comes back from Zeph's database; the session catches up.
    let mut s = session(store);
    for end in requests(&h).into_iter().filter(|&e| e >= cut) {
        check(
            &s.assemble(&h[..end], budget, 2).unwrap(),
            &h[..end],
            budget,
        );
    }
    let (_, store) = s.end().map_err(|e| e.0).unwrap();
    for (id, versions) in before {
        let page = PageId::new(&id).unwrap();
        assert_eq!(
            store.page_versions(&page).unwrap(),
            versions,
            "{id} rewritten"
        );
    }
    // Pages after the restart were written too.
    let last = i64::try_from(h.len()).unwrap() + 100 - 3; // the last tool use
    assert!(
        store
            .page(&PageId::new(format!("zeph-c7-m{last}-t0")).unwrap())
            .unwrap()
            .is_some()
    );
}

#[test]
fn a_message_numbered_late_keeps_its_provisional_page() {
    let h = history(3, false);
    let store = MemoryStore::new();
    let mut s = session(&store);
    let end = requests(&h)[2];
    s.assemble(&h[..end], 2_000, 1).unwrap();
    let pages = s.engine().pages().iter().count();
    let provisional = s
        .engine()
        .pages()
        .iter()
        .filter(|p| p.id().as_str().starts_with("zeph-c7-d"))
        .count();
    assert_eq!(provisional, pages);
    // Zeph numbers the same messages later (its database came up): nothing is paged twice.
    let mut numbered = h.clone();
    for (i, m) in numbered.iter_mut().enumerate() {
        m.metadata.db_id = Some(i64::try_from(i).unwrap());
    }
    let next = requests(&h)[3];
    let prompt = s.assemble(&numbered[..next], 2_000, 2).unwrap();
    check(&prompt, &numbered[..next], 2_000);
    let after: Vec<String> = s
        .engine()
        .pages()
        .iter()
        .map(|p| p.id().to_string())
        .filter(|id| !id.starts_with("zeph-c7-d"))
        .collect();
    // Only the new messages carry numbered ids.
    assert!(
        after.iter().all(|id| id.starts_with("zeph-c7-m")),
        "{after:?}"
    );
    assert!(s.engine().pages().iter().count() > pages);
}

/// A restart: a new session on the same store, given the history Zeph reloads numbered,
/// adopts the pages an earlier session made before Zeph numbered those messages (found by
/// content, not position) instead of paging them a second time.
#[test]
fn a_restarted_session_adopts_pages_made_before_zeph_numbered_the_messages() {
    let h = history(3, false);
    let store = MemoryStore::new();
    let end = requests(&h)[2];
    let first: Vec<String> = {
        let mut s = session(&store);
        s.assemble(&h[..end], 2_000, 1).unwrap();
        let ids = s
            .engine()
            .pages()
            .iter()
            .map(|p| p.id().to_string())
            .collect();
        s.end().map_err(|e| e.0).unwrap();
        ids
    };
    // The restarted agent reloads the history numbered (its system prompt is built anew).
    let mut numbered = h.clone();
    for (i, m) in numbered.iter_mut().enumerate().skip(1) {
        m.metadata.db_id = Some(i64::try_from(i).unwrap() + 100);
    }
    let next = requests(&h)[3];
    let mut s = session(&store);
    let prompt = s.assemble(&numbered[..next], 2_000, 2).unwrap();
    check(&prompt, &numbered[..next], 2_000);
    let second: Vec<String> = s
        .engine()
        .pages()
        .iter()
        .map(|p| p.id().to_string())
        .collect();
    let adopted = second.iter().filter(|id| first.contains(id)).count();
    assert!(adopted > 0, "{second:?}");
    // What is not adopted is of the new messages, numbered after the reload.
    for id in second.iter().filter(|id| !first.contains(id)) {
        let n: usize = id["zeph-c7-m".len()..]
            .split('-')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(n >= 100 + end, "{id} paged again");
    }
}

#[test]
fn the_store_lives_beside_zephs_database() {
    let cases = [
        (
            "/home/u/.local/share/zeph/data/zeph.db",
            Some("/home/u/.local/share/zeph/data/pagevm.db"),
        ),
        ("zeph.db", Some("pagevm.db")),
        ("sqlite:/var/lib/zeph/z.db", Some("/var/lib/zeph/pagevm.db")),
        (":memory:", None),
        ("", None),
        ("postgres://zeph@localhost/zeph", None),
    ];
    for (zeph, want) in cases {
        let got = default_store_path(zeph);
        match want {
            Some(p) => assert_eq!(got.unwrap(), std::path::Path::new(p), "{zeph}"),
            None => assert!(
                got.unwrap_err().to_string().contains("is not a file"),
                "{zeph}"
            ),
        }
    }
}

/// One tool round trip: the assistant calls `tool` with `args`, the result is `output`.
fn round_trip(h: &mut Vec<Message>, id: &str, tool: &str, args: serde_json::Value, output: &str) {
    h.push(Message::from_parts(
        Role::Assistant,
        vec![tool_use(id, tool, args)],
    ));
    h.push(Message::from_parts(
        Role::User,
        vec![tool_result(id, output)],
    ));
}

#[test]
fn a_repeated_read_is_served_from_the_store_until_something_else_runs() {
    let file = |v: &str| -> String {
        (0..80)
            .map(|l| format!("pub fn step_{l}() -> u32 {{ {v} }}\n"))
            .collect()
    };
    let read = json!({"path": "src/lib.rs"});
    let read_args = read.to_string();
    let mut h = vec![
        text(Role::System, "You are a coding agent."),
        text(Role::User, "Look at src/lib.rs."),
    ];
    round_trip(&mut h, "toolu_1", "read", read.clone(), &file("1"));
    let store = MemoryStore::new();
    let mut s = session(&store);
    s.assemble(&h, 4_000, 1_700_000_000).unwrap();
    // The same read, in another key order and spacing: answered from the store.
    assert_eq!(
        s.before_tool("toolu_2", "read", r#"{ "path" : "src/lib.rs" }"#)
            .unwrap(),
        Some(file("1"))
    );
    // A shell command never is, and once it ran, the file may have changed.
    assert_eq!(
        s.before_tool("toolu_3", "bash", r#"{"command":"ls"}"#)
            .unwrap(),
        None
    );
    s.after_tool("bash");
    assert_eq!(s.before_tool("toolu_4", "read", &read_args).unwrap(), None);
    round_trip(
        &mut h,
        "toolu_3",
        "bash",
        json!({"command": "sed -i s/1/2/ src/lib.rs"}),
        "",
    );
    s.assemble(&h, 4_000, 1_700_000_001).unwrap();
    assert_eq!(s.before_tool("toolu_4", "read", &read_args).unwrap(), None);
    // Read again, it serves the new text.
    round_trip(&mut h, "toolu_4", "read", read, &file("2"));
    s.assemble(&h, 4_000, 1_700_000_002).unwrap();
    assert_eq!(
        s.before_tool("toolu_5", "read", &read_args).unwrap(),
        Some(file("2"))
    );
    assert!(
        s.before_tool("", "read", &read_args).is_err(),
        "empty call id"
    );
}

/// Zeph's own tool-output pruning rewrites an old result in place. The session keeps the
/// unit's pages (the store holds the full text) instead of paging it again, which failed with
/// `PageExists` inside a real agent.
#[test]
fn a_result_zeph_pruned_in_place_keeps_its_page_and_full_text() {
    let output: String = (0..120)
        .map(|l| format!("src/lib.rs:{l}: fn f_{l}()\n"))
        .collect();
    let mut h = vec![
        text(Role::System, "You are a coding agent."),
        text(Role::User, "Read src/lib.rs."),
    ];
    round_trip(
        &mut h,
        "toolu_1",
        "read",
        json!({"path": "src/lib.rs"}),
        &output,
    );
    h.push(text(Role::Assistant, "Read it."));
    h.push(text(Role::User, "Now summarise it."));
    let store = MemoryStore::new();
    let mut s = session(&store);
    s.assemble(&h, 4_000, 1_700_000_000).unwrap();
    let pages = s.engine().pages().iter().count();
    // Zeph prunes the old result to a stub.
    h[3] = Message::from_parts(Role::User, vec![tool_result("toolu_1", "[pruned]")]);
    let prompt = s.assemble(&h, 4_000, 1_700_000_060).unwrap();
    assert_eq!(orphaned_pairs(&prompt.messages), 0);
    assert_eq!(
        s.engine().pages().iter().count(),
        pages,
        "nothing paged twice"
    );
    let result = s
        .engine()
        .pages()
        .iter()
        .find(|p| p.page_type() == page_core::PageType::Evidence)
        .map(|p| p.id().to_string())
        .unwrap();
    let text = read_page(s.engine(), &json!({"page": result})).unwrap();
    assert!(text.contains("src/lib.rs:119: fn f_119()"), "{text}");
}
