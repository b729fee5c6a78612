//! The recorded-session report's cost and quality section: billed input under prompt caching
//! and faults by content per policy and budget, as charts and the table `summary.md` prints.

use std::fmt::Write as _;

use page_policy::PolicyId;

use crate::chart::{line_chart, policy_series};
use crate::real::CostQualityRow;
use crate::report::esc;

/// Appends the section to `h`; `fractions` are the budgets replayed, `flabels` their labels.
#[expect(clippy::cast_precision_loss, reason = "counts stay far below 2^53")]
pub(crate) fn cost_and_quality(
    h: &mut String,
    rows: &[CostQualityRow],
    fractions: &[f64],
    flabels: &[String],
) {
    let at = |code: &str, i: usize| -> Option<&CostQualityRow> {
        rows.iter().find(|r| {
            r.directory && r.policy == code && (r.budget_fraction.0 - fractions[i]).abs() < 1e-9
        })
    };
    h.push_str(&line_chart(
        "chart-real-billed",
        "Billed input under prompt caching, as a multiple of no compaction (anthropic-5m, lcp), vs budget",
        "× no compaction",
        flabels,
        &policy_series(
            &PolicyId::ALL,
            |code, i| at(code, i).map_or(0.0, |r| r.ratio_to_no_compaction.0),
            fractions.len(),
        ),
    ));
    h.push_str(&line_chart(
        "chart-real-content-faults",
        "Faults by content (specifics a recorded action used that its context neither held nor named) vs budget",
        "faults by content",
        flabels,
        &policy_series(
            &PolicyId::ALL,
            |code, i| at(code, i).map_or(0.0, |r| r.faults as f64),
            fractions.len(),
        ),
    ));
    let left = |h: &str| matches!(h, "policy" | "directory");
    h.push_str("<table><tr>");
    for head in CostQualityRow::HEADERS {
        let class = if left(head) { " class=\"l\"" } else { "" };
        let _ = write!(h, "<th{class}>{}</th>", esc(head));
    }
    h.push_str("</tr>\n");
    for r in rows {
        h.push_str("<tr>");
        for (head, cell) in CostQualityRow::HEADERS.iter().zip(r.cells()) {
            let class = if left(head) { " class=\"l\"" } else { "" };
            let _ = write!(h, "<td{class}>{}</td>", esc(&cell));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n<p class=\"note\">Measured at every recorded model request (a run of consecutive assistant messages and tool calls is one response), against the context that request was sent with: the selection of the turn before it. The replay is causal: a page exists from the turn that creates it, and the directory lists only what was ingested before its latest rebuild (one per compaction). Billed input: Σ (cached × 0.1 + uncached × 1.25) in units of the base input price, the cached prefix being the longest common prefix of item hashes with the previous request (nothing under 1,024 tokens or after 5 minutes); no compaction sends every page created so far at full. Hits: a specific the action used is in the rendered text of a page in its context (the directory aside); page-ins: only the directory names it, so the model reads the page back (each read is one more billed request); faults: neither. Anchor coverage: the share of the lines an edit quoted that were in its context, over edits whose old text came from earlier history; an edit under 90 % is a refetch. See docs/evaluation.md.</p>\n");
}
