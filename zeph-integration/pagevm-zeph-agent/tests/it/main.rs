//! End-to-end tests of pagevm inside a real `zeph_core::Agent` (0.21.4): an in-process channel,
//! Zeph's `MockProvider` scripting the model, and a file-reading tool whose outputs are
//! hundreds of lines long. One test binary: each links Zeph's whole agent.

#![recursion_limit = "256"]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking on an unexpected error"
)]

mod config;
mod real_loop;
mod restart;
mod session;
mod support;
