//! Property tests: no constructible page violates its type's table, and the model's operations
//! keep the invariants (degradation floor, monotone costs, stable ids, serialization).

use std::collections::BTreeMap;

use page_core::{
    LevelCosts, Page, PageId, PageSpec, PageType, Repr, Representation, SessionPageTable,
    TokenCount, ToolSignature, TypeTable,
};
use proptest::prelude::*;

use crate::spec;

fn page_type() -> impl Strategy<Value = PageType> {
    prop::sample::select(PageType::ALL.to_vec())
}

fn level() -> impl Strategy<Value = Repr> {
    prop::sample::select(Repr::ALL.to_vec())
}

/// Arbitrary costs on arbitrary levels: mostly invalid, which is the point.
fn raw_costs() -> impl Strategy<Value = BTreeMap<Repr, u32>> {
    prop::collection::btree_map(level(), 0u32..500, 0..5)
}

/// Costs that satisfy the invariants for `t`'s default path.
fn valid_costs(t: PageType) -> impl Strategy<Value = Vec<(Repr, u32)>> {
    let levels: Vec<Repr> = t.defaults().path().ascending().collect();
    prop::collection::vec(0u32..200, levels.len()).prop_map(move |steps| {
        let mut total = 0;
        levels
            .iter()
            .zip(steps)
            .map(|(&r, s)| {
                total += s;
                (r, total)
            })
            .collect()
    })
}

fn valid_page() -> impl Strategy<Value = Page> {
    page_type()
        .prop_flat_map(|t| (Just(t), valid_costs(t), 0.0f64..20.0, 0.0f64..20.0))
        .prop_map(|(t, costs, rc, bu)| {
            let mut s = spec(t, &costs);
            s.recompute_cost = rc;
            s.base_utility = bu;
            Page::from_spec(s, &TypeTable::default()).unwrap()
        })
}

/// The invariants, written independently of the constructor.
fn satisfies_table(t: PageType, min: Repr, costs: &BTreeMap<Repr, u32>) -> bool {
    let row = t.defaults();
    let on_path: Vec<Repr> = row.path().ascending().collect();
    let keys: Vec<Repr> = costs.keys().copied().collect();
    row.path().contains(min)
        && keys == on_path
        && on_path.windows(2).all(|w| costs[&w[0]] <= costs[&w[1]])
}

