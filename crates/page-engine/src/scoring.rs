//! Scoring inputs of pages the engine creates: base utility by page type and the recompute
//! cost of a tool result by the kind of tool that produced it.

use page_core::PageType;

/// Base utility of a page by its type (the bootstrap and plan terms of the paper's utility,
/// folded into base utility as page-policy expects); tool results take 5, as the paper's
/// transcript converter scores them.
#[must_use]
pub const fn base_utility(page_type: PageType) -> f64 {
    match page_type {
        PageType::Bootstrap | PageType::Constraint => 7.0,
        PageType::Plan => 6.0,
        PageType::Preference => 4.0,
        PageType::Evidence => TOOL_RESULT_UTILITY,
        PageType::Conversation => 2.0,
    }
}

/// Base utility of a tool result.
pub(crate) const TOOL_RESULT_UTILITY: f64 = 5.0;

/// What re-running a tool costs, as the artifact's transcript converter scores it: edits 12
/// (re-running one may not be idempotent), reads and commands 8, other tools 6.
#[must_use]
pub(crate) fn recompute_cost(tool: &str) -> f64 {
    const EDITS: [&str; 6] = ["edit", "write", "replace", "create", "insert", "apply"];
    const READS: [&str; 12] = [
        "read", "open", "cat", "view", "find", "grep", "search", "glob", "ls", "bash", "shell",
        "run",
    ];
    let t = tool.to_ascii_lowercase();
    if EDITS.iter().any(|k| t.contains(k)) {
        12.0
    } else if READS.iter().any(|k| t.contains(k)) || t.contains("command") {
        8.0
    } else {
        6.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_scored_by_kind() {
        let cases = [
            ("str_replace_editor", 12.0),
            ("Write", 12.0),
            ("read_file", 8.0),
            ("Bash", 8.0),
            ("execute_command", 8.0),
            ("web_fetch", 6.0),
        ];
        for (tool, cost) in cases {
            assert!((recompute_cost(tool) - cost).abs() < f64::EPSILON, "{tool}");
        }
    }
}
