//! A terminal Zeph agent with pagevm attached: zeph-core 0.21.4's own loop, Zeph's file and
//! shell tools, the provider and database from Zeph's configuration file, and pagevm's
//! settings from its `[memory.compression.pagevm]` section.
//!
//! ```text
//! cargo run --release -p pagevm-zeph-agent --example agent -- --config zeph.toml
//! cargo run --release -p pagevm-zeph-agent --example agent -- --config zeph.toml \
//!     --mock session.json --json
//! ```
//!
//! Interactive, it continues Zeph's latest conversation (its history reloads, pagevm adopts
//! the pages it stored). `--mock SCRIPT` runs a scripted session offline instead: the user's
//! messages and the model's answers come from the script (a JSON list of turns), every tool
//! really runs, and the session is a new conversation in the same databases, stamped by a
//! fixed clock so the same script pages the same way. `--json` prints a summary at the end.

#![recursion_limit = "256"]
#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a terminal agent: the conversation and the summary are its output"
)]

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Parser;
use page_store_postgres::PostgresStore;
use page_store_sqlite::SqliteStore;
use page_writeback::{HistoryStore, Store, StoreUrl};
use pagevm_zeph::SessionConfig;
use pagevm_zeph::{PagedSession, ZephTokens};
use pagevm_zeph_agent::{
    AgentConfig, Clock, Settings, Shared, Summary, attach, compactors_off, finish,
};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
use zeph_core::channel::{Channel, ChannelError, ChannelMessage};
use zeph_core::provider_factory::build_provider_from_entry;
use zeph_core::{Agent, AgentSessionConfig};
use zeph_llm::any::AnyProvider;
use zeph_llm::mock::MockProvider;
use zeph_llm::provider::{ChatResponse, LlmProvider as _, ToolUseRequest};
use zeph_memory::semantic::SemanticMemory;
use zeph_skills::registry::SkillRegistry;
use zeph_tools::{CompositeExecutor, FileExecutor, ShellExecutor};

#[derive(Debug, Parser)]
#[command(about = "A terminal Zeph agent (zeph-core 0.21.4) with pagevm attached")]
struct Args {
    /// Zeph's configuration file; pagevm's settings are its `[memory.compression.pagevm]`.
    #[arg(long)]
    config: PathBuf,
    /// Run a scripted session offline: a JSON list of turns, each `{"user": "...", "model":
    /// [answers]}`, an answer `{"text": "..."}` or `{"text": "...", "calls": [{"id": "...",
    /// "name": "...", "input": {...}}]}`.
    #[arg(long, value_name = "SCRIPT")]
    mock: Option<PathBuf>,
    /// At the end, print a JSON summary of the run on stdout.
    #[arg(long)]
    json: bool,
}

/// One turn of a mock script.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Turn {
    user: String,
    model: Vec<Answer>,
}

/// One model answer of a mock script: text, with tool calls when it has any.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    calls: Vec<Call>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Call {
    id: String,
    name: String,
    input: serde_json::Value,
}

impl Answer {
    fn response(self) -> ChatResponse {
        if self.calls.is_empty() {
            return ChatResponse::Text(self.text.unwrap_or_default());
        }
        ChatResponse::ToolUse {
            text: self.text,
            tool_calls: self
                .calls
                .into_iter()
                .map(|c| ToolUseRequest {
                    id: c.id,
                    name: c.name.into(),
                    input: c.input,
                })
                .collect(),
            thinking_blocks: vec![],
        }
    }
}

fn read_script(path: &Path) -> anyhow::Result<Vec<Turn>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the mock script {}", path.display()))?;
    let turns: Vec<Turn> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a mock script", path.display()))?;
    if turns.is_empty() {
        bail!("{} has no turns", path.display());
    }
    Ok(turns)
}

/// The user's side: the terminal, or the script's messages.
enum User {
    Terminal(tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>),
    Script(VecDeque<String>),
}

/// A channel on the terminal: what the user types in, the agent's answers out. Answers go to
/// stderr when stdout carries the JSON summary.
struct Console {
    user: User,
    json: bool,
}

