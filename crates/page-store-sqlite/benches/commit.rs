//! Boundary-commit benchmark: typed updates committed per second (50 per boundary) and the
//! latency distribution (p50, p99) of a 50-update boundary commit, for `synchronous=FULL` and
//! `NORMAL`.
//!
//! Workload: each boundary stages 50 appends (25 evidence pages × `paths`, 25 plan pages ×
//! `steps`), validates them and commits them. Every 100 boundaries a new session starts with
//! 50 fresh pages (committed by its first boundary), so lists stay short while the file grows.

#![expect(clippy::unwrap_used, reason = "a benchmark aborts on any store error")]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use page_core::{
    Boundary, Page, PageId, PageSpec, PageType, Provenance, Representation, Scope, SessionId,
    SessionPageTable, TokenCount, TypeTable,
};
use page_store_sqlite::{SqliteConfig, SqliteStore, Synchronous};
use page_writeback::{
    AccessControl, BoundaryContext, EvidenceRef, FieldPath, FieldSchemas, Op, PrincipalId, Update,
    Writeback,
};

const PER_BOUNDARY: usize = 50;
const SESSION_EVERY: u64 = 100;

struct Rig {
    path: std::path::PathBuf,
    config: SqliteConfig,
    schemas: Arc<FieldSchemas>,
    wb: Option<Writeback<SqliteStore>>,
    pages: SessionPageTable,
    session: String,
    boundary: u64,
}

fn page(name: &str, page_type: PageType, scope: &Scope) -> Page {
    let reps = page_type
        .defaults()
        .path()
        .ascending()
        .zip(1u32..)
        .map(|(r, t)| {
            (
                r,
                Representation::new(
                    format!("{name} at {r}: some content"),
                    TokenCount::new(t * 10),
                ),
            )
        })
        .collect();
    let spec = PageSpec::new(
        PageId::new(name).unwrap(),
        page_type,
        scope.clone(),
        Provenance::Import {
            source: "bench".to_owned(),
        },
        reps,
    );
    Page::from_spec(spec, &TypeTable::default()).unwrap()
}

impl Rig {
    fn new(path: &Path, config: SqliteConfig) -> Self {
        Self {
            path: path.to_path_buf(),
            config,
            schemas: Arc::new(FieldSchemas::builtin().unwrap()),
            wb: None,
            pages: SessionPageTable::new(),
            session: String::new(),
            boundary: 0,
        }
    }

    fn start_session(&mut self) {
        self.session = format!("s{}", self.boundary / SESSION_EVERY);
        let sid = SessionId::new(&self.session).unwrap();
        let scope = Scope::Session(sid.clone());
        let agent = PrincipalId::new("agent").unwrap();
        let store = SqliteStore::open_with(&self.path, self.config).unwrap();
        let access = AccessControl::new().grant(agent, scope.clone());
        self.wb = Some(Writeback::new(
            store,
            sid,
            access,
            Arc::clone(&self.schemas),
        ));
        self.pages = SessionPageTable::new();
        for k in 0..PER_BOUNDARY / 2 {
            self.pages
                .insert(page(
                    &format!("ev{k}-{}", self.session),
                    PageType::Evidence,
                    &scope,
                ))
                .unwrap();
            self.pages
                .insert(page(
                    &format!("plan{k}-{}", self.session),
                    PageType::Plan,
                    &scope,
                ))
                .unwrap();
        }
    }

    fn updates(&self) -> Vec<Update> {
        let scope = Scope::Session(SessionId::new(&self.session).unwrap());
        let agent = PrincipalId::new("agent").unwrap();
        let paths = FieldPath::new("paths").unwrap();
        let steps = FieldPath::new("steps").unwrap();
        let mut out = Vec::with_capacity(PER_BOUNDARY);
        for k in 0..PER_BOUNDARY / 2 {
            let ev = PageId::new(format!("ev{k}-{}", self.session)).unwrap();
            let plan = PageId::new(format!("plan{k}-{}", self.session)).unwrap();
            let b = self.boundary;
            out.push(Update::new(
                ev.clone(),
                paths.clone(),
                Op::Append,
                format!("\"src/m{b}/f{k}.rs\""),
                scope.clone(),
                EvidenceRef::Page(ev),
                agent.clone(),
            ));
            out.push(Update::new(
                plan.clone(),
                steps.clone(),
                Op::Append,
                format!("\"step {b}.{k}\""),
                scope.clone(),
                EvidenceRef::Page(plan),
                agent.clone(),
            ));
        }
        out
    }

