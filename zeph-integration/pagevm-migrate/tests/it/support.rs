//! Shared helpers: fixture paths, a fresh store, a migration run, the store's page table as text.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use page_core::SessionId;
use page_store_sqlite::SqliteStore;
use pagevm_migrate::{
    MigrateOptions, MigrationReport, NoProgress, SESSION_PREFIX, ZephDb, migrate, zeph_builder,
};

pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name)
}

pub(crate) const CURRENT: &str = "zeph-0.21.4.db";
pub(crate) const FLAGS: &str = "zeph-m072.db";
pub(crate) const LEGACY: &str = "zeph-m040.db";

/// Migrates fixture `name` into `store` with `options`.
pub(crate) fn run(name: &str, store: &SqliteStore, options: &MigrateOptions) -> MigrationReport {
    let zeph = ZephDb::open(fixture(name)).unwrap();
    migrate(
        &zeph,
        store,
        &zeph_builder().unwrap(),
        options,
        &mut NoProgress,
    )
    .unwrap()
}

pub(crate) fn store(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(dir.path().join("pagevm.db")).unwrap()
}

/// Every page of conversation `c` in the store: id, type, version, pin and costs, one a line.
pub(crate) fn page_table(store: &SqliteStore, c: i64) -> String {
    let session = SessionId::new(format!("{SESSION_PREFIX}{c}")).unwrap();
    let mut out = String::new();
    for row in store.page_table(&session).unwrap() {
        let costs: Vec<String> = row
            .tokens
            .iter()
            .map(|(r, t)| format!("{r}={}", t.get()))
            .collect();
        writeln!(
            out,
            "{} {} v{} {:?} [{}]",
            row.id,
            row.page_type,
            row.version,
            row.pin,
            costs.join(" ")
        )
        .unwrap();
    }
    out
}
