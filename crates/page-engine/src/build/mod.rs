//! Representation builders: every level of a page's degradation path, built at ingest with
//! exact token counts, deterministically and without a model.

mod evidence;
pub(crate) mod scan;
mod text;

use std::collections::BTreeMap;

use page_core::{PageType, Repr, Representation, TokenCounter, TypeTable};
use thiserror::Error;

pub use self::evidence::{EvidenceReprs, ToolResult};
pub use self::text::{ConversationTurn, PlanState, Preference, Rules, RulesKind};

/// Knobs of the deterministic builders. The defaults suit coding-agent tool output.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildConfig {
    /// Target size of a compressed representation, as a fraction of the full text's bytes.
    pub compressed_ratio: f64,
    /// Upper bound on a compressed representation's size in bytes, whatever the ratio gives:
    /// a "compressed" form of a 10 MB output that is 3 MB would fit no context window.
    pub max_compressed_bytes: usize,
    /// Lines kept from the start and from the end of a tool output in the structured form.
    pub head_tail_lines: usize,
    /// Most file paths listed in a structured representation.
    pub max_paths: usize,
    /// Most error lines listed in a structured representation.
    pub max_error_lines: usize,
    /// Most identifiers listed in a structured representation.
    pub max_identifiers: usize,
    /// Longest line (in characters) copied into a structured representation; longer ones are
    /// cut with an ellipsis.
    pub max_line_chars: usize,
}

impl Default for BuildConfig {
    fn default() -> Self {
        Self {
            compressed_ratio: 0.5,
            max_compressed_bytes: 16 * 1024,
            head_tail_lines: 2,
            max_paths: 16,
            max_error_lines: 5,
            max_identifiers: 8,
            max_line_chars: 200,
        }
    }
}

/// Why a page's representations could not be built.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A required input is empty (a plan without a goal, a rule list without rules, …).
    #[error("{what} is empty")]
    Empty {
        /// What is empty.
        what: &'static str,
    },
    /// A plan's current step is not one of its steps.
    #[error("plan current_step {current} is out of range (the plan has {steps} steps)")]
    StepOutOfRange {
        /// The 0-based current step.
        current: usize,
        /// The number of steps.
        steps: usize,
    },
    /// `compressed_ratio` is not in (0, 1].
    #[error("compressed_ratio must be in (0, 1], got {0}")]
    InvalidRatio(f64),
}

/// Builds the representations of pages of every type, with costs from a [`TokenCounter`].
///
/// Every builder produces exactly the levels on the page type's degradation path (from the
/// [`TypeTable`], so configured overrides are honoured), and guarantees the cost invariant of
/// [`page_core::LevelCosts`]: when a lower level's text would cost more tokens than the level
/// above it (a structured summary of a three-word output), the lower level reuses the text of
/// the level above. Nothing is ever paraphrased by a model here; an optional summarizer is a
/// separate, validated step.
pub struct RepresentationBuilder<C> {
    counter: C,
    types: TypeTable,
    config: BuildConfig,
}

impl<C: TokenCounter> std::fmt::Debug for RepresentationBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepresentationBuilder")
            .field("encoding", &self.counter.encoding())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<C: TokenCounter> RepresentationBuilder<C> {
    /// A builder counting with `counter`, for the page types of `types`.
    ///
    /// # Errors
    /// [`BuildError::InvalidRatio`] when `config.compressed_ratio` is not in (0, 1].
    pub fn new(counter: C, types: TypeTable, config: BuildConfig) -> Result<Self, BuildError> {
        let r = config.compressed_ratio;
        if !(r > 0.0 && r <= 1.0) {
            return Err(BuildError::InvalidRatio(r));
        }
        Ok(Self {
            counter,
            types,
            config,
        })
    }

    /// The counter in use.
    pub fn counter(&self) -> &C {
        &self.counter
    }

    /// Counts each candidate text, keeps the levels on `page_type`'s path, and makes costs
    /// non-decreasing toward `full`.
    ///
    /// Two rules, in this order: a level that would cost more than `full` uses the full text
    /// (verbatim is both cheaper and complete); then, walking up from the lowest level, a level
    /// that would cost less than the one below it uses that lower level's text. The lower
    /// levels carry the invariants (a pointer that resolves, a structured form with status and
    /// paths), so they are never replaced by a poorer text; a higher level only ever gains.
    ///
    /// `candidates` yields the text for a level, or `None` when the builder has no text of its
    /// own for it (the level then takes the text below it, or `full`'s at the bottom).
    fn assemble(
        &self,
        page_type: PageType,
        mut candidates: impl FnMut(Repr) -> Option<String>,
    ) -> BTreeMap<Repr, Representation> {
        let full = {
            let text = candidates(Repr::Full).unwrap_or_default();
            let tokens = self.counter.count(&text);
            Representation::new(text, tokens)
        };
        self.assemble_with_full(page_type, full, candidates)
    }

    /// [`Self::assemble`] with the full representation already built (counted elsewhere, e.g.
    /// on another thread while the lower levels were built); `candidates` is not asked for
    /// [`Repr::Full`].
    fn assemble_with_full(
        &self,
        page_type: PageType,
        full: Representation,
        mut candidates: impl FnMut(Repr) -> Option<String>,
    ) -> BTreeMap<Repr, Representation> {
        let path = self.types.get(page_type).path();
        let mut out: BTreeMap<Repr, Representation> = BTreeMap::new();
        let mut below: Option<Repr> = None;
        let mut has_full = false;
        for level in path.ascending() {
            if level == Repr::Full {
                // The top of every path: inserted last, by move, as it can be megabytes.
                has_full = true;
                continue;
            }
            let own = candidates(level).map(|text| {
                let tokens = self.counter.count(&text);
                Representation::new(text, tokens)
            });
            let below_rep = below.and_then(|b| out.get(&b));
            let rep = match (own, below_rep) {
                (Some(r), _) if r.tokens() > full.tokens() => full.clone(),
                (Some(r), Some(b)) if r.tokens() < b.tokens() => b.clone(),
                (Some(r), _) => r,
                (None, Some(b)) => b.clone(),
                (None, None) => full.clone(),
            };
            below = Some(level);
            out.insert(level, rep);
        }
        if has_full {
            out.insert(Repr::Full, full);
        }
        out
    }
}
