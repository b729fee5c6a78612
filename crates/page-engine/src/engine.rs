//! The harness lifecycle: the paper's hooks (session start, prompt assembly, post-model,
//! tool execution before and after, compaction, reset) and session end, over a page table,
//! the writeback journal and a store.
//!
//! Every hook that ends a span of work is a write barrier: dirty pages and staged updates are
//! committed through the journal before anything is dropped, and a commit that fails leaves
//! the state in memory and says so ([`EngineError::FlushMiss`]). Page types come from the
//! hook that created the page (a tool result is evidence whatever its text says), never from
//! content.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use page_core::{
    Boundary, CompactionKind, FaultKind, LevelCosts, MessageId, Page, PageId, PageType, PinClass,
    ProjectId, Provenance, RecallOutcome, Repr, Scope, SessionId, SessionPageTable, TokenCount,
    TokenCounter, ToolCallId, ToolSignature, TypeTable,
};
use page_policy::{Demand, FaultCounts, LivePage, Paging, PolicyConfig, PolicyId, select_live};
use page_writeback::{
    AccessControl, BoundaryContext, BoundaryReport, EvidenceRef, FieldPath, FieldSchemas,
    FieldVersion, FlushMiss, Op, PrincipalId, ReprChange, Store, Update, Writeback,
};
use serde_json::Value;

use crate::assembly::{
    Assembly, Block, ObservedFault, Placed, PromptDirectory, PromptMessage, Role,
};
use crate::build::{
    BuildConfig, ConversationTurn, PlanState, Preference, RepresentationBuilder, Rules, RulesKind,
    ToolResult,
};
use crate::directory::{Directory, Listing};
use crate::error::EngineError;
use crate::ingest::{Ingested, Source};
use crate::reuse::{ReadOnlyTools, Reuse};
use crate::specifics::{PageSpecifics, command_of};
use crate::stable::select_stable;
use crate::summarize::{EvidenceFacts, Summarizer, SummaryInput, SummaryRejection, admit};

/// How an engine is set up.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The session this engine serves.
    pub session: SessionId,
    /// The project whose rules and preferences outlive sessions; `None` keeps everything in
    /// the session.
    pub project: Option<ProjectId>,
    /// Who writes: the principal of every update the engine stages.
    pub principal: PrincipalId,
    /// The paging policy: cache-stable paging by default (levels change only at degradation
    /// events, see [`Paging::CacheStable`]); the paper's per-turn policies re-decide every
    /// level at every prompt.
    pub policy: PolicyConfig,
    /// The representation builders' knobs.
    pub build: BuildConfig,
    /// Share of the budget a fresh tool result may take at its best level before it is shown
    /// at a lower one (it is always shown at least at its minimum).
    pub fresh_result_share: f64,
    /// Per-turn paging only: keep the previous prompt's prefix where the budget allows: a page
    /// the selector would degrade keeps its previous level when pages after it can pay for
    /// that by degrading, tail first, never below their minimum or demanded level. Provider prompt caches key on
    /// the prefix, so a change near the end costs a cache far less than one near the start.
    pub stable_prefix: bool,
    /// The tools whose earlier result may answer a repeated call (see [`ReadOnlyTools`]).
    pub read_only_tools: ReadOnlyTools,
    /// Whether each prompt carries a page directory ([`Assembly::directory`]): what pages
    /// below full can still be cited by, within a tenth of the budget (off by default).
    pub directory: bool,
}

impl EngineConfig {
    /// Cache-stable paging with its default watermarks, default builders, a fresh result may
    /// take half the budget.
    #[must_use]
    pub fn new(session: SessionId, principal: PrincipalId) -> Self {
        Self {
            session,
            project: None,
            principal,
            policy: PolicyConfig::preset(PolicyId::CacheStable),
            build: BuildConfig::default(),
            fresh_result_share: 0.5,
            stable_prefix: true,
            read_only_tools: ReadOnlyTools::default(),
            directory: false,
        }
    }
}

/// A page as the harness names and renders it: its durable id (a database row, a migrated
/// page), so a restart finds the same page, and the tokens the harness's own message format
/// adds around the page's text at every level (a tool call's use and result framing, reasoning
/// blocks, images), so the budget the engine keeps is the one the provider counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarnessPage {
    /// The page id.
    pub id: PageId,
    /// Tokens that render with the page at any level.
    pub frame: TokenCount,
}

/// A tool call the model made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCallRequest {
    /// The provider's call id.
    pub call_id: ToolCallId,
    /// Tool name.
    pub tool: String,
    /// Arguments as the model wrote them (JSON; malformed text is kept and signed verbatim).
    pub args_json: String,
    /// The evidence page that will hold its result, when the harness names its pages (see
    /// [`Engine::user_message_as`]); its frame replaces the engine's own count of the call
    /// (tool name, arguments and, on a response's first call, its reasoning blocks). `None`
    /// lets the engine number and count it.
    pub page: Option<HarnessPage>,
}

/// What the model produced in one response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelOutput {
    /// Visible text, if any.
    pub text: Option<String>,
    /// The conversation page of `text`, when the harness names its pages (see
    /// [`Engine::user_message_as`]); `None` lets the engine number it.
    pub page: Option<HarnessPage>,
    /// Reasoning blocks, verbatim; they stay with this turn's tool calls.
    pub thinking: Vec<String>,
    /// Tool calls, in order. They and their results form one evidence group.
    pub tool_calls: Vec<ToolCallRequest>,
    /// State changes to write back (plan steps, preferences), validated at the next boundary.
    pub updates: Vec<Update>,
}

/// Whether a tool call must run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolDecision {
    /// Nothing equivalent is known: run the tool, then report with
    /// [`Engine::tool_after`].
    Run,
    /// An equivalent call (same canonical signature) ran before; its result, re-paged from
    /// the page table or the store, is now this call's result. Do not run the tool.
    Served {
        /// The page of the earlier result.
        from: PageId,
        /// The page now holding this call's result.
        page: PageId,
        /// The result text.
        output: String,
    },
}

/// What a tool returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    /// The output, verbatim.
    pub output: String,
    /// Whether the tool reported an error.
    pub is_error: bool,
    /// Exit code for commands.
    pub exit_code: Option<i32>,
}

/// Where a page sits in the prompt.
#[derive(Debug, Clone)]
enum Item {
    /// A page rendered on its own as a message of `role`, with the harness's frame tokens.
    Page { id: PageId, role: Role, frame: u32 },
    /// An assistant turn's tool calls and their results: one unit, all or nothing.
    Group(Group),
}

#[derive(Debug, Clone)]
struct Group {
    thinking: Vec<String>,
    calls: Vec<GroupCall>,
}

#[derive(Debug, Clone)]
struct GroupCall {
    request: ToolCallRequest,
    signature: ToolSignature,
    /// Set once the result is recorded.
    page: Option<PageId>,
    is_error: bool,
    /// Tokens of the call block, plus the group's reasoning blocks on its first call.
    overhead: u32,
    served: bool,
}

/// A plan's state as last built, to rebuild it from committed field updates.
/// A page as one prompt showed it: its level and what it cost there, and what it would cost
/// at full (the audit's three sizes, all counted as the selector counts a page in the prompt).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    page: PageId,
    level: Repr,
    tokens: u32,
    full: u32,
}

#[derive(Debug, Clone)]
struct PlanCache {
    goal: String,
    steps: Vec<String>,
    current: usize,
}

