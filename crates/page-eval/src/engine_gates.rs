//! The six Tier-1 gates end to end: through the lifecycle engine of `page-engine`, with real
//! token counts, over the SQLite store, rather than through the replay simulator.
//!
//! Each gate is a scripted session that provokes the failure the gate is about and checks,
//! against the engine's output and the store's committed state, that it did not happen.
//! `passed` is computed from what was observed; the detail says what that was.

use std::path::Path;

use page_core::{CompactionKind, PageId, Repr, Scope, SessionId, TokenCount, ToolCallId};
use page_engine::{
    Engine, EngineConfig, ModelOutput, RulesKind, ToolCallRequest, ToolDecision, ToolOutput,
};
use page_store_sqlite::SqliteStore;
use page_tokenizer::{BpeCounter, Encoding};
use page_writeback::{
    EntryState, EvidenceRef, FieldPath, JournalStore, Op, PageStore, PrincipalId, ReasonCode,
    Update,
};
use serde::Serialize;

use crate::error::EvalError;

/// The verdict of one gate run through the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineGate {
    /// The gate's stable code (the paper's Table 3 order).
    pub gate: &'static str,
    /// Whether the engine kept the invariant the gate checks.
    pub passed: bool,
    /// What was observed.
    pub detail: String,
}

type Db = Engine<SqliteStore, BpeCounter>;

const SYSTEM: &str = "You are a careful coding agent.\n\
- Never push to main without review.\n\
- Run the test suite before every commit.\n\
- Ask before deleting files.";

/// Runs the six gates, each in its own SQLite store under `dir`.
///
/// # Errors
/// [`EvalError::Engine`] when the engine or the store fails outright (a gate that observes
/// the failure it is about reports `passed: false` instead).
pub fn run_engine_gates(dir: &Path) -> Result<Vec<EngineGate>, EvalError> {
    let counter = BpeCounter::new(Encoding::O200kBase).map_err(engine_err)?;
    let open = |name: &str| -> Result<Db, EvalError> {
        let store = SqliteStore::open(dir.join(format!("{name}.db"))).map_err(engine_err)?;
        let config = EngineConfig::new(id(SessionId::new(name))?, id(PrincipalId::new("agent"))?);
        Engine::session_start(store, counter.clone(), config).map_err(engine_err)
    };
    Ok(vec![
        post_compaction_bootstrap(open("post_compaction_bootstrap")?)?,
        reset_flush_miss(open("reset_flush_miss")?)?,
        threshold_jump_race(open("threshold_jump_race")?)?,
        silent_recall_visibility(open("silent_recall_visibility")?)?,
        unsafe_persistence_rejection(open("unsafe_persistence_rejection")?)?,
        evidence_churn_duplicate_tool(open("evidence_churn_duplicate_tool")?)?,
    ])
}

fn engine_err(e: impl std::fmt::Display) -> EvalError {
    EvalError::Engine(e.to_string())
}

fn id<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, EvalError> {
    r.map_err(engine_err)
}

fn listing(n: usize, tag: &str) -> String {
    (0..n)
        .map(|i| format!("src/{tag}/part_{i}.rs:{i}: pub fn step_{i}(input: &str) -> usize\n"))
        .collect()
}

/// One response with one call per `(tool, args)`, each run with `output` unless served.
fn tool_turn(
    e: &mut Db,
    prefix: &str,
    calls: &[(&str, String)],
    output: &dyn Fn(usize) -> String,
) -> Result<Vec<ToolDecision>, EvalError> {
    let requests: Vec<ToolCallRequest> = calls
        .iter()
        .enumerate()
        .map(|(k, (tool, args))| {
            Ok(ToolCallRequest {
                call_id: id(ToolCallId::new(format!("{prefix}-{k}")))?,
                tool: (*tool).to_owned(),
                args_json: args.clone(),
                page: None,
            })
        })
        .collect::<Result<_, EvalError>>()?;
    e.post_model(ModelOutput {
        thinking: vec![format!("plan for {prefix}")],
        tool_calls: requests.clone(),
        ..ModelOutput::default()
    })
    .map_err(engine_err)?;
    let mut decisions = Vec::new();
    for (k, r) in requests.iter().enumerate() {
        let d = e.tool_before(&r.call_id).map_err(engine_err)?;
        if d == ToolDecision::Run {
            let out = ToolOutput {
                output: output(k),
                is_error: false,
                exit_code: Some(0),
            };
            e.tool_after(&r.call_id, &out).map_err(engine_err)?;
        }
        decisions.push(d);
    }
    Ok(decisions)
}

