//! An agent on Zeph's SQLite memory: a restart continues on the stored pages, and a Zeph
//! database migrated by `pagevm migrate` is continued by the agent.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use page_core::{PageType, Repr, Scope, SessionId};
use page_store_sqlite::SqliteStore;
use page_writeback::PageStore as _;
use pagevm_migrate::{MigrateOptions, NoProgress, ZephDb, ids, migrate, zeph_builder};
use pagevm_zeph::{PagedSession, SessionConfig, ZephTokens};
use pagevm_zeph_agent::{AgentConfig, Enforcement, Shared, attach, compactors_off};
use zeph_core::{Agent, AgentSessionConfig};
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
    // Zeph's defaults, its compactors off as active mode has them.
    let mut zeph = AgentSessionConfig::from_config(&zeph_core::Config::default(), 0);
    let _changed = compactors_off(Enforcement::Active, &mut zeph);
    let agent = Agent::new(provider.clone(), channel, skills, None, 5, files)
        .with_memory(memory, conversation, 200, 0, 100_000)
        .apply_session_config(zeph);
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
/// pair; the second adopts the stored pages of the history Zeph reloads, text pages paged
/// before Zeph numbered their messages included, and pages nothing a second time; every page
/// the first stored still reads back whole from the second. Measured: 48 of the first's 79
/// pages adopted (Zeph reloads only the newest messages), none paged again.
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
    // The number in a page id `zeph-c1-m<id>…` (none for a provisional page).
    let message_id = |page: &str| -> Option<u64> {
        page.strip_prefix("zeph-c1-m")?
            .split('-')
            .next()?
            .parse()
            .ok()
    };
    let last_first = before
        .iter()
        .filter_map(|(p, _)| message_id(p))
        .max()
        .unwrap();
    second
        .inspect(|s| {
            let engine = s.engine();
            let second: Vec<(String, String, PageType)> = engine
                .pages()
                .iter()
                .map(|p| {
                    let id = p.id().to_string();
                    (id, engine.page_text(p.id()).unwrap(), p.page_type())
                })
                .collect();
            let (adopted, new): (Vec<_>, Vec<_>) = second
                .iter()
                .partition(|(p, t, _)| before.iter().any(|(bp, bt)| bp == p && bt == t));
            assert!(
                !adopted.is_empty(),
                "no page of the first process was adopted"
            );
            // Nothing the first process paged is paged again: a new text page says what no
            // earlier one said, a new tool result is of a call numbered after the first
            // process's messages.
            for (page, text, page_type) in &new {
                if *page_type == PageType::Evidence {
                    assert!(message_id(page).unwrap() > last_first, "{page} paged again");
                } else {
                    assert!(!before.iter().any(|(_, t)| t == text), "{page} paged again");
                }
            }
            for (page, text) in &before {
                let id = page_core::PageId::new(page.as_str()).unwrap();
                assert_eq!(&engine.page_text(&id).unwrap(), text, "{page}");
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
    shared
        .inspect(|s| {
            let engine = s.engine();
            let pages: Vec<String> = engine.pages().iter().map(|p| p.id().to_string()).collect();
            let (adopted, new): (Vec<&String>, Vec<&String>) = pages
                .iter()
                .partition(|p| migrated.iter().any(|(m, _)| m == *p));
            assert!(!adopted.is_empty(), "no migrated page was adopted");
            // Every page the agent made is of a new turn: a message Zeph numbered after the
            // fixture's, or one it has not numbered yet.
            for page in &new {
                // A provisional page is of a message Zeph has not numbered yet: a new one
                // (the reloaded history is numbered).
                let of_new_turn = message_id(page).is_none_or(|id| id > last_migrated);
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
