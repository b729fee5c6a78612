//! A recorded session replayed through Zeph's real agent loop (zeph-core 0.21.4), once with
//! Zeph's own compaction and once with pagevm active, every request the provider received
//! measured by pagevm-zeph's side-by-side [`Observer`] against the recording.
//!
//! The user's messages come from the recording; the model's answers are its recorded messages,
//! scripted turn by turn (Zeph's `MockProvider` answers its own summary calls, with its fixed
//! text); each tool call is answered with its recorded output. Where the recording does
//! not follow the loop's protocol (a turn that ends on tool results, two model messages without
//! a user message between them) the script adds what the loop needs (an empty answer, a
//! `(continue)` message): those requests are sent but not measured.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use page_writeback::MemoryStore;
use pagevm_zeph::compare::{CompareConfig, Counts, Strategy};
use pagevm_zeph::observer::Observer;
use pagevm_zeph::{AdapterError, PagedSession, ZephTokens};
use zeph_core::channel::{Channel, ChannelError, ChannelMessage};
use zeph_core::runtime_layer::{LayerContext, RuntimeLayer};
use zeph_core::{Agent, AgentSessionConfig};
use zeph_llm::LlmError;
use zeph_llm::any::AnyProvider;
use zeph_llm::mock::MockProvider;
use zeph_llm::provider::{
    ChatResponse, Message, MessagePart, Role, ToolDefinition, ToolUseRequest,
};
use zeph_skills::registry::SkillRegistry;
use zeph_tools::executor::{ToolCall, ToolError, ToolExecutor, ToolOutput};
use zeph_tools::registry::{InvocationHint, ToolDef};

use crate::{AgentConfig, ChatSender, Enforcement, Shared, attach_sending, compactors_off, output};

/// Which context manager runs in the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arm {
    /// Zeph 0.21.4 as configured by default, with its context budget set: its soft and hard
    /// tiers, tool-pair summaries and pruning.
    Stock,
    /// pagevm active at the budget, Zeph's compactors off ([`compactors_off`]).
    Pagevm,
}

/// Why a replay could not be run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RealLoopError {
    /// The agent loop failed.
    #[error("the agent loop failed: {0}")]
    Agent(String),
    /// The observer or pagevm's session refused the history.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

/// The recording as the loop replays it.
#[derive(Debug, Clone, Default)]
struct Script {
    /// The user's messages, in order, each with the model's answers of its turn, every answer
    /// with the recorded message it replays (`None`: added for the loop's protocol).
    turns: Vec<(String, Vec<Answer>)>,
    /// Recorded tool outputs by call id, in order (call ids repeat in some recordings).
    outputs: HashMap<String, VecDeque<String>>,
    /// Every tool the recording calls.
    tools: BTreeSet<String>,
}

/// A scripted answer and the recorded message it replays.
type Answer = (ChatResponse, Option<usize>);

/// What the recording's `ToolResult` of a call that never got one reads like to the model.
const NO_RESULT: &str = "(no result was recorded for this call)";
/// The user message the script adds between two model messages.
const CONTINUE: &str = "(continue)";

