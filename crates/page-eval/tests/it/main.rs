//! Integration tests of page-eval: one binary, one module per feature.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions panic on a broken evaluation by design"
)]

mod determinism;
mod families;
mod gates;
mod real;
mod results;
mod schema;
mod snapshots;

use std::sync::OnceLock;

use page_eval::{EvalPlan, Evaluation, NoProgress, run_eval};

/// The full evaluation, run once per test binary (it takes a few seconds in a debug build),
/// with the persistence gate on the SQLite store too.
pub(crate) fn full() -> &'static Evaluation {
    static EVAL: OnceLock<Evaluation> = OnceLock::new();
    EVAL.get_or_init(|| run_eval(&plan("full"), &mut NoProgress).unwrap())
}

/// The full plan with its SQLite store in a directory of its own under the target's temp dir.
pub(crate) fn plan(name: &str) -> EvalPlan {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("page-eval-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    EvalPlan::full(Some(dir))
}
