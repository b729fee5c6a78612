//! Peak heap of one paper-scale session (validation + replay, trace off), measured with a
//! counting global allocator. The paper reports a peak below 83 KB for its Python engine.

#![allow(
    clippy::unwrap_used,
    unsafe_code,
    reason = "a test binary with a counting allocator"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use page_core::{CompactionKind, PageId, PageType, TokenCount, ToolSignature};
use page_policy::{
    Demand, LevelTokens, LifecycleEvent, PolicyConfig, PolicyEngine, PolicyId, ToolCall,
    WORKLOAD_SCHEMA_VERSION, Workload, WorkloadPage, WorkloadTurn,
};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(live, Ordering::SeqCst);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// 30 pages (2 bootstrap, 3 constraint, the rest mixed), 60 turns with 1–3 demands, a tool
/// call every other turn, updates and a compaction every 15 turns.
fn paper_scale() -> Workload {
    let types = [
        PageType::Plan,
        PageType::Preference,
        PageType::Evidence,
        PageType::Evidence,
        PageType::Conversation,
    ];
    let t = |n: u32| Some(TokenCount::new(n));
    let pages: Vec<WorkloadPage> = (0..30u32)
        .map(|i| {
            let page_type = match i {
                0 | 1 => PageType::Bootstrap,
                2..=4 => PageType::Constraint,
                _ => types[(i % 5) as usize],
            };
            let tokens = match page_type {
                PageType::Bootstrap | PageType::Constraint => LevelTokens {
                    full: t(40 + i),
                    structured: t(10 + i % 5),
                    ..LevelTokens::default()
                },
                PageType::Plan => LevelTokens {
                    full: t(36),
                    structured: t(14),
                    pointer: t(3),
                    ..LevelTokens::default()
                },
                _ => LevelTokens {
                    full: t(50 + i),
                    compressed: t(25),
                    structured: t(10),
                    pointer: t(3),
                },
            };
            WorkloadPage {
                id: PageId::new(format!("page_{i:02}")).unwrap(),
                page_type,
                pin: None,
                min_fidelity: None,
                tokens,
                base_utility: f64::from(i % 9) + 1.0,
                recompute_cost: f64::from(i % 12),
                scope: None,
                session: None,
                tool_signature: None,
                dirty: false,
                exists: None,
            }
        })
        .collect();
    let evidence: Vec<PageId> = pages
        .iter()
        .filter(|p| p.page_type == PageType::Evidence)
        .map(|p| p.id.clone())
        .collect();
    let turns = (0..60usize)
        .map(|k| {
            let mut turn = WorkloadTurn::default();
            if k % 2 == 0 {
                let e = (k / 2) % evidence.len();
                turn.tool_calls.push(ToolCall {
                    signature: ToolSignature::from_json_text(
                        "read_file",
                        &format!(r#"{{"path":"f{e}"}}"#),
                    )
                    .unwrap(),
                    result_page: evidence[e].clone(),
                });
            }
            for j in 0..(1 + k % 3) {
                let p = &pages[(k * 7 + j * 11) % 30];
                let produced_later = evidence
                    .iter()
                    .position(|e| e == &p.id)
                    .is_some_and(|e| 2 * e > k);
                if !produced_later {
                    turn.demands.push(Demand {
                        page: p.id.clone(),
                        required_repr: None,
                    });
                }
            }
            if k % 4 == 1 {
                turn.updates.push(pages[5 + k % 25].id.clone());
            }
            if k % 15 == 14 {
                turn.events.push(LifecycleEvent::Compaction {
                    kind: CompactionKind::Hard,
                });
            }
            turn
        })
        .collect();
    Workload {
        schema_version: WORKLOAD_SCHEMA_VERSION,
        id: "paper_scale".into(),
        family: "heap".into(),
        pages,
        turns,
    }
}

#[test]
fn paper_scale_session_peak_heap_is_below_83_kb() {
    let workload = paper_scale();
    for policy in PolicyId::ALL {
        let base = LIVE.load(Ordering::SeqCst);
        PEAK.store(base, Ordering::SeqCst);
        let validated = workload.validate().unwrap();
        let mut engine = PolicyEngine::new(
            &validated,
            &PolicyConfig::preset(policy),
            TokenCount::new(180),
        );
        engine.set_record_trace(false);
        while engine.step().is_some() {}
        let sim = engine.into_simulation();
        let peak = PEAK.load(Ordering::SeqCst) - base;
        drop(sim);
        drop(validated);
        println!("{policy}: peak heap {peak} bytes");
        assert!(peak <= 83_000, "{policy}: peak heap {peak} bytes");
    }
}
