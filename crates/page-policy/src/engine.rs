//! The per-turn policy engine and `simulate`: lifecycle events, fault observation, selection
//! and recency update for one turn at a time, on reused buffers.

use page_core::{Boundary, FaultKind, Repr, TokenCount};

use crate::config::{Paging, PolicyConfig};
use crate::observer::{FaultObserver, ReasonCode, SelectedPage, TraceEvent};
use crate::selector::{RepresentationSelector, SelectInput};
use crate::simulation::{Simulation, TurnStats};
use crate::validated::{EventPlan, RecallPlan, ValidatedWorkload};

#[path = "stable.rs"]
mod stable;

pub use self::stable::PromptItem;

/// Replays `workload` under `config` with `budget` and returns the counts and the trace.
///
/// Deterministic: the same inputs give an identical [`Simulation`], floats included.
#[must_use]
pub fn simulate(
    workload: &ValidatedWorkload,
    config: &PolicyConfig,
    budget: TokenCount,
) -> Simulation {
    let mut engine = PolicyEngine::new(workload, config, budget);
    while engine.step().is_some() {}
    engine.into_simulation()
}

/// Replays a workload one turn at a time. Every buffer is allocated in [`PolicyEngine::new`]
/// and reused; with trace recording off ([`PolicyEngine::set_record_trace`]) a turn allocates
/// only when it records invariant pressure.
#[derive(Debug, Clone)]
pub struct PolicyEngine<'w> {
    workload: &'w ValidatedWorkload,
    config: PolicyConfig,
    budget: TokenCount,
    effective_budget: u32,
    next_turn: usize,
    /// Residency after the last selection (what the agent's prompt held).
    resident: Vec<Repr>,
    recency: Vec<f64>,
    /// Under cache-stable paging, the turn each `recency` value was set at (decay is lazy).
    recency_turn: Vec<u32>,
    /// Recency materialized for a cache-stable selection.
    recency_now: Vec<f64>,
    dirty: Vec<bool>,
    /// Whether the agent has had the page's content in context before.
    referenced: Vec<bool>,
    available: Vec<bool>,
    active_session: Option<u32>,
    bootstrap_check_pending: bool,
    min_fidelity_fits: bool,
    selector: RepresentationSelector,
    observer: FaultObserver,
    /// The prompt as sent, under cache-stable paging.
    prompt: stable::Prompt,
}

fn turn_u32(t: usize) -> u32 {
    u32::try_from(t).unwrap_or(u32::MAX)
}

