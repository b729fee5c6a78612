//! Renders a [`Summary`] as JSON, CSV and Markdown, and the headline table for a terminal.
//!
//! Every renderer is a pure function of the summary: rows are written in the order the runner
//! built them (which is fixed), floats through [`Fixed`](crate::summary::Fixed), so equal
//! summaries give equal bytes.

use std::fmt::Write as _;

use page_policy::FaultCounts;

use crate::error::EvalError;
use crate::summary::Summary;

/// `summary.json`: pretty-printed, two-space indent, with a trailing newline.
///
/// # Errors
/// [`EvalError::Serialize`] if serialization fails (it does not for these types).
pub fn summary_json(summary: &Summary) -> Result<String, EvalError> {
    let mut text = serde_json::to_string_pretty(summary).map_err(EvalError::Serialize)?;
    text.push('\n');
    Ok(text)
}

/// `summary.csv`: one line per sweep row, the shape of the artifact's `tier2.summary.csv`
/// with the per-kind fault columns spelled out.
#[must_use]
pub fn summary_csv(summary: &Summary) -> String {
    let mut out = String::from(
        "workload,policy,budget,refetch,duplicate_tool,pinned_invariant_miss,\
         post_compaction_bootstrap,silent_recall,flush_miss,total_faults,\
         duplicate_signature_alerts,hits,thrash,min_fidelity_fits,oracle_gap\n",
    );
    for row in &summary.sweep {
        let f = &row.faults;
        // Ids are validated identifiers without commas or quotes, so no CSV quoting is needed.
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            row.workload,
            row.policy,
            row.budget,
            f.refetch,
            f.duplicate_tool,
            f.pinned_invariant_miss,
            f.post_compaction_bootstrap,
            f.silent_recall,
            f.flush_miss,
            row.total_faults,
            row.duplicate_signature_alerts,
            row.hits,
            row.thrash,
            row.min_fidelity_fits,
            row.oracle_gap,
        );
    }
    out
}

/// The headline table: mean faults and thrash per policy over the sweep, beside the paper's
/// Table 4. Printed by `pagevm eval` and embedded in `summary.md`.
#[must_use]
pub fn headline_table(summary: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| policy | mean faults | paper | mean thrash | paper | mean oracle gap | faulty fitting configs |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for row in &summary.headline {
        let paper_faults = row
            .paper_mean_faults
            .map_or_else(|| "—".to_owned(), |v| v.to_string());
        let paper_thrash = row
            .paper_thrash
            .map_or_else(|| "—".to_owned(), |v| v.to_string());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.policy,
            row.mean_faults,
            paper_faults,
            row.mean_thrash,
            paper_thrash,
            row.mean_oracle_gap,
            row.faulty_fitting_configs,
        );
    }
    out
}

/// The recorded-session table: per budget fraction, ClawVM's total faults and its retention of
/// paths and commands with and without the page directory. Printed by `pagevm eval` and
/// embedded in `summary.md`.
#[must_use]
pub fn real_table(summary: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| budget | clawvm faults | baseline faults (ro / roc / ch) | directory | paths resident/recoverable/total | commands resident/recoverable/total |"
    );
    let _ = writeln!(out, "|---:|---:|---|---|---|---|");
    for r in &summary.real_retention {
        let at = |policy: &str| -> u64 {
            summary
                .real_sessions
                .iter()
                .filter(|s| s.policy == policy && s.budget_fraction == r.budget_fraction)
                .map(|s| s.total_faults)
                .sum()
        };
        let _ = writeln!(
            out,
            "| {:.0}% | {} | {} / {} / {} | {} | {}/{}/{} | {}/{}/{} |",
            r.budget_fraction.0 * 100.0,
            at("clawvm"),
            at("retrieval_only"),
            at("retrieval_only_cached"),
            at("compaction_hybrid"),
            if r.directory { "on" } else { "off" },
            r.paths.resident,
            r.paths.recoverable,
            r.paths.total,
            r.commands.resident,
            r.commands.recoverable,
            r.commands.total,
        );
    }
    out
}

