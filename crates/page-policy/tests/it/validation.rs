//! Workload validation: each rejection names the page or the turn and field.

use expect_test::{Expect, expect};
use page_policy::{WORKLOAD_SCHEMA_VERSION, Workload};

use crate::fixture::parse;

#[track_caller]
fn check(workload: &Workload, expected: Expect) {
    let msg = match workload.validate() {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.to_string(),
    };
    expected.assert_eq(&msg);
}

const PAGES: &str = "
    page boot bootstrap_policy full=40 structured=10
    page e1 evidence full=60 compressed=30 structured=12 pointer=3
";

#[test]
fn accepts_a_valid_workload() {
    check(
        &parse("w", &format!("{PAGES}\ndemand boot\n")),
        expect!["ok"],
    );
}

#[test]
fn rejects_another_schema_version() {
    let mut w = parse("w", PAGES);
    w.schema_version = WORKLOAD_SCHEMA_VERSION + 1;
    check(
        &w,
        expect!["unsupported workload schema_version 2 (this build reads 1)"],
    );
}

#[test]
fn rejects_unknown_page_in_a_demand() {
    check(
        &parse("w", &format!("{PAGES}\nturn\ndemand boot\ndemand nope\n")),
        expect!["turns[1].demands[1].page: unknown page nope"],
    );
}

#[test]
fn rejects_costs_off_the_path() {
    check(
        &parse(
            "w",
            "page boot bootstrap_policy full=40 structured=10 pointer=2",
        ),
        expect![
            "pages[0] (boot): representations.pointer given, but pointer is not on the degradation path full→structured"
        ],
    );
}

#[test]
fn rejects_decreasing_costs() {
    check(
        &parse(
            "w",
            "page e evidence full=10 compressed=30 structured=12 pointer=3",
        ),
        expect![
            "pages[0] (e): representations.compressed.tokens (30) exceeds representations.full.tokens (10): costs must not decrease toward full"
        ],
    );
}

#[test]
fn rejects_a_tool_result_demanded_before_its_call() {
    check(
        &parse(
            "w",
            &format!("{PAGES}\ndemand e1\nturn\ncall e1 read{{\"p\":1}}\n"),
        ),
        expect![
            "turns[0].demands[0].page: page e1 is a tool result that no tool call has produced yet"
        ],
    );
}

#[test]
fn rejects_a_page_of_an_inactive_session() {
    check(
        &parse(
            "w",
            "page p plan full=9 structured=5 pointer=1 session=s1\nevent session_start s2\nupdate p",
        ),
        expect!["turns[0].updates[0]: page p belongs to a session that is not active at this turn"],
    );
}

#[test]
fn rejects_a_demand_for_none() {
    check(
        &parse("w", &format!("{PAGES}\ndemand boot none\n")),
        expect!["turns[0].demands[0].required_repr: a demand cannot ask for none"],
    );
}

#[test]
fn rejects_non_finite_numbers() {
    let mut w = parse("w", PAGES);
    w.pages[1].base_utility = f64::NAN;
    check(
        &w,
        expect!["pages[1] (e1).base_utility must be finite, got NaN"],
    );
}

#[test]
fn rejects_duplicate_pages() {
    check(
        &parse(
            "w",
            &format!("{PAGES}\npage e1 plan full=3 structured=2 pointer=1"),
        ),
        expect!["pages[2]: page id e1 appears twice"],
    );
}

/// `exists` bounds where a page may be named, and the engine never selects it outside.
#[test]
fn a_page_exists_only_from_its_creation_until_its_retirement() {
    use page_core::{Repr, TokenCount};
    use page_policy::{Existence, PolicyConfig, PolicyEngine, PolicyId};

    let with_e1 = |created: u32, retired: Option<u32>, text: &str| {
        let mut w = parse("w", &format!("{PAGES}\n{text}"));
        w.pages[1].exists = Some(Existence { created, retired });
        w
    };
    check(
        &with_e1(2, Some(2), "demand boot\n"),
        expect!["pages[1] (e1): exists.retired must come after exists.created"],
    );
    check(
        &with_e1(1, None, "demand e1\n"),
        expect!["turns[0].demands[0].page: page e1 is not created yet at this turn"],
    );
    check(
        &with_e1(0, Some(1), "demand boot\nturn\ndemand e1\n"),
        expect!["turns[1].demands[0].page: page e1 is retired before this turn"],
    );
    // Created at turn 1, retired at turn 3: resident at most at turns 1 and 2, though a budget
    // of 1,000 tokens holds everything at every turn.
    let w = with_e1(1, Some(3), "demand boot\nturn\nturn\nturn\n")
        .validate()
        .unwrap();
    let mut engine = PolicyEngine::new(
        &w,
        &PolicyConfig::preset(PolicyId::Clawvm),
        TokenCount::new(1_000),
    );
    let mut resident = Vec::new();
    while engine.step().is_some() {
        resident.push(engine.residency()[1] != Repr::None);
    }
    assert_eq!(resident, [false, true, true, false]);
}