/// The engine of one session. Generic over the store (`page-store-sqlite` in production, the
/// in-memory store of `page-writeback` in tests) and the token counter.
pub struct Engine<S, C> {
    config: EngineConfig,
    types: TypeTable,
    builder: RepresentationBuilder<C>,
    wb: Writeback<S>,
    table: SessionPageTable,
    items: Vec<Item>,
    roles: BTreeMap<PageId, Role>,
    plans: BTreeMap<PageId, PlanCache>,
    /// Each signature's latest result and the value of `writes` when it was recorded.
    signatures: BTreeMap<ToolSignature, (PageId, u64)>,
    /// How many results of tools outside the read-only set have been recorded: a result
    /// recorded before the latest of them may be stale.
    writes: u64,
    demands: BTreeMap<PageId, Repr>,
    /// Demanded pages the fresh-result share does not lower: page-ins the model asked for.
    page_ins: BTreeSet<PageId>,
    /// The previous prompt's pages in order, with what each cost there and would cost at full.
    last_prompt: Vec<Shown>,
    /// How many items the previous prompt considered: a page of a later item is new, and
    /// cache-stable paging appends it at the tail (0 after a reset: nothing was sent).
    assembled_items: usize,
    /// Degradation events that rewrote the prompt (cache-stable paging).
    rewrites: u64,
    /// Pages an earlier prompt showed and a later one left out (their audit trail ends at
    /// `none`), with what they cost at full: one coming back is a change too.
    left_out: BTreeMap<PageId, u32>,
    /// Level changes between assembled prompts not yet committed: the audit rows of the next
    /// boundary (kept when it fails, so a flush miss loses none).
    pending_audit: Vec<ReprChange>,
    faults: FaultCounts,
    turn: u32,
    now_ms: i64,
    next_seq: u64,
    after_compaction: bool,
    schemas: Arc<FieldSchemas>,
    summarizer: Option<Box<dyn Summarizer>>,
    summary_rejections: Vec<SummaryRejection>,
    /// Each page's specifics, found once (a plan page's are found again when it changes).
    specifics: HashMap<PageId, PageSpecifics>,
}

impl<S, C> std::fmt::Debug for Engine<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("session", &self.config.session)
            .field("pages", &self.table.len())
            .field("turn", &self.turn)
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

impl<S: Store, C: TokenCounter> Engine<S, C> {
    /// `session_start`: opens the session over `store` and brings back the project's rules
    /// and preferences committed by earlier sessions.
    ///
    /// # Errors
    /// [`EngineError::Build`] for invalid builder knobs, [`EngineError::Store`] when the store
    /// cannot be read, [`EngineError::Schema`] if the field schemas do not compile.
    pub fn session_start(store: S, counter: C, config: EngineConfig) -> Result<Self, EngineError> {
        let types = TypeTable::default();
        let builder = RepresentationBuilder::new(counter, types.clone(), config.build.clone())?;
        let session_scope = Scope::Session(config.session.clone());
        let mut access = AccessControl::new().grant(config.principal.clone(), session_scope);
        if let Some(project) = &config.project {
            access = access.grant(config.principal.clone(), Scope::Project(project.clone()));
        }
        let schemas = Arc::new(FieldSchemas::builtin()?);
        let wb = Writeback::new(store, config.session.clone(), access, Arc::clone(&schemas));
        let mut engine = Self {
            config,
            types,
            builder,
            wb,
            table: SessionPageTable::new(),
            items: Vec::new(),
            roles: BTreeMap::new(),
            plans: BTreeMap::new(),
            signatures: BTreeMap::new(),
            writes: 0,
            demands: BTreeMap::new(),
            page_ins: BTreeSet::new(),
            last_prompt: Vec::new(),
            assembled_items: 0,
            rewrites: 0,
            left_out: BTreeMap::new(),
            pending_audit: Vec::new(),
            faults: FaultCounts::default(),
            turn: 0,
            now_ms: 0,
            next_seq: 0,
            after_compaction: false,
            schemas,
            summarizer: None,
            summary_rejections: Vec::new(),
            specifics: HashMap::new(),
        };
        engine.restore_project_pages()?;
        Ok(engine)
    }

    fn restore_project_pages(&mut self) -> Result<(), EngineError> {
        let Some(project) = self.config.project.clone() else {
            return Ok(());
        };
        let scope = Scope::Project(project);
        // An empty needle matches every page of the scope (a documented store contract).
        let ids = self.wb.store().search(&scope, "")?;
        for id in ids {
            if let Some(page) = self.wb.store().page(&id)? {
                let role = Role::System;
                self.table.insert(page)?;
                self.table.mark_clean(&id, self.version(&id))?;
                self.roles.insert(id.clone(), role);
                self.items.push(Item::Page { id, role, frame: 0 });
            }
        }
        Ok(())
    }

    fn version(&self, id: &PageId) -> u64 {
        self.table.get(id).map_or(0, Page::version)
    }

    /// Lets `summarizer` propose compressed and structured representations of tool results.
    /// A proposal enters only if it passes the evidence schema and invariants; otherwise the
    /// deterministic representation stays and the refusal is listed in
    /// [`Engine::summary_rejections`].
    #[must_use]
    pub fn with_summarizer(mut self, summarizer: Box<dyn Summarizer>) -> Self {
        self.summarizer = Some(summarizer);
        self
    }

    /// Summarizer proposals refused so far, with the reason.
    #[must_use]
    pub fn summary_rejections(&self) -> &[SummaryRejection] {
        &self.summary_rejections
    }

    /// Sets the clock the boundaries record (milliseconds since the Unix epoch). The engine
    /// never reads a clock itself, so replays are deterministic.
    pub fn set_now_ms(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
    }

    /// Faults observed so far.
    #[must_use]
    pub fn faults(&self) -> FaultCounts {
        self.faults
    }

    /// Degradation events that rewrote the prompt so far (cache-stable paging; 0 under the
    /// per-turn policies, whose every prompt may rewrite it).
    #[must_use]
    pub fn rewrites(&self) -> u64 {
        self.rewrites
    }

    /// The session's page table.
    #[must_use]
    pub fn pages(&self) -> &SessionPageTable {
        &self.table
    }

    /// The store behind the journal.
    #[must_use]
    pub fn store(&self) -> &S {
        self.wb.store()
    }

    fn new_id(&mut self, kind: &str) -> Result<PageId, EngineError> {
        let id = self.next_id(kind)?;
        self.next_seq += 1;
        Ok(id)
    }

    fn next_id(&self, kind: &str) -> Result<PageId, EngineError> {
        Ok(PageId::new(format!(
            "{}/{kind}{}",
            self.config.session,
            self.next_seq + 1
        ))?)
    }

    /// Pages `source` under the engine's next id of `kind`; the number is taken only when
    /// the builders accept the source.
    fn ingest_new(
        &mut self,
        kind: &str,
        source: &Source<'_>,
    ) -> Result<(PageId, Ingested), EngineError> {
        let id = self.next_id(kind)?;
        let page = self.builder.ingest(&id, source)?;
        self.next_seq += 1;
        Ok((id, page))
    }

    fn scope_for(&self, page_type: PageType) -> Scope {
        match (&self.config.project, page_type) {
            (Some(p), PageType::Bootstrap | PageType::Constraint | PageType::Preference) => {
                Scope::Project(p.clone())
            }
            _ => Scope::Session(self.config.session.clone()),
        }
    }

    fn insert_page(
        &mut self,
        id: PageId,
        page: Ingested,
        provenance: Provenance,
    ) -> Result<(), EngineError> {
        let page_type = page.page_type;
        let scope = self.scope_for(page_type);
        let page = Page::from_spec(page.into_spec(id, scope, provenance), &self.types)?;
        tracing::event!(
            name: "context.pagevm.ingest",
            tracing::Level::DEBUG,
            session = %self.config.session,
            turn = self.turn,
            page = %page.id(),
            page_type = %page_type,
            tokens_full = page.levels().get(Repr::Full).map_or(0, TokenCount::get),
            min_fidelity = %page.levels().min_fidelity(),
        );
        self.table.insert(page)?;
        Ok(())
    }

    fn add_page_item(&mut self, id: PageId, role: Role, frame: u32) {
        self.roles.insert(id.clone(), role);
        self.items.push(Item::Page { id, role, frame });
    }

    /// Adds rules: the system prompt (`Bootstrap`) or a constraint. They are hard-pinned and
    /// restored after every compaction and reset. A system prompt that states no rule is a
    /// conversation page of role `system` (`RepresentationBuilder::system_prompt`).
    ///
    /// # Errors
    /// [`EngineError::Build`] for a constraint without rules.
    pub fn add_rules(
        &mut self,
        kind: RulesKind,
        text: &str,
        source: &str,
    ) -> Result<PageId, EngineError> {
        let (id, page) = match kind {
            RulesKind::Bootstrap => {
                let span = self.next_id(PageType::Bootstrap.code())?;
                let source = Source::SystemPrompt {
                    text,
                    span: span.as_str(),
                    start_ms: Some(self.now_ms),
                };
                self.ingest_new(PageType::Bootstrap.code(), &source)?
            }
            RulesKind::Constraint => self.ingest_new(
                PageType::Constraint.code(),
                &Source::Constraint(Rules { text }),
            )?,
        };
        self.insert_page(
            id.clone(),
            page,
            Provenance::Import {
                source: source.to_owned(),
            },
        )?;
        self.add_page_item(id.clone(), Role::System, 0);
        Ok(id)
    }

