//! A live workload: one turn, pages added one at a time as a harness's pages arrive, each
//! placed in every index where [`ValidatedWorkload::new`] would place it (page-policy's
//! `LiveSelector` keeps one between prompts).

use std::collections::HashMap;

use page_core::{PageId, PageType};

use crate::error::WorkloadError;
use crate::workload::{Demand, WORKLOAD_SCHEMA_VERSION, Workload, WorkloadPage, WorkloadTurn};

use super::{DemandPlan, TurnPlan, ValidatedWorkload, demand_level, idx_u32};

impl ValidatedWorkload {
    /// A workload of one turn and no pages yet, to which live pages are added one at a time
    /// ([`crate::LiveSelector`]).
    pub(crate) fn live() -> Self {
        Self {
            source: Workload {
                schema_version: WORKLOAD_SCHEMA_VERSION,
                id: "live".to_owned(),
                family: "live".to_owned(),
                pages: Vec::new(),
                turns: vec![WorkloadTurn::default()],
            },
            levels: Vec::new(),
            pages: Vec::new(),
            turns: vec![TurnPlan::default()],
            existence_changes: vec![Vec::new()],
            by_rank: Vec::new(),
            pinned_pages: Vec::new(),
            bootstrap_pages: Vec::new(),
            prefetch_order: Vec::new(),
            sessions: Vec::new(),
            demand_start: vec![0],
            demand_turns: Vec::new(),
        }
    }

    /// Adds a page of a [`ValidatedWorkload::live`] workload (no session, no tool call, no
    /// retirement; the caller has checked its id is new), placed in every index where
    /// [`ValidatedWorkload::new`] would place it. The oracle's demand index stays empty: a
    /// live workload has no turn after its one.
    pub(crate) fn push_live(&mut self, page: WorkloadPage) -> Result<(), WorkloadError> {
        let i = self.pages.len();
        let mut info = Self::check_page(i, &page, &mut self.levels)?;
        let rank = self
            .by_rank
            .partition_point(|&r| self.pages[r as usize].id < info.id);
        for other in &mut self.pages {
            if other.id_rank as usize >= rank {
                other.id_rank += 1;
            }
        }
        info.id_rank = idx_u32(rank);
        self.by_rank.insert(rank, idx_u32(i));
        // Descending by (recompute_cost, base_utility), ties in page order: after its equals.
        let at = self.prefetch_order.partition_point(|&q| {
            let o = &self.pages[q as usize];
            o.recompute_cost
                .total_cmp(&info.recompute_cost)
                .then(o.base_utility.total_cmp(&info.base_utility))
                .is_ge()
        });
        self.prefetch_order.insert(at, idx_u32(i));
        if info.auto_pinned {
            self.pinned_pages.push(idx_u32(i));
        }
        if info.page_type == PageType::Bootstrap {
            self.bootstrap_pages.push(idx_u32(i));
        }
        self.existence_changes[0].push(idx_u32(i));
        self.demand_start.push(0);
        self.pages.push(info);
        self.source.pages.push(page);
        Ok(())
    }

    /// Sets the demands of a [`ValidatedWorkload::live`] workload's turn, merged by page as
    /// [`ValidatedWorkload::new`] merges a turn's demands; `index` finds each page.
    pub(crate) fn set_live_demands(
        &mut self,
        demands: &[Demand],
        index: &HashMap<PageId, u32>,
    ) -> Result<(), WorkloadError> {
        let mut plan = TurnPlan::default();
        for (k, d) in demands.iter().enumerate() {
            let Some(&p) = index.get(&d.page) else {
                return Err(WorkloadError::UnknownPage {
                    turn: 0,
                    field: format!("demands[{k}].page"),
                    page: d.page.clone(),
                });
            };
            let level = demand_level(&self.pages[p as usize], &self.levels[p as usize], d, 0, k)?;
            match plan.demands.iter_mut().find(|e| e.page == p) {
                Some(e) => e.level = e.level.max(level),
                None => plan.demands.push(DemandPlan {
                    page: p,
                    level,
                    observe: true,
                }),
            }
        }
        let demanded = |p: u32| plan.demands.iter().any(|d| d.page == p);
        let mut min_set: u64 = 0;
        for &p in &self.pinned_pages {
            if !demanded(p) {
                let info = &self.pages[p as usize];
                min_set += u64::from(info.cost[info.min.index()]);
            }
        }
        for d in &plan.demands {
            min_set += u64::from(self.pages[d.page as usize].cost[d.level.index()]);
        }
        plan.min_set_tokens = min_set;
        self.source.turns[0].demands = demands.to_vec();
        self.turns[0] = plan;
        Ok(())
    }
}
