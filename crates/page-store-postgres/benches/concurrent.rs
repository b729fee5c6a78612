//! Concurrent boundary commits on PostgreSQL: throughput and p50/p99 latency at 1, 4 and 16
//! writers (`page_store_contract::bench`), on the server at `PAGEVM_TEST_PG_URL` (run it under
//! `bash scripts/pg-test-server run --tcp -- cargo bench -p page-store-postgres` for loopback
//! TCP). `PAGEVM_BENCH_BOUNDARIES=N` sets the boundaries per writer (default 200).

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark prints its report and aborts on any store error"
)]

#[path = "../tests/common/backend.rs"]
mod backend;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    #[expect(clippy::disallowed_methods, reason = "the documented size override")]
    let per_writer = std::env::var("PAGEVM_BENCH_BOUNDARIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let backend = backend::PgBackend::new();
    for writers in [1, 4, 16] {
        let r = page_store_contract::bench::concurrent_commits(&backend, writers, per_writer, 10);
        println!(
            "postgres writers={writers:>2} boundaries={} updates/boundary={} {:.0} boundaries/s \
             p50={:.2} ms p99={:.2} ms max={:.2} ms",
            r.boundaries,
            r.per,
            r.boundaries_per_s(),
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            r.max.as_secs_f64() * 1e3
        );
    }
}
