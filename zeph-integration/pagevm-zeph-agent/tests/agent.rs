//! End-to-end: a real `zeph_core::Agent` (0.21.4) runs a scripted 40-turn session on pagevm
//! under a small budget, with an in-process channel, Zeph's `MockProvider` scripting the
//! model's tool calls and a file-reading tool whose outputs are hundreds of lines long.

#![recursion_limit = "256"]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking on an unexpected error"
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use page_core::{PageType, Repr};
use page_store_sqlite::SqliteStore;
use pagevm_zeph::{PagedSession, SessionConfig, ZephTokens};
use pagevm_zeph_agent::{
    AgentConfig, Enforcement, ReadPageExecutor, Shared, attach, compactors_off, finish,
};
use serde_json::json;
use zeph_core::channel::{Channel, ChannelError, ChannelMessage};
use zeph_core::runtime_layer::{LayerContext, RuntimeLayer};
use zeph_core::{Agent, AgentSessionConfig};
use zeph_llm::any::AnyProvider;
use zeph_llm::mock::MockProvider;
use zeph_llm::provider::{ChatResponse, Message, ToolDefinition, ToolUseRequest};
use zeph_memory::semantic::SemanticMemory;
use zeph_skills::registry::SkillRegistry;
use zeph_tools::executor::{ToolCall, ToolError, ToolExecutor, ToolOutput};
use zeph_tools::registry::{InvocationHint, ToolDef};

/// Turns of the scripted session.
const TURNS: usize = 40;
/// Distinct files the model reads, in rotation: every read after the first round repeats one.
const FILES: usize = 8;
/// The budget every request must fit: far below the history, so pages must degrade.
const BUDGET: usize = 4_000;

/// A channel that hands the agent a fixed queue of user messages and keeps what it sends.
struct Script {
    inbox: std::collections::VecDeque<String>,
    outbox: Arc<Mutex<Vec<String>>>,
}

impl Script {
    fn next(&mut self) -> Option<ChannelMessage> {
        self.inbox.pop_front().map(|text| ChannelMessage {
            text,
            attachments: vec![],
            is_guest_context: false,
            is_from_bot: false,
        })
    }
}

impl Channel for Script {
    async fn recv(&mut self) -> Result<Option<ChannelMessage>, ChannelError> {
        Ok(self.next())
    }

    fn try_recv(&mut self) -> Option<ChannelMessage> {
        None
    }

    async fn send(&mut self, text: &str) -> Result<(), ChannelError> {
        self.outbox.lock().unwrap().push(text.to_owned());
        Ok(())
    }

    async fn send_chunk(&mut self, chunk: &str) -> Result<(), ChannelError> {
        self.outbox.lock().unwrap().push(chunk.to_owned());
        Ok(())
    }

    async fn flush_chunks(&mut self) -> Result<(), ChannelError> {
        Ok(())
    }

    async fn confirm(&mut self, _prompt: &str) -> Result<bool, ChannelError> {
        Ok(true)
    }
}

/// `read_file`: a file of 200 numbered lines per path (just under the 8,000 characters Zeph
/// keeps of a tool output), counting how often it really ran.
struct Files {
    runs: Arc<AtomicUsize>,
}

fn file_text(path: &str) -> String {
    (0..200)
        .map(|i| format!("{path}:{i}: step_{i}(x)\n"))
        .collect()
}

impl ToolExecutor for Files {
    async fn execute(&self, _response: &str) -> Result<Option<ToolOutput>, ToolError> {
        Ok(None)
    }

    fn tool_definitions(&self) -> Vec<ToolDef> {
        vec![ToolDef {
            id: "read_file".into(),
            description: "Read a file.".into(),
            schema: serde_json::from_value(json!({
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
            }))
            .unwrap(),
            invocation: InvocationHint::ToolCall,
            output_schema: None,
        }]
    }

    async fn execute_tool_call(&self, call: &ToolCall) -> Result<Option<ToolOutput>, ToolError> {
        if call.tool_id.as_str() != "read_file" {
            return Ok(None);
        }
        self.runs.fetch_add(1, Ordering::SeqCst);
        let path = call
            .params
            .get("path")
            .and_then(|p| p.as_str())
            .unwrap_or("?");
        Ok(Some(ToolOutput {
            tool_name: "read_file".into(),
            summary: file_text(path),
            blocks_executed: 1,
            filter_stats: None,
            diff: None,
            streamed: false,
            terminal_id: None,
            locations: None,
            raw_response: None,
            claim_source: None,
        }))
    }
}

/// A runtime layer attached after pagevm's that records every tool-capable request Zeph
/// sends (messages and tools, as JSON) and lets it go: what the provider receives whenever no
/// earlier layer answered the call.
struct Recorder(Arc<Mutex<Vec<String>>>);

