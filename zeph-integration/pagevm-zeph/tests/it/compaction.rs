//! The replacements of Zeph's paths: assembly under budget, soft, hard (with and without the
//! LLM summarizer), microcompact, and `CompactionState`.

use std::sync::Arc;
use std::time::Duration;

use pagevm_zeph::{
    AdapterConfig, HardOutcome, LlmSummarizer, PagedCompactor, SummarySource, ZephTokens,
    orphaned_pairs,
};
use zeph_context::budget::ContextBudget;
use zeph_context::manager::{CompactionState, ContextManager};
use zeph_context::summarization::SummarizationDeps;
use zeph_llm::any::AnyProvider;
use zeph_llm::mock::MockProvider;
use zeph_llm::provider::{MessagePart, MessageVisibility, Role};

use crate::session;

fn manager(max: usize) -> ContextManager {
    let mut m = ContextManager::new();
    m.budget = Some(ContextBudget::new(max, 0.0));
    m.compaction_preserve_tail = 1;
    m
}

fn compactor() -> PagedCompactor {
    PagedCompactor::new(AdapterConfig {
        preserve_tail: 1,
        ..AdapterConfig::default()
    })
    .unwrap()
}

fn summarizer(provider: MockProvider, timeout_ms: u64) -> LlmSummarizer {
    LlmSummarizer {
        deps: SummarizationDeps {
            provider: AnyProvider::Mock(provider),
            llm_timeout: Duration::from_millis(timeout_ms),
            token_counter: Arc::new(ZephTokens::new()),
            structured_summaries: false,
            on_anchored_summary: None,
        },
        guidelines: String::new(),
    }
}

#[test]
fn assembly_fits_budgets_and_degrades_before_dropping() {
    let history = session();
    let mut c = compactor();
    let full = c.assemble(&history, usize::MAX, 0).unwrap();
    assert_eq!(full.tokens, ZephTokens::new().context(&history));
    let mut last = full.tokens;
    for budget in [full.tokens * 3 / 4, full.tokens / 2, full.tokens / 4] {
        let a = c.assemble(&history, budget, 0).unwrap();
        assert!(a.tokens <= budget, "{} > {budget}", a.tokens);
        assert!(a.tokens <= last);
        last = a.tokens;
        assert_eq!(orphaned_pairs(&a.messages), 0);
        // The preserved tail (the last message) is verbatim.
        assert_eq!(
            a.messages.last().unwrap().content,
            history.last().unwrap().content
        );
    }
    // At half the tokens, every tool pair is still there, degraded rather than dropped.
    let half = c.assemble(&history, full.tokens / 2, 0).unwrap();
    let results = half
        .messages
        .iter()
        .flat_map(|m| &m.parts)
        .filter(|p| matches!(p, MessagePart::ToolResult { .. }))
        .count();
    assert_eq!(results, 3);
}

#[test]
fn soft_compaction_degrades_evidence_instead_of_blanking() {
    let history = session();
    let mut c = compactor();
    let full = c.assemble(&history, usize::MAX, 0).unwrap().tokens;
    let m = manager(full);
    let soft = c.soft_compact(&history, &m, 0).unwrap();
    assert!(
        soft.tokens as f32 <= full as f32 * 0.60 + 1.0,
        "{} of {full}",
        soft.tokens
    );
    // No result is empty or a sentinel: each still names its error and file.
    for p in soft.messages.iter().flat_map(|m| &m.parts) {
        if let MessagePart::ToolResult { content, .. } = p {
            assert!(content.contains(".rs"), "{content}");
        }
    }
    assert_eq!(m.compaction_state(), CompactionState::Ready);
    // Deterministic: the same inputs give the same messages.
    let again = compactor().soft_compact(&history, &m, 0).unwrap();
    assert_eq!(
        format!("{:?}", soft.messages),
        format!("{:?}", again.messages)
    );
}

