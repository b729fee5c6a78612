//! `[memory.compression.pagevm]`: pagevm's settings, read from the same TOML file as Zeph's
//! own configuration. A bad value is an error naming its key.

use page_engine::ReadOnlyTools;
use page_policy::{Paging, PolicyConfig, PolicyId, Watermarks};
use page_writeback::StoreUrl;
use pagevm_zeph::SessionConfig;
use serde::Deserialize;

use zeph_core::CONTEXT_BUDGET_RESERVE_RATIO;

use crate::{AgentConfig, Clock, Enforcement};

/// Where the section lives in Zeph's configuration file.
pub const SECTION: &str = "memory.compression.pagevm";

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file is not TOML.
    #[error("the configuration is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    /// A key of the section is missing, unknown or has a bad value.
    #[error("{key}: {reason}")]
    Key {
        /// The key, in full (`memory.compression.pagevm.budget`), or the section's path when
        /// the key is not known.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    #[serde(default)]
    enabled: bool,
    #[serde(default = "observe")]
    enforcement: Mode,
    budget: Option<toml::Value>,
    store: Option<String>,
    read_only_tools: Option<Vec<String>>,
    policy: Option<String>,
    watermarks: Option<Marks>,
    directory: Option<toml::Value>,
}

/// `[memory.compression.pagevm.watermarks]` as written; a key left out keeps its default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Marks {
    high: Option<f64>,
    low: Option<f64>,
    min_free: Option<u32>,
    rewrite_weight: Option<f64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Observe,
    Active,
}

const fn observe() -> Mode {
    Mode::Observe
}

/// Where a request's budget comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// This many Zeph-counted tokens (`budget = 120000`).
    Tokens(usize),
    /// The provider's context window less the share Zeph reserves for the reply
    /// (`CONTEXT_BUDGET_RESERVE_RATIO`), as Zeph's own `auto_budget` (`budget = "auto"`).
    Auto,
}

/// pagevm's settings for an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `observe` (the default) or `active`.
    pub enforcement: Enforcement,
    /// The most Zeph-counted tokens a request may hold, or where that number comes from.
    pub budget: Budget,
    /// The page store: an SQLite file or a PostgreSQL URL; `None`: `pagevm.db` beside Zeph's
    /// database.
    pub store: Option<StoreUrl>,
    /// Tools whose repeated calls may be answered from the store.
    pub read_only_tools: ReadOnlyTools,
    /// The paging policy (`policy`, `cache_stable` by default) with its watermarks
    /// (`[…pagevm.watermarks]`: `high`, `low`, `min_free`, `rewrite_weight`).
    pub policy: PolicyConfig,
    /// Whether each request ends with the page directory: what pages below full can still be
    /// cited by, for `read_page` (`directory = true`; off by default).
    pub directory: bool,
}

