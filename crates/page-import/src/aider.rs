//! aider chat histories: markdown, many sessions per file.
//!
//! `# aider chat started at <time>` opens a session; `#### ` lines are the user's input (a
//! leading `/cmd` is an aider command); `> ` lines are tool and system output; everything else
//! is the model's reply. A run of `> ` lines is one tool result: of the user's `/cmd` when one
//! precedes it, else of aider itself (`aider_output`), which applies edits, commits and lints.

use crate::time::parse_ms;
use crate::{Diagnostic, Event, Session};

#[derive(PartialEq)]
enum Block {
    None,
    User,
    Output,
    Reply,
}

pub(crate) fn read(text: &str, diags: &mut Vec<Diagnostic>) -> Vec<Session> {
    let mut sessions: Vec<Session> = Vec::new();
    let mut cur = Session {
        id: "preamble".to_owned(),
        events: Vec::new(),
    };
    let mut started_at: Option<i64> = None;
    let mut block = Block::None;
    let mut buf = String::new();
    let mut pending_call: Option<String> = None;
    let mut calls = 0usize;

    let flush = |block: &Block,
                 buf: &mut String,
                 cur: &mut Session,
                 pending: &mut Option<String>,
                 calls: &mut usize,
                 at: Option<i64>| {
        // Blank lines around a block are layout, not content.
        let text = buf.trim_end().trim_start_matches('\n').to_owned();
        buf.clear();
        if text.trim().is_empty() {
            return;
        }
        match block {
            Block::User => {
                let id = format!("{}#{}", cur.id, cur.events.len());
                if let Some(rest) = text.strip_prefix('/') {
                    let mut parts = rest.splitn(2, char::is_whitespace);
                    let cmd = parts.next().unwrap_or_default().to_owned();
                    let arg = parts.next().unwrap_or_default().trim().to_owned();
                    *calls += 1;
                    let call_id = format!("{}:call{}", cur.id, calls);
                    cur.events.push(Event::ToolCall {
                        call_id: call_id.clone(),
                        tool: format!("/{cmd}"),
                        args_json: serde_json::json!({ "args": arg }).to_string(),
                        at_ms: at,
                    });
                    *pending = Some(call_id);
                } else {
                    cur.events.push(Event::User {
                        id: Some(id),
                        text,
                        at_ms: at,
                    });
                }
            }
            Block::Output => {
                let call_id = match pending.take() {
                    Some(c) => c,
                    None => {
                        *calls += 1;
                        let c = format!("{}:call{}", cur.id, calls);
                        cur.events.push(Event::ToolCall {
                            call_id: c.clone(),
                            tool: "aider_output".to_owned(),
                            args_json: "{}".to_owned(),
                            at_ms: at,
                        });
                        c
                    }
                };
                let is_error = text.contains("Traceback") || text.contains("Unexpected error");
                cur.events.push(Event::ToolResult {
                    call_id,
                    output: text,
                    is_error,
                });
            }
            Block::Reply => {
                let id = format!("{}#{}", cur.id, cur.events.len());
                cur.events.push(Event::Assistant {
                    id: Some(id),
                    text,
                    at_ms: at,
                });
            }
            Block::None => {}
        }
    };

    for line in text.lines() {
        if let Some(ts) = line.strip_prefix("# aider chat started at ") {
            flush(
                &block,
                &mut buf,
                &mut cur,
                &mut pending_call,
                &mut calls,
                started_at,
            );
            block = Block::None;
            sessions.push(std::mem::replace(
                &mut cur,
                Session {
                    id: format!("session-{}", sessions.len() + 1),
                    events: Vec::new(),
                },
            ));
            started_at = parse_ms(ts.trim());
            pending_call = None;
            calls = 0;
            continue;
        }
        // aider pads its markdown lines with two trailing spaces (hard line breaks).
        let (kind, body) = if let Some(b) = line.strip_prefix("#### ") {
            (Block::User, b)
        } else if line == "####" {
            (Block::User, "")
        } else if let Some(b) = line
            .strip_prefix("> ")
            .or_else(|| (line == ">").then_some(""))
        {
            (Block::Output, b)
        } else {
            (Block::Reply, line)
        };
        if kind != block {
            flush(
                &block,
                &mut buf,
                &mut cur,
                &mut pending_call,
                &mut calls,
                started_at,
            );
            block = kind;
        }
        buf.push_str(body.trim_end());
        buf.push('\n');
    }
    flush(
        &block,
        &mut buf,
        &mut cur,
        &mut pending_call,
        &mut calls,
        started_at,
    );
    sessions.push(cur);
    if let Some(pre) = sessions
        .first()
        .filter(|s| s.id == "preamble" && !s.events.is_empty())
    {
        crate::diag(
            diags,
            "preamble",
            format!(
                "{} events before the first \"# aider chat started at\" header (kept as session \"preamble\")",
                pre.events.len()
            ),
        );
    }
    sessions
}