/// Billed input and quality by content on the recorded sessions, one row per budget fraction,
/// policy and directory setting. Embedded in `summary.md`; the report draws the same rows.
#[must_use]
fn cost_quality_table(summary: &Summary) -> String {
    use crate::real::CostQualityRow;
    let align = |h: &str| {
        if matches!(h, "policy" | "directory") {
            "---"
        } else {
            "---:"
        }
    };
    let mut out = format!(
        "| {} |\n|{}|\n",
        CostQualityRow::HEADERS.join(" | "),
        CostQualityRow::HEADERS.map(align).join("|")
    );
    for r in &summary.real_cost_quality {
        let _ = writeln!(out, "| {} |", r.cells().join(" | "));
    }
    out
}

/// The Tier-1 verdict line, e.g. `Tier-1 gates: 6/6 passed`.
#[must_use]
pub fn tier1_line(summary: &Summary) -> String {
    let passed = summary.tier1.iter().filter(|g| g.passed).count();
    format!("Tier-1 gates: {passed}/{} passed", summary.tier1.len())
}

fn fault_cells(f: &FaultCounts) -> String {
    format!(
        "{} | {} | {} | {} | {} | {}",
        f.refetch,
        f.duplicate_tool,
        f.pinned_invariant_miss,
        f.post_compaction_bootstrap,
        f.silent_recall,
        f.flush_miss
    )
}

const FAULT_HEADER: &str =
    "refetch | dup tool | pinned miss | post-compaction bootstrap | silent recall | flush miss";

/// `summary.md`: every table of the summary, for people.
#[must_use]
pub fn summary_md(summary: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# pagevm evaluation summary\n\nSchema version {}.\n",
        summary.schema_version
    );

    let _ = writeln!(
        out,
        "## Tier-1 lifecycle gates\n\n{}\n",
        tier1_line(summary)
    );
    let _ = writeln!(out, "| gate | passed | detail |\n|---|---|---|");
    for g in &summary.tier1 {
        let _ = writeln!(out, "| {} | {} | {} |", g.gate, g.passed, g.detail);
    }

    let _ = writeln!(
        out,
        "\n## Headline (mean over the sweep's configurations; paper's Table 4 beside)\n"
    );
    out.push_str(&headline_table(summary));

    let _ = writeln!(out, "\n## Ablations (ClawVM minus one feature)\n");
    let _ = writeln!(
        out,
        "| removed | budget | {FAULT_HEADER} | total |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for a in &summary.ablations {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            a.removed,
            a.budget,
            fault_cells(&a.faults),
            a.total_faults
        );
    }

    let _ = writeln!(out, "\n## Adversarial runs\n");
    let _ = writeln!(
        out,
        "| scenario | policy | budget | {FAULT_HEADER} | total | invariant pressure | oracle gap |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for a in &summary.adversarial {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            a.scenario,
            a.policy,
            a.budget,
            fault_cells(&a.faults),
            a.total_faults,
            a.invariant_pressure,
            a.oracle_gap
        );
    }
    let reasons: Vec<_> = summary
        .adversarial
        .iter()
        .filter(|a| !a.pressure_reasons.is_empty())
        .collect();
    if !reasons.is_empty() {
        let _ = writeln!(out, "\nInvariant pressure reasons:\n");
        for a in reasons {
            let _ = writeln!(
                out,
                "- {} / {} @ {}: {}",
                a.scenario,
                a.policy,
                a.budget,
                a.pressure_reasons.join("; ")
            );
        }
    }

    if !summary.real_retention.is_empty() {
        let _ = writeln!(
            out,
            "\n## Recorded sessions (faults summed over sessions; retention summed over measurement points)\n"
        );
        out.push_str(&real_table(summary));
        let _ = writeln!(
            out,
            "\n## Recorded sessions: billed input (anthropic-5m, lcp) and quality by content\n"
        );
        out.push_str(&cost_quality_table(summary));
    }

    let _ = writeln!(out, "\n## Sweep\n");
    let _ = writeln!(
        out,
        "| workload | policy | budget | {FAULT_HEADER} | total | dup-signature alerts | hits | thrash | min fits | oracle gap |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
    );
    for r in &summary.sweep {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.workload,
            r.policy,
            r.budget,
            fault_cells(&r.faults),
            r.total_faults,
            r.duplicate_signature_alerts,
            r.hits,
            r.thrash,
            r.min_fidelity_fits,
            r.oracle_gap
        );
    }
    out
}
