//! The current-schema fixture end to end: what is migrated (report and page tables as
//! snapshots), compaction history kept as audit, archives restored, read-only access,
//! idempotence, the conversation filter and dry runs.

use page_core::{PageId, Provenance, Repr};
use page_writeback::{MemoryStore, PageStore};
use pagevm_migrate::{MigrateOptions, NoProgress, ZephDb, dry_run, zeph_builder};

use crate::support::{CURRENT, FLAGS, LEGACY, fixture, page_table, run, store};

fn page(store: &page_store_sqlite::SqliteStore, id: &str) -> page_core::Page {
    store
        .page(&PageId::new(id).unwrap())
        .unwrap()
        .unwrap_or_else(|| panic!("no page {id}"))
}

#[test]
fn report_and_pages_of_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let report = run(CURRENT, &store, &MigrateOptions::default());
    insta::assert_json_snapshot!("current_report", report);
    insta::assert_snapshot!("current_pages_c1", page_table(&store, 1));
    // Conversation 2 holds a tool_overflow uuid in one page id: it is compared without it.
    let c2 = page_table(&store, 2);
    let uuid_free: String = c2
        .lines()
        .map(|l| {
            if l.starts_with("zeph-c2-o") {
                "zeph-c2-o<uuid>".to_owned() + &l[l.find(' ').unwrap()..]
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("current_pages_c2", uuid_free);
}

#[test]
fn compaction_history_is_kept_as_audit_linked_to_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    run(CURRENT, &store, &MigrateOptions::default());
    let cases = [
        // (page, reason prefix, boundary)
        (
            "zeph-c1-m3-t0",
            "zeph:tool_pair_summary summary=zeph-c1-m13 ",
            "compaction_soft",
        ),
        (
            "zeph-c1-m3",
            "zeph:tool_pair_summary summary=zeph-c1-m13 ",
            "compaction_soft",
        ),
        (
            "zeph-c1-m5-t0",
            "zeph:hard_compaction summary=zeph-c1-m14 ",
            "compaction_hard",
        ),
        (
            "zeph-c1-m7",
            "zeph:hard_compaction summary=zeph-c1-m14 ",
            "compaction_hard",
        ),
        (
            "zeph-c2-m20",
            "zeph:hard_compaction summary=zeph-c2-m31 ",
            "compaction_hard",
        ),
    ];
    for (id, reason, boundary) in cases {
        let trail = store.audit_trail(&PageId::new(id).unwrap()).unwrap();
        assert_eq!(trail.len(), 1, "{id}: {trail:?}");
        let rec = &trail[0];
        assert!(
            rec.change.reason.starts_with(reason),
            "{id}: {}",
            rec.change.reason
        );
        assert_eq!(rec.boundary.to_string(), boundary, "{id}");
        assert_eq!(
            (rec.change.from, rec.change.to),
            (Repr::Full, Repr::Pointer),
            "{id}"
        );
        assert!(rec.change.tokens_after < rec.change.tokens_before, "{id}");
        // The page itself is kept at full fidelity: compaction hid it, it did not destroy it.
        assert!(
            page(&store, id)
                .representation(Repr::Full)
                .is_some_and(|r| !r.content().is_empty())
        );
    }
    for visible in ["zeph-c1-m9-t0", "zeph-c1-m14", "zeph-c2-m22"] {
        assert!(
            store
                .audit_trail(&PageId::new(visible).unwrap())
                .unwrap()
                .is_empty(),
            "{visible}"
        );
    }
}

#[test]
fn provenance_names_conversation_and_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    run(CURRENT, &store, &MigrateOptions::default());
    let cases = [
        ("zeph-c1-m1", "import zeph:conversation/1/message/1"),
        (
            "zeph-c1-m2",
            "transcript zeph:conversation/1/message/2..zeph:conversation/1/message/2",
        ),
        (
            "zeph-c1-m9-t0",
            "tool_call zeph:conversation/1/message/9/tool_use/call_8 python",
        ),
        (
            "zeph-c2-m19-t0",
            "import zeph:conversation/2/message/19/part/0",
        ),
        (
            "zeph-c1-s1",
            "transcript zeph:conversation/1/message/2..zeph:conversation/1/message/12",
        ),
    ];
    for (id, want) in cases {
        let got = match page(&store, id).provenance() {
            Provenance::Import { source } => format!("import {source}"),
            Provenance::Transcript { first, last, .. } => format!("transcript {first}..{last}"),
            Provenance::ToolCall { call_id, signature } => {
                format!("tool_call {call_id} {}", signature.tool())
            }
            other => format!("{other:?}"),
        };
        assert_eq!(got, want, "{id}");
    }
}

