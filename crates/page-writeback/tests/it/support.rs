//! Shared fixture: a session with one page of each interesting kind, and update builders.

use std::collections::BTreeMap;
use std::sync::Arc;

use page_core::{
    Boundary, Page, PageId, PageSpec, PageType, PinClass, ProjectId, Provenance, Repr,
    Representation, Scope, SessionId, SessionPageTable, TokenCount, ToolCallId, ToolSignature,
    TypeTable,
};
use page_writeback::{
    AccessControl, BoundaryContext, EvidenceRef, FieldPath, FieldSchemas, Op, PrincipalId, Store,
    Update, Writeback,
};

pub(crate) const SESSION: &str = "s1";
pub(crate) const PROJECT: &str = "p1";

pub(crate) fn session() -> SessionId {
    SessionId::new(SESSION).unwrap()
}

pub(crate) fn session_scope() -> Scope {
    Scope::Session(session())
}

pub(crate) fn project_scope() -> Scope {
    Scope::Project(ProjectId::new(PROJECT).unwrap())
}

pub(crate) fn agent() -> PrincipalId {
    PrincipalId::new("agent").unwrap()
}

pub(crate) fn id(s: &str) -> PageId {
    PageId::new(s).unwrap()
}

fn reps(levels: &[Repr], text: &str) -> BTreeMap<Repr, Representation> {
    levels
        .iter()
        .enumerate()
        .map(|(i, &r)| {
            let t = u32::try_from(i).unwrap() + 1;
            (
                r,
                Representation::new(format!("{text} @{r}"), TokenCount::new(t)),
            )
        })
        .collect()
}

/// A page of `page_type` with id `page`, in `scope`, pinned as its type says.
pub(crate) fn page(page: &str, page_type: PageType, scope: Scope, provenance: Provenance) -> Page {
    let levels: Vec<Repr> = page_type.defaults().path().ascending().collect();
    let spec = PageSpec::new(id(page), page_type, scope, provenance, reps(&levels, page));
    Page::from_spec(spec, &TypeTable::default()).unwrap()
}

pub(crate) fn import() -> Provenance {
    Provenance::Import {
        source: "test".to_owned(),
    }
}

/// The fixture table: `plan` (session), `rules` (constraint, hard pin, session), `ev1`
/// (evidence from tool call `call1`), `pref` (preference, project scope).
pub(crate) fn table() -> SessionPageTable {
    let mut t = SessionPageTable::new();
    t.insert(page("plan", PageType::Plan, session_scope(), import()))
        .unwrap();
    let rules = page("rules", PageType::Constraint, session_scope(), import());
    assert_eq!(rules.pin(), PinClass::Hard);
    t.insert(rules).unwrap();
    let call = Provenance::ToolCall {
        call_id: ToolCallId::new("call1").unwrap(),
        signature: ToolSignature::from_json_text("read_file", r#"{"path":"a.rs"}"#).unwrap(),
    };
    t.insert(page("ev1", PageType::Evidence, session_scope(), call))
        .unwrap();
    t.insert(page(
        "pref",
        PageType::Preference,
        project_scope(),
        import(),
    ))
    .unwrap();
    t
}

pub(crate) fn access() -> AccessControl {
    AccessControl::new()
        .grant(agent(), session_scope())
        .grant(agent(), project_scope())
        .grant(PrincipalId::new("reader").unwrap(), session_scope())
}

pub(crate) fn writeback<S: Store>(store: S) -> Writeback<S> {
    Writeback::new(
        store,
        session(),
        access(),
        Arc::new(FieldSchemas::builtin().unwrap()),
    )
}

/// An update by `agent` in the page's natural scope, backed by page `plan`.
pub(crate) fn update(page: &str, field: &str, op: Op, value: &str) -> Update {
    let scope = if page == "pref" {
        project_scope()
    } else {
        session_scope()
    };
    Update::new(
        id(page),
        FieldPath::new(field).unwrap(),
        op,
        value,
        scope,
        EvidenceRef::Page(id("plan")),
        agent(),
    )
}

pub(crate) fn turn(n: u64) -> BoundaryContext {
    BoundaryContext {
        boundary: Boundary::Turn,
        turn: n,
        time_ms: i64::try_from(n).unwrap() * 1000,
    }
}
