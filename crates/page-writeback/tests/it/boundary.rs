//! Boundaries: atomic commit of updates and dirty pages, flush misses, recovery, two writers,
//! recall outcomes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use page_core::{
    Boundary, CompactionKind, ContentDigest, FaultKind, Page, PageId, PageType, RecallOutcome,
    Repr, Representation, Scope, SessionId, TokenCount, ToolCallId,
};
use page_writeback::{
    BlobStore, BoundaryContext, CommitBatch, CommitReceipt, EntryId, EntryState, FaultRecord,
    FieldPath, FieldState, FieldVersion, JournalEntry, JournalStore, MemoryStore, Op, PageStore,
    ReasonCode, ReprChange, StoreError, Update,
};
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::support::{self, agent, id, session, session_scope, table, turn, update};

fn field(store: &impl PageStore, page: &str, f: &str) -> Option<FieldState> {
    store.field(&id(page), &FieldPath::new(f).unwrap()).unwrap()
}

#[test]
fn boundary_commits_updates_and_dirty_pages_atomically() {
    let store = MemoryStore::new();
    let mut wb = support::writeback(&store);
    let mut pages = table();
    wb.stage(update("plan", "steps", Op::Append, r#""a""#))
        .unwrap();
    wb.stage(update("plan", "steps", Op::Append, r#""b""#))
        .unwrap();
    wb.stage(update(
        "plan",
        "goal",
        Op::SetWithVersion {
            expected: FieldVersion::ABSENT,
        },
        r#""g1""#,
    ))
    .unwrap();
    wb.stage(update(
        "plan",
        "goal",
        Op::SetWithVersion {
            expected: FieldVersion::ABSENT,
        },
        r#""g2""#,
    ))
    .unwrap();
    let change = ReprChange {
        page: id("ev1"),
        page_type: PageType::Evidence,
        from: Repr::Full,
        to: Repr::Pointer,
        tokens_before: TokenCount::new(4),
        tokens_after: TokenCount::new(1),
        full_tokens: TokenCount::new(4),
        reason: "budget".to_owned(),
    };
    let ctx = BoundaryContext {
        boundary: Boundary::Compaction(CompactionKind::Hard),
        turn: 7,
        time_ms: 7000,
    };
    let report = wb
        .commit_boundary(ctx, &mut pages, vec![change.clone()])
        .unwrap();
    assert_eq!(report.seq.get(), 1);
    assert_eq!(
        report.committed,
        vec![
            (EntryId::new(1), FieldVersion::new(1)),
            (EntryId::new(2), FieldVersion::new(2)),
            (EntryId::new(3), FieldVersion::new(1)),
        ]
    );
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].0, EntryId::new(4));
    assert_eq!(report.rejected[0].1.code(), ReasonCode::DestructiveOp);
    assert_eq!(report.pages.len(), 4);
    assert_eq!(pages.dirty().count(), 0);
    assert_eq!(
        field(&store, "plan", "steps").unwrap().value,
        json!(["a", "b"])
    );
    assert_eq!(field(&store, "plan", "goal").unwrap().value, json!("g1"));
    // Committed pages are stored clean, with their representations as blobs.
    let plan = store.page(&id("plan")).unwrap().unwrap();
    assert!(!plan.is_dirty());
    let full = plan.representation(Repr::Full).unwrap();
    let blob = store.get_blob(&full.digest()).unwrap().unwrap();
    assert_eq!(blob, full.content().as_bytes());
    // The audit row carries the boundary.
    let audit = store.audit(&id("ev1")).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].change, change);
    assert_eq!(
        (audit[0].boundary, audit[0].turn, audit[0].time_ms),
        (ctx.boundary, 7, 7000)
    );
    // Journal states.
    let states: Vec<&str> = store
        .entries(&session())
        .unwrap()
        .iter()
        .map(|e| e.state().code())
        .collect();
    assert_eq!(states, ["committed", "committed", "committed", "rejected"]);
}

