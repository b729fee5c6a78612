//! The recorded-session report's cost and quality section: billed input under prompt caching
//! and faults by content per policy and budget, as charts and one table.

use std::fmt::Write as _;

use page_policy::PolicyId;

use crate::real::RealRow;
use crate::report::{line_chart, policy_series};

/// Appends the section to `h`; `fractions` are the budgets replayed, `flabels` their labels.
#[expect(clippy::cast_precision_loss, reason = "counts stay far below 2^53")]
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "rounded token sums, non-negative"
)]
pub(crate) fn cost_and_quality(
    h: &mut String,
    real: &[RealRow],
    fractions: &[f64],
    flabels: &[String],
) {
    let at = |code: &str, i: usize| -> Vec<&RealRow> {
        let f = fractions[i];
        real.iter()
            .filter(|r| r.policy == code && (r.budget_fraction.0 - f).abs() < 1e-9)
            .collect()
    };
    let ratio = |code: &str, i: usize| {
        let rows = at(code, i);
        let billed: f64 = rows.iter().map(|r| r.cost.billed_input).sum();
        let base: f64 = rows.iter().map(|r| r.cost.billed_input_no_compaction).sum();
        if base > 0.0 { billed / base } else { 0.0 }
    };
    h.push_str(&line_chart(
        "chart-real-billed",
        "Billed input under prompt caching, as a multiple of no compaction (anthropic-5m, lcp), vs budget",
        "× no compaction",
        flabels,
        &policy_series(ratio, fractions.len()),
    ));
    h.push_str(&line_chart(
        "chart-real-content-faults",
        "Faults by content (specifics a recorded action used that its context neither held nor named) vs budget",
        "faults by content",
        flabels,
        &policy_series(
            |code, i| at(code, i).iter().map(|r| r.quality.faults as f64).sum(),
            fractions.len(),
        ),
    ));
    h.push_str("<table><tr><th class=\"l\">policy</th><th>budget</th><th>billed × no compaction</th><th>cache read</th><th>rewrites /100 requests</th><th>hits</th><th>page-ins</th><th>faults</th><th>pages read</th><th>edits measured</th><th>anchor coverage</th><th>edit refetches</th></tr>\n");
    for p in PolicyId::ALL {
        let code = p.code();
        for (i, l) in flabels.iter().enumerate() {
            let rows = at(code, i);
            let sum = |f: &dyn Fn(&RealRow) -> u64| rows.iter().map(|r| f(r)).sum::<u64>();
            let sent: u64 =
                sum(&|r| (r.cost.mean_tokens_sent * r.cost.requests as f64).round() as u64);
            let cached: f64 = rows
                .iter()
                .map(|r| r.cost.cache_read_share * r.cost.mean_tokens_sent * r.cost.requests as f64)
                .sum();
            let requests = sum(&|r| r.cost.requests);
            let rewrites: f64 = rows
                .iter()
                .map(|r| r.cost.prefix_rewrites_per_100 * r.cost.requests as f64 / 100.0)
                .sum();
            let lines_present: f64 = rows
                .iter()
                .map(|r| r.quality.edit_anchor_coverage * r.quality.edit_anchors as f64)
                .sum();
            let edits = sum(&|r| r.quality.edit_anchors);
            let _ = writeln!(
                h,
                "<tr><td class=\"l\">{code}</td><td>{l}</td><td>{:.3}</td><td>{:.3}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{edits}</td><td>{}</td><td>{}</td></tr>",
                ratio(code, i),
                if sent == 0 { 0.0 } else { cached / sent as f64 },
                if requests == 0 {
                    0.0
                } else {
                    rewrites * 100.0 / requests as f64
                },
                sum(&|r| r.quality.hits),
                sum(&|r| r.quality.page_ins),
                sum(&|r| r.quality.faults),
                sum(&|r| r.quality.pages_read),
                if edits == 0 {
                    "-".to_owned()
                } else {
                    format!("{:.1}%", lines_present * 100.0 / edits as f64)
                },
                sum(&|r| r.quality.edit_refetches),
            );
        }
    }
    h.push_str("</table>\n<p class=\"note\">Measured at every recorded model request, against the context that request was sent with (the selection of the turn before it); the replay is causal: a page exists from the turn that creates it and the directory holds only what was ingested before its latest rebuild. Billed input: Σ (cached × 0.1 + uncached × 1.25) in units of the base input price, with the cached prefix the longest common prefix of item hashes with the previous request (nothing under 1,024 tokens or after 5 minutes); no compaction sends every page created so far at full. Hits: a specific the action used is in the rendered text of a page in its context (the directory aside); page-ins: only the directory names it, so the model reads the page back (each read one more billed request); faults: neither. Anchor coverage: the share of the lines an edit quoted that were in its context, over edits whose old text came from earlier history (sums and shares pooled over sessions; per-edit means in the JSON rows). See docs/evaluation.md.</p>\n");
}