impl Script {
    fn of(history: &[Message]) -> Self {
        let mut s = Self::default();
        // Whether the loop will ask the model again before it reads a user message.
        let mut awaiting = false;
        for (i, m) in history.iter().enumerate().skip(1) {
            match m.role {
                Role::Assistant => {
                    if !awaiting {
                        s.turns.push((CONTINUE.to_owned(), Vec::new()));
                    }
                    let calls: Vec<ToolUseRequest> = m
                        .parts
                        .iter()
                        .filter_map(|p| match p {
                            MessagePart::ToolUse { id, name, input } => Some(ToolUseRequest {
                                id: id.clone(),
                                name: name.clone().into(),
                                input: input.clone(),
                            }),
                            _ => None,
                        })
                        .collect();
                    let text: String = m
                        .parts
                        .iter()
                        .filter_map(|p| match p {
                            MessagePart::Text { text } => Some(text.as_str()),
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                        .join("\n");
                    awaiting = !calls.is_empty();
                    let answer = if calls.is_empty() {
                        ChatResponse::Text(text)
                    } else {
                        s.tools.extend(calls.iter().map(|c| c.name.to_string()));
                        ChatResponse::ToolUse {
                            text: Some(text).filter(|t| !t.is_empty()),
                            tool_calls: calls,
                            thinking_blocks: vec![],
                        }
                    };
                    s.answer((answer, Some(i)));
                }
                Role::User => {
                    let mut text = Vec::new();
                    for p in &m.parts {
                        match p {
                            MessagePart::ToolResult {
                                tool_use_id,
                                content,
                                ..
                            } => s
                                .outputs
                                .entry(tool_use_id.clone())
                                .or_default()
                                .push_back(content.clone()),
                            MessagePart::Text { text: t } => text.push(t.as_str()),
                            _ => {}
                        }
                    }
                    if !text.is_empty() {
                        if awaiting {
                            // The recorded turn ended on tool results: the loop needs an answer.
                            s.answer((ChatResponse::Text(String::new()), None));
                        }
                        s.turns.push((text.join("\n"), Vec::new()));
                        awaiting = true;
                    }
                }
                _ => {}
            }
        }
        if awaiting {
            s.answer((ChatResponse::Text(String::new()), None));
        }
        s
    }

    fn answer(&mut self, answer: Answer) {
        if let Some((_, answers)) = self.turns.last_mut() {
            answers.push(answer);
        }
    }
}

/// A channel that hands the loop the recording's user messages, counting them.
struct Users {
    messages: VecDeque<String>,
    delivered: Arc<AtomicUsize>,
}

impl Channel for Users {
    async fn recv(&mut self) -> Result<Option<ChannelMessage>, ChannelError> {
        let next = self.messages.pop_front();
        if next.is_some() {
            self.delivered.fetch_add(1, Ordering::SeqCst);
        }
        Ok(next.map(|text| ChannelMessage {
            text,
            attachments: vec![],
            is_guest_context: false,
            is_from_bot: false,
        }))
    }

    fn try_recv(&mut self) -> Option<ChannelMessage> {
        None
    }

    async fn send(&mut self, _text: &str) -> Result<(), ChannelError> {
        Ok(())
    }

    async fn send_chunk(&mut self, _chunk: &str) -> Result<(), ChannelError> {
        Ok(())
    }

    async fn flush_chunks(&mut self) -> Result<(), ChannelError> {
        Ok(())
    }

    async fn confirm(&mut self, _prompt: &str) -> Result<bool, ChannelError> {
        Ok(true)
    }
}

/// Every tool of the recording, answering each call with its recorded output.
struct Recorded {
    outputs: Mutex<HashMap<String, VecDeque<String>>>,
    tools: BTreeSet<String>,
}

impl ToolExecutor for Recorded {
    async fn execute(&self, _response: &str) -> Result<Option<ToolOutput>, ToolError> {
        Ok(None)
    }

    fn tool_definitions(&self) -> Vec<ToolDef> {
        self.tools
            .iter()
            .map(|name| ToolDef {
                id: name.clone().into(),
                description: format!("The recorded tool `{name}`.").into(),
                schema: schemars::json_schema!({"type": "object"}),
                invocation: InvocationHint::ToolCall,
                output_schema: None,
            })
            .collect()
    }

    async fn execute_tool_call(&self, call: &ToolCall) -> Result<Option<ToolOutput>, ToolError> {
        let tool = call.tool_id.to_string();
        if !self.tools.contains(&tool) {
            return Ok(None);
        }
        let text = self
            .outputs
            .lock()
            .ok()
            .and_then(|mut o| o.get_mut(&call.tool_call_id)?.pop_front())
            .unwrap_or_else(|| NO_RESULT.to_owned());
        Ok(Some(output(&tool, text)))
    }
}

/// The model of both arms, answering every tool-capable call from the script turn by turn:
/// when a loop stops a turn early (Zeph's "Stopping: context window is nearly full"), the
/// answers it did not ask for are left behind, not given to the next turn. Records each
/// request (what the provider received) with the recorded message it replays. The stock arm
/// has it as a layer (Zeph's own request reaches it), pagevm's as the layer's sender.
struct ScriptedModel {
    turns: Mutex<Vec<VecDeque<Answer>>>,
    delivered: Arc<AtomicUsize>,
    sent: Mutex<Vec<(Vec<Message>, Option<usize>)>>,
}

impl ScriptedModel {
    fn answer(&self, messages: &[Message]) -> ChatResponse {
        let turn = self.delivered.load(Ordering::SeqCst).saturating_sub(1);
        let (answer, replays) = self
            .turns
            .lock()
            .ok()
            .and_then(|mut turns| turns.get_mut(turn)?.pop_front())
            // The loop asked more than the recording answered: an empty answer ends the turn.
            .unwrap_or((ChatResponse::Text(String::new()), None));
        if let Ok(mut sent) = self.sent.lock() {
            sent.push((messages.to_vec(), replays));
        }
        answer
    }

    /// The requests sent and the turns the loop stopped early.
    fn finish(self) -> Result<ArmRun, RealLoopError> {
        let poisoned = |e: String| RealLoopError::Agent(e);
        let cut_turns = self
            .turns
            .into_inner()
            .map_err(|e| poisoned(e.to_string()))?
            .iter()
            .filter(|answers| !answers.is_empty())
            .count();
        let sent = self
            .sent
            .into_inner()
            .map_err(|e| poisoned(e.to_string()))?;
        Ok(ArmRun { sent, cut_turns })
    }
}

impl RuntimeLayer for ScriptedModel {
    fn before_chat<'a>(
        &'a self,
        _ctx: &'a LayerContext<'_>,
        messages: &'a [Message],
        _tools: &'a [ToolDefinition],
    ) -> std::pin::Pin<Box<dyn Future<Output = Option<ChatResponse>> + Send + 'a>> {
        let answer = self.answer(messages);
        Box::pin(async move { Some(answer) })
    }
}

