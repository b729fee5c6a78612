//! `read_page`: the definition a provider sees, and the executor over the engine's page table
//! and store, with a clear tool error for every bad request.

use page_core::{PageId, SessionId, TokenCount, ToolCallId};
use page_engine::{Engine, EngineConfig, HarnessPage, ModelOutput, ToolCallRequest, ToolOutput};
use page_writeback::{MemoryStore, PrincipalId};
use pagevm_zeph::{READ_PAGE, ReadPageError, ZephTokens, read_page, read_page_definition};
use serde_json::json;

const LOG: &str = "error[E0425]: cannot find value `x`\n --> src/main.rs:2:13\n";

/// A session `session` with one tool result under the page id `page`, committed.
fn session<'s>(
    store: &'s MemoryStore,
    session: &str,
    page: &str,
) -> Engine<&'s MemoryStore, ZephTokens> {
    let config = EngineConfig::new(
        SessionId::new(session).unwrap(),
        PrincipalId::new("zeph").unwrap(),
    );
    let mut e = Engine::session_start(store, ZephTokens::new(), config).unwrap();
    let call = ToolCallRequest {
        call_id: ToolCallId::new("toolu_1").unwrap(),
        tool: "bash".into(),
        args_json: r#"{"command":"cargo build"}"#.into(),
        page: Some(HarnessPage {
            id: PageId::new(page).unwrap(),
            frame: TokenCount::ZERO,
        }),
    };
    e.post_model(ModelOutput {
        tool_calls: vec![call.clone()],
        ..ModelOutput::default()
    })
    .unwrap();
    let output = ToolOutput {
        output: LOG.repeat(50),
        is_error: true,
        exit_code: Some(101),
    };
    e.tool_after(&call.call_id, &output).unwrap();
    e.prompt_assemble(TokenCount::new(100)).unwrap();
    e
}

#[test]
fn the_definition_is_generated_from_the_input_type() {
    let def = read_page_definition();
    assert_eq!(def.name.as_ref(), READ_PAGE);
    let schema = &def.parameters;
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["properties"]["page"]["type"], "string");
    assert_eq!(schema["required"], json!(["page"]));
}

#[test]
fn a_page_is_read_back_in_full_from_the_table_and_then_from_the_store() {
    let store = MemoryStore::new();
    let live = session(&store, "zeph-conversation-1", "zeph-c1-m2-t0");
    let text = read_page(&live, &json!({"page": "zeph-c1-m2-t0"})).unwrap();
    assert_eq!(text, LOG.repeat(50));
    live.session_end().map_err(|e| e.0).unwrap();

    // A new session of the same conversation reads it from the store alone.
    let config = EngineConfig::new(
        SessionId::new("zeph-conversation-1").unwrap(),
        PrincipalId::new("zeph").unwrap(),
    );
    let reopened = Engine::session_start(&store, ZephTokens::new(), config).unwrap();
    assert!(reopened.pages().is_empty());
    let text = read_page(&reopened, &json!({"page": " zeph-c1-m2-t0 "})).unwrap();
    assert_eq!(text, LOG.repeat(50));
}

#[test]
fn every_bad_request_is_a_tool_error_naming_what_is_wrong() {
    let store = MemoryStore::new();
    let mine = session(&store, "zeph-conversation-1", "zeph-c1-m2-t0");
    let theirs = session(&store, "zeph-conversation-2", "zeph-c2-m5-t0");
    let cases: [(serde_json::Value, &str); 5] = [
        (json!({"id": "zeph-c1-m2-t0"}), "read_page takes"),
        (json!("zeph-c1-m2-t0"), "read_page takes"),
        (json!({"page": ""}), "is not a page id"),
        (
            json!({"page": "zeph-c1-m99"}),
            "no page zeph-c1-m99 in this session",
        ),
        (
            json!({"page": "zeph-c2-m5-t0"}),
            "belongs to another session",
        ),
    ];
    for (input, says) in cases {
        let err = read_page(&mine, &input).unwrap_err();
        assert!(err.to_string().contains(says), "{input}: {err}");
    }
    assert!(matches!(
        read_page(&mine, &json!({"page": "zeph-c2-m5-t0"})),
        Err(ReadPageError::OutOfScope { .. })
    ));
    assert!(read_page(&theirs, &json!({"page": "zeph-c2-m5-t0"})).is_ok());
}
