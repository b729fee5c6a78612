//! Concurrency: writers (threads, or processes re-running the test binary) committing
//! boundaries of several sessions of one store at once end with exactly the union of what each
//! acknowledged: no lost or duplicated update, page version, audit row or boundary.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::thread;

use page_core::{PageType, Provenance, Scope};
use page_writeback::{EntryState, FieldPath, HistoryStore, JournalStore, Op, PageStore, Store};
use pretty_assertions::assert_eq;

use crate::Backend;
use crate::fixture::{self, id, sid, table, touch, turn, update, writeback};

const ROLE_VAR: &str = "PAGEVM_CONTRACT_WRITER";

/// One writer's job: the session it writes and the tag its items carry.
fn job(i: usize, sessions: usize) -> (String, String) {
    (format!("u{}", i % sessions), format!("w{i}"))
}

/// Commits `boundaries` boundaries on `session`, each with `per` appends to
/// `plan-<session>.steps` tagged `<tag>-<b>-<i>`, a new version of the writer's own page
/// `note-<tag>` and an audit row for it. Every call must succeed: contention is the store's
/// problem.
fn writer<S: Store>(store: S, session: &str, tag: &str, boundaries: u64, per: u64) {
    let mut wb = writeback(store, session);
    let mut pages = table(session);
    let note = format!("note-{tag}");
    pages
        .insert(fixture::page(
            &note,
            PageType::Plan,
            Scope::Session(sid(session)),
            Provenance::Import {
                source: tag.to_owned(),
            },
        ))
        .unwrap();
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
        if b > 0 {
            touch(&mut pages, &note, &format!("{note} v{}", b + 1));
        }
        let mut change = fixture::change(session, &format!("{tag}-{b}"));
        change.page = id(&note);
        let report = wb
            .commit_boundary(turn(b + 1), &mut pages, vec![change])
            .unwrap_or_else(|e| panic!("{tag}: boundary {b}: {e}"));
        assert_eq!(report.rejected, []);
        assert_eq!(report.committed.len() as u64, per);
    }
}

fn expected(tag: &str, boundaries: u64, per: u64) -> Vec<String> {
    (0..boundaries)
        .flat_map(|b| (0..per).map(move |i| format!("{tag}-{b}-{i}")))
        .collect()
}

/// Checks the store after `writers` writers over `sessions` sessions each committed
/// `boundaries` boundaries of `per` appends.
fn check<B: Backend>(
    backend: &B,
    location: &str,
    writers: usize,
    sessions: usize,
    boundaries: u64,
    per: u64,
) {
    let store = backend.open(location);
    let mut seqs = BTreeSet::new();
    for s in 0..sessions.min(writers) {
        let session = format!("u{s}");
        let tags: Vec<String> = (0..writers)
            .map(|i| job(i, sessions))
            .filter(|(sess, _)| *sess == session)
            .map(|(_, tag)| tag)
            .collect();
        let got: Vec<String> = store
            .field(
                &id(&format!("plan-{session}")),
                &FieldPath::new("steps").unwrap(),
            )
            .unwrap()
            .map(|f| serde_json::from_value(f.value).unwrap())
            .unwrap_or_default();
        let want: Vec<String> = tags
            .iter()
            .flat_map(|t| expected(t, boundaries, per))
            .collect();
        assert_eq!(
            got.len(),
            want.len(),
            "{session}: an update was lost or duplicated"
        );
        assert_eq!(
            got.iter().collect::<BTreeSet<_>>(),
            want.iter().collect::<BTreeSet<_>>(),
            "{session}"
        );
        // Each writer's own items keep their order.
        for t in &tags {
            let mine: Vec<String> = got
                .iter()
                .filter(|s| s.starts_with(&format!("{t}-")))
                .cloned()
                .collect();
            assert_eq!(mine, expected(t, boundaries, per), "{t}");
            let note = id(&format!("note-{t}"));
            assert_eq!(
                store.page_versions(&note).unwrap(),
                (1..=boundaries).collect::<Vec<_>>(),
                "{t}: page versions"
            );
            let reasons: Vec<String> = store
                .audit_trail(&note)
                .unwrap()
                .into_iter()
                .map(|a| a.change.reason)
                .collect();
            let want: Vec<String> = (0..boundaries).map(|b| format!("{t}-{b}")).collect();
            assert_eq!(reasons, want, "{t}: audit rows");
        }
        let bounds = store.boundaries(&sid(&session)).unwrap();
        assert_eq!(
            bounds.len() as u64,
            tags.len() as u64 * boundaries,
            "{session}: boundary rows"
        );
        for (seq, _) in &bounds {
            assert!(
                seqs.insert(*seq),
                "boundary seq {} appears twice",
                seq.get()
            );
        }
        let entries = store.entries(&sid(&session)).unwrap();
        assert_eq!(entries.len(), want.len(), "{session}: journal rows");
        assert!(
            entries
                .iter()
                .all(|e| matches!(e.state(), EntryState::Committed(_))),
            "{session}: an entry is not committed"
        );
    }
    assert_eq!(backend.integrity(&store), "ok");
}

