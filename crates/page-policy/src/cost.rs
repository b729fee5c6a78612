//! What a sequence of model requests costs the people who run the agent under prompt caching:
//! tokens sent, tokens read from the provider's prefix cache, and the billed-input equivalent
//! in units of the base input price (`docs/evaluation.md`, "Cost under prompt caching").
//!
//! A request is its items in order (the system prefix first), each with the hash of its
//! rendered bytes. In `lcp` mode the cached tokens are those of the longest common prefix with
//! the previous request, compared item by item on identical bytes; in `breakpoint` mode, those
//! of the longest earlier request that is a prefix of this one. Either is zero when the gap
//! since the previous request exceeds the cache lifetime (where both times are known) or when
//! the prefix is shorter than the provider's minimum cacheable size.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use page_core::{ContentDigest, Repr};
use serde::Serialize;
use thiserror::Error;

/// A provider's cache prices and rules, in multiples of the base input price.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pricing {
    /// The preset's name, or `custom`.
    pub preset: &'static str,
    /// Price of a cached token.
    pub read: f64,
    /// Price of an uncached token (it is written to the cache).
    pub write: f64,
    /// How long a cache entry lives after its last use, in milliseconds; `None`: no limit.
    pub lifetime_ms: Option<i64>,
    /// The shortest prefix a provider caches, in tokens.
    pub min_cached: u64,
}

/// A pricing preset name that is not one of [`Pricing::PRESETS`], or a bad override.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum CostError {
    /// Unknown preset.
    #[error("unknown pricing preset {0:?} (known: anthropic-5m, anthropic-1h, openai, gemini)")]
    UnknownPreset(String),
    /// Unknown cache mode.
    #[error("unknown cache mode {0:?} (known: lcp, breakpoint)")]
    UnknownMode(String),
    /// A price that is negative or not a number.
    #[error("{field} must be a finite number ≥ 0, got {value}")]
    BadPrice {
        /// Which price.
        field: &'static str,
        /// The value given.
        value: f64,
    },
}

impl Pricing {
    /// Anthropic with the 5-minute cache (the default).
    pub const ANTHROPIC_5M: Self = Self::of("anthropic-5m", 1.25, Some(300_000), 1_024);
    /// Anthropic with the 1-hour cache.
    pub const ANTHROPIC_1H: Self = Self::of("anthropic-1h", 2.0, Some(3_600_000), 1_024);
    /// OpenAI's automatic prefix caching.
    pub const OPENAI: Self = Self::of("openai", 1.25, None, 1_024);
    /// Gemini's implicit caching.
    pub const GEMINI: Self = Self::of("gemini", 1.0, None, 2_048);

    /// The preset names, in documentation order.
    pub const PRESETS: [&'static str; 4] = ["anthropic-5m", "anthropic-1h", "openai", "gemini"];

    // Every preset reads a cached token at a tenth of the base price.
    const fn of(
        preset: &'static str,
        write: f64,
        lifetime_ms: Option<i64>,
        min_cached: u64,
    ) -> Self {
        Self {
            preset,
            read: 0.1,
            write,
            lifetime_ms,
            min_cached,
        }
    }

    /// A preset by name (see `../shared/docs/cache-economics.md` for the sources).
    ///
    /// # Errors
    /// [`CostError::UnknownPreset`].
    pub fn preset(name: &str) -> Result<Self, CostError> {
        [
            Self::ANTHROPIC_5M,
            Self::ANTHROPIC_1H,
            Self::OPENAI,
            Self::GEMINI,
        ]
        .into_iter()
        .find(|p| p.preset == name)
        .ok_or_else(|| CostError::UnknownPreset(name.to_owned()))
    }

    /// This pricing with other read and write prices (the preset becomes `custom`).
    ///
    /// # Errors
    /// [`CostError::BadPrice`] for a negative or non-finite price.
    pub fn with_prices(self, read: f64, write: f64) -> Result<Self, CostError> {
        for (field, value) in [("read", read), ("write", write)] {
            if !value.is_finite() || value < 0.0 {
                return Err(CostError::BadPrice { field, value });
            }
        }
        Ok(Self {
            preset: "custom",
            read,
            write,
            ..self
        })
    }
}

/// How the cached prefix of a request is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheMode {
    /// The longest common prefix with the previous request (automatic prefix caching).
    Lcp,
    /// The longest earlier request that is a prefix of this one (explicit breakpoints at the
    /// end of each request).
    Breakpoint,
}

