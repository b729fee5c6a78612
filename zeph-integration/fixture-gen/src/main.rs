//! Builds real Zeph 0.21.4 SQLite databases from recorded agent traces, as fixtures for
//! `pagevm-migrate`.
//!
//! The current-schema database is created by Zeph's own `SqliteStore` (which runs all 96
//! embedded migrations) and filled only through its store API: `save_message_with_parts`,
//! `apply_tool_pair_summaries` (deferred tool-pair summaries), `replace_conversation` (hard
//! compaction), `save_summary`, `save_archive`, `save_overflow` and `soft_delete_messages`.
//! The two older layouts (a database stopped at migration 072, before `visibility`
//! replaced the `agent_visible`/`user_visible` flags, and one stopped at migration 040, before
//! migration 045 rewrote the legacy externally tagged `parts` JSON) are created by the same
//! sqlx migrator over the same migration files, truncated; their rows are written with the
//! SQL the 0.21.4 store runs, translated to the older columns, since the 0.21.4 store API
//! itself needs the newer columns.
//!
//! Usage: `zeph-fixture-gen [OUT_DIR] [TRACES_DIR]` (defaults: `../fixtures` and
//! `../../tests/fixtures/traces`, relative to this crate). Rebuilt files differ in uuids and
//! timestamps (Zeph takes them from the clock), not in structure.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Executor as _, SqlitePool};
use zeph_llm::provider::{Message, MessagePart, Role};
use zeph_memory::store::SqliteStore;
use zeph_memory::types::{ConversationId, MessageId};

/// One message of a SWE-agent trajectory's `history`, reduced to what we replay.
struct TrajMsg {
    role: String,
    content: String,
    action: Option<String>,
    tool_call_ids: Vec<String>,
}

fn load_traj(path: &Path) -> Result<Vec<TrajMsg>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let doc: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let Some(history) = doc.get("history").and_then(Value::as_array) else {
        bail!("{}: no history array", path.display());
    };
    let mut out = Vec::new();
    for m in history {
        let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
        // `tool_call_ids` is stored as a Python list repr: "['call_x', 'call_y']".
        let ids = s("tool_call_ids")
            .map(|r| {
                r.trim_matches(|c| c == '[' || c == ']')
                    .split(',')
                    .map(|x| x.trim().trim_matches('\'').to_owned())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        out.push(TrajMsg {
            role: s("role").unwrap_or_default(),
            content: s("content").unwrap_or_default(),
            action: s("action")
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty()),
            tool_call_ids: ids,
        });
    }
    Ok(out)
}

fn tool_name(action: &str) -> String {
    action
        .split_whitespace()
        .next()
        .unwrap_or("bash")
        .to_owned()
}

/// How tool calls of a trace become Zeph messages.
#[derive(Clone, Copy, PartialEq)]
enum ToolStyle {
    /// Native tool calls: `ToolUse` on the assistant, `ToolResult` on the next user message.
    Native,
    /// The legacy text-tool path: the command in the assistant's text, the output as a
    /// `ToolOutput` part of the next user message.
    TextTool,
}

/// Converts a trajectory into Zeph messages, structurally (tool calls from `action`).
fn to_zeph(traj: &[TrajMsg], style: ToolStyle) -> Vec<Message> {
    let mut out = Vec::new();
    let mut pending: Option<(String, String)> = None; // (call id, tool name)
    for (i, m) in traj.iter().enumerate() {
        match m.role.as_str() {
            "system" => out.push(Message::from_parts(
                Role::System,
                vec![MessagePart::Text {
                    text: m.content.clone(),
                }],
            )),
            "assistant" => {
                let mut parts = vec![MessagePart::Text {
                    text: m.content.clone(),
                }];
                if let Some(action) = &m.action {
                    let id = traj
                        .get(i + 1)
                        .and_then(|n| n.tool_call_ids.first().cloned())
                        .unwrap_or_else(|| format!("call_{i}"));
                    if style == ToolStyle::Native {
                        parts.push(MessagePart::ToolUse {
                            id: id.clone(),
                            name: tool_name(action),
                            input: json!({ "command": action }),
                        });
                    }
                    pending = Some((id, tool_name(action)));
                }
                out.push(Message::from_parts(Role::Assistant, parts));
            }
            _ => {
                let part = match (pending.take(), style) {
                    (Some((id, _)), ToolStyle::Native) => MessagePart::ToolResult {
                        tool_use_id: id,
                        content: m.content.clone(),
                        is_error: false,
                    },
                    (Some((_, name)), ToolStyle::TextTool) => MessagePart::ToolOutput {
                        tool_name: name.as_str().into(),
                        body: m.content.clone(),
                        compacted_at: None,
                    },
                    (None, _) => MessagePart::Text {
                        text: m.content.clone(),
                    },
                };
                out.push(Message::from_parts(Role::User, vec![part]));
            }
        }
    }
    out
}

