//! Lifecycle boundaries: the write barrier every boundary commits through, plan rebuilds
//! from committed fields, and compaction, reset and session end.

use page_core::{
    Boundary, CompactionKind, FaultKind, PageId, PageType, PinClass, SessionPageTable, TokenCounter,
};
use page_writeback::{BoundaryContext, BoundaryReport, FieldPath, FlushMiss, Store};

use crate::build::PlanState;
use crate::error::EngineError;

use super::live::LiveSet;
use super::{Engine, Item, PlanCache};

impl<S: Store, C: TokenCounter> Engine<S, C> {
    /// Commits a boundary and rebuilds pages whose fields changed.
    pub(super) fn boundary(&mut self, boundary: Boundary) -> Result<BoundaryReport, EngineError> {
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
            // Its costs changed: the next prompt compiles its pages again.
            self.live = LiveSet::default();
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
        self.live = LiveSet::default();
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
