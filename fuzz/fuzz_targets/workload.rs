//! Fuzz target: the workload reader (JSON into a `Workload`, then validation). Bad input is
//! an error; validation must never panic, and a validated workload must replay.

#![no_main]

use libfuzzer_sys::fuzz_target;
use page_core::TokenCount;
use page_policy::{PolicyConfig, PolicyId, Workload, simulate};

fuzz_target!(|data: &[u8]| {
    let Ok(workload) = serde_json::from_slice::<Workload>(data) else {
        return;
    };
    let Ok(valid) = workload.validate() else {
        return;
    };
    // Small budgets keep each run short; the point is that any valid workload replays.
    for budget in [0, 7, 180] {
        let _ = simulate(
            &valid,
            &PolicyConfig::preset(PolicyId::Clawvm),
            TokenCount::new(budget),
        );
    }
});
