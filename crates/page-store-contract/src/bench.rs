//! Concurrent boundary-commit benchmark over any store: `writers` threads, each with its own
//! store handle (as separate processes would have) and its own session, commit boundaries at
//! once; reports the total throughput and the latency distribution of one boundary.
//!
//! One boundary = stage `per` `set_with_version` updates of the session's plan goal (each a new
//! field version; a value of constant size, so the boundaries stay alike however many run),
//! validate them and commit them (`Writeback::stage_all` + `commit_boundary`), timed end to
//! end. The first boundary of
//! each writer also stores its session's four pages and is not counted.

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark reads the clock; the libraries it measures do not"
)]

use std::time::{Duration, Instant};

use page_writeback::{FieldVersion, Op};

use crate::Backend;
use crate::fixture::{table, turn, update, writeback};

/// What one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// Concurrent writers.
    pub writers: usize,
    /// Boundaries committed (and timed) in all.
    pub boundaries: u64,
    /// Updates per boundary.
    pub per: u64,
    /// Wall time of the timed part.
    pub wall: Duration,
    /// Median boundary latency.
    pub p50: Duration,
    /// 99th-percentile boundary latency.
    pub p99: Duration,
    /// Slowest boundary.
    pub max: Duration,
}

impl BenchReport {
    /// Boundaries committed per second, all writers together.
    #[must_use]
    pub fn boundaries_per_s(&self) -> f64 {
        self.boundaries as f64 / self.wall.as_secs_f64()
    }
}

/// Runs `writers` writers committing `boundaries` boundaries of `per` appends each on a new
/// store of `backend`.
pub fn concurrent_commits<B: Backend>(
    backend: &B,
    writers: usize,
    boundaries: u64,
    per: u64,
) -> BenchReport {
    let location = backend.create();
    let barrier = std::sync::Barrier::new(writers);
    let (latencies, walls): (Vec<Vec<Duration>>, Vec<Duration>) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let (location, barrier) = (&location, &barrier);
                s.spawn(move || {
                    let session = format!("b{w}");
                    let mut wb = writeback(backend.open(location), &session);
                    let mut pages = table(&session);
                    let mut boundary = |b: u64, pages: &mut page_core::SessionPageTable| {
                        let updates = (0..per)
                            .map(|i| {
                                let op = Op::SetWithVersion {
                                    expected: FieldVersion::new(b * per + i),
                                };
                                update(&session, "plan", "goal", op, &format!("\"goal {b}-{i}\""))
                            })
                            .collect();
                        wb.stage_all(updates).unwrap();
                        let report = wb.commit_boundary(turn(b + 1), pages, Vec::new()).unwrap();
                        assert_eq!(report.committed.len() as u64, per);
                    };
                    boundary(0, &mut pages);
                    barrier.wait();
                    let start = Instant::now();
                    let mut lat = Vec::with_capacity(usize::try_from(boundaries).unwrap());
                    for b in 1..=boundaries {
                        let t = Instant::now();
                        boundary(b, &mut pages);
                        lat.push(t.elapsed());
                    }
                    (lat, start.elapsed())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).unzip()
    });
    let mut all: Vec<Duration> = latencies.into_iter().flatten().collect();
    all.sort_unstable();
    let at = |q: f64| all[((all.len() as f64 * q).ceil() as usize).clamp(1, all.len()) - 1];
    BenchReport {
        writers,
        boundaries: all.len() as u64,
        per,
        wall: walls.into_iter().max().unwrap_or_default(),
        p50: at(0.50),
        p99: at(0.99),
        max: at(1.0),
    }
}
