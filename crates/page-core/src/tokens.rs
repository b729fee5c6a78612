//! Token counts and the counter seam: exact BPE counting lives in `page-tokenizer`.

use std::fmt;
use std::iter::Sum;
use std::ops::Add;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A number of tokens. Budgets and representation costs are both token counts.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(transparent)]
pub struct TokenCount(u32);

impl TokenCount {
    /// Zero tokens.
    pub const ZERO: TokenCount = TokenCount(0);

    /// Wraps a raw count.
    #[must_use]
    pub const fn new(n: u32) -> Self {
        Self(n)
    }

    /// The raw count.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }

    /// `self - rhs`, or `None` when `rhs` is larger.
    #[must_use]
    pub const fn checked_sub(self, rhs: TokenCount) -> Option<TokenCount> {
        match self.0.checked_sub(rhs.0) {
            Some(n) => Some(TokenCount(n)),
            None => None,
        }
    }

    /// `self - rhs`, stopping at zero.
    #[must_use]
    pub const fn saturating_sub(self, rhs: TokenCount) -> TokenCount {
        TokenCount(self.0.saturating_sub(rhs.0))
    }
}

impl Add for TokenCount {
    type Output = TokenCount;

    /// Saturating: a sum of costs never wraps into a small number that would fit a budget.
    fn add(self, rhs: TokenCount) -> TokenCount {
        TokenCount(self.0.saturating_add(rhs.0))
    }
}

impl Sum for TokenCount {
    fn sum<I: Iterator<Item = TokenCount>>(iter: I) -> TokenCount {
        iter.fold(TokenCount::ZERO, Add::add)
    }
}

impl fmt::Display for TokenCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Counts the tokens a text costs in a model's prompt.
///
/// Implementations must be deterministic: the same text always gives the same count, so that
/// budget decisions replay byte for byte.
pub trait TokenCounter: Send + Sync {
    /// The tokens `text` costs.
    fn count(&self, text: &str) -> TokenCount;

    /// A stable name for the encoding (e.g. `o200k_base`), recorded with the counts it produced.
    fn encoding(&self) -> &str;
}
