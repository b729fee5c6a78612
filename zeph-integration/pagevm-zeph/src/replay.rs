//! The turn-by-turn replays CPU time is measured on: Zeph 0.21.4's deterministic paths, the
//! adapter, the adapter with every page already built, and counting each message once (the
//! least any path keeping Zeph-compatible counts does). Shared by the criterion bench and the
//! `side_by_side --cpu` example, so both time the same work.

use std::hint::black_box;

use zeph_llm::provider::Role;

use crate::compare::{CompareConfig, History, observed_turns};
use crate::zeph_paths::ZephPaths;
use crate::{AdapterError, PagedCompactor, ZephTokens};

/// Histories with their budgets fixed (a share of each history is counted here, once, so no
/// replay pays for it).
#[derive(Debug)]
pub struct Replays {
    runs: Vec<(History, CompareConfig)>,
    turns: usize,
}

impl Replays {
    /// `histories` under `config`, its budget share applied to each.
    #[must_use]
    pub fn new(histories: Vec<History>, config: &CompareConfig, tokens: &ZephTokens) -> Self {
        let turns = histories.iter().map(|(m, _)| observed_turns(m)).sum();
        let runs = histories
            .into_iter()
            .map(|h| {
                let c = config.for_history(tokens, &h.0);
                (h, c)
            })
            .collect();
        Self { runs, turns }
    }

    /// Model turns a replay runs a path for.
    #[must_use]
    pub fn turns(&self) -> usize {
        self.turns
    }

    /// Zeph's per-turn pipeline and the request `prepare_context` trims to the budget, before
    /// every model turn, each history on an empty token memo (a live session meets every
    /// message once).
    pub fn zeph(&self, tokens: &ZephTokens) {
        for ((messages, times), config) in &self.runs {
            let mut z = ZephPaths::new(
                config.manager(),
                tokens.fresh(),
                config.keep_recent,
                config.gap_minutes,
            );
            let mut v = Vec::with_capacity(messages.len());
            for (i, m) in messages.iter().enumerate() {
                if i > 0 && m.role == Role::Assistant {
                    let mut t = z.turn(&mut v, config.idle_minutes(times, i), 0);
                    black_box(z.request(&v, &mut t));
                }
                v.push(m.clone());
            }
        }
    }

    /// The adapter's microcompact and assembly before every model turn, each history on a new
    /// compactor with an empty token memo.
    ///
    /// # Errors
    /// [`AdapterError`] when the adapter fails on a history.
    pub fn pagevm(&self, tokens: &ZephTokens) -> Result<(), AdapterError> {
        for ((messages, times), config) in &self.runs {
            let mut a = PagedCompactor::with_tokens(config.adapter(), tokens.fresh())?;
            turn_by_turn(&mut a, messages, times, config)?;
        }
        Ok(())
    }

    /// One compactor per history with every page of the history already built.
    ///
    /// # Errors
    /// [`AdapterError`] when a page cannot be built.
    pub fn built(&self, tokens: &ZephTokens) -> Result<Vec<PagedCompactor>, AdapterError> {
        let mut out = Vec::with_capacity(self.runs.len());
        for ((messages, _), config) in &self.runs {
            let mut a = PagedCompactor::with_tokens(config.adapter(), tokens.fresh())?;
            for i in 1..=messages.len() {
                a.page(&messages[..i])?;
            }
            out.push(a);
        }
        Ok(out)
    }

    /// [`Self::pagevm`] on compactors from [`Self::built`]: the adapter's turn without
    /// building pages (caps left by an earlier replay stay, which only steadies selection).
    ///
    /// # Errors
    /// [`AdapterError`] when the adapter fails on a history.
    pub fn pagevm_built(&self, built: &mut [PagedCompactor]) -> Result<(), AdapterError> {
        for (((messages, times), config), a) in self.runs.iter().zip(built) {
            turn_by_turn(a, messages, times, config)?;
        }
        Ok(())
    }

    /// Every message counted once, each history on an empty token memo.
    pub fn count_once(&self, tokens: &ZephTokens) {
        for ((messages, _), _) in &self.runs {
            let t = tokens.fresh();
            for m in messages {
                black_box(t.message(m));
            }
        }
    }
}

fn turn_by_turn(
    a: &mut PagedCompactor,
    messages: &[zeph_llm::provider::Message],
    times: &[Option<i64>],
    config: &CompareConfig,
) -> Result<(), AdapterError> {
    for (i, m) in messages.iter().enumerate() {
        if i > 0 && m.role == Role::Assistant {
            black_box(a.microcompact(&messages[..i], config.idle_minutes(times, i)));
            black_box(a.assemble_within(&messages[..i], config.view_budget(), config.budget, 0)?);
        }
    }
    Ok(())
}
