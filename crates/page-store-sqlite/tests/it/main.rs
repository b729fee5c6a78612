//! Integration tests of page-store-sqlite on real database files: one binary, one module per
//! feature.

#![expect(
    clippy::unwrap_used,
    reason = "fixture helpers outside #[test] functions unwrap values that are valid by construction"
)]

mod contract;
mod migrate;
mod roundtrip;
mod support;
