//! `pagevm`: the command line of pagevm.
//!
//! - `pagevm eval [--out DIR] [--traces DIR] [--quiet]` replays the paper's evaluation (Tier-1
//!   gates, the Tier-2 sweep, ablations, adversarial runs) and the recorded sessions under
//!   `--traces` (default: the shipped fixtures in `tests/fixtures/traces`), and writes
//!   `summary.{json,csv,md}`, `report/index.html`, the generated workloads and the decision
//!   traces to `DIR` (default `out/eval`).
//! - `pagevm replay --trace PATH [--format F] [--budget N | --budget-fraction F] [--policy P]
//!   [--directory on|off|both] [--preset P] [--cache-mode M] [--requests FILE] [--json]`
//!   replays recorded agent sessions (a file, or every file under a directory) and prints
//!   faults, retention of specifics, billed input under prompt caching and quality by content
//!   per session, policy and directory setting.
//! - `pagevm gates [--json]` runs the six Tier-1 gates end to end through the lifecycle engine.
//! - `pagevm bench [--json]` times the policy engine per turn and measures its peak heap with
//!   the counting allocator installed below.
//! - `pagevm migrate --zeph-db PATH --store STORE [--conversation ID] [--dry-run] [--json]`
//!   imports an existing Zeph database (opened read-only) into a pagevm store (`STORE`: a file
//!   path, `sqlite:PATH`, or a `postgres://` URL).
//! - `pagevm store copy --from STORE --to STORE [--json]` copies a whole store with its history
//!   (SQLite ↔ PostgreSQL); idempotent and resumable.
//! - `pagevm audit --store STORE [--session ID] [--json]` lists every representation change the
//!   store recorded (boundary, session, page, type, level and tokens before and after, reason).

