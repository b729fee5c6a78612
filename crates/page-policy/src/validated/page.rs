//! One workload page checked: its numbers finite, its costs a valid `LevelCosts` on its type's
//! path, its scope and lifetime consistent, and everything static the selector reads of it.

use page_core::{LevelCosts, PageType, PinClass, Repr, ScopeKind};

use crate::error::WorkloadError;
use crate::workload::{Existence, WorkloadPage};

use super::{NO_LEVEL, PageInfo, ValidatedWorkload, auto_pinned};

const fn pin_rank(pin: PinClass) -> u8 {
    match pin {
        PinClass::Hard => 2,
        PinClass::Soft => 1,
        PinClass::None => 0,
    }
}

const fn type_rank(page_type: PageType) -> u8 {
    match page_type {
        PageType::Bootstrap => 2,
        PageType::Constraint => 1,
        PageType::Plan | PageType::Preference | PageType::Evidence | PageType::Conversation => 0,
    }
}

/// Python's `int(x * 1000)`: truncation toward zero (saturating on overflow, 0 for NaN).
#[expect(
    clippy::cast_possible_truncation,
    reason = "truncation toward zero is the artifact's int()"
)]
fn priority_scale(base_utility: f64) -> i64 {
    (base_utility * 1000.0) as i64
}

fn level_u8(r: Repr) -> u8 {
    // `Repr::index` is at most 4.
    u8::try_from(r.index()).unwrap_or(NO_LEVEL)
}

impl ValidatedWorkload {
    /// The static facts of page `p`, the `i`th of its workload; its costs join `levels`.
    pub(super) fn check_page(
        i: usize,
        p: &WorkloadPage,
        levels: &mut Vec<LevelCosts>,
    ) -> Result<PageInfo, WorkloadError> {
        for (field, value) in [
            ("base_utility", p.base_utility),
            ("recompute_cost", p.recompute_cost),
        ] {
            if !value.is_finite() {
                return Err(WorkloadError::InvalidNumber {
                    index: i,
                    page: p.id.clone(),
                    field,
                    value,
                });
            }
        }
        let defaults = p.page_type.defaults();
        let min = p.min_fidelity.unwrap_or(defaults.min_fidelity());
        let lc = LevelCosts::new(p.page_type, defaults.path(), min, &p.tokens.to_map()).map_err(
            |source| WorkloadError::InvalidPage {
                index: i,
                page: p.id.clone(),
                source,
            },
        )?;
        let scope = p.scope.unwrap_or(defaults.default_scope());
        if scope == ScopeKind::Project && p.session.is_some() {
            return Err(WorkloadError::InconsistentPage {
                index: i,
                page: p.id.clone(),
                reason: "a project-scoped page cannot belong to a session",
            });
        }
        let mut cost = [0u32; 5];
        for (level, c) in lc.iter() {
            cost[level.index()] = c.get();
        }
        let path = lc.path();
        let mut up = [NO_LEVEL; 5];
        for level in Repr::ALL {
            if let Some(next) = path.step_up(level) {
                up[level.index()] = level_u8(next);
            }
        }
        // From `none` the first step goes straight to the minimum fidelity, never below it.
        up[Repr::None.index()] = level_u8(min);
        let pin = p.pin.unwrap_or(defaults.default_pin());
        let (available_from, available_until) = match p.exists {
            None => (0, usize::MAX),
            Some(Existence { created, retired }) => {
                if retired.is_some_and(|r| r <= created) {
                    return Err(WorkloadError::InconsistentPage {
                        index: i,
                        page: p.id.clone(),
                        reason: "exists.retired must come after exists.created",
                    });
                }
                (created as usize, retired.map_or(usize::MAX, |r| r as usize))
            }
        };
        levels.push(lc);
        Ok(PageInfo {
            id: p.id.clone(),
            page_type: p.page_type,
            pin,
            auto_pinned: auto_pinned(pin, p.page_type),
            min,
            cost,
            up,
            prefetchable: min == Repr::Pointer,
            base_utility: p.base_utility,
            recompute_cost: p.recompute_cost,
            priority: (
                pin_rank(pin),
                type_rank(p.page_type),
                priority_scale(p.base_utility),
            ),
            session: None,
            is_tool_result: p.tool_signature.is_some(),
            starts_dirty: p.dirty,
            available_from,
            available_until,
            id_rank: 0,
        })
    }
}
