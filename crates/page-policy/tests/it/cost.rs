//! The prompt-cache cost model as a table: small request sequences with known costs under each
//! preset and mode (the worked example of cache-economics.md, a lifetime expiry, a prefix under
//! the minimum, a page-in at the tail, breakpoint caching), checked to the tenth of a token.

use page_core::{ContentDigest, Repr};
use page_policy::{CacheMode, CostMeter, Pricing, RequestItem};

/// An item: a name (its bytes, so equal names are equal items) and its tokens.
fn item(name: &str, tokens: u32) -> RequestItem {
    RequestItem {
        page: name.to_owned(),
        level: Repr::Full,
        tokens,
        hash: ContentDigest::of(name.as_bytes()),
    }
}

struct Case {
    what: &'static str,
    pricing: Pricing,
    mode: CacheMode,
    /// `(time in ms, items)` per request.
    requests: Vec<(Option<i64>, Vec<RequestItem>)>,
    /// Per request: (cached tokens, billed input).
    expected: Vec<(u64, f64)>,
    rewrites: u64,
}

fn openai_at_one() -> Pricing {
    Pricing::preset("openai")
        .unwrap()
        .with_prices(0.1, 1.0)
        .unwrap()
}

fn cases() -> Vec<Case> {
    // The worked example: 7,221 tokens in four items; then 142 appended; then an item at
    // position 4 (the fifth) rewritten so that only 7,316 of 7,773 tokens match.
    let base = vec![
        item("system", 3_000),
        item("a", 2_000),
        item("b", 1_500),
        item("c", 721),
    ];
    let mut second = base.clone();
    second.push(item("d", 95));
    second.push(item("e", 47));
    let mut third = base.clone();
    third.push(item("d", 95));
    third.push(item("e-rewritten", 47));
    third.push(item("f", 410));
    vec![
        Case {
            what: "cache-economics.md worked check (read 0.1, write 1.0, lcp)",
            pricing: openai_at_one(),
            mode: CacheMode::Lcp,
            requests: vec![
                (None, base.clone()),
                (None, second.clone()),
                (None, third.clone()),
            ],
            expected: vec![(0, 7_221.0), (7_221, 864.1), (7_316, 1_188.6)],
            rewrites: 1,
        },
        Case {
            what: "anthropic-5m: a gap over five minutes expires the cache",
            pricing: Pricing::preset("anthropic-5m").unwrap(),
            mode: CacheMode::Lcp,
            requests: vec![
                (Some(0), base.clone()),
                (Some(299_000), second.clone()),
                (Some(299_000 + 300_001), second.clone()),
            ],
            // 7,221 × 1.25; 7,221 × 0.1 + 142 × 1.25; all 7,363 written again.
            expected: vec![(0, 9_026.25), (7_221, 899.6), (0, 9_203.75)],
            rewrites: 0,
        },
        Case {
            what: "a shared prefix under the provider's minimum is not cached",
            pricing: Pricing::preset("gemini").unwrap(),
            mode: CacheMode::Lcp,
            requests: vec![
                (None, vec![item("s", 1_000), item("x", 500)]),
                (None, vec![item("s", 1_000), item("y", 500)]),
            ],
            expected: vec![(0, 1_500.0), (0, 1_500.0)],
            rewrites: 1,
        },
        Case {
            what: "a page-in appends the page's full text at the tail: only it is new",
            pricing: openai_at_one(),
            mode: CacheMode::Lcp,
            requests: vec![
                (None, second.clone()),
                (None, {
                    let mut r = second.clone();
                    r.push(item("read_page b", 1_500));
                    r
                }),
            ],
            expected: vec![(0, 7_363.0), (7_363, 2_236.3)],
            rewrites: 0,
        },
        Case {
            what: "breakpoint: an earlier request that is a prefix is cached, a partial match is not",
            pricing: openai_at_one(),
            mode: CacheMode::Breakpoint,
            requests: vec![
                (None, base.clone()),
                (None, second.clone()),
                (None, third.clone()),
                (None, second.clone()),
            ],
            // Request 3 has `base` as its longest earlier request that is a prefix (7,221),
            // not request 2's 7,316 common tokens; request 4 repeats request 2 exactly.
            expected: vec![
                (0, 7_221.0),
                (7_221, 864.1),
                (7_221, 1_274.1),
                (7_363, 736.3),
            ],
            rewrites: 2,
        },
    ]
}

#[test]
fn request_costs_match_the_table() {
    for case in cases() {
        let mut meter = CostMeter::new(case.pricing, case.mode);
        let mut rewrites = 0;
        for (i, ((at, items), (cached, billed))) in
            case.requests.iter().zip(&case.expected).enumerate()
        {
            let got = meter.push(*at, items);
            rewrites += u64::from(got.rewrote_prefix);
            assert_eq!(got.cached, *cached, "{}: request {i} cached", case.what);
            assert!(
                (got.billed - billed).abs() < 0.05,
                "{}: request {i} billed {} (expected {billed})",
                case.what,
                got.billed
            );
        }
        let summary = meter.summary();
        let total: f64 = case.expected.iter().map(|(_, b)| b).sum();
        assert!((summary.billed_input - total).abs() < 0.05, "{}", case.what);
        assert_eq!(rewrites, case.rewrites, "{}: rewrites", case.what);
        let per_100 = summary.prefix_rewrites_per_100 * summary.requests as f64 / 100.0;
        assert!(
            (per_100 - case.rewrites as f64).abs() < 0.01,
            "{}: per 100",
            case.what
        );
    }
}

#[test]
fn presets_and_modes_by_name() {
    for name in Pricing::PRESETS {
        assert_eq!(Pricing::preset(name).unwrap().preset, name);
    }
    let err = Pricing::preset("azure").unwrap_err().to_string();
    assert!(
        err.contains("anthropic-5m, anthropic-1h, openai, gemini"),
        "{err}"
    );
    assert!(
        Pricing::preset("openai")
            .unwrap()
            .with_prices(-0.1, 1.0)
            .is_err()
    );
    assert_eq!(
        "breakpoint".parse::<CacheMode>().unwrap(),
        CacheMode::Breakpoint
    );
    assert!("prefix".parse::<CacheMode>().is_err());
}
