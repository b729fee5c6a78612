//! An interrupted migration continues where it stopped.
//!
//! This test binary re-runs itself as a child process (selected by `PAGEVM_MIGRATE_CHILD`)
//! that migrates the current-schema fixture in boundaries of two pages, into a store opened as
//! `pagevm migrate` opens it (`SqliteConfig::bulk_load`, `synchronous=NORMAL`), and calls
//! `std::process::abort()` from the progress callback right after its `k`-th committed
//! boundary: no destructor, no rollback, no flush runs. The parent then checks, for several
//! `k`, that the store holds exactly the pages of the acknowledged boundaries, that a new run
//! creates only the rest, that the result equals an uninterrupted migration page for page
//! (ids, types, versions, costs, audit trails), and that a further run creates nothing.

#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a test harness: the child reports acknowledgements on stdout and aborts on purpose"
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use page_core::SessionId;
use page_store_sqlite::{SqliteConfig, SqliteStore};
use pagevm_migrate::{
    MigrateOptions, MigrationReport, NoProgress, Progress, ZephDb, migrate, zeph_builder,
};

const CHILD_VAR: &str = "PAGEVM_MIGRATE_CHILD";
const BATCH: usize = 2;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/zeph-0.21.4.db")
}

fn options() -> MigrateOptions {
    MigrateOptions {
        batch_pages: BATCH,
        ..MigrateOptions::default()
    }
}

/// Aborts the process right after the `after`-th committed boundary.
struct AbortAfter {
    after: usize,
    seen: usize,
}

impl Progress for AbortAfter {
    fn committed(&mut self, conversation: i64, pages: usize) {
        self.seen += 1;
        println!("ACK {} {conversation} {pages}", self.seen);
        std::io::stdout().flush().unwrap();
        if self.seen == self.after {
            std::process::abort();
        }
    }
}

fn child(store: &Path, after: usize) {
    let zeph = ZephDb::open(fixture()).unwrap();
    // What `pagevm migrate` opens the store with (`synchronous=NORMAL` among others).
    let store = SqliteStore::open_with(store, SqliteConfig::bulk_load()).unwrap();
    migrate(
        &zeph,
        &store,
        &zeph_builder().unwrap(),
        &options(),
        &mut AbortAfter { after, seen: 0 },
    )
    .unwrap();
}

fn run(store: &SqliteStore) -> MigrationReport {
    let zeph = ZephDb::open(fixture()).unwrap();
    migrate(
        &zeph,
        store,
        &zeph_builder().unwrap(),
        &options(),
        &mut NoProgress,
    )
    .unwrap()
}

/// Every page of both conversations with its costs and audit trail, as text.
fn contents(store: &SqliteStore) -> String {
    let mut out = String::new();
    for c in [1, 2] {
        let session = SessionId::new(format!("zeph-conversation-{c}")).unwrap();
        for row in store.page_table(&session).unwrap() {
            let audit: Vec<String> = store
                .audit_trail(&row.id)
                .unwrap()
                .iter()
                .map(|a| {
                    format!(
                        "{}:{}->{}:{}",
                        a.boundary, a.change.from, a.change.to, a.change.reason
                    )
                })
                .collect();
            out.push_str(&format!(
                "{} {} v{} {:?} {:?}\n",
                row.id, row.page_type, row.version, row.tokens, audit
            ));
        }
    }
    out
}

fn main() {
    if page_store_contract::crash::answered_listing() {
        return;
    }
    #[expect(
        clippy::disallowed_methods,
        reason = "selects the child role of this test binary"
    )]
    let role = std::env::var(CHILD_VAR);
    if let Ok(spec) = role {
        let (after, path) = spec.split_once('|').unwrap();
        child(Path::new(path), after.parse().unwrap());
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let clean = SqliteStore::open(dir.path().join("clean.db")).unwrap();
    let full = run(&clean);
    let expected = contents(&clean);
    assert!(
        full.boundaries >= 6,
        "the fixture needs several boundaries: {}",
        full.boundaries
    );
    let exe = std::env::current_exe().unwrap();
    for after in [
        1,
        2,
        full.boundaries as usize / 2,
        full.boundaries as usize - 1,
    ] {
        let path = dir.path().join(format!("crash-{after}.db"));
        let out = Command::new(&exe)
            .env(CHILD_VAR, format!("{after}|{}", path.display()))
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "the child was meant to abort after boundary {after}"
        );
        let acks: Vec<(usize, usize)> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("ACK "))
            .map(|l| {
                let w: Vec<usize> = l.split(' ').map(|x| x.parse().unwrap()).collect();
                (w[0], w[2])
            })
            .collect();
        assert_eq!(acks.len(), after, "acknowledged boundaries");
        let acked_pages: usize = acks.iter().map(|a| a.1).sum();

        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.integrity_check().unwrap(), "ok");
        let present = contents(&store).lines().count();
        assert_eq!(
            present, acked_pages,
            "after {after} boundaries the store holds exactly their pages"
        );

        let resumed = run(&store);
        assert_eq!(
            resumed.pages_existing as usize, acked_pages,
            "after {after}"
        );
        assert_eq!(
            resumed.pages_created + resumed.pages_existing,
            full.pages_created,
            "after {after}"
        );
        assert_eq!(
            resumed.boundaries,
            full.boundaries - after as u64,
            "after {after}"
        );
        assert_eq!(
            contents(&store),
            expected,
            "after {after}: resumed store differs from a clean run"
        );
        let again = run(&store);
        assert_eq!(
            (again.pages_created, again.boundaries),
            (0, 0),
            "after {after}"
        );
        println!(
            "crash after boundary {after}: {acked_pages} pages kept, {} created on resume",
            resumed.pages_created
        );
    }
    println!("crash: ok");
}