proptest! {
    #[test]
    fn constructor_accepts_exactly_the_valid_pages(t in page_type(), min in level(), costs in raw_costs()) {
        let pairs: Vec<(Repr, u32)> = costs.iter().map(|(&r, &n)| (r, n)).collect();
        let mut s = spec(t, &pairs);
        s.min_fidelity = Some(min);
        let built = Page::from_spec(s, &TypeTable::default());
        prop_assert_eq!(built.is_ok(), satisfies_table(t, min, &costs), "{:?}", built);
    }

    #[test]
    fn every_page_satisfies_its_table(page in valid_page()) {
        let levels = page.levels();
        let row = page.page_type().defaults();
        prop_assert_eq!(levels.path(), row.path());
        prop_assert!(levels.path().contains(levels.min_fidelity()));
        let costs: Vec<TokenCount> = levels.iter().map(|(_, c)| c).collect();
        prop_assert!(costs.windows(2).all(|w| w[0] <= w[1]));
        for r in Repr::RESIDENT {
            prop_assert_eq!(page.representation(r).is_some(), levels.path().contains(r));
        }
    }

    #[test]
    fn degrading_never_goes_below_min_fidelity(page in valid_page(), start in level()) {
        let levels = page.levels();
        let mut cur = levels.at_least(start).0;
        let mut steps = 0;
        while let Some(next) = levels.degrade(cur) {
            prop_assert!(next < cur);
            prop_assert!(next >= levels.min_fidelity());
            prop_assert!(levels.path().contains(next));
            prop_assert!(levels.get(next) <= levels.get(cur));
            cur = next;
            steps += 1;
            prop_assert!(steps <= 4);
        }
        if start != Repr::None && start >= levels.min_fidelity() {
            prop_assert_eq!(cur, levels.min_fidelity());
        }
    }

    #[test]
    fn serialization_round_trips(page in valid_page()) {
        let json = serde_json::to_string(&page).unwrap();
        let back: Page = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &page);
        prop_assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }

    #[test]
    fn ids_are_stable_across_updates(page in valid_page(), bumps in 1usize..5, scale in 1u32..4) {
        let id: PageId = page.id().clone();
        let costs: Vec<(Repr, TokenCount)> = page.levels().iter().collect();
        let mut table = SessionPageTable::new();
        table.insert(page).unwrap();
        for i in 0..bumps {
            let new: BTreeMap<Repr, Representation> = costs
                .iter()
                .map(|&(r, c)| (r, Representation::new(format!("v{i} {r}"), TokenCount::new(c.get() * scale))))
                .collect();
            let v = table.update(&id, new).unwrap();
            prop_assert_eq!(v, 2 + i as u64);
        }
        let p = table.get(&id).unwrap();
        prop_assert_eq!(p.id(), &id);
        prop_assert!(p.is_dirty());
        // Committing an older version leaves the page dirty; the current one cleans it.
        prop_assert!(!table.mark_clean(&id, 1).unwrap());
        prop_assert!(table.mark_clean(&id, 1 + bumps as u64).unwrap());
        prop_assert_eq!(table.dirty().count(), 0);
    }

    #[test]
    fn signatures_ignore_key_order(keys in prop::collection::btree_map("[a-z]{1,6}", 0i64..100, 0..6)) {
        let forward: serde_json::Map<String, serde_json::Value> =
            keys.iter().map(|(k, v)| (k.clone(), (*v).into())).collect();
        let text_fwd = serde_json::to_string(&forward).unwrap();
        let mut rev: Vec<String> = keys.iter().map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap())).collect();
        rev.reverse();
        let text_rev = format!("{{{}}}", rev.join(" , "));
        prop_assert_eq!(
            ToolSignature::from_json_text("t", &text_fwd).unwrap(),
            ToolSignature::from_json_text("t", &text_rev).unwrap()
        );
    }

    #[test]
    fn level_costs_reject_what_pages_reject(t in page_type(), min in level(), costs in raw_costs()) {
        let map: BTreeMap<Repr, TokenCount> = costs.iter().map(|(&r, &n)| (r, TokenCount::new(n))).collect();
        let res = LevelCosts::new(t, t.defaults().path(), min, &map);
        prop_assert_eq!(res.is_ok(), satisfies_table(t, min, &costs));
    }
}

#[test]
fn insert_rejects_duplicates_and_keeps_order() {
    let mut table = SessionPageTable::new();
    let mk = |id: &str| {
        let mut s: PageSpec = spec(
            PageType::Bootstrap,
            &[(Repr::Full, 9), (Repr::Structured, 3)],
        );
        s.id = PageId::new(id).unwrap();
        Page::from_spec(s, &TypeTable::default()).unwrap()
    };
    for id in ["z", "a", "m"] {
        table.insert(mk(id)).unwrap();
    }
    let err = table.insert(mk("a")).unwrap_err();
    assert_eq!(err.to_string(), "page a is already in the page table");
    let order: Vec<&str> = table.iter().map(|p| p.id().as_str()).collect();
    assert_eq!(order, ["z", "a", "m"]);
    assert_eq!(
        table
            .set_recency(&PageId::new("q").unwrap(), 1.0)
            .unwrap_err()
            .to_string(),
        "page q is not in the page table"
    );
    table.set_recency(&PageId::new("a").unwrap(), 1.0).unwrap();
    table.decay_recency(0.88, 1e-4);
    assert_eq!(table.recency(&PageId::new("a").unwrap()), Some(0.88));
}

proptest! {
    /// Every recorded call is signed, the same way whatever path signs it: a call the strict
    /// constructor accepts gets the same signature, and the signature survives its round trip
    /// through text.
    #[test]
    fn every_call_is_signed_and_agrees_with_the_strict_constructor(
        tool in "\\PC{0,8}|[a-z(\\x00]{0,4}",
        args in "\\PC{0,24}|\\{\"[a-z]{1,3}\": ?[0-9]{1,3}\\}",
    ) {
        let signed = ToolSignature::of_call(&tool, &args);
        if let Ok(strict) = ToolSignature::from_json_text(&tool, &args) {
            prop_assert_eq!(&signed, &strict);
        }
        prop_assert!(!signed.tool().is_empty());
        let back = ToolSignature::try_from(signed.as_str().to_owned());
        prop_assert_eq!(back.ok(), Some(signed.clone()));
        // The same text again is the same call.
        prop_assert_eq!(ToolSignature::of_call(&tool, &args), signed);
    }
}
