//! A 40-turn scripted session on a real agent under a small budget: views within it, pages
//! read back (by the test and by the model), observe mode against the stock agent, and Zeph's
//! compactors beside pagevm.

use page_core::{PageType, Repr};
use pagevm_zeph_agent::{Enforcement, ReadPageExecutor, compactors_off, finish};
use serde_json::json;
use zeph_core::AgentSessionConfig;
use zeph_llm::provider::{ChatResponse, Message, ToolUseRequest};
use zeph_tools::executor::{ToolCall, ToolExecutor};

use crate::support::{
    BUDGET, FILES, Run, TURNS, model_script, run, run_configured, run_script, user_message,
};

/// Observe mode assembles and records every request but changes nothing the agent does: the
/// provider receives exactly what it receives from the stock agent, every tool runs, the
/// replies are the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_mode_records_every_request_and_changes_nothing() {
    let stock = run(None).await;
    let observed = run(Some(Enforcement::Observe)).await;
    assert_eq!(
        (observed.calls, observed.runs, &observed.outbox),
        (stock.calls, stock.runs, &stock.outbox)
    );
    assert_eq!(stock.zeph_sent.len(), stock.calls);
    assert!(
        observed.zeph_sent == stock.zeph_sent,
        "the provider received other requests than from the stock agent"
    );
    let records = observed.shared.unwrap().records();
    assert_eq!(records.len(), stock.calls);
    for r in &records {
        assert!(!r.sent, "{r:?}");
        assert!(r.pagevm_tokens <= BUDGET, "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forty_turn_session_sends_views_within_the_budget_and_reads_pages_back() {
    let Run {
        shared,
        calls,
        zeph_sent: _,
        received: _,
        runs,
        outbox,
        _dir,
    } = run(Some(Enforcement::Active)).await;
    let shared = shared.unwrap();
    let records = shared.records();
    // Every tool-capable model call went through pagevm: the mock answered each one.
    assert_eq!(records.len(), calls);
    assert!(records.len() >= 2 * TURNS, "{} requests", records.len());
    for r in &records {
        assert!(r.sent, "{r:?}");
        assert!(r.pagevm_tokens <= BUDGET, "{r:?}");
        assert_eq!(r.orphans, 0, "{r:?}");
        assert!(r.system_prompt_kept, "{r:?}");
    }
    // Zeph's own requests outgrew the budget (even with its tool-output pruning): the views
    // above are pagevm's doing.
    let over = records.iter().filter(|r| r.zeph_tokens > BUDGET).count();
    assert!(
        over > TURNS,
        "{over} of Zeph's requests were above the budget"
    );
    // Each file was read once. Zeph's own session cache (zeph_tools::ToolResultCache, every
    // tool but a deny list) answers a repeat before any layer's before_tool sees it, so
    // pagevm serves none here; its store serves what that in-memory cache no longer holds.
    assert_eq!(runs, FILES);
    assert_eq!(shared.served(), 0);
    let sent = outbox.join("\n");
    assert!(
        sent.contains(&format!("Step {} done.", TURNS - 1)),
        "{sent}"
    );

    // Every tool result pagevm degraded has its audit rows, and `read_page`, called as the
    // agent calls a tool, gives back the full text the store holds. For a file read that ran,
    // that is all 200 lines, which Zeph's own tool-output pruning had cut from its history.
    let degraded: Vec<(String, String)> = shared
        .inspect(|s| {
            let engine = s.engine();
            engine
                .pages()
                .iter()
                .filter(|p| p.page_type() == PageType::Evidence)
                .filter(|p| {
                    engine
                        .store()
                        .audit_trail(p.id())
                        .unwrap()
                        .iter()
                        .any(|a| a.change.to < Repr::Full)
                })
                .map(|p| (p.id().to_string(), engine.page_text(p.id()).unwrap()))
                .collect()
        })
        .unwrap();
    assert!(!degraded.is_empty(), "no tool result was degraded");
    let reader = ReadPageExecutor::new(&shared);
    let mut whole_files = 0;
    for (page, stored) in &degraded {
        let call = ToolCall {
            tool_id: "read_page".into(),
            params: json!({"page": page}).as_object().unwrap().clone(),
            caller_id: None,
            context: None,
            tool_call_id: format!("read-{page}"),
            skill_name: None,
        };
        let text = reader
            .execute_tool_call(&call)
            .await
            .unwrap()
            .unwrap()
            .summary;
        assert_eq!(&text, stored, "{page}");
        whole_files += usize::from(text.contains(".rs:199: step_199(x)"));
    }
    assert!(whole_files > 0, "no degraded read came back whole");

    // The run's summary: the session's last boundary committed, every degraded page audited.
    drop(reader);
    let (summary, _) = finish(shared, BUDGET, "pagevm.db".to_owned()).unwrap();
    assert_eq!(summary.requests, calls);
    assert!(summary.max_request_tokens <= BUDGET, "{summary:?}");
    assert_eq!(
        (summary.orphaned_pairs, summary.tool_reruns_avoided),
        (0, 0)
    );
    assert_eq!(summary.page_ins, degraded.len());
    assert!(summary.audit_records >= degraded.len(), "{summary:?}");
}

/// The model pages a degraded result back in itself. A first run finds the page of the first
/// file read, which the last request no longer holds whole; the same session run again with
/// the same clock pages it under the same id, and there the model ends by calling `read_page`
/// with it: the result, at the tail of the next request, is the file's full text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_pages_a_degraded_result_back_in_with_read_page() {
    let first = run(Some(Enforcement::Active)).await;
    let last_line = "src/module_0.rs:199: step_199(x)";
    let page = first
        .shared
        .unwrap()
        .inspect(|s| {
            let engine = s.engine();
            engine
                .pages()
                .iter()
                .find(|p| {
                    p.page_type() == PageType::Evidence
                        && engine.page_text(p.id()).unwrap().contains(last_line)
                })
                .map(|p| p.id().to_string())
                .unwrap()
        })
        .unwrap();
    let holds = |request: &[Message]| {
        request.iter().any(|m| {
            m.content.contains(last_line)
                || m.parts.iter().any(|p| format!("{p:?}").contains(last_line))
        })
    };
    assert!(
        !holds(first.received.last().unwrap()),
        "{page} was not degraded"
    );

    let mut model = model_script();
    model.push(ChatResponse::ToolUse {
        text: Some("Reading the first file's page again.".to_owned()),
        tool_calls: vec![ToolUseRequest {
            id: "call_page_in".into(),
            name: "read_page".into(),
            input: json!({"page": page}),
        }],
        thinking_blocks: vec![],
    });
    // No answer scripted after it: the mock answers the next request with its default text
    // and, unlike a scripted answer, records what it received.
    let mut user: std::collections::VecDeque<String> = (0..TURNS).map(user_message).collect();
    user.push_back("What did the first file say?".to_owned());
    let second = run_script(Some(Enforcement::Active), |agent| agent, model, user).await;
    let shared = second.shared.unwrap();
    assert_eq!(shared.page_ins(), 1, "read_page did not answer {page}");
    // The request after the page-in (the recording also holds Zeph's own summary calls): the
    // result is its last message, and it is the file whole.
    let answered = second
        .received
        .iter()
        .find(|request| format!("{:?}", request.last().unwrap().parts).contains("call_page_in"))
        .expect("no request carried the read_page result");
    assert!(
        holds(&answered[answered.len() - 1..]),
        "the page-in is not the file's full text at the tail"
    );
    for r in shared.records() {
        assert!(r.pagevm_tokens <= BUDGET && r.orphans == 0, "{r:?}");
    }
}

