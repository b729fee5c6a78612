//! Cache-stable paging: the prompt as the provider saw it, which only grows at the tail between
//! degradation events, and the events that rewrite it in one batch.
//!
//! A provider bills a cached prompt prefix at a tenth of new input, so a change at position
//! *i* re-bills every token after *i*. The per-turn selector changes something in the middle
//! almost every turn; this mode changes nothing already sent until the context crosses the
//! high watermark, then frees down to the low watermark in one rewrite (see the crate README,
//! "Cache-stable paging", for the rules and their order).

use page_core::Repr;

use super::PolicyEngine;
use crate::config::{Paging, Watermarks};
use crate::selector::SelectInput;

/// One item of a prompt, in the order it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptItem {
    /// The page, by its index in the workload.
    pub page: usize,
    /// Its level (`full` for a read).
    pub level: Repr,
    /// A copy of the page's full text read back at the tail; the page itself sits earlier at
    /// its own level, or not at all.
    pub read: bool,
}

/// One item of the prompt: a page at its level, or a copy of its full text read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Item {
    pub(super) page: u32,
    /// The page's level; `full` for a read.
    pub(super) level: Repr,
    /// A copy read back at the tail (the page itself sits earlier at its own level).
    pub(super) read: bool,
}

/// The prompt in the order it was sent: pages as they entered and the full copies read back
/// since the last rewrite, interleaved as they were appended. Reused from turn to turn.
#[derive(Debug, Clone, Default)]
pub(super) struct Prompt {
    pub(super) items: Vec<Item>,
    /// Each page's own level in `items` (`none`: not there).
    level: Vec<Repr>,
    /// Whether a read copy of each page is in `items`.
    read: Vec<bool>,
    /// Tokens of `items`.
    pub(super) tokens: u64,
    /// Items from `fresh` up to `entered` were read back after the last turn (by the requests
    /// in between): a rewrite keeps them, since the model has just asked for them. Items from
    /// `entered` on came with the turn being stepped.
    fresh: usize,
    pub(super) entered: usize,
    /// Per-page cap and keep bonus of a degradation event.
    cap: Vec<Repr>,
    bonus: Vec<f64>,
    /// Pages whose read copy the event's turn demands.
    demanded: Vec<u32>,
    /// Each item's level after the event being applied.
    next: Vec<Repr>,
    /// Degradation events that rewrote the prompt.
    pub(super) rewrites: u64,
    /// Pages whose level as the model sees it changed this turn, unless `refresh`.
    pub(super) touched: Vec<u32>,
    /// Every page's level may have changed this turn (a selection ran).
    pub(super) refresh: bool,
}

impl Prompt {
    pub(super) fn resize(&mut self, n: usize) {
        self.clear();
        self.level.resize(n, Repr::None);
        self.read.resize(n, false);
        self.cap.resize(n, Repr::None);
        self.bonus.resize(n, 0.0);
        self.items.reserve(n);
        self.rewrites = 0;
    }

    /// Forgets what was sent (a reset or a session boundary destroyed the context).
    pub(super) fn clear(&mut self) {
        self.items.clear();
        self.level.fill(Repr::None);
        self.read.fill(false);
        self.tokens = 0;
        self.fresh = 0;
        self.entered = 0;
    }

    /// Replaces the prompt with `levels` in page order (the per-turn policies' prompt).
    pub(super) fn set_page_order(&mut self, levels: &[Repr], cost: impl Fn(usize, Repr) -> u32) {
        self.clear();
        for (p, &level) in levels.iter().enumerate() {
            if level != Repr::None {
                self.push(p, level, cost(p, level));
            }
        }
    }

    fn push(&mut self, p: usize, level: Repr, tokens: u32) {
        let page = u32::try_from(p).unwrap_or(u32::MAX);
        self.items.push(Item {
            page,
            level,
            read: false,
        });
        self.level[p] = level;
        self.tokens += u64::from(tokens);
        self.touched.push(page);
    }

    /// Appends a copy of page `p`'s full text (`tokens`) at the tail.
    pub(super) fn push_read(&mut self, p: usize, tokens: u32) {
        let page = u32::try_from(p).unwrap_or(u32::MAX);
        self.items.push(Item {
            page,
            level: Repr::Full,
            read: true,
        });
        self.read[p] = true;
        self.tokens += u64::from(tokens);
        self.touched.push(page);
    }

    /// The level page `p` has as the model sees it: its own, or `full` when it was read back.
    pub(super) fn effective(&self, p: usize) -> Repr {
        if self.read[p] {
            Repr::Full
        } else {
            self.level[p]
        }
    }

