//! The benchmark's synthetic Zeph database is a valid Zeph database: it migrates with the
//! counts its generator promises.

use std::path::Path;

use page_store_sqlite::SqliteStore;
use pagevm_migrate::{MigrateOptions, NoProgress, ZephDb, migrate, zeph_builder};

#[test]
fn synthetic_database_migrates() {
    let dir = tempfile::tempdir().unwrap();
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/zeph-0.21.4.db");
    let path = dir.path().join("zeph.db");
    crate::synth_db::generate(&template, &path, 1000);
    let zeph = ZephDb::open(&path).unwrap();
    assert_eq!(zeph.schema().migration, 96);
    let store = SqliteStore::open(dir.path().join("store.db")).unwrap();
    let r = migrate(
        &zeph,
        &store,
        &zeph_builder().unwrap(),
        &MigrateOptions::default(),
        &mut NoProgress,
    )
    .unwrap();
    // Two conversations of 500 messages plus one summary row each.
    assert_eq!((r.conversations, r.messages_read), (2, 1002));
    assert_eq!((r.tool_groups, r.compactions, r.summaries), (250, 2, 4));
    assert_eq!((r.orphaned_tool_parts, r.corrupt_rows), (0, 0));
    // Per turn of four messages: three text pages (the assistant's tool-call message has
    // text too) and one evidence page; plus two summary rows and two `summaries` rows.
    assert_eq!(r.pages_created, 1000 + 2 + 2);
    // The compacted first 100 messages of each conversation: 25 turns, 100 pages.
    assert_eq!(r.audit_records, 200);
}
