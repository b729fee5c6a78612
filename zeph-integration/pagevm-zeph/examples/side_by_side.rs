//! Prints the side-by-side table (Zeph 0.21.4's deterministic paths against the adapter) for
//! the recorded sessions under the folders given on the command line:
//! `cargo run --release -p pagevm-zeph --example side_by_side -- DIR...`.

use std::path::{Path, PathBuf};

use pagevm_zeph::compare::{CompareConfig, History, session_to_messages, table};

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
    let mut paths = Vec::new();
    for d in std::env::args().skip(1) {
        files(Path::new(&d), &mut paths);
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
