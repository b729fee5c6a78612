//! What each family's generator does, turn by turn, over the shared machinery of
//! [`super::Gen`]; and the scaled workload of the benchmarks.

use page_core::{CompactionKind, PageId, PageType, PinClass, Repr, SessionId};
use page_policy::{LifecycleEvent, Recall, RecallAnswer, Workload};
use rand::Rng;

use crate::error::EvalError;

use super::{Family, Gen, RERUN_RATE, gen_err, tokens};

pub(super) fn evidence_heavy(g: &mut Gen) -> Result<(), EvalError> {
    g.bootstrap(2)?;
    g.constraints(2, None)?;
    let plan = g.plan("plan", None)?;
    g.preferences(2)?;
    let n_turns = 72;
    // Two compactions in the run, at roughly a third and two thirds.
    let compactions = [24 + g.rng.random_range(0..4), 48 + g.rng.random_range(0..4)];
    for t in 0..n_turns {
        let mut turn = g.turn();
        if compactions.contains(&t) {
            turn.event(LifecycleEvent::Compaction {
                kind: CompactionKind::Soft,
            });
        }
        if t % 8 == 3 {
            turn.update(&plan);
        }
        let calls = if g.rng.random_bool(0.25) { 2 } else { 1 };
        for _ in 0..calls {
            g.tool_call(&mut turn, RERUN_RATE, None)?;
        }
        let rerefs = g.rng.random_range(1..=3);
        g.re_reference(&mut turn, rerefs, &[0.45, 0.35, 0.20]);
        if t % 3 == 0 {
            g.demand(&mut turn, &plan, Repr::Structured);
        }
        g.push(turn);
    }
    Ok(())
}

pub(super) fn compaction_heavy(g: &mut Gen) -> Result<(), EvalError> {
    g.bootstrap(3)?;
    g.constraints(3, None)?;
    let plan = g.plan("plan", None)?;
    let prefs = g.preferences(2)?;
    let convs = g.conversations(16, None)?;
    let n_turns = 64;
    let mut next_compaction = g.rng.random_range(5..=9);
    let kinds = [
        CompactionKind::Hard,
        CompactionKind::Hard,
        CompactionKind::Soft,
        CompactionKind::Micro,
    ];
    for t in 0..n_turns {
        let mut turn = g.turn();
        if t == next_compaction {
            let kind = kinds[g.rng.random_range(0..kinds.len())];
            turn.event(LifecycleEvent::Compaction { kind });
            next_compaction = t + g.rng.random_range(5..=9);
        }
        if g.rng.random_bool(0.25) {
            turn.update(&plan);
        }
        if g.rng.random_bool(0.08) {
            let p = &prefs[g.rng.random_range(0..prefs.len())];
            turn.update(p);
        }
        // The conversation segment of the current stretch, read compressed.
        let conv = &convs[(t / 4).min(convs.len() - 1)];
        g.demand(&mut turn, conv, Repr::Compressed);
        if g.rng.random_bool(0.6) {
            g.tool_call(&mut turn, RERUN_RATE, None)?;
        }
        g.re_reference(&mut turn, 1, &[0.6, 0.3, 0.1]);
        if t % 2 == 0 {
            g.demand(&mut turn, &plan, Repr::Structured);
        }
        g.push(turn);
    }
    Ok(())
}

pub(super) fn reset_heavy(g: &mut Gen) -> Result<(), EvalError> {
    g.bootstrap(1)?;
    g.constraints(2, None)?;
    let plan = g.plan("plan", None)?;
    let prefs = g.preferences(4)?;
    let n_turns = 66;
    let mut next_reset = g.rng.random_range(7..=12);
    let mut just_reset = false;
    for t in 0..n_turns {
        let mut turn = g.turn();
        if t == next_reset {
            turn.event(LifecycleEvent::Reset);
            next_reset = t + g.rng.random_range(7..=12);
            just_reset = true;
        }
        if g.rng.random_bool(0.3) {
            turn.update(&plan);
        }
        if g.rng.random_bool(0.2) {
            let p = &prefs[g.rng.random_range(0..prefs.len())];
            turn.update(p);
        }
        if just_reset {
            // Resuming after a reset: the agent re-reads its plan and the preferences.
            g.demand(&mut turn, &plan, Repr::Structured);
            for p in &prefs {
                g.demand(&mut turn, p, Repr::Structured);
            }
            just_reset = false;
        } else {
            g.tool_call(&mut turn, RERUN_RATE, None)?;
            let n = g.rng.random_range(1..=2);
            g.re_reference(&mut turn, n, &[0.5, 0.3, 0.2]);
            if t % 2 == 1 {
                g.demand(&mut turn, &plan, Repr::Structured);
            }
        }
        g.push(turn);
    }
    Ok(())
}

