//! Placeholder replaced by the per-turn benchmark.

fn main() {}
