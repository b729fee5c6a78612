//! Side by side on the same histories: recorded sessions (page-import) converted to Zeph
//! messages, replayed turn by turn through Zeph's deterministic paths, the adapter and the
//! engine-backed session, every request counted by one [`Observer`] (what the model would
//! have seen before each recorded model message, measured against the history).

use std::collections::{BTreeMap, BTreeSet};

use page_policy::{CacheMode, PolicyConfig, PolicyId, Pricing};
use page_writeback::MemoryStore;
use zeph_context::budget::ContextBudget;
use zeph_context::manager::ContextManager;
use zeph_context::typed_page::PageType as ZephPageType;
use zeph_llm::provider::{Message, Role};

use crate::AdapterError;
use crate::compactor::{AdapterConfig, PagedCompactor};
use crate::convert::{UnitKind, structure};
use crate::measure::{Cost, Quality};
use crate::observer::Observer;
use crate::session::{PagedSession, SessionConfig};
use crate::tokens::ZephTokens;
use crate::zeph_paths::{ZephPaths, zeph_classify};

pub use self::history::{History, observed_turns, session_to_messages};
pub use self::tables::{json, labelled_table, table, table_of, total};

mod history;
mod tables;

/// Which path produced a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strategy {
    /// Zeph 0.21.4's deterministic paths.
    Zeph,
    /// The pagevm adapter.
    Pagevm,
    /// `PagedSession`: the lifecycle engine over an in-memory store.
    Session,
}

impl Strategy {
    /// The name rows carry in tables.
    fn title(self) -> &'static str {
        match self {
            Self::Zeph => "Zeph 0.21.4",
            Self::Pagevm => "pagevm adapter",
            Self::Session => "pagevm session",
        }
    }

    /// The `path` of JSON rows.
    fn code(self) -> &'static str {
        match self {
            Self::Zeph => "zeph",
            Self::Pagevm => "pagevm",
            Self::Session => "session",
        }
    }
}

/// Counts for one strategy over one or more histories.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// Model messages observed.
    pub turns: usize,
    /// Hits, page-ins and faults of the specifics model messages used, and edit anchors.
    pub quality: Quality,
    /// Billed input of the requests.
    pub cost: Cost,
    /// Of `quality.faults`, those in turns whose minimum-fidelity set (the system prompt and verbatim
    /// messages, and the newest message at its smallest level) fits the budget: the faults a
    /// policy controls. The rest are physical insufficiency (the ClawVM paper's split).
    pub controllable_faults: usize,
    /// Turns whose minimum-fidelity set does not fit the budget.
    pub insufficient_turns: usize,
    /// Orphaned tool parts the path introduced (not orphaned in the uncompacted history),
    /// summed over the contexts: what the path itself makes a provider reject.
    pub orphaned_pairs: usize,
    /// Orphaned tool parts of the recorded history itself that reached the context as tool
    /// parts (the adapter renders them as text; Zeph passes them through).
    pub input_orphans_sent: usize,
    /// Contexts over the budget.
    pub over_budget: usize,
    /// Requests in which something the path sends as it is (system prompt, verbatim and
    /// memory messages) gave way so that the newest request fits.
    pub gave_way: usize,
    /// Sum of context tokens (for the mean).
    pub tokens_sum: usize,
    /// Largest context.
    pub tokens_max: usize,
    /// Specific-in-context checks (paths and commands seen so far), and how many held.
    pub retention_checks: usize,
    /// Of `retention_checks`, how many were present.
    pub retained: usize,
    /// Messages Zeph's typed-page classifier types differently from their structure (a tool
    /// result as a conversation turn or as system context).
    pub misclassified: usize,
    /// Tool results degraded below full and checked against Zeph's `ToolOutput` invariant.
    pub invariant_checks: usize,
    /// Of `invariant_checks`, how many Zeph's invariant rejected.
    pub invariant_violations: usize,
}

impl Counts {
    /// Mean context tokens.
    #[must_use]
    pub fn tokens_mean(&self) -> f64 {
        if self.turns == 0 {
            0.0
        } else {
            self.tokens_sum as f64 / self.turns as f64
        }
    }

    /// Retention of paths and commands, in [0, 1].
    #[must_use]
    pub fn retention(&self) -> f64 {
        if self.retention_checks == 0 {
            1.0
        } else {
            self.retained as f64 / self.retention_checks as f64
        }
    }