fn role_str(r: Role) -> &'static str {
    zeph_memory::store::role_str(r)
}

async fn save(store: &SqliteStore, cid: ConversationId, m: &Message) -> Result<MessageId> {
    let parts = serde_json::to_string(&m.parts)?;
    Ok(store
        .save_message_with_parts(cid, role_str(m.role), &m.content, &parts)
        .await?)
}

/// The current schema (all 0.21.4 migrations), filled through Zeph's store API only.
async fn current(out: &Path, traces: &Path) -> Result<()> {
    let path = out.join("zeph-0.21.4.db");
    remove_db(&path)?;
    let store = SqliteStore::new(path.to_str().context("non-UTF-8 path")?).await?;

    // Conversation 1: native tool pairs, deferred tool-pair summaries, a hard compaction,
    // a background summary, and a trailing tool call whose result never came (#2628).
    let simple = load_traj(&traces.join("swe-agent/function_calling_simple.traj"))?;
    let msgs = to_zeph(&simple, ToolStyle::Native);
    let c1 = store.create_conversation().await?;
    let mut ids = Vec::new();
    for m in &msgs {
        ids.push(save(&store, c1, m).await?);
    }
    // Messages 2/3 (find_file and its result) are the oldest pair: summarized by Tier 0.
    store
        .apply_tool_pair_summaries(
            c1,
            &[ids[2].0, ids[3].0],
            &["find_file located tests/missing_colon.py in the test repository".to_owned()],
        )
        .await?;
    // Hard compaction of messages 4..=7 (open + edit and their results), as
    // `AgentPersistence::after_compaction` does it, a turn later: Zeph stamps `compacted_at`
    // in whole seconds, and two compactions in the same second are indistinguishable.
    next_second().await;
    let summary = "[conversation summary — 4 messages compacted]\n\
        ## User Intent\nFix the SyntaxError in tests/missing_colon.py.\n\
        ## Files & Code\ntests/missing_colon.py: `def division(a: float, b: float) -> float` lacked a colon.\n\
        ## Current Work\nThe colon was added with edit; next step is running the script.";
    store
        .replace_conversation(c1, ids[4]..=ids[7], "system", summary)
        .await?;
    store
        .save_summary(
            c1,
            "The agent fixed a missing colon in tests/missing_colon.py and re-ran it.",
            Some(ids[1]),
            Some(ids[ids.len() - 1]),
            18,
        )
        .await?;
    save(
        &store,
        c1,
        &Message::from_parts(
            Role::Assistant,
            vec![
                MessagePart::Text {
                    text: "Let me run the tests once more.".to_owned(),
                },
                MessagePart::ToolUse {
                    id: "call_interrupted".to_owned(),
                    name: "bash".to_owned(),
                    input: json!({ "command": "python tests/missing_colon.py" }),
                },
            ],
        ),
    )
    .await?;

    // Conversation 2: the legacy text-tool path (ToolOutput parts), an execution-time
    // overflow, a Memex archive referenced by a hard-compaction summary, a corrupt parts
    // row, and an orphaned pair soft-deleted at restore (#2507).
    let warmup = load_traj(&traces.join("swe-agent/ctf__pwn__warmup.traj"))?;
    let mut msgs = to_zeph(&warmup, ToolStyle::TextTool);
    let c2 = store.create_conversation().await?;
    // The first tool output is large: it went to tool_overflow at execution time and the
    // message keeps a truncated body with Zeph's overflow notice.
    if let Some(m) = msgs.iter_mut().find(|m| {
        m.parts
            .iter()
            .any(|p| matches!(p, MessagePart::ToolOutput { .. }))
    }) {
        if let Some(MessagePart::ToolOutput { body, .. }) = m.parts.first_mut() {
            let full = body.clone();
            let uuid = store.save_overflow(c2.0, full.as_bytes()).await?;
            let keep = full.floor_char_boundary(400);
            *body = format!(
                "{}\n{}{uuid} \u{2014} {} bytes, use read_overflow tool to retrieve]",
                &full[..keep],
                zeph_common::OVERFLOW_NOTICE_PREFIX,
                full.len()
            );
            m.rebuild_content();
        }
    }
    let mut ids = Vec::new();
    for m in &msgs {
        ids.push(save(&store, c2, m).await?);
    }
    // Memex: the tool output of message 5 is archived at compaction; its ref goes after the
    // summary, and messages 4..=5 are hidden.
    let archived_body = msgs[5]
        .parts
        .iter()
        .find_map(|p| match p {
            MessagePart::ToolOutput { body, .. } => Some(body.clone()),
            _ => None,
        })
        .context("message 5 of the warmup trace has no tool output")?;
    next_second().await;
    let uuid = store.save_archive(c2.0, archived_body.as_bytes()).await?;
    let summary = format!(
        "[conversation summary — 2 messages compacted]\n\
         ## Technical Concepts\nFUN_0040060d prints the flag via system(\"cat flag.txt\").\n\
         [archived:{uuid} \u{2014} tool: disassemble \u{2014} {} bytes]",
        archived_body.len()
    );
    store
        .replace_conversation(c2, ids[4]..=ids[5], "system", &summary)
        .await?;
    // A row whose parts JSON was cut off mid-write (#3168 class): Zeph loads it as `[]`.
    store
        .save_message_with_parts(
            c2,
            "user",
            "[tool output: bash]\n```\nflag{fake_flag}\n```",
            r#"[{"kind":"tool_output","tool_name":"bash","body":"flag{fake_fl"#,
        )
        .await?;
    // An interrupted call and a stray result, found orphaned at restore and soft-deleted.
    let orphan_use = save(
        &store,
        c2,
        &Message::from_parts(
            Role::Assistant,
            vec![MessagePart::ToolUse {
                id: "call_lost".to_owned(),
                name: "bash".to_owned(),
                input: json!({ "command": "nc pwn.chal.csaw.io 8000" }),
            }],
        ),
    )
    .await?;
    let orphan_result = save(
        &store,
        c2,
        &Message::from_parts(
            Role::User,
            vec![MessagePart::ToolResult {
                tool_use_id: "call_stale".to_owned(),
                content: "Connection refused".to_owned(),
                is_error: true,
            }],
        ),
    )
    .await?;
    store
        .soft_delete_messages(&[orphan_use, orphan_result])
        .await?;
    save(
        &store,
        c2,
        &Message::from_parts(
            Role::User,
            vec![MessagePart::Text {
                text: "Thanks, that solves it.".to_owned(),
            }],
        ),
    )
    .await?;
    store.pool().close().await;
    drop(store);
    finish(&path).await
}