#[test]
fn page_versions_are_kept_and_updated_pages_recommit() {
    let store = MemoryStore::new();
    let mut wb = support::writeback(&store);
    let mut pages = table();
    wb.commit_boundary(turn(1), &mut pages, Vec::new()).unwrap();
    let plan = pages.get(&id("plan")).unwrap().clone();
    let reps: BTreeMap<Repr, Representation> = plan
        .representations()
        .map(|(r, rep)| {
            (
                r,
                Representation::new(format!("{} v2", rep.content()), rep.tokens()),
            )
        })
        .collect();
    assert_eq!(pages.update(&id("plan"), reps).unwrap(), 2);
    let report = wb.commit_boundary(turn(2), &mut pages, Vec::new()).unwrap();
    assert_eq!(report.pages, vec![(id("plan"), 2)]);
    let versions: Vec<u64> = store
        .page_versions(&id("plan"))
        .unwrap()
        .iter()
        .map(Page::version)
        .collect();
    assert_eq!(versions, [1, 2]);
    // Blobs are content-addressed: storing the same text again is a no-op.
    let d = store.put_blob(b"same").unwrap();
    assert_eq!(store.put_blob(b"same").unwrap(), d);
    assert_eq!(d, ContentDigest::of(b"same"));
}

/// A store whose commits and searches fail on demand: a fault-injection seam over the real
/// in-memory store.
struct Flaky {
    inner: MemoryStore,
    fail: AtomicBool,
}

impl Flaky {
    fn err(&self) -> Result<(), StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            Err(StoreError::backend(std::io::Error::other("disk full")))
        } else {
            Ok(())
        }
    }
}

impl BlobStore for Flaky {
    fn put_blob(&self, bytes: &[u8]) -> Result<ContentDigest, StoreError> {
        self.inner.put_blob(bytes)
    }
    fn get_blob(&self, digest: &ContentDigest) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_blob(digest)
    }
}

impl PageStore for Flaky {
    fn page(&self, id: &PageId) -> Result<Option<Page>, StoreError> {
        self.inner.page(id)
    }
    fn tool_call_exists(&self, id: &ToolCallId) -> Result<bool, StoreError> {
        self.inner.tool_call_exists(id)
    }
    fn field(&self, page: &PageId, field: &FieldPath) -> Result<Option<FieldState>, StoreError> {
        self.inner.field(page, field)
    }
    fn fields(&self, page: &PageId) -> Result<BTreeMap<FieldPath, FieldState>, StoreError> {
        self.inner.fields(page)
    }
    fn search(&self, scope: &Scope, needle: &str) -> Result<Vec<PageId>, StoreError> {
        self.err()?;
        self.inner.search(scope, needle)
    }
}

impl JournalStore for Flaky {
    fn stage(&self, session: &SessionId, updates: &[Update]) -> Result<Vec<EntryId>, StoreError> {
        self.inner.stage(session, updates)
    }
    fn record_outcomes(&self, outcomes: &[(EntryId, EntryState)]) -> Result<(), StoreError> {
        self.inner.record_outcomes(outcomes)
    }
    fn commit(&self, batch: &CommitBatch) -> Result<CommitReceipt, StoreError> {
        self.err()?;
        self.inner.commit(batch)
    }
    fn entries(&self, session: &SessionId) -> Result<Vec<JournalEntry>, StoreError> {
        self.inner.entries(session)
    }
    fn record_fault(&self, fault: &FaultRecord) -> Result<(), StoreError> {
        self.inner.record_fault(fault)
    }
}

#[test]
fn a_boundary_that_cannot_commit_is_a_flush_miss() {
    let store = Flaky {
        inner: MemoryStore::new(),
        fail: AtomicBool::new(true),
    };
    let mut wb = support::writeback(&store);
    let mut pages = table();
    wb.stage(update("plan", "steps", Op::Append, r#""a""#))
        .unwrap();
    let ctx = BoundaryContext {
        boundary: Boundary::Reset,
        turn: 3,
        time_ms: 3000,
    };
    let miss = wb.commit_boundary(ctx, &mut pages, Vec::new()).unwrap_err();
    assert_eq!(
        miss.to_string(),
        "flush miss at reset: 1 pending updates and 4 dirty pages not committed: storage backend failed: disk full"
    );
    assert_eq!(pages.dirty().count(), 4);
    assert_eq!(wb.pending().len(), 1);
    assert_eq!(field(&store, "plan", "steps"), None);
    let faults = store.inner.faults(&session()).unwrap();
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0].kind, FaultKind::FlushMiss);
    // Once the store recovers, the next boundary commits what was pending.
    store.fail.store(false, Ordering::SeqCst);
    let report = wb.commit_boundary(turn(4), &mut pages, Vec::new()).unwrap();
    assert_eq!(report.committed.len(), 1);
    assert_eq!(pages.dirty().count(), 0);
    assert_eq!(field(&store, "plan", "steps").unwrap().value, json!(["a"]));
}

