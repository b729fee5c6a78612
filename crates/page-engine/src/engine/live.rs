//! The prompt's pages compiled once: every page's slot and live costs, extended by the items
//! that arrive between prompts instead of rebuilt every prompt. Only recency, which ages at
//! every prompt, is read again; a reset or a rebuilt page recompiles the set.

use std::collections::{BTreeMap, HashMap};

use page_core::{LevelCosts, PageId, Repr, TokenCount, TokenCounter};
use page_policy::{LivePage, LiveSelector};
use page_writeback::Store;

use crate::error::EngineError;

use super::{Engine, Item};

/// Where a page sits: its item and, for a tool result, its call within the group.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    pub(super) page: PageId,
    pub(super) item: usize,
    pub(super) call: Option<usize>,
    pub(super) overhead: u32,
    /// The page's position in the page table, which only a reset changes.
    pub(super) at: usize,
}

/// Every page that may enter the prompt, in item order, with its live costs.
#[derive(Debug, Default)]
pub(super) struct LiveSet {
    pub(super) slots: Vec<Slot>,
    pub(super) pages: Vec<LivePage>,
    /// The level each slot was sent at in the previous prompt (`none`: not sent).
    pub(super) sent: Vec<Repr>,
    /// Each slot's page's slot.
    index: HashMap<PageId, usize>,
    /// The pages compiled for page-policy's selector, as the slots are.
    pub(super) selector: LiveSelector,
    /// How many items are slotted. Items before it do not change: a prompt waits for a
    /// response's every result, and only a reset removes items.
    items: usize,
}

impl LiveSet {
    /// The slot of `page`, when it is in the prompt's pages.
    pub(super) fn slot_of(&self, page: &PageId) -> Option<usize> {
        self.index.get(page).copied()
    }
}

impl<S: Store, C: TokenCounter> Engine<S, C> {
    /// The live set, extended by the items since the previous prompt and with every page's
    /// recency as it stands. The prompt puts it back when it is done; an error drops it, and
    /// the next prompt compiles it again.
    pub(super) fn take_live(&mut self) -> Result<LiveSet, EngineError> {
        let mut live = std::mem::take(&mut self.live);
        for item in live.items..self.items.len() {
            match &self.items[item] {
                Item::Page { id, frame, .. } => {
                    if let Some(at) = self.table.position(id) {
                        live.slots.push(Slot {
                            page: id.clone(),
                            item,
                            call: None,
                            overhead: *frame,
                            at,
                        });
                    }
                }
                Item::Group(g) => {
                    for (k, c) in g.calls.iter().enumerate() {
                        if let Some(page) = &c.page {
                            let at = self.table.position(page).ok_or_else(|| {
                                EngineError::UnknownPage {
                                    page: page.to_string(),
                                }
                            })?;
                            live.slots.push(Slot {
                                page: page.clone(),
                                item,
                                call: Some(k),
                                overhead: c.overhead,
                                at,
                            });
                        }
                    }
                }
            }
        }
        live.items = self.items.len();
        // A set compiled afresh takes the levels the previous prompt sent from it; a page of
        // a later item was not in it.
        let previous: HashMap<&PageId, Repr> = if live.pages.is_empty() {
            self.last_prompt
                .iter()
                .map(|s| (&s.page, s.level))
                .collect()
        } else {
            HashMap::new()
        };
        for k in live.pages.len()..live.slots.len() {
            let slot = &live.slots[k];
            live.pages.push(self.live_page(slot)?);
            live.sent
                .push(previous.get(&slot.page).copied().unwrap_or(Repr::None));
            live.index.insert(slot.page.clone(), k);
        }
        for (slot, page) in live.slots.iter().zip(&mut live.pages) {
            page.recency = self.table.at(slot.at).map_or(0.0, |(_, r)| r);
        }
        Ok(live)
    }

    fn live_page(&self, slot: &Slot) -> Result<LivePage, EngineError> {
        let (page, recency) = self
            .table
            .at(slot.at)
            .ok_or_else(|| EngineError::UnknownPage {
                page: slot.page.to_string(),
            })?;
        let levels = page.levels();
        let costs: BTreeMap<Repr, TokenCount> = levels
            .iter()
            .map(|(r, t)| (r, TokenCount::new(t.get().saturating_add(slot.overhead))))
            .collect();
        Ok(LivePage {
            id: slot.page.clone(),
            levels: LevelCosts::new(
                levels.page_type(),
                levels.path(),
                levels.min_fidelity(),
                &costs,
            )?,
            pin: page.pin(),
            base_utility: page.base_utility(),
            recompute_cost: page.recompute_cost(),
            recency,
        })
    }

    /// The text of `slot`'s page at `level`.
    pub(super) fn slot_text(&self, slot: &Slot, level: Repr) -> Result<&str, EngineError> {
        self.table
            .at(slot.at)
            .and_then(|(p, _)| p.representation(level))
            .map(|r| r.content())
            .ok_or_else(|| EngineError::UnknownPage {
                page: slot.page.to_string(),
            })
    }
}
