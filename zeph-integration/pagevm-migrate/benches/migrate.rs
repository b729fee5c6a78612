//! Migration throughput: a generated 100k-message Zeph database (real 0.21.4 schema, see
//! `support/synth.rs`) migrated into a fresh SQLite store, in messages per second.

#![expect(clippy::unwrap_used, reason = "benchmark setup")]

#[path = "support/synth.rs"]
mod synth;

use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use page_store_sqlite::{SqliteConfig, SqliteStore};
use pagevm_migrate::{MigrateOptions, NoProgress, ZephDb, migrate, zeph_builder};

const MESSAGES: u64 = 100_000;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/zeph-0.21.4.db");
    let zeph_path = dir.path().join("zeph-100k.db");
    synth::generate(&template, &zeph_path, MESSAGES);
    let zeph = ZephDb::open(&zeph_path).unwrap();
    let rows = zeph.count_messages(None).unwrap();
    let builder = zeph_builder().unwrap();
    let mut group = c.benchmark_group("migrate");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(60))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(rows));
    let mut n = 0;
    group.bench_function("zeph_100k_messages", |b| {
        b.iter_batched(
            || {
                n += 1;
                let path = dir.path().join(format!("store-{n}.db"));
                // What `pagevm migrate` opens the store with.
                SqliteStore::open_with(&path, SqliteConfig::bulk_load()).unwrap()
            },
            |store| {
                let report = migrate(
                    &zeph,
                    &store,
                    &builder,
                    &MigrateOptions::default(),
                    &mut NoProgress,
                )
                .unwrap();
                assert_eq!(report.messages_read, rows);
                drop(store);
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
