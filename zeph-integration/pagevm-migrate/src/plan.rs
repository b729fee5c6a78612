//! What one Zeph conversation becomes: a list of page inputs ("units") in conversation order,
//! each with its provenance and, when Zeph compacted it, the compaction to record; plus the
//! diagnostics and counts. Pure: no store, no tokenizer.

use std::collections::{BTreeMap, BTreeSet};

use page_core::CompactionKind;
use page_import::parse_ms;

use crate::ids;
use crate::parts::{Parsed, Part, parse};
use crate::report::{Diagnostic, DiagnosticKind};
use crate::source::{Conversation, MessageRow, Visibility};

/// What a page is built from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// The system prompt: a bootstrap page.
    Bootstrap { text: String },
    /// Conversation text (a message, a summary).
    Conversation {
        role: String,
        text: String,
        first: i64,
        last: i64,
    },
    /// A tool call and its result, or a tool output.
    Evidence {
        tool: String,
        args_json: String,
        output: String,
        is_error: bool,
        /// `zeph:conversation/<c>/message/<m>/tool_use/<Zeph's id>`, for a native pair.
        call_id: Option<String>,
    },
}

/// A compaction Zeph applied to the page's messages.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Compacted {
    pub(crate) kind: CompactionKind,
    /// `zeph:<path> summary=<page id>`.
    pub(crate) reason: String,
    /// When, in milliseconds since the epoch.
    pub(crate) time_ms: i64,
    /// Which compaction of the conversation (its ordinal), so boundaries never mix two.
    pub(crate) group: usize,
}

/// One page to create.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Unit {
    /// The page id: a function of the Zeph ids only.
    pub(crate) id: String,
    pub(crate) body: Body,
    /// `zeph:conversation/<c>/…`: where the page came from.
    pub(crate) source: String,
    /// Creation time of the newest message it covers.
    pub(crate) time_ms: i64,
    pub(crate) compacted: Option<Compacted>,
}

/// Counts a plan contributes to the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) messages_read: u64,
    pub(crate) tool_groups: u64,
    pub(crate) orphaned_tool_parts: u64,
    pub(crate) corrupt_rows: u64,
    pub(crate) legacy_rows: u64,
    pub(crate) summaries: u64,
    pub(crate) archives: u64,
    pub(crate) skipped_deleted: u64,
    pub(crate) compactions: u64,
}

/// A conversation's plan.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    pub(crate) units: Vec<Unit>,
    pub(crate) counts: Counts,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

/// A reference from a message to a `tool_overflow` row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OverflowRef {
    uuid: String,
    tool: Option<String>,
}

const OVERFLOW_NOTICE: &str = "[full output stored \u{2014} ID: ";
const READ_OVERFLOW: &str = "read_overflow ";
const ARCHIVED: &str = "[archived:";

/// Zeph's three reference forms: the execution-time overflow notice, the pruning hint and the
/// Memex archive reference (`[archived:{uuid} — tool: X — N bytes]`).
fn overflow_refs(text: &str) -> Vec<OverflowRef> {
    let mut out = Vec::new();
    for marker in [OVERFLOW_NOTICE, READ_OVERFLOW, ARCHIVED] {
        let mut rest = text;
        while let Some(at) = rest.find(marker) {
            rest = &rest[at + marker.len()..];
            let uuid: String = rest
                .chars()
                .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
                .collect();
            if uuid.len() < 8 {
                continue;
            }
            let tool = (marker == ARCHIVED)
                .then(|| rest[uuid.len()..].strip_prefix(" \u{2014} tool: "))
                .flatten()
                .and_then(|t| t.split(" \u{2014} ").next())
                .map(str::to_owned)
                .filter(|t| !t.is_empty());
            out.push(OverflowRef { uuid, tool });
        }
    }
    out
}

/// Whether a row is a summary Zeph inserted: agent-only, and either a `system` row (hard
/// compaction, `replace_conversation`) or an `assistant` row with a `summary` part (Tier 0,
/// `apply_tool_pair_summaries`). Structural: role, visibility and parts, never the text.
fn summary_kind(row: &MessageRow, parts: &[Part]) -> Option<CompactionKind> {
    if row.visibility != Visibility::AgentOnly {
        return None;
    }
    match row.role.as_str() {
        "system" => Some(CompactionKind::Hard),
        "assistant" if parts.iter().any(|p| matches!(p, Part::Summary(_))) => {
            Some(CompactionKind::Soft)
        }
        _ => None,
    }
}

