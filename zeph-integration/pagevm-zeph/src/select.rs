//! Budget-driven level selection for a paged history, through page-policy's live selector
//! (`LiveSelector`, the selector the lifecycle engine assembles prompts with).
//!
//! Inputs per page: its Zeph-counted cost at every level, its pin, base utility and recompute
//! cost (page-replay's values), and its recency (position of its last message in the history,
//! scaled to [0, 1]). Demands: the preserved tail at `full`, and every earlier page whose
//! specifics (paths, identifiers) the tail mentions, at its minimum fidelity, so what the
//! current turn talks about stays at least resolvable.

use std::collections::{BTreeMap, HashMap};

use page_core::{LevelCosts, Repr, TokenCount};
use page_policy::{Demand, LivePage, LiveSelector, PolicyConfig, PolicyId};

use crate::AdapterError;
use crate::pages::PagedHistory;

/// What the selector chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Level per page (`None`: not resident), aligned with `PagedHistory::pages`.
    pub levels: Vec<Option<Repr>>,
    /// Tokens of the selected pages (fixed tokens not included).
    pub page_tokens: usize,
    /// Required installs that did not fit (invariant pressure): the tail or a cited page.
    pub unmet: usize,
}

fn tok(n: usize) -> TokenCount {
    TokenCount::new(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Chooses a level per page so that pages fit `page_budget` tokens.
///
/// `full_from` is the first source message index of the preserved tail: pages ending at or
/// after it are demanded at `full`. `caps` lowers the best level a page may have (microcompact
/// and soft compaction record them): the levels above a cap are priced and rendered as the cap.
///
/// # Errors
/// [`AdapterError::Workload`] or [`AdapterError::Id`] when the pages do not form a valid
/// selection input (a bug here, reported rather than hidden).
pub fn select(
    history: &PagedHistory,
    page_budget: usize,
    full_from: usize,
    caps: &HashMap<String, Repr>,
) -> Result<Selection, AdapterError> {
    if history.pages.is_empty() {
        return Ok(Selection {
            levels: Vec::new(),
            page_tokens: 0,
            unmet: 0,
        });
    }
    let span = history
        .pages
        .iter()
        .map(|p| p.last_message)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    // Demands: the tail at full; pages the tail cites at their minimum.
    let mut demands = Vec::new();
    // A specific cites the latest earlier page holding it; the scan happened once, when each
    // page was built.
    let mut citations = page_engine::Citations::<usize>::default();
    let mut cited: Vec<usize> = Vec::new();
    for (p, page) in history.pages.iter().enumerate() {
        if page.last_message >= full_from {
            demands.push(Demand {
                page: page.id.clone(),
                required_repr: Some(Repr::Full),
            });
            cited.extend(
                citations
                    .cited(page.specifics.iter())
                    .into_iter()
                    .filter(|&q| history.pages[q].last_message < full_from),
            );
        }
        citations.hold(&p, page.specifics.iter());
    }
    cited.sort_unstable();
    cited.dedup();
    demands.extend(cited.into_iter().map(|q| Demand {
        page: history.pages[q].id.clone(),
        required_repr: None,
    }));
    let cap_of = |i: usize| caps.get(history.pages[i].id.as_str()).copied();
    let capped = |i: usize, l: Repr| match cap_of(i) {
        Some(c) if l > c => c,
        _ => l,
    };
    // Under no pressure nothing is degraded: every page at full (or its cap), as Zeph would
    // send it.
    let all_full: usize = (0..history.pages.len())
        .map(|i| history.pages[i].cost(Some(capped(i, Repr::Full))))
        .sum();
    if all_full <= page_budget {
        let levels: Vec<Option<Repr>> = (0..history.pages.len())
            .map(|i| Some(capped(i, Repr::Full)))
            .collect();
        return Ok(Selection {
            levels,
            page_tokens: all_full,
            unmet: 0,
        });
    }
    let mut live = Vec::with_capacity(history.pages.len());
    for page in &history.pages {
        let cap = caps.get(page.id.as_str()).copied();
        let defaults = page.page_type.defaults();
        let costs: BTreeMap<Repr, TokenCount> = page
            .reprs
            .keys()
            .map(|&level| {
                let l = match cap {
                    Some(c) if level > c => c,
                    _ => level,
                };
                (level, tok(page.cost(Some(l))))
            })
            .collect();
        live.push(LivePage {
            id: page.id.clone(),
            levels: LevelCosts::new(
                page.page_type,
                defaults.path(),
                defaults.min_fidelity(),
                &costs,
            )?,
            pin: page.pin,
            base_utility: page.base_utility,
            recompute_cost: page.recompute_cost,
            recency: page.last_message as f64 / span,
        });
    }
    let config = PolicyConfig::preset(PolicyId::Clawvm);
    // The pages are compiled once for the relaxation rounds below.
    let mut selector = LiveSelector::default();
    let mut chosen = selector.select(&config, &live, &demands, tok(page_budget), None)?;
    let newest = history
        .pages
        .iter()
        .map(|p| p.last_message)
        .max()
        .unwrap_or(0);
    if !chosen.unmet.is_empty() {
        // The tail at full does not fit: keep only the newest page's demand at full and the
        // rest of the tail at its minimum (still resolvable), rather than overrun the budget.
        let last: HashMap<&str, usize> = history
            .pages
            .iter()
            .map(|p| (p.id.as_str(), p.last_message))
            .collect();
        for d in &mut demands {
            if last.get(d.page.as_str()).is_some_and(|&m| m < newest) {
                d.required_repr = None;
            }
        }
        chosen = selector.select(&config, &live, &demands, tok(page_budget), None)?;
    }
    if !chosen.unmet.is_empty() {
        // Even the newest page does not fit at full (a huge tool output just arrived): every
        // demand at its minimum; the fill pass below gives back what fits.
        for d in &mut demands {
            d.required_repr = None;
        }
        chosen = selector.select(&config, &live, &demands, tok(page_budget), None)?;
    }
    if !chosen.unmet.is_empty() {
        // Still too much: only the newest page stays required (at its minimum); cited and
        // older tail pages compete by score like the rest.
        demands = history
            .pages
            .iter()
            .filter(|p| p.last_message == newest)
            .map(|p| Demand {
                page: p.id.clone(),
                required_repr: None,
            })
            .collect();
        chosen = selector.select(&config, &live, &demands, tok(page_budget), None)?;
    }
    let mut levels: Vec<Option<Repr>> = chosen
        .levels
        .iter()
        .enumerate()
        .map(|(i, &l)| (l != Repr::None).then(|| capped(i, l)))
        .collect();
    // A demanded page that did not fit is still rendered at its demanded level: the newest
    // messages are never dropped (Zeph keeps its preserved tail whatever the budget); the
    // overrun is reported as `unmet` and the caller's state machine sees it.
    for &(i, level) in &chosen.unmet {
        if let Some(l) = levels.get_mut(i) {
            *l = Some(capped(i, level.max(Repr::Pointer)));
        }
    }
    // The artifact's selector cuts a page's upgrade chain where a later step would rank
    // before an earlier one, so budget can be left unused; spend it newest page first, one
    // level at a time, so recent evidence is as complete as the budget allows.
    let mut used: usize = (0..levels.len())
        .map(|i| history.pages[i].cost(levels[i]))
        .sum();
    let mut order: Vec<usize> = (0..levels.len()).collect();
    order.sort_by(|&a, &b| {
        history.pages[b]
            .last_message
            .cmp(&history.pages[a].last_message)
            .then(b.cmp(&a))
    });
    for i in order {
        let page = &history.pages[i];
        let top = capped(i, Repr::Full);
        loop {
            let cur = levels[i];
            let next = match cur {
                None => Some(Repr::Pointer),
                Some(l) if l < top => page.reprs.keys().copied().find(|&n| n > l && n <= top),
                Some(_) => None,
            };
            let Some(n) = next else { break };
            let delta = page.cost(Some(n)).saturating_sub(page.cost(cur));
            if used + delta > page_budget {
                break;
            }
            used += delta;
            levels[i] = Some(n);
        }
    }
    let page_tokens = history
        .pages
        .iter()
        .zip(&levels)
        .map(|(p, l)| p.cost(*l))
        .sum();
    Ok(Selection {
        levels,
        page_tokens,
        unmet: chosen.unmet.len(),
    })
}
