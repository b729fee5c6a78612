//! The adversarial workloads (the paper's Table 9): starvation, churn and cascade reset.
//!
//! - Starvation: the hard-pinned set (three bootstrap pages and two constraints at their
//!   minimum, 60 tokens) exceeds the 40-token budget. Nothing can make this fault-free; the
//!   point is that ClawVM reports the shortfall as invariant pressure with reasons, and the
//!   oracle gap (zero) names the budget, not the policy, as the cause.
//! - Churn: 50 unique tool results in 50 turns, each turn also re-reading six earlier results
//!   (recency-biased), at budget 180.
//! - Cascade reset: nine resets in 30 turns, with the plan or a preference dirtied before each,
//!   at budget 180.

use page_core::{CompactionKind, PageType, PinClass};
use page_core::{PageId, Repr, TokenCount, ToolSignature};
use page_policy::{
    Demand, LevelTokens, LifecycleEvent, ToolCall, WORKLOAD_SCHEMA_VERSION, Workload, WorkloadPage,
    WorkloadTurn,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::error::EvalError;
use crate::families::MASTER_SEED;

/// An adversarial scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    Starvation,
    Churn,
    CascadeReset,
}

impl Scenario {
    pub(crate) const ALL: [Scenario; 3] = [
        Scenario::Starvation,
        Scenario::Churn,
        Scenario::CascadeReset,
    ];

    pub(crate) const fn code(self) -> &'static str {
        match self {
            Scenario::Starvation => "starvation",
            Scenario::Churn => "churn",
            Scenario::CascadeReset => "cascade_reset",
        }
    }

    pub(crate) const fn budget(self) -> u32 {
        match self {
            Scenario::Starvation => 40,
            Scenario::Churn | Scenario::CascadeReset => 180,
        }
    }

    pub(crate) fn workload(self) -> Result<Workload, EvalError> {
        match self {
            Scenario::Starvation => starvation(),
            Scenario::Churn => churn(),
            Scenario::CascadeReset => cascade_reset(),
        }
    }
}

fn err(e: page_core::PageError) -> EvalError {
    EvalError::Generate(e.to_string())
}

fn id(s: &str) -> Result<PageId, EvalError> {
    PageId::new(s).map_err(err)
}

fn costs(full: u32, compressed: Option<u32>, structured: u32, pointer: Option<u32>) -> LevelTokens {
    LevelTokens {
        full: Some(TokenCount::new(full)),
        compressed: compressed.map(TokenCount::new),
        structured: Some(TokenCount::new(structured)),
        pointer: pointer.map(TokenCount::new),
    }
}

fn page(id: PageId, page_type: PageType, tokens: LevelTokens, base: f64, rc: f64) -> WorkloadPage {
    WorkloadPage {
        id,
        page_type,
        pin: None,
        min_fidelity: None,
        tokens,
        base_utility: base,
        recompute_cost: rc,
        scope: None,
        session: None,
        tool_signature: None,
        dirty: false,
        exists: None,
    }
}

fn evidence(n: u32, full: u32) -> Result<(WorkloadPage, ToolSignature), EvalError> {
    let sig =
        ToolSignature::new("read_file", &json!({"path": format!("src/f{n}.rs")})).map_err(err)?;
    let mut p = page(
        id(&format!("ev{n}"))?,
        PageType::Evidence,
        costs(full, Some(full * 2 / 5), full / 5, Some(5)),
        5.0,
        8.0,
    );
    p.pin = Some(PinClass::Soft);
    p.tool_signature = Some(sig.clone());
    Ok((p, sig))
}

fn workload(name: &str, pages: Vec<WorkloadPage>, turns: Vec<WorkloadTurn>) -> Workload {
    Workload {
        schema_version: WORKLOAD_SCHEMA_VERSION,
        id: format!("adversarial_{name}"),
        family: "adversarial".to_owned(),
        pages,
        turns,
    }
}

fn demand(page: &PageId, level: Repr) -> Demand {
    Demand {
        page: page.clone(),
        required_repr: Some(level),
    }
}