impl RuntimeLayer for Recorder {
    fn before_chat<'a>(
        &'a self,
        _ctx: &'a LayerContext<'_>,
        messages: &'a [Message],
        tools: &'a [ToolDefinition],
    ) -> std::pin::Pin<Box<dyn Future<Output = Option<ChatResponse>> + Send + 'a>> {
        let request = serde_json::to_string(&(messages, tools)).unwrap();
        self.0.lock().unwrap().push(request);
        Box::pin(async { None })
    }
}

fn registry() -> (SkillRegistry, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let skill = dir.path().join("files");
    std::fs::create_dir(&skill).unwrap();
    std::fs::write(
        skill.join("SKILL.md"),
        "---\nname: files\ndescription: Reads source files\n---\nRead files when asked.",
    )
    .unwrap();
    (SkillRegistry::load(&[dir.path().to_path_buf()]), dir)
}

/// The model's script: each turn reads one file, then answers.
fn model_script() -> Vec<ChatResponse> {
    script_of(0..TURNS)
}

fn script_of(turns: std::ops::Range<usize>) -> Vec<ChatResponse> {
    turns
        .flat_map(|t| {
            [
                ChatResponse::ToolUse {
                    text: Some(format!("Reading file {} for step {t}.", t % FILES)),
                    tool_calls: vec![ToolUseRequest {
                        id: format!("call_{t}"),
                        name: "read_file".into(),
                        input: json!({"path": format!("src/module_{}.rs", t % FILES)}),
                    }],
                    thinking_blocks: vec![],
                },
                ChatResponse::Text(format!("Step {t} done.")),
            ]
        })
        .collect()
}

/// What one scripted run left behind.
struct Run {
    /// The session, when pagevm was attached.
    shared: Option<Arc<Shared<SqliteStore>>>,
    /// Tool-capable model calls the mock answered.
    calls: usize,
    /// The requests Zeph sent on (see [`Recorder`]).
    zeph_sent: Vec<String>,
    /// The messages of every call the mock answered with its default text (once the script is
    /// spent) or as a plain chat (Zeph's own summaries): `MockProvider` records only those.
    received: Vec<Vec<Message>>,
    /// `read_file` executions.
    runs: usize,
    /// What the agent sent to the user.
    outbox: Vec<String>,
    _dir: tempfile::TempDir,
}

/// The user's message of turn `t`.
fn user_message(t: usize) -> String {
    format!(
        "Step {t}: read src/module_{}.rs and summarise it.",
        t % FILES
    )
}

/// Runs the scripted session on a real agent, with pagevm attached in `enforcement` mode
/// (`None`: the stock agent).
async fn run(enforcement: Option<Enforcement>) -> Run {
    run_configured(enforcement, |agent| agent).await
}

/// As [`run`], with Zeph's own settings applied to the agent by `configure` first.
async fn run_configured(
    enforcement: Option<Enforcement>,
    configure: impl FnOnce(Agent<Script>) -> Agent<Script>,
) -> Run {
    run_script(
        enforcement,
        configure,
        model_script(),
        (0..TURNS).map(user_message).collect(),
    )
    .await
}

/// Runs `model` answering `user`'s messages on a real agent.
async fn run_script(
    enforcement: Option<Enforcement>,
    configure: impl FnOnce(Agent<Script>) -> Agent<Script>,
    model: Vec<ChatResponse>,
    user: std::collections::VecDeque<String>,
) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (mock, received) = MockProvider::default().with_recording();
    let (mock, calls) = mock.with_tool_use(model);
    let provider = AnyProvider::Mock(mock);
    let (skills, _skills_dir) = registry();
    let outbox = Arc::new(Mutex::new(Vec::new()));
    let channel = Script {
        inbox: user,
        outbox: Arc::clone(&outbox),
    };
    let runs = Arc::new(AtomicUsize::new(0));
    let files = Files {
        runs: Arc::clone(&runs),
    };
    let mut agent = configure(Agent::new(
        provider.clone(),
        channel,
        skills,
        None,
        5,
        files,
    ));
    let mut shared = None;
    if let Some(enforcement) = enforcement {
        let store = SqliteStore::open(dir.path().join("pagevm.db")).unwrap();
        let session =
            PagedSession::start(store, ZephTokens::new(), SessionConfig::new(1).unwrap()).unwrap();
        let s = Shared::new(session);
        agent = attach(
            agent,
            &s,
            provider,
            AgentConfig {
                enforcement,
                budget: BUDGET,
                clock: Arc::new(|| 1_780_000_000),
            },
        );
        shared = Some(s);
    }
    let zeph_sent = Arc::new(Mutex::new(Vec::new()));
    agent = agent.with_runtime_layer(Arc::new(Recorder(Arc::clone(&zeph_sent))));
    agent.run().await.unwrap();
    let outbox = outbox.lock().unwrap().clone();
    let calls = *calls.lock().unwrap() as usize;
    let received = received.lock().unwrap().clone();
    let zeph_sent = zeph_sent.lock().unwrap().clone();
    Run {
        shared,
        calls,
        zeph_sent,
        received,
        runs: runs.load(Ordering::SeqCst),
        outbox,
        _dir: dir,
    }
}

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

