//! Single-writer cases: round trips through a reopened store, blobs, shared project pages, bad
//! input and the journal's life-cycle rules.

use page_core::{
    Boundary, CompactionKind, ContentDigest, FaultKind, Page, PageType, RecallOutcome, Repr, Scope,
    ToolCallId,
};
use page_writeback::{
    BlobStore, BoundaryContext, EntryId, EntryState, EvidenceRef, FaultRecord, FieldPath,
    FieldVersion, HistoryStore, JournalStore, Op, PageStore, ReasonCode, Rejection, StoreError,
    Update, WritebackConfig,
};
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::Backend;
use crate::fixture::{
    self, agent, change, id, project_scope, sid, table, touch, turn, update, writeback,
};

/// What a boundary commits is what a reopened store reads back: fields, pages and their
/// versions, blobs, audit, faults, rejections, boundaries, recall.
pub fn round_trip<B: Backend>(backend: &B) {
    let location = backend.create();
    let mut pages = table("s1");
    let change = change("s1", "budget");
    let ctx = BoundaryContext {
        boundary: Boundary::Compaction(CompactionKind::Soft),
        turn: 3,
        time_ms: 3000,
    };
    {
        let store = backend.open(&location);
        let mut wb = writeback(&store, "s1");
        wb.stage(update("s1", "plan", "steps", Op::Append, r#""a""#))
            .unwrap();
        wb.stage(update("s1", "plan", "steps", Op::Append, r#""b""#))
            .unwrap();
        wb.stage(update("s1", "ev", "args", Op::Merge, r#"{"path": "a.rs"}"#))
            .unwrap();
        wb.stage(update("s1", "plan", "goal", Op::Overwrite, r#""x""#))
            .unwrap();
        let report = wb
            .commit_boundary(ctx, &mut pages, vec![change.clone()])
            .unwrap();
        assert_eq!(report.seq.get(), 1);
        assert_eq!(report.committed.len(), 3);
        assert_eq!(report.rejected.len(), 1);
        store
            .record_fault(&FaultRecord {
                session: sid("s1"),
                kind: FaultKind::Refetch,
                page: Some(id("ev-s1")),
                tool_call: Some(ToolCallId::new("call-s1").unwrap()),
                turn: 3,
                time_ms: 3100,
                detail: "read_file a.rs again".to_owned(),
            })
            .unwrap();
        touch(&mut pages, "plan-s1", "plan-s1 v2");
        let report = wb.commit_boundary(turn(4), &mut pages, Vec::new()).unwrap();
        assert_eq!(report.seq.get(), 2);
    }
    let store = backend.open(&location);
    assert_eq!(backend.integrity(&store), "ok");
    let steps = store
        .field(&id("plan-s1"), &FieldPath::new("steps").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        (steps.value, steps.version),
        (json!(["a", "b"]), FieldVersion::new(2))
    );
    assert_eq!(
        store
            .fields(&id("ev-s1"))
            .unwrap()
            .into_values()
            .map(|f| f.value)
            .collect::<Vec<_>>(),
        vec![json!({"path": "a.rs"})]
    );
    assert_eq!(
        store
            .field(&id("plan-s1"), &FieldPath::new("goal").unwrap())
            .unwrap(),
        None
    );
    assert_eq!(store.page_versions(&id("plan-s1")).unwrap(), [1, 2]);
    assert_eq!(store.page_versions(&id("ev-s1")).unwrap(), [1]);
    assert_eq!(
        store.page_versions(&id("never")).unwrap(),
        Vec::<u64>::new()
    );
    let plan = store.page(&id("plan-s1")).unwrap().unwrap();
    assert_eq!(&plan, pages.get(&id("plan-s1")).unwrap());
    for name in ["rules-s1", "ev-s1", "pref"] {
        assert_eq!(
            store.page(&id(name)).unwrap().as_ref(),
            pages.get(&id(name)),
            "{name}"
        );
    }
    assert_eq!(store.page(&id("never")).unwrap(), None);
    let full = plan.representation(Repr::Full).unwrap();
    assert_eq!(
        store.get_blob(&full.digest()).unwrap().unwrap(),
        full.content().as_bytes()
    );
    assert!(
        store
            .tool_call_exists(&ToolCallId::new("call-s1").unwrap())
            .unwrap()
    );
    assert!(
        !store
            .tool_call_exists(&ToolCallId::new("call-zz").unwrap())
            .unwrap()
    );
    // Audit, faults, rejections, boundaries.
    let audit = store.audit_trail(&id("ev-s1")).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].change, change);
    assert_eq!(
        (audit[0].boundary, audit[0].turn, audit[0].seq.get()),
        (ctx.boundary, 3, 1)
    );
    assert_eq!(audit[0].session, sid("s1"));
    let faults = store.faults(&sid("s1")).unwrap();
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0].kind, FaultKind::Refetch);
    assert_eq!(
        faults[0].tool_call,
        Some(ToolCallId::new("call-s1").unwrap())
    );
    assert_eq!(store.faults(&sid("s2")).unwrap(), []);
    let entries = store.entries(&sid("s1")).unwrap();
    let states: Vec<(u64, String)> = entries
        .iter()
        .map(|e| (e.id().get(), state_text(e.state())))
        .collect();
    assert_eq!(
        states,
        [
            (1, "committed 1".to_owned()),
            (2, "committed 1".to_owned()),
            (3, "committed 1".to_owned()),
            (
                4,
                "rejected DESTRUCTIVE_OP: overwrite would replace committed content without a version check"
                    .to_owned()
            ),
        ]
    );
    let boundaries = store.boundaries(&sid("s1")).unwrap();
    assert_eq!(boundaries.len(), 2);
    assert_eq!(boundaries[0].1, ctx);
    assert_eq!(boundaries[1].1, turn(4));
    // Recall through the reopened store.
    let wb = writeback(&store, "s1");
    let scope = Scope::Session(sid("s1"));
    assert_eq!(
        wb.recall(&agent(), &scope, "plan-s1 v2 @full"),
        RecallOutcome::Hit {
            pages: vec![id("plan-s1")]
        }
    );
    assert_eq!(
        wb.recall(&agent(), &scope, "nothing like it"),
        RecallOutcome::NoMatch
    );
    assert_eq!(
        store.search(&scope, "-s1").unwrap(),
        vec![id("ev-s1"), id("plan-s1"), id("rules-s1")]
    );
    assert_eq!(
        store.search(&project_scope(), "pref").unwrap(),
        vec![id("pref")]
    );
}

fn state_text(state: &EntryState) -> String {
    match state {
        EntryState::Staged => "staged".to_owned(),
        EntryState::Validated => "validated".to_owned(),
        EntryState::Committed(seq) => format!("committed {}", seq.get()),
        EntryState::Rejected(r) => format!("rejected {r}"),
    }
}

/// Blobs are stored once under their digest and read back; an unknown digest is `None`.
pub fn blobs_are_content_addressed<B: Backend>(backend: &B) {
    let store = backend.open(&backend.create());
    let a = store.put_blob(b"same bytes").unwrap();
    let b = store.put_blob(b"same bytes").unwrap();
    assert_eq!(a, b);
    assert_eq!(a, ContentDigest::of(b"same bytes"));
    assert_eq!(store.get_blob(&a).unwrap().unwrap(), b"same bytes");
    let empty = store.put_blob(b"").unwrap();
    assert_eq!(store.get_blob(&empty).unwrap().unwrap(), b"");
    let other = ContentDigest::of(b"never stored");
    assert_eq!(store.get_blob(&other).unwrap(), None);
}

/// Two sessions committing the same project page store its version once; a page version
/// committed again with other content is a conflict that commits nothing.
pub fn shared_project_page_is_stored_once<B: Backend>(backend: &B) {
    let store = backend.open(&backend.create());
    for s in ["s1", "s2"] {
        let mut pages = table(s);
        let mut wb = writeback(&store, s);
        wb.stage(update(s, "pref", "key", Op::Merge, r#"{"a": 1}"#))
            .unwrap();
        let report = wb.commit_boundary(turn(1), &mut pages, Vec::new()).unwrap();
        // `pref.key` is a string field: a merge does not fit its schema.
        assert_eq!(report.rejected[0].1.code(), ReasonCode::Schema);
    }
    assert_eq!(store.page_versions(&id("pref")).unwrap(), [1]);
    // s3 builds another version 1 of `pref`: the whole boundary is refused.
    let mut pages = page_core::SessionPageTable::new();
    pages
        .insert(fixture::page(
            "plan-s3",
            PageType::Plan,
            Scope::Session(sid("s3")),
            page_core::Provenance::Import {
                source: "test".to_owned(),
            },
        ))
        .unwrap();
    pages
        .insert(fixture::page(
            "pref",
            PageType::Preference,
            project_scope(),
            page_core::Provenance::Import {
                source: "elsewhere".to_owned(),
            },
        ))
        .unwrap();
    let mut wb = writeback(&store, "s3");
    wb.stage(update("s3", "plan", "steps", Op::Append, r#""x""#))
        .unwrap();
    let miss = wb
        .commit_boundary(turn(1), &mut pages, Vec::new())
        .unwrap_err();
    assert!(
        matches!(miss.source, Some(StoreError::PageConflict { ref page, version: 1 }) if page == &id("pref")),
        "{miss:?}"
    );
    assert_eq!(store.page(&id("plan-s3")).unwrap(), None);
    assert_eq!(
        store
            .field(&id("plan-s3"), &FieldPath::new("steps").unwrap())
            .unwrap(),
        None
    );
    assert_eq!(store.boundaries(&sid("s3")).unwrap(), []);
}

fn with_evidence(u: &Update, evidence: EvidenceRef) -> Update {
    Update::new(
        u.page().clone(),
        u.field().clone(),
        u.op(),
        u.value_json(),
        u.scope().clone(),
        evidence,
        u.principal().clone(),
    )
}

/// Bad input gets its reason code and commits nothing; a scope the principal lacks is denied.
pub fn bad_input<B: Backend>(backend: &B) {
    let location = backend.create();
    let store = backend.open(&location);
    let mut pages = table("s1");
    let mut wb = writeback(&store, "s1").with_config(WritebackConfig {
        max_value_bytes: 1024,
        ..WritebackConfig::default()
    });
    // One committed value to be stale against.
    wb.stage(update(
        "s1",
        "plan",
        "goal",
        Op::SetWithVersion {
            expected: FieldVersion::ABSENT,
        },
        r#""g""#,
    ))
    .unwrap();
    wb.commit_boundary(turn(1), &mut pages, Vec::new()).unwrap();
    let fields_before: Vec<_> = ["plan-s1", "ev-s1", "pref"]
        .iter()
        .map(|p| store.fields(&id(p)).unwrap())
        .collect();

    let oversized = format!("\"{}\"", "x".repeat(2000));
    let plan_steps = update("s1", "plan", "steps", Op::Append, r#""ok""#);
    let wrong_scope = Update::new(
        plan_steps.page().clone(),
        plan_steps.field().clone(),
        Op::Append,
        r#""x""#,
        project_scope(),
        plan_steps.evidence().clone(),
        plan_steps.principal().clone(),
    );
    let cases: Vec<(&str, Update, ReasonCode)> = vec![
        (
            "oversized",
            update("s1", "plan", "steps", Op::Append, &oversized),
            ReasonCode::Schema,
        ),
        (
            "invalid json",
            update("s1", "plan", "steps", Op::Append, "[1,"),
            ReasonCode::Schema,
        ),
        (
            "unknown page",
            update("s1", "nope", "steps", Op::Append, r#""x""#),
            ReasonCode::Schema,
        ),
        ("wrong scope", wrong_scope, ReasonCode::ScopeDenied),
        (
            "stale version",
            update(
                "s1",
                "plan",
                "goal",
                Op::SetWithVersion {
                    expected: FieldVersion::ABSENT,
                },
                r#""h""#,
            ),
            ReasonCode::DestructiveOp,
        ),
        (
            "dangling page evidence",
            with_evidence(&plan_steps, EvidenceRef::Page(id("ghost"))),
            ReasonCode::Provenance,
        ),
        (
            "dangling tool call",
            with_evidence(
                &plan_steps,
                EvidenceRef::ToolCall(ToolCallId::new("call-zz").unwrap()),
            ),
            ReasonCode::Provenance,
        ),
        (
            "other session's scope",
            update("s2", "plan", "steps", Op::Append, r#""x""#),
            ReasonCode::Schema,
        ),
        (
            "NUL in the text",
            update("s1", "plan", "steps", Op::Append, "\"a\u{0}b\""),
            ReasonCode::Schema,
        ),
        (
            "quote and backslash text",
            update("s1", "plan", "steps", Op::Remove, r#""a'b\"c\\d""#),
            ReasonCode::DestructiveOp,
        ),
    ];
    for (name, u, _) in &cases {
        wb.stage(u.clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let report = wb.commit_boundary(turn(2), &mut pages, Vec::new()).unwrap();
    assert!(report.committed.is_empty());
    let got: Vec<(&str, ReasonCode)> = cases
        .iter()
        .zip(&report.rejected)
        .map(|((name, _, _), (_, r))| (*name, r.code()))
        .collect();
    let want: Vec<(&str, ReasonCode)> = cases.iter().map(|(n, _, c)| (*n, *c)).collect();
    assert_eq!(got, want);
    // Nothing committed: the fields are as before, the journal holds every rejection and the
    // staged values byte for byte.
    let fields_after: Vec<_> = ["plan-s1", "ev-s1", "pref"]
        .iter()
        .map(|p| store.fields(&id(p)).unwrap())
        .collect();
    assert_eq!(fields_before, fields_after);
    drop(wb);
    let reopened = backend.open(&location);
    let entries = reopened.entries(&sid("s1")).unwrap();
    assert_eq!(entries.len(), cases.len() + 1);
    assert!(entries.iter().all(|e| !e.state().is_pending()));
    for (e, (name, u, code)) in entries[1..].iter().zip(&cases) {
        assert_eq!(e.update(), u, "{name}");
        assert!(
            matches!(e.state(), EntryState::Rejected(r) if r.code() == *code),
            "{name}: {:?}",
            e.state()
        );
    }

    // s2's pages in s1's table, but the principal is granted only s1.
    let mut pages = table("s2");
    let mut wb = writeback(&store, "s1");
    wb.stage(update("s2", "plan", "steps", Op::Append, r#""x""#))
        .unwrap();
    let report = wb.commit_boundary(turn(3), &mut pages, Vec::new()).unwrap();
    assert_eq!(
        report.rejected[0].1.to_string(),
        "SCOPE_DENIED: principal agent may not write session:s2"
    );
}

/// The journal: ids increase across sessions in staging order; outcomes move only pending
/// entries and never to `Committed`; a refused batch of outcomes records nothing; entries are
/// per session and in id order.
pub fn journal_semantics<B: Backend>(backend: &B) {
    let store = backend.open(&backend.create());
    let a = store
        .stage(
            &sid("s1"),
            &[
                update("s1", "plan", "steps", Op::Append, r#""1""#),
                update("s1", "plan", "steps", Op::Append, r#""2""#),
            ],
        )
        .unwrap();
    let b = store
        .stage(
            &sid("s2"),
            &[update("s2", "plan", "steps", Op::Append, r#""3""#)],
        )
        .unwrap();
    let c = store
        .stage(
            &sid("s1"),
            &[update("s1", "plan", "goal", Op::Remove, r#""4""#)],
        )
        .unwrap();
    assert_eq!(store.stage(&sid("s1"), &[]).unwrap(), []);
    let all: Vec<EntryId> = a.iter().chain(&b).chain(&c).copied().collect();
    assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
    let ids = |s: &str| -> Vec<EntryId> {
        store
            .entries(&sid(s))
            .unwrap()
            .iter()
            .map(page_writeback::JournalEntry::id)
            .collect()
    };
    assert_eq!(ids("s1"), [a[0], a[1], c[0]]);
    assert_eq!(ids("s2"), b);
    assert_eq!(ids("s9"), []);

    let rejection = Rejection::new(ReasonCode::DestructiveOp, "remove would delete");
    store
        .record_outcomes(&[
            (a[0], EntryState::Validated),
            (c[0], EntryState::Rejected(rejection.clone())),
        ])
        .unwrap();
    // Committed is refused; so is a rejected (no longer pending) or unknown entry, and then
    // nothing of the batch is recorded.
    let refused = [
        vec![(
            a[1],
            EntryState::Committed(page_writeback::BoundarySeq::new(1)),
        )],
        vec![(a[1], EntryState::Validated), (c[0], EntryState::Staged)],
        vec![
            (a[1], EntryState::Validated),
            (EntryId::new(999), EntryState::Validated),
        ],
    ];
    for outcomes in refused {
        let err = store.record_outcomes(&outcomes).unwrap_err();
        assert!(matches!(err, StoreError::UnknownEntry(_)), "{err:?}");
    }
    let states: Vec<String> = store
        .entries(&sid("s1"))
        .unwrap()
        .iter()
        .map(|e| state_text(e.state()))
        .collect();
    assert_eq!(
        states,
        [
            "validated".to_owned(),
            "staged".to_owned(),
            "rejected DESTRUCTIVE_OP: remove would delete".to_owned()
        ]
    );
    // Validated → staged (re-validation) is allowed.
    store
        .record_outcomes(&[(a[0], EntryState::Staged)])
        .unwrap();
    assert_eq!(
        store.entries(&sid("s1")).unwrap()[0].state(),
        &EntryState::Staged
    );

    // A writer commits the pending entries it adopts; the rejected one stays as it was.
    let mut wb = writeback(&store, "s1");
    assert_eq!(wb.recover().unwrap(), 2);
    let mut pages = table("s1");
    let report = wb.commit_boundary(turn(1), &mut pages, Vec::new()).unwrap();
    assert_eq!(
        report.committed,
        vec![(a[0], FieldVersion::new(1)), (a[1], FieldVersion::new(2))]
    );
    let pages_committed: Vec<Page> = ["plan-s1", "rules-s1", "ev-s1", "pref"]
        .iter()
        .filter_map(|p| store.page(&id(p)).unwrap())
        .collect();
    assert_eq!(pages_committed.len(), 4);
    assert_eq!(
        store.entries(&sid("s1")).unwrap()[2].state(),
        &EntryState::Rejected(rejection)
    );
    assert_eq!(store.boundaries(&sid("s1")).unwrap().len(), 1);
}

/// Writers that commit the same boundary at once (two migrations of one source, a re-run
/// after a crash) end with what one would have written: one boundary, one audit row per
/// change, each page version once; the receipts' `stored_pages` add up to the pages.
pub fn a_repeated_boundary_is_written_once<B: Backend>(backend: &B) {
    let location = backend.create();
    let writers = 4;
    let barrier = std::sync::Barrier::new(writers);
    let stored: Vec<usize> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|_| {
                let (location, barrier) = (&location, &barrier);
                scope.spawn(move || {
                    let store = backend.open(location);
                    let mut pages = table("s1");
                    let mut wb = writeback(&store, "s1");
                    barrier.wait();
                    wb.commit_boundary(turn(1), &mut pages, vec![change("s1", "compacted")])
                        .unwrap()
                        .stored_pages
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let store = backend.open(&location);
    let pages = table("s1");
    assert_eq!(stored.iter().sum::<usize>(), pages.len(), "{stored:?}");
    assert_eq!(store.boundaries(&sid("s1")).unwrap().len(), 1);
    assert_eq!(store.audit_trail(&id("ev-s1")).unwrap().len(), 1);
    for page in pages.iter() {
        assert_eq!(
            store.page_versions(page.id()).unwrap(),
            [1],
            "{}",
            page.id()
        );
    }
    // Once more, alone: nothing new, nothing written, the first boundary's number back.
    let mut again = table("s1");
    let report = writeback(&store, "s1")
        .commit_boundary(turn(1), &mut again, vec![change("s1", "compacted")])
        .unwrap();
    assert_eq!(report.stored_pages, 0);
    assert_eq!(
        report.seq,
        store.boundaries(&sid("s1")).unwrap()[0].0,
        "a replay reports the boundary that stored the pages"
    );
    assert_eq!(store.boundaries(&sid("s1")).unwrap().len(), 1);
    assert_eq!(store.audit_trail(&id("ev-s1")).unwrap().len(), 1);
}