impl ChatSender for ScriptedModel {
    fn send<'a>(
        &'a self,
        messages: &'a [Message],
        _tools: &'a [ToolDefinition],
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<ChatResponse, LlmError>> + Send + 'a>> {
        let answer = self.answer(messages);
        Box::pin(async move { Ok(answer) })
    }
}

/// What one arm's loop did with the script.
struct ArmRun {
    /// Every request the provider received, with the recorded message it replays.
    sent: Vec<(Vec<Message>, Option<usize>)>,
    /// Turns the loop stopped before the recording's answers of the turn ran out.
    cut_turns: usize,
}

/// Runs `history`'s script through one arm's loop at `config.budget` (pagevm's session under
/// `config.session_policy`).
///
/// # Errors
/// [`RealLoopError`] when the loop or pagevm's session fails.
async fn run_arm(
    history: &[Message],
    arm: Arm,
    config: &CompareConfig,
) -> Result<ArmRun, RealLoopError> {
    let budget = config.budget;
    let script = Script::of(history);
    let delivered = Arc::new(AtomicUsize::new(0));
    let users = Users {
        messages: script.turns.iter().map(|(u, _)| u.clone()).collect(),
        delivered: Arc::clone(&delivered),
    };
    let tools = Recorded {
        outputs: Mutex::new(script.outputs),
        tools: script.tools,
    };
    let model = Arc::new(ScriptedModel {
        turns: Mutex::new(
            script
                .turns
                .into_iter()
                .map(|(_, answers)| answers.into())
                .collect(),
        ),
        delivered,
        sent: Mutex::new(Vec::new()),
    });
    let mut zeph = AgentSessionConfig::from_config(&zeph_core::Config::default(), budget);
    // A replay: the recorded outputs are what the tools returned, every round the recording
    // made is made again.
    zeph.result_cache_config.enabled = false;
    zeph.tool_repeat_threshold = 0;
    zeph.max_tool_iterations = history.len() + 1;
    // Zeph's budget hint puts the tool rounds left at the end of the system prompt, so every
    // round changes the prompt's first message and re-bills all of it, in both arms alike; it
    // is off so that the cost measured is the paging's (its own cost: docs/zeph-integration.md).
    zeph.budget_hint_enabled = false;
    // The provider answers only Zeph's own summary calls, with its fixed text.
    let agent = Agent::new(
        AnyProvider::Mock(MockProvider::default()),
        users,
        SkillRegistry::default(),
        None,
        1,
        tools,
    );
    let mut agent = match arm {
        Arm::Stock => agent
            .apply_session_config(zeph)
            .with_runtime_layer(Arc::clone(&model) as Arc<dyn RuntimeLayer>),
        Arm::Pagevm => {
            let _changed = compactors_off(Enforcement::Active, &mut zeph);
            let session = PagedSession::start(
                MemoryStore::new(),
                ZephTokens::new(),
                config.session_config()?,
            )?;
            attach_sending(
                agent.apply_session_config(zeph),
                &Shared::new(session),
                Arc::clone(&model) as Arc<dyn ChatSender>,
                AgentConfig {
                    enforcement: Enforcement::Active,
                    budget,
                    clock: Arc::new(|| 1_780_000_000),
                },
            )
        }
    };
    agent
        .run()
        .await
        .map_err(|e| RealLoopError::Agent(e.to_string()))?;
    drop(agent);
    Arc::into_inner(model)
        .ok_or_else(|| RealLoopError::Agent("the agent kept its model".into()))?
        .finish()
}

