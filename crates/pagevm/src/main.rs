//! `pagevm`: the command line of pagevm.
//!
//! - `pagevm eval [--out DIR] [--quiet]` replays the paper's evaluation (Tier-1 gates, the
//!   Tier-2 sweep, ablations, adversarial runs) and writes `summary.{json,csv,md}`, the
//!   generated workloads and the decision traces to `DIR` (default `out/eval`).
//! - `pagevm bench [--json]` times the policy engine per turn and measures its peak heap with
//!   the counting allocator installed below.
//! - `pagevm migrate --zeph-db PATH --store PATH [--conversation ID] [--dry-run] [--json]`
//!   imports an existing Zeph database (opened read-only) into a pagevm store.

mod alloc;
mod bench;
mod migrate;

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use page_eval::{EvalPlan, NoProgress, Progress};

#[global_allocator]
static ALLOC: alloc::CountingAlloc = alloc::CountingAlloc::new();

/// Harness-managed virtual memory for LLM agents: evaluation and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "pagevm", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay the paper's evaluation and write the summaries and decision traces.
    Eval {
        /// Output directory.
        #[arg(long, default_value = "out/eval")]
        out: PathBuf,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Time the policy engine per turn and measure its peak heap per session.
    Bench {
        /// Print only the JSON result.
        #[arg(long)]
        json: bool,
        /// Repetitions of the whole sweep for the paper-scale timings.
        #[arg(long, default_value_t = 20)]
        reps: usize,
    },
    /// Import an existing Zeph database (read-only) into a pagevm store; idempotent.
    Migrate {
        /// The Zeph SQLite database (never written).
        #[arg(long)]
        zeph_db: PathBuf,
        /// The pagevm store (created if absent).
        #[arg(long)]
        store: PathBuf,
        /// Only this Zeph conversation id.
        #[arg(long)]
        conversation: Option<i64>,
        /// Report what would be migrated; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Eval { out, quiet } => eval(&out, quiet),
        Command::Bench { json, reps } => bench::run(&ALLOC, json, reps),
        Command::Migrate {
            zeph_db,
            store,
            conversation,
            dry_run,
            json,
        } => migrate::run(&migrate::Args {
            zeph_db: &zeph_db,
            store: &store,
            conversation,
            dry_run,
            json,
        }),
    }
}

/// An `indicatif` bar on stderr.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&mut self, total_steps: u64) {
        self.0.set_length(total_steps);
    }

    fn step(&mut self, label: &str) {
        self.0.set_message(label.to_owned());
        self.0.inc(1);
    }
}

fn eval(out: &std::path::Path, quiet: bool) -> Result<()> {
    // The unsafe-persistence gate also runs on the embedded SQLite store, in a scratch
    // directory removed on exit: the database is not a result.
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let plan = EvalPlan::full(Some(scratch.path().to_path_buf()));
    let evaluation = if !quiet && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                .context("progress bar template")?,
        );
        let mut progress = Bar(bar);
        let res = page_eval::run_eval(&plan, &mut progress);
        progress.0.finish_and_clear();
        res?
    } else {
        page_eval::run_eval(&plan, &mut NoProgress)?
    };
    page_eval::write_outputs(out, &evaluation)
        .with_context(|| format!("writing results to {}", out.display()))?;

    let summary = &evaluation.summary;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", page_eval::tier1_line(summary))?;
    for gate in summary.tier1.iter().filter(|g| !g.passed) {
        writeln!(stdout, "  FAILED {}: {}", gate.gate, gate.detail)?;
    }
    writeln!(
        stdout,
        "\nTier-2 sweep: {} configurations (6 policies x {} workloads x {} budgets); means per configuration, paper's Table 4 beside:\n",
        summary.sweep.len(),
        plan.families.len(),
        plan.budgets.len()
    )?;
    write!(stdout, "{}", page_eval::headline_table(summary))?;
    writeln!(
        stdout,
        "\nWrote {}/summary.json, summary.csv, summary.md, workloads/ and {} decision traces under traces/.",
        out.display(),
        evaluation.traces.len()
    )?;
    Ok(())
}
