//! The evaluation report: one self-contained HTML page (`report/index.html`) with inline CSS
//! and SVG charts, no script and no network, rendered as a pure function of the evaluation so
//! equal evaluations give equal bytes.
//!
//! Charts (each an `<svg>` with a stable id): mean faults and thrash per budget and policy on
//! the synthetic sweep (`chart-sweep-faults`, `chart-sweep-thrash`), faults and thrash per
//! budget fraction and policy on the recorded sessions (`chart-real-faults`,
//! `chart-real-thrash`), retention of paths and commands per budget fraction with and without
//! the page directory (`chart-retention`), and the per-turn residency of one session, page ×
//! turn coloured by representation level (`chart-residency`).

use std::fmt::Write as _;

use page_core::Repr;
use page_policy::PolicyId;

use crate::chart::{Series, line_chart, policy_series};
use crate::real::Residency;
use crate::render::tier1_line;
use crate::run::Evaluation;

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}\
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.8em 0;font-size:12px}\
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f3f3f3}\
td.l,th.l{text-align:left}svg{display:block;margin:.6em 0;background:#fff}\
.note{color:#555;font-size:12px}details{margin:.8em 0}code{background:#f3f3f3;padding:0 3px}";

pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn level_color(level: Option<Repr>) -> &'static str {
    match level {
        Some(Repr::Full) => "#08519c",
        Some(Repr::Compressed) => "#3182bd",
        Some(Repr::Structured) => "#9ecae1",
        Some(Repr::Pointer) => "#deebf7",
        _ => "#ffffff",
    }
}

fn level_name(level: Option<Repr>) -> &'static str {
    match level {
        Some(Repr::Full) => "full",
        Some(Repr::Compressed) => "compressed",
        Some(Repr::Structured) => "structured",
        Some(Repr::Pointer) => "pointer",
        _ => "not resident",
    }
}

