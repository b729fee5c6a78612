//! `specs/workload.schema.json` is generated from page-policy's types; this test fails when the
//! committed file is stale. `UPDATE_EXPECT=1 cargo test -p page-eval` rewrites it.

#[test]
fn committed_workload_schema_is_current() {
    let schema = page_eval::workload_schema_json().unwrap();
    expect_test::expect_file!["../../../../specs/workload.schema.json"].assert_eq(&schema);
}

#[test]
fn generated_workloads_round_trip_through_json() {
    for family in page_eval::Family::ALL {
        let w = page_eval::generate(family, family.seed()).unwrap();
        let text = serde_json::to_string(&w).unwrap();
        let back: page_policy::Workload = serde_json::from_str(&text).unwrap();
        assert_eq!(back, w);
    }
}

#[test]
fn generated_workloads_validate_against_the_published_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&page_eval::workload_schema_json().unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for family in page_eval::Family::ALL {
        let w = serde_json::to_value(page_eval::generate(family, family.seed()).unwrap()).unwrap();
        let errors: Vec<String> = validator.iter_errors(&w).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", family.code());
    }
}
