//! Prompt assembly: the turn boundary, selection, and the rendering of the chosen levels as
//! messages (with the page directory when configured).

use page_core::{Boundary, PageId, Repr, TokenCount, TokenCounter};
use page_policy::LivePage;
use page_writeback::Store;
use serde_json::Value;

use crate::assembly::{
    Assembly, Block, ObservedFault, Placed, PromptDirectory, PromptMessage, Role,
};
use crate::directory::{Directory, Listing};
use crate::error::EngineError;
use crate::specifics::{PageSpecifics, command_of};

use super::live::Slot;
use super::select::{Selected, item_runs};
use super::{Engine, Item, Shown};

impl<S: Store, C: TokenCounter> Engine<S, C> {
    /// `prompt_assemble`: the turn boundary's writeback, then the prompt for the next model
    /// call under `budget`.
    ///
    /// # Errors
    /// [`EngineError::PendingToolResults`] while a tool call lacks its result;
    /// [`EngineError::FlushMiss`] when the boundary cannot commit (nothing is lost: the
    /// state stays dirty in memory and the next boundary retries).
    pub fn prompt_assemble(&mut self, budget: TokenCount) -> Result<Assembly, EngineError> {
        let _span = tracing::debug_span!(
            "context.pagevm.prompt_assemble",
            session = %self.config.session,
            turn = self.turn,
            budget = budget.get(),
        )
        .entered();
        self.ensure_no_pending()?;
        self.boundary(Boundary::Turn)?;
        let mut live = self.take_live()?;
        let demands = self.expanded_demands(&live, budget);
        let Selected {
            levels,
            used,
            unmet,
        } = self.select(&mut live, &demands, budget)?;
        let (slots, pages) = (live.slots.as_slice(), live.pages.as_slice());
        let mut faults = Vec::new();
        self.observe(slots, pages, &levels, &mut faults);
        let unmet = unmet
            .iter()
            .map(|&(i, level)| (slots[i].page.clone(), level))
            .collect();
        self.assembled_items = self.items.len();
        let mut assembly = self.render(slots, pages, &levels, used, unmet, faults)?;
        if self.config.directory {
            assembly.directory = self.directory(slots, &levels, budget.get(), used)?;
            if let Some(d) = &assembly.directory {
                assembly.tokens = TokenCount::new(used + d.tokens.get());
            }
        }
        tracing::event!(
            name: "context.pagevm.assemble",
            tracing::Level::DEBUG,
            session = %self.config.session,
            turn = self.turn,
            budget = budget.get(),
            tokens = assembly.tokens.get(),
            pages = assembly.placed.len(),
            prefix_churn = assembly.prefix_churn.get(),
            unmet = assembly.unmet.len(),
            faults = assembly.faults.len(),
        );
        self.age(&demands.list);
        live.sent = levels;
        self.live = live;
        self.turn += 1;
        Ok(assembly)
    }

