//! The JSON Schemas of page-core's travelling types, committed under specs/schemas/ and kept
//! in sync by this test (`UPDATE_EXPECT=1` rewrites them).

use expect_test::expect_file;
use page_core::{Boundary, FaultKind, Page, RecallOutcome, TypeTableConfig, canonical_json};
use schemars::{JsonSchema, schema_for};

fn check<T: JsonSchema>(file: &str) {
    let schema = canonical_json(schema_for!(T).to_value());
    let mut text = serde_json::to_string_pretty(&schema).unwrap();
    text.push('\n');
    expect_file![format!("../../../../specs/schemas/{file}")].assert_eq(&text);
}

#[test]
fn page_schema() {
    check::<Page>("page.schema.json");
}

#[test]
fn type_table_config_schema() {
    check::<TypeTableConfig>("type-table-config.schema.json");
}

#[test]
fn lifecycle_schemas() {
    check::<FaultKind>("fault-kind.schema.json");
    check::<Boundary>("boundary.schema.json");
    check::<RecallOutcome>("recall-outcome.schema.json");
}
