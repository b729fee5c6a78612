//! The four seeded workload families of the Tier-2 sweep, designed from the paper (§8, §11.1).
//!
//! The artifact's generators are unpublished; `docs/evaluation.md` gives the design and its
//! reasons. In short, every family shares one page vocabulary (sizes proportional to the
//! 120–500 token budgets) and one agent model (tool calls that create evidence, temporal
//! locality in re-references, occasional re-runs of an earlier call), and they differ in what
//! dominates: tool-result churn, compactions, resets with dirty state, or several sessions
//! sharing project pages.
//!
//! Two rules hold for every family and are checked by tests:
//! - The minimum-fidelity set (hard pins at their minimum plus the turn's demands) never
//!   exceeds [`MIN_SET_CAP`] tokens, below the smallest budget, as in the paper where ClawVM has
//!   zero faults at every budget. Each demand is degraded toward the page's minimum, or
//!   dropped, until it fits.
//! - Bootstrap and constraint pages are never demanded by the agent: restoring them is the
//!   harness's job, which is exactly what the post-compaction bootstrap fault measures.

use page_core::{
    PageId, PageType, PinClass, Repr, ScopeKind, SessionId, TokenCount, ToolSignature,
};
use page_policy::{
    Demand, LevelTokens, LifecycleEvent, Recall, ToolCall, WORKLOAD_SCHEMA_VERSION, Workload,
    WorkloadPage, WorkloadTurn,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::error::EvalError;

pub use self::kinds::scaled_workload;
use self::kinds::{compaction_heavy, evidence_heavy, multi_session, reset_heavy};

mod kinds;

/// The largest minimum-fidelity set a generated turn may have, in tokens. Below the smallest
/// sweep budget (120) with a margin, so the minimum-fidelity set fits every sweep budget for
/// the policies that run at the full budget.
pub const MIN_SET_CAP: u32 = 112;

/// The probability that a tool call repeats an earlier call of the session (re-reading a file,
/// re-running a test) instead of making a new one. One agent model for every family.
pub const RERUN_RATE: f64 = 0.25;

/// The master seed; each family derives its own from it and its index.
pub const MASTER_SEED: u64 = 0x00C1_A3F0_2604_1035;

/// A workload family of the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// Tool-result churn and re-reference.
    EvidenceHeavy,
    /// Policies and constraints under frequent compactions.
    CompactionHeavy,
    /// Dirty plans and preferences, frequent resets.
    ResetHeavy,
    /// Project-scoped pages shared across four sessions.
    MultiSession,
}

impl Family {
    /// Every family, in sweep order.
    pub const ALL: [Family; 4] = [
        Family::EvidenceHeavy,
        Family::CompactionHeavy,
        Family::ResetHeavy,
        Family::MultiSession,
    ];

