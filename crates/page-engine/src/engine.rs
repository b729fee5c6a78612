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
    Page, PageId, ProjectId, Repr, Scope, SessionId, SessionPageTable, TokenCounter, ToolSignature,
    TypeTable,
};
use page_policy::{FaultCounts, PolicyConfig, PolicyId};
use page_writeback::{AccessControl, FieldSchemas, PrincipalId, ReprChange, Store, Writeback};

use crate::assembly::Role;
use crate::build::{BuildConfig, RepresentationBuilder};
use crate::error::EngineError;
use crate::reuse::ReadOnlyTools;
use crate::specifics::PageSpecifics;
use crate::summarize::{Summarizer, SummaryRejection};

use self::live::LiveSet;

mod audit;
mod boundary;
mod conversation;
mod hooks;
mod live;
mod prompt;
mod recall;
mod select;
mod tools;

pub use self::hooks::{HarnessPage, ModelOutput, ToolCallRequest, ToolDecision, ToolOutput};

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
    /// events, see [`Paging::CacheStable`](page_policy::Paging::CacheStable)); the paper's per-turn policies re-decide every
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
    /// Whether each prompt carries a page directory ([`Assembly::directory`](crate::Assembly::directory)): what pages
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

/// A page as one prompt showed it: its level and what it cost there, and what it would cost
/// at full (the audit's three sizes, all counted as the selector counts a page in the prompt).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    page: PageId,
    level: Repr,
    tokens: u32,
    full: u32,
}

/// A plan's state as last built, to rebuild it from committed field updates.
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
    /// The prompt's pages compiled once, between prompts.
    live: LiveSet,
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
            live: LiveSet::default(),
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

    fn count(&self, text: &str) -> u32 {
        self.builder.counter().count(text).get()
    }
}