#[test]
fn recall_never_returns_a_silent_empty() {
    let store = Flaky {
        inner: MemoryStore::new(),
        fail: AtomicBool::new(false),
    };
    let mut wb = support::writeback(&store);
    let mut pages = table();
    wb.commit_boundary(turn(1), &mut pages, Vec::new()).unwrap();
    let scope = session_scope();
    assert_eq!(
        wb.recall(&agent(), &scope, "plan @full"),
        RecallOutcome::Hit {
            pages: vec![id("plan")]
        }
    );
    assert_eq!(wb.recall(&agent(), &scope, "zebra"), RecallOutcome::NoMatch);
    let stranger = page_writeback::PrincipalId::new("stranger").unwrap();
    assert_eq!(wb.recall(&stranger, &scope, "plan").code(), "denied");
    store.fail.store(true, Ordering::SeqCst);
    assert_eq!(
        wb.recall(&agent(), &scope, "plan"),
        RecallOutcome::BackendError {
            reason: "storage backend failed: disk full".to_owned()
        }
    );
}

#[test]
fn recover_adopts_entries_left_pending_by_a_dead_writer() {
    let store = MemoryStore::new();
    let mut pages = table();
    {
        let mut first = support::writeback(&store);
        first
            .stage(update("plan", "steps", Op::Append, r#""a""#))
            .unwrap();
        first
            .stage(update("plan", "steps", Op::Append, "7"))
            .unwrap();
        first.validate(&pages).unwrap();
        // Dropped before its boundary: the process "crashed".
    }
    let mut second = support::writeback(&store);
    assert_eq!(second.recover().unwrap(), 1);
    let report = second
        .commit_boundary(turn(2), &mut pages, Vec::new())
        .unwrap();
    assert_eq!(
        report.committed,
        vec![(EntryId::new(1), FieldVersion::new(1))]
    );
    assert_eq!(field(&store, "plan", "steps").unwrap().value, json!(["a"]));
    let states: Vec<&str> = store
        .entries(&session())
        .unwrap()
        .iter()
        .map(|e| e.state().code())
        .collect();
    assert_eq!(states, ["committed", "rejected"]);
}

#[test]
fn two_writers_on_one_session_compose() {
    let store = MemoryStore::new();
    let mut pages_a = table();
    let mut pages_b = table();
    let mut a = support::writeback(&store);
    let mut b = support::writeback(&store);
    let set = |v: &str| {
        update(
            "plan",
            "goal",
            Op::SetWithVersion {
                expected: FieldVersion::ABSENT,
            },
            v,
        )
    };
    a.stage(update("plan", "steps", Op::Append, r#""from a""#))
        .unwrap();
    a.stage(set(r#""goal a""#)).unwrap();
    b.stage(update("plan", "steps", Op::Append, r#""from b""#))
        .unwrap();
    b.stage(set(r#""goal b""#)).unwrap();
    a.validate(&pages_a).unwrap();
    b.validate(&pages_b).unwrap();
    a.commit_boundary(turn(1), &mut pages_a, Vec::new())
        .unwrap();
    // b validated against the state before a's commit; its commit conflicts, re-validates and
    // then commits its append while rejecting its stale set.
    let report = b
        .commit_boundary(turn(1), &mut pages_b, Vec::new())
        .unwrap();
    assert_eq!(report.committed.len(), 1);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].1.code(), ReasonCode::DestructiveOp);
    assert_eq!(
        field(&store, "plan", "steps").unwrap().value,
        json!(["from a", "from b"])
    );
    assert_eq!(
        field(&store, "plan", "goal").unwrap().value,
        json!("goal a")
    );
}