    /// Adds the task plan. Its fields are staged for writeback, so later updates (a step
    /// appended, the current step moved) rebuild it from committed state.
    ///
    /// # Errors
    /// [`EngineError::Build`] for an empty goal or steps, or a current step out of range.
    pub fn add_plan(
        &mut self,
        goal: &str,
        steps: &[String],
        current: usize,
    ) -> Result<PageId, EngineError> {
        let (id, page) = self.ingest_new(
            "plan",
            &Source::Plan(PlanState {
                goal,
                steps,
                current,
            }),
        )?;
        self.insert_page(
            id.clone(),
            page,
            Provenance::Import {
                source: "plan".to_owned(),
            },
        )?;
        self.plans.insert(
            id.clone(),
            PlanCache {
                goal: goal.to_owned(),
                steps: steps.to_vec(),
                current,
            },
        );
        let scope = self.scope_for(PageType::Plan);
        for (field, value) in [
            ("goal", Value::from(goal)),
            ("steps", Value::from(steps.to_vec())),
            ("current_step", Value::from(current)),
            ("status", Value::from("active")),
        ] {
            let update = Update::new(
                id.clone(),
                FieldPath::new(field)?,
                Op::SetWithVersion {
                    expected: FieldVersion::ABSENT,
                },
                value.to_string(),
                scope.clone(),
                EvidenceRef::Page(id.clone()),
                self.config.principal.clone(),
            );
            self.wb.stage(update)?;
        }
        self.add_page_item(id.clone(), Role::System, 0);
        Ok(id)
    }

    /// Adds a preference the user stated.
    ///
    /// # Errors
    /// [`EngineError::Build`] for an empty key or value.
    pub fn add_preference(
        &mut self,
        key: &str,
        value: &str,
        source: &str,
    ) -> Result<PageId, EngineError> {
        let (id, page) = self.ingest_new(
            "pref",
            &Source::Preference(Preference { key, value, source }),
        )?;
        self.insert_page(
            id.clone(),
            page,
            Provenance::Import {
                source: source.to_owned(),
            },
        )?;
        self.add_page_item(id.clone(), Role::System, 0);
        Ok(id)
    }

    /// Records a user message; it is demanded in full by the next prompt.
    ///
    /// # Errors
    /// [`EngineError::Build`] when the builders refuse it.
    pub fn user_message(&mut self, text: &str) -> Result<PageId, EngineError> {
        let page = HarnessPage {
            id: self.new_id("msg")?,
            frame: TokenCount::ZERO,
        };
        self.user_message_as(page, text)
    }

    /// [`Engine::user_message`] under an id the harness chose. A harness that names its pages
    /// after its own durable ids (a database row, a migrated page) gets the same page back
    /// after a restart: a named page the store already holds in this session's scope is
    /// adopted as committed, not built or written again. The same applies to
    /// [`ModelOutput::page`] and [`ToolCallRequest::page`].
    ///
    /// # Errors
    /// [`EngineError::PageExists`] when the session already has the page,
    /// [`EngineError::NamedPageConflict`] when the store's page of that id is of another type
    /// or scope, [`EngineError::Build`] when the builders refuse the text.
    pub fn user_message_as(
        &mut self,
        page: HarnessPage,
        text: &str,
    ) -> Result<PageId, EngineError> {
        let id = self.conversation(page, "user", text)?;
        self.demands.insert(id.clone(), Repr::Full);
        Ok(id)
    }

    /// Takes a page the harness named from the store when the store holds it: `true` when it
    /// was adopted (and must not be built), `false` when it is new.
    fn adopt(&mut self, id: &PageId, page_type: PageType) -> Result<bool, EngineError> {
        if self.table.get(id).is_some() {
            return Err(EngineError::PageExists {
                page: id.to_string(),
            });
        }
        let Some(page) = self.wb.store().page(id)? else {
            return Ok(false);
        };
        let scope = self.scope_for(page_type);
        if page.page_type() != page_type || page.scope() != &scope {
            return Err(EngineError::NamedPageConflict {
                page: id.to_string(),
                reason: format!(
                    "the store holds it as {} in {}, the session would make it {page_type} in {scope}",
                    page.page_type(),
                    page.scope()
                ),
            });
        }
        let version = page.version();
        tracing::event!(
            name: "context.pagevm.adopt",
            tracing::Level::DEBUG,
            session = %self.config.session,
            turn = self.turn,
            page = %id,
            page_type = %page_type,
            version,
        );
        self.table.insert(page)?;
        self.table.mark_clean(id, version)?;
        Ok(true)
    }

    fn conversation(
        &mut self,
        page: HarnessPage,
        role: &str,
        text: &str,
    ) -> Result<PageId, EngineError> {
        let HarnessPage { id, frame } = page;
        let role_of_item = if role == "user" {
            Role::User
        } else {
            Role::Assistant
        };
        if self.adopt(&id, PageType::Conversation)? {
            self.add_page_item(id.clone(), role_of_item, frame.get());
            return Ok(id);
        }
        let message = MessageId::new(id.as_str())?;
        let page = self.builder.ingest(
            &id,
            &Source::Turn(ConversationTurn {
                role,
                text,
                span: (message.as_str(), message.as_str()),
                start_ms: Some(self.now_ms),
            }),
        )?;
        self.insert_page(
            id.clone(),
            page,
            Provenance::Transcript {
                first: message.clone(),
                last: message,
                start_ms: Some(self.now_ms),
                end_ms: None,
            },
        )?;
        self.add_page_item(id.clone(), role_of_item, frame.get());
        Ok(id)
    }

    /// `post_model`: records the model's response (its text as a conversation page, its tool
    /// calls as a pending evidence group) and stages its updates for the next boundary.
    ///
    /// # Errors
    /// [`EngineError::PendingToolResults`] while an earlier group still lacks results,
    /// [`EngineError::InvalidToolCall`] for a repeated
    /// call id, [`EngineError::Store`] when staging fails.
    pub fn post_model(&mut self, output: ModelOutput) -> Result<(), EngineError> {
        self.ensure_no_pending()?;
        let mut calls = Vec::with_capacity(output.tool_calls.len());
        let mut ids = BTreeSet::new();
        for (i, request) in output.tool_calls.into_iter().enumerate() {
            if !ids.insert(request.call_id.clone()) {
                return Err(EngineError::InvalidToolCall {
                    call_id: request.call_id.to_string(),
                    reason: "the call id repeats within the response".to_owned(),
                });
            }
            let signature = ToolSignature::of_call(&request.tool, &request.args_json);
            let overhead = match &request.page {
                Some(named) => named.frame.get(),
                None => {
                    let reasoning = if i == 0 {
                        output.thinking.as_slice()
                    } else {
                        &[]
                    };
                    self.count(&request.tool)
                        + self.count(&request.args_json)
                        + reasoning.iter().map(|t| self.count(t)).sum::<u32>()
                }
            };
            calls.push(GroupCall {
                request,
                signature,
                page: None,
                is_error: false,
                overhead,
                served: false,
            });
        }
        if let Some(text) = output.text.as_deref().filter(|t| !t.trim().is_empty()) {
            let page = match output.page {
                Some(page) => page,
                None => HarnessPage {
                    id: self.new_id("msg")?,
                    frame: TokenCount::ZERO,
                },
            };
            self.conversation(page, "assistant", text)?;
        }
        if !calls.is_empty() {
            self.items.push(Item::Group(Group {
                thinking: output.thinking,
                calls,
            }));
        }
        for update in output.updates {
            self.wb.stage(update)?;
        }
        Ok(())
    }

    fn count(&self, text: &str) -> u32 {
        self.builder.counter().count(text).get()
    }

