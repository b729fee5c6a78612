//! What boundaries and lookups leave behind: a plan rebuilt from committed fields, a reset
//! that writes back and keeps the rules, recall that is never silent.

use super::*;

/// The text and the cost the prompt shows for `page`.
fn shown(prompt: &Assembly, page: &PageId) -> (String, TokenCount) {
    let text = prompt
        .messages
        .iter()
        .flat_map(|m| &m.blocks)
        .find_map(|b| match b {
            Block::Text { page: p, text, .. } if p == page => Some(text.clone()),
            _ => None,
        })
        .expect("the page is shown");
    let placed = prompt.placed.iter().find(|p| &p.page == page).unwrap();
    (text, placed.tokens)
}

#[test]
fn a_plan_updated_between_prompts_is_shown_with_its_new_text_and_cost() {
    let store = MemoryStore::new();
    let mut e = engine(&store);
    let plan = e
        .add_plan("ship the release", &["tag".to_owned()], 0)
        .unwrap();
    let budget = TokenCount::new(4_000);
    let (before, before_tokens) = shown(&e.prompt_assemble(budget).unwrap(), &plan);
    e.post_model(ModelOutput {
        updates: vec![Update::new(
            plan.clone(),
            FieldPath::new("steps").unwrap(),
            Op::Append,
            r#""publish the crates and announce the release on the blog""#,
            Scope::Session(SessionId::new("s1").unwrap()),
            EvidenceRef::Page(plan.clone()),
            PrincipalId::new("agent").unwrap(),
        )],
        ..ModelOutput::default()
    })
    .unwrap();
    let prompt = e.prompt_assemble(budget).unwrap();
    let (after, after_tokens) = shown(&prompt, &plan);
    assert!(!before.contains("announce") && after.contains("announce"));
    let level = prompt.placed.iter().find(|p| p.page == plan).unwrap().level;
    let cost = e.pages().get(&plan).unwrap().levels().get(level).unwrap();
    assert_eq!(after_tokens, cost);
    assert!(after_tokens > before_tokens);
}

#[test]
fn after_a_reset_the_prompt_holds_the_rules_and_what_came_since() {
    let store = MemoryStore::new();
    let mut e = engine(&store);
    let rules = e.add_rules(RulesKind::Bootstrap, SYSTEM, "system").unwrap();
    e.user_message("List the sources.").unwrap();
    let c = call("c1", "list_dir", r#"{"path":"src"}"#);
    e.post_model(ModelOutput {
        tool_calls: vec![c.clone()],
        ..ModelOutput::default()
    })
    .unwrap();
    e.tool_after(&c.call_id, &ok("src/main.rs\nsrc/lib.rs\n"))
        .unwrap();
    let budget = TokenCount::new(4_000);
    assert_eq!(e.prompt_assemble(budget).unwrap().placed.len(), 3);
    e.reset().unwrap();
    let asked = e.user_message("Start over: what is in tests/?").unwrap();
    let prompt = e.prompt_assemble(budget).unwrap();
    let pages: Vec<&PageId> = prompt.placed.iter().map(|p| &p.page).collect();
    assert_eq!(pages, [&rules, &asked]);
    assert!(prompt.tool_pairs_intact());
}

#[test]
fn reset_writes_back_plan_updates_and_unsafe_updates_are_rejected() {
    let store = MemoryStore::new();
    let mut e = engine(&store);
    let plan = e
        .add_plan(
            "ship the release",
            &["tag".to_owned(), "publish".to_owned()],
            0,
        )
        .unwrap();
    let scope = Scope::Session(SessionId::new("s1").unwrap());
    let update = |op, value: &str| {
        Update::new(
            plan.clone(),
            FieldPath::new("steps").unwrap(),
            op,
            value,
            scope.clone(),
            EvidenceRef::Page(plan.clone()),
            PrincipalId::new("agent").unwrap(),
        )
    };
    e.post_model(ModelOutput {
        text: Some("Adding a step.".to_owned()),
        updates: vec![update(Op::Append, r#""announce""#), update(Op::Remove, "")],
        ..ModelOutput::default()
    })
    .unwrap();
    e.reset().unwrap();
    let steps = store
        .field(&plan, &FieldPath::new("steps").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        steps.value,
        serde_json::json!(["tag", "publish", "announce"])
    );
    let entries = store.entries(&SessionId::new("s1").unwrap()).unwrap();
    let rejected: Vec<_> = entries
        .iter()
        .filter_map(|e| match e.state() {
            EntryState::Rejected(r) => Some(r.code()),
            _ => None,
        })
        .collect();
    assert_eq!(rejected, vec![ReasonCode::DestructiveOp]);
    // The plan left the working set with the reset, but is in the store at its new version.
    assert!(e.pages().get(&plan).is_none());
    let stored = store.page(&plan).unwrap().unwrap();
    assert!(
        stored
            .representation(Repr::Full)
            .unwrap()
            .content()
            .contains("announce")
    );
}

#[test]
fn recall_is_never_silent() {
    let store = MemoryStore::new();
    let mut e = engine(&store);
    let outcome = e
        .recall("deploy key", &Scope::Session(SessionId::new("s1").unwrap()))
        .unwrap();
    assert_eq!(outcome.code(), "no_match");
    let denied = e
        .recall(
            "deploy key",
            &Scope::Session(SessionId::new("other").unwrap()),
        )
        .unwrap();
    assert_eq!(denied.code(), "denied");
    let a = e.prompt_assemble(TokenCount::new(1_000)).unwrap();
    let notes: Vec<&str> = a
        .messages
        .iter()
        .flat_map(|m| &m.blocks)
        .filter_map(|b| match b {
            Block::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        notes
            .iter()
            .any(|t| t.contains("no committed page matches")),
        "{notes:?}"
    );
    assert!(notes.iter().any(|t| t.contains("denied")), "{notes:?}");
}
