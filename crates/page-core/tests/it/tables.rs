//! Data-driven check of the per-type table (the paper's Table 1) and of configured overrides.

use expect_test::{Expect, expect};
use page_core::{PageType, Repr, TypeTable, TypeTableConfig};

#[track_caller]
fn check_table(table: &TypeTable, expect: Expect) {
    let mut out = String::new();
    for t in PageType::ALL {
        let row = table.get(t);
        out.push_str(&format!(
            "{:<22} min={:<10} path={:<38} pin={:<4} scope={}\n",
            t.code(),
            row.min_fidelity().code(),
            row.path().to_string(),
            row.default_pin().code(),
            row.default_scope().code(),
        ));
    }
    expect.assert_eq(&out);
}

#[test]
fn defaults_are_table_1() {
    check_table(
        &TypeTable::default(),
        expect![[r#"
            bootstrap_policy       min=structured path=full→structured                        pin=hard scope=project
            constraint             min=structured path=full→structured                        pin=hard scope=session
            plan                   min=pointer    path=full→structured→pointer                pin=none scope=session
            preference             min=pointer    path=full→compressed→structured→pointer     pin=none scope=project
            evidence               min=pointer    path=full→compressed→structured→pointer     pin=none scope=session
            conversation_segment   min=pointer    path=full→compressed→structured→pointer     pin=none scope=session
        "#]],
    );
}

#[test]
fn overrides_replace_only_named_fields() {
    let config: TypeTableConfig = serde_json::from_str(
        r#"{"overrides": {
            "evidence": {"min_fidelity": "structured", "pin": "soft"},
            "plan": {"degradation_path": ["full", "compressed", "structured"], "min_fidelity": "structured"}
        }}"#,
    )
    .unwrap();
    check_table(
        &TypeTable::from_config(&config).unwrap(),
        expect![[r#"
            bootstrap_policy       min=structured path=full→structured                        pin=hard scope=project
            constraint             min=structured path=full→structured                        pin=hard scope=session
            plan                   min=structured path=full→compressed→structured             pin=none scope=session
            preference             min=pointer    path=full→compressed→structured→pointer     pin=none scope=project
            evidence               min=structured path=full→compressed→structured→pointer     pin=soft scope=session
            conversation_segment   min=pointer    path=full→compressed→structured→pointer     pin=none scope=session
        "#]],
    );
}

#[track_caller]
fn check_override_error(json: &str, expect: Expect) {
    let res = serde_json::from_str::<TypeTableConfig>(json)
        .map_err(|e| e.to_string())
        .and_then(|c| TypeTable::from_config(&c).map_err(|e| e.to_string()));
    expect.assert_eq(&format!("{:?}", res.map(|_| ())));
}

#[test]
fn invalid_overrides_name_the_field() {
    check_override_error(
        r#"{"overrides": {"constraint": {"min_fidelity": "pointer"}}}"#,
        expect![[
            r#"Err("min_fidelity pointer of constraint is not on its degradation path full→structured")"#
        ]],
    );
    check_override_error(
        r#"{"overrides": {"plan": {"degradation_path": ["structured", "pointer"]}}}"#,
        expect![[r#"Err("invalid degradation_path for plan: it must start at full")"#]],
    );
    check_override_error(
        r#"{"overrides": {"plan": {"degradation_path": ["full", "pointer", "structured"]}}}"#,
        expect![[
            r#"Err("invalid degradation_path for plan: levels must be strictly descending from full")"#
        ]],
    );
    check_override_error(
        r#"{"overrides": {"plan": {"degradation_path": ["full", "none"]}}}"#,
        expect![[r#"Err("invalid degradation_path for plan: none is not a representation")"#]],
    );
    check_override_error(
        r#"{"overrides": {"memo": {}}}"#,
        expect![[
            r#"Err("unknown variant `memo`, expected one of `bootstrap_policy`, `constraint`, `plan`, `preference`, `evidence`, `conversation_segment` at line 1 column 21")"#
        ]],
    );
    check_override_error(
        r#"{"overrides": {"plan": {"min_fidelty": "full"}}}"#,
        expect![[
            r#"Err("unknown field `min_fidelty`, expected one of `min_fidelity`, `degradation_path`, `pin`, `scope` at line 1 column 37")"#
        ]],
    );
}

#[test]
fn degrade_walks_down_to_the_minimum_and_stops() {
    let table = TypeTable::default();
    let mut out = String::new();
    for t in PageType::ALL {
        let row = table.get(t);
        let costs = row
            .path()
            .ascending()
            .map(|r| (r, page_core::TokenCount::new(r.index() as u32)))
            .collect();
        let levels = page_core::LevelCosts::new(t, row.path(), row.min_fidelity(), &costs).unwrap();
        let mut chain = vec![Repr::Full];
        while let Some(next) = levels.degrade(*chain.last().unwrap()) {
            chain.push(next);
        }
        let chain: Vec<&str> = chain.iter().map(|r| r.code()).collect();
        out.push_str(&format!("{}: {}\n", t.code(), chain.join(" > ")));
    }
    expect![[r#"
        bootstrap_policy: full > structured
        constraint: full > structured
        plan: full > structured > pointer
        preference: full > compressed > structured > pointer
        evidence: full > compressed > structured > pointer
        conversation_segment: full > compressed > structured > pointer
    "#]]
    .assert_eq(&out);
}
