//! Every recorded fixture imports with the expected sessions, events and diagnostics, and no
//! input of any kind makes an importer panic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking on an unexpected error"
)]

use std::fmt::Write as _;
use std::path::Path;

use expect_test::{Expect, expect};
use page_import::{Event, Format, Transcript, import};
use proptest::prelude::*;

fn fixture(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/traces")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn clip(s: &str) -> String {
    let one_line = s.replace('\n', "⏎");
    match one_line.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

/// Sessions with event counts by kind, the first `show` events, and every diagnostic.
fn summary(t: &Transcript, show: usize) -> String {
    let mut out = format!("format: {}\n", t.format);
    for s in &t.sessions {
        let count = |f: fn(&Event) -> bool| s.events.iter().filter(|e| f(e)).count();
        let _ = writeln!(
            out,
            "session {}: {} events (system {}, user {}, assistant {}, calls {}, results {})",
            s.id,
            s.events.len(),
            count(|e| matches!(e, Event::System { .. })),
            count(|e| matches!(e, Event::User { .. })),
            count(|e| matches!(e, Event::Assistant { .. })),
            count(|e| matches!(e, Event::ToolCall { .. })),
            count(|e| matches!(e, Event::ToolResult { .. })),
        );
        for e in s.events.iter().take(show) {
            let line = match e {
                Event::System { text } => format!("system: {}", clip(text)),
                Event::User { text, at_ms, .. } => format!("user@{at_ms:?}: {}", clip(text)),
                Event::Assistant { text, .. } => format!("assistant: {}", clip(text)),
                Event::ToolCall {
                    call_id,
                    tool,
                    args_json,
                    ..
                } => {
                    format!("call {call_id} {tool} {}", clip(args_json))
                }
                Event::ToolResult {
                    call_id,
                    output,
                    is_error,
                } => {
                    format!("result {call_id} error={is_error}: {}", clip(output))
                }
            };
            let _ = writeln!(out, "  {line}");
        }
    }
    for d in &t.diagnostics {
        let _ = writeln!(out, "diagnostic: {d}");
    }
    out
}

#[track_caller]
fn check(rel: &str, show: usize, expect: Expect) {
    let text = fixture(rel);
    let detected = Format::detect(&text).unwrap();
    let t = import(&text, None).unwrap();
    assert_eq!(t.format, detected);
    expect.assert_eq(&summary(&t, show));
}

#[test]
fn claude_code_tool_use_and_results() {
    check(
        "claude-code/todowrite_examples.jsonl",
        6,
        expect![[r#"
        format: claude-code
        session todowrite_session: 11 events (system 0, user 2, assistant 3, calls 3, results 3)
          user@Some(1749895200000): Can you help me implement a new feature with proper task man…
          assistant: I'll help you implement a new feature with proper task manag…
          call toolu_todowrite_001 TodoWrite {"todos":[{"content":"Design the feature architecture","id":…
          result toolu_todowrite_001 error=false: Todos have been modified successfully. Ensure that you conti…
          assistant: Great! Now let me start with the architecture design and upd…
          call toolu_todowrite_002 TodoWrite {"todos":[{"content":"Design the feature architecture","id":…
    "#]],
    );
}

#[test]
fn claude_code_edge_cases() {
    check(
        "claude-code/edge_cases.jsonl",
        0,
        expect![[r#"
            format: claude-code
            session edge_cases: 11 events (system 0, user 6, assistant 2, calls 2, results 1)
            session todowrite_session: 1 events (system 0, user 0, assistant 0, calls 1, results 0)
            diagnostic: line 10: message has no content
            diagnostic: line 11: message has no content
            diagnostic: line 13: record has no "type"
            diagnostic: line 14: record has no "type"
            diagnostic: line 15: record has no "type"
            diagnostic: line 16: record has no "type"
            diagnostic: line 18 block 0: content block is not an object
            diagnostic: session edge_cases: tool call tool_edge_002 (MultiEdit) has no result
            diagnostic: session todowrite_session: tool call toolu_todowrite_002 (TodoWrite) has no result
        "#]],
    );
}

#[test]
fn claude_code_sessions_of_several_files() {
    let text = fixture("claude-code/representative_messages.jsonl")
        + "\n"
        + &fixture("claude-code/session_b.jsonl");
    let t = import(&text, Some(Format::ClaudeCode)).unwrap();
    expect![[r#"
        format: claude-code
        session test_session: 11 events (system 0, user 4, assistant 3, calls 2, results 2)
        session session_b: 3 events (system 0, user 2, assistant 1, calls 0, results 0)
    "#]]
    .assert_eq(&summary(&t, 0));
}

#[test]
fn swe_agent_action_dialect() {
    check(
        "swe-agent/ctf__pwn__warmup.traj",
        6,
        expect![[r#"
        format: swe-agent
        session swe_main: 22 events (system 1, user 1, assistant 7, calls 7, results 6)
          system: SETTING: You are a skilled cybersecurity professional and to…
          user@None: We're currently solving the following CTF challenge. The CTF…
          assistant: Let me disassemble the provided binary. ⏎
          call history[2].action disassemble {"command":"disassemble warmup"}
          result history[2].action error=false: Function main not found! Instead, here is the disassembly of…
          assistant: The main function outputs a message "Warm Up", then dumps th…
        diagnostic: session swe_main: tool call history[14].action (submit) has no result
    "#]],
    );
}

#[test]
fn swe_agent_function_calling_dialect() {
    check(
        "swe-agent/function_calling_simple.traj",
        6,
        expect![[r#"
        format: swe-agent
        session trajectory: 17 events (system 1, user 1, assistant 5, calls 5, results 5)
          system: SETTING: You are an autonomous programmer, and you're workin…
          user@None: We're currently solving the following issue within our repos…
          assistant: The `SyntaxError` in `missing_colon.py` is likely due to a m…
          call call_PbWErNIge3YTrli3fiVvmIid find_file {"file_name":"missing_colon.py"}
          result call_PbWErNIge3YTrli3fiVvmIid error=false: Found 1 matches for "missing_colon.py" in /SWE-agent__test-r…
          assistant: We have found the `missing_colon.py` file in the `tests` dir…
    "#]],
    );
}

#[test]
fn openhands_event_streams() {
    check(
        "openhands/basic_interactions.json",
        4,
        expect![[r#"
        format: openhands
        session trajectory: 5 events (system 0, user 3, assistant 2, calls 0, results 0)
          user@Some(1738368850787): what's 1+1?
          assistant: 1 + 1 equals 2.
          user@Some(1738369043228): No, I mean by Goldbach's conjecture!
          assistant: Goldbach's conjecture is an unsolved problem in number theor…
    "#]],
    );
    check(
        "openhands/wrong_initial_state.json",
        6,
        expect![[r#"
        format: openhands
        session trajectory: 7 events (system 0, user 1, assistant 0, calls 3, results 3)
          user@Some(1738019810239): Please rename game_2048.py to 2048.py
          call 3 read {"end":-1,"impl_source":"oh_aci","path":"/workspace","start"…
          result 3 error=false: Here's the files and directories up to 2 levels deep in /wor…
          call 5 run {"blocking":false,"command":"mv /workspace/game_2048.py /wor…
          result 5 error=false: 
          call 7 read {"end":-1,"impl_source":"oh_aci","path":"/workspace","start"…
    "#]],
    );
}

#[test]
fn aider_many_sessions_per_file() {
    check(
        "aider/chat-history-excerpt.md",
        4,
        expect![[r##"
            format: aider
            session preamble: 6 events (system 0, user 1, assistant 1, calls 2, results 2)
              assistant: -*- mode: fundamental -*-
              call preamble:call1 aider_output {}
              result preamble:call1 error=false: isort.......................................................…
              user@None: # Fix any errors below, if possible.⏎⏎## Running: /Users/gau…
            session session-1: 2 events (system 0, user 0, assistant 0, calls 1, results 1)
              call session-1:call1 aider_output {}
              result session-1:call1 error=false: /Users/gauthier/Projects/aider/.venv/bin/aider --lint --comm…
            session session-2: 8 events (system 0, user 1, assistant 1, calls 4, results 2)
              call session-2:call1 aider_output {}
              result session-2:call1 error=false: /Users/gauthier/Projects/aider/.venv/bin/aider aider/utils.p…
              user@Some(1722886412000): Use the Spinner instead of the inlined custom spinner
              assistant: Certainly! I'll modify the `run_install` function in the `ai…
            session session-3: 9 events (system 0, user 2, assistant 1, calls 3, results 3)
              call session-3:call1 aider_output {}
              result session-3:call1 error=false: /Users/gauthier/Projects/aider/.venv/bin/aider --model gpt-4…
              user@Some(1722890399000): hi
              assistant: It seems like you want to change the greeting to be more cas…
            session session-4: 3 events (system 0, user 0, assistant 1, calls 1, results 1)
              call session-4:call1 aider_output {}
              result session-4:call1 error=false: /Users/gauthier/Projects/aider/.venv/bin/aider --show-repo⏎A…
              assistant: Do not propose changes to these files, treat them as *read-o…
            diagnostic: preamble: 6 events before the first "# aider chat started at" header (kept as session "preamble")
            diagnostic: session session-2: tool call session-2:call3 (/diff) has no result
            diagnostic: session session-2: tool call session-2:call4 (/ex) has no result
        "##]],
    );
}

#[test]
fn claude_code_stream_json() {
    check(
        "claude-code-stream/fix-parser.stream.jsonl",
        5,
        expect![[r#"
            format: claude-code-stream
            session 7f3c9a2e-5d41-4b8e-9c1a-2e6f0d8b4a17: 17 events (system 0, user 1, assistant 4, calls 6, results 6)
              user@None: The test tests::rejects_missing_colon fails with a panic in …
              assistant: Let me run the tests first to see the failure.
              call toolu_01Run Bash {"command":"cargo test -p httphead","description":"Run the c…
              result toolu_01Run error=true: running 4 tests⏎test tests::parses_simple_header ... ok⏎test…
              call toolu_02Read Read {"file_path":"/home/dev/httphead/src/parser.rs"}
        "#]],
    );
}

#[test]
fn codex_rollout() {
    check(
        "codex/rollout-2025-09-18T14-02-11-tinykv.jsonl",
        7,
        expect![[r#"
            format: codex
            session 0199a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b: 20 events (system 2, user 1, assistant 1, calls 8, results 8)
              system: <user_instructions>⏎⏎# AGENTS.md⏎⏎- Run `make check` before …
              system: <environment_context>⏎  <cwd>/home/dev/tinykv</cwd>⏎  <appro…
              user@Some(1758204132001): Store.Get in internal/store/store.go returns nil, nil for a …
              call call_8Qm1 shell {"command": ["bash", "-lc", "sed -n '1,40p' internal/store/s…
              result call_8Qm1 error=false: package store⏎⏎func (s *Store) Get(key string) ([]byte, erro…
              call call_8Qm2 shell {"command": ["bash", "-lc", "rg -n 'store\\.Get\\(|\\.Get\\(…
              result call_8Qm2 error=false: internal/server/handler.go:31:	v, err := h.store.Get(key)⏎cm…
        "#]],
    );
}

#[test]
fn codex_early_layout_without_payload_envelope() {
    let text = concat!(
        r#"{"id":"0198-early","timestamp":"2025-05-01T10:00:00Z","instructions":"Be brief."}"#,
        "\n",
        r#"{"record_type":"state"}"#,
        "\n",
        r#"{"type":"message","role":"user","content":[{"type":"input_text","text":"list src"}]}"#,
        "\n",
        r#"{"type":"local_shell_call","call_id":"c1","status":"completed","action":{"type":"exec","command":["ls","src"]}}"#,
        "\n",
        r#"{"type":"function_call_output","call_id":"c1","output":{"content":"main.rs","success":true}}"#,
        "\n",
        r#"{"type":"mystery"}"#,
        "\n",
    );
    assert_eq!(Format::detect(text).unwrap(), Format::Codex);
    let t = import(text, None).unwrap();
    expect![[r#"
        format: codex
        session 0198-early: 4 events (system 1, user 1, assistant 0, calls 1, results 1)
          system: Be brief.
          user@None: list src
          call c1 local_shell {"command":["ls","src"]}
          result c1 error=false: main.rs
        diagnostic: line 6: unknown record type "mystery"
    "#]]
    .assert_eq(&summary(&t, 5));
}

#[test]
fn gemini_cli_session_lines_and_trajectory() {
    check(
        "gemini-cli/session-2025-10-02T09-15-b3f0c2d1.jsonl",
        6,
        expect![[r#"
            format: gemini-cli
            session b3f0c2d1-4e5a-4b6c-8d7e-9f0a1b2c3d4e: 12 events (system 0, user 1, assistant 3, calls 4, results 4)
              user@Some(1759396503000): slugify in blog/utils.py keeps punctuation, so 'Hello, World…
              assistant: I'll read blog/utils.py first.
              call read_file-1759396506000-a1 read_file {"absolute_path":"/home/dev/blog/blog/utils.py"}
              result read_file-1759396506000-a1 error=false: def slugify(title):⏎    return title.lower().replace(' ', '-…
              call replace-1759396514000-b2 replace {"file_path":"/home/dev/blog/blog/utils.py","new_string":"  …
              result replace-1759396514000-b2 error=false: Successfully modified file: /home/dev/blog/blog/utils.py (1 …
        "#]],
    );
    check(
        "gemini-cli/checkpoint-render.json",
        6,
        expect![[r#"
        format: gemini-cli
        session trajectory: 6 events (system 0, user 2, assistant 2, calls 1, results 1)
          user@None: This is the Gemini CLI. We are setting up the context for ou…
          assistant: Got it. Thanks for the context!
          user@None: What does blog/render.py export?
          call read_file-1759396900000-e5 read_file {"absolute_path":"/home/dev/blog/blog/render.py"}
          result read_file-1759396900000-e5 error=false: __all__ = ['render_post', 'render_index']⏎⏎def render_post(p…
          assistant: blog/render.py exports render_post and render_index (its __a…
    "#]],
    );
}

#[test]
fn gemini_cli_legacy_document_and_rewind() {
    let doc = r#"{"sessionId":"g1","projectHash":"ab","startTime":"2025-07-01T00:00:00Z","lastUpdated":"2025-07-01T00:00:00Z","messages":[{"id":"a","timestamp":"2025-07-01T00:00:01Z","type":"user","content":"hi"},{"id":"b","timestamp":"2025-07-01T00:00:02Z","type":"gemini","content":"hello","toolCalls":[{"id":"t1","name":"ls","args":{},"status":"cancelled","timestamp":"2025-07-01T00:00:02Z"}]},{"id":"c","type":"nonsense","content":"?"}]}"#;
    assert_eq!(Format::detect(doc).unwrap(), Format::GeminiCli);
    expect![[r#"
        format: gemini-cli
        session g1: 3 events (system 0, user 1, assistant 1, calls 1, results 0)
          user@Some(1751328001000): hi
          assistant: hello
          call t1 ls {}
        diagnostic: messages[2]: unknown message type "nonsense"
        diagnostic: session g1: tool call t1 (ls) has no result
    "#]]
    .assert_eq(&summary(&import(doc, None).unwrap(), 5));
    let lines = concat!(
        r#"{"sessionId":"g2","projectHash":"ab"}"#,
        "\n",
        r#"{"id":"a","type":"user","content":"first try"}"#,
        "\n",
        r#"{"id":"b","type":"gemini","content":"answer one"}"#,
        "\n",
        r#"{"$rewindTo":"a"}"#,
        "\n",
        r#"{"id":"c","type":"user","content":"second try"}"#,
        "\n",
        r#"{"$rewindTo":"zzz"}"#,
        "\n",
        r#"{"id":"d","type":"user","content":"third try"}"#,
        "\n",
        "[1]\n",
    );
    expect![[r#"
        format: gemini-cli
        session g2: 1 events (system 0, user 1, assistant 0, calls 0, results 0)
          user@None: third try
        diagnostic: line 6: $rewindTo "zzz" names no earlier message; history cleared
        diagnostic: line 8: record is not a JSON object
    "#]]
    .assert_eq(&summary(&import(lines, None).unwrap(), 5));
}

#[test]
fn broken_input_is_diagnosed_not_fatal() {
    let text = "{\"type\":\"user\",\"sessionId\":\"s\",\"uuid\":\"u1\",\"message\":{\"role\":\"user\",\"content\":\"hi\"}}\n{not json\n{\"sessionId\":\"s\"}\n{\"type\":\"user\",\"sessionId\":\"s\",\"message\":{\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t9\",\"content\":\"ok\"},{\"type\":\"video\"}]}}\n";
    let t = import(text, Some(Format::ClaudeCode)).unwrap();
    expect![[r#"
        format: claude-code
        session s: 2 events (system 0, user 1, assistant 0, calls 0, results 1)
          user@None: hi
          result t9 error=false: ok
        diagnostic: line 2: not JSON: key must be a string at line 1 column 2
        diagnostic: line 3: record has no "type"
        diagnostic: line 4 block 1: unknown content block "video"
        diagnostic: session s: tool result for t9 has no call
    "#]]
    .assert_eq(&summary(&t, 5));
}

#[test]
fn unreadable_files_are_errors() {
    let err = |text: &str, f: Option<Format>| import(text, f).unwrap_err().to_string();
    expect!["cannot tell the format of this file; name it explicitly (claude-code, claude-code-stream, codex, gemini-cli, swe-agent, openhands, aider)"].assert_eq(&err("hello", None));
    expect![[r#"not a swe-agent file: no "history" list"#]]
        .assert_eq(&err("{\"history\": 3}", Some(Format::SweAgent)));
    expect!["not a openhands file: EOF while parsing a list at line 1 column 5"]
        .assert_eq(&err("[1, 2", Some(Format::OpenHands)));
    expect![[r#"unknown format "cursor" (supported: auto, claude-code, claude-code-stream, codex, gemini-cli, swe-agent, openhands, aider)"#]]
        .assert_eq(&"cursor".parse::<Format>().unwrap_err().to_string());
}

/// The files the damage test starts from: one of each format.
const FUZZ_SEEDS: [&str; 9] = [
    "claude-code/edge_cases.jsonl",
    "claude-code-stream/fix-parser.stream.jsonl",
    "codex/rollout-2025-09-18T14-02-11-tinykv.jsonl",
    "gemini-cli/session-2025-10-02T09-15-b3f0c2d1.jsonl",
    "gemini-cli/checkpoint-render.json",
    "swe-agent/function_calling_simple.traj",
    "openhands/wrong_initial_state.json",
    "aider/chat-history-excerpt.md",
    "openhands/basic_interactions.json",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_input_panics(text in "\\PC{0,400}", which in 0usize..Format::ALL.len()) {
        let _ = import(&text, Some(Format::ALL[which]));
        let _ = import(&text, None);
    }

    #[test]
    fn no_bytes_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000), which in 0usize..Format::ALL.len()) {
        // Files are read as bytes and decoded lossily, as `pagevm` does.
        let text = String::from_utf8_lossy(&bytes);
        let _ = import(&text, Some(Format::ALL[which]));
        let _ = import(&text, None);
    }

    /// Real files with random damage: bytes flipped, cut out or spliced in, or the file cut
    /// short, as a crash or a bad copy leaves them.
    #[test]
    fn damaged_fixtures_do_not_panic(
        which in 0usize..FUZZ_SEEDS.len(),
        edits in prop::collection::vec((0usize..0x10000, 0u8..4, any::<u8>()), 1..24),
    ) {
        let mut bytes = fixture(FUZZ_SEEDS[which]).into_bytes();
        for (pos, op, byte) in edits {
            if bytes.is_empty() {
                break;
            }
            let at = pos % bytes.len();
            match op {
                0 => bytes[at] = byte,
                1 => { bytes.remove(at); }
                2 => bytes.insert(at, byte),
                _ => bytes.truncate(at),
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        for f in Format::ALL {
            let _ = import(&text, Some(f));
        }
        let _ = import(&text, None);
    }

    #[test]
    fn no_json_shaped_input_panics(
        lines in prop::collection::vec(
            prop::sample::select(vec![
                r#"{"type":"assistant","sessionId":"s","message":{"content":[{"type":"tool_use","id":"a","name":"Bash","input":{}}]}}"#,
                r#"{"type":"user","sessionId":"s","message":{"content":[{"type":"tool_result","tool_use_id":"a","content":[{"type":"text","text":"x"}],"is_error":true}]}}"#,
                r#"{"type":"user","message":{"content":7}}"#,
                r#"{"history":[{"role":"assistant","action":"ls"},{"role":"user","content":"a"},{"role":"tool"}]}"#,
                r#"[{"id":1,"action":"run","args":{"command":"ls"}},{"id":2,"observation":"run","cause":1,"content":"x","extras":{"exit_code":1}}]"#,
                r#"{"timestamp":"t","type":"response_item","payload":{"type":"function_call","name":"shell","arguments":"{\"command\":[\"ls\"]}","call_id":"c"}}"#,
                r#"{"timestamp":"t","type":"response_item","payload":{"type":"function_call_output","call_id":"c","output":"{\"output\":1}"}}"#,
                r#"{"type":"session_meta","payload":{"id":7,"base_instructions":{"text":null}}}"#,
                r#"{"sessionId":"g","projectHash":"p"}"#,
                r#"{"id":"m","type":"gemini","content":[{"text":1}],"toolCalls":[{"id":"t","name":"n","result":{"functionResponse":{"response":3}}}]}"#,
                r#"{"$rewindTo":5}"#, r#"{"$set":[]}"#,
                r#"[{"role":"model","parts":[{"functionCall":{"name":"x"}},{"functionResponse":{"name":"x"}}]}]"#,
                r#"{"type":"assistant","session_id":"s","message":{"content":[{"type":"tool_use"}]}}"#,
                r#"{"type":"result","session_id":"s"}"#,
                "#### /run make", "> make: *** No rule", "# aider chat started at 2024-08-05 19:33:02", "", "{", "]",
            ]),
            0..12,
        ),
    ) {
        let text = lines.join("\n");
        for f in Format::ALL {
            let _ = import(&text, Some(f));
        }
    }
}