/// Turns `turns` of the script on an agent with Zeph's SQLite memory at `zeph_db` and pagevm's
/// store at `pagevm_db`, as a restarted process would build it: Zeph reloads its history,
/// pagevm adopts the pages it stored.
async fn run_with_memory(
    zeph_db: &std::path::Path,
    pagevm_db: &std::path::Path,
    turns: std::ops::Range<usize>,
) -> Arc<Shared<SqliteStore>> {
    let (mock, _calls) = MockProvider::default().with_tool_use(script_of(turns.clone()));
    let provider = AnyProvider::Mock(mock);
    let memory = Arc::new(
        SemanticMemory::new(
            zeph_db.to_str().unwrap(),
            "http://127.0.0.1:1",
            None,
            AnyProvider::Mock(MockProvider::default()),
            "test-model",
        )
        .await
        .unwrap(),
    );
    let conversation = match memory.sqlite().latest_conversation_id().await.unwrap() {
        Some(c) => c,
        None => memory.sqlite().create_conversation().await.unwrap(),
    };
    let (skills, _skills_dir) = registry();
    let channel = Script {
        inbox: turns.map(user_message).collect(),
        outbox: Arc::new(Mutex::new(Vec::new())),
    };
    let files = Files {
        runs: Arc::new(AtomicUsize::new(0)),
    };
    let store = SqliteStore::open(pagevm_db).unwrap();
    let session = PagedSession::start(
        store,
        ZephTokens::new(),
        SessionConfig::new(conversation.0).unwrap(),
    )
    .unwrap();
    let shared = Shared::new(session);
    let agent = Agent::new(provider.clone(), channel, skills, None, 5, files).with_memory(
        memory,
        conversation,
        200,
        0,
        100_000,
    );
    let mut agent = attach(
        agent,
        &shared,
        provider,
        AgentConfig {
            enforcement: Enforcement::Active,
            budget: BUDGET,
            clock: Arc::new(|| 1_780_000_000),
        },
    );
    agent.load_history().await.unwrap();
    agent.run().await.unwrap();
    shared
}

/// A restart: the agent is dropped after 20 turns and a new one, on the same Zeph database and
/// pagevm store, runs the other 20. No request of either exceeds the budget or orphans a
/// pair, the second adopts the stored pages of the history Zeph reloads, and every page the
/// first stored still reads back whole from the second. (Not yet asserted: that nothing is
/// paged twice. A message paged before Zeph numbered it has a provisional id, and the reloaded,
/// numbered message is paged again under `m<id>`; see docs/zeph-integration.md.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_continues_on_the_same_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (zeph_db, pagevm_db) = (dir.path().join("zeph.db"), dir.path().join("pagevm.db"));
    let first = run_with_memory(&zeph_db, &pagevm_db, 0..TURNS / 2).await;
    let before: Vec<(String, String)> = first
        .inspect(|s| {
            s.engine()
                .pages()
                .iter()
                .map(|p| (p.id().to_string(), s.engine().page_text(p.id()).unwrap()))
                .collect()
        })
        .unwrap();
    let first_records = first.records();
    drop(first);
    let second = run_with_memory(&zeph_db, &pagevm_db, TURNS / 2..TURNS).await;
    for r in first_records.iter().chain(&second.records()) {
        assert!(r.pagevm_tokens <= BUDGET && r.orphans == 0, "{r:?}");
    }
    assert!(!second.records().is_empty());
    second
        .inspect(|s| {
            let second: Vec<(String, String)> = s
                .engine()
                .pages()
                .iter()
                .map(|p| (p.id().to_string(), s.engine().page_text(p.id()).unwrap()))
                .collect();
            let adopted = second.iter().filter(|p| before.contains(p)).count();
            // Pages of the reloaded history's tool calls are found again by their ids.
            assert!(adopted > 0, "no page of the first process was adopted");
            for (page, text) in &before {
                let id = page_core::PageId::new(page.as_str()).unwrap();
                assert_eq!(&s.engine().page_text(&id).unwrap(), text, "{page}");
            }
        })
        .unwrap();
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
