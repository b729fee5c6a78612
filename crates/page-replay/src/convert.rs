//! How an imported session becomes a replay workload: one page per event (the rules are listed
//! in the crate documentation), the turns that demand them, and the record of what the agent
//! did with them (its requests and the specifics and edit anchors of its actions).

use std::collections::{BTreeMap, HashMap};

use page_core::{PageId, Repr, Representation, TokenCount, TokenCounter, ToolSignature};
use page_engine::{
    Citations, ConversationTurn, Ingested, PlanState, RepresentationBuilder, Source, ToolResult,
    specifics,
};
use page_import::{Event, Session};
use page_policy::{
    Demand, Existence, LevelTokens, LifecycleEvent, ToolCall, WORKLOAD_SCHEMA_VERSION, Workload,
    WorkloadPage, WorkloadTurn,
};

use crate::directory::{self, DirectorySource, DirectoryVersion};
use page_engine::anchors;

use crate::{Action, Converted, Directory, Mention, ReplayError, Request, SpecificKind};

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
        citations: Citations::default(),
        signatures: HashMap::new(),
        since_compaction: 0,
        full_history_tokens: 0,
        tool_calls: 0,
        skipped: Vec::new(),
        budget: u64::from(budget.get()),
        seen_task: false,
        texts: Vec::new(),
        mentioned: Vec::new(),
        mention_index: HashMap::new(),
        created_at: Vec::new(),
        compactions: Vec::new(),
        actions: Vec::new(),
        requests: Vec::new(),
        open_request: None,
    };
    for (i, event) in session.events.iter().enumerate() {
        // A model response is a run of consecutive assistant messages and tool calls: they
        // were all produced by one request, from the context before the first of them.
        if !matches!(event, Event::Assistant { .. } | Event::ToolCall { .. }) {
            c.open_request = None;
        }
        match event {
            Event::System { text } => {
                let id = c.page_id(format!("b{i}"))?;
                let span = format!("event-{i}");
                let source = Source::SystemPrompt {
                    text,
                    span: &span,
                    start_ms: None,
                };
                match builder.ingest(&id, &source) {
                    Ok(page) => c.add_page(id, page, text),
                    Err(e) => c.skipped.push(format!("event {i} (system): {e}")),
                }
            }
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
                let source = Source::Plan(PlanState {
                    goal: &goal,
                    steps: &steps,
                    current: 0,
                });
                match builder.ingest(&id, &source) {
                    Ok(page) => {
                        // The plan holds the task's first lines; the history is all of it, so
                        // budget fractions are of what the agent really had.
                        let plan = u64::from(page.full_tokens());
                        let whole = u64::from(builder.counter().count(text).get());
                        c.add_page(id, page, text);
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
                let turn = Source::Turn(ConversationTurn {
                    role,
                    text,
                    span: (&span, &span),
                    start_ms: *at_ms,
                });
                match builder.ingest(&id, &turn) {
                    Ok(page) => {
                        let uses = c.uses_of(text, None);
                        c.add_page(id, page, text);
                        if role == "assistant" {
                            c.act(uses, anchors::of_message(text), *at_ms);
                        }
                    }
                    Err(e) => c.skipped.push(format!("event {i} ({role}): {e}")),
                }
            }
            Event::ToolCall {
                call_id,
                tool,
                args_json,
                at_ms,
            } => {
                c.tool_calls += 1;
                let (output, is_error) = results
                    .get(call_id.as_str())
                    .copied()
                    .unwrap_or(("", false));
                let input = Source::ToolResult(ToolResult {
                    tool,
                    args_json,
                    output,
                    is_error,
                    exit_code: None,
                });
                let id = c.page_id(format!("e{i}"))?;
                let mut built = match builder.ingest(&id, &input) {
                    Ok(page) => page,
                    Err(e) => {
                        c.skipped.push(format!("event {i} (tool call): {e}"));
                        continue;
                    }
                };
                let cmd = serde_json::from_str(args_json)
                    .ok()
                    .and_then(|v| page_engine::command_of(&v));
                let uses = c.uses_of(&call_values(args_json), cmd.as_deref());
                // The call is sent with its result: a specific in its arguments is in the
                // prompt wherever the result's full or compressed text is (the structured form
                // quotes the call itself, the pointer does not).
                for level in [Repr::Full, Repr::Compressed] {
                    if let Some(r) = built.representations.get_mut(&level) {
                        *r = Representation::new(
                            format!("call: {args_json}\n{}", r.content()),
                            r.tokens(),
                        );
                    }
                }
                if let Some(cmd) = &cmd {
                    // The call's page (or repeated call) is the next turn.
                    let turn = c.turns.len();
                    c.mention(SpecificKind::Command, cmd.clone(), turn);
                }
                let mention = format!("{}\n{output}", call_values(args_json));
                let signature = built.signature.clone();
                c.add_tool_page(id, built, &mention);
                if let (Some(cmd), Some(page)) = (cmd, signature.and_then(|s| c.signatures.get(&s)))
                {
                    let page = page.clone();
                    c.hold(SpecificKind::Command, &cmd, &page);
                }
                c.act(uses, anchors::of_call(args_json), *at_ms);
            }
            // Results are consumed with their calls.
            Event::ToolResult { .. } => {}
        }
    }
    if c.pages.is_empty() {
        return Err(ReplayError::Empty(session.id.clone()));
    }
    let versions = if directory == Directory::On {
        c.directory(builder)?
    } else {
        Vec::new()
    };
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
        actions: c.actions,
        requests: c.requests,
        directory: versions,
    })
}

