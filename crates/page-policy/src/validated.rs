//! The checked form of a [`Workload`] the engine replays.
//!
//! [`Workload::validate`] checks it once and precomputes everything that does not depend on
//! the policy (page indices, per-level cost tables, when each page becomes available, the
//! merged demand list of each turn, the previous producer of each tool signature, the
//! oracle's future-demand index), so the per-turn engine only does table lookups.

use std::collections::BTreeMap;

use page_core::{
    CompactionKind, LevelCosts, PageId, PageType, PinClass, Repr, SessionId, ToolSignature,
};

use crate::error::WorkloadError;
use crate::workload::{Demand, LifecycleEvent, RecallAnswer, WORKLOAD_SCHEMA_VERSION, Workload};

mod live;
mod page;

impl Workload {
    /// Checks the workload and precomputes what the engine needs.
    ///
    /// # Errors
    /// The first problem found, as a [`WorkloadError`] naming the page or turn and field.
    pub fn validate(&self) -> Result<ValidatedWorkload, WorkloadError> {
        ValidatedWorkload::new(self.clone())
    }
}

impl TryFrom<Workload> for ValidatedWorkload {
    type Error = WorkloadError;

    fn try_from(workload: Workload) -> Result<Self, WorkloadError> {
        ValidatedWorkload::new(workload)
    }
}

/// Sentinel for "no level above" in [`PageInfo::up`].
pub(crate) const NO_LEVEL: u8 = u8::MAX;

/// Everything static the engine needs about one page, indexed by position.
#[derive(Debug, Clone)]
pub(crate) struct PageInfo {
    pub(crate) id: PageId,
    pub(crate) page_type: PageType,
    pub(crate) pin: PinClass,
    /// Hard-pinned or bootstrap: required at its minimum under `auto_pin_hard`.
    pub(crate) auto_pinned: bool,
    pub(crate) min: Repr,
    /// Cost by `Repr::index`; zero for `none` and levels off the path.
    pub(crate) cost: [u32; 5],
    /// Next level up on the path by `Repr::index` (from `none`: the minimum fidelity), or
    /// [`NO_LEVEL`] at `full`.
    pub(crate) up: [u8; 5],
    /// Whether Phase 1c may prefetch the page: its minimum fidelity is `pointer`.
    pub(crate) prefetchable: bool,
    pub(crate) base_utility: f64,
    pub(crate) recompute_cost: f64,
    /// Phase 1b priority, packed so that a larger value sorts first: pin rank, type rank,
    /// `int(base_utility * 1000)`.
    pub(crate) priority: (u8, u8, i64),
    /// Index into [`ValidatedWorkload::sessions`], for session-bound pages.
    pub(crate) session: Option<u32>,
    pub(crate) is_tool_result: bool,
    pub(crate) starts_dirty: bool,
    /// First turn at which the page exists: its creation turn, or its first tool call if
    /// later.
    pub(crate) available_from: usize,
    /// First turn at which it no longer exists (`usize::MAX`: never retired).
    pub(crate) available_until: usize,
    /// Rank of the id in byte order, for the artifact's `page_id` tie-break.
    pub(crate) id_rank: u32,
}

impl PageInfo {
    /// Whether the page exists at turn `t` (sessions aside).
    pub(crate) fn exists_at(&self, t: usize) -> bool {
        self.available_from <= t && t < self.available_until
    }
}

/// One demand of a turn after merging tool results, recall hits and explicit demands.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DemandPlan {
    pub(crate) page: u32,
    /// `max(required level served on the path, min fidelity)`.
    pub(crate) level: Repr,
    /// False when a tool call of the same turn already observed this page.
    pub(crate) observe: bool,
}

/// A tool call with its statically known predecessor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallPlan {
    pub(crate) page: u32,
    /// The page produced by the latest earlier call (or pre-existing page) with this signature.
    pub(crate) previous: Option<u32>,
}

