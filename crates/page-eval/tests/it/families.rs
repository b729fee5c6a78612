//! The workload families: seeded, deterministic, at least 60 turns, and sized so the
//! minimum-fidelity set fits the smallest budget.

use page_eval::{Family, MIN_SET_CAP, generate, scaled_workload};
use pretty_assertions::assert_eq;

#[test]
fn families_are_deterministic_and_seed_dependent() {
    for family in Family::ALL {
        let a = generate(family, family.seed()).unwrap();
        let b = generate(family, family.seed()).unwrap();
        assert_eq!(a, b, "{}", family.code());
        let c = generate(family, family.seed() ^ 1).unwrap();
        assert!(
            a != c,
            "{}: another seed gave the same workload",
            family.code()
        );
    }
}

#[test]
fn families_validate_have_60_turns_and_fit_the_smallest_budget() {
    for family in Family::ALL {
        let w = generate(family, family.seed()).unwrap();
        assert_eq!(w.family, family.code());
        let v = w.validate().unwrap();
        assert!(
            v.n_turns() >= 60,
            "{}: {} turns",
            family.code(),
            v.n_turns()
        );
        for t in 0..v.n_turns() {
            let min_set = v.min_set_tokens(t).unwrap();
            assert!(
                min_set <= u64::from(MIN_SET_CAP),
                "{} turn {t}: minimum-fidelity set {min_set} > {MIN_SET_CAP}",
                family.code()
            );
        }
    }
}

#[test]
fn each_family_exercises_its_lifecycle() {
    use page_policy::LifecycleEvent;
    let count = |family: Family, pred: &dyn Fn(&LifecycleEvent) -> bool| {
        generate(family, family.seed())
            .unwrap()
            .turns
            .iter()
            .flat_map(|t| &t.events)
            .filter(|e| pred(e))
            .count()
    };
    let compactions = |e: &LifecycleEvent| matches!(e, LifecycleEvent::Compaction { .. });
    let resets = |e: &LifecycleEvent| matches!(e, LifecycleEvent::Reset);
    let starts = |e: &LifecycleEvent| matches!(e, LifecycleEvent::SessionStart { .. });
    assert!(count(Family::CompactionHeavy, &compactions) >= 6);
    assert!(count(Family::ResetHeavy, &resets) >= 5);
    assert_eq!(count(Family::MultiSession, &starts), 4);
    let calls: usize = generate(Family::EvidenceHeavy, Family::EvidenceHeavy.seed())
        .unwrap()
        .turns
        .iter()
        .map(|t| t.tool_calls.len())
        .sum();
    assert!(
        calls >= 72,
        "evidence-heavy makes at least one call per turn, got {calls}"
    );
}

#[test]
fn scaled_workload_has_the_requested_size() {
    let w = scaled_workload(1_000, 10, 7).unwrap();
    assert_eq!(w.pages.len(), 1_000);
    assert_eq!(w.turns.len(), 10);
    w.validate().unwrap();
}
