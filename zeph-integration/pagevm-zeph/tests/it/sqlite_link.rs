//! Zeph's database (zeph-db over sqlx) and pagevm's store (page-store-sqlite over rusqlite)
//! in one binary: both link the same `libsqlite3-sys` (0.30, checked by `.ci/layering`), so
//! the adapter can keep its store beside Zeph's database in Zeph's own process.

use page_store_sqlite::SqliteStore;
use page_writeback::BlobStore;

#[tokio::test]
async fn zeph_database_and_pagevm_store_work_in_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let zeph_path = dir.path().join("zeph.db");
    let pool = zeph_db::DbConfig {
        url: zeph_path.to_str().unwrap().to_owned(),
        ..zeph_db::DbConfig::default()
    }
    .connect()
    .await
    .unwrap();
    // Zeph's migrations ran on its file: its conversations table takes a row.
    zeph_db::query("INSERT INTO conversations DEFAULT VALUES")
        .execute(&pool)
        .await
        .unwrap();
    let conversations: i64 = zeph_db::query_scalar("SELECT count(*) FROM conversations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(conversations, 1);

    // pagevm's store beside it: what one open writes, the next reads back.
    let pagevm_path = dir.path().join("pagevm.db");
    let digest = SqliteStore::open(&pagevm_path)
        .unwrap()
        .put_blob(b"cargo test: 42 passed")
        .unwrap();
    let store = SqliteStore::open(&pagevm_path).unwrap();
    assert_eq!(
        store.get_blob(&digest).unwrap().as_deref(),
        Some(&b"cargo test: 42 passed"[..])
    );
    pool.close().await;
}
