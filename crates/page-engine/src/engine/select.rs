//! Selection: which level each page takes in the next prompt, cache-stably or afresh per
//! turn, with tool groups kept whole and recency aged after every prompt.

use std::collections::{BTreeMap, HashMap};

use page_core::{LevelCosts, PageId, Repr, TokenCount, TokenCounter};
use page_policy::{Demand, LivePage, Paging};
use page_writeback::Store;

use crate::error::EngineError;
use crate::stable::{Demands, select_stable};

use super::Engine;
use super::live::{LiveSet, Slot};

/// The levels of one prompt's slots.
pub(super) struct Selected {
    /// Each slot's level (`none`: left out).
    pub(super) levels: Vec<Repr>,
    /// The tokens they take.
    pub(super) used: u32,
    /// Required slots that did not fit, with the level needed.
    pub(super) unmet: Vec<(usize, Repr)>,
}

impl<S: Store, C: TokenCounter> Engine<S, C> {
    /// Each slot's level in the next prompt under `budget`: cache-stably (levels change only at a
    /// degradation event) or afresh per turn, as the policy says, with tool groups kept whole.
    pub(super) fn select(
        &mut self,
        live: &mut LiveSet,
        demands: &Demands,
        budget: TokenCount,
    ) -> Result<Selected, EngineError> {
        let (mut levels, mut used, unmet) = match self.config.policy.paging {
            Paging::PerTurn => {
                let selection = live.selector.select(
                    &self.config.policy,
                    &live.pages,
                    &demands.list,
                    budget,
                    None,
                )?;
                let mut levels = selection.levels;
                let mut used = selection.tokens.get();
                if self.config.stable_prefix {
                    Self::keep_prefix(live, &demands.list, &mut levels, &mut used, budget.get());
                }
                (levels, used, selection.unmet)
            }
            Paging::CacheStable(marks) => {
                let standing = self.standing(live, &demands.list, budget);
                let selection = select_stable(
                    &self.config.policy,
                    marks,
                    &mut live.selector,
                    &live.pages,
                    &standing,
                    demands,
                    budget.get(),
                )?;
                if selection.rewrote {
                    self.rewrites += 1;
                    tracing::event!(
                        name: "context.pagevm.degradation_event",
                        tracing::Level::DEBUG,
                        session = %self.config.session,
                        turn = self.turn,
                        budget = budget.get(),
                        tokens = selection.tokens,
                    );
                }
                (selection.levels, selection.tokens, selection.unmet)
            }
        };
        keep_groups_whole(
            &live.slots,
            &live.pages,
            &mut levels,
            &mut used,
            budget.get(),
        );
        Ok(Selected {
            levels,
            used,
            unmet,
        })
    }

    /// Each slot's level as it stands against the previous prompt: a page of an item that
    /// came after it is new and enters at its demanded level, or at the best level within the
    /// fresh result share; any other keeps the level it was sent at (`none` when left out).
    pub(super) fn standing(
        &self,
        live: &LiveSet,
        demands: &[Demand],
        budget: TokenCount,
    ) -> Vec<Repr> {
        let demanded = demanded_levels(demands);
        let share = self.fresh_share(budget);
        live.slots
            .iter()
            .zip(&live.pages)
            .zip(&live.sent)
            .map(|((slot, page), &sent)| {
                if slot.item < self.assembled_items {
                    return sent;
                }
                let levels = &page.levels;
                match demanded.get(&slot.page) {
                    Some(&level) => levels.at_least(level.max(levels.min_fidelity())).0,
                    None => within_share(levels, Repr::Full, share),
                }
            })
            .collect()
    }

