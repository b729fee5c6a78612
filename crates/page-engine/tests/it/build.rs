//! Representation builders: golden renders of every page type, the invariants every built page
//! satisfies, and bad input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking on an unexpected error"
)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::LazyLock;

use expect_test::{Expect, expect};
use page_core::{
    Page, PageId, PageSpec, PageType, PinClass, Provenance, Repr, Representation, Scope, SessionId,
    TokenCounter, ToolCallId, TypeTable,
};
use page_engine::{
    BuildConfig, ConversationTurn, PlanState, Preference, RepresentationBuilder, Rules, RulesKind,
    Source, ToolResult,
};
use page_tokenizer::{BpeCounter, Encoding};
use proptest::prelude::*;

mod evidence;

static BUILDER: LazyLock<RepresentationBuilder<BpeCounter>> = LazyLock::new(|| {
    RepresentationBuilder::new(
        BpeCounter::new(Encoding::O200kBase).unwrap(),
        TypeTable::default(),
        BuildConfig::default(),
    )
    .unwrap()
});

fn id(s: &str) -> PageId {
    PageId::new(s).unwrap()
}

fn render(reprs: &BTreeMap<Repr, Representation>) -> String {
    let mut out = String::new();
    for (level, rep) in reprs.iter().rev() {
        let _ = writeln!(out, "--- {level} ({} tokens)", rep.tokens());
        out.push_str(rep.content());
        if !rep.content().ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// Every built set must make a valid page of its type: the page-core invariants hold.
#[track_caller]
fn check(page_type: PageType, reprs: BTreeMap<Repr, Representation>, expect: Expect) {
    let provenance = Provenance::Import {
        source: "test".into(),
    };
    let spec = PageSpec::new(
        id("p"),
        page_type,
        Scope::Session(SessionId::new("s").unwrap()),
        provenance,
        reprs.clone(),
    );
    Page::from_spec(spec, &TypeTable::default()).unwrap();
    expect.assert_eq(&render(&reprs));
}

#[test]
fn plan_keeps_goal_and_current_step() {
    let steps = [
        "Reproduce the bug".to_owned(),
        "Write a failing test".to_owned(),
        "Fix selector tie-break".to_owned(),
    ];
    let reprs = BUILDER
        .plan(
            &id("plan"),
            &PlanState {
                goal: "Fix issue #12: nondeterministic selection",
                steps: &steps,
                current: 1,
            },
        )
        .unwrap();
    check(
        PageType::Plan,
        reprs,
        expect![[r#"
        --- full (38 tokens)
        Goal: Fix issue #12: nondeterministic selection
        Steps:
        1. Reproduce the bug
        2. Write a failing test  ← current
        3. Fix selector tie-break
        --- structured (24 tokens)
        goal: Fix issue #12: nondeterministic selection
        current step 2/3: Write a failing test
        --- pointer (10 tokens)
        [plan plan · step 2/3]
    "#]],
    );
}

#[test]
fn preference_keeps_key_value_and_source() {
    let reprs = BUILDER
        .preference(
            &id("pref"),
            &Preference {
                key: "indent_style",
                value: "tabs, width 4, never spaces in Makefiles",
                source: "user message m12",
            },
        )
        .unwrap();
    check(
        PageType::Preference,
        reprs,
        expect![[r#"
        --- full (24 tokens)
        Preference indent_style = tabs, width 4, never spaces in Makefiles (stated in user message m12)
        --- compressed (24 tokens)
        Preference indent_style = tabs, width 4, never spaces in Makefiles (stated in user message m12)
        --- structured (24 tokens)
        Preference indent_style = tabs, width 4, never spaces in Makefiles (stated in user message m12)
        --- pointer (8 tokens)
        [preference pref · indent_style]
    "#]],
    );
}

#[test]
fn rules_are_kept_verbatim_in_structured_form() {
    let text = "# Repository rules\n\nYou are working in the pagevm repository.\n\n- Never push to main without running `bash .ci/run`.\n- Keep page-core free of IO.\n1. Answer in English.\n";
    let reprs = BUILDER
        .rules(RulesKind::Bootstrap, &Rules { text })
        .unwrap();
    let structured = reprs[&Repr::Structured].content().to_owned();
    for rule in [
        "Never push to main without running `bash .ci/run`.",
        "Keep page-core free of IO.",
        "Answer in English.",
    ] {
        assert!(structured.contains(rule), "{rule} lost");
    }
    check(
        PageType::Bootstrap,
        reprs,
        expect![[r#"
        --- full (40 tokens)
        # Repository rules

        You are working in the pagevm repository.

        - Never push to main without running `bash .ci/run`.
        - Keep page-core free of IO.
        1. Answer in English.
        --- structured (31 tokens)
        rules:
        1. Never push to main without running `bash .ci/run`.
        2. Keep page-core free of IO.
        3. Answer in English.
    "#]],
    );
    let reprs = BUILDER
        .rules(
            RulesKind::Constraint,
            &Rules {
                text: "Do not modify tests.\nUse only the standard library.\n",
            },
        )
        .unwrap();
    check(
        PageType::Constraint,
        reprs,
        expect![[r#"
        --- full (11 tokens)
        Do not modify tests.
        Use only the standard library.
        --- structured (11 tokens)
        Do not modify tests.
        Use only the standard library.
    "#]],
    );
}

#[test]
fn conversation_keeps_span_and_time() {
    let reprs = BUILDER
        .conversation(
            &id("conv"),
            &ConversationTurn {
                role: "user",
                text: "The selector in crates/page-policy/src/select.rs breaks ties the wrong way.\nCan you check it against the artifact and fix it?\nAlso run the tests.",
                span: ("m3", "m3"),
                start_ms: Some(1_764_000_000_000),
            },
        )
        .unwrap();
    check(
        PageType::Conversation,
        reprs,
        expect![[r#"
            --- full (33 tokens)
            user: The selector in crates/page-policy/src/select.rs breaks ties the wrong way.
            Can you check it against the artifact and fix it?
            Also run the tests.
            --- compressed (33 tokens)
            user: The selector in crates/page-policy/src/select.rs breaks ties the wrong way.
            Can you check it against the artifact and fix it?
            Also run the tests.
            --- structured (33 tokens)
            user: The selector in crates/page-policy/src/select.rs breaks ties the wrong way.
            Can you check it against the artifact and fix it?
            Also run the tests.
            --- pointer (13 tokens)
            [conversation conv · m3 @1764000000000]
        "#]],
    );
}

fn err<T: std::fmt::Debug>(r: Result<T, page_engine::BuildError>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn bad_input_is_named() {
    // A call is never refused: arguments that are not JSON are signed as a string.
    let malformed = BUILDER.evidence(
        &id("e"),
        &ToolResult {
            tool: "bash",
            args_json: "{\"command\": \"ls",
            output: "",
            is_error: false,
            exit_code: None,
        },
    );
    assert_eq!(
        malformed.signature.as_str(),
        r#"bash("{\"command\": \"ls")"#
    );
    expect!["plan current_step 3 is out of range (the plan has 1 steps)"].assert_eq(&err(BUILDER
        .plan(
            &id("p"),
            &PlanState {
                goal: "g",
                steps: &["a".to_owned()],
                current: 3,
            },
        )));
    expect!["plan goal is empty"].assert_eq(&err(BUILDER.plan(
        &id("p"),
        &PlanState {
            goal: " ",
            steps: &["a".to_owned()],
            current: 0,
        },
    )));
    expect!["rule text is empty"].assert_eq(&err(BUILDER.rules(
        RulesKind::Constraint,
        &Rules {
            text: "\n# heading only\n\n",
        },
    )));
    expect!["compressed_ratio must be in (0, 1], got 0"].assert_eq(&err(
        RepresentationBuilder::new(
            BpeCounter::new(Encoding::O200kBase).unwrap(),
            TypeTable::default(),
            BuildConfig {
                compressed_ratio: 0.0,
                ..BuildConfig::default()
            },
        ),
    ));
}

#[test]
fn a_ten_megabyte_output_is_built() {
    let line = "test selector::ties::case_0042 ... ok (src/select.rs:120)\n";
    let output = line.repeat(10 * 1024 * 1024 / line.len());
    let built = BUILDER.evidence(
        &id("big"),
        &ToolResult {
            tool: "bash",
            args_json: r#"{"command":"cargo test"}"#,
            output: &output,
            is_error: false,
            exit_code: Some(0),
        },
    );
    let r = &built.representations;
    assert_eq!(r[&Repr::Full].content().len(), output.len());
    // The lower levels are bounded by the config, not by the output.
    assert!(r[&Repr::Structured].content().len() < 4096);
    assert!(r[&Repr::Compressed].content().len() <= output.len() / 3 + 4096);
    assert!(r[&Repr::Pointer].tokens().get() < 40);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_tool_output_makes_a_valid_deterministic_page(
        output in "(\\PC{0,60}\n){0,40}",
        is_error in any::<bool>(),
        exit in proptest::option::of(-2i32..130),
    ) {
        let input = ToolResult { tool: "t", args_json: r#"{"a":1}"#, output: &output, is_error, exit_code: exit };
        let a = BUILDER.evidence(&id("e"), &input);
        let b = BUILDER.evidence(&id("e"), &input);
        prop_assert_eq!(&a, &b);
        let spec = PageSpec::new(
            id("e"),
            PageType::Evidence,
            Scope::Session(SessionId::new("s").unwrap()),
            Provenance::ToolCall { call_id: ToolCallId::new("c").unwrap(), signature: a.signature.clone() },
            a.representations.clone(),
        );
        prop_assert!(Page::from_spec(spec, &TypeTable::default()).is_ok());
        prop_assert_eq!(a.representations[&Repr::Full].content(), output.as_str());
    }
}

#[test]
fn a_system_prompt_is_its_rules_or_else_a_system_turn() {
    // (prompt, page type it becomes): a list's items are its rules, else each line that is
    // not a heading; headings and blank lines alone state none.
    let cases = [
        (
            "- Never push to main.\n- Run the tests.",
            PageType::Bootstrap,
        ),
        ("You are a helpful assistant.", PageType::Bootstrap),
        ("# Agent\n\n## Tools\n", PageType::Conversation),
        ("", PageType::Conversation),
    ];
    for (text, want) in cases {
        let (page_type, reprs) = BUILDER
            .system_prompt(&id("b0"), text, "m1", Some(1_700_000_000_000))
            .unwrap();
        assert_eq!(page_type, want, "{text:?}");
        // Either way the page holds the prompt whole at full.
        assert!(reprs[&Repr::Full].content().contains(text), "{text:?}");
    }
    // A prompt without rules needs a span to be a turn.
    assert!(
        BUILDER
            .system_prompt(&id("b0"), "# Agent", "", None)
            .is_err()
    );
}

/// The seam's table: what each kind of source becomes, with its pin, scores and signature.
/// One row per source kind; the engine, the adapter, the migration and the replay all get
/// exactly these values, as they all page through `ingest`.
#[test]
fn every_source_is_paged_by_one_table_of_types_pins_and_scores() {
    let steps = ["read the log".to_owned(), "fix the test".to_owned()];
    let sources: [(&str, Source<'_>); 9] = [
        (
            "system prompt with rules",
            Source::SystemPrompt {
                text: "- Never push to main.",
                span: "m0",
                start_ms: None,
            },
        ),
        (
            "system prompt without",
            Source::SystemPrompt {
                text: "# Agent",
                span: "m0",
                start_ms: None,
            },
        ),
        (
            "constraint",
            Source::Constraint(Rules {
                text: "- Keep the API.",
            }),
        ),
        (
            "plan",
            Source::Plan(PlanState {
                goal: "fix CI",
                steps: &steps,
                current: 0,
            }),
        ),
        (
            "preference",
            Source::Preference(Preference {
                key: "indent",
                value: "tabs",
                source: "m3",
            }),
        ),
        (
            "user turn",
            Source::Turn(ConversationTurn {
                role: "user",
                text: "Why does src/lib.rs fail?",
                span: ("m1", "m1"),
                start_ms: None,
            }),
        ),
        (
            "read result",
            Source::ToolResult(ToolResult {
                tool: "read_file",
                args_json: r#"{"path":"src/lib.rs"}"#,
                output: "fn parse_args() {}",
                is_error: false,
                exit_code: None,
            }),
        ),
        (
            "edit result",
            Source::ToolResult(ToolResult {
                tool: "str_replace_editor",
                args_json: "not json",
                output: "ok",
                is_error: false,
                exit_code: None,
            }),
        ),
        (
            "memory excerpt",
            Source::Memory {
                label: "semantic recall",
                text: "earlier: src/main.rs panicked",
            },
        ),
    ];
    let mut table =
        String::from("source | type | pin | utility | recompute | signature | specifics\n");
    for (name, source) in &sources {
        let page = BUILDER.ingest(&id("p1"), source).unwrap();
        let specifics = page.specifics();
        writeln!(
            table,
            "{name} | {} | {} | {} | {} | {} | {}",
            page.page_type,
            page.pin.map_or("type's", PinClass::code),
            page.base_utility,
            page.recompute_cost,
            page.signature
                .as_ref()
                .map_or("-".to_owned(), ToString::to_string),
            specifics
                .paths
                .iter()
                .chain(&specifics.identifiers)
                .cloned()
                .collect::<Vec<_>>()
                .join(" "),
        )
        .unwrap();
        // The spec carries the seam's values onto the page.
        let provenance =
            page.tool_call(ToolCallId::new("t1").unwrap())
                .unwrap_or(Provenance::Import {
                    source: (*name).to_owned(),
                });
        let (pin, utility) = (page.pin, page.base_utility);
        let built = Page::from_spec(
            page.into_spec(
                id("p1"),
                Scope::Session(SessionId::new("s").unwrap()),
                provenance,
            ),
            &TypeTable::default(),
        )
        .unwrap();
        assert_eq!(
            pin.unwrap_or(built.page_type().defaults().default_pin()),
            built.pin(),
            "{name}"
        );
        assert!(
            (built.base_utility() - utility).abs() < f64::EPSILON,
            "{name}"
        );
    }
    expect![[r#"
        source | type | pin | utility | recompute | signature | specifics
        system prompt with rules | bootstrap_policy | type's | 7 | 1 | - | 
        system prompt without | conversation_segment | type's | 2 | 1 | - | 
        constraint | constraint | type's | 7 | 1 | - | 
        plan | plan | type's | 6 | 3 | - | 
        preference | preference | type's | 4 | 2 | - | 
        user turn | conversation_segment | type's | 2 | 1 | - | src/lib.rs
        read result | evidence | soft | 5 | 8 | read_file({"path":"src/lib.rs"}) | parse_args
        edit result | evidence | soft | 5 | 12 | str_replace_editor("not json") | 
        memory excerpt | evidence | type's | 5 | 6 | - | src/main.rs
    "#]]
    .assert_eq(&table);
}
