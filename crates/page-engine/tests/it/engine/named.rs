//! Pages the harness names: a restarted session that ingests the same history under the same
//! ids adopts the committed pages instead of building and writing them again.

use page_core::{PageId, Repr, Scope, SessionId, TokenCount};
use page_engine::{Assembly, Engine, EngineError, HarnessPage, ModelOutput, ToolDecision};
use page_writeback::{MemoryStore, PageStore};

use super::{Events, call, collecting, engine, file_listing, ok};

fn id(s: &str) -> PageId {
    PageId::new(s).unwrap()
}

/// A harness page without framing.
fn named(s: &str) -> HarnessPage {
    HarnessPage {
        id: id(s),
        frame: TokenCount::ZERO,
    }
}

/// A user question, an answer with one tool call, its result and a follow-up, under the ids
/// a harness derives from its own rows; returns the prompt under a budget that degrades.
fn named_history(e: &mut Engine<&MemoryStore, page_tokenizer::BpeCounter>) -> Assembly {
    e.user_message_as(named("c1-m1"), "Which handlers return errors?")
        .unwrap();
    let mut request = call("toolu_1", "grep", r#"{"pattern":"Result<(), Error>"}"#);
    request.page = Some(named("c1-m2-t0"));
    e.post_model(ModelOutput {
        text: Some("Searching the handlers.".into()),
        page: Some(named("c1-m2")),
        tool_calls: vec![request.clone()],
        ..ModelOutput::default()
    })
    .unwrap();
    // The history already holds the result: the tool ran before this engine saw it.
    e.tool_after(&request.call_id, &ok(&file_listing(120, "api")))
        .unwrap();
    e.user_message_as(named("c1-m4"), "Now only the ones in module_7.")
        .unwrap();
    e.prompt_assemble(TokenCount::new(600)).unwrap()
}

fn committed(store: &MemoryStore) -> Vec<(PageId, u64)> {
    let scope = Scope::Session(SessionId::new("s1").unwrap());
    let mut pages: Vec<(PageId, u64)> = store
        .search(&scope, "")
        .unwrap()
        .into_iter()
        .map(|p| {
            let version = store.page(&p).unwrap().unwrap().version();
            (p, version)
        })
        .collect();
    pages.sort();
    pages
}

#[test]
fn a_restarted_session_adopts_its_named_pages_from_the_store() {
    let store = MemoryStore::new();
    let mut first = engine(&store);
    let before = named_history(&mut first);
    assert!(
        before.placed.iter().any(|p| p.level < Repr::Full),
        "the budget must degrade something, or the test shows nothing: {:?}",
        before.placed
    );
    first.session_end().map_err(|e| e.0).unwrap();
    let written = committed(&store);
    let names: Vec<&str> = written.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(names, ["c1-m1", "c1-m2", "c1-m2-t0", "c1-m4"]);

    let mut second = engine(&store);
    let after = named_history(&mut second);
    assert_eq!(
        after.messages, before.messages,
        "the same pages, the same prompt"
    );
    assert_eq!(after.placed, before.placed);
    second.session_end().map_err(|e| e.0).unwrap();
    assert_eq!(
        committed(&store),
        written,
        "no page is written twice and none is added"
    );
}

#[test]
fn an_adopted_result_serves_a_repeated_call_and_resolves_in_full() {
    let store = MemoryStore::new();
    let mut first = engine(&store);
    named_history(&mut first);
    first.session_end().map_err(|e| e.0).unwrap();

    let mut second = engine(&store);
    named_history(&mut second);
    let full = second.resolve(&id("c1-m2-t0")).unwrap();
    assert_eq!(full, file_listing(120, "api"));
    let again = call("toolu_9", "grep", r#"{"pattern":"Result<(), Error>"}"#);
    second
        .post_model(ModelOutput {
            tool_calls: vec![again.clone()],
            ..ModelOutput::default()
        })
        .unwrap();
    match second.tool_before(&again.call_id).unwrap() {
        ToolDecision::Served { from, output, .. } => {
            assert_eq!(from, id("c1-m2-t0"));
            assert_eq!(output, full);
        }
        ToolDecision::Run => panic!("an adopted result must serve the same call"),
    }
}

#[test]
fn a_name_is_ingested_once_and_never_adopted_as_another_type() {
    let store = MemoryStore::new();
    let mut first = engine(&store);
    named_history(&mut first);
    first.session_end().map_err(|e| e.0).unwrap();

    let mut second = engine(&store);
    second.user_message_as(named("c1-m9"), "hello").unwrap();
    let again = second.user_message_as(named("c1-m9"), "hello").unwrap_err();
    assert!(
        matches!(&again, EngineError::PageExists { page } if page == "c1-m9"),
        "{again}"
    );
    let conflict = second
        .user_message_as(named("c1-m2-t0"), "not a tool result")
        .unwrap_err();
    assert!(
        matches!(&conflict, EngineError::NamedPageConflict { page, .. } if page == "c1-m2-t0"),
        "{conflict}"
    );
    assert!(conflict.to_string().contains("evidence"), "{conflict}");
}

#[test]
fn a_frame_is_charged_with_its_page_at_every_level() {
    let store = MemoryStore::new();
    let mut e = engine(&store);
    let frame = TokenCount::new(37);
    e.user_message_as(
        HarnessPage {
            id: id("c1-m1"),
            frame,
        },
        "Which handlers return errors?",
    )
    .unwrap();
    let mut request = call("toolu_1", "grep", r#"{"pattern":"Error"}"#);
    request.page = Some(HarnessPage {
        id: id("c1-m2-t0"),
        frame,
    });
    e.post_model(ModelOutput {
        tool_calls: vec![request.clone()],
        ..ModelOutput::default()
    })
    .unwrap();
    e.tool_after(&request.call_id, &ok(&file_listing(120, "api")))
        .unwrap();
    for budget in [100_000, 400] {
        let a = e.prompt_assemble(TokenCount::new(budget)).unwrap();
        for placed in &a.placed {
            let page = e.pages().get(&placed.page).unwrap();
            let text = page.levels().get(placed.level).unwrap();
            assert_eq!(
                placed.tokens.get(),
                text.get() + frame.get(),
                "{} at {}",
                placed.page,
                placed.level
            );
        }
        assert!(a.tokens.get() <= budget);
    }
}

#[test]
fn page_text_reads_this_session_only_and_demands_nothing() {
    let store = MemoryStore::new();
    let mut first = engine(&store);
    let budgeted = named_history(&mut first);
    first.session_end().map_err(|e| e.0).unwrap();

    let mut second = engine(&store);
    let again = named_history(&mut second);
    let events = Events::default();
    let text = collecting(&events, || second.page_text(&id("c1-m2-t0")).unwrap());
    assert_eq!(text, file_listing(120, "api"));
    let page_ins: Vec<String> = events
        .named("context.pagevm.page_in")
        .into_iter()
        .map(|f| f["page"].clone())
        .collect();
    assert_eq!(page_ins, ["c1-m2-t0"], "one traced page-in");
    let next = second.prompt_assemble(TokenCount::new(600)).unwrap();
    assert_eq!(next.placed, again.placed, "reading a page changes no level");
    assert_eq!(budgeted.placed, again.placed);

    let unknown = second.page_text(&id("c1-m77")).unwrap_err();
    assert!(
        matches!(unknown, EngineError::UnknownPage { .. }),
        "{unknown}"
    );
    let config = page_engine::EngineConfig::new(
        SessionId::new("s2").unwrap(),
        page_writeback::PrincipalId::new("agent").unwrap(),
    );
    let other = Engine::session_start(&store, super::COUNTER.clone(), config).unwrap();
    let foreign = other.page_text(&id("c1-m2-t0")).unwrap_err();
    assert!(
        matches!(&foreign, EngineError::OutOfScope { page, .. } if page == "c1-m2-t0"),
        "{foreign}"
    );
}

/// Six results ingested at once (a history caught up after a restart), then a question.
fn caught_up(settle: bool) -> Assembly {
    let store = MemoryStore::new();
    let mut e = engine(&store);
    for k in 0..6 {
        let mut request = call(&format!("toolu_{k}"), "read", &format!(r#"{{"k":{k}}}"#));
        request.page = Some(named(&format!("c1-m{k}-t0")));
        e.post_model(ModelOutput {
            tool_calls: vec![request.clone()],
            ..ModelOutput::default()
        })
        .unwrap();
        e.tool_after(&request.call_id, &ok(&file_listing(80, &format!("m{k}"))))
            .unwrap();
    }
    if settle {
        e.settle_demands();
    }
    e.user_message_as(named("c1-m9"), "What changed?").unwrap();
    e.prompt_assemble(TokenCount::new(1_500)).unwrap()
}

#[test]
fn a_caught_up_history_demands_only_its_newest_turn() {
    let unsettled = caught_up(false);
    assert!(
        !unsettled.unmet.is_empty(),
        "six demanded results cannot all fit, or the test shows nothing"
    );
    let settled = caught_up(true);
    assert!(settled.unmet.is_empty(), "{:?}", settled.unmet);
    assert!(
        settled
            .placed
            .iter()
            .any(|p| p.page.as_str() == "c1-m9" && p.level == Repr::Full)
    );
}
