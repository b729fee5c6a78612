//! pagevm inside Zeph's agent loop (zeph-core 0.21.4), through the public seams that need no
//! change to Zeph: a [`RuntimeLayer`] that sees the agent's whole message list before every
//! tool-capable model call and, in `active` mode, sends the view pagevm assembled instead of
//! Zeph's; the same layer answers a repeated read-only tool call from the store; and a tool
//! executor for `read_page`, the page-in.
//!
//! [`attach`] wires both onto an agent. Zeph keeps its own message history and database; pagevm
//! keeps its pages in its own store ([`pagevm_zeph::PagedSession`]). The session is
//! synchronous (the engine and its store), so every hook runs it on tokio's blocking pool and
//! never blocks Zeph's executor on a store call.

// The real-loop replay runs Zeph's agent loop, whose async state machines nest deep.
#![recursion_limit = "256"]

mod compactors;
mod config;
mod real_loop;
mod summary;

use std::sync::{Arc, Mutex, MutexGuard};

use page_writeback::Store;
use pagevm_zeph::{
    AdapterError, PagedSession, READ_PAGE, ReadPageInput, SessionPrompt, ZephTokens,
    orphaned_pairs, read_page, read_page_definition,
};
use zeph_core::runtime_layer::{BeforeToolResult, LayerContext, LayerDenial, RuntimeLayer};
use zeph_llm::LlmError;
use zeph_llm::any::AnyProvider;
use zeph_llm::provider::{ChatResponse, LlmProvider, Message, Role, ToolDefinition};
use zeph_tools::executor::{ToolCall, ToolError, ToolExecutor, ToolOutput};
use zeph_tools::registry::{InvocationHint, ToolDef};

pub use crate::compactors::{Override, compactors_off};
pub use crate::config::{Budget, ConfigError, SECTION, Settings};
pub use crate::real_loop::{RealLoopError, RealRun, compare_real};
pub use crate::summary::{FinishError, Summary, finish};

/// What the layer does with the view it assembles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    /// Assemble and record the view, log both sizes, and let Zeph's own request go.
    Observe,
    /// Send the assembled view to the provider in place of Zeph's request.
    Active,
}

/// The time new pages are stamped with, in Unix seconds. Injected, so a scripted session
/// pages byte-identically on every run; a deployed agent passes the system clock.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Where the layer sends the view it assembled in `active` mode: the agent's own provider
/// ([`attach`]), or anything else that answers a chat with tools, such as a scripted model
/// replaying a recording ([`attach_sending`]). Object-safe, so the layer holds any of them.
pub trait ChatSender: Send + Sync {
    /// Sends `messages` with `tools` and returns the model's answer.
    fn send<'a>(
        &'a self,
        messages: &'a [Message],
        tools: &'a [ToolDefinition],
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<ChatResponse, LlmError>> + Send + 'a>>;
}

impl ChatSender for AnyProvider {
    fn send<'a>(
        &'a self,
        messages: &'a [Message],
        tools: &'a [ToolDefinition],
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<ChatResponse, LlmError>> + Send + 'a>> {
        Box::pin(self.chat_with_tools(messages, tools))
    }
}

/// How pagevm runs inside the agent.
#[derive(Clone)]
pub struct AgentConfig {
    /// `observe` or `active`.
    pub enforcement: Enforcement,
    /// The most Zeph-counted tokens a request may hold.
    pub budget: usize,
    /// The clock new pages are stamped by.
    pub clock: Clock,
}

impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("enforcement", &self.enforcement)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// Why the layer could not assemble a view (it then lets Zeph's own request go, and says so
/// in a `context.pagevm.layer_error` event).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayerError {
    /// The session refused the history.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// A hook panicked while it held the session; the session is not used again.
    #[error("the pagevm session was poisoned by a panic in an earlier hook")]
    Poisoned,
    /// The blocking task did not finish (the runtime is shutting down).
    #[error("the pagevm task did not finish: {0}")]
    Join(String),
}

