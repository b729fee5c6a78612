//! The two-phase representation selector (the artifact's `_select_representations`), with
//! Phase 2 walking each page's own degradation path.
//!
//! Phases, as in the artifact (reference §3.2), with the deviations listed in the README:
//! - Phase 0: every page at `none`.
//! - Phase 1a: the required set: hard-pinned and bootstrap pages at their minimum (with
//!   `auto_pin_hard`),
//!   then every demanded page at `max(demanded level, minimum)`, in insertion order.
//! - Phase 1b: install the required set sorted by priority `(pin, type, int(base·1000))`
//!   descending, stable; a page that does not fit is unmet, with no fallback to a lower level.
//! - Phase 1c: with `prefetch_pointer`, pages still at `none` get their pointer, in
//!   `(recompute_cost, base_utility)` descending order, while it fits.
//! - Phase 2: every single-step upgrade along the page's path, sorted by
//!   `(score / Δtokens, page_id, level)` descending, applied when it is exactly one step above
//!   the page's current level and fits.
//!
//! A degradation event of cache-stable paging runs the same phases with two inputs more: a cap
//! per page (its level in the prompt already sent: a selection may lower a level, never raise
//! it) and a keep bonus per page (the price of rewriting the prompt from that page on), added
//! to its Phase 2 score.
//!
//! All buffers live in the selector and are reused from turn to turn.

use page_core::Repr;

use crate::config::{PolicyConfig, UpgradeMode};
use crate::validated::{NO_LEVEL, ValidatedWorkload};

/// Per-turn inputs the selector reads besides the workload.
pub(crate) struct SelectInput<'a> {
    pub(crate) turn: usize,
    pub(crate) budget: u32,
    /// Whether each page is available (produced and in the active session) at this turn.
    pub(crate) available: &'a [bool],
    pub(crate) recency: &'a [f64],
    /// The highest level each page may get (cache-stable degradation events).
    pub(crate) cap: Option<&'a [Repr]>,
    /// Added to each page's Phase 2 score (the rewrite price of cache-stable paging).
    pub(crate) bonus: Option<&'a [f64]>,
}

/// The selector's reusable state. `selected` holds the last selection.
#[derive(Debug, Clone, Default)]
pub(crate) struct RepresentationSelector {
    pub(crate) selected: Vec<Repr>,
    /// Required level per page this turn (`none` = not required).
    pub(crate) required: Vec<Repr>,
    /// Required pages in insertion order, then sorted by priority.
    order: Vec<(u32, u32)>,
    /// Unmet required installs of the last selection: `(page, level)`.
    pub(crate) unmet: Vec<(u32, Repr)>,
    /// Phase 2 candidates as packed sort keys, bitwise inverted (ascending = best first).
    candidates: Vec<u128>,
    pub(crate) tokens_used: u32,
    /// Size of the first Phase 2 chunk instead of the estimate (tests force tiny chunks).
    #[cfg(test)]
    pub(crate) first_chunk: Option<usize>,
}

