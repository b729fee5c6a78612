//! Cache-stable paging on the engine: the prompt only grows at its tail between degradation
//! events, an event takes it to the low watermark in one rewrite, and a page read again comes
//! back at the tail (the property over random histories is `random_histories_keep_every_invariant`).

use super::*;

/// One listing of `lines` lines per turn under a fixed budget.
fn listings(turns: usize, lines: usize, budget: u32) -> Vec<(Assembly, bool)> {
    let store = MemoryStore::new();
    let mut e = engine(&store);
    listing_session(&mut e, turns, |_| lines, budget)
}

/// The scenarios of cache-stable paging, one row each: turns, lines per listing, budget, and
/// the turns whose prompt is a degradation event.
#[test]
fn scenarios() {
    let cases: [(&str, usize, usize, u32, &[usize]); 3] = [
        // Everything fits under the high watermark: nothing already sent ever changes.
        ("fits", 6, 5, 20_000, &[]),
        // The context crosses 90 % of the budget once: one rewrite, down to 60 %.
        ("crosses the watermark once", 8, 40, 6_000, &[6]),
        // It keeps growing: an event each time the appended results cross the watermark
        // again, never in between.
        ("grows on", 16, 40, 6_000, &[6, 9, 12, 15]),
    ];
    for (name, turns, lines, budget, events) in cases {
        let run = listings(turns, lines, budget);
        let high = budget * 9 / 10;
        let low = budget * 6 / 10;
        let got: Vec<usize> = (0..run.len()).filter(|&t| run[t].1).collect();
        assert_eq!(got, events, "{name}: event turns");
        for (t, (a, event)) in run.iter().enumerate() {
            assert!(
                a.tokens.get() <= high,
                "{name}, turn {t}: {}",
                a.tokens.get()
            );
            assert!(a.tool_pairs_intact(), "{name}, turn {t}");
            if *event {
                assert!(
                    a.tokens.get() <= low,
                    "{name}, turn {t}: event left {}",
                    a.tokens.get()
                );
            } else if t > 0 {
                assert!(
                    extends(&run[t - 1].0, a),
                    "{name}, turn {t} rewrote the prompt"
                );
                assert_eq!(a.prefix_churn.get(), 0, "{name}, turn {t}");
            }
        }
    }
}

#[test]
fn a_page_read_again_comes_back_at_the_tail_not_in_place() {
    let store = MemoryStore::new();
    let mut e = engine(&store);
    e.user_message("Read the crate.").unwrap();
    let budget = TokenCount::new(5_000);
    let mut ids = Vec::new();
    let mut last = None;
    let mut k = 0;
    // Results pile up until an event degrades the first one.
    while ids.is_empty()
        || last.as_ref().is_some_and(|a: &Assembly| {
            a.placed
                .iter()
                .any(|p| p.page == ids[0] && p.level == Repr::Full)
        })
    {
        let c = call(
            &format!("c{k}"),
            "read_file",
            &format!(r#"{{"path":"f{k}.rs"}}"#),
        );
        e.post_model(ModelOutput {
            tool_calls: vec![c.clone()],
            ..ModelOutput::default()
        })
        .unwrap();
        ids.push(
            e.tool_after(&c.call_id, &ok(&file_listing(30, &format!("f{k}"))))
                .unwrap(),
        );
        last = Some(e.prompt_assemble(budget).unwrap());
        k += 1;
        assert!(k < 40, "no event degraded the first result");
    }
    let before = last.unwrap();
    let first = before
        .placed
        .iter()
        .find(|p| p.page == ids[0])
        .map(|p| p.level);
    // The model reads the first result back.
    let text = e.resolve(&ids[0]).unwrap();
    let c = call("again", "read_page", &format!(r#"{{"page":"{}"}}"#, ids[0]));
    e.post_model(ModelOutput {
        tool_calls: vec![c.clone()],
        ..ModelOutput::default()
    })
    .unwrap();
    let copy = e.tool_after(&c.call_id, &ok(&text)).unwrap();
    e.demand_page_in(&copy).unwrap();
    let rewrites = e.rewrites();
    let after = e.prompt_assemble(budget).unwrap();
    assert_eq!(
        e.rewrites(),
        rewrites,
        "a page-in that fits rewrites nothing"
    );
    assert!(extends(&before, &after), "the page-in is appended");
    assert_eq!(
        after
            .placed
            .iter()
            .find(|p| p.page == ids[0])
            .map(|p| p.level),
        first,
        "the page itself stays where and as it was"
    );
    let tail = after.placed.last().unwrap();
    assert_eq!((&tail.page, tail.level), (&copy, Repr::Full));
}
