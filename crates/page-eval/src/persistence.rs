//! Tier-1 gate 5, unsafe-persistence rejection, on the real writeback journal.
//!
//! The scenario: a plan's goal is committed at version 1. At the next reset the harness is
//! asked to persist two writes: a `set_with_version` made against version 0 (it would silently
//! replace the committed goal, like a flush prompt overwriting `memory.md`) and a write that
//! claims another session's scope. The baseline persists without a journal, as a direct write:
//! the committed goal is lost and nothing says why. ClawVM stages both in
//! `page_writeback::Writeback` over its in-memory store: they must be rejected with
//! `DESTRUCTIVE_OP` and `SCOPE_DENIED`, and the committed goal must be unchanged.

use std::collections::BTreeMap;
use std::sync::Arc;

use page_core::{
    Boundary, Page, PageId, PageSpec, PageType, Provenance, Repr, Representation, Scope, SessionId,
    SessionPageTable, TokenCount, TypeTable,
};
use page_writeback::{
    AccessControl, BoundaryContext, EvidenceRef, FieldPath, FieldSchemas, FieldVersion,
    MemoryStore, Op, PageStore, PrincipalId, ReasonCode, Update, Writeback,
};
use serde_json::{Value, json};

/// The verdict of the gate.
pub(crate) struct PersistenceOutcome {
    pub(crate) passed: bool,
    pub(crate) detail: String,
}

const COMMITTED_GOAL: &str = "ship the release notes";
const STALE_GOAL: &str = "draft an outline";

/// Runs the gate. Never fails: a setup error makes the gate fail with the error as detail.
pub(crate) fn run() -> PersistenceOutcome {
    match run_inner() {
        Ok(outcome) => outcome,
        Err(e) => PersistenceOutcome {
            passed: false,
            detail: format!("gate setup failed: {e}"),
        },
    }
}

/// The baseline: a direct write with no journal applies the last value asked for.
fn baseline_direct_write(writes: &[(&str, Value)]) -> BTreeMap<String, Value> {
    let mut fields = BTreeMap::new();
    for (field, value) in writes {
        fields.insert((*field).to_owned(), value.clone());
    }
    fields
}

fn run_inner() -> Result<PersistenceOutcome, Box<dyn std::error::Error>> {
    let session = SessionId::new("s1")?;
    let other = SessionId::new("s2")?;
    let scope = Scope::Session(session.clone());
    let agent = PrincipalId::new("agent")?;
    let plan_id = PageId::new("plan")?;
    let goal = FieldPath::new("goal")?;

    let rep = |t: &str| Representation::new(t, TokenCount::new(4));
    let plan = Page::from_spec(
        PageSpec::new(
            plan_id.clone(),
            PageType::Plan,
            scope.clone(),
            Provenance::Import {
                source: "tier1:unsafe_persistence".into(),
            },
            BTreeMap::from([
                (Repr::Full, rep("goal: ship the release notes")),
                (Repr::Structured, rep("goal=ship")),
                (Repr::Pointer, rep("[plan]")),
            ]),
        ),
        &TypeTable::default(),
    )?;
    let mut table = SessionPageTable::new();
    table.insert(plan)?;

    let store = MemoryStore::new();
    let access = AccessControl::new().grant(agent.clone(), scope.clone());
    let mut wb = Writeback::new(
        &store,
        session.clone(),
        access,
        Arc::new(FieldSchemas::builtin()?),
    );
    let update = |op, value: &Value, claimed: &Scope| {
        Update::new(
            plan_id.clone(),
            goal.clone(),
            op,
            value.to_string(),
            claimed.clone(),
            EvidenceRef::Page(plan_id.clone()),
            agent.clone(),
        )
    };

    // Version 1 of the goal, committed at a turn boundary.
    let committed = json!(COMMITTED_GOAL);
    wb.stage(update(
        Op::SetWithVersion {
            expected: FieldVersion::ABSENT,
        },
        &committed,
        &scope,
    ))?;
    let first = wb.commit_boundary(
        BoundaryContext {
            boundary: Boundary::Turn,
            turn: 1,
            time_ms: 0,
        },
        &mut table,
        Vec::new(),
    )?;

    // The unsafe writes, persisted at a reset.
    let stale = json!(STALE_GOAL);
    wb.stage(update(
        Op::SetWithVersion {
            expected: FieldVersion::ABSENT,
        },
        &stale,
        &scope,
    ))?;
    wb.stage(update(
        Op::SetWithVersion {
            expected: FieldVersion::new(1),
        },
        &stale,
        &Scope::Session(other),
    ))?;
    let report = wb.commit_boundary(
        BoundaryContext {
            boundary: Boundary::Reset,
            turn: 2,
            time_ms: 0,
        },
        &mut table,
        Vec::new(),
    )?;
    let codes: Vec<ReasonCode> = report.rejected.iter().map(|(_, r)| r.code()).collect();
    let after = store.field(&plan_id, &goal)?;
    let intact = after
        .as_ref()
        .is_some_and(|f| f.value == committed && f.version == FieldVersion::new(1));

    let baseline = baseline_direct_write(&[("goal", committed.clone()), ("goal", stale.clone())]);
    let baseline_lost = baseline.get("goal") != Some(&committed);

    let passed = first.committed.len() == 1
        && baseline_lost
        && codes == [ReasonCode::DestructiveOp, ReasonCode::ScopeDenied]
        && report.committed.is_empty()
        && intact;
    let code_list: Vec<&str> = codes.iter().map(|c| c.code()).collect();
    let detail = format!(
        "direct write (no journal): committed goal overwritten, no reason code; \
         clawvm journal (page-writeback, in-memory store): rejected [{}], committed goal {} at version {}",
        code_list.join(", "),
        if intact { "intact" } else { "CHANGED" },
        after.map_or(0, |f| f.version.get()),
    );
    Ok(PersistenceOutcome { passed, detail })
}
