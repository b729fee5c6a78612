//! What the end-to-end tests share: a scripted channel, a file-reading tool, a recording
//! layer, the model's script and the runs of a real `zeph_core::Agent` over them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use page_store_sqlite::SqliteStore;
use pagevm_zeph::{PagedSession, SessionConfig, ZephTokens};
use pagevm_zeph_agent::{AgentConfig, Enforcement, Shared, attach};
use serde_json::json;
use zeph_core::Agent;
use zeph_core::channel::{Channel, ChannelError, ChannelMessage};
use zeph_core::runtime_layer::{LayerContext, RuntimeLayer};
use zeph_llm::any::AnyProvider;
use zeph_llm::mock::MockProvider;
use zeph_llm::provider::{ChatResponse, Message, ToolDefinition, ToolUseRequest};
use zeph_skills::registry::SkillRegistry;
use zeph_tools::executor::{ToolCall, ToolError, ToolExecutor, ToolOutput};
use zeph_tools::registry::{InvocationHint, ToolDef};

/// Turns of the scripted session.
pub(crate) const TURNS: usize = 40;
/// Distinct files the model reads, in rotation: every read after the first round repeats one.
pub(crate) const FILES: usize = 8;
/// The budget every request must fit: far below the history, so pages must degrade.
pub(crate) const BUDGET: usize = 4_000;

/// A channel that hands the agent a fixed queue of user messages and keeps what it sends.
pub(crate) struct Script {
    pub(crate) inbox: std::collections::VecDeque<String>,
    pub(crate) outbox: Arc<Mutex<Vec<String>>>,
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
pub(crate) struct Files {
    pub(crate) runs: Arc<AtomicUsize>,
}

pub(crate) fn file_text(path: &str) -> String {
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
pub(crate) struct Recorder(Arc<Mutex<Vec<String>>>);

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

pub(crate) fn registry() -> (SkillRegistry, tempfile::TempDir) {
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
pub(crate) fn model_script() -> Vec<ChatResponse> {
    script_of(0..TURNS)
}

pub(crate) fn script_of(turns: std::ops::Range<usize>) -> Vec<ChatResponse> {
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
pub(crate) struct Run {
    /// The session, when pagevm was attached.
    pub(crate) shared: Option<Arc<Shared<SqliteStore>>>,
    /// Tool-capable model calls the mock answered.
    pub(crate) calls: usize,
    /// The requests Zeph sent on (see [`Recorder`]).
    pub(crate) zeph_sent: Vec<String>,
    /// The messages of every call the mock answered with its default text (once the script is
    /// spent) or as a plain chat (Zeph's own summaries): `MockProvider` records only those.
    pub(crate) received: Vec<Vec<Message>>,
    /// `read_file` executions.
    pub(crate) runs: usize,
    /// What the agent sent to the user.
    pub(crate) outbox: Vec<String>,
    pub(crate) _dir: tempfile::TempDir,
}

/// The user's message of turn `t`.
pub(crate) fn user_message(t: usize) -> String {
    format!(
        "Step {t}: read src/module_{}.rs and summarise it.",
        t % FILES
    )
}

/// Runs the scripted session on a real agent, with pagevm attached in `enforcement` mode
/// (`None`: the stock agent).
pub(crate) async fn run(enforcement: Option<Enforcement>) -> Run {
    run_configured(enforcement, |agent| agent).await
}

/// As [`run`], with Zeph's own settings applied to the agent by `configure` first.
pub(crate) async fn run_configured(
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
pub(crate) async fn run_script(
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
