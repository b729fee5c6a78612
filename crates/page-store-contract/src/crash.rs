//! Crash consistency: writer processes SIGKILLed at random points.
//!
//! [`run`] is the `main` of a `harness = false` test binary. The binary re-runs itself as a
//! child process (selected by `PAGEVM_CRASH_CHILD`) that streams boundaries of random typed
//! updates into a store and prints `ACK <boundary> <seq>` after each committed one. The parent
//! SIGKILLs it at a random, seeded moment, reopens the store and checks: the backend's
//! integrity check is `ok`; every acknowledged boundary is fully present; no boundary is
//! partially present (its entries are all committed or all pending, and its field items and
//! page version are there exactly when it committed); then it reconciles the staged entries as
//! `docs/design/store.md` says (a new writer adopts them with `recover` and commits them at its
//! next boundary) and checks the result.
//!
//! Every iteration uses its own session in one shared store, so recovery is also exercised on a
//! store that has been crashed into many times. `PAGEVM_CRASH_ITERATIONS=N` sets the number of
//! kill points (default given by the caller); `PAGEVM_CRASH_SEED=S` the base seed.

#![allow(
    clippy::print_stdout,
    reason = "a test harness: the child reports acknowledgements on stdout"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use page_core::{
    Boundary, Page, PageId, PageSpec, PageType, Provenance, Repr, Representation, Scope, SessionId,
    SessionPageTable, TokenCount, TypeTable,
};
use page_writeback::{
    AccessControl, BoundaryContext, EntryState, EvidenceRef, FieldPath, FieldSchemas, HistoryStore,
    JournalStore, Op, PageStore, PrincipalId, Store, Update, Writeback,
};

use crate::Backend;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CHILD_VAR: &str = "PAGEVM_CRASH_CHILD";
const DEFAULT_SEED: u64 = 0x5eed_c0de;
/// The longest a child lives (after it is ready, usually) before it is killed, in microseconds.
const MAX_LIFE_US: u64 = 60_000;

/// What the child does at boundary `b` of session `session`: a function of the seed only, so
/// the parent knows it too.
struct Planned {
    /// `(update, tag, valid)`: the tag is the JSON string carried by the update.
    updates: Vec<(Update, String, bool)>,
    /// Whether the plan page gets a new version in this boundary.
    touch: bool,
    /// Whether the child validates before committing (so a kill may find `validated` rows).
    validate_first: bool,
}

fn sid(session: &str) -> SessionId {
    SessionId::new(session).unwrap()
}

fn pid(s: &str) -> PageId {
    PageId::new(s).unwrap()
}

fn plan(seed: u64, session: &str, b: u64) -> Planned {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let scope = Scope::Session(sid(session));
    let agent = PrincipalId::new("agent").unwrap();
    let n = rng.random_range(1..=6);
    let mut updates = Vec::new();
    for j in 0..n {
        let tag = format!("{session}-{b}-{j}");
        let roll = rng.random_range(0..10);
        let (page, field, op, valid) = match roll {
            0..=6 => ("plan", "steps", Op::Append, true),
            7 | 8 => ("ev", "paths", Op::Append, true),
            _ => ("plan", "steps", Op::Remove, false),
        };
        let page = pid(&format!("{page}-{session}"));
        let u = Update::new(
            page,
            FieldPath::new(field).unwrap(),
            op,
            format!("\"{tag}\""),
            scope.clone(),
            EvidenceRef::Page(pid(&format!("plan-{session}"))),
            agent.clone(),
        );
        updates.push((u, tag, valid));
    }
    Planned {
        updates,
        touch: rng.random_bool(0.3),
        validate_first: rng.random_bool(0.5),
    }
}

fn page(name: &str, page_type: PageType, scope: &Scope, text: &str) -> Page {
    let reps = page_type
        .defaults()
        .path()
        .ascending()
        .zip(1u32..)
        .map(|(r, t)| {
            (
                r,
                Representation::new(format!("{text} @{r}"), TokenCount::new(t)),
            )
        })
        .collect();
    let spec = PageSpec::new(
        pid(name),
        page_type,
        scope.clone(),
        Provenance::Import {
            source: "crash".to_owned(),
        },
        reps,
    );
    Page::from_spec(spec, &TypeTable::default()).unwrap()
}