/// One tool-capable request as the layer saw and sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// Zeph's turn number.
    pub turn: u32,
    /// Messages in the request Zeph built (its whole history).
    pub zeph_messages: usize,
    /// Zeph-counted tokens of the request Zeph built.
    pub zeph_tokens: usize,
    /// Zeph-counted tokens of the view pagevm assembled (what `active` mode sends).
    pub pagevm_tokens: usize,
    /// Messages in the view.
    pub pagevm_messages: usize,
    /// Orphaned tool pairs in the view (a tool use without its result or the reverse).
    pub orphans: usize,
    /// Orphaned tool pairs in the request Zeph built.
    pub zeph_orphans: usize,
    /// Whether the view's first message is Zeph's system prompt as Zeph built it, but for
    /// Zeph's budget hint, which ends the view's last message instead.
    pub system_prompt_kept: bool,
    /// Whether the view went to the provider (`active`) or Zeph's own request did.
    pub sent: bool,
}

/// The most request records kept (the newest ones): enough for a session's debugging, bounded
/// for a long-running agent.
const RECORDS_KEPT: usize = 4096;

/// The session shared by the layer and the `read_page` executor.
pub struct Shared<S> {
    session: Mutex<PagedSession<S>>,
    records: Mutex<std::collections::VecDeque<RequestRecord>>,
    served: std::sync::atomic::AtomicUsize,
    page_ins: std::sync::atomic::AtomicUsize,
}