fn render_tool_use(name: &str, id: &str, input: &serde_json::Value) -> String {
    format!("[tool_use: {name}({id})] {input}")
}

/// Builds the plan of one conversation.
pub(crate) fn plan(conv: &Conversation) -> Plan {
    let c = conv.id;
    let mut plan = Plan::default();
    plan.counts.messages_read = conv.messages.len() as u64;
    let diag = |kind: DiagnosticKind, message: Option<i64>, detail: String| Diagnostic {
        conversation: c,
        message,
        kind,
        detail,
    };

    // Live rows and their parts.
    let mut rows: Vec<(&MessageRow, Vec<Part>)> = Vec::with_capacity(conv.messages.len());
    for row in &conv.messages {
        if row.deleted {
            plan.counts.skipped_deleted += 1;
            continue;
        }
        let parts = match row.parts.as_deref().map(parse) {
            None => Vec::new(),
            Some(Parsed::Current(p)) => p,
            Some(Parsed::Legacy(p)) => {
                plan.counts.legacy_rows += 1;
                p
            }
            Some(Parsed::Corrupt(why)) => {
                plan.counts.corrupt_rows += 1;
                plan.diagnostics.push(diag(
                    DiagnosticKind::CorruptParts,
                    Some(row.id),
                    format!("{why}; its content column is migrated as text"),
                ));
                Vec::new()
            }
        };
        rows.push((row, parts));
    }
    let created = |row: &MessageRow| parse_ms(&row.created_at).unwrap_or(0);

    // Compactions: rows Zeph hid (user-only) with the same `compacted_at` were hidden by one
    // transaction; the summary rows that transaction inserted come after all of them, so each
    // group takes the first unclaimed summary row after its newest message.
    let mut groups: BTreeMap<&str, (i64, i64)> = BTreeMap::new(); // compacted_at -> (min id, max id)
    for (row, _) in &rows {
        if let (Visibility::UserOnly, Some(at)) = (row.visibility, row.compacted_at.as_deref()) {
            let g = groups.entry(at).or_insert((row.id, row.id));
            g.0 = g.0.min(row.id);
            g.1 = g.1.max(row.id);
        }
    }
    let mut ordered: Vec<(&str, i64, i64)> =
        groups.iter().map(|(k, (lo, hi))| (*k, *lo, *hi)).collect();
    ordered.sort_by_key(|g| (g.1, g.2));
    let summaries: Vec<(i64, CompactionKind)> = rows
        .iter()
        .filter_map(|(r, p)| summary_kind(r, p).map(|k| (r.id, k)))
        .collect();
    let mut claimed = BTreeSet::new();
    let mut compaction_of: BTreeMap<&str, Compacted> = BTreeMap::new();
    for (n, (at, _, hi)) in ordered.iter().enumerate() {
        let linked = summaries
            .iter()
            .find(|(id, _)| *id > *hi && !claimed.contains(id))
            .copied();
        if let Some((id, _)) = linked {
            claimed.insert(id);
        }
        let (kind, path) = match linked.map(|l| l.1) {
            Some(CompactionKind::Soft) => (CompactionKind::Soft, "tool_pair_summary"),
            _ => (CompactionKind::Hard, "hard_compaction"),
        };
        let summary = linked.map_or_else(|| "none".to_owned(), |(id, _)| ids::message_page(c, id));
        let time_ms = at
            .trim()
            .parse::<i64>()
            .ok()
            .map_or(0, |s| s.saturating_mul(1000));
        compaction_of.insert(
            at,
            Compacted {
                kind,
                reason: format!("zeph:{path} summary={summary} compacted_at={at}"),
                time_ms,
                group: n + 1,
            },
        );
    }
    plan.counts.compactions = ordered.len() as u64;
    let compacted = |row: &MessageRow| match (row.visibility, row.compacted_at.as_deref()) {
        (Visibility::UserOnly, Some(at)) => compaction_of.get(at).cloned(),
        _ => None,
    };

    let overflow_ids: BTreeSet<&str> = conv.overflow.iter().map(|o| o.id.as_str()).collect();
    let overflow_body = |uuid: &str| {
        conv.overflow
            .iter()
            .find(|o| o.id == uuid)
            .map(|o| String::from_utf8_lossy(&o.content).into_owned())
    };
    let mut consumed_overflow: BTreeSet<String> = BTreeSet::new();
    let mut archive_tool: BTreeMap<String, String> = BTreeMap::new();
    // The full output of a tool result whose body points at an overflow row.
    let restore = |body: &str, consumed: &mut BTreeSet<String>| -> String {
        for r in overflow_refs(body) {
            if overflow_ids.contains(r.uuid.as_str())
                && !consumed.contains(&r.uuid)
                && let Some(full) = overflow_body(&r.uuid)
            {
                consumed.insert(r.uuid);
                return full;
            }
        }
        body.to_owned()
    };

    let first_system = rows
        .iter()
        .find(|(r, p)| r.role == "system" && summary_kind(r, p).is_none())
        .map(|(r, _)| r.id);
    let mut results_used: BTreeSet<(usize, usize)> = BTreeSet::new();

    for i in 0..rows.len() {
        let (row, parts) = (&rows[i].0, &rows[i].1);
        let mut text = String::new();
        let push = |text: &mut String, s: &str| {
            if !s.is_empty() {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(s);
            }
        };
        // The next message that is not a system message: where a tool use's results are.
        let next = rows[i + 1..]
            .iter()
            .position(|(r, _)| r.role != "system")
            .map(|k| i + 1 + k);
        let mut tool_k = 0usize;
        for (pi, part) in parts.iter().enumerate() {
            match part {
                Part::Text { text: t, .. } | Part::Summary(t) => push(&mut text, t),
                Part::Compaction(s) => push(&mut text, &format!("[server compaction]\n{s}")),
                Part::Image { mime, bytes } => {
                    push(&mut text, &format!("[image: {mime}, {bytes} bytes]"))
                }
                Part::Thinking => {}
                Part::ToolUse { id, name, input } => {
                    let matched = next.and_then(|j| {
                        rows[j].1.iter().enumerate().find_map(|(rk, p)| match p {
                            Part::ToolResult {
                                id: rid,
                                content,
                                is_error,
                            } if rid == id && !results_used.contains(&(j, rk)) => {
                                Some((j, rk, content, *is_error))
                            }
                            _ => None,
                        })
                    });
                    let Some((j, rk, content, is_error)) = matched else {
                        plan.counts.orphaned_tool_parts += 1;
                        plan.diagnostics.push(diag(
                            DiagnosticKind::OrphanedToolUse,
                            Some(row.id),
                            format!("tool_use {id} ({name}) has no tool_result in the next message; kept as text"),
                        ));
                        push(&mut text, &render_tool_use(name, id, input));
                        continue;
                    };
                    results_used.insert((j, rk));
                    let result_row = rows[j].0;
                    plan.counts.tool_groups += 1;
                    plan.units.push(Unit {
                        id: ids::tool_page(c, row.id, tool_k),
                        body: Body::Evidence {
                            tool: name.clone(),
                            args_json: input.to_string(),
                            output: restore(content, &mut consumed_overflow),
                            is_error,
                            // Qualified by conversation and message: some providers reuse
                            // call ids across batches (`call_0`), and this names the pair.
                            call_id: Some(format!(
                                "{}/tool_use/{id}",
                                ids::message_source(c, row.id)
                            )),
                        },
                        source: format!("{}+{}", ids::message_source(c, row.id), result_row.id),
                        time_ms: created(result_row),
                        compacted: compacted(row).or_else(|| compacted(result_row)),
                    });
                    tool_k += 1;
                }
                Part::ToolResult { id, content, .. } => {
                    if results_used.contains(&(i, pi)) {
                        continue;
                    }
                    plan.counts.orphaned_tool_parts += 1;
                    plan.diagnostics.push(diag(
                        DiagnosticKind::OrphanedToolResult,
                        Some(row.id),
                        format!(
                            "tool_result {id} has no tool_use in the previous message; kept as text"
                        ),
                    ));
                    push(&mut text, &format!("[tool_result: {id}]\n{content}"));
                }
                Part::ToolOutput { tool, body, .. } => {
                    plan.counts.tool_groups += 1;
                    plan.units.push(Unit {
                        id: ids::tool_page(c, row.id, tool_k),
                        body: Body::Evidence {
                            tool: tool.clone(),
                            args_json: String::new(),
                            output: restore(body, &mut consumed_overflow),
                            is_error: false,
                            call_id: None,
                        },
                        source: format!("{}/part/{pi}", ids::message_source(c, row.id)),
                        time_ms: created(row),
                        compacted: compacted(row),
                    });
                    tool_k += 1;
                }
            }
        }
        if parts.is_empty() {
            text.clone_from(&row.content);
        }
        let is_summary = summary_kind(row, parts).is_some();
        if is_summary {
            plan.counts.summaries += 1;
            for r in overflow_refs(&text) {
                if let Some(tool) = r.tool {
                    archive_tool.entry(r.uuid).or_insert(tool);
                }
            }
        }
        if text.trim().is_empty() {
            continue;
        }
        let body = if Some(row.id) == first_system {
            Body::Bootstrap { text }
        } else {
            Body::Conversation {
                role: row.role.clone(),
                text,
                first: row.id,
                last: row.id,
            }
        };
        plan.units.push(Unit {
            id: ids::message_page(c, row.id),
            body,
            source: ids::message_source(c, row.id),
            time_ms: created(row),
            compacted: compacted(row),
        });
    }

    for s in &conv.summaries {
        plan.counts.summaries += 1;
        if s.content.trim().is_empty() {
            continue;
        }
        let (first, last) = (s.first.unwrap_or(0), s.last.or(s.first).unwrap_or(0));
        plan.units.push(Unit {
            id: ids::summary_page(c, s.id),
            body: Body::Conversation {
                role: "summary".to_owned(),
                text: s.content.clone(),
                first,
                last,
            },
            source: format!("zeph:conversation/{c}/summary/{}", s.id),
            time_ms: parse_ms(&s.created_at).unwrap_or(0),
            compacted: None,
        });
    }

    for o in &conv.overflow {
        plan.counts.archives += 1;
        if consumed_overflow.contains(&o.id) {
            continue;
        }
        if std::str::from_utf8(&o.content).is_err() {
            plan.diagnostics.push(diag(
                DiagnosticKind::ArchiveNotUtf8,
                None,
                format!(
                    "tool_overflow {} is not UTF-8; migrated with replacement characters",
                    o.id
                ),
            ));
        }
        plan.units.push(Unit {
            id: ids::overflow_page(c, &o.id),
            body: Body::Evidence {
                tool: archive_tool
                    .get(&o.id)
                    .cloned()
                    .unwrap_or_else(|| "tool_overflow".to_owned()),
                args_json: String::new(),
                output: String::from_utf8_lossy(&o.content).into_owned(),
                is_error: false,
                call_id: None,
            },
            source: format!(
                "zeph:conversation/{c}/tool_overflow/{}/{}",
                o.archive_type, o.id
            ),
            time_ms: parse_ms(&o.created_at).unwrap_or(0),
            compacted: None,
        });
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes() {
        let cases = [
            ("1970-01-01 00:00:00", Some(0)),
            ("2026-11-24 21:28:05", Some(1_795_555_685_000)),
            ("2000-02-29T12:00:00.5Z", Some(951_825_600_500)),
            ("2026-13-01 00:00:00", None),
            ("yesterday", None),
            ("99999999999999-01-01 00:00:00", None),
            ("2026-01-01 00:00:inf", None),
            ("2026-01-01 00:00:-1", None),
            ("", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_ms(s), want, "{s}");
        }
    }

    #[test]
    fn references() {
        let text = "x\n[full output stored \u{2014} ID: 0a1b2c3d-1111-2222-3333-444455556666 \u{2014} 9 bytes, use read_overflow tool to retrieve]\n\
                    [archived:deadbeef-0000-1111-2222-333344445555 \u{2014} tool: disassemble \u{2014} 12 bytes]";
        let refs = overflow_refs(text);
        assert_eq!(refs.len(), 2, "{refs:?}");
        assert_eq!(refs[0].uuid, "0a1b2c3d-1111-2222-3333-444455556666");
        assert_eq!(refs[1].tool.as_deref(), Some("disassemble"));
        assert!(overflow_refs("read_overflow tool to retrieve").is_empty());
    }

    proptest::proptest! {
        #[test]
        fn datetime_parser_never_panics(s in ".{0,40}") {
            let _ = parse_ms(&s);
        }
    }
}
