//! An agent on Zeph's SQLite memory: a restart continues on the stored pages, and a Zeph
//! database migrated by `pagevm migrate` is continued by the agent.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use page_core::{Repr, Scope, SessionId};
use page_store_sqlite::SqliteStore;
use page_writeback::PageStore as _;
use pagevm_migrate::{MigrateOptions, NoProgress, ZephDb, ids, migrate, zeph_builder};
use pagevm_zeph::{PagedSession, SessionConfig, ZephTokens};
use pagevm_zeph_agent::{AgentConfig, Enforcement, Shared, attach};
use zeph_core::Agent;
use zeph_llm::any::AnyProvider;
use zeph_llm::mock::MockProvider;
use zeph_memory::ConversationId;
use zeph_memory::semantic::SemanticMemory;

use crate::support::{BUDGET, Files, Script, TURNS, registry, script_of, user_message};

/// Turns `turns` of the script on an agent with Zeph's SQLite memory at `zeph_db` and pagevm's
/// store at `pagevm_db`, as a restarted process would build it: Zeph reloads its history,
/// pagevm adopts the pages it stored.
async fn run_with_memory(
    zeph_db: &std::path::Path,
    pagevm_db: &std::path::Path,
    turns: std::ops::Range<usize>,
) -> Arc<Shared<SqliteStore>> {
    run_on(zeph_db, pagevm_db, None, turns).await
}

/// As [`run_with_memory`], on Zeph conversation `conversation` (`None`: the latest, or a new
/// one).
async fn run_on(
    zeph_db: &std::path::Path,
    pagevm_db: &std::path::Path,
    conversation: Option<i64>,
    turns: std::ops::Range<usize>,
) -> Arc<Shared<SqliteStore>> {
    let (mock, _calls) = MockProvider::default().with_tool_use(script_of(turns.clone()));
    let provider = AnyProvider::Mock(mock);
    let memory = Arc::new(
        SemanticMemory::new(
            zeph_db.to_str().unwrap(),
            "http://127.0.0.1:1",
            None,
            AnyProvider::Mock(MockProvider::default()),
            "test-model",
        )
        .await
        .unwrap(),
    );
    let conversation = match conversation {
        Some(c) => ConversationId(c),
        None => match memory.sqlite().latest_conversation_id().await.unwrap() {
            Some(c) => c,
            None => memory.sqlite().create_conversation().await.unwrap(),
        },
    };
    let (skills, _skills_dir) = registry();
    let channel = Script {
        inbox: turns.map(user_message).collect(),
        outbox: Arc::new(Mutex::new(Vec::new())),
    };
    let files = Files {
        runs: Arc::new(AtomicUsize::new(0)),
    };
    let store = SqliteStore::open(pagevm_db).unwrap();
    let session = PagedSession::start(
        store,
        ZephTokens::new(),
        SessionConfig::new(conversation.0).unwrap(),
    )
    .unwrap();
    let shared = Shared::new(session);
    let agent = Agent::new(provider.clone(), channel, skills, None, 5, files).with_memory(
        memory,
        conversation,
        200,
        0,
        100_000,
    );
    let mut agent = attach(
        agent,
        &shared,
        provider,
        AgentConfig {
            enforcement: Enforcement::Active,
            budget: BUDGET,
            clock: Arc::new(|| 1_780_000_000),
        },
    );
    agent.load_history().await.unwrap();
    agent.run().await.unwrap();
    shared
}

/// A restart: the agent is dropped after 20 turns and a new one, on the same Zeph database and
/// pagevm store, runs the other 20. No request of either exceeds the budget or orphans a
/// pair, the second adopts the stored pages of the history Zeph reloads, and every page the
/// first stored still reads back whole from the second. (Not yet asserted: that nothing is
/// paged twice. A message paged before Zeph numbered it has a provisional id, and the reloaded,
/// numbered message is paged again under `m<id>`; see docs/zeph-integration.md.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_continues_on_the_same_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (zeph_db, pagevm_db) = (dir.path().join("zeph.db"), dir.path().join("pagevm.db"));
    let first = run_with_memory(&zeph_db, &pagevm_db, 0..TURNS / 2).await;
    let before: Vec<(String, String)> = first
        .inspect(|s| {
            s.engine()
                .pages()
                .iter()
                .map(|p| (p.id().to_string(), s.engine().page_text(p.id()).unwrap()))
                .collect()
        })
        .unwrap();
    let first_records = first.records();
    drop(first);
    let second = run_with_memory(&zeph_db, &pagevm_db, TURNS / 2..TURNS).await;
    for r in first_records.iter().chain(&second.records()) {
        assert!(r.pagevm_tokens <= BUDGET && r.orphans == 0, "{r:?}");
    }
    assert!(!second.records().is_empty());
    second
        .inspect(|s| {
            let second: Vec<(String, String)> = s
                .engine()
                .pages()
                .iter()
                .map(|p| (p.id().to_string(), s.engine().page_text(p.id()).unwrap()))
                .collect();
            let adopted = second.iter().filter(|p| before.contains(p)).count();
            // Pages of the reloaded history's tool calls are found again by their ids.
            assert!(adopted > 0, "no page of the first process was adopted");
            for (page, text) in &before {
                let id = page_core::PageId::new(page.as_str()).unwrap();
                assert_eq!(&s.engine().page_text(&id).unwrap(), text, "{page}");
            }
        })
        .unwrap();
}