    /// Tokens a fresh result may take at its best level: the configured share of `budget`.
    fn fresh_share(&self, budget: TokenCount) -> u32 {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a share of a u32 budget, clamped to [0, 1]"
        )]
        let share =
            (f64::from(budget.get()) * self.config.fresh_result_share.clamp(0.0, 1.0)) as u32;
        share
    }

    /// Gives a page the selector degraded since the previous prompt its previous level back
    /// when the free budget, or pages after it degrading tail first, pay for it. A donor never
    /// goes below its minimum, its demanded level or out of the prompt, so pins, demands and
    /// groups are as the selector left them; pages left out are not brought back.
    pub(super) fn keep_prefix(
        live: &LiveSet,
        demands: &[Demand],
        levels: &mut [Repr],
        used: &mut u32,
        budget: u32,
    ) {
        let (slots, pages) = (&live.slots, &live.pages);
        let demanded = demanded_levels(demands);
        let cost = |k: usize, level: Repr| pages[k].levels.get(level).map_or(0, TokenCount::get);
        let floor = |k: usize| {
            let demand = demanded.get(&slots[k].page).copied().unwrap_or(Repr::None);
            pages[k]
                .levels
                .min_fidelity()
                .max(demand)
                .max(Repr::Pointer)
        };
        for i in 0..slots.len() {
            let before = live.sent[i];
            if before == Repr::None
                || levels[i] == Repr::None
                || before <= levels[i]
                || pages[i].levels.get(before).is_none()
            {
                continue;
            }
            let extra = cost(i, before).saturating_sub(cost(i, levels[i]));
            let mut trial = levels.to_vec();
            let mut free = i64::from(budget) - i64::from(*used) - i64::from(extra);
            for j in (i + 1..slots.len()).rev() {
                while free < 0 && trial[j] != Repr::None && trial[j] > floor(j) {
                    let Some(lower) = pages[j].levels.degrade(trial[j]).filter(|&l| l >= floor(j))
                    else {
                        break;
                    };
                    free += i64::from(cost(j, trial[j]).saturating_sub(cost(j, lower)));
                    trial[j] = lower;
                }
                if free >= 0 {
                    break;
                }
            }
            if free >= 0 {
                trial[i] = before;
                levels.copy_from_slice(&trial);
                *used = u32::try_from(i64::from(budget) - free).unwrap_or(budget);
            }
        }
    }

    /// The demands of this prompt: a demanded tool result pulls its group's other results in
    /// at their minimum (a group is all or nothing), and a fresh demand for `full` that
    /// would take more than its share of the budget is lowered to the best level that fits.
    pub(super) fn expanded_demands(&self, live: &LiveSet, budget: TokenCount) -> Demands {
        let (slots, pages) = (&live.slots, &live.pages);
        let share = self.fresh_share(budget);
        let mut wanted: BTreeMap<usize, Repr> = BTreeMap::new();
        for (page, &level) in &self.demands {
            let Some(i) = live.slot_of(page) else {
                continue;
            };
            let levels = &pages[i].levels;
            let level = levels.path().at_least(level.max(levels.min_fidelity()));
            let level = if self.page_ins.contains(page) {
                level
            } else {
                within_share(levels, level, share)
            };
            let slot_level = wanted.entry(i).or_insert(Repr::None);
            *slot_level = (*slot_level).max(level);
            if slots[i].call.is_some() {
                for j in item_run(slots, i).filter(|&j| j != i) {
                    let min = pages[j].levels.min_fidelity();
                    let e = wanted.entry(j).or_insert(Repr::None);
                    *e = (*e).max(min);
                }
            }
        }
        let (slot_of, list) = wanted
            .into_iter()
            .map(|(i, level)| {
                let demand = Demand {
                    page: slots[i].page.clone(),
                    required_repr: Some(level),
                };
                (i, demand)
            })
            .unzip();
        Demands {
            list,
            slots: slot_of,
        }
    }

    /// Recency as the replay engine updates it: every page decays, demanded pages are bumped.
    pub(super) fn age(&mut self, demands: &[Demand]) {
        let w = &self.config.policy.weights;
        self.table.decay_recency(w.recency_decay, w.recency_floor);
        let bump = w.recency_bump;
        for d in demands {
            if let Some(r) = self.table.recency(&d.page) {
                let _set = self.table.set_recency(&d.page, r + bump);
            }
        }
        self.demands.clear();
        self.page_ins.clear();
    }
}

/// A group is all or nothing: when some results of a group are in and others are not, the
/// missing ones come in at their minimum if that fits, otherwise the group leaves.
pub(super) fn keep_groups_whole(
    slots: &[Slot],
    pages: &[LivePage],
    levels: &mut [Repr],
    used: &mut u32,
    budget: u32,
) {
    for range in item_runs(slots) {
        let (i, end) = (range.start, range.end);
        if slots[i].call.is_some() {
            let present = range.clone().filter(|&k| levels[k] != Repr::None).count();
            if present > 0 && present < end - i {
                let missing: u32 = range
                    .clone()
                    .filter(|&k| levels[k] == Repr::None)
                    .map(|k| {
                        let min = pages[k].levels.min_fidelity();
                        pages[k].levels.get(min).map_or(0, TokenCount::get)
                    })
                    .sum();
                if used.saturating_add(missing) <= budget {
                    for k in range {
                        if levels[k] == Repr::None {
                            levels[k] = pages[k].levels.min_fidelity();
                        }
                    }
                    *used += missing;
                } else {
                    for k in range {
                        let cost = pages[k].levels.get(levels[k]).map_or(0, TokenCount::get);
                        *used -= cost;
                        levels[k] = Repr::None;
                    }
                }
            }
        }
    }
}

/// Each demanded page with the level demanded (`none`: at its minimum).
fn demanded_levels(demands: &[Demand]) -> HashMap<&PageId, Repr> {
    demands
        .iter()
        .map(|d| (&d.page, d.required_repr.unwrap_or(Repr::None)))
        .collect()
}

/// `level`, lowered step by step while it costs more than `share`, never below the minimum.
fn within_share(levels: &LevelCosts, level: Repr, share: u32) -> Repr {
    let mut level = level;
    while levels.get(level).is_some_and(|c| c.get() > share) {
        match levels.degrade(level) {
            Some(lower) if lower >= levels.min_fidelity() => level = lower,
            _ => break,
        }
    }
    level
}

/// The slots of the item `slots[i]` belongs to (they are consecutive).
fn item_run(slots: &[Slot], i: usize) -> std::ops::Range<usize> {
    let item = slots[i].item;
    let start = slots[..i]
        .iter()
        .rposition(|s| s.item != item)
        .map_or(0, |p| p + 1);
    let end = slots[i..]
        .iter()
        .position(|s| s.item != item)
        .map_or(slots.len(), |n| i + n);
    start..end
}

/// The runs of consecutive slots that belong to one item (a page, or one group's results).
pub(super) fn item_runs(slots: &[Slot]) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        let item = slots.get(start)?.item;
        let end = slots[start..]
            .iter()
            .position(|s| s.item != item)
            .map_or(slots.len(), |n| start + n);
        let run = start..end;
        start = end;
        Some(run)
    })
}
