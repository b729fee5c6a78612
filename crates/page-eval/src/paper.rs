//! The paper's published numbers the summaries are compared against (reference §8.3, §8.4).

use page_policy::{Feature, PolicyId};

/// Table 4: mean explicit faults per configuration and thrash index, by policy. LRU's row is
/// the paper's statement that LRU has zero faults and ClawVM's thrash. `None` for a policy the
/// paper did not run.
pub(crate) const fn table4(policy: PolicyId) -> Option<(f64, f64)> {
    match policy {
        PolicyId::RetrievalOnly => Some((67.75, 3.993)),
        PolicyId::RetrievalOnlyCached => Some((10.75, 1.642)),
        PolicyId::CompactionHybrid => Some((1.42, 1.017)),
        PolicyId::Clawvm | PolicyId::Lru | PolicyId::OracleH3 => Some((0.0, 0.901)),
        PolicyId::CacheStable => None,
    }
}

/// Table 6: total faults at budget 180 over the four workloads with one feature removed.
pub(crate) const fn table6(removed: Option<Feature>) -> Option<u64> {
    match removed {
        None => Some(0),
        Some(Feature::PointerResolution) => Some(126),
        Some(Feature::WritebackCompaction) => Some(20),
        Some(Feature::AutoPin) => Some(9),
        Some(Feature::WritebackReset) => Some(3),
        Some(Feature::UpgradeScoring | Feature::Prefetch) => Some(0),
        Some(Feature::RecallReasons) => None,
    }
}
