//! Concurrency: threads and processes writing different sessions of one database, and two
//! writers on one session, lose no update and never see SQLITE_BUSY.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;

use page_store_sqlite::SqliteStore;
use page_writeback::{FieldPath, Op, PageStore};
use pretty_assertions::assert_eq;

use crate::support::{self, id, table, turn, update};

const ROLE_VAR: &str = "PAGEVM_TEST_WRITER";

/// Commits `boundaries` boundaries of `per` appends to `plan-<session>.steps`, each item tagged
/// `<tag>-<boundary>-<i>`. Every call must succeed: a busy database is the store's problem.
fn writer(path: &Path, session: &str, tag: &str, boundaries: u64, per: u64) {
    let store = SqliteStore::open(path).unwrap();
    let mut wb = support::writeback(&store, session);
    let mut pages = table(session);
    for b in 0..boundaries {
        for i in 0..per {
            wb.stage(update(
                session,
                "plan",
                "steps",
                Op::Append,
                &format!("\"{tag}-{b}-{i}\""),
            ))
            .unwrap();
        }
        let report = wb
            .commit_boundary(turn(b + 1), &mut pages, Vec::new())
            .unwrap();
        assert_eq!(report.rejected, []);
        assert_eq!(report.committed.len() as u64, per);
    }
}

fn expected(tag: &str, boundaries: u64, per: u64) -> Vec<String> {
    (0..boundaries)
        .flat_map(|b| (0..per).map(move |i| format!("{tag}-{b}-{i}")))
        .collect()
}

fn steps(path: &Path, session: &str) -> Vec<String> {
    let store = SqliteStore::open(path).unwrap();
    let f = store
        .field(
            &id(&format!("plan-{session}")),
            &FieldPath::new("steps").unwrap(),
        )
        .unwrap()
        .unwrap();
    serde_json::from_value(f.value).unwrap()
}

fn check_shared(path: &Path, session: &str, tags: &[&str], boundaries: u64, per: u64) {
    let got = steps(path, session);
    let got_set: BTreeSet<&String> = got.iter().collect();
    let want: Vec<String> = tags
        .iter()
        .flat_map(|t| expected(t, boundaries, per))
        .collect();
    let want_set: BTreeSet<&String> = want.iter().collect();
    assert_eq!(got.len(), want.len(), "an update was lost or duplicated");
    assert_eq!(got_set, want_set);
    // Each writer's own items keep their order.
    for t in tags {
        let mine: Vec<String> = got
            .iter()
            .filter(|s| s.starts_with(&format!("{t}-")))
            .cloned()
            .collect();
        assert_eq!(mine, expected(t, boundaries, per));
    }
}

#[test]
fn threads_write_sessions_of_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pagevm.db");
    drop(SqliteStore::open(&path).unwrap());
    let (boundaries, per) = (15, 5);
    let jobs = [
        ("t0", "a"),
        ("t1", "b"),
        ("t2", "c"),
        ("shared", "x"),
        ("shared", "y"),
    ];
    thread::scope(|s| {
        for (session, tag) in jobs {
            let path = &path;
            s.spawn(move || writer(path, session, tag, boundaries, per));
        }
    });
    for (session, tag) in &jobs[..3] {
        assert_eq!(steps(&path, session), expected(tag, boundaries, per));
    }
    check_shared(&path, "shared", &["x", "y"], boundaries, per);
    assert_eq!(
        SqliteStore::open(&path).unwrap().integrity_check().unwrap(),
        "ok"
    );
}

/// The child role of `processes_write_sessions_of_one_database`, selected by an environment
/// variable; without it, this runs one writer in-process.
#[test]
fn process_writer() {
    #[expect(
        clippy::disallowed_methods,
        reason = "the variable selects the child role of the multi-process test"
    )]
    let role = std::env::var(ROLE_VAR);
    match role {
        Ok(spec) => {
            let parts: Vec<&str> = spec.split('|').collect();
            let [path, session, tag, boundaries, per] = parts[..] else {
                panic!("bad {ROLE_VAR}: {spec}");
            };
            writer(
                Path::new(path),
                session,
                tag,
                boundaries.parse().unwrap(),
                per.parse().unwrap(),
            );
        }
        Err(_) => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("pagevm.db");
            writer(&path, "solo", "z", 3, 4);
            assert_eq!(steps(&path, "solo"), expected("z", 3, 4));
        }
    }
}

#[test]
fn processes_write_sessions_of_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("pagevm.db");
    drop(SqliteStore::open(&path).unwrap());
    let (boundaries, per) = (10, 5);
    let jobs = [("p0", "a"), ("p1", "b"), ("pshared", "x"), ("pshared", "y")];
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = jobs
        .iter()
        .map(|(session, tag)| {
            Command::new(&exe)
                .args(["--exact", "concurrency::process_writer", "--test-threads=1"])
                .env(
                    ROLE_VAR,
                    format!("{}|{session}|{tag}|{boundaries}|{per}", path.display()),
                )
                .output_spawn()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "child failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
    }
    for (session, tag) in &jobs[..2] {
        assert_eq!(steps(&path, session), expected(tag, boundaries, per));
    }
    check_shared(&path, "pshared", &["x", "y"], boundaries, per);
    assert_eq!(
        SqliteStore::open(&path).unwrap().integrity_check().unwrap(),
        "ok"
    );
}

trait SpawnCaptured {
    fn output_spawn(&mut self) -> std::process::Child;
}

impl SpawnCaptured for Command {
    fn output_spawn(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}
