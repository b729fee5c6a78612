//! aider chat histories: markdown, many sessions per file.
//!
//! `# aider chat started at <time>` opens a session; `#### ` lines are the user's input (a
//! leading `/cmd` is an aider command); `> ` lines are tool and system output; everything else
//! is the model's reply. A run of `> ` lines is one tool result: of the user's `/cmd` when one
//! precedes it, else of aider itself (`aider_output`), which applies edits, commits and lints.

use crate::time::parse_ms;
use crate::{Diagnostic, Event, Session, diag};

#[derive(Clone, Copy, PartialEq)]
enum Block {
    None,
    User,
    Output,
    Reply,
}

/// The reader's state: the session being built and the block of lines being collected.
struct Reader {
    sessions: Vec<Session>,
    cur: Session,
    started_at: Option<i64>,
    block: Block,
    buf: String,
    // The call whose output the next `> ` block is (a user `/cmd`).
    pending_call: Option<String>,
    calls: usize,
}

pub(crate) fn read(text: &str, diags: &mut Vec<Diagnostic>) -> Vec<Session> {
    let mut r = Reader {
        sessions: Vec::new(),
        cur: Session {
            id: "preamble".to_owned(),
            events: Vec::new(),
        },
        started_at: None,
        block: Block::None,
        buf: String::new(),
        pending_call: None,
        calls: 0,
    };
    for line in text.lines() {
        if let Some(ts) = line.strip_prefix("# aider chat started at ") {
            r.start_session(parse_ms(ts.trim()));
            continue;
        }
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
        if kind != r.block {
            r.flush();
            r.block = kind;
        }
        // aider pads its markdown lines with two trailing spaces (hard line breaks).
        r.buf.push_str(body.trim_end());
        r.buf.push('\n');
    }
    r.flush();
    r.sessions.push(r.cur);
    if let Some(pre) = r
        .sessions
        .first()
        .filter(|s| s.id == "preamble" && !s.events.is_empty())
    {
        diag(
            diags,
            "preamble",
            format!(
                "{} events before the first \"# aider chat started at\" header (kept as session \"preamble\")",
                pre.events.len()
            ),
        );
    }
    r.sessions
}

impl Reader {
    fn start_session(&mut self, at: Option<i64>) {
        self.flush();
        self.block = Block::None;
        let next = Session {
            id: format!("session-{}", self.sessions.len() + 1),
            events: Vec::new(),
        };
        self.sessions.push(std::mem::replace(&mut self.cur, next));
        self.started_at = at;
        self.pending_call = None;
        self.calls = 0;
    }

    fn call(&mut self, tool: String, args_json: String) -> String {
        self.calls += 1;
        let call_id = format!("{}:call{}", self.cur.id, self.calls);
        self.cur.events.push(Event::ToolCall {
            call_id: call_id.clone(),
            tool,
            args_json,
            at_ms: self.started_at,
        });
        call_id
    }

    /// Turns the collected block into an event.
    fn flush(&mut self) {
        // Blank lines around a block are layout, not content.
        let text = self.buf.trim_end().trim_start_matches('\n').to_owned();
        self.buf.clear();
        if text.trim().is_empty() {
            return;
        }
        let id = Some(format!("{}#{}", self.cur.id, self.cur.events.len()));
        let at_ms = self.started_at;
        match self.block {
            Block::User => match text.strip_prefix('/') {
                Some(rest) => {
                    let (cmd, arg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                    let args = serde_json::json!({ "args": arg.trim() }).to_string();
                    self.pending_call = Some(self.call(format!("/{cmd}"), args));
                }
                None => self.cur.events.push(Event::User { id, text, at_ms }),
            },
            Block::Output => {
                let call_id = match self.pending_call.take() {
                    Some(c) => c,
                    None => self.call("aider_output".to_owned(), "{}".to_owned()),
                };
                let is_error = text.contains("Traceback") || text.contains("Unexpected error");
                self.cur.events.push(Event::ToolResult {
                    call_id,
                    output: text,
                    is_error,
                });
            }
            Block::Reply => self.cur.events.push(Event::Assistant { id, text, at_ms }),
            Block::None => {}
        }
    }
}
