//! The paper's six policies and pagevm's cache-stable one as flag sets, their scoring weights,
//! the watermarks of cache-stable paging, and the switches the ablations turn off one at a
//! time.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The six policies of the paper's evaluation, by the artifact's ids, and pagevm's
/// cache-stable paging.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PolicyId {
    /// Retrieval: demanded pages only, no pointer resolution.
    RetrievalOnly,
    /// Retrieval+Cache: demanded pages only, evicted pages resolved through their pointers.
    RetrievalOnlyCached,
    /// Compaction-Hybrid: prefetch, recency upgrades, writeback at compaction only.
    CompactionHybrid,
    /// LRU: ClawVM's structure with recency as the upgrade score.
    Lru,
    /// ClawVM.
    Clawvm,
    /// ClawVM's structure with a bounded-lookahead (h = 3) upgrade score.
    OracleH3,
    /// ClawVM's selector and scores, run only at degradation events: append-only between
    /// them, batched between two watermarks, priced by position, page-ins at the tail
    /// ([`Paging::CacheStable`]). Not one of the paper's policies.
    CacheStable,
}

impl PolicyId {
    /// The paper's six policies, in the order of its Table 4 (LRU after ClawVM): what the
    /// reproduction sweeps.
    pub const PAPER: [PolicyId; 6] = [
        PolicyId::RetrievalOnly,
        PolicyId::RetrievalOnlyCached,
        PolicyId::CompactionHybrid,
        PolicyId::Clawvm,
        PolicyId::Lru,
        PolicyId::OracleH3,
    ];

    /// Every policy: the paper's six, then `cache_stable`.
    pub const ALL: [PolicyId; 7] = {
        let mut all = [PolicyId::CacheStable; 7];
        let mut i = 0;
        while i < Self::PAPER.len() {
            all[i] = Self::PAPER[i];
            i += 1;
        }
        all
    };

    /// The stable code (the artifact's policy id).
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            PolicyId::RetrievalOnly => "retrieval_only",
            PolicyId::RetrievalOnlyCached => "retrieval_only_cached",
            PolicyId::CompactionHybrid => "compaction_hybrid",
            PolicyId::Lru => "lru",
            PolicyId::Clawvm => "clawvm",
            PolicyId::OracleH3 => "oracle_h3",
            PolicyId::CacheStable => "cache_stable",
        }
    }
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A string that is not a policy or feature code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown {what} code {got:?}")]
pub struct ParsePolicyError {
    what: &'static str,
    got: String,
}

impl FromStr for PolicyId {
    type Err = ParsePolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PolicyId::ALL
            .into_iter()
            .find(|p| p.code() == s)
            .ok_or_else(|| ParsePolicyError {
                what: "policy",
                got: s.to_owned(),
            })
    }
}

/// How Phase 2 scores a page's upgrades. The score depends on the page, never on the level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum UpgradeMode {
    /// No Phase 2: only required and prefetched pages are resident.
    None,
    /// `recency`.
    Lru,
    /// Compaction-Hybrid: `base_utility + 0.9·recency + 0.1·recompute_cost`.
    Recency,
    /// `base_utility + pin_boost + 0.6·recency + 0.4·recompute_cost`.
    Clawvm,
    /// The `clawvm` score `+ 2.2 × (turns among the next `horizon` that demand the page)`.
    Oracle {
        /// Lookahead in turns (3 in the paper).
        horizon: u32,
    },
}

impl UpgradeMode {
    /// The stable code: `none`, `lru`, `recency`, `clawvm`, `oracle`.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            UpgradeMode::None => "none",
            UpgradeMode::Lru => "lru",
            UpgradeMode::Recency => "recency",
            UpgradeMode::Clawvm => "clawvm",
            UpgradeMode::Oracle { .. } => "oracle",
        }
    }
}

