//! Integration tests of pagevm-migrate on the real Zeph databases in
//! `zeph-integration/fixtures`: one binary, one module per concern.

#![expect(
    clippy::unwrap_used,
    reason = "fixture helpers outside #[test] functions unwrap values that are valid by construction"
)]

mod bad_input;
mod fixtures;
mod layouts;
mod support;
mod synth;
// The benchmark's generator, shared with its test.
#[path = "../../benches/support/synth.rs"]
mod synth_db;
