//! The quality classifier and the anchor coverage on a hand-made session, one row per
//! context: the same recorded request measured against contexts chosen by hand.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use page_core::{Repr, TokenCount, TypeTable};
use page_engine::{BuildConfig, RepresentationBuilder};
use page_import::{Event, Session};
use page_policy::{CacheMode, Pricing};
use page_tokenizer::{BpeCounter, Encoding};

use super::{ActionMeter, QualityReport};
use crate::{Directory, convert_with};

const FILE: &str = "fn parse_header(input: &str) -> Header {\n    let offset_bytes = compute_offset(input);\n    let header_len = read_length(offset_bytes);\n    validate_magic(input, header_len);\n    build_header(offset_bytes, header_len)\n}\n";

/// Reads `src/parser.rs`, is told to change it, and edits it quoting `old`.
fn session(old: &str) -> Session {
    let user = |text: &str| Event::User {
        id: None,
        text: text.to_owned(),
        at_ms: None,
    };
    let call = |id: &str, tool: &str, args: serde_json::Value| Event::ToolCall {
        call_id: id.to_owned(),
        tool: tool.to_owned(),
        args_json: args.to_string(),
        at_ms: None,
    };
    let result = |id: &str, output: &str| Event::ToolResult {
        call_id: id.to_owned(),
        output: output.to_owned(),
        is_error: false,
    };
    Session {
        id: "hand-made".to_owned(),
        events: vec![
            user("Fix the header parser"),
            call(
                "r",
                "Read",
                serde_json::json!({"file_path": "src/parser.rs"}),
            ),
            result("r", FILE),
            user("Now call validate_strict_mode first"),
            call(
                "e",
                "Edit",
                serde_json::json!({
                    "file_path": "src/parser.rs",
                    "old_string": old,
                    "new_string": "validate_strict_mode(input);",
                }),
            ),
            result("e", "ok"),
        ],
    }
}

/// Five lines of the file, all of them.
const ALL_FIVE: &str = "    let offset_bytes = compute_offset(input);\n    let header_len = read_length(offset_bytes);\n    validate_magic(input, header_len);\n    build_header(offset_bytes, header_len)\nfn parse_header(input: &str) -> Header {";
/// Three lines of the file and two the agent made up.
const THREE_OF_FIVE: &str = "    let offset_bytes = compute_offset(input);\n    let header_len = read_length(offset_bytes);\n    validate_magic(input, header_len);\n    check_version_field(input);\n    log_header_state(input);";

/// Name, old text, directory, levels by page id (others absent), then the expected hits,
/// page-ins, faults and pages read, and anchor coverage.
type Case = (
    &'static str,
    &'static str,
    Directory,
    &'static [(&'static str, Repr)],
    [u64; 4],
    f64,
);

#[test]
fn each_context_classifies_the_same_uses() {
    let builder = RepresentationBuilder::new(
        BpeCounter::new(Encoding::O200kBase).unwrap(),
        TypeTable::default(),
        BuildConfig::default(),
    )
    .unwrap();
    // (case, old text, directory, levels by page id (others absent), expected)
    // The edit uses the path and the seven identifiers the read introduced (the last row: five
    // of them), and the one the instruction introduced.
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("everything at full", ALL_FIVE, Directory::On,
            &[("e1", Repr::Full), ("c3", Repr::Full), ("dir-2", Repr::Pointer)], [9, 0, 0, 0], 1.0),
        ("the directory names what the read held, not the newer instruction", ALL_FIVE, Directory::On,
            &[("e1", Repr::Pointer), ("c3", Repr::Pointer), ("dir-2", Repr::Full)], [0, 8, 1, 1], 1.0),
        ("the directory at its pointer is read first", ALL_FIVE, Directory::On,
            &[("e1", Repr::Pointer), ("c3", Repr::Full), ("dir-2", Repr::Pointer)], [1, 8, 0, 2], 1.0),
        ("the read degraded, no directory", ALL_FIVE, Directory::Off,
            &[("e1", Repr::Pointer), ("c3", Repr::Full)], [1, 0, 8, 0], 0.0),
        ("nothing in context", ALL_FIVE, Directory::Off, &[], [0, 0, 9, 0], 0.0),
        ("three of five anchor lines came from the file", THREE_OF_FIVE, Directory::Off,
            &[("e1", Repr::Full), ("c3", Repr::Full)], [7, 0, 0, 0], 0.6),
    ];
    let mut failures = Vec::new();
    for (case, old, directory, levels, [hits, page_ins, faults, read], coverage) in cases {
        // A budget so small that every page compacts the context: each turn rebuilds the
        // directory from what came before it.
        let converted = convert_with(
            &session(old),
            "claude-code",
            &builder,
            TokenCount::new(8),
            *directory,
        )
        .unwrap();
        let edit = converted.actions.last().unwrap();
        if *old == ALL_FIVE {
            let used: Vec<&str> = edit
                .uses
                .iter()
                .map(|&m| converted.mentioned[m].text.as_str())
                .collect();
            assert_eq!(
                used,
                [
                    "src/parser.rs",
                    "build_header",
                    "compute_offset",
                    "header_len",
                    "offset_bytes",
                    "parse_header",
                    "read_length",
                    "validate_magic",
                    "validate_strict_mode"
                ],
                "{case}"
            );
        }
        let residency: Vec<Repr> = converted
            .workload
            .pages
            .iter()
            .map(|p| {
                levels
                    .iter()
                    .find(|(id, _)| p.id.as_str() == *id)
                    .map_or(Repr::None, |(_, l)| *l)
            })
            .collect();
        let turn = converted.requests[edit.request].turn;
        let mut meter = ActionMeter::new(
            &converted,
            u32::MAX,
            Pricing::ANTHROPIC_5M,
            CacheMode::Lcp,
            true,
        );
        // Earlier requests against an empty context, then the edit's against the case's.
        for t in 0..turn {
            meter.before_turn(t, &mut Fixed(vec![Repr::None; residency.len()]));
        }
        meter.before_turn(turn, &mut Fixed(residency));
        let (_, q, requests) = meter.finish();
        let want = QualityReport {
            hits: *hits,
            page_ins: *page_ins,
            faults: *faults,
            pages_read: *read,
            edit_anchors: 1,
            anchor_lines: 5,
            anchor_lines_present: (*coverage * 5.0).round() as u64,
            edit_anchor_coverage: *coverage,
            edit_refetches: u64::from(*coverage < page_engine::anchors::COVERAGE_FLOOR),
            directory: *directory == Directory::On,
        };
        if q != want {
            failures.push(format!("{case}: got {q:?}, want {want:?}"));
        }
        // The edit's request, then one more per page read.
        let last = requests.last().unwrap();
        if last.items.len() as u64 != levels.len() as u64 + read {
            failures.push(format!("{case}: the last request holds {:?}", last.items));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A context that holds each page at a fixed level and keeps no read.
struct Fixed(Vec<Repr>);

impl super::Pager for Fixed {
    fn prompt(&self) -> impl Iterator<Item = (usize, Repr)> {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, l)| **l != Repr::None)
            .map(|(p, &l)| (p, l))
    }

    fn page_in(&mut self, _page: usize) -> bool {
        false
    }
}