impl CacheMode {
    /// The name used on the command line and in JSON.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            CacheMode::Lcp => "lcp",
            CacheMode::Breakpoint => "breakpoint",
        }
    }
}

impl fmt::Display for CacheMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for CacheMode {
    type Err = CostError;
    fn from_str(s: &str) -> Result<Self, CostError> {
        match s {
            "lcp" => Ok(CacheMode::Lcp),
            "breakpoint" => Ok(CacheMode::Breakpoint),
            other => Err(CostError::UnknownMode(other.to_owned())),
        }
    }
}

/// One item of a request: a page at a level (or a system prefix, a page-in result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestItem {
    /// The page id.
    pub page: String,
    /// The level it was rendered at.
    pub level: Repr,
    /// Its tokens.
    pub tokens: u32,
    /// The hash of its rendered bytes: items are the same for the cache iff these are.
    pub hash: ContentDigest,
}

/// What one request cost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RequestCost {
    /// Tokens sent.
    pub sent: u64,
    /// Of those, read from the cache.
    pub cached: u64,
    /// `cached × read + (sent − cached) × write`.
    pub billed: f64,
    /// Whether the request kept less of the previous one than all of it (the prompt was
    /// rewritten before its tail), whatever the cache's lifetime and minimum say.
    pub rewrote_prefix: bool,
}

/// The cost of a whole sequence of requests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostSummary {
    /// The pricing preset.
    pub preset: &'static str,
    /// The cache mode.
    pub cache_mode: CacheMode,
    /// Requests billed.
    pub requests: u64,
    /// Σ tokens sent.
    pub tokens_sent: u64,
    /// Σ cached tokens.
    pub tokens_cached: u64,
    /// Σ billed-input equivalent, in units of the base input price.
    pub billed_input: f64,
    /// `tokens_cached / tokens_sent` (0 without requests).
    pub cache_read_share: f64,
    /// Requests that rewrote the previous request's prefix.
    pub prefix_rewrites: u64,
    /// The same per 100 requests.
    pub prefix_rewrites_per_100: f64,
    /// Mean tokens sent per request.
    pub mean_tokens_sent: f64,
    /// Most tokens sent in one request.
    pub max_tokens_sent: u64,
}

/// Bills requests one at a time, remembering what the cache can hold.
#[derive(Debug, Clone)]
pub struct CostMeter {
    pricing: Pricing,
    mode: CacheMode,
    previous: Vec<ContentDigest>,
    previous_at: Option<i64>,
    /// `breakpoint`: a trie over the item hashes of every earlier request; a node that ends a
    /// request records its token length.
    trie: Trie,
    requests: u64,
    sent: u64,
    cached: u64,
    billed: f64,
    rewrites: u64,
    max_sent: u64,
}

#[derive(Debug, Clone, Default)]
struct Trie {
    children: Vec<HashMap<ContentDigest, usize>>,
    ends: Vec<bool>,
}

impl Trie {
    fn new() -> Self {
        Self {
            children: vec![HashMap::new()],
            ends: vec![false],
        }
    }

    fn insert<'h>(&mut self, hashes: impl Iterator<Item = &'h ContentDigest>) {
        let mut node = 0;
        for h in hashes {
            node = match self.children[node].get(h) {
                Some(&next) => next,
                None => {
                    let next = self.children.len();
                    self.children.push(HashMap::new());
                    self.ends.push(false);
                    self.children[node].insert(*h, next);
                    next
                }
            };
        }
        self.ends[node] = true;
    }

    /// Items of the longest inserted sequence that is a prefix of `hashes`.
    fn longest_prefix<'h>(&self, hashes: impl Iterator<Item = &'h ContentDigest>) -> usize {
        let (mut node, mut best) = (0, 0);
        for (depth, h) in hashes.enumerate() {
            match self.children[node].get(h) {
                Some(&next) => node = next,
                None => break,
            }
            if self.ends[node] {
                best = depth + 1;
            }
        }
        best
    }
}

impl CostMeter {
    /// A meter with nothing cached.
    #[must_use]
    pub fn new(pricing: Pricing, mode: CacheMode) -> Self {
        Self {
            pricing,
            mode,
            previous: Vec::new(),
            previous_at: None,
            trie: Trie::new(),
            requests: 0,
            sent: 0,
            cached: 0,
            billed: 0.0,
            rewrites: 0,
            max_sent: 0,
        }
    }

