//! The five checks: one data-driven case per rejection path, rendered as `CODE: detail`.

use expect_test::{Expect, expect};
use page_core::ToolCallId;
use page_writeback::{
    EntryState, EvidenceRef, FieldState, FieldVersion, JournalStore, MemoryStore, Op, PrincipalId,
    SemanticValidator, Update, WritebackConfig,
};
use serde_json::Value;

use crate::support::{self, id, project_scope, table, turn, update};

struct StepInRange;

impl SemanticValidator for StepInRange {
    fn name(&self) -> &str {
        "step_in_range"
    }

    fn check(&self, update: &Update, value: &Value, _next: &FieldState) -> Result<(), String> {
        if update.field().as_str() == "current_step" && value.as_u64().is_some_and(|s| s >= 100) {
            return Err(format!("step {value} is beyond any plan"));
        }
        Ok(())
    }
}

/// Commits `setup` at turn 1, then stages and validates `candidate`; renders its outcome and
/// checks that a rejection changed nothing.
#[track_caller]
fn check(setup: &[Update], candidate: Update, expect: Expect) {
    let store = MemoryStore::new();
    let mut wb = support::writeback(&store)
        .with_config(WritebackConfig {
            max_value_bytes: 256,
            ..WritebackConfig::default()
        })
        .with_validator(Box::new(StepInRange));
    let mut pages = table();
    for u in setup {
        wb.stage(u.clone()).unwrap();
    }
    let report = wb.commit_boundary(turn(1), &mut pages, Vec::new()).unwrap();
    assert!(
        report.rejected.is_empty(),
        "setup rejected: {:?}",
        report.rejected
    );
    let before = page_writeback::PageStore::fields(&store, candidate.page()).unwrap();
    let entry = wb.stage(candidate.clone()).unwrap();
    let rejected = wb.validate(&pages).unwrap();
    let journal = store.entries(&support::session()).unwrap();
    let state = journal
        .iter()
        .find(|e| e.id() == entry)
        .unwrap()
        .state()
        .clone();
    let rendered = match &state {
        EntryState::Validated => {
            assert!(rejected.is_empty());
            "validated".to_owned()
        }
        EntryState::Rejected(r) => {
            assert_eq!(rejected, vec![(entry, r.clone())]);
            // A rejection leaves no trace but its journal entry: commit and compare.
            wb.commit_boundary(turn(2), &mut pages, Vec::new()).unwrap();
            let after = page_writeback::PageStore::fields(&store, candidate.page()).unwrap();
            pretty_assertions::assert_eq!(before, after);
            r.to_string()
        }
        other => panic!("unexpected state {other:?}"),
    };
    expect.assert_eq(&rendered);
}