/// Zeph's migrator over the migration files of the zeph-db 0.21.4 crate in use, cut at
/// `last` (inclusive).
async fn migrator_until(last: i64) -> Result<Migrator> {
    let dir = zeph_db_migrations_dir()?;
    let mut m = Migrator::new(dir.as_path()).await?;
    let kept: Vec<_> = m
        .migrations
        .iter()
        .filter(|x| x.version <= last)
        .cloned()
        .collect();
    if kept.len() != usize::try_from(last)? {
        bail!(
            "expected {last} migrations up to {last}, found {}",
            kept.len()
        );
    }
    m.migrations = Cow::Owned(kept);
    Ok(m)
}

/// `migrations/sqlite` of the zeph-db package this project resolved (from `cargo metadata`).
fn zeph_db_migrations_dir() -> Result<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(&manifest)
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: Value = serde_json::from_slice(&out.stdout)?;
    let pkg = meta["packages"]
        .as_array()
        .and_then(|ps| {
            ps.iter()
                .find(|p| p["name"] == "zeph-db" && p["version"] == "0.21.4")
        })
        .context("zeph-db 0.21.4 not in cargo metadata")?;
    let manifest_path = pkg["manifest_path"].as_str().context("no manifest_path")?;
    Ok(Path::new(manifest_path)
        .parent()
        .context("manifest has no parent")?
        .join("migrations/sqlite"))
}