#[test]
fn overflow_and_archives_restore_the_full_output() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    run(CURRENT, &store, &MigrateOptions::default());
    // Message 19's body was truncated at execution time with an overflow notice; the page's
    // full text is the stored output, not the notice.
    let full = page(&store, "zeph-c2-m19-t0")
        .representation(Repr::Full)
        .unwrap()
        .content()
        .to_owned();
    assert_eq!(full.len(), 3033, "{full}");
    assert!(!full.contains("[full output stored"));
    // The Memex archive named by the compaction summary is an evidence page of its own, with
    // the tool name from the archive reference.
    let session = page_core::SessionId::new("zeph-conversation-2").unwrap();
    let archive = store
        .page_table(&session)
        .unwrap()
        .into_iter()
        .find(|r| r.id.as_str().starts_with("zeph-c2-o"))
        .expect("archive page");
    let p = page(&store, archive.id.as_str());
    assert!(
        p.representation(Repr::Pointer)
            .unwrap()
            .content()
            .contains("disassemble"),
        "{p:?}"
    );
}

fn digest(path: &std::path::Path) -> blake3::Hash {
    blake3::hash(&std::fs::read(path).unwrap())
}

#[test]
fn zeph_databases_are_never_written() {
    for name in [CURRENT, FLAGS, LEGACY] {
        let path = fixture(name);
        let before = digest(&path);
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        run(name, &store, &MigrateOptions::default());
        run(name, &store, &MigrateOptions::default());
        assert_eq!(digest(&path), before, "{name} changed");
        for sidecar in ["-wal", "-shm", "-journal"] {
            let mut p = path.clone().into_os_string();
            p.push(sidecar);
            assert!(
                !std::path::Path::new(&p).exists(),
                "{name}{sidecar} was created"
            );
        }
    }
}

#[test]
fn a_second_run_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let first = run(CURRENT, &store, &MigrateOptions::default());
    let before = (page_table(&store, 1), page_table(&store, 2));
    let second = run(CURRENT, &store, &MigrateOptions::default());
    assert!(first.pages_created > 0);
    assert_eq!(second.pages_created, 0);
    assert_eq!(second.pages_existing, first.pages_created);
    assert_eq!((second.boundaries, second.audit_records), (0, 0));
    assert_eq!((page_table(&store, 1), page_table(&store, 2)), before);
}

#[test]
fn one_conversation_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let report = run(
        CURRENT,
        &store,
        &MigrateOptions {
            conversation: Some(2),
            ..MigrateOptions::default()
        },
    );
    assert_eq!(report.conversations, 1);
    assert!(page_table(&store, 1).is_empty());
    assert!(!page_table(&store, 2).is_empty());
    // Then the rest: conversation 2 is not created twice.
    let rest = run(CURRENT, &store, &MigrateOptions::default());
    assert_eq!(rest.pages_existing, report.pages_created);
}

#[test]
fn dry_run_reports_without_committing() {
    let zeph = ZephDb::open(fixture(CURRENT)).unwrap();
    let builder = zeph_builder().unwrap();
    let empty = MemoryStore::new();
    let dry = dry_run(
        &zeph,
        &empty,
        &builder,
        &MigrateOptions::default(),
        &mut NoProgress,
    )
    .unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.boundaries, 0);

    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let real = run(CURRENT, &store, &MigrateOptions::default());
    assert_eq!(dry.pages_created, real.pages_created);
    assert_eq!(dry.audit_records, real.audit_records);
    let again = dry_run(
        &zeph,
        &store,
        &builder,
        &MigrateOptions::default(),
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!(again.pages_created, 0);
}