fn table(session: &str) -> SessionPageTable {
    let scope = Scope::Session(sid(session));
    let mut t = SessionPageTable::new();
    let plan_id = format!("plan-{session}");
    let ev_id = format!("ev-{session}");
    t.insert(page(&plan_id, PageType::Plan, &scope, &plan_id))
        .unwrap();
    t.insert(page(&ev_id, PageType::Evidence, &scope, &ev_id))
        .unwrap();
    t
}

fn writeback<'a, S: Store>(store: &'a S, session: &str) -> Writeback<&'a S> {
    let agent = PrincipalId::new("agent").unwrap();
    let access = AccessControl::new().grant(agent, Scope::Session(sid(session)));
    Writeback::new(
        store,
        sid(session),
        access,
        Arc::new(FieldSchemas::builtin().unwrap()),
    )
}

fn touch(pages: &mut SessionPageTable, session: &str) {
    let id = pid(&format!("plan-{session}"));
    let plan = pages.get(&id).unwrap();
    let next = plan.version() + 1;
    let reps: BTreeMap<Repr, Representation> = plan
        .representations()
        .map(|(r, rep)| {
            (
                r,
                Representation::new(format!("plan-{session} v{next} @{r}"), rep.tokens()),
            )
        })
        .collect();
    pages.update(&id, reps).unwrap();
}

fn ctx(b: u64) -> BoundaryContext {
    BoundaryContext {
        boundary: Boundary::Turn,
        turn: b,
        time_ms: i64::try_from(b).unwrap(),
    }
}

/// The child: commits boundaries until killed, acknowledging each on stdout.
fn child<B: Backend>(backend: &B, location: &str, session: &str, seed: u64) {
    let store = backend.open(location);
    let mut wb = writeback(&store, session);
    let mut pages = table(session);
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY").unwrap();
    out.flush().unwrap();
    for b in 0..100_000 {
        let planned = plan(seed, session, b);
        if planned.touch {
            touch(&mut pages, session);
        }
        wb.stage_all(planned.updates.into_iter().map(|(u, _, _)| u).collect())
            .unwrap();
        if planned.validate_first {
            wb.validate(&pages).unwrap();
        }
        let report = wb.commit_boundary(ctx(b), &mut pages, Vec::new()).unwrap();
        writeln!(out, "ACK {b} {}", report.seq.get()).unwrap();
        out.flush().unwrap();
    }
}