fn level_of(a: &page_engine::Assembly, page: &PageId) -> Repr {
    a.placed
        .iter()
        .find(|p| &p.page == page)
        .map_or(Repr::None, |p| p.level)
}

/// Gate 1: a hard compaction mid-task under a tight budget; the system prompt must be back in
/// the next prompt at its minimum or better.
fn post_compaction_bootstrap(mut e: Db) -> Result<EngineGate, EvalError> {
    let boot = e
        .add_rules(RulesKind::Bootstrap, SYSTEM, "system prompt")
        .map_err(engine_err)?;
    for t in 0..6 {
        let calls = [("read_file", format!(r#"{{"path":"src/m{t}.rs"}}"#))];
        tool_turn(&mut e, &format!("t{t}"), &calls, &|_| listing(60, "m"))?;
        e.prompt_assemble(TokenCount::new(3_000))
            .map_err(engine_err)?;
    }
    e.compaction(CompactionKind::Hard).map_err(engine_err)?;
    let a = e
        .prompt_assemble(TokenCount::new(400))
        .map_err(engine_err)?;
    let level = level_of(&a, &boot);
    let faults = e.faults().post_compaction_bootstrap;
    Ok(EngineGate {
        gate: "post_compaction_bootstrap",
        passed: level >= Repr::Structured && faults == 0 && a.tool_pairs_intact(),
        detail: format!(
            "after a hard compaction at a 400-token budget the system prompt is at {level}; \
             {faults} post-compaction bootstrap fault(s); prompt {} tokens",
            a.tokens.get()
        ),
    })
}

fn plan_update(plan: &PageId, op: Op, value: &str) -> Result<Update, EvalError> {
    Ok(Update::new(
        plan.clone(),
        id(FieldPath::new("steps"))?,
        op,
        value,
        Scope::Session(id(SessionId::new("reset_flush_miss"))?),
        EvidenceRef::Page(plan.clone()),
        id(PrincipalId::new("agent"))?,
    ))
}

/// Gate 2: a plan step and a preference change, then `/reset` before any turn boundary; both
/// must be committed by the reset, not lost with the working set.
fn reset_flush_miss(mut e: Db) -> Result<EngineGate, EvalError> {
    let plan = e
        .add_plan(
            "migrate the config loader",
            &["read the loader".to_owned(), "port it".to_owned()],
            0,
        )
        .map_err(engine_err)?;
    let update = plan_update(&plan, Op::Append, r#""delete the old loader""#)?;
    e.post_model(ModelOutput {
        text: Some("Adding a clean-up step.".to_owned()),
        updates: vec![update],
        ..ModelOutput::default()
    })
    .map_err(engine_err)?;
    let pref = e
        .add_preference("indent", "tabs", "user message")
        .map_err(engine_err)?;
    e.reset().map_err(engine_err)?;
    let steps = e
        .store()
        .field(&plan, &id(FieldPath::new("steps"))?)
        .map_err(engine_err)?
        .map(|f| f.value);
    let pref_stored = e.store().page(&pref).map_err(engine_err)?.is_some();
    let expected = serde_json::json!(["read the loader", "port it", "delete the old loader"]);
    let misses = e.faults().flush_miss;
    Ok(EngineGate {
        gate: "reset_flush_miss",
        passed: steps.as_ref() == Some(&expected) && pref_stored && misses == 0,
        detail: format!(
            "after /reset the store holds steps {} and the preference: {pref_stored}; \
             {misses} flush miss(es)",
            steps.map_or_else(|| "(none)".to_owned(), |v| v.to_string())
        ),
    })
}

/// Gate 3: one tool result large enough to jump from well below the budget to far above it
/// in a single turn; the prompt must stay within budget with the rules and the group whole.
fn threshold_jump_race(mut e: Db) -> Result<EngineGate, EvalError> {
    let boot = e
        .add_rules(RulesKind::Bootstrap, SYSTEM, "system prompt")
        .map_err(engine_err)?;
    e.user_message("Find every handler in the tree.")
        .map_err(engine_err)?;
    e.prompt_assemble(TokenCount::new(6_000))
        .map_err(engine_err)?;
    let calls = [("bash", r#"{"cmd":"grep -rn 'fn step_' ."}"#.to_owned())];
    tool_turn(&mut e, "jump", &calls, &|_| listing(40_000, "tree"))?;
    let a = e
        .prompt_assemble(TokenCount::new(6_000))
        .map_err(engine_err)?;
    let boot_level = level_of(&a, &boot);
    let f = e.faults();
    Ok(EngineGate {
        gate: "threshold_jump_race",
        passed: a.tokens.get() <= 6_000
            && boot_level >= Repr::Structured
            && a.tool_pairs_intact()
            && f.pinned_invariant_miss == 0,
        detail: format!(
            "a {}-line result arrived at once; prompt {} of 6000 tokens, system prompt at \
             {boot_level}, tool pair intact: {}, pinned misses {}",
            40_000,
            a.tokens.get(),
            a.tool_pairs_intact(),
            f.pinned_invariant_miss
        ),
    })
}

/// Gate 4: recalls answered with no match and with a denial; each must reach the prompt as
/// a visible note naming why.
fn silent_recall_visibility(mut e: Db) -> Result<EngineGate, EvalError> {
    let own = Scope::Session(id(SessionId::new("silent_recall_visibility"))?);
    let foreign = Scope::Session(id(SessionId::new("someone_else"))?);
    let miss = e.recall("deploy key rotation", &own).map_err(engine_err)?;
    let denied = e
        .recall("deploy key rotation", &foreign)
        .map_err(engine_err)?;
    let a = e
        .prompt_assemble(TokenCount::new(2_000))
        .map_err(engine_err)?;
    let shown = |needle: &str| {
        a.messages
            .iter()
            .flat_map(|m| &m.blocks)
            .any(|b| matches!(b, page_engine::Block::Text { text, .. } if text.contains(needle)))
    };
    let visible = shown("no committed page matches") && shown("denied:");
    Ok(EngineGate {
        gate: "silent_recall_visibility",
        passed: miss.code() == "no_match" && denied.code() == "denied" && visible,
        detail: format!(
            "outcomes {} and {}, both shown to the agent: {visible} (a backend error is \
             surfaced the same way; the SQLite store cannot be made to fail from here)",
            miss.code(),
            denied.code()
        ),
    })
}

/// Gate 5: destructive updates (`overwrite`, `remove`) of committed plan state must be
/// rejected with `DESTRUCTIVE_OP`, leaving the committed value intact.
fn unsafe_persistence_rejection(mut e: Db) -> Result<EngineGate, EvalError> {
    let plan = e
        .add_plan("keep the audit log", &["collect".to_owned()], 0)
        .map_err(engine_err)?;
    e.prompt_assemble(TokenCount::new(2_000))
        .map_err(engine_err)?;
    let scope = Scope::Session(id(SessionId::new("unsafe_persistence_rejection"))?);
    let update = |op, value: &str| -> Result<Update, EvalError> {
        Ok(Update::new(
            plan.clone(),
            id(FieldPath::new("steps"))?,
            op,
            value,
            scope.clone(),
            EvidenceRef::Page(plan.clone()),
            id(PrincipalId::new("agent"))?,
        ))
    };
    e.post_model(ModelOutput {
        updates: vec![update(Op::Overwrite, "[]")?, update(Op::Remove, "")?],
        ..ModelOutput::default()
    })
    .map_err(engine_err)?;
    e.prompt_assemble(TokenCount::new(2_000))
        .map_err(engine_err)?;
    let entries = e
        .store()
        .entries(&id(SessionId::new("unsafe_persistence_rejection"))?)
        .map_err(engine_err)?;
    let rejected: Vec<ReasonCode> = entries
        .iter()
        .filter_map(|entry| match entry.state() {
            EntryState::Rejected(r) => Some(r.code()),
            _ => None,
        })
        .collect();
    let steps = e
        .store()
        .field(&plan, &id(FieldPath::new("steps"))?)
        .map_err(engine_err)?
        .map(|f| f.value);
    let intact = steps == Some(serde_json::json!(["collect"]));
    Ok(EngineGate {
        gate: "unsafe_persistence_rejection",
        passed: rejected == [ReasonCode::DestructiveOp, ReasonCode::DestructiveOp] && intact,
        detail: format!(
            "rejections {:?}; committed steps intact: {intact}",
            rejected.iter().map(|r| r.code()).collect::<Vec<_>>()
        ),
    })
}

/// Gate 6: 24 tool results under a budget far smaller than their sum, then the same 24 calls
/// again; every repeat must be served from the store, none re-run.
fn evidence_churn_duplicate_tool(mut e: Db) -> Result<EngineGate, EvalError> {
    e.add_rules(RulesKind::Bootstrap, SYSTEM, "system prompt")
        .map_err(engine_err)?;
    let call = |k: usize| ("read_file", format!(r#"{{"path":"src/churn_{k}.rs"}}"#));
    for k in 0..24 {
        tool_turn(&mut e, &format!("first{k}"), &[call(k)], &|_| {
            listing(80, "churn")
        })?;
        e.prompt_assemble(TokenCount::new(1_200))
            .map_err(engine_err)?;
    }
    let mut served = 0;
    let mut broken = 0;
    for k in 0..24 {
        let d = tool_turn(&mut e, &format!("again{k}"), &[call(k)], &|_| {
            listing(80, "churn")
        })?;
        served += d
            .iter()
            .filter(|d| matches!(d, ToolDecision::Served { .. }))
            .count();
        let a = e
            .prompt_assemble(TokenCount::new(1_200))
            .map_err(engine_err)?;
        broken += usize::from(!a.tool_pairs_intact());
    }
    let f = e.faults();
    Ok(EngineGate {
        gate: "evidence_churn_duplicate_tool",
        passed: served == 24 && f.duplicate_tool == 0 && f.refetch == 0 && broken == 0,
        detail: format!(
            "{served} of 24 repeated calls served from the store without running the tool; \
             duplicate-tool faults {}, refetches {}, prompts with a broken tool pair {broken}",
            f.duplicate_tool, f.refetch
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gate_passes_through_the_engine_on_sqlite() -> Result<(), EvalError> {
        let dir = tempfile::tempdir().map_err(|e| EvalError::Engine(e.to_string()))?;
        let gates = run_engine_gates(dir.path())?;
        let codes: Vec<&str> = gates.iter().map(|g| g.gate).collect();
        assert_eq!(codes, crate::gates::GATES);
        for g in &gates {
            assert!(g.passed, "{}: {}", g.gate, g.detail);
        }
        // What `pagevm gates --json` prints: deterministic, byte for byte.
        let json = serde_json::to_string_pretty(&gates).map_err(EvalError::Serialize)?;
        expect_test::expect![[r#"
            [
              {
                "gate": "post_compaction_bootstrap",
                "passed": true,
                "detail": "after a hard compaction at a 400-token budget the system prompt is at full; 0 post-compaction bootstrap fault(s); prompt 234 tokens"
              },
              {
                "gate": "reset_flush_miss",
                "passed": true,
                "detail": "after /reset the store holds steps [\"read the loader\",\"port it\",\"delete the old loader\"] and the preference: true; 0 flush miss(es)"
              },
              {
                "gate": "threshold_jump_race",
                "passed": true,
                "detail": "a 40000-line result arrived at once; prompt 488 of 6000 tokens, system prompt at full, tool pair intact: true, pinned misses 0"
              },
              {
                "gate": "silent_recall_visibility",
                "passed": true,
                "detail": "outcomes no_match and denied, both shown to the agent: true (a backend error is surfaced the same way; the SQLite store cannot be made to fail from here)"
              },
              {
                "gate": "unsafe_persistence_rejection",
                "passed": true,
                "detail": "rejections [\"DESTRUCTIVE_OP\", \"DESTRUCTIVE_OP\"]; committed steps intact: true"
              },
              {
                "gate": "evidence_churn_duplicate_tool",
                "passed": true,
                "detail": "24 of 24 repeated calls served from the store without running the tool; duplicate-tool faults 0, refetches 0, prompts with a broken tool pair 0"
              }
            ]"#]].assert_eq(&json);
        Ok(())
    }
}
