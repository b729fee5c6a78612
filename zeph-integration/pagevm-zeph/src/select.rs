//! Budget-driven level selection for a paged history, through page-policy's ClawVM selector.
//!
//! The history becomes a replay workload: one turn per page (its creation, demanding it at
//! `full`, plus every earlier page whose specifics it mentions), then the assembly turn, which
//! demands the preserved tail at `full` and any page a caller requires. The selector's choice at
//! that last turn is the assembled context. Until page-engine's lifecycle API is merged this is
//! the way to reach the selector; the workload is rebuilt per call, which is O(pages²·log) in
//! the worst case and measured in the side-by-side benchmark.

use std::collections::HashMap;

use page_core::{PageType, PinClass, Repr, TokenCount};
use page_engine::specifics;
use page_policy::{
    Demand, LevelTokens, PolicyConfig, PolicyId, TraceEvent, WORKLOAD_SCHEMA_VERSION, Workload,
    WorkloadPage, WorkloadTurn, simulate,
};

use crate::AdapterError;
use crate::pages::PagedHistory;

/// What the selector chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Level per page (`None`: not resident), aligned with `PagedHistory::pages`.
    pub levels: Vec<Option<Repr>>,
    /// Tokens of the selected pages (fixed tokens not included).
    pub page_tokens: usize,
    /// Pages the selector had to place but could not fit (invariant pressure).
    pub unmet: usize,
}

fn tok(n: usize) -> TokenCount {
    TokenCount::new(u32::try_from(n).unwrap_or(u32::MAX))
}

fn recompute_cost(tool: &str) -> f64 {
    // The artifact's transcript converter (as page-replay): edits 12, reads and commands 8.
    let t = tool.to_ascii_lowercase();
    if ["edit", "write", "replace", "create", "insert", "apply"]
        .iter()
        .any(|k| t.contains(k))
    {
        12.0
    } else if ["read", "open", "cat", "view", "find", "grep", "search", "glob", "ls", "bash", "shell", "run", "command"]
        .iter()
        .any(|k| t.contains(k))
    {
        8.0
    } else {
        6.0
    }
}

/// Chooses a level per page so that pages fit `page_budget` tokens.
///
/// `full_from` is the first source message index of the preserved tail: pages ending at or
/// after it are demanded at `full`. `caps` lowers the best level a page may have (microcompact
/// and soft compaction record them); a capped page is still resident at its cap or below.
///
/// # Errors
/// [`AdapterError::Workload`] when the workload built from the pages is invalid (a bug here,
/// reported rather than hidden).
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
    let mut pages = Vec::with_capacity(history.pages.len());
    let mut turns = Vec::with_capacity(history.pages.len() + 1);
    let mut facts: HashMap<String, usize> = HashMap::new();
    for (p, page) in history.pages.iter().enumerate() {
        let cap = caps.get(page.id.as_str()).copied();
        // A capped page costs at most its cap: the levels above it are priced as the cap, so
        // the selector never pays for text the adapter will not render.
        let cost = |level: Repr| -> Option<TokenCount> {
            let l = match cap {
                Some(c) if level > c => c,
                _ => level,
            };
            page.reprs.get(&l).map(|_| tok(page.cost(Some(l))))
        };
        pages.push(WorkloadPage {
            id: page.id.clone(),
            page_type: page.page_type,
            pin: match page.page_type {
                PageType::Evidence if page.tool.is_some() => Some(PinClass::Soft),
                _ => None,
            },
            min_fidelity: None,
            tokens: LevelTokens {
                full: cost(Repr::Full),
                compressed: cost(Repr::Compressed),
                structured: cost(Repr::Structured),
                pointer: cost(Repr::Pointer),
            },
            base_utility: if page.page_type == PageType::Evidence { 5.0 } else { 2.0 },
            recompute_cost: page.tool.as_deref().map_or(1.0, recompute_cost),
            scope: None,
            session: None,
            tool_signature: None,
            dirty: false,
        });
        let mut turn = WorkloadTurn::default();
        let text = page.text(Repr::Full).unwrap_or_default();
        let mentioned = specifics(text);
        let mut cited: Vec<usize> = mentioned
            .paths
            .iter()
            .chain(&mentioned.identifiers)
            .filter_map(|f| facts.get(f).copied())
            .filter(|&q| q != p)
            .collect();
        cited.sort_unstable();
        cited.dedup();
        for q in cited {
            turn.demands.push(Demand {
                page: history.pages[q].id.clone(),
                required_repr: None,
            });
        }
        turn.demands.push(Demand {
            page: page.id.clone(),
            required_repr: Some(Repr::Full),
        });
        turns.push(turn);
        for f in mentioned.paths.into_iter().chain(mentioned.identifiers) {
            facts.insert(f, p);
        }
    }
    let mut last = WorkloadTurn::default();
    for page in &history.pages {
        if page.last_message >= full_from {
            last.demands.push(Demand {
                page: page.id.clone(),
                required_repr: Some(Repr::Full),
            });
        }
    }
    turns.push(last);
    let workload = Workload {
        schema_version: WORKLOAD_SCHEMA_VERSION,
        id: "zeph-history".to_owned(),
        family: "zeph".to_owned(),
        pages,
        turns,
    }
    .validate()?;
    let sim = simulate(
        &workload,
        &PolicyConfig::preset(PolicyId::Clawvm),
        tok(page_budget),
    );
    let index: HashMap<&str, usize> = history
        .pages
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    let mut levels = vec![None; history.pages.len()];
    let final_turn = u32::try_from(history.pages.len()).unwrap_or(u32::MAX);
    let mut unmet = 0usize;
    for ev in sim.trace.iter().rev() {
        match ev {
            TraceEvent::Selection { turn, pages, .. } if *turn == final_turn => {
                for sp in pages {
                    if let Some(&i) = index.get(sp.page.as_str()) {
                        let cap = caps.get(sp.page.as_str()).copied();
                        levels[i] = Some(match cap {
                            Some(c) if sp.level > c => c,
                            _ => sp.level,
                        });
                    }
                }
            }
            TraceEvent::Pressure { turn, .. } if *turn == final_turn => unmet += 1,
            _ => {}
        }
        if matches!(ev, TraceEvent::Selection { turn, .. } | TraceEvent::Pressure { turn, .. } if *turn < final_turn)
        {
            break;
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
        unmet,
    })
}