async fn open_pool(path: &Path) -> Result<SqlitePool> {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .foreign_keys(true)
        .journal_mode(SqliteJournalMode::Wal);
    Ok(SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await?)
}

/// The externally tagged (pre-v0.17.1) JSON of parts: `[{"ToolUse":{...}}]`.
fn legacy_parts_json(parts: &[MessagePart]) -> Result<String> {
    let current = serde_json::to_value(parts)?;
    let mut out = Vec::new();
    for p in current.as_array().context("parts are not an array")? {
        let mut obj = p.as_object().context("part is not an object")?.clone();
        let kind = obj
            .remove("kind")
            .and_then(|k| k.as_str().map(str::to_owned))
            .context("no kind")?;
        let key: String = kind
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect();
        out.push(json!({ key: Value::Object(obj) }));
    }
    Ok(serde_json::to_string(&out)?)
}

/// A database stopped at migration `last`, with the flag columns of 014 and the `parts`
/// format of the time: one conversation with tool pairs and a hard compaction.
async fn older(out: &Path, traces: &Path, last: i64, legacy_parts: bool) -> Result<()> {
    let path = out.join(format!("zeph-m{last:03}.db"));
    remove_db(&path)?;
    let pool = open_pool(&path).await?;
    migrator_until(last).await?.run(&pool).await?;
    let simple = load_traj(&traces.join("swe-agent/function_calling_simple.traj"))?;
    let msgs = to_zeph(&simple, ToolStyle::Native);
    let (cid,): (i64,) = sqlx::query_as("INSERT INTO conversations DEFAULT VALUES RETURNING id")
        .fetch_one(&pool)
        .await?;
    let mut ids = Vec::new();
    for m in &msgs {
        let parts = if legacy_parts {
            legacy_parts_json(&m.parts)?
        } else {
            serde_json::to_string(&m.parts)?
        };
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO messages (conversation_id, role, content, parts, agent_visible, user_visible) \
             VALUES (?, ?, ?, ?, 1, 1) RETURNING id",
        )
        .bind(cid)
        .bind(role_str(m.role))
        .bind(&m.content)
        .bind(&parts)
        .fetch_one(&pool)
        .await?;
        ids.push(id);
    }
    // `replace_conversation` of that time: hide the range from the agent, insert the summary
    // visible to the agent only.
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE messages SET agent_visible = 0, user_visible = 1, compacted_at = CAST(strftime('%s','now') AS TEXT) \
         WHERE conversation_id = ? AND id >= ? AND id <= ?",
    )
    .bind(cid)
    .bind(ids[2])
    .bind(ids[5])
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO messages (conversation_id, role, content, parts, agent_visible, user_visible) \
         VALUES (?, 'system', ?, '[]', 1, 0)",
    )
    .bind(cid)
    .bind("[conversation summary — 4 messages compacted]\nfind_file found tests/missing_colon.py; open showed `def division(a: float, b: float) -> float` without a colon.")
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    pool.close().await;
    finish(&path).await
}

/// Waits until the wall clock has moved to the next second.
async fn next_second() {
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
}

fn remove_db(path: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("removing {}", Path::new(&p).display()));
            }
        }
    }
    Ok(())
}

/// Folds the WAL into the file and leaves a single, compact file (rollback journal mode), so
/// the committed fixture is self-contained.
async fn finish(path: &Path) -> Result<()> {
    let pool = open_pool(path).await?;
    pool.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
    pool.execute("PRAGMA journal_mode=DELETE").await?;
    // Zeph's ~280 tables and indexes take one page each even when empty: 1 KiB pages keep
    // the fixture well under 1 MB. Only the physical layout changes.
    pool.execute("PRAGMA page_size=1024").await?;
    pool.execute("VACUUM").await?;
    pool.close().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))?;
    }
    let len = std::fs::metadata(path)?.len();
    println!("{} ({len} bytes)", path.display());
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args_os().skip(1);
    let out = args
        .next()
        .map_or_else(|| here.join("../fixtures"), PathBuf::from);
    let traces = args
        .next()
        .map_or_else(|| here.join("../../tests/fixtures/traces"), PathBuf::from);
    std::fs::create_dir_all(&out)?;
    current(&out, &traces).await?;
    older(&out, &traces, 72, false).await?;
    older(&out, &traces, 40, true).await?;
    Ok(())
}