#[tokio::test(start_paused = true)]
async fn hard_compaction_honours_compaction_state() {
    let history = session();
    let mut c = compactor();
    let full = c.assemble(&history, usize::MAX, 0).unwrap().tokens;
    let mut m = manager(full / 6);
    let (out, a) = c.hard_compact(&history, &mut m, None, 0).await.unwrap();
    assert!(
        matches!(
            out,
            HardOutcome::Compacted {
                summary: SummarySource::Deterministic,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(
        m.compaction_state(),
        CompactionState::CompactedThisTurn { cooldown: 2 }
    );
    assert_eq!(orphaned_pairs(&a.messages), 0);
    let summary = a
        .messages
        .iter()
        .find(|m| {
            m.parts
                .iter()
                .any(|p| matches!(p, MessagePart::Summary { .. }))
        })
        .unwrap();
    assert_eq!(summary.metadata.visibility, MessageVisibility::AgentOnly);
    assert_eq!(summary.role, Role::System);
    // Same turn: skipped. Next turns: cooling, then ready again.
    let (out, _) = c.hard_compact(&history, &mut m, None, 0).await.unwrap();
    assert_eq!(
        out,
        HardOutcome::Skipped(CompactionState::CompactedThisTurn { cooldown: 2 })
    );
    m.advance_turn();
    assert_eq!(
        m.compaction_state(),
        CompactionState::Cooling { turns_remaining: 2 }
    );
    let (out, _) = c.hard_compact(&history, &mut m, None, 0).await.unwrap();
    assert!(matches!(
        out,
        HardOutcome::Skipped(CompactionState::Cooling { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn hard_compaction_exhausts_when_nothing_fits() {
    let history = session();
    let mut c = compactor();
    // A budget below the system prompt and preserved tail: nothing can be freed enough.
    let mut m = manager(20);
    let (out, _) = c.hard_compact(&history, &mut m, None, 0).await.unwrap();
    assert_eq!(out, HardOutcome::Exhausted);
    assert_eq!(
        m.compaction_state(),
        CompactionState::Exhausted { warned: false }
    );
    let (out, _) = c.hard_compact(&history, &mut m, None, 0).await.unwrap();
    assert_eq!(
        out,
        HardOutcome::Skipped(CompactionState::Exhausted { warned: false })
    );
    assert_eq!(
        m.compaction_state(),
        CompactionState::Exhausted { warned: true }
    );
}

#[tokio::test(start_paused = true)]
async fn llm_summary_is_used_only_when_valid() {
    let history = session();
    let full = compactor()
        .assemble(&history, usize::MAX, 0)
        .unwrap()
        .tokens;
    let cases = [
        (
            "valid",
            MockProvider::with_responses(vec![
                "bash ran cargo build: E0425 in src/lexer.rs".into(),
            ]),
            1_000,
            SummarySource::Llm,
        ),
        (
            "names no tool",
            MockProvider::with_responses(vec!["Some work happened.".into()]),
            1_000,
            SummarySource::Deterministic,
        ),
        (
            "empty",
            MockProvider::with_responses(vec!["   ".into()]),
            1_000,
            SummarySource::Deterministic,
        ),
        (
            "fails",
            MockProvider::failing(),
            1_000,
            SummarySource::Deterministic,
        ),
        (
            "times out",
            MockProvider::with_responses(vec!["bash ok".into()]).with_delay(60_000),
            50,
            SummarySource::Deterministic,
        ),
    ];
    for (name, provider, timeout, want) in cases {
        let mut c = compactor();
        let mut m = manager(full / 6);
        let s = summarizer(provider, timeout);
        let (out, a) = c.hard_compact(&history, &mut m, Some(&s), 0).await.unwrap();
        match out {
            HardOutcome::Compacted { summary, after, .. } => {
                assert_eq!(summary, want, "{name}");
                assert!(after <= full / 6 * 6 / 10 + 1, "{name}: {after}");
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(orphaned_pairs(&a.messages), 0, "{name}");
    }
}

#[test]
fn microcompact_caps_old_evidence_after_an_idle_gap() {
    let history = session();
    let mut c = PagedCompactor::new(AdapterConfig {
        preserve_tail: 1,
        microcompact_keep_recent: 1,
        ..AdapterConfig::default()
    })
    .unwrap();
    assert_eq!(c.microcompact(&history, 59), 0);
    assert_eq!(c.microcompact(&history, 60), 2);
    assert_eq!(c.microcompact(&history, 600), 0, "idempotent");
    let a = c.assemble(&history, usize::MAX, 0).unwrap();
    let contents: Vec<&str> = a
        .messages
        .iter()
        .flat_map(|m| &m.parts)
        .filter_map(|p| match p {
            MessagePart::ToolResult { content, .. } => Some(content.as_str()),
            _ => None,
        })
        .collect();
    // The two older results are structured (status and paths kept), the newest is full.
    assert!(
        contents[0].contains("status:") && contents[0].contains("src/lexer.rs"),
        "{}",
        contents[0]
    );
    assert!(
        contents[1].contains("status:") && contents[1].contains("src/token.rs"),
        "{}",
        contents[1]
    );
    assert!(contents[2].starts_with("error[E0425]"));
}

#[test]
fn zeph_sweep_clears_nothing_in_a_native_tool_history() {
    // Zeph 0.21.4's sweep names a ToolResult's tool from a ToolUse in the *same* message; in a
    // native tool-use history the use is in the assistant message before, so even with
    // keep_recent = 0 nothing is cleared. The adapter's microcompact works from pages.
    let mut history = session();
    let cleared =
        zeph_context::microcompact::sweep_stale_tool_outputs(&mut history, 0, "[cleared]", 0);
    assert_eq!(cleared, 0);
    let mut c = PagedCompactor::new(AdapterConfig {
        microcompact_keep_recent: 0,
        ..AdapterConfig::default()
    })
    .unwrap();
    assert_eq!(c.microcompact(&session(), 60), 3);
}

/// The text a provider would be sent: contents and tool inputs.
fn sent_text(messages: &[zeph_llm::provider::Message]) -> String {
    let mut s = String::new();
    for m in messages {
        s.push_str(&m.content);
        for p in &m.parts {
            if let MessagePart::ToolUse { input, .. } = p {
                s.push_str(&input.to_string());
            }
        }
        s.push('\n');
    }
    s
}

#[test]
fn page_directory_keeps_paths_and_commands_resolvable_within_budget() {
    let history = session();
    let specifics = [
        "src/lexer.rs",
        "src/token.rs",
        "src/ast.rs",
        "cargo build -p parser",
        "cargo test -p parser",
    ];
    let full = compactor()
        .assemble(&history, usize::MAX, 0)
        .unwrap()
        .tokens;
    let mut needed = 0;
    for budget in [full / 2, full / 4, full / 6] {
        let with = compactor().assemble(&history, budget, 0).unwrap();
        assert!(with.tokens <= budget, "{} > {budget}", with.tokens);
        assert_eq!(orphaned_pairs(&with.messages), 0);
        let text = sent_text(&with.messages);
        for s in specifics {
            assert!(text.contains(s), "{s} missing at {budget}:\n{text}");
        }
        let mut c = PagedCompactor::new(AdapterConfig {
            preserve_tail: 1,
            directory: false,
            ..AdapterConfig::default()
        })
        .unwrap();
        let without = sent_text(&c.assemble(&history, budget, 0).unwrap().messages);
        if specifics.iter().any(|s| !without.contains(s)) {
            needed += 1;
            // The directory is one agent-only system message after the system prompt.
            let dir = &with.messages[1];
            assert_eq!(dir.role, Role::System);
            assert!(
                dir.content.starts_with("[page directory"),
                "{}",
                dir.content
            );
            assert!(!dir.metadata.visibility.is_user_visible());
        }
    }
    assert!(
        needed > 0,
        "no budget degraded the history enough to need a directory"
    );
    // Under no pressure there is no directory.
    let all = compactor().assemble(&history, full, 0).unwrap();
    assert!(
        !all.messages
            .iter()
            .any(|m| m.content.starts_with("[page directory"))
    );
}

#[test]
fn required_pages_take_the_headroom_above_the_target_only_when_they_need_it() {
    // Ends with a long tool result: the newest page is large even at its smallest level.
    let mut history = session();
    history.truncate(4);
    let full = compactor()
        .assemble(&history, usize::MAX, 0)
        .unwrap()
        .tokens;
    let unmet = |b: usize| {
        compactor()
            .assemble(&history, b, 0)
            .unwrap()
            .selection
            .unmet
    };
    // A large budget under which the preserved tail does not fit.
    let target = (1..full)
        .rev()
        .step_by((full / 64).max(1))
        .find(|&b| unmet(b) > 0)
        .expect("the session has a budget its tail does not fit");
    let under = compactor().assemble(&history, target, 0).unwrap();
    let within = compactor()
        .assemble_within(&history, target, full, 0)
        .unwrap();
    assert_eq!(within.selection.unmet, 0);
    assert!(within.tokens > target && within.tokens <= full);
    assert_eq!(orphaned_pairs(&within.messages), 0);
    assert!(within.selection.unmet < under.selection.unmet);
    // No headroom: the target's assembly, byte for byte.
    let same = compactor()
        .assemble_within(&history, target, target, 0)
        .unwrap();
    assert_eq!(
        format!("{:?}", same.messages),
        format!("{:?}", under.messages)
    );
    // Where the target suffices the headroom is not touched.
    let enough = (target..full).find(|&b| unmet(b) == 0).unwrap();
    let roomy = compactor()
        .assemble_within(&history, enough, full, 0)
        .unwrap();
    let plain = compactor().assemble(&history, enough, 0).unwrap();
    assert_eq!(
        format!("{:?}", roomy.messages),
        format!("{:?}", plain.messages)
    );
}