struct Converter<'a> {
    session: &'a str,
    pages: Vec<WorkloadPage>,
    turns: Vec<WorkloadTurn>,
    // Specific (path or identifier) → the page it cites.
    citations: Citations<PageId>,
    signatures: HashMap<ToolSignature, PageId>,
    since_compaction: u64,
    full_history_tokens: u64,
    tool_calls: usize,
    skipped: Vec<String>,
    budget: u64,
    seen_task: bool,
    texts: Vec<BTreeMap<Repr, String>>,
    mentioned: Vec<Mention>,
    // Specific → its index in `mentioned`.
    mention_index: HashMap<(SpecificKind, String), usize>,
    created_at: Vec<usize>,
    // Turns that begin with a compaction.
    compactions: Vec<usize>,
    actions: Vec<Action>,
    requests: Vec<Request>,
    // The request the current model response came from, once one of its actions made a turn.
    open_request: Option<usize>,
}

impl Converter<'_> {
    /// Records that `page` holds the specific `text`.
    /// A specific is always mentioned before a page is recorded as holding it.
    fn hold(&mut self, kind: SpecificKind, text: &str, page: &PageId) {
        if let Some(&m) = self.mention_index.get(&(kind, text.to_owned())) {
            let pages = &mut self.mentioned[m].holders;
            if !pages.contains(page) {
                pages.push(page.clone());
            }
        }
    }

    /// Records a specific first mentioned at `turn`, once.
    fn mention(&mut self, kind: SpecificKind, text: String, turn: usize) {
        let next = self.mentioned.len();
        let key = (kind, text);
        if !self.mention_index.contains_key(&key) {
            self.mentioned.push(Mention {
                kind,
                text: key.1.clone(),
                turn,
                holders: Vec::new(),
            });
            self.mention_index.insert(key, next);
        }
    }

    /// The specifics `text` (and the command `cmd`) name that were mentioned before: what the
    /// action that wrote them used. Read before the action's own page records its mentions.
    fn uses_of(&self, text: &str, cmd: Option<&str>) -> Vec<usize> {
        let facts = specifics(text);
        let mut uses: Vec<usize> = facts
            .paths
            .into_iter()
            .map(|p| (SpecificKind::Path, p))
            .chain(
                facts
                    .identifiers
                    .into_iter()
                    .map(|i| (SpecificKind::Identifier, i)),
            )
            .chain(cmd.map(|c| (SpecificKind::Command, c.to_owned())))
            .filter_map(|key| self.mention_index.get(&key).copied())
            .collect();
        uses.sort_unstable();
        uses.dedup();
        uses
    }

    /// Records an action of the agent, which made the latest turn, as part of the current
    /// model response (opening a request for it if it is the response's first action).
    fn act(&mut self, mut uses: Vec<usize>, anchors: Vec<String>, at_ms: Option<i64>) {
        let turn = self.turns.len() - 1;
        let request = match self.open_request {
            Some(r) => r,
            None => {
                self.requests.push(Request { turn, at_ms });
                self.open_request = Some(self.requests.len() - 1);
                self.requests.len() - 1
            }
        };
        let before = self.requests[request].turn;
        // Only what existed before the request could have been in its context.
        uses.retain(|&m| self.mentioned[m].turn < before);
        self.actions.push(Action {
            turn,
            request,
            uses,
            anchors,
        });
    }

    /// The directory's versions: one from turn 0 and a rebuilt one at every compaction, each
    /// listing only what was mentioned before it. They head the workload's pages.
    fn directory<C: TokenCounter>(
        &mut self,
        builder: &RepresentationBuilder<C>,
    ) -> Result<Vec<DirectoryVersion>, ReplayError> {
        let created: HashMap<PageId, usize> = self
            .pages
            .iter()
            .zip(&self.created_at)
            .map(|(p, &t)| (p.id.clone(), t))
            .collect();
        let src = DirectorySource {
            session: self.session,
            mentioned: &self.mentioned,
            created: &created,
        };
        let starts: Vec<usize> = std::iter::once(0)
            .chain(self.compactions.iter().copied())
            .collect();
        let mut built = Vec::with_capacity(starts.len());
        for (k, &start) in starts.iter().enumerate() {
            let retired = starts.get(k + 1).copied();
            built.push(directory::build(
                &src,
                builder,
                &directory::version_id(k),
                start,
                retired,
            )?);
        }
        let mut versions = Vec::with_capacity(built.len());
        for (k, (page, texts, listed)) in built.into_iter().enumerate() {
            self.pages.insert(k, page);
            self.texts.insert(k, texts);
            self.created_at.insert(k, starts[k]);
            versions.push(DirectoryVersion {
                page: k,
                created: starts[k],
                listed,
            });
        }
        Ok(versions)
    }

    fn page_id(&self, s: String) -> Result<PageId, ReplayError> {
        PageId::new(s).map_err(|source| ReplayError::Id {
            session: self.session.to_owned(),
            source,
        })
    }

    fn add_tool_page(&mut self, id: PageId, page: Ingested, mention: &str) {
        let Some(signature) = page.signature.clone() else {
            self.add_page(id, page, mention);
            return;
        };
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
        self.add_page(id, page, mention);
        if let Some(turn) = self.turns.last_mut() {
            turn.tool_calls.push(page_call);
        }
    }

    fn add_page(&mut self, id: PageId, page: Ingested, mention: &str) {
        let full = u64::from(page.full_tokens());
        let mut turn = WorkloadTurn::default();
        if self.since_compaction + full > self.budget && self.since_compaction > 0 {
            turn.events.push(LifecycleEvent::Compaction {
                kind: page_core::CompactionKind::Hard,
            });
            self.compactions.push(self.turns.len());
            self.since_compaction = 0;
        }
        self.since_compaction += full;
        self.full_history_tokens += full;
        self.reference(&mut turn, mention, Some(&id));
        turn.demands.push(Demand {
            page: id.clone(),
            required_repr: Some(Repr::Full),
        });
        let reprs = &page.representations;
        let tokens = LevelTokens {
            full: reprs.get(&Repr::Full).map(Representation::tokens),
            compressed: reprs.get(&Repr::Compressed).map(Representation::tokens),
            structured: reprs.get(&Repr::Structured).map(Representation::tokens),
            pointer: reprs.get(&Repr::Pointer).map(Representation::tokens),
        };
        self.pages.push(WorkloadPage {
            id: id.clone(),
            page_type: page.page_type,
            pin: page.pin,
            min_fidelity: None,
            tokens,
            base_utility: page.base_utility,
            recompute_cost: page.recompute_cost,
            scope: None,
            session: None,
            tool_signature: page.signature.clone(),
            dirty: false,
            exists: Some(Existence {
                created: u32::try_from(self.turns.len()).unwrap_or(u32::MAX),
                retired: None,
            }),
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
        self.citations.hold(
            &id,
            facts
                .paths
                .iter()
                .chain(&facts.identifiers)
                .map(String::as_str),
        );
    }

    /// Demands every earlier page that contained a specific `mention` names.
    fn reference(&self, turn: &mut WorkloadTurn, mention: &str, this: Option<&PageId>) {
        let facts = specifics(mention);
        let cited = self.citations.cited(
            facts
                .paths
                .iter()
                .chain(&facts.identifiers)
                .map(String::as_str),
        );
        for page in cited.into_iter().filter(|p| Some(p) != this) {
            turn.demands.push(Demand {
                page,
                required_repr: None,
            });
        }
    }
}

/// The values of a tool call's arguments, one per line: what its specifics are read from (its
/// keys, `file_path` or `old_string`, name no file and no identifier of the session). Text
/// that is not JSON is taken as it is.
fn call_values(args_json: &str) -> String {
    fn walk(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::String(s) => {
                out.push_str(s);
                out.push('\n');
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            serde_json::Value::Object(fields) => fields.values().for_each(|i| walk(i, out)),
            other => {
                out.push_str(&other.to_string());
                out.push('\n');
            }
        }
    }
    match serde_json::from_str::<serde_json::Value>(args_json) {
        Ok(v) => {
            let mut out = String::new();
            walk(&v, &mut out);
            out
        }
        Err(_) => args_json.to_owned(),
    }
}
