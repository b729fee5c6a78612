//! `pagevm bench`: per-turn time of the policy engine and its peak heap per session.
//!
//! A turn is one `PolicyEngine::step`: lifecycle events, fault observation, selection and the
//! recency update, with trace recording off (the trace is output, not engine state). Timings
//! are wall-clock per step over every sweep configuration (4 families × 6 policies × 6
//! budgets), repeated; the 1k- and 10k-page medians use the scaled workload with a budget of
//! 8 tokens per page (every pointer fits and Phase 2 has work: the demanding case), and again at
//! the sweep's largest budget, 500.
//! Peak heap is measured by the counting global allocator from just before a workload is
//! validated (the page table the engine works on) to the end of its session.

use std::hint::black_box;
use std::io::Write as _;
use std::time::Instant;

use anyhow::{Context as _, Result};
use page_core::TokenCount;
use page_eval::{Family, SWEEP_BUDGETS, generate, scaled_workload};
use page_policy::{PolicyConfig, PolicyEngine, PolicyId, ValidatedWorkload, Workload};
use serde::Serialize;

use crate::alloc::CountingAlloc;

/// Turns and repetitions of the scaled workloads.
const SCALED_TURNS: u32 = 60;
const SCALED_REPS: usize = 3;
/// Budget per page of the scaled runs' main figures.
const SCALED_BUDGET_PER_PAGE: u32 = 8;
/// The sweep's largest budget, for the scaled runs' second figures.
const SWEEP_MAX_BUDGET: u32 = 500;

#[derive(Debug, Serialize)]
struct Percentiles {
    median: u64,
    p95: u64,
    p99: u64,
    max: u64,
}

#[derive(Debug, Serialize)]
struct BenchReport {
    per_turn_ns: Percentiles,
    per_turn_ns_1k_pages: u64,
    per_turn_ns_10k_pages: u64,
    per_turn_ns_1k_pages_budget_500: u64,
    per_turn_ns_10k_pages_budget_500: u64,
    peak_heap_bytes_per_session: usize,
    peak_heap_bytes_engine_only: usize,
    samples: usize,
    sessions: usize,
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a slice of fewer than 2^52 samples"
    )]
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[expect(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall-clock time per turn"
)]
fn time_session(w: &ValidatedWorkload, config: &PolicyConfig, budget: u32, out: &mut Vec<u64>) {
    let mut engine = PolicyEngine::new(w, config, TokenCount::new(budget));
    engine.set_record_trace(false);
    loop {
        let start = Instant::now();
        let stats = engine.step();
        let ns = start.elapsed().as_nanos();
        if black_box(stats).is_none() {
            break;
        }
        out.push(u64::try_from(ns).unwrap_or(u64::MAX));
    }
}

fn validate(w: &Workload) -> Result<ValidatedWorkload> {
    w.validate()
        .with_context(|| format!("workload {} does not validate", w.id))
}

fn median_scaled(n_pages: u32, budget: u32, reps: usize) -> Result<u64> {
    let w = scaled_workload(n_pages, SCALED_TURNS, page_eval::MASTER_SEED)?;
    let v = validate(&w)?;
    let config = PolicyConfig::preset(PolicyId::Clawvm);
    let mut samples = Vec::new();
    for _ in 0..SCALED_REPS.min(reps.max(1)) {
        time_session(&v, &config, budget, &mut samples);
    }
    samples.sort_unstable();
    Ok(percentile(&samples, 0.5))
}

/// Peak heap of one session: validating the workload and replaying it, trace off. Returns
/// `(with validation, engine only)`.
fn session_heap(
    alloc: &CountingAlloc,
    w: &Workload,
    config: &PolicyConfig,
    budget: u32,
) -> Result<(usize, usize)> {
    let base = alloc.live();
    alloc.reset_peak();
    let v = validate(w)?;
    let after_validation = alloc.live();
    let mut engine = PolicyEngine::new(&v, config, TokenCount::new(budget));
    engine.set_record_trace(false);
    while black_box(engine.step()).is_some() {}
    drop(engine);
    let total = alloc.peak().saturating_sub(base);
    alloc.reset_peak();
    let mut engine = PolicyEngine::new(&v, config, TokenCount::new(budget));
    engine.set_record_trace(false);
    while black_box(engine.step()).is_some() {}
    drop(engine);
    let engine_only = alloc.peak().saturating_sub(after_validation);
    Ok((total, engine_only))
}

