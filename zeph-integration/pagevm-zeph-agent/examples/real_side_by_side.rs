//! The side-by-side on Zeph's real agent loop: every recorded session under the folders given
//! on the command line, replayed through zeph-core 0.21.4's loop once with Zeph's own
//! compaction and with pagevm active (cache-stable paging, the default, and the paper's
//! per-turn `clawvm`), at 75 %, 50 % and 25 % of each session (beyond
//! Zeph's own system prompt), every request the provider received measured by the same
//! observer as the replayed side-by-side. Prints the Markdown tables
//! docs/zeph-integration.md publishes:
//! `cargo run --release -p pagevm-zeph-agent --example real_side_by_side -- [--directory] DIR...`
//! (`--directory`: pagevm's sessions send their page directory).

#![recursion_limit = "256"]
#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the tables are the output, progress goes to stderr"
)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use page_policy::{PolicyConfig, PolicyId};
use pagevm_zeph::compare::{
    CompareConfig, Counts, History, Strategy, labelled_table, session_to_messages, total,
};
use pagevm_zeph_agent::compare_real;
use zeph_llm::provider::Role;

const RATIOS: [f64; 3] = [0.75, 0.5, 0.25];

/// pagevm's policies, each a row: the default first.
const POLICIES: [PolicyId; 2] = [PolicyId::CacheStable, PolicyId::Clawvm];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut histories: Vec<History> = Vec::new();
    let (flags, dirs): (Vec<String>, Vec<String>) =
        std::env::args().skip(1).partition(|a| a.starts_with("--"));
    let session_directory = match flags.as_slice() {
        [] => false,
        [f] if f == "--directory" => true,
        _ => anyhow::bail!("unknown flags {flags:?}: the only flag is --directory"),
    };
    for d in dirs {
        for p in page_import::find_traces(Path::new(&d))?.files {
            // Files that are not a trace (licences, indexes) are skipped, as the importer says.
            let Ok(t) = page_import::import_file(&p, None) else {
                continue;
            };
            histories.extend(t.sessions.iter().map(session_to_messages));
        }
    }
    let messages: usize = histories.iter().map(|(m, _)| m.len()).sum();
    let mut out = format!("{} sessions, {messages} messages\n\n", histories.len());
    let mut rows = Vec::new();
    let mut cuts = String::from(
        "| budget (share beyond Zeph's system prompt) | loop | turns stopped early | sessions with a stopped turn | recorded model messages the loop never asked for |\n|---|---|---|---|---|\n",
    );
    for ratio in RATIOS {
        // One row per loop: Zeph's, then pagevm's under each policy.
        let mut named: Vec<(String, Counts)> = Vec::new();
        for (k, policy) in POLICIES.into_iter().enumerate() {
            let config = CompareConfig {
                budget: 0,
                budget_ratio: Some(ratio),
                session_policy: PolicyConfig::preset(policy),
                session_directory,
                ..CompareConfig::default()
            };
            // Zeph's arm does not depend on pagevm's policy: its row comes from the first run.
            let strategies: &[Strategy] = if k == 0 {
                &[Strategy::Zeph, Strategy::Session]
            } else {
                &[Strategy::Session]
            };
            let mut runs: Vec<BTreeMap<Strategy, Counts>> = Vec::with_capacity(histories.len());
            let mut stops: BTreeMap<Strategy, (usize, usize, usize)> = BTreeMap::new();
            for (n, (messages, times)) in histories.iter().enumerate() {
                if n % 50 == 0 {
                    eprintln!(
                        "{ratio} {}: session {n} of {}",
                        policy.code(),
                        histories.len()
                    );
                }
                let mut run = compare_real(messages, times, &config).await?;
                run.counts.retain(|s, _| strategies.contains(s));
                let model_messages = messages
                    .iter()
                    .skip(1)
                    .filter(|m| m.role == Role::Assistant)
                    .count();
                for s in strategies {
                    let cut = run.cut_turns.get(s).copied().unwrap_or(0);
                    let asked = run.counts.get(s).map_or(0, |c| c.turns);
                    let e = stops.entry(*s).or_default();
                    e.0 += cut;
                    e.1 += usize::from(cut > 0);
                    e.2 += model_messages - asked;
                }
                runs.push(run.counts);
            }
            for (s, counts) in total(&runs) {
                let name = match s {
                    Strategy::Zeph => "Zeph 0.21.4".to_owned(),
                    _ => format!("pagevm session ({})", policy.code()),
                };
                let (stopped, sessions, never_asked) = stops.get(&s).copied().unwrap_or_default();
                let _ = writeln!(
                    cuts,
                    "| {ratio} | {name} | {stopped} | {sessions} | {never_asked} |"
                );
                named.push((name, counts));
            }
        }
        rows.push((ratio, named));
    }
    let rows: Vec<(f64, Vec<(&str, &Counts)>)> = rows
        .iter()
        .map(|(ratio, named)| (*ratio, named.iter().map(|(n, c)| (n.as_str(), c)).collect()))
        .collect();
    out.push_str(&labelled_table(&rows));
    out.push('\n');
    out.push_str(&cuts);
    print!("{out}");
    Ok(())
}
