//! Data-driven checks that invalid pages are rejected with an error naming the field.

use expect_test::{Expect, expect};
use page_core::{Page, PageSpec, PageType, Repr, TypeTable};

use crate::spec;

#[track_caller]
fn check(spec: PageSpec, expect: Expect) {
    let res = Page::from_spec(spec, &TypeTable::default());
    let shown = match res {
        Ok(p) => format!(
            "ok: {} min={} costs={:?}",
            p.page_type(),
            p.levels().min_fidelity(),
            p.levels()
                .iter()
                .map(|(r, t)| (r.code(), t.get()))
                .collect::<Vec<_>>()
        ),
        Err(e) => format!("error: {e}"),
    };
    expect.assert_eq(&shown);
}

use Repr::{Compressed, Full, None as NoRepr, Pointer, Structured};

#[test]
fn valid_pages_of_every_type() {
    check(
        spec(PageType::Bootstrap, &[(Full, 40), (Structured, 25)]),
        expect![[
            r#"ok: bootstrap_policy min=structured costs=[("structured", 25), ("full", 40)]"#
        ]],
    );
    check(
        spec(
            PageType::Plan,
            &[(Full, 30), (Structured, 12), (Pointer, 4)],
        ),
        expect![[
            r#"ok: plan min=pointer costs=[("pointer", 4), ("structured", 12), ("full", 30)]"#
        ]],
    );
    check(
        spec(
            PageType::Evidence,
            &[
                (Full, 300),
                (Compressed, 90),
                (Structured, 40),
                (Pointer, 6),
            ],
        ),
        expect![[
            r#"ok: evidence min=pointer costs=[("pointer", 6), ("structured", 40), ("compressed", 90), ("full", 300)]"#
        ]],
    );
    check(
        spec(
            PageType::Conversation,
            &[(Full, 5), (Compressed, 5), (Structured, 5), (Pointer, 5)],
        ),
        expect![[
            r#"ok: conversation_segment min=pointer costs=[("pointer", 5), ("structured", 5), ("compressed", 5), ("full", 5)]"#
        ]],
    );
}

#[test]
fn representation_off_the_path() {
    check(
        spec(
            PageType::Constraint,
            &[(Full, 40), (Compressed, 30), (Structured, 25)],
        ),
        expect![
            "error: representations.compressed given, but compressed is not on the degradation path full→structured"
        ],
    );
    check(
        spec(
            PageType::Plan,
            &[(NoRepr, 0), (Full, 30), (Structured, 12), (Pointer, 4)],
        ),
        expect![
            "error: representations.none given, but none is not on the degradation path full→structured→pointer"
        ],
    );
}

#[test]
fn missing_representations() {
    check(
        spec(PageType::Constraint, &[(Full, 40)]),
        expect![
            "error: representations.structured is missing (required by the degradation path full→structured)"
        ],
    );
    check(
        spec(
            PageType::Evidence,
            &[(Full, 40), (Compressed, 20), (Structured, 10)],
        ),
        expect![
            "error: representations.pointer is missing (required by the degradation path full→compressed→structured→pointer)"
        ],
    );
}

#[test]
fn costs_must_not_decrease_toward_full() {
    check(
        spec(
            PageType::Evidence,
            &[
                (Full, 300),
                (Compressed, 400),
                (Structured, 40),
                (Pointer, 6),
            ],
        ),
        expect![
            "error: representations.compressed.tokens (400) exceeds representations.full.tokens (300): costs must not decrease toward full"
        ],
    );
}

#[test]
fn min_fidelity_must_be_on_the_path() {
    let mut s = spec(PageType::Bootstrap, &[(Full, 40), (Structured, 25)]);
    s.min_fidelity = Some(Pointer);
    check(
        s,
        expect![
            "error: min_fidelity pointer of bootstrap_policy is not on its degradation path full→structured"
        ],
    );
}