    /// The family id used in workload ids and summaries.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Family::EvidenceHeavy => "evidence_heavy",
            Family::CompactionHeavy => "compaction_heavy",
            Family::ResetHeavy => "reset_heavy",
            Family::MultiSession => "multi_session",
        }
    }

    const fn index(self) -> u64 {
        match self {
            Family::EvidenceHeavy => 0,
            Family::CompactionHeavy => 1,
            Family::ResetHeavy => 2,
            Family::MultiSession => 3,
        }
    }

    /// The family's seed: fixed, so every run replays the same workload.
    #[must_use]
    pub const fn seed(self) -> u64 {
        MASTER_SEED ^ (self.index().wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
}

/// Generates the workload of `family` from `seed`. Same arguments, same workload.
///
/// # Errors
/// [`EvalError::Generate`] if an id or signature the generator builds is rejected (a bug).
pub fn generate(family: Family, seed: u64) -> Result<Workload, EvalError> {
    let mut g = Gen::new(family, seed);
    match family {
        Family::EvidenceHeavy => evidence_heavy(&mut g)?,
        Family::CompactionHeavy => compaction_heavy(&mut g)?,
        Family::ResetHeavy => reset_heavy(&mut g)?,
        Family::MultiSession => multi_session(&mut g)?,
    }
    Ok(g.finish())
}

fn gen_err(e: page_core::PageError) -> EvalError {
    EvalError::Generate(e.to_string())
}

fn tokens(
    full: u32,
    compressed: Option<u32>,
    structured: u32,
    pointer: Option<u32>,
) -> LevelTokens {
    LevelTokens {
        full: Some(TokenCount::new(full)),
        compressed: compressed.map(TokenCount::new),
        structured: Some(TokenCount::new(structured)),
        pointer: pointer.map(TokenCount::new),
    }
}

/// A turn under construction, with the running size of its minimum-fidelity set.
pub(crate) struct TurnBuilder {
    turn: WorkloadTurn,
    /// Tokens of the minimum-fidelity set so far.
    min_set: u32,
    /// Demanded pages with the level they are counted at.
    counted: Vec<(PageId, Repr)>,
}

impl TurnBuilder {
    fn event(&mut self, e: LifecycleEvent) {
        self.turn.events.push(e);
    }

    fn update(&mut self, page: &PageId) {
        if !self.turn.updates.contains(page) {
            self.turn.updates.push(page.clone());
        }
    }

    fn recall(&mut self, r: Recall) {
        self.turn.recalls.push(r);
    }
}

/// One evidence page produced so far, with the signature of the call that produced it.
struct Produced {
    page: PageId,
    signature: ToolSignature,
}

/// The generator's state: the seeded RNG, the pages so far, the turns so far.
struct Gen {
    family: Family,
    seed: u64,
    rng: ChaCha8Rng,
    pages: Vec<WorkloadPage>,
    turns: Vec<WorkloadTurn>,
    /// Evidence produced in the current session (all of it in single-session families).
    evidence: Vec<Produced>,
    n_evidence: u32,
    /// Hard-pinned pages without a session: (id, cost at minimum).
    project_hard: Vec<(PageId, u32)>,
    /// Hard-pinned pages of the current session: (id, cost at minimum).
    session_hard: Vec<(PageId, u32)>,
    /// Tokens of every available hard-pinned page at its minimum.
    hard_tokens: u32,
}

impl Gen {
    fn new(family: Family, seed: u64) -> Self {
        Self {
            family,
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
            pages: Vec::new(),
            turns: Vec::new(),
            evidence: Vec::new(),
            n_evidence: 0,
            project_hard: Vec::new(),
            session_hard: Vec::new(),
            hard_tokens: 0,
        }
    }

    fn finish(self) -> Workload {
        Workload {
            schema_version: WORKLOAD_SCHEMA_VERSION,
            id: format!("{}_{:016x}", self.family.code(), self.seed),
            family: self.family.code().to_owned(),
            pages: self.pages,
            turns: self.turns,
        }
    }

    fn page(id: PageId, page_type: PageType, tokens: LevelTokens) -> WorkloadPage {
        WorkloadPage {
            id,
            page_type,
            pin: None,
            min_fidelity: None,
            tokens,
            base_utility: 0.0,
            recompute_cost: 0.0,
            scope: None,
            session: None,
            tool_signature: None,
            dirty: false,
            exists: None,
        }
    }

    fn add_hard(&mut self, id: &PageId, min_cost: u32, session: Option<&SessionId>) {
        if session.is_some() {
            self.session_hard.push((id.clone(), min_cost));
        } else {
            self.project_hard.push((id.clone(), min_cost));
        }
        self.hard_tokens = self
            .project_hard
            .iter()
            .chain(&self.session_hard)
            .map(|(_, c)| c)
            .sum();
    }

    /// A new session: the previous session's pages are no longer available.
    fn begin_session(&mut self) {
        self.session_hard.clear();
        self.evidence.clear();
        self.hard_tokens = self.project_hard.iter().map(|(_, c)| c).sum();
    }

    fn bootstrap(&mut self, n: u32) -> Result<Vec<PageId>, EvalError> {
        let mut ids = Vec::new();
        for i in 0..n {
            let id = PageId::new(format!("boot{}", i + 1)).map_err(gen_err)?;
            let structured = self.rng.random_range(11..=14);
            let full = structured * 3 + self.rng.random_range(0..6);
            let mut p = Self::page(
                id.clone(),
                PageType::Bootstrap,
                tokens(full, None, structured, None),
            );
            p.base_utility = 6.0;
            p.recompute_cost = 2.0;
            self.pages.push(p);
            self.add_hard(&id, structured, None);
            ids.push(id);
        }
        Ok(ids)
    }

    fn constraints(
        &mut self,
        n: u32,
        session: Option<&SessionId>,
    ) -> Result<Vec<PageId>, EvalError> {
        let mut ids = Vec::new();
        for i in 0..n {
            let name = match session {
                Some(s) => format!("con{}_{s}", i + 1),
                None => format!("con{}", i + 1),
            };
            let id = PageId::new(name).map_err(gen_err)?;
            let structured = self.rng.random_range(7..=10);
            let full = structured * 3 + self.rng.random_range(0..5);
            let mut p = Self::page(
                id.clone(),
                PageType::Constraint,
                tokens(full, None, structured, None),
            );
            p.base_utility = 5.0;
            p.recompute_cost = 1.0;
            p.session = session.cloned();
            self.pages.push(p);
            self.add_hard(&id, structured, session);
            ids.push(id);
        }
        Ok(ids)
    }

    fn plan(&mut self, name: &str, session: Option<&SessionId>) -> Result<PageId, EvalError> {
        let id = PageId::new(name).map_err(gen_err)?;
        let structured = self.rng.random_range(12..=16);
        let full = structured * 2 + self.rng.random_range(4..10);
        let mut p = Self::page(
            id.clone(),
            PageType::Plan,
            tokens(full, None, structured, Some(4)),
        );
        p.base_utility = 4.0;
        p.recompute_cost = 3.0;
        p.session = session.cloned();
        self.pages.push(p);
        Ok(id)
    }

    fn preferences(&mut self, n: u32) -> Result<Vec<PageId>, EvalError> {
        let mut ids = Vec::new();
        for i in 0..n {
            let id = PageId::new(format!("pref{}", i + 1)).map_err(gen_err)?;
            let full = self.rng.random_range(16..=24);
            let mut p = Self::page(
                id.clone(),
                PageType::Preference,
                tokens(full, Some(full * 3 / 5), full * 2 / 5, Some(3)),
            );
            p.base_utility = 3.0;
            p.recompute_cost = 1.0;
            self.pages.push(p);
            ids.push(id);
        }
        Ok(ids)
    }

    /// Project-scoped evidence (design notes, an architecture summary) shared by sessions.
    fn project_notes(&mut self, n: u32) -> Result<Vec<PageId>, EvalError> {
        let mut ids = Vec::new();
        for i in 0..n {
            let id = PageId::new(format!("note{}", i + 1)).map_err(gen_err)?;
            let full = self.rng.random_range(40..=60);
            let mut p = Self::page(
                id.clone(),
                PageType::Evidence,
                tokens(full, Some(full * 2 / 5), full / 5, Some(4)),
            );
            p.base_utility = 4.0;
            p.recompute_cost = 6.0;
            p.scope = Some(ScopeKind::Project);
            self.pages.push(p);
            ids.push(id);
        }
        Ok(ids)
    }

    fn conversations(
        &mut self,
        n: u32,
        session: Option<&SessionId>,
    ) -> Result<Vec<PageId>, EvalError> {
        let mut ids = Vec::new();
        for i in 0..n {
            let id = PageId::new(format!("conv{}", i + 1)).map_err(gen_err)?;
            let full = self.rng.random_range(40..=70);
            let mut p = Self::page(
                id.clone(),
                PageType::Conversation,
                tokens(full, Some(full * 9 / 20), full / 5, Some(4)),
            );
            p.base_utility = 2.0;
            p.recompute_cost = 0.5;
            p.session = session.cloned();
            self.pages.push(p);
            ids.push(id);
        }
        Ok(ids)
    }

    fn turn(&self) -> TurnBuilder {
        TurnBuilder {
            turn: WorkloadTurn::default(),
            min_set: self.hard_tokens,
            counted: Vec::new(),
        }
    }

    fn push(&mut self, turn: TurnBuilder) {
        self.turns.push(turn.turn);
    }

    fn cost(&self, page: &PageId, level: Repr) -> Option<u32> {
        let p = self.pages.iter().find(|p| &p.id == page)?;
        let t = &p.tokens;
        let c = match level {
            Repr::None => Some(TokenCount::ZERO),
            Repr::Pointer => t.pointer,
            Repr::Structured => t.structured,
            Repr::Compressed => t.compressed,
            Repr::Full => t.full,
        };
        c.map(TokenCount::get)
    }

    fn min_level(&self, page: &PageId) -> Repr {
        self.pages
            .iter()
            .find(|p| &p.id == page)
            .map_or(Repr::Pointer, |p| {
                p.min_fidelity
                    .unwrap_or(p.page_type.defaults().min_fidelity())
            })
    }

    /// Adds `page` to the turn's minimum-fidelity set at `level` or the highest lower level of
    /// its path that still fits under [`MIN_SET_CAP`]. Returns the level counted, or `None` when
    /// not even the minimum fits.
    fn count(&self, turn: &mut TurnBuilder, page: &PageId, level: Repr) -> Option<Repr> {
        let min = self.min_level(page);
        let already = turn
            .counted
            .iter()
            .find(|(p, _)| p == page)
            .map(|&(_, l)| l);
        let base = already.and_then(|l| self.cost(page, l)).unwrap_or(0);
        let mut try_level = level.max(min);
        loop {
            if already.is_some_and(|a| a >= try_level) {
                return already;
            }
            if let Some(c) = self.cost(page, try_level)
                && turn.min_set - base + c <= MIN_SET_CAP
            {
                turn.min_set = turn.min_set - base + c;
                match turn.counted.iter_mut().find(|(p, _)| p == page) {
                    Some(entry) => entry.1 = try_level,
                    None => turn.counted.push((page.clone(), try_level)),
                }
                return Some(try_level);
            }
            if try_level <= min {
                return None;
            }
            try_level = Repr::ALL[try_level.index() - 1];
        }
    }

    fn demand(&self, turn: &mut TurnBuilder, page: &PageId, level: Repr) {
        if let Some(level) = self.count(turn, page, level) {
            turn.turn.demands.push(Demand {
                page: page.clone(),
                required_repr: Some(level),
            });
        }
    }

    /// A tool call: with probability `rerun` it repeats an earlier call of this session
    /// (recency-biased) and returns into the same page; otherwise it is a new call producing a
    /// new evidence page.
    fn tool_call(
        &mut self,
        turn: &mut TurnBuilder,
        rerun: f64,
        session: Option<&SessionId>,
    ) -> Result<(), EvalError> {
        if !self.evidence.is_empty() && self.rng.random_bool(rerun) {
            let k = self.recent_index();
            let prev = &self.evidence[k];
            let (page, signature) = (prev.page.clone(), prev.signature.clone());
            if turn.turn.tool_calls.iter().any(|c| c.result_page == page) {
                return Ok(());
            }
            if self.count(turn, &page, Repr::Pointer).is_some() {
                turn.turn.tool_calls.push(ToolCall {
                    signature,
                    result_page: page,
                });
            }
            return Ok(());
        }
        self.n_evidence += 1;
        let n = self.n_evidence;
        let id = PageId::new(format!("ev{n}")).map_err(gen_err)?;
        let (tool, args, recompute) = match self.rng.random_range(0..4) {
            0 => ("read_file", json!({"path": format!("src/mod_{n}.rs")}), 8.0),
            1 => (
                "grep",
                json!({"pattern": format!("fn item_{n}"), "path": "src"}),
                6.0,
            ),
            2 => (
                "run_command",
                json!({"cmd": format!("cargo test case_{n}")}),
                8.0,
            ),
            _ => (
                "edit_file",
                json!({"path": format!("src/mod_{n}.rs"), "patch": n}),
                12.0,
            ),
        };
        let signature = ToolSignature::new(tool, &args).map_err(gen_err)?;
        let full = self.rng.random_range(40..=90);
        let mut p = Self::page(
            id.clone(),
            PageType::Evidence,
            tokens(
                full,
                Some(full * 2 / 5),
                (full / 5).max(6),
                Some(self.rng.random_range(4..=5)),
            ),
        );
        // The artifact's transcript converter: tool results are soft-pinned at pointer, base
        // utility 5, recompute cost 8 for reads and commands, 12 for edits, 6 for others.
        p.pin = Some(PinClass::Soft);
        p.base_utility = 5.0;
        p.recompute_cost = recompute;
        p.session = session.cloned();
        p.tool_signature = Some(signature.clone());
        self.pages.push(p);
        if self.count(turn, &id, Repr::Pointer).is_some() {
            turn.turn.tool_calls.push(ToolCall {
                signature: signature.clone(),
                result_page: id.clone(),
            });
            self.evidence.push(Produced {
                page: id,
                signature,
            });
        } else {
            // Not produced after all: the page is never referenced, so drop it again.
            self.pages.pop();
            self.n_evidence -= 1;
        }
        Ok(())
    }

    /// A recency-biased index into `evidence`: geometric over the distance from the newest
    /// (temporal locality, the working-set model's premise).
    fn recent_index(&mut self) -> usize {
        let len = self.evidence.len();
        let mut back = 0;
        while back + 1 < len && self.rng.random_bool(0.6) {
            back += 1;
        }
        len - 1 - back
    }

    /// Demands `n` earlier evidence pages (recency-biased, excluding this turn's results) at
    /// structured, compressed or full with the given probabilities.
    fn re_reference(&mut self, turn: &mut TurnBuilder, n: u32, level_probs: &[f64; 3]) {
        for _ in 0..n {
            if self.evidence.len() < 2 {
                return;
            }
            let k = self.recent_index();
            let page = self.evidence[k].page.clone();
            if turn.turn.tool_calls.iter().any(|c| c.result_page == page)
                || turn.turn.demands.iter().any(|d| d.page == page)
            {
                continue;
            }
            let x: f64 = self.rng.random();
            let level = if x < level_probs[0] {
                Repr::Structured
            } else if x < level_probs[0] + level_probs[1] {
                Repr::Compressed
            } else {
                Repr::Full
            };
            self.demand(turn, &page, level);
        }
    }
}
