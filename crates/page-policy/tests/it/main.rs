//! Integration tests of page-policy: selector cases, golden decision traces, properties and
//! workload validation, all through the public API.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] functions panic on malformed fixtures by design"
)]

mod cost;
mod fixture;
mod golden;
mod policies;
mod properties;
mod selector_cases;
mod stable;
mod validation;