#[test]
fn boundary_size_and_threads_do_not_change_the_pages() {
    let dir = tempfile::tempdir().unwrap();
    let big = store(&dir);
    run(CURRENT, &big, &MigrateOptions::default());
    let dir2 = tempfile::tempdir().unwrap();
    let small = store(&dir2);
    let report = run(
        CURRENT,
        &small,
        &MigrateOptions {
            batch_pages: 2,
            ..MigrateOptions::default()
        },
    );
    assert!(report.boundaries > 10, "{}", report.boundaries);
    let dir3 = tempfile::tempdir().unwrap();
    let serial = store(&dir3);
    run(
        CURRENT,
        &serial,
        &MigrateOptions {
            threads: Some(std::num::NonZeroUsize::MIN),
            ..MigrateOptions::default()
        },
    );
    for c in [1, 2] {
        assert_eq!(page_table(&small, c), page_table(&big, c));
        assert_eq!(page_table(&serial, c), page_table(&big, c));
    }
}

/// Every call a run makes to its [`Progress`], in order.
#[derive(Default)]
struct Calls(Vec<String>);

impl pagevm_migrate::Progress for Calls {
    fn start(&mut self, total_messages: u64) {
        self.0.push(format!("start {total_messages}"));
    }
    fn messages(&mut self, n: u64) {
        self.0.push(format!("messages {n}"));
    }
    fn committed(&mut self, conversation: i64, pages: usize) {
        self.0.push(format!("committed {conversation} {pages}"));
    }
}

#[test]
fn a_pipelined_run_commits_what_a_serial_run_commits() {
    // Reading, building and committing on separate threads must not change the report, the
    // pages, the boundaries (kinds, turns, times and their order) or the progress calls.
    let runs: Vec<_> = [1usize, 2, 3]
        .into_iter()
        .map(|threads| {
            let dir = tempfile::tempdir().unwrap();
            let store = store(&dir);
            let mut calls = Calls::default();
            let report = pagevm_migrate::migrate(
                &ZephDb::open(fixture(CURRENT)).unwrap(),
                &store,
                &zeph_builder().unwrap(),
                &MigrateOptions {
                    batch_pages: 3,
                    threads: std::num::NonZeroUsize::new(threads),
                    ..MigrateOptions::default()
                },
                &mut calls,
            )
            .unwrap();
            let mut stored = String::new();
            for c in [1, 2] {
                let session =
                    page_core::SessionId::new(format!("{}{c}", pagevm_migrate::SESSION_PREFIX))
                        .unwrap();
                stored.push_str(&page_table(&store, c));
                stored.push_str(&format!("{:?}\n", store.boundaries(&session).unwrap()));
            }
            (report, stored, calls.0, dir)
        })
        .collect();
    assert!(runs[0].0.boundaries > 10, "{}", runs[0].0.boundaries);
    for other in &runs[1..] {
        assert_eq!(other.0, runs[0].0);
        assert_eq!(other.1, runs[0].1);
        assert_eq!(other.2, runs[0].2);
    }
}

#[test]
fn a_wal_mode_database_is_read_and_not_written() {
    // Zeph runs its database in WAL mode; the fixtures are in rollback mode. A copy switched
    // to WAL (the header then says so) migrates the same, and its main file keeps its bytes.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zeph-wal.db");
    std::fs::copy(fixture(CURRENT), &path).unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
    let before = digest(&path);
    let zeph = ZephDb::open(&path).unwrap();
    let store = store(&dir);
    let report = pagevm_migrate::migrate(
        &zeph,
        &store,
        &zeph_builder().unwrap(),
        &MigrateOptions::default(),
        &mut NoProgress,
    )
    .unwrap();
    drop(zeph);
    assert_eq!(report.pages_created, 35);
    assert_eq!(digest(&path), before);
}
