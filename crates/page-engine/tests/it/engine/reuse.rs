//! Which repeated calls are served from an earlier result: a table of call sequences, the
//! decision on the last call (asked first through `stored_result`, then made by
//! `tool_before`) and the reason the engine traced for it.

use page_engine::{ReadOnlyTools, ToolDecision};

use super::{COUNTER, EngineConfig, MemoryStore, PrincipalId, SessionId};
use super::{Events, call, collecting, ok};

struct Case {
    name: &'static str,
    read_only: Option<ReadOnlyTools>,
    /// One response each, `(tool, args)`; every call but the last runs (or is served).
    calls: &'static [(&'static str, &'static str)],
    served: bool,
    reason: &'static str,
}

#[test]
fn a_repeated_call_is_served_only_when_reading_again_would_read_the_same() {
    const READ: (&str, &str) = ("read", r#"{"path":"src/lib.rs"}"#);
    let cases = [
        Case {
            name: "the same read again",
            read_only: None,
            calls: &[READ, READ],
            served: true,
            reason: "served",
        },
        Case {
            name: "arguments in another order and spacing",
            read_only: None,
            calls: &[
                ("grep", r#"{"pattern":"fn","path":"src"}"#),
                ("grep", r#"{ "path": "src", "pattern": "fn" }"#),
            ],
            served: true,
            reason: "served",
        },
        Case {
            name: "a read-only name in another case",
            read_only: None,
            calls: &[("Read", r#"{"path":"a"}"#), ("Read", r#"{"path":"a"}"#)],
            served: true,
            reason: "served",
        },
        Case {
            name: "another read in between changes nothing",
            read_only: None,
            calls: &[READ, ("grep", r#"{"pattern":"x"}"#), READ],
            served: true,
            reason: "served",
        },
        Case {
            name: "a shell command in between may have changed the file",
            read_only: None,
            calls: &[
                READ,
                ("bash", r#"{"command":"sed -i s/a/b/ src/lib.rs"}"#),
                READ,
            ],
            served: false,
            reason: "changed_since",
        },
        Case {
            name: "a write in between",
            read_only: None,
            calls: &[
                READ,
                ("write", r#"{"path":"src/lib.rs","content":""}"#),
                READ,
            ],
            served: false,
            reason: "changed_since",
        },
        Case {
            name: "a shell command is never served",
            read_only: None,
            calls: &[
                ("bash", r#"{"command":"ls"}"#),
                ("bash", r#"{"command":"ls"}"#),
            ],
            served: false,
            reason: "not_read_only",
        },
        Case {
            name: "a web page changes between fetches",
            read_only: None,
            calls: &[
                ("fetch", r#"{"url":"https://a"}"#),
                ("fetch", r#"{"url":"https://a"}"#),
            ],
            served: false,
            reason: "not_read_only",
        },
        Case {
            name: "another file",
            read_only: None,
            calls: &[READ, ("read", r#"{"path":"src/main.rs"}"#)],
            served: false,
            reason: "new_call",
        },
        Case {
            name: "configured: nothing is read-only",
            read_only: Some(ReadOnlyTools::none()),
            calls: &[READ, READ],
            served: false,
            reason: "not_read_only",
        },
        Case {
            name: "configured: a tool of the harness's own",
            read_only: Some(ReadOnlyTools::new(["lookup_symbol"])),
            calls: &[
                ("lookup_symbol", r#"{"name":"Engine"}"#),
                ("lookup_symbol", r#"{"name":"Engine"}"#),
            ],
            served: true,
            reason: "served",
        },
    ];
    for case in cases {
        let store = MemoryStore::new();
        let mut config = EngineConfig::new(
            SessionId::new("s1").unwrap(),
            PrincipalId::new("agent").unwrap(),
        );
        if let Some(tools) = case.read_only {
            config.read_only_tools = tools;
        }
        let mut e = page_engine::Engine::session_start(&store, COUNTER.clone(), config).unwrap();
        let events = Events::default();
        let mut last = None;
        collecting(&events, || {
            for (k, (tool, args)) in case.calls.iter().enumerate() {
                let c = call(&format!("c{k}"), tool, args);
                e.post_model(page_engine::ModelOutput {
                    tool_calls: vec![c.clone()],
                    ..page_engine::ModelOutput::default()
                })
                .unwrap();
                if k + 1 == case.calls.len() {
                    // What a harness that sees the call first is told: the same answer.
                    let stored = e.stored_result(&c.call_id, tool, args).unwrap();
                    assert_eq!(stored.is_some(), case.served, "{}", case.name);
                }
                let decision = e.tool_before(&c.call_id).unwrap();
                if decision == ToolDecision::Run {
                    e.tool_after(&c.call_id, &ok(&format!("output of {tool} {k}")))
                        .unwrap();
                }
                last = Some(decision);
            }
        });
        let last = last.unwrap();
        assert_eq!(
            matches!(last, ToolDecision::Served { .. }),
            case.served,
            "{}: {last:?}",
            case.name
        );
        if let ToolDecision::Served { output, .. } = &last {
            assert!(output.starts_with("output of"), "{}", case.name);
        }
        let decisions = events.named("context.pagevm.tool_decision");
        // One per call, and one for the `stored_result` question, answered alike.
        assert_eq!(decisions.len(), case.calls.len() + 1, "{}", case.name);
        let asked = &decisions[decisions.len() - 2];
        let fields = decisions.last().unwrap();
        assert_eq!(asked, fields, "{}", case.name);
        // String fields are recorded through `Debug`, quoted.
        assert_eq!(
            fields["reason"],
            format!("{:?}", case.reason),
            "{}",
            case.name
        );
        let want = if case.served { "served" } else { "run" };
        assert_eq!(fields["decision"], format!("{want:?}"), "{}", case.name);
    }
}