/// Checks the file after the child of `session` was killed having acknowledged `acked`, then
/// reconciles and checks again.
fn check<B: Backend>(
    backend: &B,
    location: &str,
    session: &str,
    seed: u64,
    acked: &BTreeMap<u64, u64>,
) {
    let store = backend.open(location);
    assert_eq!(backend.integrity(&store), "ok", "{session}: integrity");
    let entries = store.entries(&sid(session)).unwrap();
    // Group the journal by boundary, through the tags the updates carry.
    let mut by_boundary: BTreeMap<u64, Vec<&page_writeback::JournalEntry>> = BTreeMap::new();
    for e in &entries {
        let tag: String = serde_json::from_str(e.update().value_json()).unwrap();
        let b: u64 = tag.rsplit('-').nth(1).unwrap().parse().unwrap();
        by_boundary.entry(b).or_default().push(e);
    }
    let next = acked.keys().next_back().map_or(0, |b| b + 1);
    let mut committed_boundaries = BTreeSet::new();
    let mut ambiguous = None;
    for (&b, es) in &by_boundary {
        assert!(
            b <= next,
            "{session}: boundary {b} staged, but only {next} was reached"
        );
        let planned = plan(seed, session, b);
        assert_eq!(
            es.len(),
            planned.updates.len(),
            "{session}: boundary {b} staged partially"
        );
        let valid: Vec<_> = es
            .iter()
            .zip(&planned.updates)
            .filter(|(_, (_, _, v))| *v)
            .map(|(e, _)| e.state())
            .collect();
        let seqs: BTreeSet<u64> = valid
            .iter()
            .filter_map(|s| match s {
                EntryState::Committed(seq) => Some(seq.get()),
                _ => None,
            })
            .collect();
        let n_committed = valid
            .iter()
            .filter(|s| matches!(s, EntryState::Committed(_)))
            .count();
        assert!(
            n_committed == 0 || n_committed == valid.len(),
            "{session}: boundary {b} partially committed: {valid:?}"
        );
        assert!(
            seqs.len() <= 1,
            "{session}: boundary {b} spans commits {seqs:?}"
        );
        if n_committed > 0 || acked.contains_key(&b) {
            committed_boundaries.insert(b);
        }
        if valid.is_empty() && !acked.contains_key(&b) {
            // Nothing in the journal tells whether this boundary committed.
            ambiguous = Some(b);
        }
        if let Some(seq) = acked.get(&b) {
            assert!(
                valid.is_empty() || seqs == BTreeSet::from([*seq]),
                "{session}: acknowledged boundary {b} (seq {seq}) is not committed: {valid:?}"
            );
        }
    }
    for b in acked.keys() {
        assert!(
            by_boundary.contains_key(b),
            "{session}: acknowledged boundary {b} is missing"
        );
    }
    // Field items are there exactly for committed boundaries.
    let items = |page: &str, field: &str| -> Vec<String> {
        store
            .field(
                &pid(&format!("{page}-{session}")),
                &FieldPath::new(field).unwrap(),
            )
            .unwrap()
            .map(|f| serde_json::from_value(f.value).unwrap())
            .unwrap_or_default()
    };
    let committed_tags: BTreeSet<String> = by_boundary
        .values()
        .flatten()
        .filter(|e| matches!(e.state(), EntryState::Committed(_)))
        .map(|e| serde_json::from_str(e.update().value_json()).unwrap())
        .collect();
    let mut stored: Vec<String> = items("plan", "steps");
    stored.extend(items("ev", "paths"));
    let stored_set: BTreeSet<String> = stored.iter().cloned().collect();
    assert_eq!(
        stored.len(),
        stored_set.len(),
        "{session}: an item is duplicated"
    );
    assert_eq!(
        stored_set, committed_tags,
        "{session}: field items differ from the journal"
    );
    // The plan page's versions: one per committed touch, plus the first.
    let mut expected_version = 1;
    for b in 0..=next {
        if plan(seed, session, b).touch && committed_boundaries.contains(&b) {
            expected_version += 1;
        }
    }
    let mut allowed = BTreeSet::from([expected_version]);
    if let Some(b) = ambiguous
        && plan(seed, session, b).touch
    {
        allowed.insert(expected_version + 1);
    }
    let versions = store
        .page_versions(&pid(&format!("plan-{session}")))
        .unwrap();
    if !acked.is_empty() {
        let last = versions.last().copied().unwrap_or_default();
        assert!(
            allowed.contains(&last),
            "{session}: page versions {versions:?}, expected one of {allowed:?}"
        );
    }

    // Reconcile: a new writer adopts the pending entries and commits them.
    let pending: Vec<_> = entries
        .iter()
        .filter(|e| e.state().is_pending())
        .map(|e| e.id())
        .collect();
    let mut wb = writeback(&store, session);
    assert_eq!(wb.recover().unwrap(), pending.len());
    let mut pages = table(session);
    let report = wb
        .commit_boundary(ctx(1_000_000), &mut pages, Vec::new())
        .unwrap();
    let after = store.entries(&sid(session)).unwrap();
    assert!(
        after.iter().all(|e| !e.state().is_pending()),
        "{session}: entries left pending"
    );
    let now_committed: BTreeSet<_> = report.committed.iter().map(|(id, _)| *id).collect();
    for e in after.iter().filter(|e| pending.contains(&e.id())) {
        let was_valid = !matches!(e.update().op(), Op::Remove);
        assert_eq!(
            now_committed.contains(&e.id()),
            was_valid,
            "{session}: entry {:?}",
            e
        );
    }
    assert_eq!(backend.integrity(&store), "ok");
}

