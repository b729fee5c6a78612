//! One replay of one imported session under one policy at one budget, with the numbers
//! `pagevm replay --json` prints and the real-session evaluation tabulates.

use page_core::TokenCount;
use page_engine::RepresentationBuilder;
use page_import::Session;
use page_policy::{
    CacheMode, FaultCounts, LifecycleEvent, PolicyConfig, PolicyEngine, PolicyId, Pricing,
    Simulation,
};
use serde::Serialize;

use crate::measure::{ActionMeter, CostReport, QualityReport, RequestRecord};
use crate::retention::RetentionMeter;
use crate::{Converted, Directory, ReplayError, RetentionCounts, convert_with};

/// How a replay's requests are billed, and what it keeps besides its report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measures {
    /// Whether the decision trace is kept.
    pub trace: Trace,
    /// The provider's cache prices and rules.
    pub pricing: Pricing,
    /// How the cached prefix is found.
    pub cache_mode: CacheMode,
    /// Keep every billed request in [`SessionReplay::requests`].
    pub keep_requests: bool,
}

impl Default for Measures {
    /// No trace, `anthropic-5m`, `lcp`, no dump.
    fn default() -> Self {
        Self {
            trace: Trace::Drop,
            pricing: Pricing::ANTHROPIC_5M,
            cache_mode: CacheMode::Lcp,
            keep_requests: false,
        }
    }
}

/// The budget of a replay: tokens, or a fraction of the session's full history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// An absolute token budget.
    Tokens(u32),
    /// A fraction in (0, 1] of the session's full-history tokens, rounded down (at least 1).
    Fraction(f64),
}

impl Budget {
    /// Validates a fraction.
    ///
    /// # Errors
    /// [`ReplayError::InvalidBudget`] unless `f` is in (0, 1].
    pub fn fraction(f: f64) -> Result<Self, ReplayError> {
        if f.is_finite() && f > 0.0 && f <= 1.0 {
            Ok(Budget::Fraction(f))
        } else {
            Err(ReplayError::InvalidBudget(format!(
                "budget fraction must be in (0, 1], got {f}"
            )))
        }
    }

    /// Validates a token budget.
    ///
    /// # Errors
    /// [`ReplayError::InvalidBudget`] when `n` is 0.
    pub fn tokens(n: u32) -> Result<Self, ReplayError> {
        if n == 0 {
            Err(ReplayError::InvalidBudget(
                "budget must be at least 1 token".to_owned(),
            ))
        } else {
            Ok(Budget::Tokens(n))
        }
    }

    /// The token budget for a session whose full history is `history` tokens.
    #[must_use]
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a fraction in (0, 1] of a u64 history, clamped to u32"
    )]
    pub fn resolve(self, history: u64) -> u32 {
        match self {
            Budget::Tokens(n) => n,
            Budget::Fraction(f) => {
                ((history as f64 * f).floor() as u64).clamp(1, u64::from(u32::MAX)) as u32
            }
        }
    }
}

/// Counts of one kind of specific, summed over the measurement points (see [`crate::retention()`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindRetention {
    /// Specifics mentioned up to each measurement point.
    pub total: u64,
    /// Of those, present verbatim in the assembled prompt.
    pub resident: u64,
    /// Of those, resident or reachable through a resolvable handle in the prompt.
    pub recoverable: u64,
}

impl From<RetentionCounts> for KindRetention {
    fn from(c: RetentionCounts) -> Self {
        Self {
            total: c.total,
            resident: c.resident,
            recoverable: c.recoverable,
        }
    }
}

/// Retention per kind of specific.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    /// File paths.
    pub paths: KindRetention,
    /// Shell commands.
    pub commands: KindRetention,
    /// Identifiers.
    pub identifiers: KindRetention,
    /// Measurement points: turns that began with a compaction, or the last turn when none did.
    pub measured_turns: usize,
}

/// Token totals of a replay.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TokenReport {
    /// Every page at `full`: what a harness without paging would have to hold.
    pub full_history: u64,
    /// Mean tokens of the assembled context per turn, two decimals.
    pub assembled_mean: f64,
}

/// The result of one replay, in the shape `pagevm replay --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayReport {
    /// The session id.
    pub session: String,
    /// The source format.
    pub format: String,
    /// Turns of the workload.
    pub turns: u32,
    /// Tool calls in the session, repeated ones included.
    pub tool_calls: usize,
    /// The policy.
    pub policy: String,
    /// The token budget.
    pub budget: u32,
    /// Faults per kind.
    pub faults: FaultCounts,
    /// Their sum.
    pub total_faults: u64,
    /// Repeated calls whose result was still reachable (not faults).
    pub duplicate_signature_alerts: u64,
    /// Demands served by what was resident or resolvable.
    pub hits: u64,
    /// `(total_faults + alerts) / (hits + 1)`, three decimals.
    pub thrash: f64,
    /// Whether the minimum-fidelity set fit the budget at every turn.
    pub min_fidelity_fits: bool,
    /// Required installs that did not fit (physical insufficiency).
    pub invariant_pressure: u64,
    /// Hard compactions the budget forced.
    pub compactions: usize,
    /// Retention of specifics after each compaction. A specific counts as recoverable when a
    /// handle or the directory names it: names only, not content (see `quality`).
    pub retention: RetentionReport,
    /// Billed input under prompt caching.
    pub cost: CostReport,
    /// Quality by content, at every recorded request.
    pub quality: QualityReport,
    /// Token totals.
    pub tokens: TokenReport,
    /// Whether the session carried a page directory.
    pub directory: bool,
    /// Events that could not become pages.
    pub skipped: usize,
}