/// A Zeph database written by Zeph 0.21.4 (the fixture's conversation 1: native tool pairs, a
/// deferred tool-pair summary, a hard compaction, a trailing orphaned call), migrated by
/// `pagevm migrate`, then continued by the agent with pagevm active on the migrated store.
/// Measured: 16 pages migrated for the conversation; Zeph reloads 9 messages, whose pages are
/// adopted (5: what is sent as it is, like the system prompt, is not a page), none is paged
/// again, and the 5 new turns add 19 pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrated_zeph_database_is_continued_by_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let (zeph_db, pagevm_db) = (dir.path().join("zeph.db"), dir.path().join("pagevm.db"));
    // The agent writes Zeph's database: it works on a copy of the fixture.
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/zeph-0.21.4.db"),
        &zeph_db,
    )
    .unwrap();
    let report = {
        let store = SqliteStore::open(&pagevm_db).unwrap();
        migrate(
            &ZephDb::open(&zeph_db).unwrap(),
            &store,
            &zeph_builder().unwrap(),
            &MigrateOptions::default(),
            &mut NoProgress,
        )
        .unwrap()
    };
    let session = Scope::Session(SessionId::new(ids::session(1)).unwrap());
    let migrated: Vec<(String, String)> = {
        let store = SqliteStore::open(&pagevm_db).unwrap();
        store
            .search(&session, "")
            .unwrap()
            .into_iter()
            .map(|id| {
                let page = store.page(&id).unwrap().unwrap();
                let text = page
                    .representation(Repr::Full)
                    .unwrap()
                    .content()
                    .to_owned();
                (id.to_string(), text)
            })
            .collect()
    };
    assert_eq!((report.conversations, report.pages_created), (2, 35));
    let message_id = |page: &str| -> Option<u64> {
        let rest = page.strip_prefix("zeph-c1-m")?;
        rest.split('-').next()?.parse().ok()
    };
    let last_migrated = migrated
        .iter()
        .filter_map(|(p, _)| message_id(p))
        .max()
        .unwrap();

    let shared = run_on(&zeph_db, &pagevm_db, Some(1), 0..5).await;
    let records = shared.records();
    assert_eq!(records.len(), 10);
    for r in &records {
        assert!(r.pagevm_tokens <= BUDGET && r.orphans == 0, "{r:?}");
        assert!(r.system_prompt_kept, "{r:?}");
    }
    // The history Zeph reloaded (the first request, without its new user message).
    let reloaded = records[0].zeph_messages - 1;
    shared
        .inspect(|s| {
            let engine = s.engine();
            let pages: Vec<String> = engine.pages().iter().map(|p| p.id().to_string()).collect();
            let (adopted, new): (Vec<&String>, Vec<&String>) = pages
                .iter()
                .partition(|p| migrated.iter().any(|(m, _)| m == *p));
            assert!(!adopted.is_empty(), "no migrated page was adopted");
            // Every page the agent made is of a new turn: a message Zeph numbered after the
            // fixture's, or one paged before Zeph numbered it, at a position past the history.
            for page in &new {
                let of_new_turn = match message_id(page) {
                    Some(id) => id > last_migrated,
                    None => page
                        .strip_prefix("zeph-c1-n")
                        .and_then(|rest| rest.split('-').next()?.parse::<usize>().ok())
                        .is_some_and(|position| position >= reloaded),
                };
                assert!(
                    of_new_turn,
                    "{page} pages the migrated history a second time"
                );
            }
            // Every migrated page, reloaded by Zeph or hidden by its compaction, reads back.
            for (page, text) in &migrated {
                let id = page_core::PageId::new(page.as_str()).unwrap();
                assert_eq!(&engine.page_text(&id).unwrap(), text, "{page}");
            }
        })
        .unwrap();
}
