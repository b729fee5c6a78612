//! Integration tests of page-writeback: one binary, one module per feature.

#![expect(
    clippy::unwrap_used,
    reason = "fixture helpers outside #[test] functions unwrap values that are valid by construction"
)]

mod boundary;
mod checks;
mod ops;
mod schema;
mod support;