/// The number in environment variable `name`, or `default` when it is unset or not a number:
/// the documented overrides of a crash test's size and seed.
#[must_use]
pub fn env_u64(name: &str, default: u64) -> u64 {
    #[expect(
        clippy::disallowed_methods,
        reason = "the documented override of the test's size and seed"
    )]
    let v = std::env::var(name);
    v.ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Answers a test runner that asks a `harness = false` crash binary for its tests (enough of
/// libtest's listing protocol: `--list --format terse`, `--ignored` for ignored ones): one
/// test, named `crash`. Returns whether it did, in which case the binary should exit.
#[must_use]
pub fn answered_listing() -> bool {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--list") {
        return false;
    }
    if !args.iter().any(|a| a == "--ignored") {
        println!("crash: test");
    }
    true
}

/// The crash test's `main`: the child role when `PAGEVM_CRASH_CHILD` is set, else the
/// parent with `default_iterations` kill points (`PAGEVM_CRASH_ITERATIONS` overrides).
pub fn run<B: Backend>(backend: &B, default_iterations: u64) {
    if answered_listing() {
        return;
    }
    #[expect(
        clippy::disallowed_methods,
        reason = "selects the child role of this test binary"
    )]
    let role = std::env::var(CHILD_VAR);
    if let Ok(spec) = role {
        let mut parts = spec.splitn(3, '|');
        let (Some(seed), Some(session), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            panic!("bad {CHILD_VAR}: {spec}");
        };
        child(backend, path, session, seed.parse().unwrap());
        return;
    }
    let iterations = env_u64("PAGEVM_CRASH_ITERATIONS", default_iterations);
    let base_seed = env_u64("PAGEVM_CRASH_SEED", DEFAULT_SEED);
    assert!(
        backend.durable(),
        "a store that dies with its process cannot be crash-tested"
    );
    let path = backend.create();
    drop(backend.open(&path));
    let exe = std::env::current_exe().unwrap();
    let mut kill_rng = ChaCha8Rng::seed_from_u64(base_seed);
    let (mut total_acked, mut never_started) = (0usize, 0usize);
    for i in 0..iterations {
        let seed = base_seed.wrapping_add(i);
        let session = format!("c{i}");
        let mut child = Command::new(&exe)
            .env(CHILD_VAR, format!("{seed}|{session}|{path}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        // One kill in five may land anywhere from process start (inside open and migration);
        // the others land in the stream of boundaries.
        if kill_rng.random_bool(0.8) {
            stdout.read_line(&mut first).unwrap();
        }
        thread::sleep(Duration::from_micros(kill_rng.random_range(0..MAX_LIFE_US)));
        // On Unix, `kill` sends SIGKILL: no destructor, no flush, no rollback runs.
        child.kill().unwrap();
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        // A server may still be finishing what the dead client had sent (a COMMIT in flight).
        backend.settle(&path, pid);
        let mut acked = BTreeMap::new();
        for line in first.lines().chain(rest.lines()) {
            let mut w = line.split(' ');
            if let (Some("ACK"), Some(b), Some(seq)) = (w.next(), w.next(), w.next()) {
                acked.insert(b.parse::<u64>().unwrap(), seq.parse::<u64>().unwrap());
            }
        }
        if !out.status.success() && out.status.code().is_some() {
            panic!(
                "child {i} failed by itself: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        total_acked += acked.len();
        if acked.is_empty() {
            never_started += 1;
        }
        check(backend, &path, &session, seed, &acked);
    }
    println!(
        "crash: {iterations} kill points, {total_acked} acknowledged boundaries checked, \
         {never_started} kills before the first acknowledgement"
    );
    assert!(
        iterations < 20 || total_acked > 0,
        "no child ever acknowledged a boundary: the kill delays are too short to test anything"
    );
}