/// A lifecycle event with resolved ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventPlan {
    Compaction(CompactionKind),
    Reset,
    SessionEnd,
    SessionStart(u32),
}

/// What the backend answered, reduced to what the observer needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecallPlan {
    Hit,
    Empty,
    Denied,
    Error,
}

/// One turn with resolved page indices.
#[derive(Debug, Clone, Default)]
pub(crate) struct TurnPlan {
    pub(crate) events: Vec<EventPlan>,
    pub(crate) updates: Vec<u32>,
    pub(crate) calls: Vec<CallPlan>,
    pub(crate) recalls: Vec<RecallPlan>,
    pub(crate) demands: Vec<DemandPlan>,
    /// Tokens of the minimum-fidelity set at this turn: every available hard-pinned or
    /// bootstrap page at its minimum plus every demanded page at its demand level.
    /// Policy-independent.
    pub(crate) min_set_tokens: u64,
}

/// A workload that passed [`Workload::validate`]: every id resolves, every page's costs are a
/// valid [`LevelCosts`], and every turn refers only to pages available at that turn.
#[derive(Debug, Clone)]
pub struct ValidatedWorkload {
    source: Workload,
    levels: Vec<LevelCosts>,
    pub(crate) pages: Vec<PageInfo>,
    pub(crate) turns: Vec<TurnPlan>,
    /// Per turn, the pages that start or stop existing at it.
    pub(crate) existence_changes: Vec<Vec<u32>>,
    /// Page indices ordered by id rank (rank → index).
    pub(crate) by_rank: Vec<u32>,
    /// Pages `auto_pin_hard` requires at their minimum: hard-pinned pages and bootstrap pages
    /// (Table 1: restored after every compaction), in page order.
    pub(crate) pinned_pages: Vec<u32>,
    /// Bootstrap pages, in page order.
    pub(crate) bootstrap_pages: Vec<u32>,
    /// Phase 1c order: pages by `(recompute_cost, base_utility)` descending, stable.
    pub(crate) prefetch_order: Vec<u32>,
    /// Distinct sessions started by events, in order of first start.
    pub(crate) sessions: Vec<SessionId>,
    /// CSR index of the turns at which each page is demanded: `demand_turns[demand_start[p]..
    /// demand_start[p + 1]]`, ascending.
    pub(crate) demand_start: Vec<u32>,
    pub(crate) demand_turns: Vec<u32>,
}

