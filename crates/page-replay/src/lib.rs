//! Real-session replay: an imported agent session ([`page_import::Session`]) becomes a
//! [`page_policy::Workload`] whose pages carry the exact token costs of their real
//! representations, so every policy can be replayed on what agents actually did.
//!
//! The conversion, in order of the session's events:
//!
//! - a system message becomes a bootstrap page (rules kept verbatim in its structured form);
//! - the first user message is the task statement and becomes the plan page (goal = its first
//!   line, steps = its lines);
//! - every other user or assistant message becomes a conversation page;
//! - a tool call and its result become one evidence page (soft-pinned, base utility 5,
//!   recompute cost 8 for reads and commands, 12 for edits, 6 for other tools: the artifact's
//!   transcript converter); a later call with the same canonical signature is not a new page
//!   but a repeated call of the first one, which the observer counts as a duplicate or an alert;
//! - each page's creation is one turn that demands it at `full`; a later page that mentions a
//!   file path, identifier or command an earlier page contained demands that earlier page (at
//!   its minimum fidelity: it must at least be resolvable);
//! - a hard compaction is inserted before the turn at which the full text of the pages created
//!   since the last compaction would exceed the budget: what a harness does when its window
//!   fills.
//!
//! - with [`Directory::On`] ([`convert_with`], [`replay_session`]), a per-session page
//!   directory ([`DIRECTORY_PAGE`]): a hard-pinned page whose full form maps every path,
//!   command and identifier to the pages holding it and whose pointer (`[dir]`, 3 tokens) stays
//!   in every prompt under auto-pinning policies, so any specific resolves to a stored page
//!   without re-running a tool. Its cost is charged like any page's, at its final size from
//!   turn 0.
//!
//! All token costs come from [`page_engine::RepresentationBuilder`], so they are the costs the
//! engine itself would assemble with.
//!
//! ```
//! use page_core::{TokenCount, TypeTable};
//! use page_engine::{BuildConfig, RepresentationBuilder};
//! use page_import::{Format, import};
//! use page_policy::{PolicyConfig, PolicyId, simulate};
//! use page_replay::convert;
//! use page_tokenizer::{BpeCounter, Encoding};
//!
//! let builder = RepresentationBuilder::new(
//!     BpeCounter::new(Encoding::O200kBase)?, TypeTable::default(), BuildConfig::default())?;
//! let text = concat!(
//!     r#"{"type":"user","sessionId":"s","uuid":"u1","message":{"content":"Fix the panic in src/lib.rs"}}"#, "\n",
//!     r#"{"type":"assistant","sessionId":"s","uuid":"a1","message":{"content":[{"type":"tool_use","id":"t1","name":"Read","input":{"file_path":"src/lib.rs"}}]}}"#, "\n",
//!     r#"{"type":"user","sessionId":"s","uuid":"u2","message":{"content":[{"type":"tool_result","tool_use_id":"t1","content":"fn main() { panic!() }"}]}}"#, "\n",
//! );
//! let session = &import(text, Some(Format::ClaudeCode))?.sessions[0];
//! let converted = convert(session, "claude-code", &builder, TokenCount::new(200))?;
//! let workload = converted.workload.validate()?;
//! let run = simulate(&workload, &PolicyConfig::preset(PolicyId::Clawvm), TokenCount::new(200));
//! assert_eq!(run.total_faults, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod replay;
mod retention;

use std::collections::{BTreeMap, HashMap};

use page_core::{
    PageId, PageType, PinClass, Repr, Representation, TokenCount, TokenCounter, ToolSignature,
};
use page_engine::{
    ConversationTurn, PlanState, RepresentationBuilder, Rules, RulesKind, ToolResult, specifics,
};
use page_import::{Event, Session};
use page_policy::{
    Demand, LevelTokens, LifecycleEvent, ToolCall, WORKLOAD_SCHEMA_VERSION, Workload, WorkloadPage,
    WorkloadTurn,
};
use thiserror::Error;

pub use crate::replay::{
    Budget, KindRetention, ReplayReport, RetentionReport, SessionReplay, TokenReport, Trace,
    full_history_tokens, replay_converted, replay_session,
};
pub use crate::retention::{Retention, RetentionCounts, RetentionMeter, retention};

/// Why a session could not be converted.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// An id derived from the session is not a valid page id.
    #[error("session {session:?}: {source}")]
    Id {
        /// The session.
        session: String,
        /// What is wrong.
        #[source]
        source: page_core::PageError,
    },
    /// The session has no event that makes a page.
    #[error("session {0:?} has nothing to replay")]
    Empty(String),
    /// The converted workload does not validate (a conversion bug, reported, not hidden).
    #[error("session {session:?}: the converted workload is invalid: {reason}")]
    Workload {
        /// The session.
        session: String,
        /// The validation error.
        reason: String,
    },
    /// A budget that is not usable.
    #[error("{0}")]
    InvalidBudget(String),
}