    fn add(&mut self, o: &Counts) {
        self.turns += o.turns;
        self.quality.add(&o.quality);
        self.cost.add(&o.cost);
        self.controllable_faults += o.controllable_faults;
        self.insufficient_turns += o.insufficient_turns;
        self.orphaned_pairs += o.orphaned_pairs;
        self.input_orphans_sent += o.input_orphans_sent;
        self.over_budget += o.over_budget;
        self.gave_way += o.gave_way;
        self.tokens_sum += o.tokens_sum;
        self.tokens_max = self.tokens_max.max(o.tokens_max);
        self.retention_checks += o.retention_checks;
        self.retained += o.retained;
        self.misclassified += o.misclassified;
        self.invariant_checks += o.invariant_checks;
        self.invariant_violations += o.invariant_violations;
    }
}

/// Knobs of a side-by-side run.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareConfig {
    /// Zeph's `max_tokens` (the context budget).
    pub budget: usize,
    /// When set, the budget of each history is this share of its full token count (at least
    /// `budget`), so every history is under the same relative pressure.
    pub budget_ratio: Option<f64>,
    /// `[memory.microcompact]`: idle gap in minutes and `keep_recent`.
    pub gap_minutes: u64,
    /// Outputs kept by microcompact.
    pub keep_recent: usize,
    /// When set, every turn counts as idle (the microcompact sweep runs each turn).
    pub idle_every_turn: bool,
    /// `compaction_preserve_tail`.
    pub preserve_tail: usize,
    /// Whether the adapter renders its page directory.
    pub directory: bool,
    /// How requests are billed.
    pub pricing: Pricing,
    /// How the cached prefix is found.
    pub cache_mode: CacheMode,
    /// The engine-backed session's paging policy (page-engine's default, `cache_stable`).
    pub session_policy: PolicyConfig,
    /// Whether the engine-backed session sends its page directory
    /// (`EngineConfig::directory`).
    pub session_directory: bool,
}

impl Default for CompareConfig {
    fn default() -> Self {
        Self {
            budget: 4_000,
            budget_ratio: None,
            gap_minutes: 60,
            keep_recent: 3,
            idle_every_turn: false,
            preserve_tail: 6,
            directory: true,
            pricing: Pricing::ANTHROPIC_5M,
            cache_mode: CacheMode::Lcp,
            session_policy: PolicyConfig::preset(PolicyId::CacheStable),
            session_directory: false,
        }
    }
}

impl CompareConfig {
    /// The engine-backed session's configuration: conversation 1 under `session_policy`.
    ///
    /// # Errors
    /// As [`SessionConfig::new`].
    pub fn session_config(&self) -> Result<SessionConfig, AdapterError> {
        let mut config = SessionConfig::new(1)?;
        config.engine.policy = self.session_policy;
        config.engine.directory = self.session_directory;
        Ok(config)
    }

    /// The adapter configuration matching these knobs.
    #[must_use]
    pub fn adapter(&self) -> AdapterConfig {
        AdapterConfig {
            preserve_tail: self.preserve_tail,
            microcompact_gap_minutes: self.gap_minutes,
            microcompact_keep_recent: self.keep_recent,
            directory: self.directory,
            ..AdapterConfig::default()
        }
    }

    /// Zeph's context manager with these knobs.
    #[must_use]
    pub fn manager(&self) -> ContextManager {
        let mut manager = ContextManager::new();
        manager.budget = Some(ContextBudget::new(self.budget, 0.0));
        manager.compaction_preserve_tail = self.preserve_tail;
        manager
    }

    /// The adapter's assembly budget: Zeph's hard threshold (0.90) of `budget`.
    #[must_use]
    pub fn view_budget(&self) -> usize {
        self.budget * 9 / 10
    }

    /// Idle minutes before message `i`, from the recorded times (or every turn idle).
    #[must_use]
    pub fn idle_minutes(&self, times: &[Option<i64>], i: usize) -> u64 {
        if self.idle_every_turn {
            return self.gap_minutes;
        }
        let at = times.get(i).copied().flatten();
        let before = times[..i.min(times.len())].iter().rev().find_map(|t| *t);
        match (before, at) {
            (Some(a), Some(b)) if b > a => u64::try_from((b - a) / 60_000).unwrap_or(0),
            _ => 0,
        }
    }
}