/// Zeph's session settings as its defaults give them, with every compactor that can run
/// without an LLM on, under a context budget the scripted session outgrows.
fn zeph_compacting() -> AgentSessionConfig {
    let mut cfg = AgentSessionConfig::from_config(&zeph_core::Config::default(), 2 * BUDGET);
    cfg.microcompact_config.enabled = true;
    cfg
}

/// Zeph's compactors beside pagevm in active mode: left on, Zeph's hard tier drains the
/// history every turn, so the view built from it loses what pagevm paged; turned off by
/// [`compactors_off`], Zeph's list only grows and the view uses the whole budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zeph_compactors_are_turned_off_in_active_mode_so_no_history_is_drained() {
    let mut turned_off = Vec::new();
    let mut runs = Vec::new();
    for off in [false, true] {
        let run = run_configured(Some(Enforcement::Active), |agent| {
            let mut cfg = zeph_compacting();
            if off {
                turned_off = compactors_off(Enforcement::Active, &mut cfg);
            }
            agent.apply_session_config(cfg)
        })
        .await;
        runs.push(run.shared.unwrap().records());
    }
    let keys: Vec<&str> = turned_off.iter().map(|o| o.key).collect();
    assert_eq!(
        keys,
        [
            "memory.context_budget_tokens",
            "memory.microcompact.enabled",
            "memory.compression.acon.enabled",
            "memory.compression.arc.allow_agent_compaction",
            "memory.tool_call_cutoff",
        ]
    );
    let shrank = |records: &[pagevm_zeph_agent::RequestRecord]| {
        records
            .windows(2)
            .filter(|w| w[1].zeph_messages < w[0].zeph_messages)
            .count()
    };
    let (on, off) = (&runs[0], &runs[1]);
    assert!(
        shrank(on) > 0,
        "Zeph's compactors never drained the history"
    );
    assert_eq!(shrank(off), 0);
    assert_eq!(off.len(), 2 * TURNS);
    assert_eq!(off.last().unwrap().zeph_messages, 4 * TURNS);
    for r in on.iter().chain(off) {
        assert!(r.pagevm_tokens <= BUDGET && r.orphans == 0, "{r:?}");
    }
    // With nothing drained the view holds more of the session than Zeph's summary left.
    let last = |records: &[pagevm_zeph_agent::RequestRecord]| records.last().unwrap().pagevm_tokens;
    assert!(last(off) > last(on), "{} vs {}", last(off), last(on));
}

/// In observe mode Zeph runs as configured: nothing is changed.
#[test]
fn observe_mode_leaves_zeph_compactors_as_configured() {
    let mut cfg = zeph_compacting();
    assert!(compactors_off(Enforcement::Observe, &mut cfg).is_empty());
    assert_eq!(cfg.budget_tokens, 2 * BUDGET);
    assert!(cfg.microcompact_config.enabled && cfg.acon_config.enabled);
}

/// With Zeph's own result cache off (or past its TTL, or after a restart), pagevm's
/// `before_tool` answers a repeated read-only call from its store: every file is read once
/// and every repeat served, on the real agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagevm_serves_repeated_reads_that_zephs_cache_does_not() {
    let run = run_configured(Some(Enforcement::Active), |agent| {
        let mut cfg = AgentSessionConfig::from_config(&zeph_core::Config::default(), 0);
        let _changed = compactors_off(Enforcement::Active, &mut cfg);
        cfg.result_cache_config.enabled = false;
        agent.apply_session_config(cfg)
    })
    .await;
    let shared = run.shared.unwrap();
    assert_eq!(run.runs, FILES);
    assert_eq!(shared.served(), TURNS - FILES);
    for r in shared.records() {
        assert!(r.pagevm_tokens <= BUDGET && r.orphans == 0, "{r:?}");
    }
}
