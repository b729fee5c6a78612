//! What a replay costs and how well it served the agent, measured at each recorded model
//! request against the context that request was sent with: billed input under prompt
//! caching (page-policy's [`CostMeter`]) beside a no-compaction baseline, and quality by
//! content (hits, page-ins, faults, edit-anchor coverage).

use std::collections::HashMap;

use page_core::{ContentDigest, PageId, Repr};
use page_engine::anchors;
use page_policy::{CacheMode, CostMeter, PolicyEngine, Pricing, RequestItem, RewriteFloor};
use serde::Serialize;

use crate::Converted;
use crate::directory::DirectoryVersion;
use crate::retention::TextIndex;

/// Billed input of a replay (see docs/evaluation.md, "Cost under prompt caching").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostReport {
    /// The pricing preset.
    pub preset: &'static str,
    /// The cache mode.
    pub cache_mode: CacheMode,
    /// Σ billed-input equivalent, in units of the base input price (page-ins included).
    pub billed_input: f64,
    /// The same for the full history at `full` on every request.
    pub billed_input_no_compaction: f64,
    /// `billed_input / billed_input_no_compaction`, three decimals.
    pub ratio_to_no_compaction: f64,
    /// Σ tokens sent.
    pub tokens_sent: u64,
    /// Σ tokens read from the cache.
    pub tokens_cached: u64,
    /// `tokens_cached / tokens_sent`.
    pub cache_read_share: f64,
    /// Requests whose common prefix with the previous request is shorter than that request.
    pub prefix_rewrites: u64,
    /// The same per 100 requests.
    pub prefix_rewrites_per_100: f64,
    /// The fewest prefix rewrites any context manager needs under this budget
    /// ([`page_policy::RewriteFloor`] over what each recorded request adds).
    pub rewrite_floor: u64,
    /// Requests billed: the recorded ones and one per page read.
    pub requests: u64,
    /// Mean tokens sent per request.
    pub mean_tokens_sent: f64,
    /// Most tokens sent in one request.
    pub max_tokens_sent: u64,
}

/// Quality by content: every specific a recorded action used, classified against the context
/// its request was sent with; and the anchor lines of its edits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct QualityReport {
    /// Uses of a specific present in the rendered text of a page in the context (the
    /// directory aside).
    pub hits: u64,
    /// Uses of a specific absent from the pages but named in the directory: the model reads a
    /// page back (and the directory first, when its level does not name the holders).
    pub page_ins: u64,
    /// Uses of a specific the context neither held nor named.
    pub faults: u64,
    /// Pages read back (each one extra billed request).
    pub pages_read: u64,
    /// Edits whose old text came from earlier history (measured for anchor coverage).
    pub edit_anchors: u64,
    /// Their anchor lines.
    pub anchor_lines: u64,
    /// Of those, present in the context the edit was sent with (after its page-ins).
    pub anchor_lines_present: u64,
    /// `anchor_lines_present / anchor_lines`, three decimals (1 without edits).
    pub edit_anchor_coverage: f64,
    /// Edits under [`page_engine::anchors::COVERAGE_FLOOR`]: the agent would have read the
    /// file again.
    pub edit_refetches: u64,
    /// Whether the replay had a directory.
    pub directory: bool,
}

/// One request as billed, for `--requests` dumps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestRecord {
    /// Its position among the replay's billed requests.
    pub request: u64,
    /// When it was sent, if the trace says.
    pub at_ms: Option<i64>,
    /// What it held, in prompt order.
    pub items: Vec<RequestItem>,
}

/// What the meter reads from the policy replaying the session.
pub(crate) trait Pager {
    /// The prompt in the order it is sent: page index and level.
    fn prompt(&self) -> impl Iterator<Item = (usize, Repr)>;
    /// The model reads `page` back; whether the prompt keeps its text from now on.
    fn page_in(&mut self, page: usize) -> bool;
}

impl Pager for PolicyEngine<'_> {
    fn prompt(&self) -> impl Iterator<Item = (usize, Repr)> {
        PolicyEngine::prompt(self).map(|i| (i.page, i.level))
    }

    fn page_in(&mut self, page: usize) -> bool {
        PolicyEngine::page_in(self, page)
    }
}

/// Measures cost and quality request by request as the policy engine replays.
pub(crate) struct ActionMeter<'c> {
    converted: &'c Converted,
    index: TextIndex,
    /// Needles: mentions first, then every action's anchor lines; this is where each action's
    /// lines start.
    anchor_start: Vec<usize>,
    ids: HashMap<&'c PageId, usize>,
    digests: HashMap<(usize, Repr), ContentDigest>,
    cost: CostMeter,
    baseline: CostMeter,
    baseline_items: Vec<(ContentDigest, u32)>,
    floor: RewriteFloor,
    /// The first page not yet in `baseline_items`.
    baseline_pages: usize,
    next_request: usize,
    next_action: usize,
    present: Vec<bool>,
    /// Needles in the full text of a page created before the current request (grown as the
    /// replay goes, for edit anchors).
    history: Vec<bool>,
    /// The first page not yet marked in `history`.
    history_pages: usize,
    items: Vec<(ContentDigest, u32)>,
    /// The page and level of each of `items`.
    item_pages: Vec<(usize, Repr)>,
    quality: QualityReport,
    billed: u64,
    keep_records: bool,
    records: Vec<RequestRecord>,
}

