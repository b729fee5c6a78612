//! How a long evaluation reports progress without printing: the caller supplies a sink.

/// Receives one call per finished simulation, so a binary can drive a progress bar.
///
/// The library never prints; `pagevm` implements this with `indicatif` when stderr is a
/// terminal and uses [`NoProgress`] otherwise.
pub trait Progress {
    /// Called once, before the first step, with the number of steps to come.
    fn start(&mut self, total_steps: u64);
    /// Called after each step, with a short label of what just finished.
    fn step(&mut self, label: &str);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _total_steps: u64) {}
    fn step(&mut self, _label: &str) {}
}