impl<S> std::fmt::Debug for Shared<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl<S: Store + Send + 'static> Shared<S> {
    /// Shares `session`.
    #[must_use]
    pub fn new(session: PagedSession<S>) -> Arc<Self> {
        Arc::new(Self {
            session: Mutex::new(session),
            records: Mutex::new(std::collections::VecDeque::new()),
            served: std::sync::atomic::AtomicUsize::new(0),
            page_ins: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Tool calls the layer answered from the store instead of running them.
    #[must_use]
    pub fn served(&self) -> usize {
        self.served.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `read_page` calls answered with a page.
    #[must_use]
    pub fn page_ins(&self) -> usize {
        self.page_ins.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The session, once nothing else holds it.
    fn into_session(self) -> Result<PagedSession<S>, LayerError> {
        self.session.into_inner().map_err(|_| LayerError::Poisoned)
    }

    /// The newest requests the layer assembled, oldest first.
    #[must_use]
    pub fn records(&self) -> Vec<RequestRecord> {
        self.records
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn previous_zeph_messages(&self) -> Option<usize> {
        self.records.lock().ok()?.back().map(|r| r.zeph_messages)
    }

    fn record(&self, record: RequestRecord) {
        if let Ok(mut records) = self.records.lock() {
            if records.len() == RECORDS_KEPT {
                records.pop_front();
            }
            records.push_back(record);
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, PagedSession<S>>, LayerError> {
        self.session.lock().map_err(|_| LayerError::Poisoned)
    }

    /// Runs `f` on the session on tokio's blocking pool.
    async fn with<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut PagedSession<S>) -> Result<T, LayerError> + Send + 'static,
    ) -> Result<T, LayerError> {
        let shared = Arc::clone(self);
        tokio::task::spawn_blocking(move || f(&mut *shared.lock()?))
            .await
            .map_err(|e| LayerError::Join(e.to_string()))?
    }

    /// Runs `f` on the session (for tests and tools that inspect it between turns).
    ///
    /// # Errors
    /// [`LayerError::Poisoned`] after a panic in a hook.
    pub fn inspect<T>(&self, f: impl FnOnce(&PagedSession<S>) -> T) -> Result<T, LayerError> {
        Ok(f(&*self.lock()?))
    }
}

/// The runtime layer: assembles every tool-capable request, serves repeated read-only calls.
pub struct PagevmLayer<S> {
    shared: Arc<Shared<S>>,
    tokens: ZephTokens,
    sender: Arc<dyn ChatSender>,
    config: AgentConfig,
}

impl<S> std::fmt::Debug for PagevmLayer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagevmLayer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S: Store + Send + 'static> PagevmLayer<S> {
    async fn assemble(&self, messages: &[Message]) -> Result<SessionPrompt, LayerError> {
        let messages = messages.to_vec();
        let (budget, now) = (self.config.budget, (self.config.clock)());
        self.shared
            .with(move |s| Ok(s.assemble(&messages, budget, now)?))
            .await
    }
}

impl<S: Store + Send + 'static> RuntimeLayer for PagevmLayer<S> {
    fn before_chat<'a>(
        &'a self,
        ctx: &'a LayerContext<'_>,
        messages: &'a [Message],
        tools: &'a [ToolDefinition],
    ) -> std::pin::Pin<Box<dyn Future<Output = Option<ChatResponse>> + Send + 'a>> {
        Box::pin(async move {
            let prompt = match self.assemble(messages).await {
                Ok(prompt) => prompt,
                Err(e) => {
                    tracing::error!(
                        name: "context.pagevm.layer_error",
                        turn = ctx.turn_number,
                        error = %e,
                        "pagevm could not assemble this request; Zeph's own request goes",
                    );
                    return None;
                }
            };
            let record = RequestRecord {
                turn: ctx.turn_number,
                zeph_messages: messages.len(),
                zeph_tokens: self.tokens.context(messages),
                pagevm_tokens: prompt.tokens,
                pagevm_messages: prompt.messages.len(),
                orphans: orphaned_pairs(&prompt.messages),
                zeph_orphans: orphaned_pairs(messages),
                system_prompt_kept: system_prompt_kept(messages, &prompt.messages),
                sent: self.config.enforcement == Enforcement::Active,
            };
            tracing::info!(
                name: "context.pagevm.before_chat",
                turn = ctx.turn_number,
                enforcement = ?self.config.enforcement,
                zeph_messages = messages.len(),
                zeph_tokens = record.zeph_tokens,
                pagevm_messages = record.pagevm_messages,
                pagevm_tokens = record.pagevm_tokens,
                orphans = record.orphans,
                budget = self.config.budget,
                gave_way = prompt.pressure.len(),
            );
            if let Some(before) = self.shared.previous_zeph_messages()
                && before > record.zeph_messages
            {
                // A Zeph compactor drained history ([`compactors_off`] turns them off in
                // active mode): its pages stay in the store and `read_page` still reads them,
                // but the view, built from Zeph's list, no longer shows them.
                tracing::warn!(
                    name: "context.pagevm.zeph_compaction",
                    turn = ctx.turn_number,
                    before,
                    after = record.zeph_messages,
                    "Zeph's message list shrank: a Zeph compactor ran beside pagevm",
                );
            }
            let sent = record.sent;
            self.shared.record(record);
            if !sent {
                return None;
            }
            match self.sender.send(&prompt.messages, tools).await {
                Ok(response) => Some(response),
                Err(e) => {
                    // Zeph's own call path owns retries and error reporting.
                    tracing::warn!(
                        name: "context.pagevm.provider_error",
                        turn = ctx.turn_number,
                        error = %e,
                    );
                    None
                }
            }
        })
    }

    fn before_tool<'a>(
        &'a self,
        _ctx: &'a LayerContext<'_>,
        call: &'a ToolCall,
    ) -> std::pin::Pin<Box<dyn Future<Output = BeforeToolResult> + Send + 'a>> {
        Box::pin(async move {
            if self.config.enforcement == Enforcement::Observe || call.tool_call_id.is_empty() {
                return None;
            }
            let (call_id, tool) = (call.tool_call_id.clone(), call.tool_id.to_string());
            let args = serde_json::Value::Object(call.params.clone()).to_string();
            let served = {
                let tool = tool.clone();
                self.shared
                    .with(move |s| Ok(s.before_tool(&call_id, &tool, &args)?))
                    .await
            };
            match served {
                Ok(Some(text)) => {
                    self.shared
                        .served
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Some(LayerDenial {
                        result: Ok(Some(output(&tool, text))),
                        reason: "pagevm: a repeated read-only call, answered from the page store"
                            .to_owned(),
                    })
                }
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(name: "context.pagevm.layer_error", error = %e);
                    None
                }
            }
        })
    }

    fn after_tool<'a>(
        &'a self,
        _ctx: &'a LayerContext<'_>,
        call: &'a ToolCall,
        _result: &'a Result<Option<ToolOutput>, ToolError>,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            let tool = call.tool_id.to_string();
            if let Err(e) = self
                .shared
                .with(move |s| {
                    s.after_tool(&tool);
                    Ok(())
                })
                .await
            {
                tracing::warn!(name: "context.pagevm.layer_error", error = %e);
            }
        })
    }
}