/// A converted session, with what the conversion had to skip.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The replay workload.
    pub workload: Workload,
    /// Tokens of every page at `full`: the whole history, as a harness without paging would
    /// have to hold it.
    pub full_history_tokens: u64,
    /// Tool calls in the session, repeated ones included.
    pub tool_calls: usize,
    /// Events that could not become pages, with the reason (malformed tool arguments, a system
    /// message without rules), in session order.
    pub skipped: Vec<String>,
    /// The text of every page at every level, in page order (what an assembled prompt would
    /// contain), for retention measurement.
    pub texts: Vec<BTreeMap<Repr, String>>,
    /// The specifics mentioned in the session, each with the turn it first appears at.
    pub mentioned: Vec<Mention>,
    /// The turn that creates each page, in page order (the directory: 0). The workload format
    /// makes every page available from turn 0, so retention ignores a page selected before
    /// the turn that creates it: its text did not exist yet.
    pub created_at: Vec<usize>,
}

/// A specific (file path, shell command or identifier) mentioned in the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    /// What kind of specific.
    pub kind: SpecificKind,
    /// The text as mentioned.
    pub text: String,
    /// The turn at which it first appears.
    pub turn: usize,
}

/// The kinds of specifics whose retention is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpecificKind {
    /// A file path.
    Path,
    /// A shell command a tool ran.
    Command,
    /// A distinctive identifier.
    Identifier,
}

/// Converts one session. `family` labels the workload (the source format); `budget` places
/// the compactions. No page directory (see [`convert_with`]).
///
/// # Errors
/// [`ReplayError::Empty`] when no event makes a page.
pub fn convert<C: TokenCounter>(
    session: &Session,
    family: &str,
    builder: &RepresentationBuilder<C>,
    budget: TokenCount,
) -> Result<Converted, ReplayError> {
    convert_with(session, family, builder, budget, Directory::Off)
}

/// Whether a converted session carries a page directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Directory {
    /// No directory: a specific is recoverable only through the handle of a page holding it.
    Off,
    /// A per-session page directory ([`DIRECTORY_PAGE`]): a hard-pinned page whose pointer is
    /// always resident under auto-pinning policies and whose full text maps every specific to
    /// the pages holding it, so any specific resolves to a stored page without re-running a tool.
    #[default]
    On,
}

/// The page id of the page directory.
pub const DIRECTORY_PAGE: &str = "dir";