impl Settings {
    /// The settings in Zeph's configuration `text`; `None` when the section is absent or
    /// `enabled = false` (pagevm is off by default).
    ///
    /// # Errors
    /// [`ConfigError::Toml`] for text that is not TOML, [`ConfigError::Key`] naming the key
    /// that is unknown, missing (`budget` when enabled) or of a bad value.
    pub fn from_zeph_toml(text: &str) -> Result<Option<Self>, ConfigError> {
        let root: toml::Table = toml::from_str(text)?;
        let mut table = &root;
        let mut path = String::new();
        for part in SECTION.split('.') {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(part);
            match table.get(part) {
                None => return Ok(None),
                Some(toml::Value::Table(t)) => table = t,
                Some(other) => {
                    return Err(ConfigError::Key {
                        key: path,
                        reason: format!("must be a table, not {}", other.type_str()),
                    });
                }
            }
        }
        let section: Section =
            toml::Value::Table(table.clone())
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Key {
                    key: SECTION.to_owned(),
                    reason: e.message().to_owned(),
                })?;
        if !section.enabled {
            return Ok(None);
        }
        let key = |k: &str| format!("{SECTION}.{k}");
        let bad_budget = |got: String| ConfigError::Key {
            key: key("budget"),
            reason: format!("must be a positive number of tokens or \"auto\", got {got}"),
        };
        let budget = match section.budget {
            None => {
                return Err(ConfigError::Key {
                    key: key("budget"),
                    reason: "required when pagevm is enabled (Zeph-counted tokens per request, \
                             or \"auto\")"
                        .to_owned(),
                });
            }
            Some(toml::Value::Integer(b)) => Budget::Tokens(
                usize::try_from(b)
                    .ok()
                    .filter(|&b| b > 0)
                    .ok_or_else(|| bad_budget(b.to_string()))?,
            ),
            Some(toml::Value::String(s)) if s == "auto" => Budget::Auto,
            Some(other) => return Err(bad_budget(other.to_string())),
        };
        let store = section
            .store
            .as_deref()
            .map(str::parse::<StoreUrl>)
            .transpose()
            .map_err(|e| ConfigError::Key {
                key: key("store"),
                reason: e.to_string(),
            })?;
        if let Some(tools) = &section.read_only_tools
            && let Some(bad) = tools.iter().find(|t| t.trim().is_empty())
        {
            return Err(ConfigError::Key {
                key: key("read_only_tools"),
                reason: format!("a tool name is empty ({bad:?})"),
            });
        }
        let policy = policy(section.policy.as_deref(), section.watermarks)?;
        let directory = match section.directory {
            None => false,
            Some(toml::Value::Boolean(on)) => on,
            Some(other) => {
                return Err(ConfigError::Key {
                    key: key("directory"),
                    reason: format!("must be true or false, got {other}"),
                });
            }
        };
        Ok(Some(Self {
            policy,
            directory,
            enforcement: match section.enforcement {
                Mode::Observe => Enforcement::Observe,
                Mode::Active => Enforcement::Active,
            },
            budget,
            store,
            read_only_tools: section
                .read_only_tools
                .map_or_else(ReadOnlyTools::default, ReadOnlyTools::new),
        }))
    }

    /// The page store: `store` when set, else `pagevm.db` beside Zeph's database `zeph_db`
    /// (`[memory] sqlite_path`).
    ///
    /// # Errors
    /// [`pagevm_zeph::AdapterError::NoStorePath`] when `store` is unset and Zeph's database
    /// is not a file.
    pub fn store(&self, zeph_db: &str) -> Result<StoreUrl, pagevm_zeph::AdapterError> {
        match &self.store {
            Some(store) => Ok(store.clone()),
            None => pagevm_zeph::default_store_path(zeph_db).map(StoreUrl::Sqlite),
        }
    }

    /// The session of Zeph conversation `conversation` under these settings.
    ///
    /// # Errors
    /// As [`SessionConfig::new`].
    pub fn session_config(
        &self,
        conversation: i64,
    ) -> Result<SessionConfig, pagevm_zeph::AdapterError> {
        let mut config = SessionConfig::new(conversation)?;
        config.engine.read_only_tools = self.read_only_tools.clone();
        config.engine.policy = self.policy;
        config.engine.directory = self.directory;
        Ok(config)
    }

    /// The layer's configuration, stamping pages by `clock`; an `auto` budget is taken from
    /// `context_window`, the provider's (`LlmProvider::context_window`).
    ///
    /// # Errors
    /// [`ConfigError::Key`] for an `auto` budget when the provider reports no context window.
    pub fn agent_config(
        &self,
        clock: Clock,
        context_window: Option<usize>,
    ) -> Result<AgentConfig, ConfigError> {
        let budget = match (self.budget, context_window) {
            (Budget::Tokens(b), _) => b,
            (Budget::Auto, Some(window)) => {
                // Zeph's own rule (`ContextBudget::allocate`): the reply's reserve, in f32.
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss,
                    reason = "a share of a context window, rounded down, as Zeph rounds it"
                )]
                let reserve = (window as f32 * CONTEXT_BUDGET_RESERVE_RATIO) as usize;
                window.saturating_sub(reserve)
            }
            (Budget::Auto, None) => {
                return Err(ConfigError::Key {
                    key: format!("{SECTION}.budget"),
                    reason: "\"auto\" needs a provider that reports its context window, and \
                             this one does not: set a number of tokens"
                        .to_owned(),
                });
            }
        };
        Ok(AgentConfig {
            enforcement: self.enforcement,
            budget,
            clock,
        })
    }
}

/// The policy named by `policy` (`cache_stable` when unset) with `watermarks` laid over its
/// defaults; watermarks under a per-turn policy are an error, since it has no events.
fn policy(name: Option<&str>, watermarks: Option<Marks>) -> Result<PolicyConfig, ConfigError> {
    let key = |k: &str| format!("{SECTION}.{k}");
    let id = name
        .map(str::parse::<PolicyId>)
        .transpose()
        .map_err(|e| ConfigError::Key {
            key: key("policy"),
            reason: format!(
                "{e} (one of {})",
                PolicyId::ALL.map(PolicyId::code).join(", ")
            ),
        })?
        .unwrap_or(PolicyId::CacheStable);
    let mut config = PolicyConfig::preset(id);
    let Some(m) = watermarks else {
        return Ok(config);
    };
    let Paging::CacheStable(defaults) = config.paging else {
        return Err(ConfigError::Key {
            key: key("watermarks"),
            reason: format!(
                "policy {} re-decides every level every turn and has no watermarks (they apply \
                 to cache_stable)",
                id.code()
            ),
        });
    };
    let bad = |e: page_policy::WatermarksError| ConfigError::Key {
        key: key("watermarks"),
        reason: e.to_string(),
    };
    let marks = Watermarks::new(
        m.high.unwrap_or(defaults.high()),
        m.low.unwrap_or(defaults.low()),
        m.min_free.unwrap_or(defaults.min_free()),
    )
    .and_then(|w| w.with_rewrite_weight(m.rewrite_weight.unwrap_or(defaults.rewrite_weight())))
    .map_err(bad)?;
    config.paging = Paging::CacheStable(marks);
    Ok(config)
}
