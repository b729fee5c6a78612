//! The evaluation runner: gates, sweep, ablations, adversarial runs, oracle gap and headline,
//! in a fixed order, plus writing the results to a directory.

use std::path::PathBuf;

use page_core::TokenCount;
use page_policy::{
    FaultCounts, Feature, PolicyConfig, PolicyId, ReasonCode, Simulation, ValidatedWorkload,
    Workload, simulate,
};

use crate::adversarial::Scenario;
use crate::error::EvalError;
use crate::families::{Family, generate};
use crate::gates::run_gates;
use crate::output::OutputDir;
use crate::paper;
use crate::progress::Progress;
use crate::real::{RealResults, count_files, run_real};
use crate::render::{summary_csv, summary_json, summary_md};
use crate::report::report_html;
use crate::summary::{
    AblationRow, AdversarialRow, Fixed, GateRow, HeadlineRow, SUMMARY_SCHEMA_VERSION, Summary,
    SweepRow,
};

/// The sweep budgets, in tokens (the artifact's `DEFAULT_BUDGETS`).
pub const SWEEP_BUDGETS: [u32; 6] = [120, 180, 240, 300, 380, 500];

/// The budget of the ablations (the paper's Table 6).
pub const ABLATION_BUDGET: u32 = 180;

/// What to run. [`EvalPlan::full`] is the paper's evaluation; tests may run a smaller sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalPlan {
    /// Workload families of the sweep and the ablations.
    pub families: Vec<Family>,
    /// Budgets of the sweep.
    pub budgets: Vec<u32>,
    /// Whether to keep the decision traces (they are most of the output's size).
    pub traces: bool,
    /// A directory for the SQLite store of the unsafe-persistence gate, which then runs on
    /// both the in-memory and the SQLite store; `None` runs it on the in-memory store only.
    /// The database file is recreated on every run.
    pub sqlite_dir: Option<PathBuf>,
    /// A directory of recorded agent sessions to replay as well ([`run_real`]); `None` runs
    /// the synthetic evaluation only.
    pub sessions_dir: Option<PathBuf>,
}

impl EvalPlan {
    /// Every family, every budget, with traces; the persistence gate on the SQLite store in
    /// `sqlite_dir` (and on the in-memory store).
    #[must_use]
    pub fn full(sqlite_dir: Option<PathBuf>) -> Self {
        Self {
            families: Family::ALL.to_vec(),
            budgets: SWEEP_BUDGETS.to_vec(),
            traces: true,
            sqlite_dir,
            sessions_dir: None,
        }
    }

    fn n_steps(&self) -> u64 {
        let families = self.families.len() as u64;
        let policies = PolicyId::PAPER.len() as u64;
        let gates = 6;
        let sweep = families * policies * self.budgets.len() as u64;
        let ablations = families * (1 + Feature::PAPER_ABLATIONS.len() as u64);
        let adversarial = Scenario::ALL.len() as u64 * policies;
        let real = self.sessions_dir.as_deref().map_or(0, count_files);
        gates + sweep + ablations + adversarial + real
    }
}

/// The result of an evaluation: the summary, the generated workloads and the traces.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Every table.
    pub summary: Summary,
    /// `(family code, workload)` of the sweep, as generated.
    pub workloads: Vec<(String, Workload)>,
    /// `(relative path, JSON lines)` of every decision trace, in run order.
    pub traces: Vec<(String, String)>,
    /// The real-session replay (empty without [`EvalPlan::sessions_dir`]).
    pub real: RealResults,
}