mod alloc;
mod audit;
mod bench;
mod migrate;
mod replay;
mod store_cmd;
mod store_url;

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

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
        /// Recorded agent sessions to replay too (a directory; every file under it). Default:
        /// the fixtures shipped in tests/fixtures/traces.
        #[arg(long)]
        traces: Option<PathBuf>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Replay recorded agent sessions and print faults, retention and tokens per session.
    Replay {
        /// A trace file, or a directory whose files are all replayed.
        #[arg(long)]
        trace: PathBuf,
        /// auto, claude-code, claude-code-stream, codex, gemini-cli, swe-agent, openhands, aider.
        #[arg(long, default_value = "auto")]
        format: String,
        /// Token budget.
        #[arg(long, conflicts_with = "budget_fraction")]
        budget: Option<u32>,
        /// Budget as a fraction of each session's full history (default 0.25).
        #[arg(long)]
        budget_fraction: Option<f64>,
        /// A policy code (cache_stable, clawvm, lru, oracle_h3, compaction_hybrid,
        /// retrieval_only_cached, retrieval_only), or all.
        #[arg(long, default_value = "clawvm")]
        policy: String,
        /// The page directory: on, off, or both (each replay twice, side by side).
        #[arg(long, default_value = "on")]
        directory: String,
        /// Replay without the page directory (the same as `--directory off`).
        #[arg(long, conflicts_with = "directory")]
        no_directory: bool,
        /// Prompt-cache pricing: anthropic-5m, anthropic-1h, openai, gemini.
        #[arg(long, default_value = "anthropic-5m")]
        preset: String,
        /// Override the preset's price of a cached token (multiple of the base input price).
        #[arg(long)]
        read_price: Option<f64>,
        /// Override the preset's price of an uncached token.
        #[arg(long)]
        write_price: Option<f64>,
        /// How the cached prefix is found: lcp (automatic prefix caching) or breakpoint.
        #[arg(long, default_value = "lcp")]
        cache_mode: String,
        /// Write every billed request to this file as JSON Lines (session, policy, request,
        /// at_ms, items with page, level, tokens and hash), to recompute the cost.
        #[arg(long)]
        requests: Option<PathBuf>,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Run the six Tier-1 gates end to end through the lifecycle engine on SQLite.
    Gates {
        /// Print `[{gate, passed, detail}]` as JSON.
        #[arg(long)]
        json: bool,
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
        /// The pagevm store (created if absent): a file path or `sqlite:PATH` for SQLite, a
        /// `postgres://` or `postgresql://` URL for PostgreSQL.
        #[arg(long)]
        store: page_writeback::StoreUrl,
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
    /// Whole-store operations (`pagevm store copy --from SRC --to DST`).
    Store {
        #[command(subcommand)]
        command: store_cmd::StoreCommand,
    },
    /// List every representation change a store recorded, oldest first.
    Audit {
        /// The store: a file path, `sqlite:PATH` or a `postgres://` URL.
        #[arg(long)]
        store: page_writeback::StoreUrl,
        /// Only this session's changes.
        #[arg(long)]
        session: Option<String>,
        /// Print a JSON array instead of the table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Eval { out, traces, quiet } => eval(&out, traces, quiet),
        Command::Replay {
            trace,
            format,
            budget,
            budget_fraction,
            policy,
            directory,
            no_directory,
            preset,
            read_price,
            write_price,
            cache_mode,
            requests,
            json,
        } => {
            let budget = match (budget, budget_fraction) {
                (Some(n), _) => page_replay::Budget::tokens(n)?,
                (None, f) => page_replay::Budget::fraction(f.unwrap_or(0.25))?,
            };
            replay::run(&replay::Request {
                trace,
                format: replay::parse_format(&format)?,
                budget,
                policies: replay::parse_policies(&policy)?,
                directories: replay::parse_directory(if no_directory {
                    "off"
                } else {
                    &directory
                })?,
                measures: replay::parse_measures(
                    &preset,
                    read_price,
                    write_price,
                    &cache_mode,
                    requests.is_some(),
                )?,
                requests,
                json,
            })
        }
        Command::Gates { json } => gates(json),
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
        Command::Store { command } => store_cmd::run(&command),
        Command::Audit {
            store,
            session,
            json,
        } => audit::run(&store, session.as_deref(), json),
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

/// The shipped fixture sessions: `tests/fixtures/traces` under the working directory (the
/// README runs `cargo run` at the workspace root), else next to this crate's sources.
fn default_sessions() -> Option<PathBuf> {
    let here = PathBuf::from("tests/fixtures/traces");
    if here.is_dir() {
        return Some(here);
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/traces");
    built.is_dir().then_some(built)
}

/// Exits non-zero when a gate fails, so scripts can rely on the status.
fn gates(json: bool) -> Result<()> {
    // Each gate's SQLite store lives in a scratch directory removed on exit.
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let gates = page_eval::run_engine_gates(scratch.path())?;
    let mut stdout = std::io::stdout().lock();
    if json {
        writeln!(stdout, "{}", serde_json::to_string_pretty(&gates)?)?;
    } else {
        for g in &gates {
            let verdict = if g.passed { "pass" } else { "FAIL" };
            writeln!(stdout, "{verdict}  {:<30} {}", g.gate, g.detail)?;
        }
    }
    let failed = gates.iter().filter(|g| !g.passed).count();
    if failed > 0 {
        anyhow::bail!("{failed} of {} gates failed", gates.len());
    }
    Ok(())
}

fn eval(out: &Path, traces: Option<PathBuf>, quiet: bool) -> Result<()> {
    // The unsafe-persistence gate also runs on the embedded SQLite store, in a scratch
    // directory removed on exit: the database is not a result.
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let mut plan = EvalPlan::full(Some(scratch.path().to_path_buf()));
    plan.sessions_dir = match traces {
        Some(dir) if !dir.is_dir() => anyhow::bail!("--traces {}: not a directory", dir.display()),
        Some(dir) => Some(dir),
        None => default_sessions(),
    };
    // Checked before the minutes of computation: the output is writable and holds no input.
    let inputs: Vec<&Path> = plan.sessions_dir.iter().map(PathBuf::as_path).collect();
    let mut out_dir = page_eval::OutputDir::prepare(out, &inputs)
        .with_context(|| format!("preparing the output directory {}", out.display()))?;
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
    page_eval::write_outputs(&mut out_dir, &evaluation)
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
    if let Some(dir) = &plan.sessions_dir {
        writeln!(
            stdout,
            "\nRecorded sessions ({}): {} replays. Faults summed over sessions; ClawVM retention of specifics (resident/recoverable/total, summed over measurement points) without and with the page directory:\n",
            dir.display(),
            summary.real_sessions.len()
        )?;
        write!(stdout, "{}", page_eval::real_table(summary))?;
        let notes = evaluation.real.notes.len();
        if notes > 0 {
            writeln!(
                stdout,
                "\n{notes} import notes (skipped files, diagnostics, sessions not replayed): listed in {}/report/index.html under \"import diagnostics\".",
                out.display()
            )?;
        }
    }
    writeln!(
        stdout,
        "\nWrote {}/summary.json, summary.csv, summary.md, report/index.html, workloads/ and {} decision traces under traces/.",
        out.display(),
        evaluation.traces.len()
    )?;
    Ok(())
}
