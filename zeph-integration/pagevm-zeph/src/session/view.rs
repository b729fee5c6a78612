//! The engine's prompt as the renderer sees it: what each unit's slot shows.

use std::collections::HashMap;

use page_core::{ContentDigest, PageId, Repr};
use page_engine::{Assembly, Block};

use crate::convert::Structure;
use crate::fixed::FixedParts;
use crate::render::{Slot, View};

use super::UnitSlot;

/// What the engine's prompt shows, by unit and slot of the history being rendered.
pub(super) struct EngineView<'a> {
    pages: HashMap<(usize, Slot), &'a PageId>,
    fixed: &'a FixedParts,
    shown: HashMap<&'a PageId, (Repr, &'a str)>,
}

impl<'a> EngineView<'a> {
    pub(super) fn new(
        s: &Structure,
        keys: &[(ContentDigest, usize)],
        known: &'a HashMap<(ContentDigest, usize), Vec<(UnitSlot, PageId)>>,
        fixed: &'a FixedParts,
        assembly: &'a Assembly,
    ) -> Self {
        let mut pages = HashMap::new();
        for (u, unit) in s.units.iter().enumerate() {
            for (slot, id) in known.get(&keys[u]).into_iter().flatten() {
                let slot = match *slot {
                    UnitSlot::Text(n) => Slot::Text(unit.messages[n]),
                    UnitSlot::Call(c) => Slot::Call(c),
                };
                pages.insert((u, slot), id);
            }
        }
        let mut shown = HashMap::new();
        for block in assembly.messages.iter().flat_map(|m| &m.blocks) {
            match block {
                Block::Text { page, level, text }
                | Block::ToolResult {
                    page, level, text, ..
                } => {
                    shown.insert(page, (*level, text.as_str()));
                }
                Block::Thinking { .. } | Block::ToolUse { .. } => {}
            }
        }
        Self {
            pages,
            fixed,
            shown,
        }
    }
}

impl View for EngineView<'_> {
    fn shown(&self, unit: usize, slot: Slot) -> Option<(Repr, &str)> {
        if self.fixed.contains(unit) {
            return self.fixed.shown(unit, slot);
        }
        let id = self.pages.get(&(unit, slot))?;
        self.shown.get(id).copied()
    }
}
