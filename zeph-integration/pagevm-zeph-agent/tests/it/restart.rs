//! An agent on Zeph's SQLite memory: a restart continues on the stored pages, and a Zeph
//! database migrated by `pagevm migrate` is continued by the agent.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use page_store_sqlite::SqliteStore;
use pagevm_zeph::{PagedSession, SessionConfig, ZephTokens};
use pagevm_zeph_agent::{AgentConfig, Enforcement, Shared, attach};
use zeph_core::Agent;
use zeph_llm::any::AnyProvider;
use zeph_llm::mock::MockProvider;
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
    let conversation = match memory.sqlite().latest_conversation_id().await.unwrap() {
        Some(c) => c,
        None => memory.sqlite().create_conversation().await.unwrap(),
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
