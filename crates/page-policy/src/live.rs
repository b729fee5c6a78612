//! Selection over live pages: the same two-phase selector the replay engine runs, for a harness
//! that assembles one prompt at a time from the pages it holds now.
//!
//! A live harness has no workload: it has the pages of its session, what the agent demands
//! for the next model call, and a budget. [`select_live`] builds a one-turn workload from
//! them and runs the selector of [`crate::simulate`] on it, so a live prompt and a replayed
//! turn with the same inputs select exactly the same levels. The oracle policy has no future
//! to look at here and scores like ClawVM. [`LiveSelector`] keeps that workload between
//! prompts and compiles only the pages that arrived since, which is what makes a selection
//! over thousands of pages cheap enough for every degradation event.

use std::collections::HashMap;

use page_core::{LevelCosts, PageId, PinClass, Repr, TokenCount};

use crate::config::PolicyConfig;
use crate::error::WorkloadError;
use crate::selector::{RepresentationSelector, SelectInput};
use crate::validated::ValidatedWorkload;
use crate::workload::{Demand, LevelTokens, WorkloadPage};

/// A page as the selector sees it: costs, pin and scoring inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct LivePage {
    /// The page's id, unique among the pages passed together.
    pub id: PageId,
    /// Cost of each level on the page's path (the type's default path).
    pub levels: LevelCosts,
    /// Pin class.
    pub pin: PinClass,
    /// Utility independent of recency and pins.
    pub base_utility: f64,
    /// What re-creating the content costs.
    pub recompute_cost: f64,
    /// Recency in `[0, 1]`, 1 for the most recently used.
    pub recency: f64,
}

/// What the selector chose for one prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSelection {
    /// The level of each page, in the order the pages were given (`none` = not in the
    /// prompt).
    pub levels: Vec<Repr>,
    /// Required installs that did not fit: `(index of the page, level it needed)`.
    pub unmet: Vec<(usize, Repr)>,
    /// Tokens of the selected levels.
    pub tokens: TokenCount,
}

/// What a degradation event of cache-stable paging knows of the prompt already sent, per page
/// in the order the pages are given: the highest level each may get (its level in the prompt:
/// an event lowers levels, never raises them) and the bonus that keeps it (its rewrite price,
/// [`crate::Watermarks::keep_bonus`]).
#[derive(Debug, Clone, Copy)]
pub struct Sent<'a> {
    /// Each page's level in the prompt sent; a requirement above it is not met here.
    pub cap: &'a [Repr],
    /// Added to each page's upgrade score.
    pub bonus: &'a [f64],
}

/// Selects a level for every page under `budget`: hard-pinned and bootstrap pages at their
/// minimum and `demands` at `max(demanded level, minimum)` first, then pointers and upgrades
/// by the policy's score; with `sent`, no page above its level there, and pages early in the
/// prompt kept by their rewrite price.
///
/// # Errors
/// A [`WorkloadError`] naming the page when a page's costs do not fit its type's default
/// path, an id repeats, a demand names a page that is not given, or `sent` does not have one
/// entry per page.
pub fn select_live(
    config: &PolicyConfig,
    pages: &[LivePage],
    demands: &[Demand],
    budget: TokenCount,
    sent: Option<Sent<'_>>,
) -> Result<LiveSelection, WorkloadError> {
    LiveSelector::default().select(config, pages, demands, budget, sent)
}

/// Live pages compiled for selection as they arrive: [`select_live`] without compiling again
/// the pages an earlier call has seen, over reused buffers. A harness keeps one while its
/// pages only grow at the end, and starts a new one when a page changes or leaves.
#[derive(Debug, Clone)]
pub struct LiveSelector {
    workload: ValidatedWorkload,
    index: HashMap<PageId, u32>,
    selector: RepresentationSelector,
    available: Vec<bool>,
    recency: Vec<f64>,
}