impl<'c> ActionMeter<'c> {
    pub(crate) fn new(
        converted: &'c Converted,
        budget: u32,
        pricing: Pricing,
        mode: CacheMode,
        keep_records: bool,
    ) -> Self {
        let mut anchor_start = Vec::with_capacity(converted.actions.len());
        let mut next = converted.mentioned.len();
        for a in &converted.actions {
            anchor_start.push(next);
            next += a.anchors.len();
        }
        let mentions = TextIndex::mention_patterns(&converted.mentioned);
        let anchors = converted
            .actions
            .iter()
            .flat_map(|a| a.anchors.iter().map(|l| vec![l.clone()]));
        let index = TextIndex::new(mentions.into_iter().chain(anchors));
        Self {
            converted,
            index,
            anchor_start,
            ids: converted
                .workload
                .pages
                .iter()
                .enumerate()
                .map(|(i, p)| (&p.id, i))
                .collect(),
            digests: HashMap::new(),
            cost: CostMeter::new(pricing, mode),
            baseline: CostMeter::new(pricing, mode),
            baseline_items: Vec::new(),
            floor: RewriteFloor::new(budget),
            baseline_pages: 0,
            next_request: 0,
            next_action: 0,
            present: vec![false; next],
            history: vec![false; next],
            history_pages: converted.directory.len(),
            items: Vec::new(),
            item_pages: Vec::new(),
            quality: QualityReport {
                directory: !converted.directory.is_empty(),
                ..QualityReport::default()
            },
            billed: 0,
            keep_records,
            records: Vec::new(),
        }
    }

    /// Measures every request sent before `turn`, whose context is the pager's prompt after
    /// the previous turn; the pages each request reads back are paged in.
    pub(crate) fn before_turn(&mut self, turn: usize, engine: &mut impl Pager) {
        while let Some(r) = self.converted.requests.get(self.next_request) {
            if r.turn != turn {
                break;
            }
            self.next_request += 1;
            self.request(self.next_request - 1, engine);
        }
    }

    fn request(&mut self, request: usize, engine: &mut impl Pager) {
        let c = self.converted;
        let turn = c.requests[request].turn;
        let at_ms = c.requests[request].at_ms;
        let directory_pages = c.directory.len();
        // The context: the prompt, in the order it is sent.
        self.present.fill(false);
        self.items.clear();
        self.item_pages.clear();
        let mut directory: Option<(&DirectoryVersion, Repr)> = None;
        for (i, level) in engine.prompt() {
            if c.created_at[i] >= turn {
                continue;
            }
            self.push(i, level);
            if i < directory_pages {
                directory = Some((&c.directory[i], level));
            } else if let Some(text) = c.texts[i].get(&level) {
                self.index.mark(i, level, text, &mut self.present);
            }
        }
        // Quality of each action of this request; the pages it must read back.
        let mut reads: Vec<usize> = Vec::new();
        let first = self.next_action;
        while self
            .converted
            .actions
            .get(self.next_action)
            .is_some_and(|a| a.request == request)
        {
            self.next_action += 1;
        }
        for a in &c.actions[first..self.next_action] {
            for &m in &a.uses {
                if self.present[m] {
                    self.quality.hits += 1;
                    continue;
                }
                let mention = &c.mentioned[m];
                let listed = directory.filter(|(v, _)| m < v.listed);
                let holder = listed.and_then(|(v, _)| {
                    mention
                        .holders
                        .iter()
                        .rev()
                        .filter_map(|id| self.ids.get(id).copied())
                        .find(|&p| c.created_at[p] < v.created)
                });
                match (listed, holder) {
                    (Some((v, level)), Some(holder)) => {
                        self.quality.page_ins += 1;
                        if !DirectoryVersion::names_holders(level, mention.kind)
                            && !reads.contains(&v.page)
                        {
                            reads.push(v.page);
                        }
                        if !reads.contains(&holder) {
                            reads.push(holder);
                        }
                    }
                    _ => self.quality.faults += 1,
                }
            }
        }
        // Edits are sent after the reads: their anchors count wherever the reads put them.
        for &p in &reads {
            if let Some(text) = c.texts[p].get(&Repr::Full) {
                self.index.mark(p, Repr::Full, text, &mut self.present);
            }
        }
        for (k, a) in c.actions[first..self.next_action].iter().enumerate() {
            if !a.anchors.is_empty() {
                self.edit(first + k, turn);
            }
        }
        // Bill the request, then one more per page read.
        self.bill(at_ms);
        for &p in &reads {
            if engine.page_in(p) {
                self.load(engine, turn);
            } else {
                self.push(p, Repr::Full);
            }
            self.quality.pages_read += 1;
            self.bill(at_ms);
        }
        // The baseline sends every page created so far at full, the directory aside; pages
        // are in creation order after the directory's versions.
        self.baseline_pages = self.baseline_pages.max(directory_pages);
        let mut added = 0;
        while self.baseline_pages < c.created_at.len() && c.created_at[self.baseline_pages] < turn {
            let item = self.item(self.baseline_pages, Repr::Full);
            added += u64::from(item.1);
            self.baseline_items.push(item);
            self.baseline_pages += 1;
        }
        self.floor.push(added);
        self.baseline.push_digests(at_ms, &self.baseline_items);
    }

