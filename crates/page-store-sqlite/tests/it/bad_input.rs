//! Bad input against a real database file: each gets its reason code and commits nothing.

use page_core::ToolCallId;
use page_store_sqlite::SqliteStore;
use page_writeback::{
    EvidenceRef, FieldVersion, JournalStore, Op, PageStore, ReasonCode, Update, WritebackConfig,
};
use pretty_assertions::assert_eq;

use crate::support::{self, id, project_scope, sid, table, turn, update};

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

#[test]
fn bad_input_is_rejected_with_its_code_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = support::open(dir.path());
    let mut pages = table("s1");
    let mut wb = support::writeback(&store, "s1").with_config(WritebackConfig {
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
    // Nothing committed: the fields are as before, the journal holds every rejection.
    let fields_after: Vec<_> = ["plan-s1", "ev-s1", "pref"]
        .iter()
        .map(|p| store.fields(&id(p)).unwrap())
        .collect();
    assert_eq!(fields_before, fields_after);
    drop(wb);
    let reopened = SqliteStore::open(store.path()).unwrap();
    assert_eq!(reopened.rejections(&sid("s1")).unwrap().len(), cases.len());
    assert!(
        reopened
            .entries(&sid("s1"))
            .unwrap()
            .iter()
            .all(|e| !e.state().is_pending())
    );
}

#[test]
fn a_scope_the_principal_lacks_is_denied() {
    let dir = tempfile::tempdir().unwrap();
    let store = support::open(dir.path());
    // s2's pages in s1's table, but the principal is granted only s1.
    let mut pages = table("s2");
    let mut wb = support::writeback(&store, "s1");
    wb.stage(update("s2", "plan", "steps", Op::Append, r#""x""#))
        .unwrap();
    let report = wb.commit_boundary(turn(1), &mut pages, Vec::new()).unwrap();
    assert_eq!(
        report.rejected[0].1.to_string(),
        "SCOPE_DENIED: principal agent may not write session:s2"
    );
}