impl Default for LiveSelector {
    fn default() -> Self {
        Self {
            workload: ValidatedWorkload::live(),
            index: HashMap::new(),
            selector: RepresentationSelector::default(),
            available: Vec::new(),
            recency: Vec::new(),
        }
    }
}

impl LiveSelector {
    /// [`select_live`] over `pages`. Pages an earlier call was given are not compiled again
    /// when `pages` begins with them (same ids, costs and scores, in the same order); a
    /// shorter list, or one whose last compiled id differs, is compiled afresh.
    ///
    /// # Errors
    /// As [`select_live`]; a page that fails leaves nothing compiled.
    pub fn select(
        &mut self,
        config: &PolicyConfig,
        pages: &[LivePage],
        demands: &[Demand],
        budget: TokenCount,
        sent: Option<Sent<'_>>,
    ) -> Result<LiveSelection, WorkloadError> {
        if let Some(s) = sent
            && (s.cap.len() != pages.len() || s.bonus.len() != pages.len())
        {
            return Err(WorkloadError::SentMismatch {
                pages: pages.len(),
                caps: s.cap.len(),
                bonuses: s.bonus.len(),
            });
        }
        let compiled = self.workload.pages.len();
        let extends = compiled <= pages.len()
            && compiled
                .checked_sub(1)
                .is_none_or(|last| pages[last].id == self.workload.pages[last].id);
        if !extends {
            *self = Self::default();
        }
        if let Err(e) = self.compile(pages) {
            *self = Self::default();
            return Err(e);
        }
        self.recency.clear();
        self.recency.extend(pages.iter().map(|p| p.recency));
        self.workload.set_live_demands(demands, &self.index)?;
        self.selector.resize(pages.len());
        self.selector.select(
            &self.workload,
            config,
            &SelectInput {
                turn: 0,
                budget: budget.get(),
                available: &self.available,
                recency: &self.recency,
                cap: sent.map(|s| s.cap),
                bonus: sent.map(|s| s.bonus),
            },
        );
        Ok(LiveSelection {
            levels: self.selector.selected.clone(),
            unmet: self
                .selector
                .unmet
                .iter()
                .map(|&(p, level)| (p as usize, level))
                .collect(),
            tokens: TokenCount::new(self.selector.tokens_used),
        })
    }

    /// Compiles the pages after those already compiled.
    fn compile(&mut self, pages: &[LivePage]) -> Result<(), WorkloadError> {
        let first = self.workload.pages.len();
        for (i, p) in pages.iter().enumerate().skip(first) {
            let n = u32::try_from(i).unwrap_or(u32::MAX);
            if self.index.insert(p.id.clone(), n).is_some() {
                return Err(WorkloadError::DuplicatePage {
                    index: i,
                    page: p.id.clone(),
                });
            }
            self.workload.push_live(workload_page(p))?;
            self.available.push(true);
        }
        if pages.len() > first {
            self.workload.order_live(first);
        }
        Ok(())
    }
}

