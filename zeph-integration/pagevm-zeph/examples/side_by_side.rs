//! Prints the side-by-side table (Zeph 0.21.4's deterministic paths against the adapter) for
//! the recorded sessions under the folders given on the command line:
//! `cargo run --release -p pagevm-zeph --example side_by_side -- DIR...`; with `--cpu`, the
//! CPU time per turn of each path instead; with `--json`, each path's `cost` and `quality` per
//! budget share (the shape `pagevm replay --json` prints).

use std::path::Path;
use std::time::{Duration, Instant};

use pagevm_zeph::ZephTokens;
use pagevm_zeph::compare::{CompareConfig, History, json, session_to_messages, table};
use pagevm_zeph::replay::Replays;

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
        let w = Replays::new(histories.to_vec(), &config, &tokens);
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut flag = |name: &str| match args.iter().position(|a| a == name) {
        Some(i) => {
            args.remove(i);
            true
        }
        None => false,
    };
    let (cpu, as_json) = (flag("--cpu"), flag("--json"));
    let mut histories: Vec<History> = Vec::new();
    for d in &args {
        for p in page_import::find_traces(Path::new(d))?.files {
            // Files that are not a trace (licences, indexes) are skipped, as the importer says.
            let Ok(t) = page_import::import_file(&p, None) else {
                continue;
            };
            histories.extend(t.sessions.iter().map(session_to_messages));
        }
    }
    if as_json {
        let rows = json(&histories, &CompareConfig::default(), &[0.75, 0.5, 0.25])?;
        #[expect(clippy::print_stdout, reason = "the example's output is the JSON")]
        {
            println!("{}", serde_json::to_string_pretty(&rows)?);
        }
        return Ok(());
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
    out.push_str("\nthe adapter without its page directory:\n\n");
    out.push_str(&table(
        &histories,
        &CompareConfig {
            directory: false,
            ..CompareConfig::default()
        },
        &[0.5, 0.25],
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