    /// Stages 50 updates and commits the boundary; returns the time of the commit alone.
    fn boundary(&mut self) -> Duration {
        self.boundary_kind().0
    }

    /// As [`Rig::boundary`], also telling whether this boundary started a session (and so
    /// committed 50 new pages).
    fn boundary_kind(&mut self) -> (Duration, bool) {
        let starts = self.boundary.is_multiple_of(SESSION_EVERY);
        if starts {
            self.start_session();
        }
        if starts && self.config.wal_autocheckpoint == 0 {
            // The idle-time checkpoint pattern: between sessions, outside any commit.
            self.wb.as_ref().unwrap().store().checkpoint().unwrap();
        }
        let updates = self.updates();
        let ctx = BoundaryContext {
            boundary: Boundary::Turn,
            turn: self.boundary,
            time_ms: 0,
        };
        let wb = self.wb.as_mut().unwrap();
        wb.stage_all(updates).unwrap();
        #[expect(clippy::disallowed_methods, reason = "benchmarks measure time")]
        let start = Instant::now();
        let report = wb
            .commit_boundary(ctx, &mut self.pages, Vec::new())
            .unwrap();
        let took = start.elapsed();
        assert_eq!(report.committed.len(), PER_BOUNDARY);
        self.boundary += 1;
        (took, starts)
    }
}

fn bench_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("boundary_commit");
    group.throughput(Throughput::Elements(PER_BOUNDARY as u64));
    group.sample_size(30);
    for (name, sync) in [("full", Synchronous::Full), ("normal", Synchronous::Normal)] {
        let dir = tempfile::tempdir().unwrap();
        let config = SqliteConfig {
            synchronous: sync,
            ..SqliteConfig::default()
        };
        let mut rig = Rig::new(&dir.path().join("bench.db"), config);
        group.bench_function(format!("stage_validate_commit_50_{name}"), |b| {
            b.iter(|| black_box(rig.boundary()));
        });
    }
    group.finish();
}

/// Times `n` boundaries one by one and prints throughput and latency percentiles.
fn latency_report(n: usize) {
    let configs = [
        ("FULL", Synchronous::Full, 1000),
        ("NORMAL", Synchronous::Normal, 1000),
        ("FULL, idle-time checkpoints", Synchronous::Full, 0),
    ];
    for (name, synchronous, wal_autocheckpoint) in configs {
        let dir = tempfile::tempdir().unwrap();
        let config = SqliteConfig {
            synchronous,
            wal_autocheckpoint,
            ..SqliteConfig::default()
        };
        let mut rig = Rig::new(&dir.path().join("latency.db"), config);
        for _ in 0..20 {
            rig.boundary();
        }
        #[expect(clippy::disallowed_methods, reason = "benchmarks measure time")]
        let start = Instant::now();
        let runs: Vec<(Duration, bool)> = (0..n).map(|_| rig.boundary_kind()).collect();
        let total = start.elapsed();
        let mut lat: Vec<Duration> = runs.iter().map(|r| r.0).collect();
        lat.sort_unstable();
        let mut ordinary: Vec<Duration> = runs.iter().filter(|r| !r.1).map(|r| r.0).collect();
        ordinary.sort_unstable();
        let pct = |v: &[Duration], p: f64| {
            v[((v.len() as f64 * p).ceil() as usize)
                .saturating_sub(1)
                .min(v.len() - 1)]
        };
        let commit_sum: Duration = lat.iter().sum();
        #[expect(clippy::print_stdout, reason = "the benchmark's report")]
        {
            println!(
                "synchronous={name}: {n} boundaries x {PER_BOUNDARY} updates: \
                 end-to-end {:.0} updates/s (stage+validate+commit), commit-only {:.0} updates/s; \
                 commit latency p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; \
                 without the {} session-start boundaries: p99 {:.3} ms",
                (n * PER_BOUNDARY) as f64 / total.as_secs_f64(),
                (n * PER_BOUNDARY) as f64 / commit_sum.as_secs_f64(),
                pct(&lat, 0.50).as_secs_f64() * 1e3,
                pct(&lat, 0.99).as_secs_f64() * 1e3,
                lat[lat.len() - 1].as_secs_f64() * 1e3,
                n - ordinary.len(),
                pct(&ordinary, 0.99).as_secs_f64() * 1e3,
            );
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_commit(&mut c);
    c.final_summary();
    latency_report(1000);
}