/// [`convert`], choosing whether the session gets a page directory.
///
/// # Errors
/// [`ReplayError::Empty`] when no event makes a page.
pub fn convert_with<C: TokenCounter>(
    session: &Session,
    family: &str,
    builder: &RepresentationBuilder<C>,
    budget: TokenCount,
    directory: Directory,
) -> Result<Converted, ReplayError> {
    let results: HashMap<&str, (&str, bool)> = session
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ToolResult {
                call_id,
                output,
                is_error,
            } => Some((call_id.as_str(), (output.as_str(), *is_error))),
            _ => None,
        })
        .collect();
    let mut c = Converter {
        session: &session.id,
        pages: Vec::new(),
        turns: Vec::new(),
        facts: HashMap::new(),
        signatures: HashMap::new(),
        since_compaction: 0,
        full_history_tokens: 0,
        tool_calls: 0,
        skipped: Vec::new(),
        budget: u64::from(budget.get()),
        seen_task: false,
        texts: Vec::new(),
        mentioned: Vec::new(),
        seen_specifics: std::collections::HashSet::new(),
        holders: HashMap::new(),
        created_at: Vec::new(),
    };
    for (i, event) in session.events.iter().enumerate() {
        match event {
            Event::System { text } => match builder.rules(RulesKind::Bootstrap, &Rules { text }) {
                Ok(reprs) => {
                    let id = c.page_id(format!("b{i}"))?;
                    c.add_page(id, PageType::Bootstrap, reprs, None, text);
                }
                Err(e) => c.skipped.push(format!("event {i} (system): {e}")),
            },
            Event::User { text, .. } if !c.seen_task => {
                c.seen_task = true;
                let steps: Vec<String> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .take(12)
                    .map(|l| l.chars().take(200).collect())
                    .collect();
                let goal = steps.first().cloned().unwrap_or_default();
                let id = c.page_id("plan".to_owned())?;
                match builder.plan(
                    &id,
                    &PlanState {
                        goal: &goal,
                        steps: &steps,
                        current: 0,
                    },
                ) {
                    Ok(reprs) => {
                        // The plan holds the task's first lines; the history is all of it, so
                        // budget fractions are of what the agent really had.
                        let plan = reprs
                            .get(&Repr::Full)
                            .map_or(0, |r| u64::from(r.tokens().get()));
                        let whole = u64::from(builder.counter().count(text).get());
                        c.add_page(id, PageType::Plan, reprs, None, text);
                        c.full_history_tokens += whole.saturating_sub(plan);
                    }
                    Err(e) => c.skipped.push(format!("event {i} (task): {e}")),
                }
            }
            Event::User {
                id: msg,
                text,
                at_ms,
            }
            | Event::Assistant {
                id: msg,
                text,
                at_ms,
            } => {
                let role = if matches!(event, Event::User { .. }) {
                    "user"
                } else {
                    "assistant"
                };
                let span = msg.clone().unwrap_or_else(|| format!("event-{i}"));
                let id = c.page_id(format!("c{i}"))?;
                let turn = ConversationTurn {
                    role,
                    text,
                    span: (&span, &span),
                    start_ms: *at_ms,
                };
                match builder.conversation(&id, &turn) {
                    Ok(reprs) => c.add_page(id, PageType::Conversation, reprs, None, text),
                    Err(e) => c.skipped.push(format!("event {i} ({role}): {e}")),
                }
            }
            Event::ToolCall {
                call_id,
                tool,
                args_json,
                ..
            } => {
                c.tool_calls += 1;
                let (output, is_error) = results
                    .get(call_id.as_str())
                    .copied()
                    .unwrap_or(("", false));
                let input = ToolResult {
                    tool,
                    args_json,
                    output,
                    is_error,
                    exit_code: None,
                };
                let id = c.page_id(format!("e{i}"))?;
                match builder.evidence(&id, &input) {
                    Ok(built) => {
                        let cmd = command_of(args_json);
                        if let Some(cmd) = &cmd {
                            // The call's page (or repeated call) is the next turn.
                            let turn = c.turns.len();
                            c.mention(SpecificKind::Command, cmd.clone(), turn);
                        }
                        let mention = format!("{args_json}\n{output}");
                        let signature = built.signature.clone();
                        c.add_tool_page(id, tool, built.signature, built.representations, &mention);
                        if let (Some(cmd), Some(page)) = (cmd, c.signatures.get(&signature)) {
                            let page = page.clone();
                            c.hold(SpecificKind::Command, &cmd, &page);
                        }
                    }
                    Err(e) => c
                        .skipped
                        .push(format!("event {i} (tool call {call_id}): {e}")),
                }
            }
            // Results are consumed with their calls.
            Event::ToolResult { .. } => {}
        }
    }
    if c.pages.is_empty() {
        return Err(ReplayError::Empty(session.id.clone()));
    }
    if directory == Directory::On {
        let (page, texts) = c.directory(builder)?;
        c.pages.insert(0, page);
        c.texts.insert(0, texts);
        c.created_at.insert(0, 0);
    }
    Ok(Converted {
        workload: Workload {
            schema_version: WORKLOAD_SCHEMA_VERSION,
            id: session.id.clone(),
            family: family.to_owned(),
            pages: c.pages,
            turns: c.turns,
        },
        full_history_tokens: c.full_history_tokens,
        tool_calls: c.tool_calls,
        skipped: c.skipped,
        texts: c.texts,
        mentioned: c.mentioned,
        created_at: c.created_at,
    })
}

struct Converter<'a> {
    session: &'a str,
    pages: Vec<WorkloadPage>,
    turns: Vec<WorkloadTurn>,
    // Specific (path or identifier) → the latest page that contained it.
    facts: HashMap<String, PageId>,
    signatures: HashMap<ToolSignature, PageId>,
    since_compaction: u64,
    full_history_tokens: u64,
    tool_calls: usize,
    skipped: Vec<String>,
    budget: u64,
    seen_task: bool,
    texts: Vec<BTreeMap<Repr, String>>,
    mentioned: Vec<Mention>,
    seen_specifics: std::collections::HashSet<(SpecificKind, String)>,
    // Specific → every page holding it, in the order they appeared (the page directory).
    holders: HashMap<(SpecificKind, String), Vec<PageId>>,
    created_at: Vec<usize>,
}

