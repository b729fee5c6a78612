//! Tier-1 gate 5, unsafe-persistence rejection, on the real writeback journal.
//!
//! The scenario: a plan's goal is committed at version 1. At the next reset the harness is
//! asked to persist two writes: a `set_with_version` made against version 0 (it would silently
//! replace the committed goal, like a flush prompt overwriting `memory.md`) and a write that
//! claims another session's scope. The baseline persists without a journal, as a direct write:
//! the committed goal is lost and nothing says why. ClawVM stages both in
//! `page_writeback::Writeback`, over the in-memory store and, when the caller gives a
//! directory, over the embedded SQLite store (`page-store-sqlite`): on each, they must be
//! rejected with `DESTRUCTIVE_OP` and `SCOPE_DENIED`, and the committed goal must be unchanged.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use page_core::{
    Boundary, Page, PageId, PageSpec, PageType, Provenance, Repr, Representation, Scope, SessionId,
    SessionPageTable, TokenCount, TypeTable,
};
use page_store_sqlite::SqliteStore;
use page_writeback::{
    AccessControl, BoundaryContext, EvidenceRef, FieldPath, FieldSchemas, FieldVersion,
    MemoryStore, Op, PrincipalId, ReasonCode, Store, Update, Writeback,
};
use serde_json::{Value, json};

/// The verdict of the gate.
pub(crate) struct PersistenceOutcome {
    pub(crate) passed: bool,
    pub(crate) detail: String,
}

const COMMITTED_GOAL: &str = "ship the release notes";
const STALE_GOAL: &str = "draft an outline";

/// Runs the gate on the in-memory store and, with `sqlite_dir`, on a fresh SQLite store in that
/// directory. Never fails: a setup error makes the gate fail with the error as detail.
pub(crate) fn run(sqlite_dir: Option<&Path>) -> PersistenceOutcome {
    let memory = journal_run(MemoryStore::new());
    let sqlite = sqlite_dir.map(|dir| {
        let path = dir.join("tier1_unsafe_persistence.db");
        for suffix in ["", "-wal", "-shm"] {
            let mut stale = path.clone().into_os_string();
            stale.push(suffix);
            // A leftover from an earlier run would start the scenario at the wrong version.
            let _ignored = std::fs::remove_file(&stale);
        }
        SqliteStore::open(&path)
            .map_err(|e| format!("opening the SQLite store: {e}"))
            .and_then(journal_run)
    });
    let baseline_lost = baseline_direct_write(&[
        ("goal", serde_json::json!(COMMITTED_GOAL)),
        ("goal", serde_json::json!(STALE_GOAL)),
    ])
    .get("goal")
        != Some(&serde_json::json!(COMMITTED_GOAL));
    let mut passed = baseline_lost;
    let mut parts = vec![format!(
        "direct write (no journal): committed goal {}, no reason code",
        if baseline_lost { "overwritten" } else { "kept" }
    )];
    for (name, res) in [("in-memory", Some(memory)), ("SQLite", sqlite)] {
        match res {
            None => {}
            Some(Ok(j)) => {
                passed &= j.passed;
                parts.push(format!(
                    "clawvm journal on the {name} store: rejected [{}], committed goal {} at version {}",
                    j.codes.join(", "),
                    if j.intact { "intact" } else { "CHANGED" },
                    j.version
                ));
            }
            Some(Err(e)) => {
                passed = false;
                parts.push(format!("clawvm journal on the {name} store failed: {e}"));
            }
        }
    }
    PersistenceOutcome {
        passed,
        detail: parts.join("; "),
    }
}

/// What the journal did on one store.
struct JournalOutcome {
    passed: bool,
    codes: Vec<&'static str>,
    intact: bool,
    version: u64,
}

fn journal_run<S: Store>(store: S) -> Result<JournalOutcome, String> {
    journal_inner(store).map_err(|e| e.to_string())
}

/// The baseline: a direct write with no journal applies the last value asked for.
fn baseline_direct_write(writes: &[(&str, Value)]) -> BTreeMap<String, Value> {
    let mut fields = BTreeMap::new();
    for (field, value) in writes {
        fields.insert((*field).to_owned(), value.clone());
    }
    fields
}

fn journal_inner<S: Store>(store: S) -> Result<JournalOutcome, Box<dyn std::error::Error>> {
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

    let access = AccessControl::new().grant(agent.clone(), scope.clone());
    let mut wb = Writeback::new(
        store,
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
    let after = wb.store().field(&plan_id, &goal)?;
    let intact = after
        .as_ref()
        .is_some_and(|f| f.value == committed && f.version == FieldVersion::new(1));
    let passed = first.committed.len() == 1
        && codes == [ReasonCode::DestructiveOp, ReasonCode::ScopeDenied]
        && report.committed.is_empty()
        && intact;
    Ok(JournalOutcome {
        passed,
        codes: codes.iter().map(|c| c.code()).collect(),
        intact,
        version: after.map_or(0, |f| f.version.get()),
    })
}
