//! Ingest throughput: building every representation of tool outputs, with exact token counts.
//!
//! The input mixes what coding agents see most: build and test logs, source files and search
//! results, about 1 MiB per call. Throughput is reported in bytes of tool output per second.

#![allow(
    clippy::expect_used,
    missing_docs,
    reason = "a benchmark aborts on setup errors; criterion's macros generate undocumented items"
)]

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use page_core::{PageId, TokenCounter, TypeTable};
use page_engine::{BuildConfig, RepresentationBuilder, ToolResult};
use page_tokenizer::{BpeCounter, Encoding, FastBpeCounter};

fn tool_output(bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 256);
    let mut i = 0u32;
    while s.len() < bytes {
        match i % 4 {
            0 => {
                let _ = writeln!(s, "test select::case_{i:05} ... ok");
            }
            1 => {
                let _ = writeln!(
                    s,
                    "crates/page-policy/src/select.rs:{}:    let ratio = score / delta as f64; // upgrade {i}",
                    i % 900
                );
            }
            2 => {
                let _ = writeln!(
                    s,
                    "    pub fn select_representations(&mut self, budget: TokenCount) -> Selection {{ // {i}"
                );
            }
            _ => {
                let _ = writeln!(
                    s,
                    "error[E0308]: mismatched types: expected `u32`, found `&str` at src/lib.rs:{i}:9"
                );
            }
        }
        i += 1;
    }
    s
}

fn ingest(c: &mut Criterion) {
    let output = tool_output(1024 * 1024);
    let mut group = c.benchmark_group("ingest_evidence_1MiB");
    group.throughput(Throughput::Bytes(output.len() as u64));
    group.sample_size(10);
    for encoding in Encoding::ALL {
        let reference = BpeCounter::new(encoding).expect("embedded ranks load");
        bench_counter(
            &mut group,
            &format!("{encoding}/tiktoken-rs"),
            reference,
            &output,
        );
        let fast = FastBpeCounter::new(encoding);
        bench_counter(&mut group, &format!("{encoding}/bpe-openai"), fast, &output);
        // Counting alone, to show how much of ingest the count of the full text is.
        group.bench_function(format!("{encoding}/bpe-openai-count-only"), |b| {
            b.iter(|| fast.count(black_box(&output)));
        });
    }
    group.finish();
}

fn bench_counter<C: TokenCounter>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    counter: C,
    output: &str,
) {
    let builder = RepresentationBuilder::new(counter, TypeTable::default(), BuildConfig::default())
        .expect("default config is valid");
    let id = PageId::new("bench").expect("valid id");
    group.bench_function(name, |b| {
        b.iter(|| {
            builder.evidence(
                &id,
                &ToolResult {
                    tool: "bash",
                    args_json: r#"{"command":"cargo test"}"#,
                    output: black_box(output),
                    is_error: true,
                    exit_code: Some(101),
                },
            )
        });
    });
}

criterion_group!(benches, ingest);
criterion_main!(benches);