/// Page × turn, coloured by the level each page was assembled at.
fn heatmap(r: &Residency) -> String {
    let cell = 14.0;
    let (left, top) = (70.0, 40.0);
    #[expect(clippy::cast_precision_loss, reason = "tens of pages and turns")]
    let (cols, rows) = (r.levels.len() as f64, r.pages.len() as f64);
    let title_len = r.title.chars().count() + 20;
    #[expect(clippy::cast_precision_loss, reason = "a title's length")]
    let w = (left + cell * cols + 150.0).max(left + 8.5 * title_len as f64);
    let h = (top + cell * rows + 30.0).max(top + 5.0 * 16.0 + 30.0);
    let mut s = String::new();
    let title = format!("Residency per turn: {}", r.title);
    let _ = write!(
        s,
        "<svg id=\"chart-residency\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\" role=\"img\" aria-label=\"{t}\"><title>{t}</title><text x=\"{left}\" y=\"14\" font-size=\"13\" font-weight=\"bold\">{t}</text>",
        t = esc(&title)
    );
    for (t, col) in r.levels.iter().enumerate() {
        #[expect(clippy::cast_precision_loss, reason = "tens of turns")]
        let x = left + cell * t as f64;
        if t % 5 == 0 {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\" text-anchor=\"middle\">{t}</text>",
                x + cell / 2.0,
                top - 14.0
            );
        }
        if u32::try_from(t).is_ok_and(|t| r.compactions.contains(&t)) {
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{cell}\" height=\"4\" fill=\"#d62728\"><title>turn {t}: hard compaction</title></rect>",
                top - 8.0
            );
        }
        for (p, level) in col.iter().enumerate() {
            #[expect(clippy::cast_precision_loss, reason = "tens of pages")]
            let y = top + cell * p as f64;
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{cell}\" height=\"{cell}\" fill=\"{}\" stroke=\"#e0e0e0\"><title>{} turn {t}: {}</title></rect>",
                level_color(*level),
                esc(&r.pages[p]),
                level_name(*level)
            );
        }
    }
    for (p, id) in r.pages.iter().enumerate() {
        #[expect(clippy::cast_precision_loss, reason = "tens of pages")]
        let y = top + cell * p as f64 + cell - 3.0;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{y:.1}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            left - 4.0,
            esc(id)
        );
    }
    let lx = left + cell * cols + 16.0;
    for (k, level) in [
        Some(Repr::Full),
        Some(Repr::Compressed),
        Some(Repr::Structured),
        Some(Repr::Pointer),
        None,
    ]
    .into_iter()
    .enumerate()
    {
        #[expect(clippy::cast_precision_loss, reason = "five legend rows")]
        let y = top + 16.0 * k as f64;
        let _ = write!(
            s,
            "<rect x=\"{lx:.1}\" y=\"{y:.1}\" width=\"12\" height=\"12\" fill=\"{}\" stroke=\"#999\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{}</text>",
            level_color(level),
            lx + 16.0,
            y + 10.0,
            level_name(level)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[expect(clippy::cast_precision_loss, reason = "counts stay far below 2^53")]
fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0u64), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

#[expect(clippy::cast_precision_loss, reason = "counts stay far below 2^53")]
fn pct(part: u64, total: u64) -> f64 {
    if total == 0 {
        100.0
    } else {
        part as f64 * 100.0 / total as f64
    }
}

/// `report/index.html` for `eval`.
#[must_use]
#[expect(clippy::too_many_lines, reason = "one page, written top to bottom")]
#[expect(clippy::cast_precision_loss, reason = "counts stay far below 2^53")]
pub fn report_html(eval: &Evaluation) -> String {
    let summary = &eval.summary;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>pagevm evaluation report</title><style>{CSS}</style></head><body>\n<h1>pagevm evaluation report</h1>\n<p>{}. Synthetic sweep: {} configurations; recorded sessions: {} replays. Every number below comes from replaying a workload through page-policy; the tables are also in <a href=\"../summary.md\">summary.md</a> and <a href=\"../summary.json\">summary.json</a>.</p>\n",
        esc(&tier1_line(summary)),
        summary.sweep.len(),
        summary.real_sessions.len()
    );

    // Synthetic sweep.
    let mut budgets: Vec<u32> = summary.sweep.iter().map(|r| r.budget).collect();
    budgets.sort_unstable();
    budgets.dedup();
    let labels: Vec<String> = budgets.iter().map(u32::to_string).collect();
    h.push_str("<h2>Synthetic sweep (four workload families)</h2>\n");
    let rows_at = |code: &str, i: usize| -> Vec<&crate::summary::SweepRow> {
        summary
            .sweep
            .iter()
            .filter(|r| r.policy == code && r.budget == budgets[i])
            .collect()
    };
    h.push_str(&line_chart(
        "chart-sweep-faults",
        "Mean faults per configuration vs budget",
        "faults",
        &labels,
        &policy_series(
            &PolicyId::PAPER,
            |code, i| mean(rows_at(code, i).iter().map(|r| r.total_faults as f64)),
            budgets.len(),
        ),
    ));
    h.push_str(&line_chart(
        "chart-sweep-thrash",
        "Mean thrash index vs budget",
        "thrash",
        &labels,
        &policy_series(
            &PolicyId::PAPER,
            |code, i| mean(rows_at(code, i).iter().map(|r| r.thrash.0)),
            budgets.len(),
        ),
    ));
    h.push_str("<table><tr><th class=\"l\">policy</th><th>mean faults</th><th>paper</th><th>mean thrash</th><th>paper</th><th>mean oracle gap</th><th>faulty fitting configs</th></tr>\n");
    for r in &summary.headline {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.policy),
            r.mean_faults,
            r.paper_mean_faults
                .map_or_else(|| "—".to_owned(), |v| v.to_string()),
            r.mean_thrash,
            r.paper_thrash
                .map_or_else(|| "—".to_owned(), |v| v.to_string()),
            r.mean_oracle_gap,
            r.faulty_fitting_configs
        );
    }
    h.push_str("</table>\n<table><tr><th class=\"l\">Tier-1 gate</th><th class=\"l\">passed</th><th class=\"l\">detail</th></tr>\n");
    for g in &summary.tier1 {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
            esc(&g.gate),
            g.passed,
            esc(&g.detail)
        );
    }
    h.push_str("</table>\n<p class=\"note\">Decision traces: <a href=\"../traces/tier1/\">traces/tier1/</a>, <a href=\"../traces/sweep/\">traces/sweep/</a>, <a href=\"../traces/ablations/\">traces/ablations/</a>, <a href=\"../traces/adversarial/\">traces/adversarial/</a>.</p>\n");

    // Recorded sessions.
    h.push_str("<h2>Recorded sessions</h2>\n");
    let real = &summary.real_sessions;
    if real.is_empty() {
        h.push_str(
            "<p>No recorded sessions were replayed (<code>pagevm eval --traces DIR</code>).</p>\n",
        );
    } else {
        let mut fractions: Vec<f64> = real.iter().map(|r| r.budget_fraction.0).collect();
        fractions.sort_by(f64::total_cmp);
        fractions.dedup();
        let flabels: Vec<String> = fractions
            .iter()
            .map(|f| format!("{:.0}%", f * 100.0))
            .collect();
        let mut sessions: Vec<(&str, &str)> = real
            .iter()
            .map(|r| (r.file.as_str(), r.session.as_str()))
            .collect();
        sessions.dedup();
        let _ = writeln!(
            h,
            "<p>{} sessions from {} files, each replayed at {} fractions of its own full history under the six policies, with the page directory. A hard compaction is inserted wherever the history since the last one would exceed the budget.</p>",
            sessions.len(),
            {
                let mut files: Vec<&str> = real.iter().map(|r| r.file.as_str()).collect();
                files.dedup();
                files.len()
            },
            fractions.len()
        );
        let at = |code: &str, i: usize| -> Vec<&crate::real::RealRow> {
            let f = fractions[i];
            real.iter()
                .filter(|r| r.policy == code && (r.budget_fraction.0 - f).abs() < 1e-9)
                .collect()
        };
        h.push_str(&line_chart(
            "chart-real-faults",
            "Faults summed over the recorded sessions vs budget (fraction of history)",
            "faults",
            &flabels,
            &policy_series(
                &PolicyId::ALL,
                |code, i| at(code, i).iter().map(|r| r.total_faults as f64).sum(),
                fractions.len(),
            ),
        ));
        h.push_str(&line_chart(
            "chart-real-thrash",
            "Mean thrash index over the recorded sessions vs budget",
            "thrash",
            &flabels,
            &policy_series(
                &PolicyId::ALL,
                |code, i| mean(at(code, i).iter().map(|r| r.thrash.0)),
                fractions.len(),
            ),
        ));

        crate::report_cost::cost_and_quality(
            &mut h,
            &summary.real_cost_quality,
            &fractions,
            &flabels,
        );

        // Retention.
        let ret = &summary.real_retention;
        let pick = |dir: bool, f: &dyn Fn(&crate::real::RetentionRow) -> f64| -> Vec<f64> {
            fractions
                .iter()
                .map(|&fr| {
                    ret.iter()
                        .find(|r| r.directory == dir && (r.budget_fraction.0 - fr).abs() < 1e-9)
                        .map_or(0.0, f)
                })
                .collect()
        };
        let series = vec![
            Series {
                name: "paths recoverable (directory)".to_owned(),
                color: "#2ca02c",
                dash: "",
                values: pick(true, &|r| pct(r.paths.recoverable, r.paths.total)),
            },
            Series {
                name: "commands recoverable (directory)".to_owned(),
                color: "#1f77b4",
                dash: "",
                values: pick(true, &|r| pct(r.commands.recoverable, r.commands.total)),
            },
            Series {
                name: "paths recoverable (no directory)".to_owned(),
                color: "#2ca02c",
                dash: "6 3",
                values: pick(false, &|r| pct(r.paths.recoverable, r.paths.total)),
            },
            Series {
                name: "commands recoverable (no directory)".to_owned(),
                color: "#1f77b4",
                dash: "6 3",
                values: pick(false, &|r| pct(r.commands.recoverable, r.commands.total)),
            },
            Series {
                name: "paths resident".to_owned(),
                color: "#ff7f0e",
                dash: "2 3",
                values: pick(true, &|r| pct(r.paths.resident, r.paths.total)),
            },
            Series {
                name: "commands resident".to_owned(),
                color: "#d62728",
                dash: "2 3",
                values: pick(true, &|r| pct(r.commands.resident, r.commands.total)),
            },
        ];
        h.push_str(&line_chart(
            "chart-retention",
            "ClawVM retention of specifics after compaction vs budget (%)",
            "% of mentioned so far",
            &flabels,
            &series,
        ));
        h.push_str("<table><tr><th>budget</th><th class=\"l\">directory</th><th>paths resident</th><th>paths recoverable</th><th>paths total</th><th>commands resident</th><th>commands recoverable</th><th>commands total</th><th>identifiers resident</th><th>identifiers recoverable</th><th>identifiers total</th><th>recoverable % paths</th><th>recoverable % commands</th></tr>\n");
        for r in ret {
            let _ = writeln!(
                h,
                "<tr><td>{:.0}%</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td></tr>",
                r.budget_fraction.0 * 100.0,
                if r.directory { "on" } else { "off" },
                r.paths.resident,
                r.paths.recoverable,
                r.paths.total,
                r.commands.resident,
                r.commands.recoverable,
                r.commands.total,
                r.identifiers.resident,
                r.identifiers.recoverable,
                r.identifiers.total,
                pct(r.paths.recoverable, r.paths.total),
                pct(r.commands.recoverable, r.commands.total),
            );
        }
        h.push_str("</table>\n<p class=\"note\">Counts are summed over every measurement point (each compaction, or the last turn) of every session. Resident: the text is in the assembled prompt. Recoverable (names only): resident, or inside a page whose handle is in the prompt and resolves, the page directory included (a hard-pinned page whose full form maps every specific mentioned before its latest rebuild to the pages holding it); a name is not content, see quality by content above. For reference, LLM summary compaction was measured keeping 9.8% of file paths and 0.2% of commands on real sessions.</p>\n");

        // Per-policy totals.
        h.push_str("<table><tr><th class=\"l\">policy</th>");
        for l in &flabels {
            let _ = write!(h, "<th>faults @ {l}</th>");
        }
        h.push_str("<th>runs where the min set fit</th><th>faults in those runs</th></tr>\n");
        for p in PolicyId::ALL {
            let code = p.code();
            let _ = write!(h, "<tr><td class=\"l\">{code}</td>");
            for i in 0..fractions.len() {
                let _ = write!(
                    h,
                    "<td>{}</td>",
                    at(code, i).iter().map(|r| r.total_faults).sum::<u64>()
                );
            }
            let fit: Vec<_> = real
                .iter()
                .filter(|r| r.policy == code && r.min_fidelity_fits)
                .collect();
            let _ = writeln!(
                h,
                "<td>{}</td><td>{}</td></tr>",
                fit.len(),
                fit.iter().map(|r| r.total_faults).sum::<u64>()
            );
        }
        h.push_str("</table>\n");

        if let Some(res) = &eval.real.residency {
            h.push_str("<h2>Per-turn residency</h2>\n<p>The largest recorded session under ClawVM at 10% of its history: one row per page (<code>dir</code> is the page directory, <code>b…</code> bootstrap, <code>plan</code>, <code>c…</code> conversation, <code>e…</code> evidence), one column per turn; red ticks mark the hard compactions the budget forced. A page exists from the turn that creates it; each compaction rebuilds the directory (<code>dir-1</code>, <code>dir-2</code>, …) from what was ingested before it.</p>\n");
            h.push_str(&heatmap(res));
        }

        // Every run, with its trace.
        let _ = writeln!(
            h,
            "<h2>Every replay</h2>\n<details><summary>{} rows (file, session, policy, budget) with links to their decision traces</summary>\n<table><tr><th class=\"l\">file</th><th class=\"l\">session</th><th class=\"l\">format</th><th class=\"l\">policy</th><th>budget</th><th>tokens</th><th>history</th><th>turns</th><th>calls</th><th>faults</th><th>thrash</th><th class=\"l\">min fits</th><th>paths res/rec/total</th><th>commands res/rec/total</th><th>assembled mean</th><th class=\"l\">trace</th></tr>",
            real.len()
        );
        for r in real {
            let k = |c: page_replay::KindRetention| {
                format!("{}/{}/{}", c.resident, c.recoverable, c.total)
            };
            let _ = writeln!(
                h,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{:.0}%</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\"><a href=\"../{}\">trace</a></td></tr>",
                esc(&r.file),
                esc(&r.session),
                esc(&r.format),
                esc(&r.policy),
                r.budget_fraction.0 * 100.0,
                r.budget,
                r.full_history_tokens,
                r.turns,
                r.tool_calls,
                r.total_faults,
                r.thrash,
                r.min_fidelity_fits,
                k(r.paths),
                k(r.commands),
                r.assembled_mean_tokens,
                esc(&r.trace)
            );
        }
        h.push_str("</table></details>\n");
        if !eval.real.notes.is_empty() {
            let _ = writeln!(
                h,
                "<details><summary>{} import diagnostics</summary><ul>",
                eval.real.notes.len()
            );
            for n in &eval.real.notes {
                let _ = writeln!(h, "<li>{}</li>", esc(n));
            }
            h.push_str("</ul></details>\n");
        }
    }
    h.push_str("</body></html>\n");
    h
}