/// An order-preserving map from `f64` to `u64` (IEEE total order, with `-0.0` equal to `0.0`
/// as in Python's comparisons).
fn ord_key(x: f64) -> u64 {
    let x = if x == 0.0 { 0.0 } else { x };
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

fn repr_of(i: u8) -> Repr {
    match i {
        1 => Repr::Pointer,
        2 => Repr::Structured,
        3 => Repr::Compressed,
        4 => Repr::Full,
        _ => Repr::None,
    }
}

impl RepresentationSelector {
    pub(crate) fn resize(&mut self, n_pages: usize) {
        self.selected.clear();
        self.selected.resize(n_pages, Repr::None);
        self.required.clear();
        self.required.resize(n_pages, Repr::None);
        // Reserve the worst case once so that no turn allocates: at most every page is
        // required (or unmet), and a page has at most four upgrade steps.
        self.order.reserve(n_pages);
        self.unmet.reserve(n_pages);
        self.candidates.reserve(4 * n_pages);
    }

    /// Runs one selection. Never exceeds `input.budget`; never panics.
    pub(crate) fn select(
        &mut self,
        w: &ValidatedWorkload,
        config: &PolicyConfig,
        input: &SelectInput<'_>,
    ) {
        let pages = &w.pages;
        // Phase 0.
        self.selected.fill(Repr::None);
        self.required.fill(Repr::None);
        self.order.clear();
        self.unmet.clear();

        // Phase 1a. `order` keeps insertion order; the second field makes keys unique so an
        // unstable sort reproduces Python's stable one.
        if config.auto_pin_hard {
            for &p in &w.pinned_pages {
                let pi = p as usize;
                if input.available[pi] {
                    self.required[pi] = pages[pi].min;
                    self.order.push((p, 0));
                }
            }
        }
        for d in &w.turns[input.turn].demands {
            let pi = d.page as usize;
            if self.required[pi] == Repr::None {
                self.order.push((d.page, 0));
            }
            self.required[pi] = self.required[pi].max(d.level);
        }
        if let Some(cap) = input.cap {
            // What the cap leaves out of a requirement is served elsewhere (a page-in at the
            // tail); a page the cap excludes is not required here at all.
            for &(p, _) in &self.order {
                let pi = p as usize;
                self.required[pi] = self.required[pi].min(cap[pi]);
            }
            let required = &self.required;
            self.order
                .retain(|&(p, _)| required[p as usize] != Repr::None);
        }
        for (k, entry) in self.order.iter_mut().enumerate() {
            entry.1 = u32::try_from(k).unwrap_or(u32::MAX);
        }

        // Phase 1b.
        self.order.sort_unstable_by(|a, b| {
            let (pa, pb) = (&pages[a.0 as usize], &pages[b.0 as usize]);
            pb.priority.cmp(&pa.priority).then(a.1.cmp(&b.1))
        });
        let mut left = input.budget;
        for &(p, _) in &self.order {
            let pi = p as usize;
            let level = self.required[pi];
            let cost = pages[pi].cost[level.index()];
            if cost <= left {
                self.selected[pi] = level;
                left -= cost;
            } else {
                self.unmet.push((p, level));
            }
        }

        // Phase 1c.
        if config.prefetch_pointer {
            for &p in &w.prefetch_order {
                let pi = p as usize;
                let info = &pages[pi];
                let capped = input.cap.is_some_and(|c| c[pi] < Repr::Pointer);
                if input.available[pi]
                    && self.selected[pi] == Repr::None
                    && info.prefetchable
                    && !capped
                {
                    let cost = info.cost[Repr::Pointer.index()];
                    if cost <= left {
                        self.selected[pi] = Repr::Pointer;
                        left -= cost;
                    }
                }
            }
        }

        // Phase 2.
        if config.upgrade_mode != UpgradeMode::None && left > 0 {
            left = self.upgrade(w, config, input, left);
        }
        self.tokens_used = input.budget - left;
    }

    fn upgrade(
        &mut self,
        w: &ValidatedWorkload,
        config: &PolicyConfig,
        input: &SelectInput<'_>,
        mut left: u32,
    ) -> u32 {
        let pages = &w.pages;
        let weights = &config.weights;
        self.candidates.clear();
        let mut min_delta = u32::MAX;
        let mut delta_sum: u64 = 0;
        for (pi, info) in pages.iter().enumerate() {
            if !input.available[pi] {
                continue;
            }
            let mut cur = self.selected[pi].index();
            if info.up[cur] == NO_LEVEL {
                continue;
            }
            let recency = input.recency[pi];
            // Evaluated left to right exactly as the artifact's Python expressions.
            let boost = match info.pin {
                page_core::PinClass::Hard => weights.hard_pin_boost,
                page_core::PinClass::Soft => weights.soft_pin_boost,
                page_core::PinClass::None => 0.0,
            };
            let clawvm = || {
                info.base_utility
                    + boost
                    + weights.recency * recency
                    + weights.recompute_cost * info.recompute_cost
            };
            let cap = input
                .cap
                .map_or(NO_LEVEL, |c| u8::try_from(c[pi].index()).unwrap_or(0));
            let mut score = match config.upgrade_mode {
                UpgradeMode::None => continue,
                UpgradeMode::Lru => recency,
                UpgradeMode::Recency => {
                    info.base_utility
                        + weights.hybrid_recency * recency
                        + weights.hybrid_recompute_cost * info.recompute_cost
                }
                UpgradeMode::Clawvm => clawvm(),
                UpgradeMode::Oracle { horizon } => {
                    let f = w.future_demands(pi, input.turn, horizon);
                    clawvm() + weights.oracle_future * f64::from(f)
                }
            };
            if let Some(bonus) = input.bonus {
                score += bonus[pi];
            }
            let rank = u128::from(info.id_rank);
            // A step can apply only after every earlier step of the same page has applied,
            // i.e. only if it sorts after all of them. The chain is cut at the first step
            // that would sort before its predecessor, or that a zero-delta step blocks
            // (artifact quirk: such steps emit nothing but still advance the chain), or
            // that exceeds what is left: none of those candidates, nor any later one of the
            // page, could ever apply, so dropping them leaves the result unchanged.
            let mut prev_key = u128::MAX;
            loop {
                let next = info.up[cur];
                if next == NO_LEVEL || (cap != NO_LEVEL && next > cap) {
                    break;
                }
                let ni = usize::from(next);
                let delta = info.cost[ni].saturating_sub(info.cost[cur]);
                if delta == 0 || delta > left {
                    break;
                }
                let ratio = score / f64::from(delta);
                let key = (u128::from(ord_key(ratio)) << 64) | (rank << 8) | u128::from(next);
                if key > prev_key {
                    break;
                }
                self.candidates.push(!key);
                min_delta = min_delta.min(delta);
                delta_sum += u64::from(delta);
                prev_key = key;
                cur = ni;
            }
        }
        // Keys are unique (one per page and level), so an unstable sort is deterministic.
        // They are stored inverted so that ascending order is the artifact's descending one.
        // Most of the time the budget runs out long before the last candidate, so the list
        // is consumed in chunks: the best `chunk` keys are partitioned off (O(len)) and only
        // they are sorted; the chunk doubles when the budget outlasts it. The keys are
        // visited in exactly the order of a full sort.
        let n_candidates = self.candidates.len();
        if n_candidates == 0 {
            return left;
        }
        let mean_delta = (delta_sum / n_candidates as u64).max(1);
        let mut chunk = usize::try_from(2 * u64::from(left) / mean_delta)
            .unwrap_or(usize::MAX)
            .saturating_add(64);
        #[cfg(test)]
        if let Some(c) = self.first_chunk {
            chunk = c.max(1);
        }
        let mut start = 0;
        let candidates = &mut self.candidates;
        let selected = &mut self.selected;
        'chunks: while start < n_candidates {
            let end = n_candidates.min(start.saturating_add(chunk));
            let rest = &mut candidates[start..];
            if end < n_candidates {
                rest.select_nth_unstable(end - start - 1);
            }
            rest[..end - start].sort_unstable();
            for &inverted in &rest[..end - start] {
                if left < min_delta {
                    break 'chunks;
                }
                let key = !inverted;
                let rank = usize::try_from((key >> 8) & u128::from(u32::MAX)).unwrap_or(usize::MAX);
                let target = u8::try_from(key & 0xff).unwrap_or(NO_LEVEL);
                let Some(&p) = w.by_rank.get(rank) else {
                    continue;
                };
                let pi = p as usize;
                let info = &pages[pi];
                let cur = selected[pi].index();
                if info.up[cur] != target {
                    continue;
                }
                let delta = info.cost[usize::from(target)].saturating_sub(info.cost[cur]);
                if delta <= left {
                    selected[pi] = repr_of(target);
                    left -= delta;
                }
            }
            start = end;
            chunk = chunk.saturating_mul(2);
        }
        left
    }
}