/// Scoring and recency constants; the defaults are the paper's and the artifact's (§3.3).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// Pin boost of a hard-pinned page (2.0).
    pub hard_pin_boost: f64,
    /// Pin boost of a soft-pinned page (0.6).
    pub soft_pin_boost: f64,
    /// Recency weight in the `clawvm` score (0.6).
    pub recency: f64,
    /// Recompute-cost weight in the `clawvm` score (0.4).
    pub recompute_cost: f64,
    /// Recency weight in the `recency` (Compaction-Hybrid) score (0.9).
    pub hybrid_recency: f64,
    /// Recompute-cost weight in the `recency` score (0.1).
    pub hybrid_recompute_cost: f64,
    /// Weight of each future demand in the oracle score (2.2).
    pub oracle_future: f64,
    /// Recency multiplier applied every turn (0.88).
    pub recency_decay: f64,
    /// Recency values below this become 0 after decay (1e-4).
    pub recency_floor: f64,
    /// Added to a page's recency at each turn that demands it (1.0).
    pub recency_bump: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            hard_pin_boost: 2.0,
            soft_pin_boost: 0.6,
            recency: 0.6,
            recompute_cost: 0.4,
            hybrid_recency: 0.9,
            hybrid_recompute_cost: 0.1,
            oracle_future: 2.2,
            recency_decay: 0.88,
            recency_floor: 1e-4,
            recency_bump: 1.0,
        }
    }
}

/// A feature a policy can lose in an ablation; each maps to exactly one flag.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// `pointer_resolves_evidence`.
    PointerResolution,
    /// `writeback_compaction`.
    WritebackCompaction,
    /// `auto_pin_hard`.
    AutoPin,
    /// `writeback_reset`.
    WritebackReset,
    /// `upgrade_mode` (removed = `none`: no Phase 2).
    UpgradeScoring,
    /// `prefetch_pointer`.
    Prefetch,
    /// `surface_recall_reasons` (not in the paper's ablation table).
    RecallReasons,
}

impl Feature {
    /// The paper's Table 6 ablations, in its row order.
    pub const PAPER_ABLATIONS: [Feature; 6] = [
        Feature::PointerResolution,
        Feature::WritebackCompaction,
        Feature::AutoPin,
        Feature::WritebackReset,
        Feature::UpgradeScoring,
        Feature::Prefetch,
    ];

    /// Every feature.
    pub const ALL: [Feature; 7] = [
        Feature::PointerResolution,
        Feature::WritebackCompaction,
        Feature::AutoPin,
        Feature::WritebackReset,
        Feature::UpgradeScoring,
        Feature::Prefetch,
        Feature::RecallReasons,
    ];

    /// The stable code.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Feature::PointerResolution => "pointer_resolution",
            Feature::WritebackCompaction => "writeback_compaction",
            Feature::AutoPin => "auto_pin",
            Feature::WritebackReset => "writeback_reset",
            Feature::UpgradeScoring => "upgrade_scoring",
            Feature::Prefetch => "prefetch",
            Feature::RecallReasons => "recall_reasons",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Feature {
    type Err = ParsePolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Feature::ALL
            .into_iter()
            .find(|p| p.code() == s)
            .ok_or_else(|| ParsePolicyError {
                what: "feature",
                got: s.to_owned(),
            })
    }
}

/// When levels change: every turn (the paper), or only at degradation events.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Paging {
    /// Every turn re-decides every page's level.
    PerTurn,
    /// Append-only between degradation events; see the crate README, "Cache-stable paging".
    CacheStable(Watermarks),
}

/// The triggers of cache-stable paging: a degradation event starts when the context would
/// exceed `high × budget`, takes it down to `low × budget` in one rewrite, and happens only if
/// it frees at least `min_free` tokens (unless the context is above the budget itself).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, try_from = "WatermarksSpec")]
pub struct Watermarks {
    high: f64,
    low: f64,
    min_free: u32,
    rewrite_weight: f64,
}

/// The unchecked form of [`Watermarks`], as written in a configuration.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WatermarksSpec {
    high: f64,
    low: f64,
    min_free: u32,
    rewrite_weight: f64,
}

impl TryFrom<WatermarksSpec> for Watermarks {
    type Error = WatermarksError;

