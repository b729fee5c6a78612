//! The real-session part of the evaluation: every recorded session under a directory, replayed
//! under the six policies at fractions of its own history, with retention of specifics and one
//! decision trace per run.
//!
//! Sessions are read with page-import (any format it detects), converted with page-replay
//! (exact o200k token costs from page-engine's builders, the page directory on) and simulated
//! with page-policy. ClawVM is also replayed without the directory, so the report can show what
//! the directory changes. Every run is also billed under prompt caching and measured by
//! content at each recorded request (page-replay's `CostReport` and `QualityReport`).

use std::path::Path;

use page_core::{Repr, TokenCount, TypeTable};
use page_engine::{BuildConfig, RepresentationBuilder};
use page_import::{FileError, find_traces, import_file};
use page_policy::{FaultCounts, PolicyId, TraceEvent};
use page_replay::{
    CostReport, Directory, KindRetention, Measures, QualityReport, ReplayReport, SessionReplay,
    Trace, convert_with, full_history_tokens, replay_converted,
};
use page_tokenizer::{BpeCounter, Encoding};
use serde::Serialize;

use crate::error::EvalError;
use crate::progress::Progress;
use crate::run::trace_jsonl;
use crate::summary::{Fixed, Fixed2, Fixed3};

/// Budgets of the real-session replay, as fractions of each session's full history.
pub const REAL_FRACTIONS: [f64; 7] = [0.05, 0.10, 0.15, 0.25, 0.35, 0.50, 0.75];

/// One replay of one recorded session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RealRow {
    /// The file, relative to the sessions directory.
    pub file: String,
    /// The session id.
    pub session: String,
    /// The detected format.
    pub format: String,
    /// The policy.
    pub policy: String,
    /// The budget as a fraction of the session's full history.
    pub budget_fraction: Fixed2,
    /// The budget in tokens.
    pub budget: u32,
    /// Turns replayed.
    pub turns: u32,
    /// Tool calls in the session.
    pub tool_calls: usize,
    /// Faults per kind.
    pub faults: FaultCounts,
    /// Their sum.
    pub total_faults: u64,
    /// Duplicate-signature alerts.
    pub duplicate_signature_alerts: u64,
    /// Hits.
    pub hits: u64,
    /// Thrash index.
    pub thrash: Fixed3,
    /// Whether the minimum-fidelity set fit at every turn.
    pub min_fidelity_fits: bool,
    /// Required installs that did not fit.
    pub invariant_pressure: u64,
    /// Hard compactions the budget forced.
    pub compactions: usize,
    /// Paths: total, resident, recoverable, summed over the measurement points.
    pub paths: KindRetention,
    /// Commands.
    pub commands: KindRetention,
    /// Identifiers.
    pub identifiers: KindRetention,
    /// Tokens of the whole history at full.
    pub full_history_tokens: u64,
    /// Mean assembled tokens per turn.
    pub assembled_mean_tokens: Fixed2,
    /// Billed input under prompt caching (`anthropic-5m`, `lcp`), beside no compaction.
    pub cost: CostReport,
    /// Quality by content at every recorded request.
    pub quality: QualityReport,
    /// The decision trace, relative to the output directory.
    pub trace: String,
}

/// Retention under ClawVM summed over every session at one budget fraction, with or without
/// the page directory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetentionRow {
    /// The budget as a fraction of each session's history.
    pub budget_fraction: Fixed2,
    /// Whether the sessions carried the page directory.
    pub directory: bool,
    /// Paths.
    pub paths: KindRetention,
    /// Commands.
    pub commands: KindRetention,
    /// Identifiers.
    pub identifiers: KindRetention,
}

/// Cost and quality by content of one policy at one budget fraction, summed over every
/// session: the table `summary.md` and the report print.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostQualityRow {
    /// The policy.
    pub policy: String,
    /// The budget as a fraction of each session's history.
    pub budget_fraction: Fixed2,
    /// Whether the sessions carried the page directory.
    pub directory: bool,
    /// Σ billed input, in units of the base input price.
    pub billed_input: Fixed<1>,
    /// Σ billed input with the whole history at full on every request.
    pub billed_input_no_compaction: Fixed<1>,
    /// Their ratio.
    pub ratio_to_no_compaction: Fixed3,
    /// Σ cached / Σ sent.
    pub cache_read_share: Fixed3,
    /// Prefix rewrites per 100 requests.
    pub prefix_rewrites_per_100: Fixed2,
    /// The fewest rewrites any context manager needs at this budget, per 100 of the same
    /// requests ([`page_policy::RewriteFloor`]).
    pub rewrite_floor_per_100: Fixed2,
    /// Requests billed.
    pub requests: u64,
    /// Uses of a specific found in the rendered context.
    pub hits: u64,
    /// Uses served by reading a page the directory named.
    pub page_ins: u64,
    /// Uses the context neither held nor named.
    pub faults: u64,
    /// Pages read back.
    pub pages_read: u64,
    /// Edits measured for anchor coverage.
    pub edit_anchors: u64,
    /// Anchor lines present / anchor lines, pooled over edits.
    pub edit_anchor_coverage: Fixed3,
    /// Edits under the coverage floor.
    pub edit_refetches: u64,
}

