//! Migration throughput in wall-clock and CPU time, one run per configuration, on the same
//! generated 100k-message Zeph database as the criterion bench (`support/synth.rs`).
//!
//! Criterion measures wall-clock time only, which on a machine shared with other builds says
//! more about the neighbours than about the migration; this reports both, with the process's
//! CPU time (user + system, from `/proc/self/stat`, so Linux only; elsewhere CPU is omitted).
//! Run: `cargo bench -p pagevm-migrate --bench migrate_cpu`; arguments of the form
//! `THREADS/CONFIG` (e.g. `-- 1/bulk`) run only those configurations (for `perf record`).

#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark report on stdout"
)]

#[path = "support/synth.rs"]
mod synth;

use std::num::NonZeroUsize;
use std::path::Path;

use page_store_sqlite::{SqliteConfig, SqliteStore, Synchronous};
use pagevm_migrate::{MigrateOptions, NoProgress, ZephDb, migrate, zeph_builder};

const MESSAGES: u64 = 100_000;

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> Option<f64> {
    stat_cpu_seconds("/proc/self/stat")
}

/// User + system CPU seconds of the calling thread so far: with two or more threads it runs
/// the committing stage (reading the store, committing), the busier one, so its CPU time is
/// the shortest wall time the run can take with a free core per stage.
fn thread_cpu_seconds() -> Option<f64> {
    stat_cpu_seconds("/proc/thread-self/stat")
}

fn stat_cpu_seconds(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on every Linux configuration Rust targets.
    Some(ticks / 100.0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // `THREADS/CONFIG` arguments select configurations; none selects all.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a.contains('/'))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/zeph-0.21.4.db");
    let zeph_path = dir.path().join("zeph-100k.db");
    synth::generate(&template, &zeph_path, MESSAGES);
    let zeph = ZephDb::open(&zeph_path).unwrap();
    let rows = zeph.count_messages(None).unwrap();
    let builder = zeph_builder().unwrap();
    let available = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    println!("{rows} message rows; {available} hardware threads");
    println!(
        "| threads | store config | wall s | msgs/s (wall) | CPU s | msgs per CPU-s | \
         committing thread CPU s | msgs per committing-thread CPU-s | pages |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (n, threads) in [(1, NonZeroUsize::new(1)), (2, None)] {
        // `default` is `SqliteStore::open`'s; `bulk` is what `pagevm migrate` opens with;
        // `bulk-full` is that with `synchronous=FULL` (an fsync per boundary).
        for (label, config) in [
            ("default", SqliteConfig::default()),
            ("bulk", SqliteConfig::bulk_load()),
            (
                "bulk-full",
                SqliteConfig {
                    synchronous: Synchronous::Full,
                    ..SqliteConfig::bulk_load()
                },
            ),
        ] {
            if !only.is_empty() && !only.iter().any(|o| *o == format!("{n}/{label}")) {
                continue;
            }
            let store =
                SqliteStore::open_with(dir.path().join(format!("store-{n}-{label}.db")), config)
                    .unwrap();
            let options = MigrateOptions {
                threads,
                ..MigrateOptions::default()
            };
            let cpu0 = cpu_seconds();
            let main0 = thread_cpu_seconds();
            #[expect(
                clippy::disallowed_methods,
                reason = "a benchmark measures wall-clock time"
            )]
            let t0 = std::time::Instant::now();
            let report = migrate(&zeph, &store, &builder, &options, &mut NoProgress).unwrap();
            let wall = t0.elapsed().as_secs_f64();
            let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
            let main = thread_cpu_seconds().zip(main0).map(|(b, a)| b - a);
            assert_eq!(report.messages_read, rows);
            let threads = threads.map_or(available, NonZeroUsize::get);
            println!(
                "| {threads} | {label} | {wall:.2} | {:.0} | {} | {} | {} | {} | {} |",
                rows as f64 / wall,
                cpu.map_or("-".to_owned(), |c| format!("{c:.2}")),
                cpu.map_or("-".to_owned(), |c| format!("{:.0}", rows as f64 / c)),
                main.map_or("-".to_owned(), |c| format!("{c:.2}")),
                main.map_or("-".to_owned(), |c| format!("{:.0}", rows as f64 / c)),
                report.pages_created
            );
        }
    }
}