#[test]
fn append_a_step_is_valid() {
    check(
        &[],
        update("plan", "steps", Op::Append, r#""read code""#),
        expect!["validated"],
    );
}

#[test]
fn schema_append_to_a_text_field() {
    check(
        &[update(
            "plan",
            "goal",
            Op::SetWithVersion {
                expected: FieldVersion::ABSENT,
            },
            r#""ship""#,
        )],
        update("plan", "goal", Op::Append, r#""more""#),
        expect!["SCHEMA: append needs a list field, the field holds a string"],
    );
}

#[test]
fn schema_unknown_page() {
    check(
        &[],
        update("nope", "steps", Op::Append, r#""x""#),
        expect!["SCHEMA: unknown page nope"],
    );
}

#[test]
fn schema_unknown_field() {
    check(
        &[],
        update("plan", "colour", Op::Append, r#""x""#),
        expect![[r#"SCHEMA: plan has no field "colour""#]],
    );
}

#[test]
fn schema_invalid_json() {
    check(
        &[],
        update("plan", "steps", Op::Append, "{not json"),
        expect!["SCHEMA: value is not JSON: key must be a string at line 1 column 2"],
    );
}

#[test]
fn schema_oversized_value() {
    let big = format!("\"{}\"", "x".repeat(300));
    check(
        &[],
        update("plan", "steps", Op::Append, &big),
        expect!["SCHEMA: value is 302 bytes, the limit is 256"],
    );
}

#[test]
fn schema_wrong_item_type() {
    check(
        &[],
        update("plan", "steps", Op::Append, "42"),
        expect![[r#"SCHEMA: plan.steps at /0: value is not of type "string""#]],
    );
}

#[test]
fn schema_enum_value() {
    check(
        &[],
        update(
            "plan",
            "status",
            Op::SetWithVersion {
                expected: FieldVersion::ABSENT,
            },
            r#""paused""#,
        ),
        expect![[r#"SCHEMA: plan.status: value is not one of "active", "done" or "abandoned""#]],
    );
}

#[test]
fn schema_nested_path() {
    check(
        &[],
        update("ev1", "args.path", Op::Merge, r#"{"a": 1}"#),
        expect!["SCHEMA: nested field path args.path is not supported; write args"],
    );
}

#[test]
fn provenance_dangling_page() {
    let mut u = update("plan", "steps", Op::Append, r#""x""#);
    u = Update::new(
        u.page().clone(),
        u.field().clone(),
        u.op(),
        u.value_json(),
        u.scope().clone(),
        EvidenceRef::Page(id("ghost")),
        u.principal().clone(),
    );
    check(
        &[],
        u,
        expect!["PROVENANCE: evidence page:ghost does not resolve"],
    );
}

#[test]
fn provenance_tool_call() {
    let with_call = |call: &str| {
        let u = update("ev1", "paths", Op::Append, r#""src/a.rs""#);
        Update::new(
            u.page().clone(),
            u.field().clone(),
            u.op(),
            u.value_json(),
            u.scope().clone(),
            EvidenceRef::ToolCall(ToolCallId::new(call).unwrap()),
            u.principal().clone(),
        )
    };
    check(&[], with_call("call1"), expect!["validated"]);
    check(
        &[],
        with_call("call9"),
        expect!["PROVENANCE: evidence tool_call:call9 does not resolve"],
    );
}

#[test]
fn scope_claimed_scope_is_not_the_pages() {
    let u = update("plan", "steps", Op::Append, r#""x""#);
    let u = Update::new(
        u.page().clone(),
        u.field().clone(),
        u.op(),
        u.value_json(),
        project_scope(),
        u.evidence().clone(),
        u.principal().clone(),
    );
    check(
        &[],
        u,
        expect!["SCOPE_DENIED: page plan is in session:s1, the update claims project:p1"],
    );
}

#[test]
fn scope_principal_without_grant() {
    let by = |who: &str| {
        let u = update(
            "pref",
            "key",
            Op::SetWithVersion {
                expected: FieldVersion::ABSENT,
            },
            r#""tz""#,
        );
        Update::new(
            u.page().clone(),
            u.field().clone(),
            u.op(),
            u.value_json(),
            u.scope().clone(),
            u.evidence().clone(),
            PrincipalId::new(who).unwrap(),
        )
    };
    check(&[], by("agent"), expect!["validated"]);
    check(
        &[],
        by("reader"),
        expect!["SCOPE_DENIED: principal reader may not write project:p1"],
    );
    check(
        &[],
        by("intruder"),
        expect!["SCOPE_DENIED: principal intruder may not write project:p1"],
    );
}

#[test]
fn destructive_ops() {
    let setup = [
        update(
            "plan",
            "goal",
            Op::SetWithVersion {
                expected: FieldVersion::ABSENT,
            },
            r#""ship""#,
        ),
        update("ev1", "args", Op::Merge, r#"{"path": "a.rs"}"#),
    ];
    check(
        &setup,
        update("plan", "goal", Op::Remove, ""),
        expect!["DESTRUCTIVE_OP: remove would delete committed content"],
    );
    check(
        &setup,
        update("plan", "goal", Op::Overwrite, r#""other""#),
        expect![
            "DESTRUCTIVE_OP: overwrite would replace committed content without a version check"
        ],
    );
    check(
        &setup,
        update(
            "plan",
            "goal",
            Op::SetWithVersion {
                expected: FieldVersion::ABSENT,
            },
            r#""other""#,
        ),
        expect!["DESTRUCTIVE_OP: version mismatch: expected 0, committed 1"],
    );
    check(
        &setup,
        update(
            "plan",
            "goal",
            Op::SetWithVersion {
                expected: FieldVersion::new(1),
            },
            r#""other""#,
        ),
        expect!["validated"],
    );
    check(
        &setup,
        update("ev1", "args", Op::Merge, r#"{"path": null}"#),
        expect![[r#"DESTRUCTIVE_OP: merge with null for key "path" would remove it"#]],
    );
    check(
        &setup,
        update("ev1", "args", Op::Merge, r#"{"lines": 3}"#),
        expect!["validated"],
    );
}

#[test]
fn policy_hard_pin_may_not_shrink() {
    let setup = [
        update("rules", "rules", Op::Append, r#""never push to main""#),
        update("rules", "rules", Op::Append, r#""run tests""#),
    ];
    check(
        &setup,
        update(
            "rules",
            "rules",
            Op::SetWithVersion {
                expected: FieldVersion::new(2),
            },
            r#"["run tests"]"#,
        ),
        expect![[
            r#"POLICY: set_with_version on hard-pinned page rules would drop list item "never push to main" from rules"#
        ]],
    );
    check(
        &setup,
        update(
            "rules",
            "rules",
            Op::SetWithVersion {
                expected: FieldVersion::new(2),
            },
            r#"["never push to main", "run tests", "lint"]"#,
        ),
        expect!["validated"],
    );
}

#[test]
fn semantic_validator() {
    check(
        &[],
        update(
            "plan",
            "current_step",
            Op::SetWithVersion {
                expected: FieldVersion::ABSENT,
            },
            "120",
        ),
        expect!["SEMANTIC: step_in_range: step 120 is beyond any plan"],
    );
}