fn output(tool: &str, summary: String) -> ToolOutput {
    ToolOutput {
        tool_name: tool.into(),
        summary,
        blocks_executed: 1,
        filter_stats: None,
        diff: None,
        streamed: false,
        terminal_id: None,
        locations: None,
        raw_response: None,
        claim_source: None,
    }
}

/// The `read_page` tool: a page's full text from the page table or the store, as a new tool
/// result at the tail.
pub struct ReadPageExecutor<S> {
    shared: Arc<Shared<S>>,
}

impl<S> std::fmt::Debug for ReadPageExecutor<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadPageExecutor").finish_non_exhaustive()
    }
}

impl<S> ReadPageExecutor<S> {
    /// The executor over `shared`'s session.
    #[must_use]
    pub fn new(shared: &Arc<Shared<S>>) -> Self {
        Self {
            shared: Arc::clone(shared),
        }
    }
}

impl<S: Store + Send + 'static> ToolExecutor for ReadPageExecutor<S> {
    async fn execute(&self, _response: &str) -> Result<Option<ToolOutput>, ToolError> {
        Ok(None)
    }

    fn tool_definitions(&self) -> Vec<ToolDef> {
        let definition = read_page_definition();
        vec![ToolDef {
            id: READ_PAGE.into(),
            description: definition.description.into(),
            schema: schemars::schema_for!(ReadPageInput),
            invocation: InvocationHint::ToolCall,
            output_schema: None,
        }]
    }

    async fn execute_tool_call(&self, call: &ToolCall) -> Result<Option<ToolOutput>, ToolError> {
        if call.tool_id.as_str() != READ_PAGE {
            return Ok(None);
        }
        let arguments = serde_json::Value::Object(call.params.clone());
        let text = self
            .shared
            .with(move |s| Ok(read_page(s.engine(), &arguments)))
            .await
            .map_err(|e| ToolError::Execution(std::io::Error::other(e.to_string())))?;
        // A bad request is the model's to fix: its message is the tool's result.
        let summary = match text {
            Ok(text) => {
                self.shared
                    .page_ins
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                text
            }
            Err(e) => format!("read_page error: {e}"),
        };
        Ok(Some(output(READ_PAGE, summary)))
    }
}

/// Attaches pagevm to `agent`: the layer (sending through `provider`, the one the agent was
/// built with) over `shared`, and in `active` mode the `read_page` executor. Observe mode adds
/// no tool, so the provider receives exactly what the stock agent sends.
#[must_use]
pub fn attach<C: zeph_core::channel::Channel, S: Store + Send + 'static>(
    agent: zeph_core::Agent<C>,
    shared: &Arc<Shared<S>>,
    provider: AnyProvider,
    config: AgentConfig,
) -> zeph_core::Agent<C> {
    attach_sending(agent, shared, Arc::new(provider), config)
}

/// [`attach`], the views going to `sender` instead of a provider.
#[must_use]
pub fn attach_sending<C: zeph_core::channel::Channel, S: Store + Send + 'static>(
    agent: zeph_core::Agent<C>,
    shared: &Arc<Shared<S>>,
    sender: Arc<dyn ChatSender>,
    config: AgentConfig,
) -> zeph_core::Agent<C> {
    let active = config.enforcement == Enforcement::Active;
    let agent = agent.with_runtime_layer(Arc::new(PagevmLayer {
        shared: Arc::clone(shared),
        tokens: ZephTokens::new(),
        sender,
        config,
    }));
    if active {
        agent.add_tool_executor(ReadPageExecutor::new(shared))
    } else {
        agent
    }
}

/// Whether `view` starts with Zeph's system prompt of `zeph` whole: verbatim, or with the
/// text it ends with (Zeph's budget hint) moved to the end of the view's last message.
fn system_prompt_kept(zeph: &[Message], view: &[Message]) -> bool {
    let (Some(a), Some(b), Some(last)) = (zeph.first(), view.first(), view.last()) else {
        return false;
    };
    a.role == Role::System
        && b.role == Role::System
        && a.content.strip_prefix(&b.content).is_some_and(|moved| {
            moved.is_empty() || (view.len() > 1 && last.content.ends_with(moved))
        })
}