/// Writes `text` to the user: stdout, or stderr when stdout carries the JSON summary.
async fn say(json: bool, text: &str) -> Result<(), ChannelError> {
    if json {
        let mut err = tokio::io::stderr();
        err.write_all(text.as_bytes()).await?;
        err.flush().await?;
    } else {
        let mut out = tokio::io::stdout();
        out.write_all(text.as_bytes()).await?;
        out.flush().await?;
    }
    Ok(())
}

impl Channel for Console {
    async fn recv(&mut self) -> Result<Option<ChannelMessage>, ChannelError> {
        let text = match &mut self.user {
            User::Terminal(lines) => {
                say(self.json, "\n> ").await?;
                lines.next_line().await?
            }
            User::Script(queue) => queue.pop_front().inspect(|t| eprintln!("\n> {t}")),
        };
        Ok(text.map(|text| ChannelMessage {
            text,
            attachments: vec![],
            is_guest_context: false,
            is_from_bot: false,
        }))
    }

    async fn send(&mut self, text: &str) -> Result<(), ChannelError> {
        say(self.json, &format!("{text}\n")).await
    }

    async fn send_chunk(&mut self, chunk: &str) -> Result<(), ChannelError> {
        say(self.json, chunk).await
    }

    async fn flush_chunks(&mut self) -> Result<(), ChannelError> {
        say(self.json, "\n").await
    }

    async fn confirm(&mut self, prompt: &str) -> Result<bool, ChannelError> {
        match &mut self.user {
            User::Terminal(lines) => {
                say(self.json, &format!("{prompt} [y/N] ")).await?;
                let answer = lines.next_line().await?.unwrap_or_default();
                Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
            }
            // A script cannot answer; what needs confirming is not run.
            User::Script(_) => Ok(false),
        }
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "the interactive agent stamps its pages with the system clock"
)]
fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    })
}

/// Zeph's configuration in `path` (whose contents are `text`). A complete file (as `zeph init`
/// writes it) loads as Zeph loads it; a file that names only what it changes is laid over
/// Zeph's defaults (`Config::dump_defaults`), then takes Zeph's environment overrides.
fn load_zeph(path: &Path, text: &str) -> anyhow::Result<zeph_core::Config> {
    let Err(complete) = zeph_core::Config::load(path) else {
        return zeph_core::Config::load(path).map_err(Into::into);
    };
    let mut merged: toml::Table = toml::from_str(&zeph_core::Config::dump_defaults()?)?;
    overlay(&mut merged, toml::from_str(text)?);
    let mut config: zeph_core::Config =
        toml::Value::Table(merged).try_into().with_context(|| {
            format!(
                "Zeph cannot load {} ({complete}), nor with its defaults filled in",
                path.display()
            )
        })?;
    config.apply_env_overrides();
    config
        .validate()
        .with_context(|| format!("Zeph rejects {}", path.display()))?;
    Ok(config)
}

/// Lays `over` onto `base`, table by table.
fn overlay(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => overlay(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Runs the conversation on `agent` with pagevm attached over the store `open` opens, and
/// summarises it. The store is opened, the session started and ended on tokio's blocking pool
/// (as the layer runs every session call): a PostgreSQL client blocks on a runtime of its own,
/// which tokio forbids inside async code.
async fn converse<S: Store + HistoryStore + Send + 'static>(
    agent: Agent<Console>,
    open: impl FnOnce() -> anyhow::Result<S> + Send + 'static,
    session: SessionConfig,
    provider: AnyProvider,
    config: AgentConfig,
    store: String,
) -> anyhow::Result<Summary> {
    let shared = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        Ok(Shared::new(PagedSession::start(
            open()?,
            ZephTokens::new(),
            session,
        )?))
    })
    .await??;
    let budget = config.budget;
    let mut agent = attach(agent, &shared, provider, config);
    let ran = async {
        agent.load_history().await?;
        agent.run().await
    }
    .await;
    drop(agent);
    // Whatever the run did, the session's last boundary commits what it paged.
    let (summary, _) = tokio::task::spawn_blocking(move || finish(shared, budget, store)).await??;
    ran?;
    Ok(summary)
}