    fn ensure_no_pending(&self) -> Result<(), EngineError> {
        let missing: Vec<String> = self
            .pending_group()
            .map(|g| {
                g.calls
                    .iter()
                    .filter(|c| c.page.is_none())
                    .map(|c| c.request.call_id.to_string())
                    .collect()
            })
            .unwrap_or_default();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(EngineError::PendingToolResults { missing })
        }
    }

    fn pending_group(&self) -> Option<&Group> {
        match self.items.last() {
            Some(Item::Group(g)) if g.calls.iter().any(|c| c.page.is_none()) => Some(g),
            _ => None,
        }
    }

    fn pending_call(&mut self, call_id: &ToolCallId) -> Result<&mut GroupCall, EngineError> {
        let unknown = || EngineError::UnknownToolCall {
            call_id: call_id.to_string(),
        };
        match self.items.last_mut() {
            Some(Item::Group(g)) => g
                .calls
                .iter_mut()
                .find(|c| &c.request.call_id == call_id)
                .ok_or_else(unknown),
            _ => Err(unknown()),
        }
    }

    /// `tool_execute`, before: whether the call must run. A repeated read-only call (the rules
    /// are in [`ReadOnlyTools`]) is served from the earlier result (re-paged from the page
    /// table or the store, never by re-running the tool), and the result is recorded for this
    /// call. The decision and its reason are the `tracing` event `context.pagevm.tool_decision`.
    ///
    /// # Errors
    /// [`EngineError::UnknownToolCall`] for a call not in the last response,
    /// [`EngineError::Store`] when the earlier result cannot be read.
    pub fn tool_before(&mut self, call_id: &ToolCallId) -> Result<ToolDecision, EngineError> {
        let call = self.pending_call(call_id)?;
        if let Some(page) = &call.page {
            return Ok(ToolDecision::Served {
                from: page.clone(),
                page: page.clone(),
                output: String::new(),
            });
        }
        let signature = call.signature.clone();
        let Some((from, output)) = self.reusable(call_id, &signature)? else {
            return Ok(ToolDecision::Run);
        };
        let is_error = self.is_error_result(&from);
        let page = self.record_result(
            call_id,
            &ToolOutput {
                output: output.clone(),
                is_error,
                exit_code: None,
            },
        )?;
        self.pending_call(call_id)?.served = true;
        Ok(ToolDecision::Served { from, page, output })
    }

    /// The earlier result (page and full text) that would answer call `call_id` of `tool`
    /// with `args_json` if it were made now, by the rules of [`tool_before`](Self::tool_before),
    /// without recording anything but the decision's event: for a harness that sees a call
    /// before it hands the engine the response that made it. The harness then reports the
    /// served text as the call's result.
    ///
    /// # Errors
    /// [`EngineError::Store`] when the earlier result cannot be read.
    pub fn stored_result(
        &self,
        call_id: &ToolCallId,
        tool: &str,
        args_json: &str,
    ) -> Result<Option<(PageId, String)>, EngineError> {
        self.reusable(call_id, &ToolSignature::of_call(tool, args_json))
    }

    /// A tool ran whose result the engine is given later (a harness that hands over a
    /// response and its results after the fact): one outside the read-only set may have
    /// changed what earlier reads returned, so none of them serves a call from now on.
    pub fn tool_ran(&mut self, tool: &str) {
        if !self.config.read_only_tools.contains(tool) {
            self.writes += 1;
        }
    }

    /// The earlier result that may answer a call with `signature`, the decision traced as
    /// `context.pagevm.tool_decision` with its reason.
    fn reusable(
        &self,
        call_id: &ToolCallId,
        signature: &ToolSignature,
    ) -> Result<Option<(PageId, String)>, EngineError> {
        let earlier = self.signatures.get(signature);
        let (reuse, served) = match earlier {
            _ if !self.config.read_only_tools.contains(signature.tool()) => {
                (Reuse::NotReadOnly, None)
            }
            None => (Reuse::New, None),
            Some((_, writes)) if *writes != self.writes => (Reuse::ChangedSince, None),
            Some((from, _)) => match self.full_text(from)? {
                Some(text) => (Reuse::Served, Some((from.clone(), text))),
                None => (Reuse::ResultGone, None),
            },
        };
        tracing::event!(
            name: "context.pagevm.tool_decision",
            tracing::Level::DEBUG,
            session = %self.config.session,
            turn = self.turn,
            call = %call_id,
            tool = signature.tool(),
            decision = if served.is_some() { "served" } else { "run" },
            reason = reuse.code(),
            from = earlier.map(|(p, _)| p.as_str()),
        );
        Ok(served)
    }

    fn is_error_result(&self, page: &PageId) -> bool {
        self.items.iter().any(|item| match item {
            Item::Group(g) => g
                .calls
                .iter()
                .any(|c| c.page.as_ref() == Some(page) && c.is_error),
            Item::Page { .. } => false,
        })
    }

    /// The full text of a page, from the table or else the store.
    fn full_text(&self, id: &PageId) -> Result<Option<String>, EngineError> {
        Ok(self
            .find_page(id)?
            .and_then(|p| p.representation(Repr::Full).map(|r| r.content().to_owned())))
    }

    /// Whether the page table or the store holds `id`.
    ///
    /// # Errors
    /// [`EngineError::Store`].
    pub fn holds(&self, id: &PageId) -> Result<bool, EngineError> {
        Ok(self.table.get(id).is_some() || self.wb.store().page(id)?.is_some())
    }

    /// A page from the table or else the store.
    fn find_page(&self, id: &PageId) -> Result<Option<std::borrow::Cow<'_, Page>>, EngineError> {
        if let Some(p) = self.table.get(id) {
            return Ok(Some(std::borrow::Cow::Borrowed(p)));
        }
        Ok(self.wb.store().page(id)?.map(std::borrow::Cow::Owned))
    }

    /// `tool_execute`, after: records the result of a call that ran. A call already served
    /// (or already recorded) that ran anyway is a `duplicate_tool` fault; its output is
    /// ignored and the recorded result kept.
    ///
    /// # Errors
    /// [`EngineError::UnknownToolCall`], [`EngineError::Build`].
    pub fn tool_after(
        &mut self,
        call_id: &ToolCallId,
        output: &ToolOutput,
    ) -> Result<PageId, EngineError> {
        let call = self.pending_call(call_id)?;
        if let Some(page) = call.page.clone() {
            self.record_fault(
                FaultKind::DuplicateTool,
                Some(&page),
                format!("call {call_id} ran although its result was already available"),
            );
            return Ok(page);
        }
        self.record_result(call_id, output)
    }

    fn record_result(
        &mut self,
        call_id: &ToolCallId,
        output: &ToolOutput,
    ) -> Result<PageId, EngineError> {
        let (tool, args_json, signature, named) = {
            let call = self.pending_call(call_id)?;
            (
                call.request.tool.clone(),
                call.request.args_json.clone(),
                call.signature.clone(),
                call.request.page.as_ref().map(|p| p.id.clone()),
            )
        };
        let id = match named {
            Some(id) => id,
            None => self.new_id("ev")?,
        };
        if !self.adopt(&id, PageType::Evidence)? {
            self.build_result(&id, call_id, &tool, &args_json, &signature, output)?;
        }
        if !self.config.read_only_tools.contains(&tool) {
            self.writes += 1;
        }
        self.signatures.insert(signature, (id.clone(), self.writes));
        self.demands.insert(id.clone(), Repr::Full);
        let call = self.pending_call(call_id)?;
        call.page = Some(id.clone());
        call.is_error = output.is_error;
        Ok(id)
    }

    fn build_result(
        &mut self,
        id: &PageId,
        call_id: &ToolCallId,
        tool: &str,
        args_json: &str,
        signature: &ToolSignature,
        output: &ToolOutput,
    ) -> Result<(), EngineError> {
        let mut page = self.builder.ingest(
            id,
            &Source::ToolResult(ToolResult {
                tool,
                args_json,
                output: &output.output,
                is_error: output.is_error,
                exit_code: output.exit_code,
            }),
        )?;
        if let Some(summarizer) = &self.summarizer {
            let proposal = summarizer.summarize(&SummaryInput {
                tool,
                args_json,
                output: &output.output,
                is_error: output.is_error,
            });
            let facts = EvidenceFacts {
                tool,
                is_error: output.is_error,
                paths: &page.listed_paths,
            };
            let refused = admit(
                id,
                proposal,
                &facts,
                &mut page.representations,
                &self.schemas,
                self.builder.counter(),
                summarizer.name(),
            );
            self.summary_rejections.extend(refused);
        }
        self.insert_page(
            id.clone(),
            page,
            Provenance::ToolCall {
                call_id: call_id.clone(),
                signature: signature.clone(),
            },
        )
    }

    /// The full text of a page of this session or its project, from the table or else the
    /// store, without demanding it: what a harness's `read_page` tool returns as a new result
    /// at the tail of the conversation, leaving the page where it is.
    ///
    /// # Errors
    /// [`EngineError::UnknownPage`] when neither holds it, [`EngineError::OutOfScope`] for a
    /// page of another session or project, [`EngineError::Store`].
    pub fn page_text(&self, page: &PageId) -> Result<String, EngineError> {
        let unknown = || EngineError::UnknownPage {
            page: page.to_string(),
        };
        let found = self.find_page(page)?.ok_or_else(unknown)?;
        let own = match found.scope() {
            Scope::Session(s) => s == &self.config.session,
            Scope::Project(p) => self.config.project.as_ref() == Some(p),
        };
        if !own {
            return Err(EngineError::OutOfScope {
                page: page.to_string(),
                scope: found.scope().to_string(),
            });
        }
        let text = found
            .representation(Repr::Full)
            .map(|r| r.content().to_owned())
            .ok_or_else(unknown)?;
        tracing::event!(
            name: "context.pagevm.page_in",
            tracing::Level::DEBUG,
            session = %self.config.session,
            turn = self.turn,
            page = %page,
            page_type = %found.page_type(),
            tokens_full = found.levels().get(Repr::Full).map_or(0, TokenCount::get),
        );
        Ok(text)
    }

    /// Pointer resolution: the full text of a page the agent asked to expand, re-paged from
    /// the table or the store, and demanded in full by the next prompt.
    ///
    /// # Errors
    /// [`EngineError::UnknownPage`] when neither holds it, [`EngineError::Store`].
    pub fn resolve(&mut self, page: &PageId) -> Result<String, EngineError> {
        let text = self
            .full_text(page)?
            .ok_or_else(|| EngineError::UnknownPage {
                page: page.to_string(),
            })?;
        if self.table.get(page).is_some() {
            self.demands.insert(page.clone(), Repr::Full);
        }
        Ok(text)
    }

    /// Demands a page at `level` (at least its minimum) in the next prompt.
    ///
    /// # Errors
    /// [`EngineError::UnknownPage`].
    pub fn demand(&mut self, page: &PageId, level: Repr) -> Result<(), EngineError> {
        if self.table.get(page).is_none() {
            return Err(EngineError::UnknownPage {
                page: page.to_string(),
            });
        }
        let slot = self.demands.entry(page.clone()).or_insert(Repr::None);
        *slot = (*slot).max(level);
        Ok(())
    }

    /// Drops the demands of everything ingested so far. A harness catching up on history it
    /// did not see live (a restart, a migrated session) ingests the old turns, calls this, and
    /// then ingests the newest turn: only that turn is demanded in full by the next prompt,
    /// not every message and result of the past.
    pub fn settle_demands(&mut self) {
        self.demands.clear();
        self.page_ins.clear();
    }

    /// Demands `page`, the result of a page-in (a harness's `read_page`), in full in the next
    /// prompt. The model asked for this text, so [`EngineConfig::fresh_result_share`] does not
    /// lower it; only the budget does.
    ///
    /// # Errors
    /// [`EngineError::UnknownPage`].
    pub fn demand_page_in(&mut self, page: &PageId) -> Result<(), EngineError> {
        self.demand(page, Repr::Full)?;
        self.page_ins.insert(page.clone());
        Ok(())
    }

    /// A memory lookup over committed pages of the session (or the project). Never silent:
    /// the outcome, hit or not, is recorded as a visible note in the next prompt.
    ///
    /// # Errors
    /// [`EngineError::Build`] if the note cannot be built.
    pub fn recall(&mut self, query: &str, scope: &Scope) -> Result<RecallOutcome, EngineError> {
        let outcome = self.wb.recall(&self.config.principal, scope, query);
        let note = match &outcome {
            RecallOutcome::Hit { pages } => format!(
                "recall {query:?}: {} page(s): {}",
                pages.len(),
                pages
                    .iter()
                    .map(PageId::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            other => format!("recall {query:?}: {}", describe_miss(other)),
        };
        let page = HarnessPage {
            id: self.new_id("msg")?,
            frame: TokenCount::ZERO,
        };
        let id = self.conversation(page, "user", &note)?;
        self.demands.insert(id, Repr::Full);
        if let RecallOutcome::Hit { pages } = &outcome {
            for p in pages {
                if self.table.get(p).is_some() {
                    self.demands.insert(p.clone(), Repr::None);
                }
            }
        }
        Ok(outcome)
    }

    /// `prompt_assemble`: the turn boundary's writeback, then the prompt for the next model
    /// call under `budget`.
    ///
    /// # Errors
    /// [`EngineError::PendingToolResults`] while a tool call lacks its result;
    /// [`EngineError::FlushMiss`] when the boundary cannot commit (nothing is lost: the
    /// state stays dirty in memory and the next boundary retries).
    pub fn prompt_assemble(&mut self, budget: TokenCount) -> Result<Assembly, EngineError> {
        let _span = tracing::debug_span!(
            "context.pagevm.prompt_assemble",
            session = %self.config.session,
            turn = self.turn,
            budget = budget.get(),
        )
        .entered();
        self.ensure_no_pending()?;
        self.boundary(Boundary::Turn)?;
        let slots = self.slots();
        let mut pages = Vec::with_capacity(slots.len());
        for slot in &slots {
            pages.push(self.live_page(slot)?);
        }
        let demands = self.expanded_demands(&slots, &pages, budget);
        let (mut levels, mut used, unmet) = match self.config.policy.paging {
            Paging::PerTurn => {
                let selection = select_live(&self.config.policy, &pages, &demands, budget, None)?;
                let mut levels = selection.levels;
                let mut used = selection.tokens.get();
                if self.config.stable_prefix {
                    self.keep_prefix(
                        &slots,
                        &pages,
                        &demands,
                        &mut levels,
                        &mut used,
                        budget.get(),
                    );
                }
                (levels, used, selection.unmet)
            }
            Paging::CacheStable(marks) => {
                let standing = self.standing(&slots, &pages, &demands, budget);
                let selection = select_stable(
                    &self.config.policy,
                    marks,
                    &pages,
                    &standing,
                    &demands,
                    budget.get(),
                )?;
                if selection.rewrote {
                    self.rewrites += 1;
                    tracing::event!(
                        name: "context.pagevm.degradation_event",
                        tracing::Level::DEBUG,
                        session = %self.config.session,
                        turn = self.turn,
                        budget = budget.get(),
                        tokens = selection.tokens,
                    );
                }
                (selection.levels, selection.tokens, selection.unmet)
            }
        };
        keep_groups_whole(&slots, &pages, &mut levels, &mut used, budget.get());
        let mut faults = Vec::new();
        self.observe(&slots, &pages, &levels, &mut faults);
        let unmet = unmet
            .iter()
            .map(|&(i, level)| (slots[i].page.clone(), level))
            .collect();
        self.assembled_items = self.items.len();
        let mut assembly = self.render(&slots, &pages, &levels, used, unmet, faults)?;
        if self.config.directory {
            assembly.directory = self.directory(&slots, &levels, budget.get(), used)?;
            if let Some(d) = &assembly.directory {
                assembly.tokens = TokenCount::new(used + d.tokens.get());
            }
        }
        tracing::event!(
            name: "context.pagevm.assemble",
            tracing::Level::DEBUG,
            session = %self.config.session,
            turn = self.turn,
            budget = budget.get(),
            tokens = assembly.tokens.get(),
            pages = assembly.placed.len(),
            prefix_churn = assembly.prefix_churn.get(),
            unmet = assembly.unmet.len(),
            faults = assembly.faults.len(),
        );
        self.age(&slots, &demands);
        self.turn += 1;
        Ok(assembly)
    }

    /// Each slot's level as it stands against the previous prompt: a page of an item that
    /// came after it is new and enters at its demanded level, or at the best level within the
    /// fresh result share; any other keeps the level it was sent at (`none` when left out).
    fn standing(
        &self,
        slots: &[Slot],
        pages: &[LivePage],
        demands: &[Demand],
        budget: TokenCount,
    ) -> Vec<Repr> {
        let previous = self.previous_levels();
        let demanded = demanded_levels(demands);
        let share = self.fresh_share(budget);
        slots
            .iter()
            .zip(pages)
            .map(|(slot, page)| {
                if slot.item < self.assembled_items {
                    return previous.get(&slot.page).copied().unwrap_or(Repr::None);
                }
                let levels = &page.levels;
                match demanded.get(&slot.page) {
                    Some(&level) => levels.at_least(level.max(levels.min_fidelity())).0,
                    None => within_share(levels, Repr::Full, share),
                }
            })
            .collect()
    }

    /// Each page of the previous prompt with the level it was sent at.
    fn previous_levels(&self) -> HashMap<&PageId, Repr> {
        self.last_prompt
            .iter()
            .map(|s| (&s.page, s.level))
            .collect()
    }

    /// Tokens a fresh result may take at its best level: the configured share of `budget`.
    fn fresh_share(&self, budget: TokenCount) -> u32 {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a share of a u32 budget, clamped to [0, 1]"
        )]
        let share =
            (f64::from(budget.get()) * self.config.fresh_result_share.clamp(0.0, 1.0)) as u32;
        share
    }

    /// Gives a page the selector degraded since the previous prompt its previous level back
    /// when the free budget, or pages after it degrading tail first, pay for it. A donor never
    /// goes below its minimum, its demanded level or out of the prompt, so pins, demands and
    /// groups are as the selector left them; pages left out are not brought back.
    fn keep_prefix(
        &self,
        slots: &[Slot],
        pages: &[LivePage],
        demands: &[Demand],
        levels: &mut [Repr],
        used: &mut u32,
        budget: u32,
    ) {
        let previous = self.previous_levels();
        let demanded = demanded_levels(demands);
        let cost = |k: usize, level: Repr| pages[k].levels.get(level).map_or(0, TokenCount::get);
        let floor = |k: usize| {
            let demand = demanded.get(&slots[k].page).copied().unwrap_or(Repr::None);
            pages[k]
                .levels
                .min_fidelity()
                .max(demand)
                .max(Repr::Pointer)
        };
        for i in 0..slots.len() {
            let Some(&before) = previous.get(&slots[i].page) else {
                continue;
            };
            if levels[i] == Repr::None
                || before <= levels[i]
                || pages[i].levels.get(before).is_none()
            {
                continue;
            }
            let extra = cost(i, before).saturating_sub(cost(i, levels[i]));
            let mut trial = levels.to_vec();
            let mut free = i64::from(budget) - i64::from(*used) - i64::from(extra);
            for j in (i + 1..slots.len()).rev() {
                while free < 0 && trial[j] != Repr::None && trial[j] > floor(j) {
                    let Some(lower) = pages[j].levels.degrade(trial[j]).filter(|&l| l >= floor(j))
                    else {
                        break;
                    };
                    free += i64::from(cost(j, trial[j]).saturating_sub(cost(j, lower)));
                    trial[j] = lower;
                }
                if free >= 0 {
                    break;
                }
            }
            if free >= 0 {
                trial[i] = before;
                levels.copy_from_slice(&trial);
                *used = u32::try_from(i64::from(budget) - free).unwrap_or(budget);
            }
        }
    }

    /// Every page that may enter the prompt, in item order, with where it sits.
    fn slots(&self) -> Vec<Slot> {
        let mut out = Vec::new();
        for (item, entry) in self.items.iter().enumerate() {
            match entry {
                Item::Page { id, frame, .. } => {
                    if self.table.get(id).is_some() {
                        out.push(Slot {
                            page: id.clone(),
                            item,
                            call: None,
                            overhead: *frame,
                        });
                    }
                }
                Item::Group(g) => {
                    for (k, c) in g.calls.iter().enumerate() {
                        if let Some(page) = &c.page {
                            out.push(Slot {
                                page: page.clone(),
                                item,
                                call: Some(k),
                                overhead: c.overhead,
                            });
                        }
                    }
                }
            }
        }
        out
    }

    fn live_page(&self, slot: &Slot) -> Result<LivePage, EngineError> {
        let page = self
            .table
            .get(&slot.page)
            .ok_or_else(|| EngineError::UnknownPage {
                page: slot.page.to_string(),
            })?;
        let levels = page.levels();
        let costs: BTreeMap<Repr, TokenCount> = levels
            .iter()
            .map(|(r, t)| (r, TokenCount::new(t.get().saturating_add(slot.overhead))))
            .collect();
        Ok(LivePage {
            id: slot.page.clone(),
            levels: LevelCosts::new(
                levels.page_type(),
                levels.path(),
                levels.min_fidelity(),
                &costs,
            )?,
            pin: page.pin(),
            base_utility: page.base_utility(),
            recompute_cost: page.recompute_cost(),
            recency: self.table.recency(&slot.page).unwrap_or(0.0),
        })
    }

    /// The demands of this prompt: a demanded tool result pulls its group's other results in
    /// at their minimum (a group is all or nothing), and a fresh demand for `full` that
    /// would take more than its share of the budget is lowered to the best level that fits.
    fn expanded_demands(
        &self,
        slots: &[Slot],
        pages: &[LivePage],
        budget: TokenCount,
    ) -> Vec<Demand> {
        let share = self.fresh_share(budget);
        let mut wanted: BTreeMap<usize, Repr> = BTreeMap::new();
        for (i, slot) in slots.iter().enumerate() {
            let Some(&level) = self.demands.get(&slot.page) else {
                continue;
            };
            let levels = &pages[i].levels;
            let level = levels.path().at_least(level.max(levels.min_fidelity()));
            let level = if self.page_ins.contains(&slot.page) {
                level
            } else {
                within_share(levels, level, share)
            };
            let slot_level = wanted.entry(i).or_insert(Repr::None);
            *slot_level = (*slot_level).max(level);
            if slot.call.is_some() {
                for (j, other) in slots.iter().enumerate() {
                    if other.item == slot.item && j != i {
                        let min = pages[j].levels.min_fidelity();
                        let e = wanted.entry(j).or_insert(Repr::None);
                        *e = (*e).max(min);
                    }
                }
            }
        }
        wanted
            .into_iter()
            .map(|(i, level)| Demand {
                page: slots[i].page.clone(),
                required_repr: Some(level),
            })
            .collect()
    }

    fn observe(
        &mut self,
        slots: &[Slot],
        pages: &[LivePage],
        levels: &[Repr],
        out: &mut Vec<ObservedFault>,
    ) {
        let mut found = Vec::new();
        for (i, slot) in slots.iter().enumerate() {
            let min = pages[i].levels.min_fidelity();
            if levels[i] >= min {
                continue;
            }
            if pages[i].levels.page_type() == PageType::Bootstrap && self.after_compaction {
                found.push((
                    FaultKind::PostCompactionBootstrap,
                    slot.page.clone(),
                    format!("bootstrap page below {min} after compaction"),
                ));
            } else if pages[i].pin == PinClass::Hard {
                found.push((
                    FaultKind::PinnedInvariantMiss,
                    slot.page.clone(),
                    format!("hard-pinned page below its minimum {min}"),
                ));
            }
        }
        self.after_compaction = false;
        for (kind, page, detail) in found {
            self.record_fault(kind, Some(&page), detail.clone());
            out.push(ObservedFault {
                kind,
                page: Some(page),
                detail,
            });
        }
    }

    fn record_fault(&mut self, kind: FaultKind, page: Option<&PageId>, detail: String) {
        self.faults.add(kind);
        // Best effort: a store that refuses the fault row still gets the count in memory.
        let _logged = self.wb.store().record_fault(&page_writeback::FaultRecord {
            session: self.config.session.clone(),
            kind,
            page: page.cloned(),
            tool_call: None,
            turn: u64::from(self.turn),
            time_ms: self.now_ms,
            detail,
        });
    }

    fn render(
        &mut self,
        slots: &[Slot],
        pages: &[LivePage],
        levels: &[Repr],
        used: u32,
        unmet: Vec<(PageId, Repr)>,
        faults: Vec<ObservedFault>,
    ) -> Result<Assembly, EngineError> {
        let mut messages: Vec<PromptMessage> = Vec::new();
        let mut placed = Vec::new();
        let mut now = Vec::new();
        for run in item_runs(slots) {
            let item = slots[run.start].item;
            let members: Vec<usize> = run.filter(|&k| levels[k] != Repr::None).collect();
            if members.is_empty() {
                continue;
            }
            for &k in &members {
                let cost = pages[k].levels.get(levels[k]).map_or(0, TokenCount::get);
                placed.push(Placed {
                    page: slots[k].page.clone(),
                    level: levels[k],
                    tokens: TokenCount::new(cost),
                });
                now.push(Shown {
                    page: slots[k].page.clone(),
                    level: levels[k],
                    tokens: cost,
                    full: pages[k].levels.get(Repr::Full).map_or(0, TokenCount::get),
                });
            }
            match &self.items[item] {
                Item::Page { id, role, .. } => {
                    let text = self.text(id, levels[members[0]])?;
                    messages.push(PromptMessage {
                        role: *role,
                        blocks: vec![Block::Text {
                            page: id.clone(),
                            level: levels[members[0]],
                            text,
                        }],
                    });
                }
                Item::Group(g) => {
                    let mut uses: Vec<Block> = g
                        .thinking
                        .iter()
                        .map(|t| Block::Thinking { text: t.clone() })
                        .collect();
                    let mut results = Vec::new();
                    for &k in &members {
                        let Some(c) = slots[k].call.and_then(|n| g.calls.get(n)) else {
                            continue;
                        };
                        uses.push(Block::ToolUse {
                            call_id: c.request.call_id.clone(),
                            tool: c.request.tool.clone(),
                            args_json: c.request.args_json.clone(),
                        });
                        results.push(Block::ToolResult {
                            call_id: c.request.call_id.clone(),
                            page: slots[k].page.clone(),
                            level: levels[k],
                            text: self.text(&slots[k].page, levels[k])?,
                            is_error: c.is_error,
                        });
                    }
                    messages.push(PromptMessage {
                        role: Role::Assistant,
                        blocks: uses,
                    });
                    messages.push(PromptMessage {
                        role: Role::User,
                        blocks: results,
                    });
                }
            }
        }
        let common = self
            .last_prompt
            .iter()
            .zip(&now)
            .take_while(|(a, b)| a == b)
            .count();
        let churn: u32 = self.last_prompt[common..].iter().map(|p| p.tokens).sum();
        self.audit_levels(&now);
        self.last_prompt = now;
        Ok(Assembly {
            turn: self.turn,
            messages,
            placed,
            tokens: TokenCount::new(used),
            prefix_churn: TokenCount::new(churn),
            unmet,
            faults,
            directory: None,
        })
    }

    /// The page directory of a prompt showing `slots` at `levels` with `used` of `budget`,
    /// within what is left and a tenth of the budget; `None` when nothing below full needs
    /// listing or nothing fits.
    fn directory(
        &mut self,
        slots: &[Slot],
        levels: &[Repr],
        budget: u32,
        used: u32,
    ) -> Result<Option<PromptDirectory>, EngineError> {
        for slot in slots {
            if self.specifics.contains_key(&slot.page) {
                continue;
            }
            let args = self.call_args(slot);
            let command = args
                .and_then(|a| serde_json::from_str::<Value>(a).ok())
                .and_then(|v| command_of(&v));
            let full = self.text(&slot.page, Repr::Full)?;
            let found = PageSpecifics::of(&full, command, args.unwrap_or_default());
            self.specifics.insert(slot.page.clone(), found);
        }
        let mut texts = Vec::with_capacity(slots.len());
        for (slot, &level) in slots.iter().zip(levels) {
            texts.push(match level {
                Repr::None => String::new(),
                l => self.text(&slot.page, l)?,
            });
        }
        let listings: Vec<Listing<'_>> = slots
            .iter()
            .zip(levels)
            .zip(&texts)
            .filter_map(|((slot, &level), text)| {
                Some(Listing {
                    page: slot.page.as_str(),
                    level: (level != Repr::None).then_some(level),
                    text,
                    specifics: self.specifics.get(&slot.page)?,
                })
            })
            .collect();
        let Some(directory) = Directory::of(&listings) else {
            return Ok(None);
        };
        let limit = budget.saturating_sub(used).min(budget / 10) as usize;
        Ok(directory
            .within(limit, |t| self.count(t) as usize)
            .map(|text| PromptDirectory {
                tokens: TokenCount::new(self.count(&text)),
                text,
            }))
    }

    /// The JSON arguments of the call whose result `slot` shows, if it is one.
    fn call_args(&self, slot: &Slot) -> Option<&str> {
        match &self.items[slot.item] {
            Item::Group(g) => slot
                .call
                .and_then(|n| g.calls.get(n))
                .map(|c| c.request.args_json.as_str()),
            Item::Page { .. } => None,
        }
    }

    /// Records every page whose level in `now` differs from the previous prompt (a page left
    /// out goes to `none`) as an audit row for the next boundary, and as the tracing event
    /// `context.pagevm.page_level`. A page placed for the first time is not a change.
    fn audit_levels(&mut self, now: &[Shown]) {
        let placed: HashMap<&PageId, (Repr, u32)> =
            now.iter().map(|s| (&s.page, (s.level, s.tokens))).collect();
        let mut changes = Vec::new();
        for before in &self.last_prompt {
            let (page, from) = (&before.page, before.level);
            let (to, tokens_after) = placed.get(page).copied().unwrap_or((Repr::None, 0));
            if to == from {
                continue;
            }
            let Some(found) = self.table.get(page) else {
                continue;
            };
            // Below the type's minimum is invariant pressure, not an ordinary degradation:
            // the minimum-fidelity set did not fit the budget.
            let reason = if to > from {
                "raised"
            } else if to < found.levels().min_fidelity() {
                "below_minimum"
            } else {
                "budget"
            };
            changes.push(ReprChange {
                page: page.clone(),
                page_type: found.page_type(),
                from,
                to,
                tokens_before: TokenCount::new(before.tokens),
                tokens_after: TokenCount::new(tokens_after),
                full_tokens: TokenCount::new(before.full),
                reason: reason.to_owned(),
            });
        }
        for shown in now {
            let Some(full) = self.left_out.remove(&shown.page) else {
                continue;
            };
            if let Some(found) = self.table.get(&shown.page) {
                changes.push(ReprChange {
                    page: shown.page.clone(),
                    page_type: found.page_type(),
                    from: Repr::None,
                    to: shown.level,
                    tokens_before: TokenCount::ZERO,
                    tokens_after: TokenCount::new(shown.tokens),
                    full_tokens: TokenCount::new(full),
                    reason: "raised".to_owned(),
                });
            }
        }
        for change in changes {
            if change.to == Repr::None {
                self.left_out
                    .insert(change.page.clone(), change.full_tokens.get());
            }
            self.record_level_change(change);
        }
    }

    /// Records a representation change: an audit row committed at the next boundary, and the
    /// tracing event `context.pagevm.page_level` with the same fields. The engine records its
    /// own pages' changes; a harness records here what it sends outside the engine's pages
    /// (a system prompt it renders itself, cut to fit the budget), so the audit holds every
    /// change a request made, under one event name.
    pub fn record_level_change(&mut self, change: ReprChange) {
        tracing::event!(
            name: "context.pagevm.page_level",
            tracing::Level::DEBUG,
            session = %self.config.session,
            turn = self.turn,
            page = %change.page,
            page_type = %change.page_type,
            level_before = %change.from,
            level_after = %change.to,
            tokens_before = change.tokens_before.get(),
            tokens_after = change.tokens_after.get(),
            full_tokens = change.full_tokens.get(),
            reason = %change.reason,
        );
        self.pending_audit.push(change);
    }

    fn text(&self, page: &PageId, level: Repr) -> Result<String, EngineError> {
        self.table
            .get(page)
            .and_then(|p| p.representation(level))
            .map(|r| r.content().to_owned())
            .ok_or_else(|| EngineError::UnknownPage {
                page: page.to_string(),
            })
    }

    /// Recency as the replay engine updates it: every page decays, demanded pages are bumped.
    fn age(&mut self, slots: &[Slot], demands: &[Demand]) {
        let w = &self.config.policy.weights;
        self.table.decay_recency(w.recency_decay, w.recency_floor);
        let bump = w.recency_bump;
        for d in demands {
            if let Some(r) = self.table.recency(&d.page) {
                let _set = self.table.set_recency(&d.page, r + bump);
            }
        }
        let _ = slots;
        self.demands.clear();
        self.page_ins.clear();
    }

    /// Commits a boundary and rebuilds pages whose fields changed.
    fn boundary(&mut self, boundary: Boundary) -> Result<BoundaryReport, EngineError> {
        let context = BoundaryContext {
            boundary,
            turn: u64::from(self.turn),
            time_ms: self.now_ms,
        };
        let audit = self.pending_audit.len();
        let mut report =
            match self
                .wb
                .commit_boundary(context, &mut self.table, self.pending_audit.clone())
            {
                Ok(report) => {
                    self.pending_audit.clear();
                    report
                }
                Err(miss) => return Err(self.flush_miss(miss)),
            };
        if self.rebuild_updated(&report)? {
            // The rebuilt representations are part of what this boundary must make durable.
            match self
                .wb
                .commit_boundary(context, &mut self.table, Vec::new())
            {
                Ok(rebuilt) => report.pages.extend(rebuilt.pages),
                Err(miss) => return Err(self.flush_miss(miss)),
            }
        }
        tracing::event!(
            name: "context.pagevm.commit",
            tracing::Level::DEBUG,
            session = %self.config.session,
            boundary = %boundary,
            turn = self.turn,
            seq = report.seq.get(),
            pages = report.pages.len(),
            updates = report.committed.len(),
            rejected = report.rejected.len(),
            audit_rows = audit,
        );
        Ok(report)
    }

    /// Counts and reports a boundary that could not commit; nothing was dropped.
    fn flush_miss(&mut self, miss: FlushMiss) -> EngineError {
        self.faults.add(FaultKind::FlushMiss);
        tracing::event!(
            name: "context.pagevm.flush_miss",
            tracing::Level::WARN,
            session = %self.config.session,
            boundary = %miss.boundary,
            turn = self.turn,
            pending_updates = miss.pending,
            dirty_pages = miss.dirty_pages,
            audit_rows = self.pending_audit.len(),
            reason = %miss.reason,
        );
        EngineError::FlushMiss(Box::new(miss))
    }

    /// Rebuilds plans whose committed fields changed; returns whether any page changed.
    fn rebuild_updated(&mut self, report: &BoundaryReport) -> Result<bool, EngineError> {
        if report.committed.is_empty() {
            return Ok(false);
        }
        let mut changed = false;
        let plan_ids: Vec<PageId> = self.plans.keys().cloned().collect();
        for id in plan_ids {
            let fields = self.wb.store().fields(&id)?;
            let Some(cache) = self.plans.get(&id).cloned() else {
                continue;
            };
            let get = |name: &str| {
                FieldPath::new(name)
                    .ok()
                    .and_then(|p| fields.get(&p).map(|f| f.value.clone()))
            };
            let goal = get("goal")
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or(cache.goal.clone());
            let steps: Vec<String> = get("steps")
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or(cache.steps.clone());
            let current = get("current_step")
                .and_then(|v| v.as_u64())
                .and_then(|c| usize::try_from(c).ok())
                .unwrap_or(cache.current)
                .min(steps.len().saturating_sub(1));
            if goal == cache.goal && steps == cache.steps && current == cache.current {
                continue;
            }
            let reprs = self.builder.plan(
                &id,
                &PlanState {
                    goal: &goal,
                    steps: &steps,
                    current,
                },
            )?;
            self.table.update(&id, reprs)?;
            self.specifics.remove(&id);
            changed = true;
            self.plans.insert(
                id,
                PlanCache {
                    goal,
                    steps,
                    current,
                },
            );
        }
        Ok(changed)
    }

    /// `compaction`: a write barrier, then the compaction's effect on residency: `micro`
    /// cools tool results, `soft` cools everything that is not pinned, `hard` also forgets
    /// all recency. Rules are restored by the next prompt (they are required), and the next
    /// prompt checks that every bootstrap page made it back.
    ///
    /// # Errors
    /// [`EngineError::PendingToolResults`], [`EngineError::FlushMiss`] (nothing is dropped).
    pub fn compaction(&mut self, kind: CompactionKind) -> Result<BoundaryReport, EngineError> {
        self.ensure_no_pending()?;
        let report = self.boundary(Boundary::Compaction(kind))?;
        let ids: Vec<(PageId, PageType, PinClass)> = self
            .table
            .iter()
            .map(|p| (p.id().clone(), p.page_type(), p.pin()))
            .collect();
        for (id, page_type, pin) in ids {
            let cool = match kind {
                CompactionKind::Micro => page_type == PageType::Evidence,
                CompactionKind::Soft | CompactionKind::Hard => pin != PinClass::Hard,
            };
            if cool {
                let r = self.table.recency(&id).unwrap_or(0.0);
                let next = if kind == CompactionKind::Hard {
                    0.0
                } else {
                    r / 2.0
                };
                self.table.set_recency(&id, next)?;
            }
        }
        self.after_compaction = true;
        Ok(report)
    }

    /// `reset` (`/new`, `/clear`): a write barrier, then the session's conversation, tool
    /// results and plan leave the working set (they stay in the store). Rules and
    /// preferences stay.
    ///
    /// # Errors
    /// [`EngineError::FlushMiss`]: the reset does not happen and nothing is dropped.
    pub fn reset(&mut self) -> Result<BoundaryReport, EngineError> {
        let report = self.boundary(Boundary::Reset)?;
        let keep = |t: PageType| {
            matches!(
                t,
                PageType::Bootstrap | PageType::Constraint | PageType::Preference
            )
        };
        let mut table = SessionPageTable::new();
        for p in self.table.iter() {
            if keep(p.page_type()) {
                table.insert(p.clone())?;
                table.mark_clean(p.id(), p.version())?;
            }
        }
        self.table = table;
        self.items.retain(|item| match item {
            Item::Page { id, .. } => self.table.get(id).is_some(),
            Item::Group(_) => false,
        });
        self.plans.clear();
        self.demands.clear();
        self.page_ins.clear();
        self.assembled_items = 0;
        self.after_compaction = true;
        Ok(report)
    }

    /// `session_end`: the last write barrier. Returns the store.
    ///
    /// # Errors
    /// [`EngineError::FlushMiss`], with the engine given back so nothing is lost.
    pub fn session_end(mut self) -> Result<(BoundaryReport, S), Box<(EngineError, Self)>> {
        match self.boundary(Boundary::SessionEnd) {
            Ok(report) => Ok((report, self.wb.into_store())),
            Err(e) => Err(Box::new((e, self))),
        }
    }
}