/// A replay with what it was computed from, for callers that draw or trace it.
#[derive(Debug, Clone)]
pub struct SessionReplay {
    /// The numbers.
    pub report: ReplayReport,
    /// The converted session.
    pub converted: Converted,
    /// The simulation, with its decision trace.
    pub run: Simulation,
    /// Every billed request, when [`Measures::keep_requests`] asked for them.
    pub requests: Vec<RequestRecord>,
}

/// Whether a replay keeps its decision trace. A trace lists every page's level at every turn,
/// so it grows with turns × pages; without it a replay holds only the session and the
/// current residency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trace {
    /// Keep it in [`SessionReplay::run`] (for decision-trace files and charts).
    Keep,
    /// Measure as the replay goes and keep no trace.
    Drop,
}

/// Converts `session` at the budget `budget` resolves to and replays it under `policy`.
///
/// # Errors
/// [`ReplayError`] when the session cannot be converted or its workload does not validate.
pub fn replay_session<C: page_core::TokenCounter>(
    session: &Session,
    format: &str,
    builder: &RepresentationBuilder<C>,
    budget: Budget,
    policy: PolicyId,
    directory: Directory,
    measures: &Measures,
) -> Result<SessionReplay, ReplayError> {
    let history = full_history_tokens(session, format, builder)?;
    let tokens = budget.resolve(history);
    let converted = convert_with(session, format, builder, TokenCount::new(tokens), directory)?;
    replay_converted(
        converted,
        &session.id,
        format,
        tokens,
        policy,
        directory,
        measures,
    )
}

/// Replays an already converted session (converted at `budget` tokens, with or without the
/// directory as `directory` says) under `policy`: what [`replay_session`] does after
/// converting, for callers that replay one conversion under several policies.
///
/// # Errors
/// [`ReplayError::Workload`] when the converted workload does not validate.
pub fn replay_converted(
    converted: Converted,
    session: &str,
    format: &str,
    budget: u32,
    policy: PolicyId,
    directory: Directory,
    measures: &Measures,
) -> Result<SessionReplay, ReplayError> {
    let tokens = budget;
    let workload = converted
        .workload
        .validate()
        .map_err(|e| ReplayError::Workload {
            session: session.to_owned(),
            reason: e.to_string(),
        })?;
    let config = PolicyConfig::preset(policy);
    let mut engine = PolicyEngine::new(&workload, &config, TokenCount::new(tokens));
    engine.set_record_trace(measures.trace == Trace::Keep);
    let mut meter = RetentionMeter::new(&converted, &config);
    let mut actions = ActionMeter::new(
        &converted,
        tokens,
        measures.pricing,
        measures.cache_mode,
        measures.keep_requests,
    );
    let (mut used, mut turns) = (0u64, 0u64);
    let mut compactions = 0;
    let mut last = None;
    loop {
        actions.before_turn(engine.next_turn(), &mut engine);
        let Some(stats) = engine.step() else {
            break;
        };
        used += u64::from(stats.tokens_used.get());
        turns += 1;
        let compacted = converted
            .workload
            .turns
            .get(stats.turn as usize)
            .is_some_and(|t| {
                t.events
                    .iter()
                    .any(|e| matches!(e, LifecycleEvent::Compaction { .. }))
            });
        if compacted {
            compactions += 1;
            meter.measure(stats.turn, engine.residency().iter().copied().enumerate());
        }
        last = Some(stats.turn);
    }
    // Without a compaction, the prompt of the last turn is the one measured.
    if let (0, Some(turn)) = (compactions, last) {
        meter.measure(turn, engine.residency().iter().copied().enumerate());
    }
    let r = meter.finish();
    let (cost, quality, requests) = actions.finish();
    let run = engine.into_simulation();
    #[expect(clippy::cast_precision_loss, reason = "token sums stay far below 2^53")]
    let assembled_mean = round(used as f64 / turns.max(1) as f64, 100.0);
    let report = ReplayReport {
        session: session.to_owned(),
        format: format.to_owned(),
        turns: run.turns,
        tool_calls: converted.tool_calls,
        policy: policy.code().to_owned(),
        budget: tokens,
        faults: run.faults,
        total_faults: run.total_faults,
        duplicate_signature_alerts: run.duplicate_signature_alerts,
        hits: run.hits,
        thrash: round(run.thrash, 1000.0),
        min_fidelity_fits: run.min_fidelity_fits,
        invariant_pressure: run.invariant_pressure.count,
        compactions,
        retention: RetentionReport {
            paths: r.paths.into(),
            commands: r.commands.into(),
            identifiers: r.identifiers.into(),
            measured_turns: r.measured_turns.len(),
        },
        cost,
        quality,
        tokens: TokenReport {
            full_history: converted.full_history_tokens,
            assembled_mean,
        },
        directory: directory == Directory::On,
        skipped: converted.skipped.len(),
    };
    Ok(SessionReplay {
        report,
        converted,
        run,
        requests,
    })
}

/// Tokens of the session's whole history at `full` (no compaction, no directory).
///
/// # Errors
/// [`ReplayError`] when the session cannot be converted.
pub fn full_history_tokens<C: page_core::TokenCounter>(
    session: &Session,
    format: &str,
    builder: &RepresentationBuilder<C>,
) -> Result<u64, ReplayError> {
    let probe = convert_with(
        session,
        format,
        builder,
        TokenCount::new(u32::MAX),
        Directory::Off,
    )?;
    Ok(probe.full_history_tokens)
}

/// Rounds to `1/scale` so JSON floats are short and stable.
fn round(x: f64, scale: f64) -> f64 {
    if x.is_finite() {
        (x * scale).round() / scale + 0.0
    } else {
        0.0
    }
}
