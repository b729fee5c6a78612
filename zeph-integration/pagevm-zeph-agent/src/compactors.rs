//! Zeph's own compactors, turned off where pagevm sends the view. In `active` mode the view is
//! built from Zeph's message list, so a Zeph compaction that drains or rewrites that list
//! would take history out of what pagevm can show, and a compressor that shortens a result
//! before it enters the history would leave pagevm only the short form to page.

use zeph_core::AgentSessionConfig;

use crate::Enforcement;

/// One Zeph setting pagevm changed, with the value it had and the one it set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The key in Zeph's configuration file.
    pub key: &'static str,
    /// The value Zeph's configuration gave it.
    pub was: String,
    /// The value pagevm set.
    pub now: String,
}

/// A tool-call cutoff no session reaches. Not `usize::MAX`: Zeph computes `2 × cutoff + 2`.
const NO_CUTOFF: usize = usize::MAX / 4;

/// Turns Zeph's compactors off in `cfg` when `enforcement` is `active` (in `observe` mode Zeph
/// runs as configured and nothing changes), and returns what changed:
///
/// - `memory.context_budget_tokens` (and what `auto_budget` derived) to 0: no soft or hard
///   tier, no proactive compression;
/// - `memory.microcompact.enabled`: no idle sweep of old tool outputs;
/// - `memory.compression.acon.enabled`: results enter the history whole (pagevm keeps the
///   full text and degrades it itself);
/// - `memory.compression.arc.allow_agent_compaction`: no model-initiated compaction;
/// - `memory.tool_call_cutoff` out of reach: no deferred tool-pair summaries, and no sweep of
///   the results older than `2 × cutoff + 2` (Zeph's `prune_stale_tool_outputs`);
/// - server-side compaction (`llm.providers[].server_compaction`);
/// - `memory.fidelity`: no per-message regrading.
///
/// Zeph's in-place pruning of a result the session already holds is reconciled instead (the
/// unit keeps its pages), and a list that shrinks anyway is reported as
/// `context.pagevm.zeph_compaction`.
pub fn compactors_off(enforcement: Enforcement, cfg: &mut AgentSessionConfig) -> Vec<Override> {
    if enforcement == Enforcement::Observe {
        return Vec::new();
    }
    let on_off = |on: bool| if on { "on" } else { "off" }.to_owned();
    let was = [
        (
            "memory.context_budget_tokens",
            cfg.budget_tokens.to_string(),
            "0".to_owned(),
        ),
        (
            "memory.microcompact.enabled",
            cfg.microcompact_config.enabled.to_string(),
            "false".to_owned(),
        ),
        (
            "memory.compression.acon.enabled",
            cfg.acon_config.enabled.to_string(),
            "false".to_owned(),
        ),
        (
            "memory.compression.arc.allow_agent_compaction",
            cfg.arc_config.allow_agent_compaction.to_string(),
            "false".to_owned(),
        ),
        (
            "memory.tool_call_cutoff",
            cfg.tool_call_cutoff.to_string(),
            NO_CUTOFF.to_string(),
        ),
        (
            "llm.providers.server_compaction",
            cfg.server_compaction.to_string(),
            "false".to_owned(),
        ),
        (
            "memory.fidelity",
            on_off(cfg.fidelity_config.is_some()),
            on_off(false),
        ),
    ];
    cfg.budget_tokens = 0;
    cfg.microcompact_config.enabled = false;
    cfg.acon_config.enabled = false;
    cfg.arc_config.allow_agent_compaction = false;
    cfg.tool_call_cutoff = NO_CUTOFF;
    cfg.server_compaction = false;
    cfg.fidelity_config = None;
    was.into_iter()
        .filter(|(_, was, now)| was != now)
        .map(|(key, was, now)| Override { key, was, now })
        .collect()
}