/// Where a page sits: its item and, for a tool result, its call within the group.
#[derive(Debug, Clone)]
struct Slot {
    page: PageId,
    item: usize,
    call: Option<usize>,
    overhead: u32,
}

/// A group is all or nothing: when some results of a group are in and others are not, the
/// missing ones come in at their minimum if that fits, otherwise the group leaves.
fn keep_groups_whole(
    slots: &[Slot],
    pages: &[LivePage],
    levels: &mut [Repr],
    used: &mut u32,
    budget: u32,
) {
    for range in item_runs(slots) {
        let (i, end) = (range.start, range.end);
        if slots[i].call.is_some() {
            let present = range.clone().filter(|&k| levels[k] != Repr::None).count();
            if present > 0 && present < end - i {
                let missing: u32 = range
                    .clone()
                    .filter(|&k| levels[k] == Repr::None)
                    .map(|k| {
                        let min = pages[k].levels.min_fidelity();
                        pages[k].levels.get(min).map_or(0, TokenCount::get)
                    })
                    .sum();
                if used.saturating_add(missing) <= budget {
                    for k in range {
                        if levels[k] == Repr::None {
                            levels[k] = pages[k].levels.min_fidelity();
                        }
                    }
                    *used += missing;
                } else {
                    for k in range {
                        let cost = pages[k].levels.get(levels[k]).map_or(0, TokenCount::get);
                        *used -= cost;
                        levels[k] = Repr::None;
                    }
                }
            }
        }
    }
}