#[test]
fn numbers_must_be_finite_and_non_negative() {
    let mut s = spec(PageType::Bootstrap, &[(Full, 40), (Structured, 25)]);
    s.recompute_cost = -1.0;
    check(
        s,
        expect!["error: recompute_cost must be finite and non-negative, got -1"],
    );
    let mut s = spec(PageType::Bootstrap, &[(Full, 40), (Structured, 25)]);
    s.base_utility = f64::NAN;
    check(
        s,
        expect!["error: base_utility must be finite and non-negative, got NaN"],
    );
}

#[test]
fn json_errors_name_the_field() {
    let show = |json: &str| match serde_json::from_str::<Page>(json) {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.to_string(),
    };
    let base = |extra: &str| {
        format!(
            r#"{{"id": "p1", "type": "constraint", "scope": {{"kind": "session", "id": "s1"}},
               "provenance": {{"kind": "import", "source": "test"}},
               "representations": {{"full": {{"content": "Never push to main.", "tokens": 6}},
                                    "structured": {{"content": "rules=[no push main]", "tokens": 5{extra}}}}}}}"#
        )
    };
    expect!["ok"].assert_eq(&show(&base("")));
    expect!["representations.none given, but none is not on the degradation path full→structured"]
        .assert_eq(&show(&base(r#"}, "none": {"content": "", "tokens": 0"#)));
    expect!["representations.structured.digest does not match its content"].assert_eq(&show(
        &base(r#", "digest": "0000000000000000000000000000000000000000000000000000000000000000""#),
    ));
    expect!["invalid page_id: it is empty at line 1 column 9"]
        .assert_eq(&show(&base("").replacen(r#""id": "p1""#, r#""id": """#, 1)));
}

#[test]
fn tool_signatures_are_canonical() {
    use page_core::ToolSignature;
    let a = ToolSignature::from_json_text(
        "bash",
        r#"{"cmd": "ls -la", "cwd": "/repo", "opts": {"b": 1, "a": [2, {"y": 1, "x": 0}]}}"#,
    )
    .unwrap();
    let b = ToolSignature::from_json_text(
        "bash",
        r#"{"opts":{"a":[2,{"x":0,"y":1}],"b":1},"cwd":"/repo","cmd":"ls -la"}"#,
    )
    .unwrap();
    assert_eq!(a, b);
    expect![[r#"bash({"cmd":"ls -la","cwd":"/repo","opts":{"a":[2,{"x":0,"y":1}],"b":1}})"#]]
        .assert_eq(a.as_str());
    expect![[r#"Err(InvalidSignature("arguments of \"bash\" are not JSON: EOF while parsing a value at line 1 column 7"))"#]]
        .assert_eq(&format!("{:?}", ToolSignature::from_json_text("bash", r#"{"cmd":"#)));
    expect![[r#"Err(InvalidSignature("tool name \"\" must be non-empty, without '(' or control characters"))"#]]
        .assert_eq(&format!("{:?}", ToolSignature::from_json_text("", "{}")));
    let round: ToolSignature = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
    assert_eq!(round, a);
    let not_canonical = serde_json::from_str::<ToolSignature>(r#""bash({\"b\":1, \"a\":2})""#);
    expect![[r#"Err(Error("invalid tool signature: \"bash({\\\"b\\\":1, \\\"a\\\":2})\" is not canonical (expected \"bash({\\\"a\\\":2,\\\"b\\\":1})\")", line: 0, column: 0))"#]]
        .assert_eq(&format!("{not_canonical:?}"));
}

#[test]
fn a_scope_round_trips_through_its_two_store_columns() {
    use page_core::{ProjectId, Scope, SessionId};
    for scope in [
        Scope::Session(SessionId::new("s1").unwrap()),
        Scope::Project(ProjectId::new("p1").unwrap()),
    ] {
        let back = Scope::from_parts(scope.kind().code(), scope.id_str()).unwrap();
        assert_eq!(back, scope);
    }
    assert!(Scope::from_parts("team", "t1").is_err());
    assert!(Scope::from_parts("session", "").is_err());
}
