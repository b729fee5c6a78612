//! Shared fixture: pages of a session, update builders, a writeback over any store.

use std::collections::BTreeMap;
use std::sync::Arc;

use page_core::{
    Boundary, Page, PageId, PageSpec, PageType, ProjectId, Provenance, Repr, Representation, Scope,
    SessionId, SessionPageTable, TokenCount, ToolCallId, ToolSignature, TypeTable,
};
use page_writeback::{
    AccessControl, BoundaryContext, EvidenceRef, FieldPath, FieldSchemas, Op, PrincipalId,
    ReprChange, Store, Update, Writeback,
};

/// The session id `s`.
pub fn sid(s: &str) -> SessionId {
    SessionId::new(s).unwrap()
}

/// The page id `s`.
pub fn id(s: &str) -> PageId {
    PageId::new(s).unwrap()
}

/// The principal every fixture update is made by.
pub fn agent() -> PrincipalId {
    PrincipalId::new("agent").unwrap()
}

/// The project scope the shared preference page lives in.
pub fn project_scope() -> Scope {
    Scope::Project(ProjectId::new("p1").unwrap())
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

/// A page `name` of `page_type` with all four levels of a short text.
pub fn page(name: &str, page_type: PageType, scope: Scope, provenance: Provenance) -> Page {
    let levels: Vec<Repr> = page_type.defaults().path().ascending().collect();
    let spec = PageSpec::new(id(name), page_type, scope, provenance, reps(&levels, name));
    Page::from_spec(spec, &TypeTable::default()).unwrap()
}

/// The pages of `session`: `plan-<s>` (plan), `rules-<s>` (constraint, hard pin), `ev-<s>`
/// (evidence of tool call `call-<s>`), and the shared project preference `pref`.
pub fn table(session: &str) -> SessionPageTable {
    let scope = Scope::Session(sid(session));
    let import = Provenance::Import {
        source: "test".to_owned(),
    };
    let mut t = SessionPageTable::new();
    t.insert(page(
        &format!("plan-{session}"),
        PageType::Plan,
        scope.clone(),
        import.clone(),
    ))
    .unwrap();
    t.insert(page(
        &format!("rules-{session}"),
        PageType::Constraint,
        scope.clone(),
        import.clone(),
    ))
    .unwrap();
    let call = Provenance::ToolCall {
        call_id: ToolCallId::new(format!("call-{session}")).unwrap(),
        signature: ToolSignature::from_json_text("read_file", r#"{"path":"a.rs"}"#).unwrap(),
    };
    t.insert(page(
        &format!("ev-{session}"),
        PageType::Evidence,
        scope,
        call,
    ))
    .unwrap();
    t.insert(page("pref", PageType::Preference, project_scope(), import))
        .unwrap();
    t
}

/// Access for the fixture agent to `sessions` and the project.
pub fn access(sessions: &[&str]) -> AccessControl {
    let mut a = AccessControl::new().grant(agent(), project_scope());
    for s in sessions {
        a = a.grant(agent(), Scope::Session(sid(s)));
    }
    a
}

/// A writeback of `session` over `store`, with the built-in field schemas.
pub fn writeback<S: Store>(store: S, session: &str) -> Writeback<S> {
    Writeback::new(
        store,
        sid(session),
        access(&[session]),
        Arc::new(FieldSchemas::builtin().unwrap()),
    )
}

/// An update of `session`'s page `kind-<session>` (or `pref`), in its scope, backed by the
/// session's plan page.
pub fn update(session: &str, kind: &str, field: &str, op: Op, value: &str) -> Update {
    let (page, scope) = if kind == "pref" {
        ("pref".to_owned(), project_scope())
    } else {
        (format!("{kind}-{session}"), Scope::Session(sid(session)))
    };
    Update::new(
        id(&page),
        FieldPath::new(field).unwrap(),
        op,
        value,
        scope,
        EvidenceRef::Page(id(&format!("plan-{session}"))),
        agent(),
    )
}

/// The turn boundary `n` (at `n` seconds).
pub fn turn(n: u64) -> BoundaryContext {
    BoundaryContext {
        boundary: Boundary::Turn,
        turn: n,
        time_ms: i64::try_from(n).unwrap() * 1000,
    }
}

/// A representation change of `session`'s evidence page, tagged by `reason`.
pub fn change(session: &str, reason: &str) -> ReprChange {
    ReprChange {
        page: id(&format!("ev-{session}")),
        page_type: PageType::Evidence,
        from: Repr::Full,
        to: Repr::Structured,
        tokens_before: TokenCount::new(4),
        tokens_after: TokenCount::new(2),
        full_tokens: TokenCount::new(4),
        reason: reason.to_owned(),
    }
}

/// Gives the page `page` of `pages` a new version with new content.
pub fn touch(pages: &mut SessionPageTable, page: &str, text: &str) {
    let p = pages.get(&id(page)).unwrap();
    let reps: BTreeMap<Repr, Representation> = p
        .representations()
        .map(|(r, rep)| (r, Representation::new(format!("{text} @{r}"), rep.tokens())))
        .collect();
    pages.update(&id(page), reps).unwrap();
}