    /// Bills the next request, sent at `at_ms` (milliseconds since the epoch) when known.
    pub fn push(&mut self, at_ms: Option<i64>, items: &[RequestItem]) -> RequestCost {
        let items: Vec<(ContentDigest, u32)> = items.iter().map(|i| (i.hash, i.tokens)).collect();
        self.push_digests(at_ms, &items)
    }

    /// [`CostMeter::push`] for a request given as `(digest, tokens)` per item: what a replay
    /// that bills thousands of requests passes without naming every item.
    pub fn push_digests(
        &mut self,
        at_ms: Option<i64>,
        items: &[(ContentDigest, u32)],
    ) -> RequestCost {
        // No per-request buffers: a replay bills thousands of requests of thousands of items.
        let tokens =
            |items: &[(ContentDigest, u32)]| -> u64 { items.iter().map(|i| u64::from(i.1)).sum() };
        let sent = tokens(items);
        let common = items
            .iter()
            .zip(&self.previous)
            .take_while(|(a, b)| a.0 == **b)
            .count();
        let rewrote_prefix = self.requests > 0 && common < self.previous.len();
        let prefix_items = match self.mode {
            CacheMode::Lcp => common,
            CacheMode::Breakpoint => self.trie.longest_prefix(items.iter().map(|i| &i.0)),
        };
        let expired = match (self.pricing.lifetime_ms, self.previous_at, at_ms) {
            (Some(life), Some(before), Some(now)) => now.saturating_sub(before) > life,
            _ => false,
        };
        let prefix = tokens(&items[..prefix_items]);
        let cached = if expired || prefix < self.pricing.min_cached {
            0
        } else {
            prefix
        };
        #[expect(
            clippy::cast_precision_loss,
            reason = "token counts stay far below 2^53"
        )]
        let billed =
            cached as f64 * self.pricing.read + (sent - cached) as f64 * self.pricing.write;
        self.requests += 1;
        self.sent += sent;
        self.cached += cached;
        self.billed += billed;
        self.rewrites += u64::from(rewrote_prefix);
        self.max_sent = self.max_sent.max(sent);
        if self.mode == CacheMode::Breakpoint {
            self.trie.insert(items.iter().map(|i| &i.0));
        }
        self.previous.clear();
        self.previous.extend(items.iter().map(|i| i.0));
        if at_ms.is_some() {
            self.previous_at = at_ms;
        }
        RequestCost {
            sent,
            cached,
            billed,
            rewrote_prefix,
        }
    }

    /// The totals so far.
    #[must_use]
    #[expect(
        clippy::cast_precision_loss,
        reason = "token counts stay far below 2^53"
    )]
    pub fn summary(&self) -> CostSummary {
        let per = |x: f64| {
            if self.requests == 0 {
                0.0
            } else {
                x / self.requests as f64
            }
        };
        CostSummary {
            preset: self.pricing.preset,
            cache_mode: self.mode,
            requests: self.requests,
            tokens_sent: self.sent,
            tokens_cached: self.cached,
            billed_input: round(self.billed, 10.0),
            cache_read_share: if self.sent == 0 {
                0.0
            } else {
                round(self.cached as f64 / self.sent as f64, 1000.0)
            },
            prefix_rewrites: self.rewrites,
            prefix_rewrites_per_100: round(per(self.rewrites as f64 * 100.0), 100.0),
            mean_tokens_sent: round(per(self.sent as f64), 100.0),
            max_tokens_sent: self.max_sent,
        }
    }
}

/// Rounds to `1/scale` so JSON floats are short and stable.
fn round(x: f64, scale: f64) -> f64 {
    (x * scale).round() / scale + 0.0
}

/// The fewest prefix rewrites any context manager needs under a budget, the yardstick beside a
/// measured count: every new message is sent once in full, and between two rewrites each
/// request extends the one before it, so what was added since the last rewrite has to fit the
/// budget. Fed with what each request adds, it counts greedily, which is the minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RewriteFloor {
    budget: u64,
    since: u64,
    count: u64,
}

impl RewriteFloor {
    /// A floor for `budget` tokens.
    #[must_use]
    pub fn new(budget: u32) -> Self {
        Self {
            budget: u64::from(budget),
            since: 0,
            count: 0,
        }
    }

    /// The next request adds `tokens` of new content.
    pub fn push(&mut self, tokens: u64) {
        if self.since > 0 && self.since + tokens > self.budget {
            self.count += 1;
            self.since = tokens;
        } else {
            self.since += tokens;
        }
    }

    /// Rewrites forced so far.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count
    }
}