/// Each demanded page with the level demanded (`none`: at its minimum).
fn demanded_levels(demands: &[Demand]) -> HashMap<&PageId, Repr> {
    demands
        .iter()
        .map(|d| (&d.page, d.required_repr.unwrap_or(Repr::None)))
        .collect()
}

/// `level`, lowered step by step while it costs more than `share`, never below the minimum.
fn within_share(levels: &LevelCosts, level: Repr, share: u32) -> Repr {
    let mut level = level;
    while levels.get(level).is_some_and(|c| c.get() > share) {
        match levels.degrade(level) {
            Some(lower) if lower >= levels.min_fidelity() => level = lower,
            _ => break,
        }
    }
    level
}

/// The runs of consecutive slots that belong to one item (a page, or one group's results).
fn item_runs(slots: &[Slot]) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        let item = slots.get(start)?.item;
        let end = slots[start..]
            .iter()
            .position(|s| s.item != item)
            .map_or(slots.len(), |n| start + n);
        let run = start..end;
        start = end;
        Some(run)
    })
}

fn describe_miss(outcome: &RecallOutcome) -> String {
    match outcome {
        RecallOutcome::Hit { pages } => format!("{} page(s)", pages.len()),
        RecallOutcome::NoMatch => "no committed page matches".to_owned(),
        RecallOutcome::Denied { reason } => format!("denied: {reason}"),
        RecallOutcome::BackendError { reason } => format!("memory backend failed: {reason}"),
    }
}
