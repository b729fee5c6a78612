//! A real Zeph database migrated with `pagevm migrate`, then continued by `PagedSession`: the
//! session finds the migrated pages by id and builds none of them again.

use std::path::Path;

use page_core::PageId;
use page_store_sqlite::SqliteStore;
use page_writeback::PageStore;
use pagevm_migrate::{MigrateOptions, NoProgress, ZephDb, migrate, zeph_builder};
use pagevm_zeph::{PagedSession, SessionConfig, ZephTokens, orphaned_pairs};
use serde_json::json;
use zeph_llm::provider::{Message, MessagePart, Role};

use crate::{text, tool_result, tool_use};

/// Conversation `conversation` as Zeph restores it: every row not soft-deleted, in id order,
/// with its parts, visibility and `db_id`.
async fn load(zeph: &Path, conversation: i64) -> Vec<Message> {
    let pool = zeph_db::DbConfig {
        url: zeph.to_str().unwrap().to_owned(),
        ..zeph_db::DbConfig::default()
    }
    .connect()
    .await
    .unwrap();
    let rows: Vec<(i64, String, String, String, String)> = zeph_db::query_as(
        "SELECT id, role, content, parts, visibility FROM messages \
         WHERE conversation_id = ? AND deleted_at IS NULL ORDER BY id",
    )
    .bind(conversation)
    .fetch_all(&pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(id, role, content, parts, visibility)| {
            let role = match role.as_str() {
                "system" => Role::System,
                "assistant" => Role::Assistant,
                _ => Role::User,
            };
            let parts: Vec<MessagePart> = serde_json::from_str(&parts).unwrap();
            let mut m = if parts.is_empty() {
                Message::from_legacy(role, content)
            } else {
                Message::from_parts(role, parts)
            };
            m.metadata.visibility = serde_json::from_value(json!(visibility)).unwrap();
            m.metadata.db_id = Some(id);
            m
        })
        .collect()
}

#[tokio::test]
async fn a_migrated_conversation_continues_on_its_migrated_pages() {
    let dir = tempfile::tempdir().unwrap();
    let zeph = dir.path().join("zeph.db");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/zeph-0.21.4.db"),
        &zeph,
    )
    .unwrap();
    let store = SqliteStore::open(dir.path().join("pagevm.db")).unwrap();
    let options = MigrateOptions {
        conversation: Some(1),
        ..MigrateOptions::default()
    };
    migrate(
        &ZephDb::open(&zeph).unwrap(),
        &store,
        &zeph_builder().unwrap(),
        &options,
        &mut NoProgress,
    )
    .unwrap();
    let mut history = load(&zeph, 1).await;
    let migrated: Vec<(PageId, Vec<u64>)> = history
        .iter()
        .filter_map(|m| m.metadata.db_id)
        .flat_map(|db| [format!("zeph-c1-m{db}"), format!("zeph-c1-m{db}-t0")])
        .filter_map(|id| {
            let id = PageId::new(id).unwrap();
            store.page(&id).unwrap()?;
            let versions = store.page_versions(&id).unwrap();
            Some((id, versions))
        })
        .collect();
    assert!(migrated.len() >= 8, "{migrated:?}");

    let config = SessionConfig::new(1).unwrap();
    let mut session = PagedSession::start(store, ZephTokens::new(), config).unwrap();
    let budget = 3_000;
    let prompt = session.assemble(&history, budget, 10).unwrap();
    assert!(prompt.tokens <= budget);
    assert_eq!(orphaned_pairs(&prompt.messages), 0);
    // The agent goes on: a new request, a tool call and its result, numbered by Zeph.
    history.push(text(Role::User, "Run the tests once more, please."));
    history.push(Message::from_parts(
        Role::Assistant,
        vec![tool_use(
            "call_20",
            "bash",
            json!({"command": "python tests/missing_colon.py"}),
        )],
    ));
    history.push(Message::from_parts(
        Role::User,
        vec![tool_result("call_20", "8.2\n")],
    ));
    for (k, m) in history.iter_mut().rev().take(3).enumerate() {
        m.metadata.db_id = Some(102 - i64::try_from(k).unwrap());
    }
    for end in [history.len() - 2, history.len()] {
        let prompt = session.assemble(&history[..end], budget, 11).unwrap();
        assert!(prompt.tokens <= budget);
        assert_eq!(orphaned_pairs(&prompt.messages), 0);
    }
    // The visible turns and tool calls are the migrated pages (the system prompt, hidden
    // rows and summaries are sent as they are, outside the engine).
    let pages = session.engine().pages();
    for id in [
        "zeph-c1-m2",
        "zeph-c1-m9",
        "zeph-c1-m9-t0",
        "zeph-c1-m11-t0",
    ] {
        let id = PageId::new(id).unwrap();
        let (_, versions) = migrated.iter().find(|(m, _)| *m == id).unwrap();
        assert_eq!(
            Some(pages.get(&id).unwrap().version()),
            versions.last().copied()
        );
    }
    let (_, store) = session.end().map_err(|e| e.0).unwrap();
    for (id, versions) in &migrated {
        assert_eq!(
            &store.page_versions(id).unwrap(),
            versions,
            "{id} written again"
        );
    }
    assert!(
        store
            .page(&PageId::new("zeph-c1-m102-t0").unwrap())
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .page(&PageId::new("zeph-c1-m101-t0").unwrap())
            .unwrap()
            .is_some()
    );
}