    /// Anchor coverage of action `a`'s edit, sent before `turn`, when its old text came from
    /// the full text of pages created before ([`anchors::came_from_history`]).
    fn edit(&mut self, a: usize, turn: usize) {
        let c = self.converted;
        // Pages are in creation order after the directory's versions, and requests come in
        // turn order: each page's full text is searched once.
        while self.history_pages < c.created_at.len() && c.created_at[self.history_pages] < turn {
            let p = self.history_pages;
            if let Some(text) = c.texts[p].get(&Repr::Full) {
                self.index.mark(p, Repr::Full, text, &mut self.history);
            }
            self.history_pages += 1;
        }
        let lines = self.anchor_start[a]..self.anchor_start[a] + c.actions[a].anchors.len();
        let known = lines.clone().filter(|&n| self.history[n]).count();
        if !anchors::came_from_history(known, lines.len()) {
            return;
        }
        let present = lines.clone().filter(|&n| self.present[n]).count();
        self.quality.edit_anchors += 1;
        self.quality.anchor_lines += lines.len() as u64;
        self.quality.anchor_lines_present += present as u64;
        self.quality.edit_refetches += u64::from(anchors::is_refetch(present, lines.len()));
    }

    fn item(&mut self, page: usize, level: Repr) -> (ContentDigest, u32) {
        let c = self.converted;
        let hash = *self.digests.entry((page, level)).or_insert_with(|| {
            ContentDigest::of(
                c.texts[page]
                    .get(&level)
                    .map_or("", String::as_str)
                    .as_bytes(),
            )
        });
        let tokens = c.workload.pages[page]
            .tokens
            .at(level)
            .map_or(0, page_core::TokenCount::get);
        (hash, tokens)
    }

    /// Replaces the request being built with the engine's prompt (pages created before `turn`).
    fn load(&mut self, engine: &impl Pager, turn: usize) {
        self.items.clear();
        self.item_pages.clear();
        for (i, level) in engine.prompt() {
            if self.converted.created_at[i] < turn {
                self.push(i, level);
            }
        }
    }

    /// Adds page `page` at `level` to the request being built.
    fn push(&mut self, page: usize, level: Repr) {
        let item = self.item(page, level);
        self.items.push(item);
        self.item_pages.push((page, level));
    }

    fn bill(&mut self, at_ms: Option<i64>) {
        self.cost.push_digests(at_ms, &self.items);
        if self.keep_records {
            let pages = &self.converted.workload.pages;
            let items = self
                .items
                .iter()
                .zip(&self.item_pages)
                .map(|(&(hash, tokens), &(p, level))| RequestItem {
                    page: pages[p].id.as_str().to_owned(),
                    level,
                    tokens,
                    hash,
                })
                .collect();
            self.records.push(RequestRecord {
                request: self.billed,
                at_ms,
                items,
            });
        }
        self.billed += 1;
    }

    /// The reports, and the billed requests when they were kept.
    pub(crate) fn finish(self) -> (CostReport, QualityReport, Vec<RequestRecord>) {
        let s = self.cost.summary();
        let base = self.baseline.summary();
        let mut quality = self.quality;
        #[expect(clippy::cast_precision_loss, reason = "line counts are small")]
        {
            quality.edit_anchor_coverage = if quality.anchor_lines == 0 {
                1.0
            } else {
                round3(quality.anchor_lines_present as f64 / quality.anchor_lines as f64)
            };
        }
        let cost = CostReport {
            preset: s.preset,
            cache_mode: s.cache_mode,
            billed_input: s.billed_input,
            billed_input_no_compaction: base.billed_input,
            ratio_to_no_compaction: if base.billed_input > 0.0 {
                round3(s.billed_input / base.billed_input)
            } else {
                0.0
            },
            tokens_sent: s.tokens_sent,
            tokens_cached: s.tokens_cached,
            cache_read_share: s.cache_read_share,
            prefix_rewrites: s.prefix_rewrites,
            prefix_rewrites_per_100: s.prefix_rewrites_per_100,
            rewrite_floor: self.floor.count(),
            requests: s.requests,
            mean_tokens_sent: s.mean_tokens_sent,
            max_tokens_sent: s.max_tokens_sent,
        };
        (cost, quality, self.records)
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0 + 0.0
}

#[cfg(test)]
#[path = "measure_tests.rs"]
mod tests;
