//! Evidence pages: golden renders of a failing build and a long test log, and the reuse of a
//! level above when a lower one would cost more.

use super::*;

const CARGO_OUTPUT: &str = "   Compiling page-core v0.0.0 (/work/main/crates/page-core)
error[E0308]: mismatched types
  --> crates/page-core/src/levels.rs:42:17
   |
42 |         let x: u32 = \"no\";
   |                ---   ^^^^ expected `u32`, found `&str`
   |                |
   |                expected due to this

For more information about this error, try `rustc --explain E0308`.
error: could not compile `page-core` (lib) due to 1 previous error
";

#[test]
fn evidence_from_a_failing_build() {
    let built = BUILDER.evidence(
        &id("ev-1"),
        &ToolResult {
            tool: "bash",
            args_json: r#"{"command": "cargo build -p page-core", "timeout": 600}"#,
            output: CARGO_OUTPUT,
            is_error: true,
            exit_code: Some(101),
        },
    );
    expect![[r#"bash({"command":"cargo build -p page-core","timeout":600})"#]]
        .assert_eq(built.signature.as_str());
    check(
        PageType::Evidence,
        built.representations,
        expect![[r#"
            --- full (123 tokens)
               Compiling page-core v0.0.0 (/work/main/crates/page-core)
            error[E0308]: mismatched types
              --> crates/page-core/src/levels.rs:42:17
               |
            42 |         let x: u32 = "no";
               |                ---   ^^^^ expected `u32`, found `&str`
               |                |
               |                expected due to this

            For more information about this error, try `rustc --explain E0308`.
            error: could not compile `page-core` (lib) due to 1 previous error
            --- compressed (123 tokens)
               Compiling page-core v0.0.0 (/work/main/crates/page-core)
            error[E0308]: mismatched types
              --> crates/page-core/src/levels.rs:42:17
               |
            42 |         let x: u32 = "no";
               |                ---   ^^^^ expected `u32`, found `&str`
               |                |
               |                expected due to this

            For more information about this error, try `rustc --explain E0308`.
            error: could not compile `page-core` (lib) due to 1 previous error
            --- structured (123 tokens)
               Compiling page-core v0.0.0 (/work/main/crates/page-core)
            error[E0308]: mismatched types
              --> crates/page-core/src/levels.rs:42:17
               |
            42 |         let x: u32 = "no";
               |                ---   ^^^^ expected `u32`, found `&str`
               |                |
               |                expected due to this

            For more information about this error, try `rustc --explain E0308`.
            error: could not compile `page-core` (lib) due to 1 previous error
            --- pointer (36 tokens)
            [page ev-1 · bash · status: error (exit 101) · 4b05f75b31b2 · 430 bytes, 11 lines]
        "#]],
    );
}

fn long_test_log() -> String {
    let mut log = String::from(
        "   Compiling page-policy v0.0.0 (/repo/crates/page-policy)\n    Finished `test` profile [unoptimized + debuginfo] target(s) in 3.21s\n     Running tests/it/main.rs (target/debug/deps/it-0f3c)\n\nrunning 40 tests\n",
    );
    for i in 0..40 {
        let verdict = if i == 17 || i == 31 { "FAILED" } else { "ok" };
        log.push_str(&format!("test select::case_{i:02} ... {verdict}\n"));
    }
    log.push_str("\nfailures:\n\n---- select::case_17 stdout ----\nthread 'select::case_17' panicked at crates/page-policy/src/select.rs:214:9:\nassertion `left == right` failed\n  left: 180\n right: 176\n\nfailures:\n    select::case_17\n    select::case_31\n\ntest result: FAILED. 38 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.02s\n\nerror: test failed, to rerun pass `-p page-policy --test it`\n");
    log
}

#[test]
fn evidence_from_a_long_test_log() {
    let log = long_test_log();
    let built = BUILDER.evidence(
        &id("ev-3"),
        &ToolResult {
            tool: "bash",
            args_json: r#"{"command": "cargo test -p page-policy"}"#,
            output: &log,
            is_error: true,
            exit_code: Some(101),
        },
    );
    let mut reprs = built.representations;
    reprs.remove(&Repr::Full);
    let full_tokens = BUILDER.counter().count(&log);
    expect!["full: 1728 bytes, 550 tokens"]
        .assert_eq(&format!("full: {} bytes, {full_tokens} tokens", log.len()));
    expect![[r#"
        --- compressed (280 tokens)
        tool: bash
        call: ({"command":"cargo test -p page-policy"})
        status: error (exit 101)
        size: 1728 bytes, 61 lines
        paths: /repo/crates/page-policy, tests/it/main.rs, target/debug/deps/it-0f3c, crates/page-policy/src/select.rs
        identifiers: select::case_17, select::case_31, select::case_00, select::case_01, select::case_02, select::case_03, select::case_04, select::case_05 (+35 more)
        error: test select::case_17 ... FAILED
        error: test select::case_31 ... FAILED
        error: thread 'select::case_17' panicked at crates/page-policy/src/select.rs:214:9:
        error: assertion `left == right` failed
        error: test result: FAILED. 38 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.02s
        head:    Compiling page-policy v0.0.0 (/repo/crates/page-policy)
        head:     Finished `test` profile [unoptimized + debuginfo] target(s) in 3.21s
        tail:     select::case_17
        tail:     select::case_31
        --- structured (280 tokens)
        tool: bash
        call: ({"command":"cargo test -p page-policy"})
        status: error (exit 101)
        size: 1728 bytes, 61 lines
        paths: /repo/crates/page-policy, tests/it/main.rs, target/debug/deps/it-0f3c, crates/page-policy/src/select.rs
        identifiers: select::case_17, select::case_31, select::case_00, select::case_01, select::case_02, select::case_03, select::case_04, select::case_05 (+35 more)
        error: test select::case_17 ... FAILED
        error: test select::case_31 ... FAILED
        error: thread 'select::case_17' panicked at crates/page-policy/src/select.rs:214:9:
        error: assertion `left == right` failed
        error: test result: FAILED. 38 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.02s
        head:    Compiling page-policy v0.0.0 (/repo/crates/page-policy)
        head:     Finished `test` profile [unoptimized + debuginfo] target(s) in 3.21s
        tail:     select::case_17
        tail:     select::case_31
        --- pointer (35 tokens)
        [page ev-3 · bash · status: error (exit 101) · 8929711c11f0 · 1728 bytes, 61 lines]
    "#]].assert_eq(&render(&reprs));
}

#[test]
fn evidence_too_small_to_compress_reuses_the_level_above() {
    let built = BUILDER.evidence(
        &id("ev-2"),
        &ToolResult {
            tool: "read_file",
            args_json: r#"{"path": "VERSION"}"#,
            output: "0.4.1\n",
            is_error: false,
            exit_code: None,
        },
    );
    check(
        PageType::Evidence,
        built.representations,
        expect![[r#"
        --- full (6 tokens)
        0.4.1
        --- compressed (6 tokens)
        0.4.1
        --- structured (6 tokens)
        0.4.1
        --- pointer (6 tokens)
        0.4.1
    "#]],
    );
}