fn idx_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl ValidatedWorkload {
    fn new(source: Workload) -> Result<Self, WorkloadError> {
        if source.schema_version != WORKLOAD_SCHEMA_VERSION {
            return Err(WorkloadError::UnsupportedSchemaVersion {
                found: source.schema_version,
                supported: WORKLOAD_SCHEMA_VERSION,
            });
        }
        if source.id.trim().is_empty() {
            return Err(WorkloadError::EmptyField { field: "id" });
        }
        if source.family.trim().is_empty() {
            return Err(WorkloadError::EmptyField { field: "family" });
        }
        let mut index: BTreeMap<PageId, u32> = BTreeMap::new();
        let mut levels = Vec::with_capacity(source.pages.len());
        let mut pages = Vec::with_capacity(source.pages.len());
        let mut page_sessions: BTreeMap<SessionId, u32> = BTreeMap::new();
        let mut sessions: Vec<SessionId> = Vec::new();
        for (i, p) in source.pages.iter().enumerate() {
            if index.insert(p.id.clone(), idx_u32(i)).is_some() {
                return Err(WorkloadError::DuplicatePage {
                    index: i,
                    page: p.id.clone(),
                });
            }
            let info = Self::check_page(i, p, &mut levels)?;
            let session = p.session.as_ref().map(|s| {
                *page_sessions.entry(s.clone()).or_insert_with(|| {
                    sessions.push(s.clone());
                    idx_u32(sessions.len() - 1)
                })
            });
            pages.push(PageInfo { session, ..info });
        }
        // Sessions are numbered by first mention: pages first, then events. Only the order of
        // `sessions` matters for the multi-session check, which counts started sessions.
        let mut by_rank: Vec<u32> = (0..idx_u32(pages.len())).collect();
        by_rank.sort_by(|&a, &b| pages[a as usize].id.cmp(&pages[b as usize].id));
        for (rank, &i) in by_rank.iter().enumerate() {
            pages[i as usize].id_rank = idx_u32(rank);
        }

        // Availability: a page that is the result of a tool call exists from its first call.
        for (t, turn) in source.turns.iter().enumerate() {
            for call in &turn.tool_calls {
                if let Some(&p) = index.get(&call.result_page) {
                    let info = &mut pages[p as usize];
                    if !info.is_tool_result {
                        info.is_tool_result = true;
                        info.available_from = info.available_from.max(t);
                    }
                }
            }
        }
        for (i, p) in source.pages.iter().enumerate() {
            if p.tool_signature.is_some() {
                pages[i].is_tool_result = true;
            }
        }

        let mut producers: BTreeMap<ToolSignature, u32> = BTreeMap::new();
        for (i, p) in source.pages.iter().enumerate() {
            if let Some(sig) = &p.tool_signature
                && pages[i].available_from == 0
                && !Self::produced_by_call(&source, &p.id)
            {
                producers.insert(sig.clone(), idx_u32(i));
            }
        }

        let mut active_session: Option<u32> = None;
        let mut turns = Vec::with_capacity(source.turns.len());
        let mut per_page_turns: Vec<Vec<u32>> = vec![Vec::new(); pages.len()];
        let mut seen_turn: Vec<usize> = vec![usize::MAX; pages.len()];
        let mut slot: Vec<usize> = vec![0; pages.len()];
        for (t, turn) in source.turns.iter().enumerate() {
            let mut plan = TurnPlan::default();
            for event in &turn.events {
                let e = match event {
                    LifecycleEvent::Compaction { kind } => EventPlan::Compaction(*kind),
                    LifecycleEvent::Reset => EventPlan::Reset,
                    LifecycleEvent::SessionEnd => {
                        active_session = None;
                        EventPlan::SessionEnd
                    }
                    LifecycleEvent::SessionStart { session } => {
                        let s = *page_sessions.entry(session.clone()).or_insert_with(|| {
                            sessions.push(session.clone());
                            idx_u32(sessions.len() - 1)
                        });
                        active_session = Some(s);
                        EventPlan::SessionStart(s)
                    }
                };
                plan.events.push(e);
            }
            let lookup = |field: String, id: &PageId| -> Result<u32, WorkloadError> {
                let Some(&p) = index.get(id) else {
                    return Err(WorkloadError::UnknownPage {
                        turn: t,
                        field,
                        page: id.clone(),
                    });
                };
                let info = &pages[p as usize];
                let reason = if info.available_from > t && info.is_tool_result {
                    Some("is a tool result that no tool call has produced yet")
                } else if info.available_from > t {
                    Some("is not created yet at this turn")
                } else if info.available_until <= t {
                    Some("is retired before this turn")
                } else if info.session.is_some() && info.session != active_session {
                    Some("belongs to a session that is not active at this turn")
                } else {
                    None
                };
                match reason {
                    Some(reason) => Err(WorkloadError::UnavailablePage {
                        turn: t,
                        field,
                        page: id.clone(),
                        reason,
                    }),
                    None => Ok(p),
                }
            };
            for (k, id) in turn.updates.iter().enumerate() {
                plan.updates.push(lookup(format!("updates[{k}]"), id)?);
            }
            // Merged demands: tool results, then recall hits, then explicit demands; one entry
            // per page, at the highest level asked for.
            let mut push_demand = |plan: &mut TurnPlan, p: u32, level: Repr, observe: bool| {
                let pi = p as usize;
                if seen_turn[pi] == t {
                    let d = &mut plan.demands[slot[pi]];
                    d.level = d.level.max(level);
                } else {
                    seen_turn[pi] = t;
                    slot[pi] = plan.demands.len();
                    plan.demands.push(DemandPlan {
                        page: p,
                        level,
                        observe,
                    });
                }
            };
            for (k, call) in turn.tool_calls.iter().enumerate() {
                let p = lookup(format!("tool_calls[{k}].result_page"), &call.result_page)?;
                let declared = &source.pages[p as usize].tool_signature;
                if declared.as_ref().is_some_and(|d| d != &call.signature) {
                    return Err(WorkloadError::InvalidTurn {
                        turn: t,
                        field: format!("tool_calls[{k}].signature"),
                        reason: format!(
                            "page {} declares another tool_signature",
                            call.result_page
                        ),
                    });
                }
                let previous = producers.insert(call.signature.clone(), p);
                plan.calls.push(CallPlan { page: p, previous });
                let min = pages[p as usize].min;
                push_demand(&mut plan, p, min, false);
            }
            for (k, recall) in turn.recalls.iter().enumerate() {
                let r = match &recall.answer {
                    RecallAnswer::Hit { pages: hits } => {
                        if hits.is_empty() {
                            return Err(WorkloadError::InvalidTurn {
                                turn: t,
                                field: format!("recalls[{k}].answer.pages"),
                                reason: "a hit must name at least one page (use empty)".into(),
                            });
                        }
                        for (j, id) in hits.iter().enumerate() {
                            let p = lookup(format!("recalls[{k}].answer.pages[{j}]"), id)?;
                            let min = pages[p as usize].min;
                            push_demand(&mut plan, p, min, true);
                        }
                        RecallPlan::Hit
                    }
                    RecallAnswer::Empty => RecallPlan::Empty,
                    RecallAnswer::Denied { .. } => RecallPlan::Denied,
                    RecallAnswer::Error { .. } => RecallPlan::Error,
                };
                plan.recalls.push(r);
            }
            for (k, d) in turn.demands.iter().enumerate() {
                let p = lookup(format!("demands[{k}].page"), &d.page)?;
                let level = demand_level(&pages[p as usize], &levels[p as usize], d, t, k)?;
                push_demand(&mut plan, p, level, true);
            }
            let mut min_set: u64 = 0;
            for (i, info) in pages.iter().enumerate() {
                let available =
                    info.exists_at(t) && (info.session.is_none() || info.session == active_session);
                if info.auto_pinned && available && seen_turn[i] != t {
                    min_set += u64::from(info.cost[info.min.index()]);
                }
            }
            for d in &plan.demands {
                min_set += u64::from(pages[d.page as usize].cost[d.level.index()]);
                per_page_turns[d.page as usize].push(idx_u32(t));
            }
            plan.min_set_tokens = min_set;
            turns.push(plan);
        }

        let mut demand_start = Vec::with_capacity(pages.len() + 1);
        let mut demand_turns = Vec::new();
        for ts in &per_page_turns {
            demand_start.push(idx_u32(demand_turns.len()));
            demand_turns.extend_from_slice(ts);
        }
        demand_start.push(idx_u32(demand_turns.len()));

        let pinned_pages = (0..idx_u32(pages.len()))
            .filter(|&i| pages[i as usize].auto_pinned)
            .collect();
        let bootstrap_pages = (0..idx_u32(pages.len()))
            .filter(|&i| pages[i as usize].page_type == PageType::Bootstrap)
            .collect();
        let mut prefetch_order: Vec<u32> = (0..idx_u32(pages.len())).collect();
        prefetch_order.sort_by(|&a, &b| {
            let (pa, pb) = (&pages[a as usize], &pages[b as usize]);
            // Descending by (recompute_cost, base_utility); `sort_by` is stable like Python's.
            pb.recompute_cost
                .total_cmp(&pa.recompute_cost)
                .then(pb.base_utility.total_cmp(&pa.base_utility))
        });

        // Where a page starts or stops existing, so a turn refreshes only those pages.
        let mut existence_changes = vec![Vec::new(); turns.len()];
        for (i, info) in pages.iter().enumerate() {
            for t in [info.available_from, info.available_until] {
                if let Some(changes) = existence_changes.get_mut(t) {
                    changes.push(idx_u32(i));
                }
            }
        }
        Ok(Self {
            source,
            levels,
            pages,
            turns,
            existence_changes,
            by_rank,
            pinned_pages,
            bootstrap_pages,
            prefetch_order,
            sessions,
            demand_start,
            demand_turns,
        })
    }

    fn produced_by_call(source: &Workload, id: &PageId) -> bool {
        source
            .turns
            .iter()
            .any(|t| t.tool_calls.iter().any(|c| &c.result_page == id))
    }

    /// The workload as given.
    #[must_use]
    pub fn source(&self) -> &Workload {
        &self.source
    }

    /// The workload id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.source.id
    }

    /// The workload family.
    #[must_use]
    pub fn family(&self) -> &str {
        &self.source.family
    }

    /// Number of pages.
    #[must_use]
    pub fn n_pages(&self) -> usize {
        self.pages.len()
    }

    /// Number of turns.
    #[must_use]
    pub fn n_turns(&self) -> usize {
        self.turns.len()
    }

    /// The validated costs of every page, in page order.
    #[must_use]
    pub fn level_costs(&self) -> &[LevelCosts] {
        &self.levels
    }

    /// Whether at least two distinct sessions are started by events: the multi-session case
    /// in which [`crate::PolicyConfig::multisession_budget_scale`] applies.
    #[must_use]
    pub fn is_multi_session(&self) -> bool {
        let mut seen: Vec<u32> = Vec::new();
        for t in &self.turns {
            for e in &t.events {
                if let EventPlan::SessionStart(s) = e
                    && !seen.contains(s)
                {
                    seen.push(*s);
                }
            }
        }
        seen.len() >= 2
    }

    /// Tokens of the minimum-fidelity set at `turn` (every available hard-pinned or bootstrap
    /// page at its minimum plus every demanded page at its demand level), or `None` past the
    /// last turn.
    #[must_use]
    pub fn min_set_tokens(&self, turn: usize) -> Option<u64> {
        self.turns.get(turn).map(|t| t.min_set_tokens)
    }

    /// How many of the turns `turn + 1 ..= turn + horizon` demand page `page` (the oracle's
    /// lookahead). O(log d) in the page's number of demands.
    pub(crate) fn future_demands(&self, page: usize, turn: usize, horizon: u32) -> u32 {
        let lo = self.demand_start[page] as usize;
        let hi = self.demand_start[page + 1] as usize;
        let ts = &self.demand_turns[lo..hi];
        let t = idx_u32(turn);
        let from = ts.partition_point(|&x| x <= t);
        let to = ts.partition_point(|&x| x <= t.saturating_add(horizon));
        idx_u32(to - from)
    }
}

/// The level demand `d` (the `k`th of turn `turn`) installs page `info` at: the lowest level
/// on its path at or above the one asked (its minimum when none is named), never below its
/// minimum.
fn demand_level(
    info: &PageInfo,
    levels: &LevelCosts,
    d: &Demand,
    turn: usize,
    k: usize,
) -> Result<Repr, WorkloadError> {
    let asked = d.required_repr.unwrap_or(info.min);
    if asked == Repr::None {
        return Err(WorkloadError::InvalidTurn {
            turn,
            field: format!("demands[{k}].required_repr"),
            reason: "a demand cannot ask for none".into(),
        });
    }
    let (served, _) = levels.at_least(asked);
    Ok(served.max(info.min))
}

/// Whether a page belongs to the required set at its minimum whenever it exists (with the
/// policy's `auto_pin_hard`): hard-pinned pages and the bootstrap policy.
#[must_use]
pub fn auto_pinned(pin: PinClass, page_type: PageType) -> bool {
    pin == PinClass::Hard || page_type == PageType::Bootstrap
}