impl CostQualityRow {
    /// The column headers of [`CostQualityRow::cells`].
    pub(crate) const HEADERS: [&'static str; 15] = [
        "budget",
        "policy",
        "directory",
        "billed × no compaction",
        "cache read",
        "rewrites /100",
        "fewest possible /100",
        "requests",
        "hits",
        "page-ins",
        "faults",
        "pages read",
        "edits",
        "anchor coverage",
        "edit refetches",
    ];

    /// The row as table cells, for every renderer (Markdown, HTML).
    pub(crate) fn cells(&self) -> [String; 15] {
        [
            format!("{:.0}%", self.budget_fraction.0 * 100.0),
            self.policy.clone(),
            (if self.directory { "on" } else { "off" }).to_owned(),
            self.ratio_to_no_compaction.to_string(),
            self.cache_read_share.to_string(),
            self.prefix_rewrites_per_100.to_string(),
            self.rewrite_floor_per_100.to_string(),
            self.requests.to_string(),
            self.hits.to_string(),
            self.page_ins.to_string(),
            self.faults.to_string(),
            self.pages_read.to_string(),
            self.edit_anchors.to_string(),
            self.edit_anchor_coverage.to_string(),
            self.edit_refetches.to_string(),
        ]
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct CostQualitySums {
    billed: f64,
    baseline: f64,
    sent: u64,
    cached: u64,
    rewrites: u64,
    floor: u64,
    requests: u64,
    quality: QualityReport,
}

impl CostQualitySums {
    fn add(&mut self, r: &ReplayReport) {
        let (c, q) = (&r.cost, &r.quality);
        self.billed += c.billed_input;
        self.baseline += c.billed_input_no_compaction;
        self.sent += c.tokens_sent;
        self.cached += c.tokens_cached;
        self.rewrites += c.prefix_rewrites;
        self.floor += c.rewrite_floor;
        self.requests += c.requests;
        let s = &mut self.quality;
        s.hits += q.hits;
        s.page_ins += q.page_ins;
        s.faults += q.faults;
        s.pages_read += q.pages_read;
        s.edit_anchors += q.edit_anchors;
        s.anchor_lines += q.anchor_lines;
        s.anchor_lines_present += q.anchor_lines_present;
        s.edit_refetches += q.edit_refetches;
    }

    #[expect(clippy::cast_precision_loss, reason = "sums stay far below 2^53")]
    fn row(&self, policy: PolicyId, fraction: f64, directory: bool) -> CostQualityRow {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let q = &self.quality;
        CostQualityRow {
            policy: policy.code().to_owned(),
            budget_fraction: Fixed(fraction),
            directory,
            billed_input: Fixed(self.billed),
            billed_input_no_compaction: Fixed(self.baseline),
            ratio_to_no_compaction: Fixed(ratio(self.billed, self.baseline)),
            cache_read_share: Fixed(ratio(self.cached as f64, self.sent as f64)),
            prefix_rewrites_per_100: Fixed(ratio(
                self.rewrites as f64 * 100.0,
                self.requests as f64,
            )),
            rewrite_floor_per_100: Fixed(ratio(self.floor as f64 * 100.0, self.requests as f64)),
            requests: self.requests,
            hits: q.hits,
            page_ins: q.page_ins,
            faults: q.faults,
            pages_read: q.pages_read,
            edit_anchors: q.edit_anchors,
            edit_anchor_coverage: Fixed(if q.anchor_lines == 0 {
                1.0
            } else {
                ratio(q.anchor_lines_present as f64, q.anchor_lines as f64)
            }),
            edit_refetches: q.edit_refetches,
        }
    }
}

/// Which page was resident at which level, per turn, in one run: the report's heatmap.
#[derive(Debug, Clone, PartialEq)]
pub struct Residency {
    /// What run this is (`file / session, policy, budget`).
    pub title: String,
    /// Page ids, in page order.
    pub pages: Vec<String>,
    /// Per turn, per page: the level, or `None` when not resident.
    pub levels: Vec<Vec<Option<Repr>>>,
    /// Turns that began with a compaction.
    pub compactions: Vec<u32>,
}

/// Everything the real-session replay produced.
#[derive(Debug, Clone, Default)]
pub struct RealResults {
    /// One row per file, session, fraction and policy.
    pub rows: Vec<RealRow>,
    /// ClawVM retention per fraction, directory off and on.
    pub retention: Vec<RetentionRow>,
    /// Cost and quality per policy and fraction with the directory, and ClawVM's without.
    pub cost_quality: Vec<CostQualityRow>,
    /// The heatmap run: ClawVM on the largest session at 10% of its history.
    pub residency: Option<Residency>,
    /// Import diagnostics and sessions that could not be replayed, `file: message`.
    pub notes: Vec<String>,
    /// `(relative path, JSON lines)` of every decision trace.
    pub traces: Vec<(String, String)>,
}

/// Number of files [`run_real`] will replay, for progress.
pub(crate) fn count_files(dir: &Path) -> u64 {
    find_traces(dir).map_or(0, |f| f.files.len() as u64)
}

/// Replays every session under `dir`.
///
/// # Errors
/// [`EvalError::Traces`] when the sessions directory cannot be walked (a file that cannot be read is a note),
/// [`EvalError::Tokenizer`] when the tokenizer cannot be built, [`EvalError::Serialize`] when a
/// trace cannot be serialized. A file that is not a recognised format, or a session that cannot
/// be converted, is a note, not an error.
pub fn run_real(
    dir: &Path,
    keep_traces: bool,
    progress: &mut dyn Progress,
) -> Result<RealResults, EvalError> {
    let builder = RepresentationBuilder::new(
        BpeCounter::new(Encoding::O200kBase).map_err(|e| EvalError::Tokenizer(e.to_string()))?,
        TypeTable::default(),
        BuildConfig::default(),
    )
    .map_err(|e| EvalError::Tokenizer(e.to_string()))?;
    let mut out = RealResults::default();
    // (fraction index, directory) → sums.
    let mut sums = vec![[RetentionSums::default(); 2]; REAL_FRACTIONS.len()];
    // (fraction index, directory, policy index) → sums.
    let mut costs =
        vec![[[CostQualitySums::default(); PolicyId::ALL.len()]; 2]; REAL_FRACTIONS.len()];
    let mut largest: Option<(u64, String, SessionReplay)> = None;
    let found = find_traces(dir).map_err(EvalError::Traces)?;
    for skipped in &found.skipped {
        let rel = skipped.path.strip_prefix(dir).unwrap_or(&skipped.path);
        out.notes
            .push(format!("{}: skipped: {}", rel.display(), skipped.reason));
    }
    for file in found.files {
        let rel = file
            .strip_prefix(dir)
            .unwrap_or(&file)
            .display()
            .to_string()
            .replace('\\', "/");
        let transcript = match import_file(&file, None) {
            Ok(t) => t,
            Err(FileError::Import { source, .. }) => {
                out.notes.push(format!("{rel}: {source}"));
                progress.step(&rel);
                continue;
            }
            Err(e) => {
                out.notes.push(format!("skipped: {e}"));
                progress.step(&rel);
                continue;
            }
        };
        for d in &transcript.diagnostics {
            out.notes.push(format!("{rel}: {d}"));
        }
        let format = transcript.format.name();
        for session in &transcript.sessions {
            let history = match full_history_tokens(session, format, &builder) {
                Ok(h) => h,
                Err(e) => {
                    out.notes.push(format!("{rel}: {e}"));
                    continue;
                }
            };
            for (fi, &fraction) in REAL_FRACTIONS.iter().enumerate() {
                let budget = page_replay::Budget::Fraction(fraction).resolve(history);
                for (di, directory) in [Directory::Off, Directory::On].into_iter().enumerate() {
                    let converted = match convert_with(
                        session,
                        format,
                        &builder,
                        TokenCount::new(budget),
                        directory,
                    ) {
                        Ok(c) => c,
                        Err(e) => {
                            out.notes.push(format!("{rel}: {e}"));
                            continue;
                        }
                    };
                    // Without the directory only ClawVM runs: the comparison the report draws.
                    let policies: &[PolicyId] = if directory == Directory::On {
                        &PolicyId::ALL
                    } else {
                        &[PolicyId::Clawvm]
                    };
                    for &policy in policies {
                        let r = match replay_converted(
                            converted.clone(),
                            &session.id,
                            format,
                            budget,
                            policy,
                            directory,
                            &Measures {
                                trace: Trace::Keep,
                                ..Measures::default()
                            },
                        ) {
                            Ok(r) => r,
                            Err(e) => {
                                out.notes.push(format!("{rel}: {e}"));
                                continue;
                            }
                        };
                        if policy == PolicyId::Clawvm {
                            sums[fi][di].add(&r.report);
                        }
                        if let Some(pi) = PolicyId::ALL.iter().position(|&p| p == policy) {
                            costs[fi][di][pi].add(&r.report);
                        }
                        if directory == Directory::Off {
                            continue;
                        }
                        let trace = format!(
                            "traces/real/{}__{}__{}__{:02}.jsonl",
                            sanitize(&rel),
                            sanitize(&session.id),
                            policy.code(),
                            (fraction * 100.0).round()
                        );
                        if keep_traces {
                            out.traces.push((trace.clone(), trace_jsonl(&r.run)?));
                        }
                        out.rows.push(row(&rel, fraction, &r.report, trace));
                        if policy == PolicyId::Clawvm
                            && (fraction - 0.10).abs() < 1e-9
                            && largest.as_ref().is_none_or(|(h, _, _)| history > *h)
                        {
                            largest = Some((history, rel.clone(), r));
                        }
                    }
                }
            }
        }
        progress.step(&rel);
    }
    for (fi, &fraction) in REAL_FRACTIONS.iter().enumerate() {
        for (di, s) in sums[fi].iter().enumerate() {
            out.retention.push(RetentionRow {
                budget_fraction: Fixed(fraction),
                directory: di == 1,
                paths: s.paths,
                commands: s.commands,
                identifiers: s.identifiers,
            });
        }
    }
    for (fi, &fraction) in REAL_FRACTIONS.iter().enumerate() {
        for (pi, &policy) in PolicyId::ALL.iter().enumerate() {
            for di in [1, 0] {
                let s = &costs[fi][di][pi];
                // Without the directory only ClawVM runs.
                if di == 1 || policy == PolicyId::Clawvm {
                    out.cost_quality.push(s.row(policy, fraction, di == 1));
                }
            }
        }
    }
    out.residency = largest.map(|(_, rel, r)| residency(&rel, &r));
    Ok(out)
}

#[derive(Debug, Clone, Copy, Default)]
struct RetentionSums {
    paths: KindRetention,
    commands: KindRetention,
    identifiers: KindRetention,
}

impl RetentionSums {
    fn add(&mut self, r: &ReplayReport) {
        for (sum, k) in [
            (&mut self.paths, r.retention.paths),
            (&mut self.commands, r.retention.commands),
            (&mut self.identifiers, r.retention.identifiers),
        ] {
            sum.total += k.total;
            sum.resident += k.resident;
            sum.recoverable += k.recoverable;
        }
    }
}

fn row(file: &str, fraction: f64, r: &ReplayReport, trace: String) -> RealRow {
    let faults = r.faults;
    RealRow {
        file: file.to_owned(),
        session: r.session.clone(),
        format: r.format.clone(),
        policy: r.policy.clone(),
        budget_fraction: Fixed(fraction),
        budget: r.budget,
        turns: r.turns,
        tool_calls: r.tool_calls,
        faults,
        total_faults: r.total_faults,
        duplicate_signature_alerts: r.duplicate_signature_alerts,
        hits: r.hits,
        thrash: Fixed(r.thrash),
        min_fidelity_fits: r.min_fidelity_fits,
        invariant_pressure: r.invariant_pressure,
        compactions: r.compactions,
        paths: r.retention.paths,
        commands: r.retention.commands,
        identifiers: r.retention.identifiers,
        full_history_tokens: r.tokens.full_history,
        assembled_mean_tokens: Fixed(r.tokens.assembled_mean),
        cost: r.cost.clone(),
        quality: r.quality,
        trace,
    }
}

/// A file-name-safe form of a path or session id.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn residency(rel: &str, r: &SessionReplay) -> Residency {
    let pages: Vec<String> = r
        .converted
        .workload
        .pages
        .iter()
        .map(|p| p.id.as_str().to_owned())
        .collect();
    let mut levels = Vec::new();
    let mut compactions = Vec::new();
    for e in &r.run.trace {
        match e {
            TraceEvent::Selection { pages: sel, .. } => {
                let mut col = vec![None; pages.len()];
                for s in sel {
                    if let Some(i) = pages.iter().position(|p| p == s.page.as_str()) {
                        col[i] = Some(s.level);
                    }
                }
                levels.push(col);
            }
            TraceEvent::Boundary {
                turn,
                boundary: page_core::Boundary::Compaction(_),
                ..
            } => compactions.push(*turn),
            _ => {}
        }
    }
    Residency {
        title: format!(
            "{rel} / {}, {}, budget {} tokens (10% of {})",
            r.report.session, r.report.policy, r.report.budget, r.report.tokens.full_history
        ),
        pages,
        levels,
        compactions,
    }
}