fn starvation() -> Result<Workload, EvalError> {
    let mut pages = Vec::new();
    for i in 1..=3 {
        pages.push(page(
            id(&format!("boot{i}"))?,
            PageType::Bootstrap,
            costs(42, None, 14, None),
            6.0,
            2.0,
        ));
    }
    for i in 1..=2 {
        pages.push(page(
            id(&format!("con{i}"))?,
            PageType::Constraint,
            costs(27, None, 9, None),
            5.0,
            1.0,
        ));
    }
    let mut turns = Vec::new();
    for t in 1..=30 {
        let (p, sig) = evidence(t, 50)?;
        let mut turn = WorkloadTurn {
            tool_calls: vec![ToolCall {
                signature: sig,
                result_page: p.id.clone(),
            }],
            ..WorkloadTurn::default()
        };
        if t > 1 {
            turn.demands
                .push(demand(&id(&format!("ev{}", t - 1))?, Repr::Structured));
        }
        if t == 15 {
            turn.events.push(LifecycleEvent::Compaction {
                kind: CompactionKind::Hard,
            });
        }
        pages.push(p);
        turns.push(turn);
    }
    Ok(workload("starvation", pages, turns))
}

fn churn() -> Result<Workload, EvalError> {
    let mut rng = ChaCha8Rng::seed_from_u64(MASTER_SEED ^ 0xC4_u64);
    let mut pages = vec![
        page(
            id("boot1")?,
            PageType::Bootstrap,
            costs(40, None, 12, None),
            6.0,
            2.0,
        ),
        page(
            id("con1")?,
            PageType::Constraint,
            costs(27, None, 9, None),
            5.0,
            1.0,
        ),
    ];
    let mut turns = Vec::new();
    for t in 1..=50u32 {
        let (p, sig) = evidence(t, rng.random_range(40..=90))?;
        let mut turn = WorkloadTurn {
            tool_calls: vec![ToolCall {
                signature: sig,
                result_page: p.id.clone(),
            }],
            ..WorkloadTurn::default()
        };
        pages.push(p);
        // Six re-reads of earlier results, recency-biased, distinct.
        let mut picked: Vec<u32> = Vec::new();
        let mut tries = 0;
        while picked.len() < 6 && picked.len() + 1 < t as usize && tries < 64 {
            tries += 1;
            let mut back = 1;
            while back + 1 < t && rng.random_bool(0.7) {
                back += 1;
            }
            let k = t - back;
            if !picked.contains(&k) {
                picked.push(k);
            }
        }
        for k in picked {
            turn.demands
                .push(demand(&id(&format!("ev{k}"))?, Repr::Structured));
        }
        turns.push(turn);
    }
    Ok(workload("churn", pages, turns))
}

fn cascade_reset() -> Result<Workload, EvalError> {
    let plan = id("plan")?;
    let prefs = [id("pref1")?, id("pref2")?];
    let mut pages = vec![
        page(
            id("boot1")?,
            PageType::Bootstrap,
            costs(40, None, 12, None),
            6.0,
            2.0,
        ),
        page(
            plan.clone(),
            PageType::Plan,
            costs(36, None, 14, Some(4)),
            4.0,
            3.0,
        ),
    ];
    for p in &prefs {
        pages.push(page(
            p.clone(),
            PageType::Preference,
            costs(20, Some(12), 8, Some(3)),
            3.0,
            1.0,
        ));
    }
    let mut turns = Vec::new();
    for t in 0..30u32 {
        let mut turn = WorkloadTurn::default();
        // Resets at turns 3, 6, …, 27: nine in thirty turns.
        if t > 0 && t % 3 == 0 {
            turn.events.push(LifecycleEvent::Reset);
            turn.demands.push(demand(&plan, Repr::Structured));
        }
        if t % 3 == 1 {
            turn.updates.push(plan.clone());
            turn.demands.push(demand(&plan, Repr::Full));
        }
        if t % 6 == 2 {
            let p = &prefs[usize::try_from(t / 6 % 2).unwrap_or(0)];
            turn.updates.push(p.clone());
            turn.demands.push(demand(p, Repr::Structured));
        }
        turns.push(turn);
    }
    Ok(workload("cascade_reset", pages, turns))
}