impl<'w> PolicyEngine<'w> {
    /// An engine at turn 0, recording the decision trace.
    #[must_use]
    pub fn new(workload: &'w ValidatedWorkload, config: &PolicyConfig, budget: TokenCount) -> Self {
        let scale = if workload.is_multi_session() {
            config.multisession_budget_scale
        } else {
            1.0
        };
        let effective = (f64::from(budget.get()) * scale).floor();
        // Saturating float-to-int conversion; NaN or negative scales give a zero budget.
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "floor of a non-negative value, saturating"
        )]
        let effective_budget = if effective.is_nan() {
            0
        } else {
            effective as u32
        };
        let n = workload.n_pages();
        let mut engine = Self {
            workload,
            config: *config,
            budget,
            effective_budget,
            next_turn: 0,
            resident: vec![Repr::None; n],
            recency: vec![0.0; n],
            recency_turn: vec![0; n],
            recency_now: vec![0.0; n],
            dirty: vec![false; n],
            referenced: vec![false; n],
            available: vec![false; n],
            active_session: None,
            bootstrap_check_pending: false,
            min_fidelity_fits: true,
            selector: RepresentationSelector::default(),
            observer: FaultObserver {
                record: true,
                ..FaultObserver::default()
            },
            prompt: stable::Prompt::default(),
        };
        engine.rewind();
        engine
    }

    /// Switches decision-trace recording on or off (on by default). Counters are kept either
    /// way; off, a turn does not allocate.
    pub fn set_record_trace(&mut self, record: bool) {
        self.observer.record = record;
    }

    /// Back to turn 0 with fresh state, keeping every buffer's capacity.
    pub fn rewind(&mut self) {
        let pages = &self.workload.pages;
        self.next_turn = 0;
        self.resident.fill(Repr::None);
        self.recency.fill(0.0);
        self.recency_turn.fill(0);
        for (d, info) in self.dirty.iter_mut().zip(pages) {
            *d = info.starts_dirty;
        }
        self.referenced.fill(false);
        self.available.fill(false);
        self.active_session = None;
        self.bootstrap_check_pending = false;
        self.min_fidelity_fits = true;
        self.selector.resize(pages.len());
        self.prompt.resize(pages.len());
        self.observer.reset();
    }

    /// The next turn to replay (equal to the number of turns when done).
    #[must_use]
    pub fn next_turn(&self) -> usize {
        self.next_turn
    }

    /// Each page's level after the last selection, in page order ([`Repr::None`]: not in
    /// the prompt): what a trace's `Selection` lists, without recording a trace.
    #[must_use]
    pub fn residency(&self) -> &[Repr] {
        &self.resident
    }

    /// The budget the policy runs with.
    #[must_use]
    pub fn effective_budget(&self) -> TokenCount {
        TokenCount::new(self.effective_budget)
    }

    /// Replays the next turn: lifecycle events, fault observation, selection, recency update.
    /// `None` when every turn has been replayed.
    pub fn step(&mut self) -> Option<TurnStats> {
        let w = self.workload;
        let t = self.next_turn;
        let plan = w.turns.get(t)?;
        let tu = turn_u32(t);
        self.observer.begin_turn();

        for &event in &plan.events {
            self.boundary(tu, event);
        }
        // Availability changes only where a page starts or stops existing, or with the session.
        let session_changed = plan
            .events
            .iter()
            .any(|e| matches!(e, EventPlan::SessionStart(_) | EventPlan::SessionEnd));
        let session = self.active_session;
        let available = |info: &crate::validated::PageInfo| {
            info.exists_at(t) && (info.session.is_none() || info.session == session)
        };
        if t == 0 || session_changed {
            for (a, info) in self.available.iter_mut().zip(&w.pages) {
                *a = available(info);
            }
        } else {
            for &p in &w.existence_changes[t] {
                self.available[p as usize] = available(&w.pages[p as usize]);
            }
        }
        for &p in &plan.updates {
            self.dirty[p as usize] = true;
        }
        self.observe_calls(tu, t);
        for &r in &plan.recalls {
            let reason = match r {
                RecallPlan::Hit | RecallPlan::Empty => None,
                RecallPlan::Denied => Some(ReasonCode::RecallDeniedSilently),
                RecallPlan::Error => Some(ReasonCode::RecallErrorSilently),
            };
            if let Some(reason) = reason
                && !self.config.surface_recall_reasons
            {
                self.observer
                    .fault(tu, None, FaultKind::SilentRecall, reason);
            }
        }
        self.observe_demands(tu, t);

        if plan.min_set_tokens > u64::from(self.effective_budget) {
            self.min_fidelity_fits = false;
        }
        match self.config.paging {
            Paging::PerTurn => self.selector.select(
                w,
                &self.config,
                &SelectInput {
                    turn: t,
                    budget: self.effective_budget,
                    available: &self.available,
                    recency: &self.recency,
                    cap: None,
                    bonus: None,
                },
            ),
            Paging::CacheStable(marks) => self.select_stable(t, marks),
        }
        if self.observer.record {
            let pages = w
                .pages
                .iter()
                .zip(&self.selector.selected)
                .filter(|(_, l)| **l != Repr::None)
                .map(|(info, &level)| SelectedPage {
                    page: info.id.clone(),
                    level,
                })
                .collect();
            self.observer.push(TraceEvent::Selection {
                turn: tu,
                budget: TokenCount::new(self.effective_budget),
                tokens_used: TokenCount::new(self.selector.tokens_used),
                pages,
            });
        }
        let fits = plan.min_set_tokens <= u64::from(self.effective_budget);
        for k in 0..self.selector.unmet.len() {
            let (p, level) = self.selector.unmet[k];
            let info = &w.pages[p as usize];
            let pinned = info.auto_pinned;
            if pinned && fits {
                // The policy's own required set failed although the minimum-fidelity set fits:
                // a policy-controllable miss (unreachable with the artifact's Phase 1b, kept so
                // the rule is total).
                self.observer.fault(
                    tu,
                    Some(&info.id),
                    FaultKind::PinnedInvariantMiss,
                    ReasonCode::PinnedUnmet,
                );
            } else {
                self.observer.pressure(tu, &info.id, level, pinned);
            }
        }
        if self.bootstrap_check_pending {
            self.bootstrap_check_pending = false;
            for &p in &w.bootstrap_pages {
                let pi = p as usize;
                let info = &w.pages[pi];
                if self.available[pi]
                    && self.selector.selected[pi] < info.min
                    && self.selector.required[pi] == Repr::None
                {
                    self.observer.fault(
                        tu,
                        Some(&info.id),
                        FaultKind::PostCompactionBootstrap,
                        ReasonCode::BootstrapNotRestored,
                    );
                }
            }
        }

        // Recency: decay, floor, then bump each demanded page once.
        let weights = self.config.weights;
        if matches!(self.config.paging, Paging::PerTurn) {
            for r in &mut self.recency {
                *r *= weights.recency_decay;
                if *r < weights.recency_floor {
                    *r = 0.0;
                }
            }
            for d in &plan.demands {
                self.recency[d.page as usize] += weights.recency_bump;
            }
            self.resident.copy_from_slice(&self.selector.selected);
        } else {
            for d in &plan.demands {
                let p = d.page as usize;
                self.recency[p] = self.lazy_recency(p, t) + weights.recency_bump;
                self.recency_turn[p] = turn_u32(t);
            }
            if self.prompt.refresh {
                self.resident.copy_from_slice(&self.selector.selected);
            } else {
                for &p in &self.prompt.touched {
                    self.resident[p as usize] = self.selector.selected[p as usize];
                }
            }
        }
        self.next_turn += 1;
        Some(TurnStats {
            turn: tu,
            tokens_used: TokenCount::new(self.selector.tokens_used),
            faults: self.observer.turn_faults,
            hits: self.observer.turn_hits,
            alerts: self.observer.turn_alerts,
            unmet: self.observer.turn_unmet,
        })
    }

    fn boundary(&mut self, tu: u32, event: EventPlan) {
        let w = self.workload;
        let (boundary, writeback, reason) = match event {
            EventPlan::SessionStart(s) => {
                self.active_session = Some(s);
                if let Some(session) = w.sessions.get(s as usize) {
                    self.observer.push(TraceEvent::SessionStart {
                        turn: tu,
                        session: session.clone(),
                    });
                }
                return;
            }
            EventPlan::Compaction(kind) => (
                Boundary::Compaction(kind),
                self.config.writeback_compaction,
                ReasonCode::NoWritebackAtCompaction,
            ),
            EventPlan::Reset => (
                Boundary::Reset,
                self.config.writeback_reset,
                ReasonCode::NoWritebackAtReset,
            ),
            // Every harness saves its state at a clean session end: dirty pages are committed.
            EventPlan::SessionEnd => (Boundary::SessionEnd, true, ReasonCode::NoWritebackAtReset),
        };
        let (mut committed, mut lost) = (0u32, 0u32);
        for pi in 0..self.dirty.len() {
            if !self.dirty[pi] {
                continue;
            }
            self.dirty[pi] = false;
            if writeback {
                committed += 1;
            } else {
                lost += 1;
                self.observer
                    .fault(tu, Some(&w.pages[pi].id), FaultKind::FlushMiss, reason);
            }
        }
        // The boundary destroys the assembled context; the next selection rebuilds it. Under
        // cache-stable paging the pager is the compactor: a compaction changes nothing sent.
        let stable = matches!(self.config.paging, Paging::CacheStable(_));
        if !(stable && matches!(event, EventPlan::Compaction(_))) {
            self.resident.fill(Repr::None);
            self.prompt.clear();
        }
        match event {
            EventPlan::Compaction(_) => self.bootstrap_check_pending = true,
            EventPlan::SessionEnd => self.active_session = None,
            EventPlan::Reset | EventPlan::SessionStart(_) => {}
        }
        self.observer.push(TraceEvent::Boundary {
            turn: tu,
            boundary,
            committed,
            lost,
        });
    }

    fn observe_calls(&mut self, tu: u32, t: usize) {
        let w = self.workload;
        for call in &w.turns[t].calls {
            if let Some(q) = call.previous {
                let qi = q as usize;
                let q_id = &w.pages[qi].id;
                if self.resident[qi] != Repr::None {
                    self.observer.alert(tu, q_id, ReasonCode::SignatureResident);
                } else if self.config.pointer_resolves_evidence {
                    self.observer
                        .alert(tu, q_id, ReasonCode::SignatureResolvable);
                } else {
                    self.observer.fault(
                        tu,
                        Some(q_id),
                        FaultKind::DuplicateTool,
                        ReasonCode::SignatureRerunAfterEviction,
                    );
                }
            }
            self.referenced[call.page as usize] = true;
        }
    }

    fn observe_demands(&mut self, tu: u32, t: usize) {
        let w = self.workload;
        for d in &w.turns[t].demands {
            let pi = d.page as usize;
            if !d.observe {
                continue;
            }
            let info = &w.pages[pi];
            if !self.referenced[pi] {
                // First reference: a compulsory miss, neither hit nor fault, even when the
                // page happens to be resident (so hits do not depend on Phase 2's choices).
            } else if self.resident[pi] >= d.level {
                self.observer.hit(tu, &info.id, ReasonCode::Resident);
            } else if self.config.pointer_resolves_evidence {
                self.observer.hit(tu, &info.id, ReasonCode::PointerResolved);
            } else if info.is_tool_result {
                self.observer.fault(
                    tu,
                    Some(&info.id),
                    FaultKind::DuplicateTool,
                    ReasonCode::EvictedResultRerun,
                );
            } else {
                self.observer.fault(
                    tu,
                    Some(&info.id),
                    FaultKind::Refetch,
                    ReasonCode::EvictedPageRefetched,
                );
            }
            self.referenced[pi] = true;
        }
    }

    /// Replays the remaining turns and returns the result.
    #[must_use]
    pub fn into_simulation(mut self) -> Simulation {
        while self.step().is_some() {}
        let faults = self.observer.faults;
        let total_faults = faults.total();
        let alerts = self.observer.alerts;
        let hits = self.observer.hits;
        #[expect(clippy::cast_precision_loss, reason = "counts stay far below 2^53")]
        let thrash = (total_faults + alerts) as f64 / (hits + 1) as f64;
        Simulation {
            workload: self.workload.id().to_owned(),
            policy: self.config.policy,
            budget: self.budget,
            effective_budget: TokenCount::new(self.effective_budget),
            turns: turn_u32(self.next_turn),
            faults,
            total_faults,
            duplicate_signature_alerts: alerts,
            hits,
            thrash,
            min_fidelity_fits: self.min_fidelity_fits,
            invariant_pressure: std::mem::take(&mut self.observer.pressure),
            trace: std::mem::take(&mut self.observer.trace),
        }
    }
}

