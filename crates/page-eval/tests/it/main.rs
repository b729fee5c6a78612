//! Integration tests of page-eval: one binary, one module per feature.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions panic on a broken evaluation by design"
)]

mod determinism;
mod families;
mod gates;
mod results;
mod schema;
mod snapshots;

use std::sync::OnceLock;

use page_eval::{EvalPlan, Evaluation, NoProgress, run_eval};

/// The full evaluation, run once per test binary (it takes a few seconds in a debug build).
pub(crate) fn full() -> &'static Evaluation {
    static EVAL: OnceLock<Evaluation> = OnceLock::new();
    EVAL.get_or_init(|| run_eval(&EvalPlan::full(), &mut NoProgress).unwrap())
}