    fn try_from(s: WatermarksSpec) -> Result<Self, Self::Error> {
        Watermarks::new(s.high, s.low, s.min_free)?.with_rewrite_weight(s.rewrite_weight)
    }
}

/// Watermarks that cannot work: each error names the value at fault.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
#[non_exhaustive]
pub enum WatermarksError {
    /// `low` and `high` must satisfy 0 < low < high ≤ 1.
    #[error("watermarks must satisfy 0 < low < high <= 1, got low {low} and high {high}")]
    Order {
        /// The low watermark given.
        low: f64,
        /// The high watermark given.
        high: f64,
    },
    /// The rewrite weight must be finite and not negative.
    #[error("rewrite_weight must be finite and >= 0, got {0}")]
    RewriteWeight(f64),
}

impl Default for Watermarks {
    /// High 90 %, low 60 %, at least 1,024 tokens freed (the smallest prefix a provider
    /// caches), rewrite weight 1.
    fn default() -> Self {
        Self {
            high: 0.9,
            low: 0.6,
            min_free: 1024,
            rewrite_weight: 1.0,
        }
    }
}

impl Watermarks {
    /// Validated watermarks with the default rewrite weight.
    ///
    /// # Errors
    /// [`WatermarksError::Order`] unless `0 < low < high <= 1`.
    pub fn new(high: f64, low: f64, min_free: u32) -> Result<Self, WatermarksError> {
        if !(low > 0.0 && low < high && high <= 1.0) {
            return Err(WatermarksError::Order { low, high });
        }
        Ok(Self {
            high,
            low,
            min_free,
            ..Self::default()
        })
    }

    /// The same watermarks with another weight of the rewrite price in the keep score (0:
    /// utility alone decides what degrades).
    ///
    /// # Errors
    /// [`WatermarksError::RewriteWeight`] when `w` is negative or not finite.
    pub fn with_rewrite_weight(self, w: f64) -> Result<Self, WatermarksError> {
        if w.is_finite() && w >= 0.0 {
            Ok(Self {
                rewrite_weight: w,
                ..self
            })
        } else {
            Err(WatermarksError::RewriteWeight(w))
        }
    }

    /// The fraction of the budget that starts a degradation event.
    #[must_use]
    pub fn high(self) -> f64 {
        self.high
    }

    /// The fraction of the budget a degradation event goes down to.
    #[must_use]
    pub fn low(self) -> f64 {
        self.low
    }

    /// The fewest tokens a degradation event must free to happen.
    #[must_use]
    pub fn min_free(self) -> u32 {
        self.min_free
    }

    /// The weight of the rewrite price (the share of the context after a page) in the score
    /// that keeps a page at its level.
    #[must_use]
    pub fn rewrite_weight(self) -> f64 {
        self.rewrite_weight
    }

    /// The keep bonus of a page in a degradation event: the rewrite price of changing it,
    /// which is the share of the context sent after it (`after` of `total` tokens), weighted.
    /// A change early in the prompt re-bills everything after it, so early pages keep.
    #[must_use]
    pub fn keep_bonus(self, after: u64, total: u64) -> f64 {
        #[expect(clippy::cast_precision_loss, reason = "token sums stay far below 2^53")]
        let share = after as f64 / total.max(1) as f64;
        self.rewrite_weight * share
    }

    /// The high watermark in tokens of `budget`.
    #[must_use]
    pub fn high_tokens(self, budget: u32) -> u32 {
        Self::of(self.high, budget)
    }

    /// The low watermark in tokens of `budget`.
    #[must_use]
    pub fn low_tokens(self, budget: u32) -> u32 {
        Self::of(self.low, budget)
    }

    /// `floor(fraction × budget)`, saturating.
    fn of(fraction: f64, budget: u32) -> u32 {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a fraction in (0, 1] of a u32, floored"
        )]
        let t = (f64::from(budget) * fraction).floor() as u32;
        t
    }
}