/// The system prompt Zeph's loop builds with `tools` (it replaces the recorded one): one probe
/// request.
async fn zeph_prompt(tools: &BTreeSet<String>) -> Result<Message, RealLoopError> {
    let tools = Recorded {
        outputs: Mutex::new(HashMap::new()),
        tools: tools.clone(),
    };
    let delivered = Arc::new(AtomicUsize::new(0));
    // A one-turn script with no answers: the model ends the turn with an empty one.
    let model = Arc::new(ScriptedModel {
        turns: Mutex::new(vec![VecDeque::new()]),
        delivered: Arc::clone(&delivered),
        sent: Mutex::new(Vec::new()),
    });
    let mut agent = Agent::new(
        AnyProvider::Mock(MockProvider::default()),
        Users {
            messages: VecDeque::from([CONTINUE.to_owned()]),
            delivered,
        },
        SkillRegistry::default(),
        None,
        1,
        tools,
    )
    .with_runtime_layer(Arc::clone(&model) as Arc<dyn RuntimeLayer>);
    agent
        .run()
        .await
        .map_err(|e| RealLoopError::Agent(e.to_string()))?;
    drop(agent);
    let run = Arc::into_inner(model)
        .ok_or_else(|| RealLoopError::Agent("the agent kept its model".into()))?
        .finish()?;
    run.sent
        .into_iter()
        .next()
        .and_then(|(request, _)| request.into_iter().next())
        .filter(|m| m.role == Role::System)
        .ok_or_else(|| RealLoopError::Agent("the probe request had no system prompt".into()))
}

/// The budget of `history` in the real loop, whose first message is Zeph's own system prompt
/// (the same in both arms): that prompt and `config`'s share of the recorded messages after
/// it, at least `config.budget`.
fn loop_budget(history: &[Message], config: &CompareConfig) -> usize {
    let tokens = ZephTokens::new();
    let prompt = history.first().map_or(0, |m| tokens.message(m));
    let recorded = tokens.context(history).saturating_sub(prompt);
    let share = config.budget_ratio.map_or(0, |r| {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "a share of a token count, rounded down"
        )]
        let b = (recorded as f64 * r) as usize;
        b
    });
    (prompt + share).max(config.budget)
}

/// One recorded history through the real loop in both arms.
#[derive(Debug, Clone)]
pub struct RealRun {
    /// Each arm's requests, measured ([`Strategy::Zeph`] for Zeph's loop,
    /// [`Strategy::Session`] for pagevm's).
    pub counts: BTreeMap<Strategy, Counts>,
    /// Turns each loop stopped before the recording's answers of the turn ran out (Zeph's
    /// "Stopping: context window is nearly full"): the recorded model messages it never asked
    /// for are not measured.
    pub cut_turns: BTreeMap<Strategy, usize>,
    /// The budget both loops ran at.
    pub budget: usize,
}

/// One recorded history replayed through the real loop in both arms under `config` (the budget:
/// Zeph's own system prompt and `config.budget_ratio` of the recorded messages, at least
/// `config.budget`), each request measured before the recorded model message it replays,
/// against the history as the loops hold it (Zeph's system prompt in place of the recorded
/// one).
///
/// # Errors
/// [`RealLoopError`].
pub async fn compare_real(
    history: &[Message],
    times: &[Option<i64>],
    config: &CompareConfig,
) -> Result<RealRun, RealLoopError> {
    let tokens = ZephTokens::new();
    // What the loops hold: Zeph's system prompt, then the recording after its own.
    let prompt = zeph_prompt(&Script::of(history).tools).await?;
    let mut history = history.to_vec();
    if let Some(first) = history.first_mut() {
        *first = prompt;
    }
    let history = history.as_slice();
    let config = CompareConfig {
        budget: loop_budget(history, config),
        budget_ratio: None,
        ..config.clone()
    };
    let mut arms = Vec::new();
    let mut cut_turns = BTreeMap::new();
    for (arm, strategy) in [
        (Arm::Stock, Strategy::Zeph),
        (Arm::Pagevm, Strategy::Session),
    ] {
        let run = run_arm(history, arm, &config).await?;
        cut_turns.insert(strategy, run.cut_turns);
        let by_message: HashMap<usize, Vec<Message>> = run
            .sent
            .into_iter()
            .filter_map(|(request, i)| Some((i?, request)))
            .collect();
        arms.push((strategy, by_message));
    }
    let mut observer = Observer::new(&tokens, &config)?;
    for (i, msg) in history.iter().enumerate() {
        for (strategy, by_message) in &arms {
            if let Some(request) = by_message.get(&i) {
                let at = times.get(i).copied().flatten();
                observer.request(*strategy, history, i, request, at)?;
            }
        }
        observer.advance(msg);
    }
    Ok(RealRun {
        counts: observer.finish(),
        cut_turns,
        budget: config.budget,
    })
}