    /// Marks every item as sent with a turn's prompt.
    pub(super) fn end_turn(&mut self) {
        self.fresh = self.items.len();
    }

    /// Whether page `p` was read back since the last rewrite.
    pub(super) fn was_read(&self, p: usize) -> bool {
        self.read[p]
    }
}

impl PolicyEngine<'_> {
    /// The prompt after the last turn, in the order it is sent: each page at its level, in page
    /// order under the per-turn policies; under cache-stable paging, in the order pages entered
    /// and were read back (a read is a copy of the page's full text).
    pub fn prompt(&self) -> impl Iterator<Item = PromptItem> + '_ {
        let per_turn = matches!(self.config.paging, Paging::PerTurn);
        let page_order = self
            .resident
            .iter()
            .take(if per_turn { usize::MAX } else { 0 })
            .enumerate()
            .filter(|(_, l)| **l != Repr::None)
            .map(|(page, &level)| PromptItem {
                page,
                level,
                read: false,
            });
        let items = self.prompt.items.iter().map(|i| PromptItem {
            page: i.page as usize,
            level: i.level,
            read: i.read,
        });
        page_order.chain(items)
    }

    /// The model reads page `page` back. Under cache-stable paging its full text is appended
    /// at the tail of the prompt (after a degradation event, when the read would cross the high
    /// watermark) and stays until the next degradation event; returns whether the prompt now
    /// holds it (not when the page's full text alone exceeds the budget). The per-turn policies
    /// decide every level again at the next turn, so for them a read lasts the request it was
    /// made for, nothing is kept, and this returns `false`.
    pub fn page_in(&mut self, page: usize) -> bool {
        let Paging::CacheStable(marks) = self.config.paging else {
            return false;
        };
        if page >= self.resident.len() {
            return false;
        }
        if self.resident[page] == Repr::Full || self.prompt.was_read(page) {
            return true;
        }
        let tokens = self.workload.pages[page].cost[Repr::Full.index()];
        if tokens > self.effective_budget {
            // It can never be held: the read lasts its request, as under the per-turn policies.
            return false;
        }
        let high = marks.high_tokens(self.effective_budget);
        if self.prompt.tokens + u64::from(tokens) > u64::from(high) && self.next_turn > 0 {
            self.prompt.entered = self.prompt.items.len();
            self.degrade(self.next_turn - 1, marks, tokens);
            self.write_effective_levels();
            self.resident.copy_from_slice(&self.selector.selected);
        }
        self.prompt.push_read(page, tokens);
        self.resident[page] = Repr::Full;
        self.selector.selected[page] = Repr::Full;
        true
    }

    /// Degradation events that rewrote the prompt (cache-stable paging; 0 otherwise).
    #[must_use]
    pub fn rewrites(&self) -> u64 {
        self.prompt.rewrites
    }

    /// One turn of cache-stable paging: required pages enter at the tail, demanded pages below
    /// their level are read back at the tail, and a degradation event runs when the context
    /// crosses the high watermark. Leaves the effective levels in the selector's `selected`
    /// and the context's tokens in its `tokens_used`, as a per-turn selection does.
    pub(super) fn select_stable(&mut self, t: usize, marks: Watermarks) {
        let w = self.workload;
        self.selector.unmet.clear();
        self.prompt.touched.clear();
        self.prompt.refresh = false;
        if self.bootstrap_check_pending {
            // The bootstrap check reads what this turn required; nothing, unless an event runs.
            self.selector.required.fill(Repr::None);
        }
        if self.prompt.items.is_empty() {
            // Nothing was sent yet: the first prompt is a selection at the low watermark.
            let low = marks.low_tokens(self.effective_budget);
            self.select_capped(t, low, self.effective_budget, false);
            let selected = std::mem::take(&mut self.selector.selected);
            self.prompt
                .set_page_order(&selected, |p, l| w.pages[p].cost[l.index()]);
            self.selector.selected = selected;
            self.selector.tokens_used = u32::try_from(self.prompt.tokens).unwrap_or(u32::MAX);
            self.prompt.refresh = true;
            self.prompt.end_turn();
            return;
        }
        let entered = self.prompt.items.len();
        self.prompt.entered = entered;
        if self.config.auto_pin_hard {
            for &p in &w.pinned_pages {
                let pi = p as usize;
                if self.available[pi] && self.prompt.level[pi] == Repr::None {
                    let level = w.pages[pi].min;
                    self.prompt.push(pi, level, w.pages[pi].cost[level.index()]);
                }
            }
        }
        for d in &w.turns[t].demands {
            let pi = d.page as usize;
            let cost = |level: Repr| w.pages[pi].cost[level.index()];
            let level = self.prompt.level[pi];
            if level == Repr::None {
                self.prompt.push(pi, d.level, cost(d.level));
                continue;
            }
            // A page that entered this turn has not been sent: it may still go up in place.
            if let Some(k) = self.prompt.items[entered..]
                .iter()
                .position(|i| i.page == d.page && !i.read)
            {
                if level < d.level {
                    self.prompt.items[entered + k].level = d.level;
                    self.prompt.level[pi] = d.level;
                    self.prompt.tokens += u64::from(cost(d.level) - cost(level));
                }
                continue;
            }
            if level < d.level && !self.prompt.read[pi] {
                self.prompt.push_read(pi, cost(Repr::Full));
            }
        }
        let budget = self.effective_budget;
        if self.prompt.tokens > u64::from(marks.high_tokens(budget)) {
            self.degrade(t, marks, 0);
        }
        if self.prompt.refresh {
            self.write_effective_levels();
        } else {
            for k in 0..self.prompt.touched.len() {
                let p = self.prompt.touched[k] as usize;
                self.selector.selected[p] = self.prompt.effective(p);
            }
            self.selector.tokens_used = u32::try_from(self.prompt.tokens).unwrap_or(u32::MAX);
        }
        self.prompt.end_turn();
    }

    /// A degradation event: one selection at the low watermark (lower still by `reserve`
    /// tokens about to be appended), capped at each page's level in the prompt and scored with
    /// the rewrite price; applied only when it frees `min_free` tokens or the context is above
    /// the budget.
    ///
    /// Read copies: those read since the last turn stay while they fit (the model just asked
    /// for them); those
    /// this turn demands above their page's level stay in place of the page's own item, which
    /// goes; every other copy goes. When the copies the turn demands do not fit with what is
    /// required, they go too and are reported unmet.
    pub(super) fn degrade(&mut self, t: usize, marks: Watermarks, reserve: u32) {
        let w = self.workload;
        let budget = self.effective_budget;
        // The selection below overwrites every page's level in the selector.
        self.prompt.refresh = true;
        let prompt = &mut self.prompt;
        prompt.cap.fill(Repr::None);
        prompt.bonus.fill(0.0);
        let total = prompt.tokens;
        let mut after = prompt.tokens;
        let full = |p: u32| w.pages[p as usize].cost[Repr::Full.index()];
        let (mut fresh_reads, mut demanded_reads) = (0u32, 0u32);
        prompt.demanded.clear();
        for (k, item) in prompt.items.iter().enumerate() {
            let pi = item.page as usize;
            after -= u64::from(w.pages[pi].cost[item.level.index()]);
            if item.read {
                if (prompt.fresh..prompt.entered).contains(&k) {
                    fresh_reads += full(item.page);
                } else if w.turns[t]
                    .demands
                    .iter()
                    .any(|d| d.page == item.page && prompt.level[pi] < d.level)
                {
                    demanded_reads += full(item.page);
                    prompt.demanded.push(item.page);
                }
                continue;
            }
            prompt.cap[pi] = item.level;
            prompt.bonus[pi] = marks.keep_bonus(after, total);
        }
        let low = marks.low_tokens(budget);
        // Fresh copies that do not fit with what is about to be appended go as well.
        let keep_fresh = reserve.saturating_add(fresh_reads) <= budget;
        let fresh_reads = if keep_fresh { fresh_reads } else { 0 };
        let mut keep_demanded = !prompt.demanded.is_empty();
        loop {
            let reads = reserve
                .saturating_add(fresh_reads)
                .saturating_add(if keep_demanded { demanded_reads } else { 0 });
            let fits = reads <= budget;
            for &p in &self.prompt.demanded {
                let pi = p as usize;
                self.prompt.cap[pi] = if keep_demanded {
                    Repr::None
                } else {
                    self.prompt.level[pi]
                };
            }
            if fits || !keep_demanded {
                let limit = budget.saturating_sub(reads);
                self.select_capped(t, low.saturating_sub(reads).min(limit), limit, true);
                if !keep_demanded || self.selector.unmet.is_empty() {
                    break;
                }
            }
            keep_demanded = false;
        }
        let mut levels = std::mem::take(&mut self.prompt.next);
        let selected = &self.selector.selected;
        let prompt = &self.prompt;
        let keep_read = |k: usize, p: u32| {
            (keep_fresh && (prompt.fresh..prompt.entered).contains(&k))
                || (keep_demanded && prompt.demanded.contains(&p))
        };
        // A level that saves nothing is not worth its bytes changing.
        let new_level = |k: usize, i: &Item| match (i.read, keep_read(k, i.page)) {
            (true, true) => Repr::Full,
            (true, false) => Repr::None,
            (false, _) => {
                let cost = &w.pages[i.page as usize].cost;
                let to = selected[i.page as usize];
                if to != Repr::None && cost[to.index()] == cost[i.level.index()] {
                    i.level
                } else {
                    to
                }
            }
        };
        let after: u64 = prompt
            .items
            .iter()
            .enumerate()
            .map(|(k, i)| u64::from(w.pages[i.page as usize].cost[new_level(k, i).index()]))
            .sum();
        let freed = prompt.tokens.saturating_sub(after);
        let over = prompt.tokens + u64::from(reserve) > u64::from(budget);
        if freed < u64::from(marks.min_free()) && !over {
            // Not worth the cache it would break: nothing changes.
            self.selector.unmet.clear();
            self.prompt.next = levels;
            return;
        }
        levels.clear();
        levels.extend(
            prompt
                .items
                .iter()
                .enumerate()
                .map(|(k, i)| new_level(k, i)),
        );
        if !keep_demanded {
            // The page stays at its level where it was; the demand above it is pressure.
            let turn = u32::try_from(t).unwrap_or(u32::MAX);
            for &p in &self.prompt.demanded {
                let id = &w.pages[p as usize].id;
                self.observer.pressure(turn, id, Repr::Full, false);
            }
        }
        let prompt = &mut self.prompt;
        let (fresh, entered) = (prompt.fresh, prompt.entered);
        // The markers move to the first kept item at or after them.
        let (mut k, mut kept_before_fresh, mut kept_before_entered) = (0, 0, 0);
        let (own, read) = (&mut prompt.level, &mut prompt.read);
        prompt.items.retain_mut(|i| {
            i.level = levels[k];
            let kept = i.level != Repr::None;
            if kept {
                kept_before_fresh += usize::from(k < fresh);
                kept_before_entered += usize::from(k < entered);
            }
            k += 1;
            let pi = i.page as usize;
            if i.read {
                read[pi] = kept;
            } else {
                own[pi] = i.level;
            }
            kept
        });
        prompt.fresh = kept_before_fresh;
        prompt.entered = kept_before_entered;
        prompt.tokens = after;
        prompt.rewrites += 1;
        prompt.next = levels;
    }

    /// A selection with `target` tokens (capped at the prompt's levels when `capped`); when the
    /// required set does not fit `target`, again with `limit` (what the budget leaves), so
    /// that a watermark never drops a required page the budget holds.
    fn select_capped(&mut self, t: usize, target: u32, limit: u32, capped: bool) {
        self.materialize_recency();
        let (cap, bonus) = if capped {
            (Some(&self.prompt.cap[..]), Some(&self.prompt.bonus[..]))
        } else {
            (None, None)
        };
        for budget in [target, limit] {
            self.selector.select(
                self.workload,
                &self.config,
                &SelectInput {
                    turn: t,
                    budget,
                    available: &self.available,
                    recency: &self.recency_now,
                    cap,
                    bonus,
                },
            );
            if self.selector.unmet.is_empty() {
                return;
            }
        }
    }

    /// Every page's recency after the last turn stepped, into `recency_now`, for a selection.
    /// Cache-stable paging keeps recency lazily (a value and the turn it was set at) so that a
    /// turn without a selection does not touch every page.
    fn materialize_recency(&mut self) {
        let now = self.next_turn.saturating_sub(1);
        for p in 0..self.recency.len() {
            self.recency_now[p] = self.lazy_recency(p, now);
        }
    }

    /// Page `p`'s recency after turn `t` under lazy decay: its value decayed once per turn
    /// since it was set, and 0 once under the floor (decay is monotone, so checking the end
    /// is checking every turn).
    pub(super) fn lazy_recency(&self, p: usize, t: usize) -> f64 {
        let weights = &self.config.weights;
        let turns = t.saturating_sub(self.recency_turn[p] as usize);
        if turns == 0 || self.recency[p] == 0.0 {
            return self.recency[p];
        }
        let r = self.recency[p]
            * weights
                .recency_decay
                .powi(i32::try_from(turns).unwrap_or(i32::MAX));
        if r < weights.recency_floor { 0.0 } else { r }
    }

    /// Each page's level as the model sees it: its level in the prompt, or `full` when its
    /// text was read back at the tail.
    pub(super) fn write_effective_levels(&mut self) {
        let selected = &mut self.selector.selected;
        selected.fill(Repr::None);
        for i in &self.prompt.items {
            let level = &mut selected[i.page as usize];
            *level = (*level).max(i.level);
        }
        self.selector.tokens_used = u32::try_from(self.prompt.tokens).unwrap_or(u32::MAX);
    }
}