pub(crate) fn run(alloc: &CountingAlloc, json: bool, reps: usize) -> Result<()> {
    let workloads: Vec<Workload> = Family::ALL
        .into_iter()
        .map(|f| generate(f, f.seed()))
        .collect::<Result<_, _>>()?;
    let validated: Vec<ValidatedWorkload> =
        workloads.iter().map(validate).collect::<Result<_>>()?;

    let mut samples = Vec::new();
    let mut sessions = 0;
    for _ in 0..reps.max(1) {
        for w in &validated {
            for policy in PolicyId::PAPER {
                let config = PolicyConfig::preset(policy);
                for budget in SWEEP_BUDGETS {
                    time_session(w, &config, budget, &mut samples);
                    sessions += 1;
                }
            }
        }
    }
    samples.sort_unstable();

    let mut peak_total = 0;
    let mut peak_engine = 0;
    for w in &workloads {
        for policy in PolicyId::PAPER {
            for budget in SWEEP_BUDGETS {
                let (total, engine) =
                    session_heap(alloc, w, &PolicyConfig::preset(policy), budget)?;
                peak_total = peak_total.max(total);
                peak_engine = peak_engine.max(engine);
            }
        }
    }

    let report = BenchReport {
        per_turn_ns: Percentiles {
            median: percentile(&samples, 0.5),
            p95: percentile(&samples, 0.95),
            p99: percentile(&samples, 0.99),
            max: samples.last().copied().unwrap_or(0),
        },
        per_turn_ns_1k_pages: median_scaled(1_000, 1_000 * SCALED_BUDGET_PER_PAGE, reps)?,
        per_turn_ns_10k_pages: median_scaled(10_000, 10_000 * SCALED_BUDGET_PER_PAGE, reps)?,
        per_turn_ns_1k_pages_budget_500: median_scaled(1_000, SWEEP_MAX_BUDGET, reps)?,
        per_turn_ns_10k_pages_budget_500: median_scaled(10_000, SWEEP_MAX_BUDGET, reps)?,
        peak_heap_bytes_per_session: peak_total,
        peak_heap_bytes_engine_only: peak_engine,
        samples: samples.len(),
        sessions,
    };
    let mut stdout = std::io::stdout().lock();
    if !json {
        writeln!(
            stdout,
            "policy engine per turn (selection + fault observation + recency update), {} turns over {} sessions:",
            report.samples, report.sessions
        )?;
        writeln!(
            stdout,
            "  median {} ns, p95 {} ns, p99 {} ns, max {} ns",
            report.per_turn_ns.median,
            report.per_turn_ns.p95,
            report.per_turn_ns.p99,
            report.per_turn_ns.max
        )?;
        writeln!(
            stdout,
            "  median at 1k pages {} ns, at 10k pages {} ns (budget {SCALED_BUDGET_PER_PAGE} per page)",
            report.per_turn_ns_1k_pages, report.per_turn_ns_10k_pages
        )?;
        writeln!(
            stdout,
            "  median at 1k pages {} ns, at 10k pages {} ns (budget {SWEEP_MAX_BUDGET})",
            report.per_turn_ns_1k_pages_budget_500, report.per_turn_ns_10k_pages_budget_500
        )?;
        writeln!(
            stdout,
            "  peak heap per paper-scale session {} bytes (engine alone {} bytes)\n",
            report.peak_heap_bytes_per_session, report.peak_heap_bytes_engine_only
        )?;
    }
    serde_json::to_writer_pretty(&mut stdout, &report)?;
    writeln!(stdout)?;
    Ok(())
}