/// Runs the evaluation described by `plan`, reporting each finished step to `progress`.
///
/// # Errors
/// [`EvalError::InvalidWorkload`] if a generated workload does not validate (a generator bug),
/// [`EvalError::Serialize`] if a trace cannot be serialized.
pub fn run_eval(plan: &EvalPlan, progress: &mut dyn Progress) -> Result<Evaluation, EvalError> {
    progress.start(plan.n_steps());
    let mut traces = Vec::new();
    let mut keep = |path: String, sim: &Simulation| -> Result<(), EvalError> {
        if plan.traces {
            traces.push((path, trace_jsonl(sim)?));
        }
        Ok(())
    };

    let mut tier1: Vec<GateRow> = Vec::new();
    for gate in run_gates(plan.sqlite_dir.as_deref())? {
        for (name, sim) in &gate.runs {
            keep(format!("traces/tier1/{name}.jsonl"), sim)?;
        }
        progress.step(&gate.row.gate);
        tier1.push(gate.row);
    }

    let mut workloads = Vec::new();
    let mut validated = Vec::new();
    for &family in &plan.families {
        let w = generate(family, family.seed())?;
        validated.push((family, validate(&w)?));
        workloads.push((family.code().to_owned(), w));
    }

    let mut sweep = Vec::new();
    for (family, w) in &validated {
        let mut rows = Vec::new();
        for policy in PolicyId::PAPER {
            for &budget in &plan.budgets {
                let sim = simulate(w, &PolicyConfig::preset(policy), TokenCount::new(budget));
                keep(
                    format!("traces/sweep/{}__{policy}__{budget}.jsonl", family.code()),
                    &sim,
                )?;
                rows.push(sweep_row(family.code(), &sim, budget));
                progress.step(&format!("{} {policy} {budget}", family.code()));
            }
        }
        // Oracle gap: against the oracle's run on the same workload and budget.
        let oracle: Vec<(u32, u64)> = rows
            .iter()
            .filter(|r| r.policy == PolicyId::OracleH3.code())
            .map(|r| (r.budget, r.total_faults))
            .collect();
        for row in &mut rows {
            let o = oracle
                .iter()
                .find(|(b, _)| *b == row.budget)
                .map_or(0, |&(_, f)| f);
            row.oracle_gap = signed(row.total_faults) - signed(o);
        }
        sweep.extend(rows);
    }

    let mut ablations = Vec::new();
    let removals = std::iter::once(None).chain(Feature::PAPER_ABLATIONS.into_iter().map(Some));
    for removed in removals {
        let mut config = PolicyConfig::preset(PolicyId::Clawvm);
        if let Some(f) = removed {
            config = config.without(f);
        }
        let name = removed.map_or("none", Feature::code);
        let mut faults = FaultCounts::default();
        for (family, w) in &validated {
            let sim = simulate(w, &config, TokenCount::new(ABLATION_BUDGET));
            keep(
                format!("traces/ablations/{name}__{}.jsonl", family.code()),
                &sim,
            )?;
            faults.add_counts(&sim.faults);
            progress.step(&format!("ablation {name} {}", family.code()));
        }
        ablations.push(AblationRow {
            removed: name.to_owned(),
            budget: ABLATION_BUDGET,
            faults,
            total_faults: faults.total(),
            paper_total_faults: paper::table6(removed),
        });
    }

    let mut adversarial = Vec::new();
    for scenario in Scenario::ALL {
        let w = validate(&scenario.workload()?)?;
        let budget = scenario.budget();
        let mut rows = Vec::new();
        for policy in PolicyId::PAPER {
            let sim = simulate(&w, &PolicyConfig::preset(policy), TokenCount::new(budget));
            keep(
                format!("traces/adversarial/{}__{policy}.jsonl", scenario.code()),
                &sim,
            )?;
            rows.push(adversarial_row(scenario, &sim, budget));
            progress.step(&format!("{} {policy}", scenario.code()));
        }
        let oracle = rows
            .iter()
            .find(|r| r.policy == PolicyId::OracleH3.code())
            .map_or(0, |r| r.total_faults);
        for row in &mut rows {
            row.oracle_gap = signed(row.total_faults) - signed(oracle);
        }
        adversarial.extend(rows);
    }

    let mut real = match &plan.sessions_dir {
        Some(dir) => run_real(dir, plan.traces, progress)?,
        None => RealResults::default(),
    };
    traces.append(&mut real.traces);

    let headline = headline(&sweep);
    Ok(Evaluation {
        summary: Summary {
            schema_version: SUMMARY_SCHEMA_VERSION,
            tier1,
            sweep,
            ablations,
            adversarial,
            headline,
            real_sessions: real.rows.clone(),
            real_retention: real.retention.clone(),
            real_cost_quality: real.cost_quality.clone(),
        },
        workloads,
        traces,
        real,
    })
}