/// The time a mock run's pages are stamped with.
const MOCK_NOW: i64 = 1_780_000_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("cannot read Zeph's configuration {}", args.config.display()))?;
    let settings = Settings::from_zeph_toml(&text)
        .with_context(|| format!("in {}", args.config.display()))?
        .with_context(|| {
            format!(
                "pagevm is off in {}: set `enabled = true` in [{}]",
                args.config.display(),
                pagevm_zeph_agent::SECTION
            )
        })?;
    let zeph = load_zeph(&args.config, &text)?;

    let script = args.mock.as_deref().map(read_script).transpose()?;
    let (provider, user, clock) = match script {
        Some(turns) => {
            let mut messages = VecDeque::new();
            let mut answers = Vec::new();
            for turn in turns {
                messages.push_back(turn.user);
                answers.extend(turn.model.into_iter().map(Answer::response));
            }
            let (mock, _) = MockProvider::default().with_tool_use(answers);
            let clock: Clock = Arc::new(|| MOCK_NOW);
            (AnyProvider::Mock(mock), User::Script(messages), clock)
        }
        None => {
            let entry =
                zeph.llm.providers.first().with_context(|| {
                    format!("no [[llm.providers]] in {}", args.config.display())
                })?;
            let provider = build_provider_from_entry(entry, &zeph)?;
            let lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            (provider, User::Terminal(lines), system_clock())
        }
    };

    let zeph_db = zeph.memory.sqlite_path.clone();
    if let Some(dir) = Path::new(&zeph_db)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let memory = Arc::new(
        SemanticMemory::with_sqlite_backend(
            &zeph_db,
            provider.clone(),
            &zeph.llm.embedding_model,
            zeph.memory.semantic.vector_weight,
            zeph.memory.semantic.keyword_weight,
        )
        .await
        .with_context(|| format!("cannot open Zeph's database {zeph_db}"))?,
    );
    let conversation = match (
        args.mock.is_some(),
        memory.sqlite().latest_conversation_id().await?,
    ) {
        (false, Some(latest)) => latest,
        _ => memory.sqlite().create_conversation().await?,
    };
    let skills = SkillRegistry::load(
        &zeph
            .skills
            .paths
            .iter()
            .map(PathBuf::from)
            .collect::<Vec<_>>(),
    );
    let tools = CompositeExecutor::new(
        FileExecutor::new(vec![]),
        ShellExecutor::new(&zeph.tools.shell),
    );
    let mut session_config =
        AgentSessionConfig::from_config(&zeph, zeph.memory.context_budget_tokens);
    for o in compactors_off(settings.enforcement, &mut session_config) {
        eprintln!("pagevm: {} = {} (was {})", o.key, o.now, o.was);
    }
    let channel = Console {
        user,
        json: args.json,
    };
    let agent = Agent::new(
        provider.clone(),
        channel,
        skills,
        None,
        zeph.skills.max_active_skills.get(),
        tools,
    )
    .with_memory(
        Arc::clone(&memory),
        conversation,
        zeph.memory.history_limit,
        zeph.memory.semantic.recall_limit,
        zeph.memory.summarization_threshold,
    )
    .apply_session_config(session_config);
    let config = settings
        .agent_config(clock, provider.context_window())
        .with_context(|| format!("in {}", args.config.display()))?;
    let session = settings.session_config(conversation.0)?;
    let store = settings.store(&zeph_db)?;
    eprintln!(
        "pagevm {:?}, budget {} tokens, pages in {store} (conversation {})",
        settings.enforcement, config.budget, conversation.0
    );
    let label = store.to_string();
    let summary = match store {
        StoreUrl::Sqlite(path) => {
            let open = move || {
                SqliteStore::open(&path)
                    .with_context(|| format!("cannot open the page store {}", path.display()))
            };
            converse(agent, open, session, provider, config, label).await?
        }
        StoreUrl::Postgres(url) => {
            let open = move || {
                PostgresStore::open(&url).with_context(|| {
                    format!(
                        "cannot open the page store {}",
                        StoreUrl::Postgres(url.clone())
                    )
                })
            };
            converse(agent, open, session, provider, config, label).await?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        eprintln!(
            "pagevm: {} requests, largest {} of {} tokens, {} orphaned pairs, {} tool runs \
             avoided, {} page-ins, {} audit records",
            summary.requests,
            summary.max_request_tokens,
            summary.budget,
            summary.orphaned_pairs,
            summary.tool_reruns_avoided,
            summary.page_ins,
            summary.audit_records
        );
    }
    Ok(())
}
