//! Validated per-level token costs: the table lookups every budget decision is made of.

use std::collections::BTreeMap;

use crate::error::PageError;
use crate::page_type::{DegradationPath, PageType};
use crate::repr::Repr;
use crate::tokens::TokenCount;

/// What a page costs at each level of its degradation path, with its minimum fidelity.
///
/// Invariants, checked by [`LevelCosts::new`]:
/// - the minimum fidelity is on the path;
/// - there is a cost for every level on the path and for no other level;
/// - costs do not decrease from the lowest level to `full`.
///
/// `none` always costs zero. Both full pages and the cost-only pages of synthetic workloads
/// carry a `LevelCosts`, so the selector never sees an unvalidated cost.
///
/// ```
/// use std::collections::BTreeMap;
/// use page_core::{LevelCosts, PageType, Repr, TokenCount};
///
/// let row = PageType::Plan.defaults();
/// let costs = BTreeMap::from([
///     (Repr::Full, TokenCount::new(80)),
///     (Repr::Structured, TokenCount::new(20)),
///     (Repr::Pointer, TokenCount::new(4)),
/// ]);
/// let levels = LevelCosts::new(PageType::Plan, row.path(), row.min_fidelity(), &costs)?;
/// // A demand for a level the page does not hold is served by the next level up.
/// assert_eq!(levels.at_least(Repr::Compressed), (Repr::Full, TokenCount::new(80)));
/// assert_eq!(levels.get(Repr::None), Some(TokenCount::ZERO));
///
/// // Costs that grow toward the bottom are rejected, naming the levels.
/// let bad = BTreeMap::from([
///     (Repr::Full, TokenCount::new(80)),
///     (Repr::Structured, TokenCount::new(90)),
///     (Repr::Pointer, TokenCount::new(4)),
/// ]);
/// let err = LevelCosts::new(PageType::Plan, row.path(), row.min_fidelity(), &bad).unwrap_err();
/// assert!(err.to_string().starts_with("representations.structured.tokens (90) exceeds"));
/// # Ok::<(), page_core::PageError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LevelCosts {
    page_type: PageType,
    path: DegradationPath,
    min_fidelity: Repr,
    // Indexed by `Repr::index`; zero for `none` and for levels off the path.
    tokens: [TokenCount; 5],
}

impl LevelCosts {
    /// Validates the costs of a page of `page_type`.
    ///
    /// # Errors
    /// The first violated invariant, naming the level at fault:
    /// [`PageError::MinFidelityOffPath`], [`PageError::RepresentationOffPath`],
    /// [`PageError::MissingRepresentation`] or [`PageError::NonMonotoneCost`].
    pub fn new(
        page_type: PageType,
        path: DegradationPath,
        min_fidelity: Repr,
        costs: &BTreeMap<Repr, TokenCount>,
    ) -> Result<Self, PageError> {
        if !path.contains(min_fidelity) {
            return Err(PageError::MinFidelityOffPath {
                page_type,
                min: min_fidelity,
                path: path.to_string(),
            });
        }
        if let Some(&level) = costs.keys().find(|&&l| !path.contains(l)) {
            return Err(PageError::RepresentationOffPath {
                level,
                path: path.to_string(),
            });
        }
        let mut tokens = [TokenCount::ZERO; 5];
        let mut below: Option<(Repr, TokenCount)> = None;
        for level in path.ascending() {
            let Some(&cost) = costs.get(&level) else {
                return Err(PageError::MissingRepresentation {
                    level,
                    path: path.to_string(),
                });
            };
            if let Some((lower, lower_cost)) = below
                && lower_cost > cost
            {
                return Err(PageError::NonMonotoneCost {
                    lower,
                    lower_tokens: lower_cost.get(),
                    higher: level,
                    higher_tokens: cost.get(),
                });
            }
            tokens[level.index()] = cost;
            below = Some((level, cost));
        }
        Ok(Self {
            page_type,
            path,
            min_fidelity,
            tokens,
        })
    }

    /// The page type these costs were validated for.
    #[must_use]
    pub const fn page_type(&self) -> PageType {
        self.page_type
    }

    /// The degradation path.
    #[must_use]
    pub const fn path(&self) -> DegradationPath {
        self.path
    }

    /// The minimum fidelity, always on the path.
    #[must_use]
    pub const fn min_fidelity(&self) -> Repr {
        self.min_fidelity
    }

    /// The cost at `level`: zero for `none`, `None` for a level off the path.
    #[must_use]
    pub fn get(&self, level: Repr) -> Option<TokenCount> {
        if level == Repr::None {
            Some(TokenCount::ZERO)
        } else if self.path.contains(level) {
            Some(self.tokens[level.index()])
        } else {
            None
        }
    }

    /// The cost at the lowest path level at or above `level`, and that level.
    ///
    /// This is how a demand for a level the page does not hold is served (a demand for
    /// `compressed` on a bootstrap page gets `full`).
    #[must_use]
    pub fn at_least(&self, level: Repr) -> (Repr, TokenCount) {
        if level == Repr::None {
            return (Repr::None, TokenCount::ZERO);
        }
        let r = self.path.at_least(level);
        (r, self.tokens[r.index()])
    }

    /// One step of degradation from `level`: the next lower level on the path, or `None` when
    /// `level` is already the minimum fidelity (or below it). Degradation never crosses the
    /// minimum: a page leaves the prompt only by eviction to `none`, which is the selector's
    /// decision, not a representation.
    #[must_use]
    pub fn degrade(&self, level: Repr) -> Option<Repr> {
        if level <= self.min_fidelity {
            return None;
        }
        self.path
            .step_down(level)
            .filter(|&lower| lower >= self.min_fidelity)
    }

    /// `(level, cost)` for every level on the path, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (Repr, TokenCount)> + '_ {
        self.path.ascending().map(|r| (r, self.tokens[r.index()]))
    }
}
