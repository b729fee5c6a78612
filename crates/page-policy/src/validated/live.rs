//! A live workload: one turn, pages added one at a time as a harness's pages arrive, each
//! placed in every index where [`ValidatedWorkload::new`] would place it (page-policy's
//! `LiveSelector` keeps one between prompts).

use std::cmp::Ordering;
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
    /// retirement; the caller has checked its id is new). Its rank and prefetch place are set
    /// by [`ValidatedWorkload::order_live`], once for all the pages added together. The
    /// oracle's demand index stays empty: a live workload has no turn after its one.
    pub(crate) fn push_live(&mut self, page: WorkloadPage) -> Result<(), WorkloadError> {
        let i = self.pages.len();
        let info = Self::check_page(i, &page, &mut self.levels)?;
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

    /// Places the pages from `first` on, added by [`ValidatedWorkload::push_live`], in the
    /// id rank and the prefetch order where [`ValidatedWorkload::new`]'s sorts would: the new
    /// pages are sorted among themselves and merged into the orders already built, so a batch
    /// of k pages costs O(k log n) comparisons and one pass over the orders.
    pub(crate) fn order_live(&mut self, first: usize) {
        let pages = &self.pages;
        let fresh: Vec<u32> = (first..pages.len()).map(idx_u32).collect();
        let by_id = |a: u32, b: u32| pages[a as usize].id.cmp(&pages[b as usize].id);
        // Descending by (recompute_cost, base_utility); equal keys stay in page order, so an
        // earlier page comes first (`sort_by` and the merge are both stable).
        let by_prefetch = |a: u32, b: u32| {
            let (pa, pb) = (&pages[a as usize], &pages[b as usize]);
            pb.recompute_cost
                .total_cmp(&pa.recompute_cost)
                .then(pb.base_utility.total_cmp(&pa.base_utility))
        };
        self.by_rank = merge(&self.by_rank, fresh.clone(), by_id);
        self.prefetch_order = merge(&self.prefetch_order, fresh, by_prefetch);
        for (rank, &i) in self.by_rank.iter().enumerate() {
            self.pages[i as usize].id_rank = idx_u32(rank);
        }
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

/// `old` (sorted by `order`) and `fresh` sorted by `order` and merged into it, stably: on a
/// tie the element of `old` comes first. Each fresh element's place is binary-searched, so a
/// few new pages cost a few searches and one copy of `old`.
fn merge(old: &[u32], mut fresh: Vec<u32>, order: impl Fn(u32, u32) -> Ordering) -> Vec<u32> {
    fresh.sort_by(|&a, &b| order(a, b));
    let mut out = Vec::with_capacity(old.len() + fresh.len());
    let mut i = 0;
    for f in fresh {
        let at = i + old[i..].partition_point(|&o| order(f, o) != Ordering::Less);
        out.extend_from_slice(&old[i..at]);
        out.push(f);
        i = at;
    }
    out.extend_from_slice(&old[i..]);
    out
}