#[cfg(test)]
mod tests {
    use page_core::{PageId, PageType, TokenCount};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::PolicyEngine;
    use crate::{
        Demand, Feature, LevelTokens, PolicyConfig, PolicyId, WORKLOAD_SCHEMA_VERSION, Workload,
        WorkloadPage, WorkloadTurn,
    };

    fn random_workload(seed: u64) -> Workload {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = rng.random_range(20..300);
        let pages: Vec<WorkloadPage> = (0..n)
            .map(|i| {
                let p = rng.random_range(1..4);
                let s = p + rng.random_range(0..8);
                let c = s + rng.random_range(0..8);
                let f = c + rng.random_range(0..20);
                let t = |x: u32| Some(TokenCount::new(x));
                WorkloadPage {
                    id: PageId::new(format!("p{i:03}")).unwrap(),
                    page_type: PageType::Evidence,
                    pin: None,
                    min_fidelity: None,
                    tokens: LevelTokens {
                        full: t(f),
                        compressed: t(c),
                        structured: t(s),
                        pointer: t(p),
                    },
                    base_utility: f64::from(rng.random_range(0..40u32)) / 4.0,
                    recompute_cost: f64::from(rng.random_range(0..8u32)),
                    scope: None,
                    session: None,
                    tool_signature: None,
                    dirty: false,
                    exists: None,
                }
            })
            .collect();
        let turns = (0..8)
            .map(|_| WorkloadTurn {
                demands: (0..3)
                    .map(|_| Demand {
                        page: pages[rng.random_range(0..n)].id.clone(),
                        required_repr: None,
                    })
                    .collect(),
                ..WorkloadTurn::default()
            })
            .collect();
        Workload {
            schema_version: WORKLOAD_SCHEMA_VERSION,
            id: "chunks".into(),
            family: "unit".into(),
            pages,
            turns,
        }
    }

    /// Consuming Phase 2 candidates in chunks visits them in the order of a full sort: the
    /// smallest chunks give the same runs as one chunk holding everything.
    #[test]
    fn chunked_candidate_order_equals_full_sort() {
        for seed in 0..40 {
            let w = random_workload(seed).validate().unwrap();
            for policy in [PolicyId::Clawvm, PolicyId::Lru, PolicyId::CompactionHybrid] {
                let config = PolicyConfig::preset(policy).without(Feature::Prefetch);
                for budget in [50, 400, 2_000, 20_000] {
                    let run = |chunk: Option<usize>| {
                        let mut e = PolicyEngine::new(&w, &config, TokenCount::new(budget));
                        e.selector.first_chunk = chunk;
                        e.into_simulation()
                    };
                    assert_eq!(
                        run(Some(1)),
                        run(Some(usize::MAX)),
                        "seed {seed} {policy} {budget}"
                    );
                    assert_eq!(
                        run(None),
                        run(Some(usize::MAX)),
                        "seed {seed} {policy} {budget}"
                    );
                }
            }
        }
    }
}