/// Zeph's typed-page classification of every tool-result message of `messages`, against its
/// structure: how many are not typed `ToolOutput`.
fn misclassified(messages: &[Message]) -> usize {
    let s = structure(messages);
    s.units
        .iter()
        .filter(|u| u.kind == UnitKind::ToolGroup)
        .flat_map(|u| u.calls.iter().map(|c| c.result_at.0))
        .collect::<BTreeSet<usize>>()
        .into_iter()
        .filter(|&i| zeph_classify(&messages[i]) != ZephPageType::ToolOutput)
        .count()
}

/// Replays one history through both strategies. Contexts are observed before every
/// assistant message.
///
/// # Errors
/// [`AdapterError`] when the adapter fails on the history.
pub fn compare(
    messages: &[Message],
    times: &[Option<i64>],
    config: &CompareConfig,
) -> Result<BTreeMap<Strategy, Counts>, AdapterError> {
    compare_with(&ZephTokens::new(), messages, times, config)
}

impl CompareConfig {
    /// This configuration with the budget fixed for `messages` (applies `budget_ratio`).
    #[must_use]
    pub fn for_history(&self, tokens: &ZephTokens, messages: &[Message]) -> Self {
        let mut c = self.clone();
        if let Some(r) = self.budget_ratio {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss,
                reason = "a share of a token count, rounded down"
            )]
            let b = (tokens.context(messages) as f64 * r) as usize;
            c.budget = b.max(self.budget);
            c.budget_ratio = None;
        }
        c
    }
}

/// [`compare`] with a shared counter.
///
/// # Errors
/// [`AdapterError`] when the adapter fails on the history.
pub fn compare_with(
    tokens: &ZephTokens,
    messages: &[Message],
    times: &[Option<i64>],
    config: &CompareConfig,
) -> Result<BTreeMap<Strategy, Counts>, AdapterError> {
    let tokens = tokens.clone();
    let config = &config.for_history(&tokens, messages);
    let mut zeph = ZephPaths::new(
        config.manager(),
        tokens.clone(),
        config.keep_recent,
        config.gap_minutes,
    );
    let mut adapter = PagedCompactor::with_tokens(config.adapter(), tokens.clone())?;
    let mut session =
        PagedSession::start(MemoryStore::new(), tokens.clone(), config.session_config()?)?;
    let mut observer = Observer::new(&tokens, config)?;
    let mut zeph_msgs: Vec<Message> = Vec::new();
    for (i, msg) in messages.iter().enumerate() {
        let at = times.get(i).copied().flatten();
        let idle = config.idle_minutes(times, i);
        let now_ts = at.unwrap_or(0) / 1000;
        if msg.role == Role::Assistant && i > 0 {
            // Zeph: the pipeline runs on its in-place vector; the request is that vector after
            // prepare_context's trim.
            let mut t = zeph.turn(&mut zeph_msgs, idle, now_ts);
            let request = zeph.request(&zeph_msgs, &mut t);
            observer.request(Strategy::Zeph, messages, i, &request, at)?;
            // pagevm: the full history stays; the view is assembled under Zeph's hard
            // threshold, so it does not trigger Zeph's hard tier, with the headroom up to the
            // budget left to required pages that do not fit under it.
            adapter.microcompact(&messages[..i], idle);
            let view = adapter.assemble_within(
                &messages[..i],
                config.view_budget(),
                config.budget,
                now_ts,
            )?;
            observer.request(Strategy::Pagevm, messages, i, &view.messages, at)?;
            // The session: the whole budget is the engine's, and what it sends as it is gives
            // way before a request goes over it.
            let prompt = session.assemble(&messages[..i], config.budget, now_ts)?;
            observer
                .request(Strategy::Session, messages, i, &prompt.messages, at)?
                .gave_way += usize::from(!prompt.pressure.is_empty());
        }
        observer.advance(msg);
        zeph_msgs.push(msg.clone());
    }
    let mut out = observer.finish();
    // pagevm types by structure, so only Zeph's prefix classifier can misclassify.
    if let Some(z) = out.get_mut(&Strategy::Zeph) {
        z.misclassified = misclassified(messages);
    }
    Ok(out)
}
