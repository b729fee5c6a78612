//! Cache-stable assembly: between degradation events the prompt only grows at its tail, and
//! an event lowers levels in one batch, down to the low watermark.
//!
//! A provider bills a cached prompt prefix at about a tenth of new input, so a page whose
//! level changes re-bills every token after it. Here a page keeps the level it was first sent
//! at until the context crosses the high watermark; then one selection, capped at each page's
//! level in the prompt and scored with the price of rewriting from that page on, takes the
//! context to the low watermark, and is applied only when it frees `min_free` tokens (or the
//! context is above the budget). A page already sent is never raised where it is: the model
//! reads it back at the tail (`read_page`), which is a new page. This is page-policy's
//! `cache_stable` paging on live pages; the replay of recorded sessions measures the same rules
//! there.

use page_core::{Repr, TokenCount};
use page_policy::{
    Demand, LivePage, LiveSelector, PolicyConfig, Sent, Watermarks, WorkloadError, auto_pinned,
};

/// The demands of one prompt, each with its slot.
pub(crate) struct Demands {
    /// Each demanded page with its level, in slot order.
    pub(crate) list: Vec<Demand>,
    /// The slot of each.
    pub(crate) slots: Vec<usize>,
}

/// The levels of the next prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StableSelection {
    /// Each page's level, in the order the pages were given.
    pub(crate) levels: Vec<Repr>,
    /// Tokens of those levels.
    pub(crate) tokens: u32,
    /// Demands above a page's level: `(index of the page, level it needed)`.
    pub(crate) unmet: Vec<(usize, Repr)>,
    /// Whether a degradation event rewrote the prompt.
    pub(crate) rewrote: bool,
}

/// The next prompt's levels: every page as it stands (`standing`: the level it was sent at,
/// `none` when left out, or for a page new since the previous prompt the level it enters the
/// tail at), and a degradation event when that
/// crosses the high watermark of `budget`, or when a required page (hard-pinned, bootstrap)
/// stands below its minimum (an earlier budget had no room for it): minimum fidelity comes
/// before the cache, so that event applies whatever it frees.
///
/// # Errors
/// A [`WorkloadError`] from the event's selection (a page whose costs do not fit its path,
/// a demand on a page not given).
pub(crate) fn select_stable(
    config: &PolicyConfig,
    marks: Watermarks,
    selector: &mut LiveSelector,
    pages: &[LivePage],
    standing: &[Repr],
    demands: &Demands,
    budget: u32,
) -> Result<StableSelection, WorkloadError> {
    let cost = |i: usize, level: Repr| pages[i].levels.get(level).map_or(0, TokenCount::get);
    let needed = needed(pages, demands);
    let mut levels = standing.to_vec();
    let minimum = |i: usize| {
        if config.auto_pin_hard && auto_pinned(pages[i].pin, pages[i].levels.page_type()) {
            pages[i].levels.min_fidelity()
        } else {
            Repr::None
        }
    };
    let restore = (0..pages.len()).any(|i| levels[i] < minimum(i));
    let total: u64 = (0..pages.len())
        .map(|i| u64::from(cost(i, levels[i])))
        .sum();
    let mut tokens = total;
    let mut rewrote = false;
    if total > u64::from(marks.high_tokens(budget)) || restore {
        // A required page coming back is rewritten anyway: any level may be chosen for it.
        let cap: Vec<Repr> = (0..pages.len())
            .map(|i| {
                if levels[i] < minimum(i) {
                    Repr::Full
                } else {
                    levels[i]
                }
            })
            .collect();
        let capped: u64 = (0..pages.len()).map(|i| u64::from(cost(i, cap[i]))).sum();
        let mut after = capped;
        let bonus: Vec<f64> = (0..pages.len())
            .map(|i| {
                after -= u64::from(cost(i, cap[i]));
                marks.keep_bonus(after, capped)
            })
            .collect();
        let sent = Some(Sent {
            cap: &cap,
            bonus: &bonus,
        });
        let low = TokenCount::new(marks.low_tokens(budget));
        let mut chosen = selector.select(config, pages, &demands.list, low, sent)?;
        if !chosen.unmet.is_empty() {
            // A watermark never drops a required page the budget holds.
            chosen =
                selector.select(config, pages, &demands.list, TokenCount::new(budget), sent)?;
        }
        // A level that saves nothing is not worth its bytes changing.
        let next: Vec<Repr> = (0..pages.len())
            .map(|i| {
                let to = chosen.levels[i];
                if to != Repr::None && to < levels[i] && cost(i, to) == cost(i, levels[i]) {
                    levels[i]
                } else {
                    to
                }
            })
            .collect();
        let lowered: u64 = (0..pages.len()).map(|i| u64::from(cost(i, next[i]))).sum();
        let freed = total.saturating_sub(lowered);
        if freed >= u64::from(marks.min_free()) || total > u64::from(budget) || restore {
            levels = next;
            tokens = lowered;
            rewrote = true;
        }
    }
    let unmet = (0..pages.len())
        .filter(|&i| levels[i] < needed[i].max(minimum(i)))
        .map(|i| (i, needed[i].max(minimum(i))))
        .collect();
    Ok(StableSelection {
        levels,
        tokens: u32::try_from(tokens).unwrap_or(u32::MAX),
        unmet,
        rewrote,
    })
}

/// Each page's demanded level, raised to its minimum and onto its path (`none`: no demand).
fn needed(pages: &[LivePage], demands: &Demands) -> Vec<Repr> {
    let mut out = vec![Repr::None; pages.len()];
    for (d, &i) in demands.list.iter().zip(&demands.slots) {
        let costs = &pages[i].levels;
        let (level, _) = costs.at_least(
            d.required_repr
                .unwrap_or(Repr::None)
                .max(costs.min_fidelity()),
        );
        out[i] = out[i].max(level);
    }
    out
}
