//! Prints the side-by-side table (Zeph 0.21.4's deterministic paths against the adapter) for
//! the recorded sessions under the folders given on the command line:
//! `cargo run --release -p pagevm-zeph --example side_by_side -- DIR...`; with `--cpu` first,
//! the CPU time per turn of each path instead.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pagevm_zeph::ZephTokens;
use pagevm_zeph::compare::{CompareConfig, History, session_to_messages, table};
use pagevm_zeph::replay::Workload;

/// Timed replays of each path, interleaved so a slow stretch of a shared machine falls on all
/// of them; the minimum is the estimate (noise only ever adds time).
const REPETITIONS: usize = 15;

fn timed(
    f: impl FnOnce() -> Result<(), pagevm_zeph::AdapterError>,
) -> Result<Duration, pagevm_zeph::AdapterError> {
    #[expect(
        clippy::disallowed_methods,
        reason = "`--cpu` is a benchmark: timing the replays is its job"
    )]
    let start = Instant::now();
    f()?;
    Ok(start.elapsed())
}

/// The CPU table: per workload, each path's replay time (minimum and median of
/// [`REPETITIONS`]) and the minimum per model turn.
fn cpu_table(histories: &[History]) -> Result<String, pagevm_zeph::AdapterError> {
    use std::fmt::Write as _;
    let tokens = ZephTokens::new();
    let mut out = String::from(
        "| budget | idle gaps | path | turns | replay, min (ms) | replay, median (ms) | per turn, min (µs) |\n|---|---|---|---|---|---|---|\n",
    );
    for (budget, idle, config) in [
        ("4,000 tokens", "recorded", CompareConfig::default()),
        (
            "half of each history",
            "recorded",
            CompareConfig {
                budget: 0,
                budget_ratio: Some(0.5),
                ..CompareConfig::default()
            },
        ),
        (
            "half of each history",
            "every turn",
            CompareConfig {
                budget: 0,
                budget_ratio: Some(0.5),
                idle_every_turn: true,
                ..CompareConfig::default()
            },
        ),
    ] {
        let w = Workload::new(histories.to_vec(), &config, &tokens);
        let mut built = w.built(&tokens)?;
        let mut runs: [Vec<Duration>; 4] = Default::default();
        // One untimed round first: the counter's piece memo is process-wide and warms once.
        for round in 0..=REPETITIONS {
            let t = [
                timed(|| {
                    w.zeph(&tokens);
                    Ok(())
                })?,
                timed(|| w.pagevm(&tokens))?,
                timed(|| w.pagevm_built(&mut built))?,
                timed(|| {
                    w.count_once(&tokens);
                    Ok(())
                })?,
            ];
            if round > 0 {
                for (r, d) in runs.iter_mut().zip(t) {
                    r.push(d);
                }
            }
        }
        let names = [
            "Zeph 0.21.4",
            "pagevm adapter",
            "pagevm adapter, pages already built",
            "counting each message once",
        ];
        for (name, mut r) in names.into_iter().zip(runs) {
            r.sort_unstable();
            let (min, median) = (r[0], r[r.len() / 2]);
            #[expect(clippy::cast_precision_loss, reason = "a turn count, far below 2^52")]
            let per_turn = min.as_secs_f64() * 1e6 / w.turns().max(1) as f64;
            let _ = writeln!(
                out,
                "| {budget} | {idle} | {name} | {} | {:.2} | {:.2} | {per_turn:.1} |",
                w.turns(),
                min.as_secs_f64() * 1e3,
                median.as_secs_f64() * 1e3,
            );
        }
    }
    Ok(out)
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            files(&p, out);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("jsonl" | "json" | "traj" | "md")
        ) {
            out.push(p);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let cpu = args.first().is_some_and(|a| a == "--cpu");
    if cpu {
        args.remove(0);
    }
    let mut paths = Vec::new();
    for d in &args {
        files(Path::new(d), &mut paths);
    }
    let mut histories: Vec<History> = Vec::new();
    for p in &paths {
        let text = std::fs::read_to_string(p)?;
        // Files that are not a trace (licences, indexes) are skipped, as the importer says.
        let Ok(t) = page_import::import(&text, None) else {
            continue;
        };
        histories.extend(t.sessions.iter().map(session_to_messages));
    }
    let messages: usize = histories.iter().map(|(m, _)| m.len()).sum();
    let mut out = format!("{} sessions, {messages} messages\n\n", histories.len());
    if cpu {
        out.push_str(&cpu_table(&histories)?);
        #[expect(clippy::print_stdout, reason = "the example's output is the table")]
        {
            print!("{out}");
        }
        return Ok(());
    }
    out.push_str(&table(
        &histories,
        &CompareConfig::default(),
        &[0.75, 0.5, 0.25],
    )?);
    out.push_str("\nmicrocompact firing every turn:\n\n");
    out.push_str(&table(
        &histories,
        &CompareConfig {
            idle_every_turn: true,
            ..CompareConfig::default()
        },
        &[0.5],
    )?);
    #[expect(clippy::print_stdout, reason = "the example's output is the table")]
    {
        print!("{out}");
    }
    Ok(())
}
