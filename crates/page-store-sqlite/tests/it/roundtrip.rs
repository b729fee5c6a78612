//! What a boundary commits is what a reopened store reads back, through SQLite's own query
//! API (page table, rejections, integrity check); the generic round trip is in the contract
//! suite.

use std::collections::BTreeMap;

use page_core::{
    Boundary, CompactionKind, FaultKind, PageType, RecallOutcome, Repr, Representation, Scope,
    TokenCount,
};
use page_writeback::{
    BlobStore, BoundaryContext, EntryId, FaultRecord, FieldPath, FieldVersion, JournalStore, Op,
    PageStore, ReasonCode, ReprChange,
};
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::support::{self, agent, id, sid, table, turn, update};

#[test]
fn a_committed_boundary_reads_back_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut pages = table("s1");
    let change = ReprChange {
        page: id("ev-s1"),
        page_type: PageType::Evidence,
        from: Repr::Full,
        to: Repr::Structured,
        tokens_before: TokenCount::new(4),
        tokens_after: TokenCount::new(2),
        full_tokens: TokenCount::new(4),
        reason: "budget".to_owned(),
    };
    let ctx = BoundaryContext {
        boundary: Boundary::Compaction(CompactionKind::Soft),
        turn: 3,
        time_ms: 3000,
    };
    {
        let store = support::open(dir.path());
        let mut wb = support::writeback(&store, "s1");
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
                tool_call: None,
                turn: 3,
                time_ms: 3100,
                detail: "read_file a.rs again".to_owned(),
            })
            .unwrap();
        // A second version of the plan page.
        let plan = pages.get(&id("plan-s1")).unwrap().clone();
        let reps: BTreeMap<Repr, Representation> = plan
            .representations()
            .map(|(r, rep)| {
                (
                    r,
                    Representation::new(format!("{} v2", rep.content()), rep.tokens()),
                )
            })
            .collect();
        pages.update(&id("plan-s1"), reps).unwrap();
        wb.commit_boundary(turn(4), &mut pages, Vec::new()).unwrap();
    }
    let store = support::open(dir.path());
    assert_eq!(store.integrity_check().unwrap(), "ok");
    assert_eq!(store.schema_version().unwrap(), 3);
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
    // Page table: latest versions, with their token costs.
    let rows = store.page_table(&sid("s1")).unwrap();
    let summary: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{} {} v{} seq{} {:?}",
                r.id,
                r.page_type,
                r.version,
                r.seq.get(),
                r.tokens
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "ev-s1 evidence v1 seq1 [(Pointer, TokenCount(1)), (Structured, TokenCount(2)), (Compressed, TokenCount(3)), (Full, TokenCount(4))]",
            "plan-s1 plan v2 seq2 [(Pointer, TokenCount(1)), (Structured, TokenCount(2)), (Full, TokenCount(3))]",
            "pref preference v1 seq1 [(Pointer, TokenCount(1)), (Structured, TokenCount(2)), (Compressed, TokenCount(3)), (Full, TokenCount(4))]",
            "rules-s1 constraint v1 seq1 [(Structured, TokenCount(1)), (Full, TokenCount(2))]",
        ]
    );
    assert_eq!(store.page_versions(&id("plan-s1")).unwrap(), [1, 2]);
    let plan = store.page(&id("plan-s1")).unwrap().unwrap();
    assert_eq!(&plan, pages.get(&id("plan-s1")).unwrap());
    let full = plan.representation(Repr::Full).unwrap();
    assert_eq!(
        store.get_blob(&full.digest()).unwrap().unwrap(),
        full.content().as_bytes()
    );
    // Audit, faults, rejections, boundaries.
    let audit = store.audit_trail(&id("ev-s1")).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].change, change);
    assert_eq!(
        (audit[0].boundary, audit[0].turn, audit[0].seq.get()),
        (ctx.boundary, 3, 1)
    );
    let faults = store.faults(&sid("s1")).unwrap();
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0].kind, FaultKind::Refetch);
    let rejections = store.rejections(&sid("s1")).unwrap();
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0].0, EntryId::new(4));
    assert_eq!(rejections[0].1.code(), ReasonCode::DestructiveOp);
    let boundaries = store.boundaries(&sid("s1")).unwrap();
    assert_eq!(boundaries.len(), 2);
    assert_eq!(boundaries[0].1, ctx);
    // Recall through the reopened store.
    let wb = support::writeback(&store, "s1");
    let scope = Scope::Session(sid("s1"));
    assert_eq!(
        wb.recall(&agent(), &scope, "plan-s1 @full v2"),
        RecallOutcome::Hit {
            pages: vec![id("plan-s1")]
        }
    );
    assert_eq!(
        wb.recall(&agent(), &scope, "nothing like it"),
        RecallOutcome::NoMatch
    );
}

#[test]
fn idle_time_checkpoints_keep_every_commit() {
    use page_store_sqlite::{SqliteConfig, SqliteStore};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pagevm.db");
    let config = SqliteConfig {
        wal_autocheckpoint: 0,
        ..SqliteConfig::default()
    };
    {
        let store = SqliteStore::open_with(&path, config).unwrap();
        let mut pages = table("s1");
        let mut wb = support::writeback(&store, "s1");
        for n in 1..=3 {
            wb.stage(update(
                "s1",
                "plan",
                "steps",
                Op::Append,
                &format!("\"{n}\""),
            ))
            .unwrap();
            wb.commit_boundary(turn(n), &mut pages, Vec::new()).unwrap();
        }
        // Nothing was checkpointed automatically; now everything is.
        let (log, done) = store.checkpoint().unwrap();
        assert!(log > 0);
        assert_eq!(log, done);
    }
    let store = SqliteStore::open(&path).unwrap();
    let steps = store
        .field(&id("plan-s1"), &FieldPath::new("steps").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(steps.value, json!(["1", "2", "3"]));
    assert_eq!(store.integrity_check().unwrap(), "ok");
}