/// A policy: the artifact's flags plus the weights. Every combination is valid; a preset is
/// the paper's row, and each flag can be switched alone for ablations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The preset this configuration started from (for reports; it does not drive behaviour).
    pub policy: PolicyId,
    /// Phase 1 requires every hard-pinned page, and every bootstrap page, at its minimum
    /// fidelity.
    pub auto_pin_hard: bool,
    /// Phase 1c installs pointers of non-resident pages while budget remains.
    pub prefetch_pointer: bool,
    /// Dirty pages are written back before a compaction (else: flush-miss).
    pub writeback_compaction: bool,
    /// Dirty pages are written back before a reset (else: flush-miss).
    pub writeback_reset: bool,
    /// Phase 2 scoring.
    pub upgrade_mode: UpgradeMode,
    /// A demand for an evicted page (or a repeated tool call whose result was evicted) is
    /// served by dereferencing the page's pointer instead of re-running the tool. Applies to
    /// every page type; the name is the artifact's.
    pub pointer_resolves_evidence: bool,
    /// An empty recall says why (denied, backend error); without it a denied or failed recall
    /// reaches the agent as a silent empty result. Not an artifact flag (see the README).
    pub surface_recall_reasons: bool,
    /// In a multi-session workload the policy runs with `floor(budget × scale)`.
    pub multisession_budget_scale: f64,
    /// Scoring and recency constants.
    pub weights: Weights,
    /// When levels change.
    pub paging: Paging,
}

impl PolicyConfig {
    /// The paper's configuration of `policy` (§4 of the reference).
    #[must_use]
    pub fn preset(policy: PolicyId) -> Self {
        let full = Self {
            policy,
            auto_pin_hard: true,
            prefetch_pointer: true,
            writeback_compaction: true,
            writeback_reset: true,
            upgrade_mode: UpgradeMode::Clawvm,
            pointer_resolves_evidence: true,
            surface_recall_reasons: true,
            multisession_budget_scale: 1.0,
            weights: Weights::default(),
            paging: Paging::PerTurn,
        };
        let retrieval = Self {
            auto_pin_hard: false,
            prefetch_pointer: false,
            writeback_compaction: false,
            writeback_reset: false,
            upgrade_mode: UpgradeMode::None,
            surface_recall_reasons: false,
            multisession_budget_scale: 0.78,
            ..full
        };
        match policy {
            PolicyId::RetrievalOnly => Self {
                pointer_resolves_evidence: false,
                ..retrieval
            },
            PolicyId::RetrievalOnlyCached => retrieval,
            PolicyId::CompactionHybrid => Self {
                auto_pin_hard: false,
                writeback_reset: false,
                upgrade_mode: UpgradeMode::Recency,
                surface_recall_reasons: false,
                multisession_budget_scale: 0.85,
                ..full
            },
            PolicyId::Lru => Self {
                upgrade_mode: UpgradeMode::Lru,
                ..full
            },
            PolicyId::Clawvm => full,
            PolicyId::OracleH3 => Self {
                upgrade_mode: UpgradeMode::Oracle { horizon: 3 },
                ..full
            },
            PolicyId::CacheStable => Self {
                paging: Paging::CacheStable(Watermarks::default()),
                ..full
            },
        }
    }

    /// This configuration with `feature` switched off (and nothing else changed).
    #[must_use]
    pub fn without(self, feature: Feature) -> Self {
        match feature {
            Feature::PointerResolution => Self {
                pointer_resolves_evidence: false,
                ..self
            },
            Feature::WritebackCompaction => Self {
                writeback_compaction: false,
                ..self
            },
            Feature::AutoPin => Self {
                auto_pin_hard: false,
                ..self
            },
            Feature::WritebackReset => Self {
                writeback_reset: false,
                ..self
            },
            Feature::UpgradeScoring => Self {
                upgrade_mode: UpgradeMode::None,
                ..self
            },
            Feature::Prefetch => Self {
                prefetch_pointer: false,
                ..self
            },
            Feature::RecallReasons => Self {
                surface_recall_reasons: false,
                ..self
            },
        }
    }
}
