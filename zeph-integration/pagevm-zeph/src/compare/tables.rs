//! The side-by-side's totals over many histories, as JSON and as Markdown tables.

use std::collections::BTreeMap;

use crate::AdapterError;
use crate::tokens::ZephTokens;

use super::history::History;
use super::{CompareConfig, Counts, Strategy, compare_with};

/// Sums per-history counts.
#[must_use]
pub fn total(runs: &[BTreeMap<Strategy, Counts>]) -> BTreeMap<Strategy, Counts> {
    let mut out: BTreeMap<Strategy, Counts> = BTreeMap::new();
    for r in runs {
        for (s, c) in r {
            out.entry(*s).or_default().add(c);
        }
    }
    out
}

/// Every history replayed at `ratio` of its own size, summed per path.
fn totals(
    tokens: &ZephTokens,
    histories: &[History],
    config: &CompareConfig,
    ratio: f64,
) -> Result<BTreeMap<Strategy, Counts>, AdapterError> {
    let config = CompareConfig {
        budget: 0,
        budget_ratio: Some(ratio),
        ..config.clone()
    };
    let mut runs = Vec::with_capacity(histories.len());
    for (messages, times) in histories {
        runs.push(compare_with(tokens, messages, times, &config)?);
    }
    Ok(total(&runs))
}

/// The side-by-side as JSON: per budget share and path, `cost` and `quality` in the shape
/// `pagevm replay --json` prints them, and the structural counts.
///
/// # Errors
/// [`AdapterError`] when the adapter fails on a history.
pub fn json(
    histories: &[History],
    config: &CompareConfig,
    ratios: &[f64],
) -> Result<serde_json::Value, AdapterError> {
    let tokens = ZephTokens::new();
    let round = |x: f64, scale: f64| (x * scale).round() / scale + 0.0;
    let mut rows = Vec::new();
    for &ratio in ratios {
        for (s, c) in &totals(&tokens, histories, config, ratio)? {
            let (q, k) = (&c.quality, &c.cost);
            rows.push(serde_json::json!({
                "budget_share": ratio,
                "path": s.code(),
                "turns": c.turns,
                "cost": {
                    "preset": config.pricing.preset,
                    "cache_mode": config.cache_mode.code(),
                    "billed_input": round(k.billed_input, 10.0),
                    "billed_input_no_compaction": round(k.billed_input_no_compaction, 10.0),
                    "ratio_to_no_compaction": round(k.ratio_to_no_compaction(), 1000.0),
                    "cache_read_share": round(k.cache_read_share(), 1000.0),
                    "prefix_rewrites_per_100": round(k.prefix_rewrites_per_100(), 100.0),
                    "requests": k.requests,
                    "mean_tokens_sent": round(k.mean_tokens_sent(), 100.0),
                    "max_tokens_sent": k.max_tokens_sent,
                },
                "quality": {
                    "hits": q.hits,
                    "page_ins": q.page_ins,
                    "faults": q.faults,
                    "pages_read": q.pages_read,
                    "edit_anchors": q.edit_anchors,
                    "edit_anchor_coverage": round(q.edit_anchor_coverage(), 1000.0),
                    "edit_refetches": q.edit_refetches,
                    "directory": *s == Strategy::Pagevm && config.directory,
                },
                "controllable_faults": c.controllable_faults,
                "orphaned_pairs": c.orphaned_pairs,
                "over_budget": c.over_budget,
                "gave_way": c.gave_way,
                "retention": round(c.retention(), 1000.0),
            }));
        }
    }
    Ok(serde_json::Value::Array(rows))
}

/// The side-by-side table (markdown) over `histories`, one pair of rows per budget share.
///
/// # Errors
/// [`AdapterError`] when the adapter fails on a history.
pub fn table(
    histories: &[History],
    config: &CompareConfig,
    ratios: &[f64],
) -> Result<String, AdapterError> {
    let tokens = ZephTokens::new();
    let mut rows = Vec::with_capacity(ratios.len());
    for &ratio in ratios {
        rows.push((ratio, totals(&tokens, histories, config, ratio)?));
    }
    Ok(table_of(&rows))
}

/// The side-by-side table (markdown) of counts already taken: per budget share, each path's
/// totals.
#[must_use]
pub fn table_of(rows: &[(f64, BTreeMap<Strategy, Counts>)]) -> String {
    let labelled: Vec<(f64, Vec<(&str, &Counts)>)> = rows
        .iter()
        .map(|(ratio, counts)| (*ratio, counts.iter().map(|(s, c)| (s.title(), c)).collect()))
        .collect();
    labelled_table(&labelled)
}

/// The side-by-side table (markdown) of rows named by the caller: per budget share, each
/// `(path, totals)` in the order given (a path run under several policies, for instance).
#[must_use]
pub fn labelled_table(rows: &[(f64, Vec<(&str, &Counts)>)]) -> String {
    use std::fmt::Write as _;
    let mut out = String::from(
        "| budget (share of the history) | path | turns | hits | page-ins | faults | faults where the minimum set fits | turns where it does not | orphaned pairs introduced | input orphans sent as tool parts | over budget | fixed parts gave way | mean tokens | max tokens | retention (paths, commands) | misclassified results | invariant violations | billed × no compaction | cache read | rewrites /100 | anchor coverage (edits) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (ratio, counts) in rows {
        for (name, c) in counts {
            let _ = writeln!(
                out,
                "| {ratio} | {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {:.3} | {} | {} / {} | {:.3} | {:.3} | {:.1} | {:.3} ({}) |",
                c.turns,
                c.quality.hits,
                c.quality.page_ins,
                c.quality.faults,
                c.controllable_faults,
                c.insufficient_turns,
                c.orphaned_pairs,
                c.input_orphans_sent,
                c.over_budget,
                c.gave_way,
                c.tokens_mean(),
                c.tokens_max,
                c.retention(),
                c.misclassified,
                c.invariant_violations,
                c.invariant_checks,
                c.cost.ratio_to_no_compaction(),
                c.cost.cache_read_share(),
                c.cost.prefix_rewrites_per_100(),
                c.quality.edit_anchor_coverage(),
                c.quality.edit_anchors,
            );
        }
    }
    out
}