impl Converter<'_> {
    /// Records that `page` holds the specific `text`.
    fn hold(&mut self, kind: SpecificKind, text: &str, page: &PageId) {
        let pages = self.holders.entry((kind, text.to_owned())).or_default();
        if !pages.contains(page) {
            pages.push(page.clone());
        }
    }

    /// The page directory: every specific mentioned, in first-mention order, with the pages
    /// holding it. Levels: `full` lists paths, commands and identifiers with their pages;
    /// `compressed` paths and commands with their pages; `structured` paths and commands
    /// alone; `pointer` names the directory and its counts. Commands are written JSON-escaped
    /// so a multi-line command stays one line. A level never costs less than the one below it
    /// (it takes that level's text instead), so the page satisfies the cost invariant.
    fn directory<C: TokenCounter>(
        &self,
        builder: &RepresentationBuilder<C>,
    ) -> Result<(WorkloadPage, BTreeMap<Repr, String>), ReplayError> {
        let id = self.page_id(DIRECTORY_PAGE.to_owned())?;
        let mut counts = [0usize; 3];
        let (mut full, mut compressed, mut structured) =
            (String::new(), String::new(), String::new());
        for m in &self.mentioned {
            let key = match m.kind {
                SpecificKind::Command => serde_json::Value::String(m.text.clone()).to_string(),
                _ => m.text.clone(),
            };
            let pages = self
                .holders
                .get(&(m.kind, m.text.clone()))
                .map(|p| p.iter().map(PageId::as_str).collect::<Vec<_>>().join(" "))
                .unwrap_or_default();
            let (tag, i) = match m.kind {
                SpecificKind::Path => ("path", 0),
                SpecificKind::Command => ("cmd", 1),
                SpecificKind::Identifier => ("id", 2),
            };
            counts[i] += 1;
            let line = format!("{tag} {key} -> {pages}\n");
            full.push_str(&line);
            if m.kind != SpecificKind::Identifier {
                compressed.push_str(&line);
                structured.push_str(&key);
                structured.push('\n');
            }
        }
        // The pointer is what stays resident: as short as a handle can be. The counts head
        // the structured form.
        let pointer = format!("[{DIRECTORY_PAGE}]");
        let structured = format!(
            "{DIRECTORY_PAGE}: {} paths, {} commands, {} identifiers\n{structured}",
            counts[0], counts[1], counts[2]
        );
        let counter = builder.counter();
        let mut texts = BTreeMap::new();
        let mut tokens = LevelTokens::default();
        let mut below: Option<(String, TokenCount)> = None;
        for (level, text) in [
            (Repr::Pointer, pointer),
            (Repr::Structured, structured),
            (Repr::Compressed, compressed),
            (Repr::Full, full),
        ] {
            let n = counter.count(&text);
            let (text, n) = match below.take() {
                Some((t, m)) if m.get() > n.get() => (t, m),
                _ => (text, n),
            };
            match level {
                Repr::Pointer => tokens.pointer = Some(n),
                Repr::Structured => tokens.structured = Some(n),
                Repr::Compressed => tokens.compressed = Some(n),
                _ => tokens.full = Some(n),
            }
            texts.insert(level, text.clone());
            below = Some((text, n));
        }
        let page = WorkloadPage {
            id,
            page_type: PageType::Evidence,
            pin: Some(PinClass::Hard),
            min_fidelity: None,
            tokens,
            base_utility: page_engine::base_utility(PageType::Evidence),
            // Rebuilt from the store's pages, never by re-running a tool.
            recompute_cost: 1.0,
            scope: None,
            session: None,
            tool_signature: None,
            dirty: false,
        };
        Ok((page, texts))
    }

    /// Records a specific first mentioned at `turn`, once.
    fn mention(&mut self, kind: SpecificKind, text: String, turn: usize) {
        if self.seen_specifics.insert((kind, text.clone())) {
            self.mentioned.push(Mention { kind, text, turn });
        }
    }

    fn page_id(&self, s: String) -> Result<PageId, ReplayError> {
        PageId::new(s).map_err(|source| ReplayError::Id {
            session: self.session.to_owned(),
            source,
        })
    }

    fn add_tool_page(
        &mut self,
        id: PageId,
        tool: &str,
        signature: ToolSignature,
        reprs: BTreeMap<Repr, Representation>,
        mention: &str,
    ) {
        let call = |page: PageId| ToolCall {
            signature: signature.clone(),
            result_page: page,
        };
        if let Some(first) = self.signatures.get(&signature).cloned() {
            // The same call again: no new page; a demand through the call itself.
            let mut turn = WorkloadTurn {
                tool_calls: vec![call(first.clone())],
                ..WorkloadTurn::default()
            };
            self.reference(&mut turn, mention, Some(&first));
            self.turns.push(turn);
            return;
        }
        self.signatures.insert(signature.clone(), id.clone());
        let page_call = call(id.clone());
        self.add_page(
            id,
            PageType::Evidence,
            reprs,
            Some((tool, signature)),
            mention,
        );
        if let Some(turn) = self.turns.last_mut() {
            turn.tool_calls.push(page_call);
        }
    }

    fn add_page(
        &mut self,
        id: PageId,
        page_type: PageType,
        reprs: BTreeMap<Repr, Representation>,
        tool: Option<(&str, ToolSignature)>,
        mention: &str,
    ) {
        let full = reprs
            .get(&Repr::Full)
            .map_or(0, |r| u64::from(r.tokens().get()));
        let mut turn = WorkloadTurn::default();
        if self.since_compaction + full > self.budget && self.since_compaction > 0 {
            turn.events.push(LifecycleEvent::Compaction {
                kind: page_core::CompactionKind::Hard,
            });
            self.since_compaction = 0;
        }
        self.since_compaction += full;
        self.full_history_tokens += full;
        self.reference(&mut turn, mention, Some(&id));
        turn.demands.push(Demand {
            page: id.clone(),
            required_repr: Some(Repr::Full),
        });
        let (pin, base_utility, recompute_cost, signature) = match &tool {
            Some((name, sig)) => (
                Some(PinClass::Soft),
                page_engine::TOOL_RESULT_UTILITY,
                page_engine::recompute_cost(name),
                Some(sig.clone()),
            ),
            None => (None, page_engine::base_utility(page_type), 1.0, None),
        };
        let tokens = LevelTokens {
            full: reprs.get(&Repr::Full).map(Representation::tokens),
            compressed: reprs.get(&Repr::Compressed).map(Representation::tokens),
            structured: reprs.get(&Repr::Structured).map(Representation::tokens),
            pointer: reprs.get(&Repr::Pointer).map(Representation::tokens),
        };
        self.pages.push(WorkloadPage {
            id: id.clone(),
            page_type,
            pin,
            min_fidelity: None,
            tokens,
            base_utility,
            recompute_cost,
            scope: None,
            session: None,
            tool_signature: signature,
            dirty: false,
        });
        self.turns.push(turn);
        self.created_at.push(self.turns.len() - 1);
        self.texts.push(
            reprs
                .iter()
                .map(|(&r, rep)| (r, rep.content().to_owned()))
                .collect(),
        );
        let facts = specifics(mention);
        let turn = self.turns.len() - 1;
        for p in &facts.paths {
            self.mention(SpecificKind::Path, p.clone(), turn);
        }
        for i in &facts.identifiers {
            self.mention(SpecificKind::Identifier, i.clone(), turn);
        }
        for p in &facts.paths {
            self.hold(SpecificKind::Path, p, &id);
        }
        for i in &facts.identifiers {
            self.hold(SpecificKind::Identifier, i, &id);
        }
        for f in facts.paths.into_iter().chain(facts.identifiers) {
            self.facts.insert(f, id.clone());
        }
    }

    /// Demands every earlier page that contained a specific `mention` names.
    fn reference(&self, turn: &mut WorkloadTurn, mention: &str, this: Option<&PageId>) {
        let facts = specifics(mention);
        let mut cited: Vec<&PageId> = facts
            .paths
            .iter()
            .chain(&facts.identifiers)
            .filter_map(|f| self.facts.get(f))
            .filter(|p| Some(*p) != this)
            .collect();
        cited.sort();
        cited.dedup();
        for p in cited {
            turn.demands.push(Demand {
                page: p.clone(),
                required_repr: None,
            });
        }
    }
}

/// The shell command of a tool call whose arguments carry one (`command` or `cmd`), as a
/// string or as an argv list (Codex's `shell` tool and `local_shell_call`); a `bash -lc` /
/// `sh -c` wrapper is unwrapped to the script it runs.
fn command_of(args_json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(args_json).ok()?;
    let raw = ["command", "cmd"].iter().find_map(|k| v.get(k))?;
    let cmd = match raw {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(argv) => {
            let argv: Vec<&str> = argv.iter().filter_map(serde_json::Value::as_str).collect();
            match argv.as_slice() {
                [shell, flag, script]
                    if ["bash", "sh", "zsh", "/bin/bash", "/bin/sh"].contains(shell)
                        && ["-c", "-lc"].contains(flag) =>
                {
                    (*script).to_owned()
                }
                _ => argv.join(" "),
            }
        }
        _ => return None,
    };
    Some(cmd.trim().to_owned()).filter(|c| !c.is_empty())
}