fn workload_page(p: &LivePage) -> WorkloadPage {
    let mut tokens = LevelTokens::default();
    for (level, cost) in p.levels.iter() {
        match level {
            Repr::Full => tokens.full = Some(cost),
            Repr::Compressed => tokens.compressed = Some(cost),
            Repr::Structured => tokens.structured = Some(cost),
            Repr::Pointer => tokens.pointer = Some(cost),
            Repr::None => {}
        }
    }
    WorkloadPage {
        id: p.id.clone(),
        page_type: p.levels.page_type(),
        pin: Some(p.pin),
        min_fidelity: Some(p.levels.min_fidelity()),
        tokens,
        base_utility: p.base_utility,
        recompute_cost: p.recompute_cost,
        scope: None,
        session: None,
        tool_signature: None,
        dirty: false,
        exists: None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use page_core::PageType;
    use proptest::prelude::*;

    use super::*;
    use crate::config::PolicyId;
    use crate::workload::{WORKLOAD_SCHEMA_VERSION, Workload, WorkloadTurn};

    fn page(id: &str, page_type: PageType, costs: &[(Repr, u32)], base: f64) -> LivePage {
        let map: BTreeMap<Repr, TokenCount> = costs
            .iter()
            .map(|&(r, c)| (r, TokenCount::new(c)))
            .collect();
        let defaults = page_type.defaults();
        LivePage {
            id: PageId::new(id).unwrap(),
            levels: LevelCosts::new(page_type, defaults.path(), defaults.min_fidelity(), &map)
                .unwrap(),
            pin: defaults.default_pin(),
            base_utility: base,
            recompute_cost: 1.0,
            recency: 0.0,
        }
    }

    fn evidence(id: &str, base: f64) -> LivePage {
        page(
            id,
            PageType::Evidence,
            &[
                (Repr::Full, 100),
                (Repr::Compressed, 40),
                (Repr::Structured, 20),
                (Repr::Pointer, 5),
            ],
            base,
        )
    }

    /// A live selection equals the replay engine's selection of the same one-turn workload.
    #[test]
    fn live_selection_matches_the_replay_engine() {
        let pages = vec![
            page(
                "boot",
                PageType::Bootstrap,
                &[(Repr::Full, 30), (Repr::Structured, 10)],
                9.0,
            ),
            evidence("e1", 5.0),
            evidence("e2", 3.0),
        ];
        let demands = vec![Demand {
            page: PageId::new("e2").unwrap(),
            required_repr: Some(Repr::Full),
        }];
        let config = PolicyConfig::preset(PolicyId::Clawvm);
        let live = select_live(&config, &pages, &demands, TokenCount::new(160), None).unwrap();
        assert_eq!(live.levels[2], Repr::Full);
        assert!(live.tokens.get() <= 160);
        let workload = Workload {
            schema_version: WORKLOAD_SCHEMA_VERSION,
            id: "w".into(),
            family: "f".into(),
            pages: pages.iter().map(workload_page).collect(),
            turns: vec![WorkloadTurn {
                demands,
                ..WorkloadTurn::default()
            }],
        };
        let validated = workload.validate().unwrap();
        let mut engine = crate::PolicyEngine::new(&validated, &config, TokenCount::new(160));
        engine.set_record_trace(true);
        while engine.step().is_some() {}
        let sim = engine.into_simulation();
        let replayed: Vec<Repr> = sim
            .trace
            .iter()
            .find_map(|e| match e {
                crate::TraceEvent::Selection { pages, .. } => {
                    Some(pages.iter().map(|s| s.level).collect())
                }
                _ => None,
            })
            .unwrap();
        let live_nonzero: Vec<Repr> = live
            .levels
            .iter()
            .copied()
            .filter(|l| *l != Repr::None)
            .collect();
        assert_eq!(live_nonzero, replayed);
    }

    #[test]
    fn an_unknown_demand_is_an_error() {
        let err = select_live(
            &PolicyConfig::preset(PolicyId::Clawvm),
            &[evidence("e1", 1.0)],
            &[Demand {
                page: PageId::new("nope").unwrap(),
                required_repr: None,
            }],
            TokenCount::new(10),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    /// The selection of `pages` through a workload compiled whole by
    /// [`Workload::validate`]: what [`LiveSelector`] must equal.
    fn compiled_whole(
        config: &PolicyConfig,
        pages: &[LivePage],
        demands: &[Demand],
        budget: u32,
        sent: Option<Sent<'_>>,
    ) -> LiveSelection {
        let workload = Workload {
            schema_version: WORKLOAD_SCHEMA_VERSION,
            id: "whole".into(),
            family: "whole".into(),
            pages: pages.iter().map(workload_page).collect(),
            turns: vec![WorkloadTurn {
                demands: demands.to_vec(),
                ..WorkloadTurn::default()
            }],
        };
        let validated = workload.validate().unwrap();
        let mut selector = RepresentationSelector::default();
        selector.resize(pages.len());
        let recency: Vec<f64> = pages.iter().map(|p| p.recency).collect();
        selector.select(
            &validated,
            config,
            &SelectInput {
                turn: 0,
                budget,
                available: &vec![true; pages.len()],
                recency: &recency,
                cap: sent.map(|s| s.cap),
                bonus: sent.map(|s| s.bonus),
            },
        );
        LiveSelection {
            levels: selector.selected,
            unmet: selector
                .unmet
                .iter()
                .map(|&(p, level)| (p as usize, level))
                .collect(),
            tokens: TokenCount::new(selector.tokens_used),
        }
    }

    /// A page of type `PageType::ALL[t % 6]` whose path levels cost `steps` summed from its lowest
    /// level up; ids are drawn from a small alphabet so that ranks interleave.
    fn random_page(
        k: usize,
        t: usize,
        steps: &[u32],
        utility: u8,
        cost: u8,
        recency: u8,
    ) -> LivePage {
        let page_type = PageType::ALL[t % PageType::ALL.len()];
        let defaults = page_type.defaults();
        let mut total = 0;
        let costs: BTreeMap<Repr, TokenCount> = defaults
            .path()
            .ascending()
            .zip(steps.iter().cycle())
            .map(|(level, step)| {
                total += step;
                (level, TokenCount::new(total))
            })
            .collect();
        LivePage {
            id: PageId::new(format!("{}-{k}", ["b", "a", "c"][k % 3])).unwrap(),
            levels: LevelCosts::new(page_type, defaults.path(), defaults.min_fidelity(), &costs)
                .unwrap(),
            pin: defaults.default_pin(),
            base_utility: f64::from(utility % 4),
            recompute_cost: f64::from(cost % 3),
            recency: f64::from(recency) / 255.0,
        }
    }

    proptest! {
        /// A selector fed growing page lists, with any demands, budget and sent levels,
        /// selects what a workload compiled whole selects at every call.
        #[test]
        fn a_live_selector_equals_a_workload_compiled_whole(
            specs in prop::collection::vec(
                (0usize..6, prop::collection::vec(1u32..60, 4), any::<u8>(), any::<u8>(), any::<u8>()),
                1..40,
            ),
            cuts in prop::collection::vec(0usize..40, 1..5),
            demanded in prop::collection::vec((0usize..40, 0usize..5), 0..4),
            budget in 0u32..2_000,
            stable in any::<bool>(),
            policy in 0usize..PolicyId::ALL.len(),
        ) {
            let pages: Vec<LivePage> = specs
                .iter()
                .enumerate()
                .map(|(k, (t, steps, u, c, r))| random_page(k, *t, steps, *u, *c, *r))
                .collect();
            let config = PolicyConfig::preset(PolicyId::ALL[policy]);
            let mut live = LiveSelector::default();
            let mut cuts: Vec<usize> = cuts.iter().map(|c| (c % pages.len()) + 1).collect();
            cuts.sort_unstable();
            cuts.push(pages.len());
            for n in cuts {
                let given = &pages[..n];
                let demands: Vec<Demand> = demanded
                    .iter()
                    .filter(|(p, _)| *p < n)
                    .map(|&(p, level)| Demand {
                        page: given[p].id.clone(),
                        required_repr: [None, Some(Repr::Pointer), Some(Repr::Structured), Some(Repr::Compressed), Some(Repr::Full)][level],
                    })
                    .collect();
                let cap: Vec<Repr> = given.iter().map(|p| p.levels.min_fidelity().max(Repr::Structured)).collect();
                let bonus: Vec<f64> = (0..n).map(|i| f64::from(u32::try_from(i).unwrap()) / 10.0).collect();
                let sent = stable.then_some(Sent { cap: &cap, bonus: &bonus });
                let got = live.select(&config, given, &demands, TokenCount::new(budget), sent).unwrap();
                prop_assert_eq!(got, compiled_whole(&config, given, &demands, budget, sent));
            }
        }
    }
}