    fn render(
        &mut self,
        slots: &[Slot],
        pages: &[LivePage],
        levels: &[Repr],
        used: u32,
        unmet: Vec<(PageId, Repr)>,
        faults: Vec<ObservedFault>,
    ) -> Result<Assembly, EngineError> {
        let mut messages: Vec<PromptMessage> = Vec::new();
        let mut placed = Vec::new();
        let mut now = Vec::new();
        for run in item_runs(slots) {
            let item = slots[run.start].item;
            let members: Vec<usize> = run.filter(|&k| levels[k] != Repr::None).collect();
            if members.is_empty() {
                continue;
            }
            for &k in &members {
                let cost = pages[k].levels.get(levels[k]).map_or(0, TokenCount::get);
                placed.push(Placed {
                    page: slots[k].page.clone(),
                    level: levels[k],
                    tokens: TokenCount::new(cost),
                });
                now.push(Shown {
                    page: slots[k].page.clone(),
                    level: levels[k],
                    tokens: cost,
                    full: pages[k].levels.get(Repr::Full).map_or(0, TokenCount::get),
                });
            }
            match &self.items[item] {
                Item::Page { id, role, .. } => {
                    let text = self
                        .slot_text(&slots[members[0]], levels[members[0]])?
                        .to_owned();
                    messages.push(PromptMessage {
                        role: *role,
                        blocks: vec![Block::Text {
                            page: id.clone(),
                            level: levels[members[0]],
                            text,
                        }],
                    });
                }
                Item::Group(g) => {
                    let mut uses: Vec<Block> = g
                        .thinking
                        .iter()
                        .map(|t| Block::Thinking { text: t.clone() })
                        .collect();
                    let mut results = Vec::new();
                    for &k in &members {
                        let Some(c) = slots[k].call.and_then(|n| g.calls.get(n)) else {
                            continue;
                        };
                        uses.push(Block::ToolUse {
                            call_id: c.request.call_id.clone(),
                            tool: c.request.tool.clone(),
                            args_json: c.request.args_json.clone(),
                        });
                        results.push(Block::ToolResult {
                            call_id: c.request.call_id.clone(),
                            page: slots[k].page.clone(),
                            level: levels[k],
                            text: self.slot_text(&slots[k], levels[k])?.to_owned(),
                            is_error: c.is_error,
                        });
                    }
                    messages.push(PromptMessage {
                        role: Role::Assistant,
                        blocks: uses,
                    });
                    messages.push(PromptMessage {
                        role: Role::User,
                        blocks: results,
                    });
                }
            }
        }
        let common = self
            .last_prompt
            .iter()
            .zip(&now)
            .take_while(|(a, b)| a == b)
            .count();
        let churn: u32 = self.last_prompt[common..].iter().map(|p| p.tokens).sum();
        self.audit_levels(&now, common);
        self.last_prompt = now;
        Ok(Assembly {
            turn: self.turn,
            messages,
            placed,
            tokens: TokenCount::new(used),
            prefix_churn: TokenCount::new(churn),
            unmet,
            faults,
            directory: None,
        })
    }

    /// The page directory of a prompt showing `slots` at `levels` with `used` of `budget`,
    /// within what is left and a tenth of the budget; `None` when nothing below full needs
    /// listing or nothing fits.
    fn directory(
        &mut self,
        slots: &[Slot],
        levels: &[Repr],
        budget: u32,
        used: u32,
    ) -> Result<Option<PromptDirectory>, EngineError> {
        let unknown = |slot: &Slot| EngineError::UnknownPage {
            page: slot.page.to_string(),
        };
        // Field by field: the specifics cache is filled while the table's texts are borrowed.
        let (table, items, cache) = (&self.table, &self.items, &mut self.specifics);
        for slot in slots {
            if cache.contains_key(&slot.page) {
                continue;
            }
            let args = call_args(items, slot);
            let command = args
                .and_then(|a| serde_json::from_str::<Value>(a).ok())
                .and_then(|v| command_of(&v));
            let full = table
                .at(slot.at)
                .and_then(|(p, _)| p.representation(Repr::Full))
                .ok_or_else(|| unknown(slot))?;
            let found = PageSpecifics::of(full.content(), command, args.unwrap_or_default());
            cache.insert(slot.page.clone(), found);
        }
        let mut listings = Vec::with_capacity(slots.len());
        for (slot, &level) in slots.iter().zip(levels) {
            let text = match level {
                Repr::None => "",
                l => table
                    .at(slot.at)
                    .and_then(|(p, _)| p.representation(l))
                    .ok_or_else(|| unknown(slot))?
                    .content(),
            };
            if let Some(specifics) = cache.get(&slot.page) {
                listings.push(Listing {
                    page: slot.page.as_str(),
                    level: (level != Repr::None).then_some(level),
                    text,
                    specifics,
                });
            }
        }
        let Some(directory) = Directory::of(&listings) else {
            return Ok(None);
        };
        let limit = budget.saturating_sub(used).min(budget / 10) as usize;
        let counter = self.builder.counter();
        Ok(directory
            .within(limit, |t| counter.count(t).get() as usize)
            .map(|(text, tokens)| PromptDirectory {
                tokens: TokenCount::new(u32::try_from(tokens).unwrap_or(u32::MAX)),
                text,
            }))
    }
}

/// The JSON arguments of the call whose result `slot` shows, if it is one.
fn call_args<'a>(items: &'a [Item], slot: &Slot) -> Option<&'a str> {
    match &items[slot.item] {
        Item::Group(g) => slot
            .call
            .and_then(|n| g.calls.get(n))
            .map(|c| c.request.args_json.as_str()),
        Item::Page { .. } => None,
    }
}