pub(super) fn multi_session(g: &mut Gen) -> Result<(), EvalError> {
    g.bootstrap(2)?;
    let prefs = g.preferences(3)?;
    let notes = g.project_notes(2)?;
    let n_sessions = 4;
    let per_session = 17;
    for s in 0..n_sessions {
        let session = SessionId::new(format!("s{}", s + 1)).map_err(gen_err)?;
        g.begin_session();
        g.constraints(1, Some(&session))?;
        let plan = g.plan(&format!("plan_s{}", s + 1), Some(&session))?;
        let compaction_at = g.rng.random_range(7..=11);
        for t in 0..per_session {
            let mut turn = g.turn();
            if t == 0 {
                if s > 0 {
                    turn.event(LifecycleEvent::SessionEnd);
                }
                turn.event(LifecycleEvent::SessionStart {
                    session: session.clone(),
                });
                // A new session recalls the project memory: the shared preferences match, the
                // notes of earlier sessions too; the very first recall finds nothing yet.
                let answer = if s == 0 {
                    RecallAnswer::Empty
                } else {
                    let pages: Vec<PageId> = prefs.iter().chain(&notes).cloned().collect();
                    for p in &pages {
                        // Recall hits are demanded at their minimum fidelity.
                        g.count(&mut turn, p, Repr::Pointer);
                    }
                    RecallAnswer::Hit { pages }
                };
                turn.recall(Recall {
                    query: "project preferences and notes".to_owned(),
                    answer,
                });
            } else if t == compaction_at {
                turn.event(LifecycleEvent::Compaction {
                    kind: CompactionKind::Hard,
                });
            }
            if g.rng.random_bool(0.25) {
                turn.update(&plan);
            }
            if g.rng.random_bool(0.12) {
                let p = &prefs[g.rng.random_range(0..prefs.len())];
                turn.update(p);
            }
            if t > 0 {
                g.tool_call(&mut turn, RERUN_RATE, Some(&session))?;
                g.re_reference(&mut turn, 1, &[0.5, 0.3, 0.2]);
                // Project notes and preferences are consulted across sessions.
                if g.rng.random_bool(0.3) {
                    let n = &notes[g.rng.random_range(0..notes.len())];
                    g.demand(&mut turn, n, Repr::Structured);
                }
                if g.rng.random_bool(0.2) {
                    let p = &prefs[g.rng.random_range(0..prefs.len())];
                    g.demand(&mut turn, p, Repr::Structured);
                }
            }
            if t % 2 == 0 {
                g.demand(&mut turn, &plan, Repr::Structured);
            }
            g.push(turn);
        }
    }
    Ok(())
}

/// A synthetic workload of `n_pages` pages and `n_turns` turns for scaling benchmarks: two
/// bootstrap pages, two constraints, a plan, and evidence pages (all available from the start)
/// of which each turn demands four, recency-biased, plus the plan every other turn.
///
/// # Errors
/// [`EvalError::Generate`] if an id is rejected (a bug).
pub fn scaled_workload(n_pages: u32, n_turns: u32, seed: u64) -> Result<Workload, EvalError> {
    let mut g = Gen::new(Family::EvidenceHeavy, seed);
    g.bootstrap(2)?;
    g.constraints(2, None)?;
    let plan = g.plan("plan", None)?;
    let n_evidence = n_pages.saturating_sub(5).max(1);
    let mut ids = Vec::new();
    for i in 0..n_evidence {
        let id = PageId::new(format!("x{i}")).map_err(gen_err)?;
        let full = g.rng.random_range(40..=90);
        let mut p = Gen::page(
            id.clone(),
            PageType::Evidence,
            tokens(full, Some(full * 2 / 5), (full / 5).max(6), Some(5)),
        );
        p.pin = Some(PinClass::Soft);
        p.base_utility = 5.0;
        p.recompute_cost = f64::from(g.rng.random_range(6..=12));
        g.pages.push(p);
        ids.push(id);
    }
    let mut cursor = 0usize;
    for t in 0..n_turns {
        let mut turn = g.turn();
        for _ in 0..4 {
            // Mostly near a moving cursor (locality), sometimes anywhere.
            let k = if g.rng.random_bool(0.8) {
                (cursor + g.rng.random_range(0..8)) % ids.len()
            } else {
                g.rng.random_range(0..ids.len())
            };
            let level = if g.rng.random_bool(0.5) {
                Repr::Structured
            } else {
                Repr::Compressed
            };
            if !turn.turn.demands.iter().any(|d| d.page == ids[k]) {
                g.demand(&mut turn, &ids[k], level);
            }
        }
        if t % 2 == 0 {
            g.demand(&mut turn, &plan, Repr::Structured);
        }
        cursor = (cursor + 3) % ids.len();
        g.push(turn);
    }
    let mut w = g.finish();
    w.id = format!("scaled_{n_pages}");
    w.family = "scaled".to_owned();
    Ok(w)
}
