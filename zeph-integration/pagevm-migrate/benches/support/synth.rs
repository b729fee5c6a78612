//! A synthetic Zeph database of any size, for the throughput benchmark: the real 0.21.4 schema
//! (the current-schema fixture, emptied) filled with rusqlite in Zeph's row format.
//!
//! Each conversation is a coding session of 500 messages in turns of four (a user request, an
//! assistant message with a `tool_use`, the user `tool_result` with a command output of a few
//! hundred bytes to a few KiB that names paths and errors, an assistant reply), one hard
//! compaction of its first 100 messages with the summary row Zeph inserts, and one `summaries`
//! row. Content is a function of the message index (a fixed LCG), so every run is the same.

use std::path::Path;

use rusqlite::{Connection, params};

/// Messages per conversation.
pub(crate) const PER_CONVERSATION: u64 = 500;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const FILES: &[&str] = &[
    "src/lib.rs",
    "src/main.rs",
    "src/parser/mod.rs",
    "src/parser/lexer.rs",
    "tests/parse.rs",
    "crates/core/src/page.rs",
    "Cargo.toml",
    "README.md",
    "src/store/sqlite.rs",
    "benches/ingest.rs",
];
const IDENTS: &[&str] = &[
    "parse_args",
    "TokenCount",
    "build_index",
    "PageTable",
    "commit_boundary",
    "Lexer::next_token",
    "from_spec",
    "E0308",
    "E0425",
    "validate_schema",
];
const TOOLS: &[&str] = &["bash", "read_file", "grep", "edit_file", "cargo_test"];

fn output(rng: &mut Lcg) -> String {
    let lines = 4 + rng.next() % 40;
    let mut s = String::new();
    for _ in 0..lines {
        let f = rng.pick(FILES);
        let id = rng.pick(IDENTS);
        match rng.next() % 5 {
            0 => s.push_str(&format!(
                "error[{}]: mismatched types in `{id}`\n --> {f}:{}:{}\n",
                rng.pick(&["E0308", "E0425"]),
                rng.next() % 400,
                rng.next() % 80
            )),
            1 => s.push_str(&format!("warning: unused variable `{id}` in {f}\n")),
            2 => s.push_str(&format!("test {id}::case_{} ... ok\n", rng.next() % 100)),
            3 => s.push_str(&format!(
                "{f}:{}: let value = {id}(input, &config)?;\n",
                rng.next() % 900
            )),
            _ => s.push_str(&format!(
                "   Compiling {} v0.{}.{} ({f})\n",
                id.to_lowercase(),
                rng.next() % 9,
                rng.next() % 20
            )),
        }
    }
    s
}

/// Creates `path` holding `messages` messages (a multiple of 500 is best), plus one hard-compaction
/// summary row per conversation, in the schema of `template` (a Zeph database whose rows are
/// dropped).
pub(crate) fn generate(template: &Path, path: &Path, messages: u64) {
    std::fs::copy(template, path).unwrap();
    let mut conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = DELETE; PRAGMA synchronous = OFF; PRAGMA foreign_keys = OFF; \
         DELETE FROM messages; DELETE FROM conversations; DELETE FROM summaries; DELETE FROM tool_overflow;",
    )
    .unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut conv = tx
            .prepare("INSERT INTO conversations DEFAULT VALUES")
            .unwrap();
        let mut msg = tx
            .prepare(
                "INSERT INTO messages (conversation_id, role, content, parts, visibility, compacted_at, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .unwrap();
        let mut summary = tx
            .prepare("INSERT INTO summaries (conversation_id, content, first_message_id, last_message_id, token_estimate) VALUES (?1, ?2, ?3, ?4, 40)")
            .unwrap();
        let mut rng = Lcg(0x5eed);
        let mut written = 0u64;
        while written < messages {
            conv.execute([]).unwrap();
            let cid = tx.last_insert_rowid();
            let mut first = 0i64;
            let n = PER_CONVERSATION.min(messages - written);
            let compact_until = n / 5;
            for k in 0..n {
                let hidden = k < compact_until;
                let (role, content, parts) = match k % 4 {
                    0 => {
                        let t = format!(
                            "Please fix `{}` in {} and run the tests again.",
                            rng.pick(IDENTS),
                            rng.pick(FILES)
                        );
                        (
                            "user",
                            t.clone(),
                            serde_json::json!([{"kind": "text", "text": t}]),
                        )
                    }
                    1 => {
                        let tool = rng.pick(TOOLS);
                        let t = format!(
                            "I will look at {} first; `{}` is the likely culprit.",
                            rng.pick(FILES),
                            rng.pick(IDENTS)
                        );
                        let input =
                            serde_json::json!({"command": format!("{tool} {}", rng.pick(FILES))});
                        let content = format!("{t}\n[tool_use: {tool}(call_{k})]");
                        (
                            "assistant",
                            content,
                            serde_json::json!([{"kind": "text", "text": t}, {"kind": "tool_use", "id": format!("call_{k}"), "name": tool, "input": input}]),
                        )
                    }
                    2 => {
                        let out = output(&mut rng);
                        let content = format!("[tool_result: call_{}]\n{out}", k - 1);
                        (
                            "user",
                            content,
                            serde_json::json!([{"kind": "tool_result", "tool_use_id": format!("call_{}", k - 1), "content": out, "is_error": rng.next().is_multiple_of(7)}]),
                        )
                    }
                    _ => {
                        let t = format!(
                            "The failure comes from {} at {}; I changed the call and the build passes.",
                            rng.pick(IDENTS),
                            rng.pick(FILES)
                        );
                        (
                            "assistant",
                            t.clone(),
                            serde_json::json!([{"kind": "text", "text": t}]),
                        )
                    }
                };
                let created = format!(
                    "2026-11-{:02} {:02}:{:02}:{:02}",
                    1 + cid % 28,
                    (k / 3600) % 24,
                    (k / 60) % 60,
                    k % 60
                );
                msg.execute(params![
                    cid,
                    role,
                    content,
                    parts.to_string(),
                    if hidden { "user_only" } else { "both" },
                    hidden.then_some("1795556370"),
                    created
                ])
                .unwrap();
                if k == 0 {
                    first = tx.last_insert_rowid();
                }
                written += 1;
                if k + 1 == compact_until {
                    // The summary row `replace_conversation` inserts.
                    msg.execute(params![
                        cid,
                        "system",
                        format!("[conversation summary — {compact_until} messages compacted]\nFixed parse_args in src/lib.rs."),
                        "[]",
                        "agent_only",
                        Option::<&str>::None,
                        created
                    ])
                    .unwrap();
                }
            }
            summary
                .execute(params![
                    cid,
                    "A coding session on the parser.",
                    first,
                    tx.last_insert_rowid()
                ])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    conn.execute_batch("VACUUM").unwrap();
}