/// Writes `summary.json`, `summary.csv`, `summary.md`, the HTML report `report/index.html`,
/// the generated workloads under `workloads/` and the traces under `traces/` into `out`,
/// replacing the files of an earlier run there and nothing else ([`OutputDir`]).
///
/// # Errors
/// [`EvalError::NotOurs`] when a file to write exists and pagevm did not write it,
/// [`EvalError::WriteOutput`] naming the path that could not be written.
pub fn write_outputs(out: &mut OutputDir, eval: &Evaluation) -> Result<(), EvalError> {
    let mut files: Vec<(String, String)> = vec![
        ("summary.json".to_owned(), summary_json(&eval.summary)?),
        ("summary.csv".to_owned(), summary_csv(&eval.summary)),
        ("summary.md".to_owned(), summary_md(&eval.summary)),
        ("report/index.html".to_owned(), report_html(eval)),
    ];
    for (family, w) in &eval.workloads {
        let mut text = serde_json::to_string_pretty(w).map_err(EvalError::Serialize)?;
        text.push('\n');
        files.push((format!("workloads/{family}.json"), text));
    }
    out.replace_with(
        files
            .iter()
            .chain(&eval.traces)
            .map(|(path, text)| (path.as_str(), text.as_str())),
    )
}

fn validate(w: &Workload) -> Result<ValidatedWorkload, EvalError> {
    w.validate().map_err(|e| EvalError::InvalidWorkload {
        workload: w.id.clone(),
        reason: e.to_string(),
    })
}

pub(crate) fn trace_jsonl(sim: &Simulation) -> Result<String, EvalError> {
    let mut out = String::new();
    for event in &sim.trace {
        out.push_str(&serde_json::to_string(event).map_err(EvalError::Serialize)?);
        out.push('\n');
    }
    Ok(out)
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn sweep_row(workload: &str, sim: &Simulation, budget: u32) -> SweepRow {
    let faults = sim.faults;
    SweepRow {
        workload: workload.to_owned(),
        policy: sim.policy.code().to_owned(),
        budget,
        faults,
        total_faults: faults.total(),
        duplicate_signature_alerts: sim.duplicate_signature_alerts,
        hits: sim.hits,
        thrash: Fixed(sim.thrash),
        min_fidelity_fits: sim.min_fidelity_fits,
        oracle_gap: 0,
    }
}

fn adversarial_row(scenario: Scenario, sim: &Simulation, budget: u32) -> AdversarialRow {
    let faults = sim.faults;
    // One line per distinct (page, level, reason) for pinned pages, with how many turns it
    // happened; demanded pages that did not fit are summarised in one count.
    let mut pinned: Vec<(String, u32)> = Vec::new();
    let mut demands = 0u32;
    for e in &sim.invariant_pressure.events {
        if e.reason == ReasonCode::PinnedUnmet {
            let key = format!("{} needs {} ({})", e.page, e.level, e.reason.code());
            match pinned.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 += 1,
                None => pinned.push((key, 1)),
            }
        } else {
            demands += 1;
        }
    }
    let mut reasons: Vec<String> = pinned
        .into_iter()
        .map(|(k, n)| format!("{k} at {n} turns"))
        .collect();
    if demands > 0 {
        reasons.push(format!(
            "{demands} demanded installs did not fit after the pinned set ({})",
            ReasonCode::DemandUnmet.code()
        ));
    }
    AdversarialRow {
        scenario: scenario.code().to_owned(),
        policy: sim.policy.code().to_owned(),
        budget,
        faults,
        total_faults: faults.total(),
        invariant_pressure: sim.invariant_pressure.count,
        oracle_gap: 0,
        pressure_reasons: reasons,
    }
}

#[expect(clippy::cast_precision_loss, reason = "counts stay far below 2^53")]
fn headline(sweep: &[SweepRow]) -> Vec<HeadlineRow> {
    PolicyId::PAPER
        .into_iter()
        .filter_map(|policy| {
            let rows: Vec<&SweepRow> = sweep.iter().filter(|r| r.policy == policy.code()).collect();
            let n = rows.len().max(1) as f64;
            let faults: u64 = rows.iter().map(|r| r.total_faults).sum();
            let thrash: f64 = rows.iter().map(|r| r.thrash.0).sum();
            let gap: i64 = rows.iter().map(|r| r.oracle_gap).sum();
            let faulty = rows
                .iter()
                .filter(|r| r.min_fidelity_fits && r.total_faults > 0)
                .count() as u64;
            let (paper_faults, paper_thrash) = paper::table4(policy)?;
            Some(HeadlineRow {
                policy: policy.code().to_owned(),
                mean_faults: Fixed(faults as f64 / n),
                mean_thrash: Fixed(thrash / n),
                mean_oracle_gap: Fixed(gap as f64 / n),
                faulty_fitting_configs: faulty,
                paper_mean_faults: Some(Fixed(paper_faults)),
                paper_thrash: Some(Fixed(paper_thrash)),
            })
        })
        .collect()
}
