//! Field schemas: generated from Rust types, offline, remote refs refused.

use expect_test::expect;
use page_core::PageType;
use page_writeback::{FieldSchemas, SchemaError};
use serde_json::json;

#[test]
fn builtin_fields_per_page_type() {
    let schemas = FieldSchemas::builtin().unwrap();
    let rendered: Vec<String> = PageType::ALL
        .iter()
        .map(|&t| format!("{t}: {}", schemas.fields(t).collect::<Vec<_>>().join(", ")))
        .collect();
    expect![[r#"
        bootstrap_policy: rules, source
        constraint: rules, source
        plan: current_step, goal, status, steps
        preference: key, scope, value
        evidence: args, paths, status, summary, tool
        conversation_segment: span, text"#]]
    .assert_eq(&rendered.join("\n"));
}

#[test]
fn a_remote_ref_fails_to_build() {
    let schema = json!({
        "type": "object",
        "properties": {
            "goal": { "$ref": "https://example.com/goal.json" }
        }
    });
    let err = FieldSchemas::from_schemas([(PageType::Plan, schema)]).unwrap_err();
    assert!(matches!(err, SchemaError::RemoteRef { .. }));
    expect![[r#"schema of plan.goal has a remote $ref "https://example.com/goal.json"; only local refs (#...) are allowed"#]]
        .assert_eq(&err.to_string());
}

#[test]
fn a_remote_ref_in_defs_fails_to_build() {
    let schema = json!({
        "$defs": { "G": { "$ref": "file:///etc/passwd" } },
        "properties": { "goal": { "$ref": "#/$defs/G" } }
    });
    let err = FieldSchemas::from_schemas([(PageType::Plan, schema)]).unwrap_err();
    assert!(
        matches!(err, SchemaError::RemoteRef { ref reference, .. } if reference == "file:///etc/passwd")
    );
}

#[test]
fn a_schema_without_properties_fails_to_build() {
    let err =
        FieldSchemas::from_schemas([(PageType::Plan, json!({"type": "string"}))]).unwrap_err();
    assert_eq!(err.to_string(), "schema of plan has no properties object");
}

#[test]
fn local_refs_resolve() {
    let schema = json!({
        "$defs": { "Step": { "type": "string", "minLength": 1 } },
        "properties": { "steps": { "type": "array", "items": { "$ref": "#/$defs/Step" } } }
    });
    let schemas = FieldSchemas::from_schemas([(PageType::Plan, schema)]).unwrap();
    assert!(schemas.has_field(PageType::Plan, "steps"));
    assert!(!schemas.has_field(PageType::Plan, "goal"));
}
