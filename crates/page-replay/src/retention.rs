//! Retention of specifics: after each compaction, how many of the file paths, commands and
//! identifiers mentioned so far are still in the assembled prompt, or reachable from it.

use std::collections::HashMap;

use page_core::Boundary;
use page_policy::{PolicyConfig, Simulation, TraceEvent};

use crate::{Converted, SpecificKind};

/// Counts for one kind of specific, summed over the measurement points.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionCounts {
    /// Specifics mentioned up to each measurement point.
    pub total: u64,
    /// Of those, present verbatim in the assembled prompt text.
    pub resident: u64,
    /// Of those, resident or inside any representation of a page whose handle is in the prompt
    /// and resolves (under a policy that resolves pointers).
    pub recoverable: u64,
}

/// Retention of one replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// File paths.
    pub paths: RetentionCounts,
    /// Shell commands.
    pub commands: RetentionCounts,
    /// Identifiers.
    pub identifiers: RetentionCounts,
    /// The turns measured: every turn that began with a compaction, or the last turn when none
    /// did.
    pub measured_turns: Vec<u32>,
}

/// Measures retention of `run`, a replay of `converted` under `config`.
///
/// At each measurement point the assembled prompt is the concatenated text of the selected
/// pages at their selected levels, leaving out pages not created yet (the workload format
/// makes every page available from turn 0); only specifics first mentioned at or before that turn count
/// (a prompt cannot retain what has not happened yet). A specific matches if its text, or its
/// JSON-escaped text (commands inside structured tool calls), occurs in the prompt.
#[must_use]
pub fn retention(converted: &Converted, config: &PolicyConfig, run: &Simulation) -> Retention {
    let index: HashMap<&str, usize> = converted
        .workload
        .pages
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    let compacted: Vec<u32> = run
        .trace
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Boundary {
                turn,
                boundary: Boundary::Compaction(_),
                ..
            } => Some(*turn),
            _ => None,
        })
        .collect();
    let selections: Vec<(u32, &Vec<page_policy::SelectedPage>)> = run
        .trace
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Selection { turn, pages, .. } => Some((*turn, pages)),
            _ => None,
        })
        .collect();
    let points: Vec<(u32, &Vec<page_policy::SelectedPage>)> = if compacted.is_empty() {
        selections.last().copied().into_iter().collect()
    } else {
        selections
            .iter()
            .copied()
            .filter(|(t, _)| compacted.contains(t))
            .collect()
    };
    let mut out = Retention::default();
    for (turn, pages) in points {
        out.measured_turns.push(turn);
        let mut prompt = String::new();
        let mut reachable = String::new();
        for sp in pages {
            let Some(&i) = index.get(sp.page.as_str()) else {
                continue;
            };
            // A page selected before the turn that creates it held nothing yet.
            if converted
                .created_at
                .get(i)
                .is_some_and(|&c| c > turn as usize)
            {
                continue;
            }
            let texts = &converted.texts[i];
            if let Some(t) = texts.get(&sp.level) {
                prompt.push_str(t);
                prompt.push('\n');
            }
            // A handle that resolves reaches every representation of its page.
            if config.pointer_resolves_evidence {
                for t in texts.values() {
                    reachable.push_str(t);
                    reachable.push('\n');
                }
            }
        }
        for m in converted
            .mentioned
            .iter()
            .filter(|m| m.turn <= turn as usize)
        {
            let escaped = serde_json::Value::String(m.text.clone()).to_string();
            let escaped = escaped.trim_matches('"');
            let found = |hay: &str| hay.contains(&m.text) || hay.contains(escaped);
            let counts = match m.kind {
                SpecificKind::Path => &mut out.paths,
                SpecificKind::Command => &mut out.commands,
                SpecificKind::Identifier => &mut out.identifiers,
            };
            counts.total += 1;
            let resident = found(&prompt);
            counts.resident += u64::from(resident);
            counts.recoverable += u64::from(resident || found(&reachable));
        }
    }
    out
}