/// `writers` threads, each with its own store handle, commit `boundaries` boundaries of `per`
/// appends to `sessions` sessions (writer `i` writes session `i % sessions`) at once.
pub fn threads_commit_the_union<B: Backend>(
    backend: &B,
    writers: usize,
    sessions: usize,
    boundaries: u64,
    per: u64,
) {
    threads_commit_the_union_disturbed(backend, writers, sessions, boundaries, per, &mut |_| 0);
}

/// As [`threads_commit_the_union`], while this thread calls `disturb(location)` over and over
/// (e.g. the server drops the store's connections) until the writers are done. `disturb`
/// returns how many disturbances it caused; this returns their sum, for the caller to check.
pub fn threads_commit_the_union_disturbed<B: Backend>(
    backend: &B,
    writers: usize,
    sessions: usize,
    boundaries: u64,
    per: u64,
    disturb: &mut dyn FnMut(&str) -> usize,
) -> usize {
    let location = backend.create();
    let mut disturbances = 0;
    thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|i| {
                let location = &location;
                s.spawn(move || {
                    let (session, tag) = job(i, sessions);
                    writer(backend.open(location), &session, &tag, boundaries, per);
                })
            })
            .collect();
        while !handles.iter().all(thread::ScopedJoinHandle::is_finished) {
            disturbances += disturb(&location);
            thread::sleep(std::time::Duration::from_millis(2));
        }
    });
    check(backend, &location, writers, sessions, boundaries, per);
    disturbances
}

/// As [`threads_commit_the_union`] with `writers` processes: the test binary re-run with
/// `--exact test_name`, the child role chosen by an environment variable. The `#[test]`
/// calling this must be named `test_name` (its full path in the binary).
pub fn processes_commit_the_union<B: Backend>(
    backend: &B,
    test_name: &str,
    writers: usize,
    sessions: usize,
    boundaries: u64,
    per: u64,
) {
    #[expect(
        clippy::disallowed_methods,
        reason = "the variable selects the child role of the multi-process test"
    )]
    let role = std::env::var(ROLE_VAR);
    if let Ok(spec) = role {
        let parts: Vec<&str> = spec.split('\n').collect();
        let [location, session, tag, boundaries, per] = parts[..] else {
            panic!("bad {ROLE_VAR}: {spec:?}");
        };
        writer(
            backend.open(location),
            session,
            tag,
            boundaries.parse().unwrap(),
            per.parse().unwrap(),
        );
        return;
    }
    assert!(
        backend.durable(),
        "a store that dies with its process cannot be shared by processes"
    );
    let location = backend.create();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..writers)
        .map(|i| {
            let (session, tag) = job(i, sessions);
            Command::new(&exe)
                .args(["--exact", test_name, "--test-threads=1"])
                .env(
                    ROLE_VAR,
                    format!("{location}\n{session}\n{tag}\n{boundaries}\n{per}"),
                )
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "child failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    check(backend, &location, writers, sessions, boundaries, per);
}
