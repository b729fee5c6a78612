//! What a prompt is checked and recorded for: faults against the minimum-fidelity
//! invariants, and an audit row for every level change between prompts.

use std::collections::HashMap;

use page_core::{FaultKind, PageId, PageType, PinClass, Repr, TokenCount, TokenCounter};
use page_policy::LivePage;
use page_writeback::{ReprChange, Store};

use crate::assembly::ObservedFault;

use super::live::Slot;
use super::{Engine, Shown};

impl<S: Store, C: TokenCounter> Engine<S, C> {
    pub(super) fn observe(
        &mut self,
        slots: &[Slot],
        pages: &[LivePage],
        levels: &[Repr],
        out: &mut Vec<ObservedFault>,
    ) {
        let mut found = Vec::new();
        for (i, slot) in slots.iter().enumerate() {
            let min = pages[i].levels.min_fidelity();
            if levels[i] >= min {
                continue;
            }
            if pages[i].levels.page_type() == PageType::Bootstrap && self.after_compaction {
                found.push((
                    FaultKind::PostCompactionBootstrap,
                    slot.page.clone(),
                    format!("bootstrap page below {min} after compaction"),
                ));
            } else if pages[i].pin == PinClass::Hard {
                found.push((
                    FaultKind::PinnedInvariantMiss,
                    slot.page.clone(),
                    format!("hard-pinned page below its minimum {min}"),
                ));
            }
        }
        self.after_compaction = false;
        for (kind, page, detail) in found {
            self.record_fault(kind, Some(&page), detail.clone());
            out.push(ObservedFault {
                kind,
                page: Some(page),
                detail,
            });
        }
    }

    pub(super) fn record_fault(&mut self, kind: FaultKind, page: Option<&PageId>, detail: String) {
        self.faults.add(kind);
        // Best effort: a store that refuses the fault row still gets the count in memory.
        let _logged = self.wb.store().record_fault(&page_writeback::FaultRecord {
            session: self.config.session.clone(),
            kind,
            page: page.cloned(),
            tool_call: None,
            turn: u64::from(self.turn),
            time_ms: self.now_ms,
            detail,
        });
    }

    /// Records every page whose level in `now` differs from the previous prompt (a page left
    /// out goes to `none`) as an audit row for the next boundary, and as the tracing event
    /// `context.pagevm.page_level`. A page placed for the first time is not a change.
    ///
    /// The first `common` pages of both prompts are the same pages at the same levels, so only
    /// what follows is compared: a page is shown once per prompt, and one shown in the
    /// previous prompt is not among those left out.
    pub(super) fn audit_levels(&mut self, now: &[Shown], common: usize) {
        let now = &now[common..];
        let placed: HashMap<&PageId, (Repr, u32)> =
            now.iter().map(|s| (&s.page, (s.level, s.tokens))).collect();
        let mut changes = Vec::new();
        for before in &self.last_prompt[common..] {
            let (page, from) = (&before.page, before.level);
            let (to, tokens_after) = placed.get(page).copied().unwrap_or((Repr::None, 0));
            if to == from {
                continue;
            }
            let Some(found) = self.table.get(page) else {
                continue;
            };
            // Below the type's minimum is invariant pressure, not an ordinary degradation:
            // the minimum-fidelity set did not fit the budget.
            let reason = if to > from {
                "raised"
            } else if to < found.levels().min_fidelity() {
                "below_minimum"
            } else {
                "budget"
            };
            changes.push(ReprChange {
                page: page.clone(),
                page_type: found.page_type(),
                from,
                to,
                tokens_before: TokenCount::new(before.tokens),
                tokens_after: TokenCount::new(tokens_after),
                full_tokens: TokenCount::new(before.full),
                reason: reason.to_owned(),
            });
        }
        for shown in now {
            let Some(full) = self.left_out.remove(&shown.page) else {
                continue;
            };
            if let Some(found) = self.table.get(&shown.page) {
                changes.push(ReprChange {
                    page: shown.page.clone(),
                    page_type: found.page_type(),
                    from: Repr::None,
                    to: shown.level,
                    tokens_before: TokenCount::ZERO,
                    tokens_after: TokenCount::new(shown.tokens),
                    full_tokens: TokenCount::new(full),
                    reason: "raised".to_owned(),
                });
            }
        }
        for change in changes {
            if change.to == Repr::None {
                self.left_out
                    .insert(change.page.clone(), change.full_tokens.get());
            }
            self.record_level_change(change);
        }
    }

    /// Records a representation change: an audit row committed at the next boundary, and the
    /// tracing event `context.pagevm.page_level` with the same fields. The engine records its
    /// own pages' changes; a harness records here what it sends outside the engine's pages
    /// (a system prompt it renders itself, cut to fit the budget), so the audit holds every
    /// change a request made, under one event name.
    pub fn record_level_change(&mut self, change: ReprChange) {
        tracing::event!(
            name: "context.pagevm.page_level",
            tracing::Level::DEBUG,
            session = %self.config.session,
            turn = self.turn,
            page = %change.page,
            page_type = %change.page_type,
            level_before = %change.from,
            level_after = %change.to,
            tokens_before = change.tokens_before.get(),
            tokens_after = change.tokens_after.get(),
            full_tokens = change.full_tokens.get(),
            reason = %change.reason,
        );
        self.pending_audit.push(change);
    }
}
