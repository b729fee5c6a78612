//! Retention of specifics: after each compaction, how many of the file paths, commands and
//! identifiers mentioned so far are still in the assembled prompt, or reachable from it.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};
use page_core::{Boundary, Repr};
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

/// Measures retention of `run`, a replay of `converted` under `config`, from its decision
/// trace (see [`RetentionMeter`] for the method).
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
    let mut meter = RetentionMeter::new(converted, config);
    for (turn, pages) in points {
        meter.measure(
            turn,
            pages
                .iter()
                .filter_map(|sp| index.get(sp.page.as_str()).map(|&i| (i, sp.level))),
        );
    }
    meter.finish()
}

/// Measures retention at the points a replay reaches, as it goes: after each compaction, or
/// after the last turn when none compacted.
///
/// At each measurement point the assembled prompt is the text of the selected pages at their
/// selected levels, leaving out pages not created yet (a workload without `exists` makes every
/// page available from turn 0); only specifics first mentioned at or before that turn count (a
/// prompt cannot retain what has not happened yet). A specific matches if its text, or its
/// JSON-escaped text (commands inside structured tool calls), occurs in one page's text.
pub struct RetentionMeter<'c> {
    converted: &'c Converted,
    resolves: bool,
    index: TextIndex,
    out: Retention,
    resident: Vec<bool>,
    reachable: Vec<bool>,
}

impl<'c> RetentionMeter<'c> {
    /// A meter for a replay of `converted` under `config`.
    #[must_use]
    pub fn new(converted: &'c Converted, config: &PolicyConfig) -> Self {
        let n = converted.mentioned.len();
        Self {
            converted,
            resolves: config.pointer_resolves_evidence,
            index: TextIndex::of_mentions(&converted.mentioned),
            out: Retention::default(),
            resident: vec![false; n],
            reachable: vec![false; n],
        }
    }

    /// Measures the prompt of `turn`: `pages` are `(page index, level)` of what it holds.
    pub fn measure(&mut self, turn: u32, pages: impl IntoIterator<Item = (usize, Repr)>) {
        let converted = self.converted;
        self.out.measured_turns.push(turn);
        self.resident.fill(false);
        self.reachable.fill(false);
        for (i, level) in pages {
            // A page selected before the turn that creates it held nothing yet.
            if level == Repr::None
                || converted
                    .created_at
                    .get(i)
                    .is_some_and(|&c| c > turn as usize)
            {
                continue;
            }
            let Some(texts) = converted.texts.get(i) else {
                continue;
            };
            if let Some(t) = texts.get(&level) {
                self.index.mark(i, level, t, &mut self.resident);
            }
            // A handle that resolves reaches every representation of its page.
            if self.resolves {
                for (&l, t) in texts {
                    self.index.mark(i, l, t, &mut self.reachable);
                }
            }
        }
        for (m, mention) in converted.mentioned.iter().enumerate() {
            if mention.turn > turn as usize {
                continue;
            }
            let counts = match mention.kind {
                SpecificKind::Path => &mut self.out.paths,
                SpecificKind::Command => &mut self.out.commands,
                SpecificKind::Identifier => &mut self.out.identifiers,
            };
            counts.total += 1;
            counts.resident += u64::from(self.resident[m]);
            counts.recoverable += u64::from(self.resident[m] || self.reachable[m]);
        }
    }

    /// The counts over every point measured.
    #[must_use]
    pub fn finish(self) -> Retention {
        self.out
    }
}

/// Which needles (specifics, anchor lines) each page text holds: one Aho-Corasick pass per
/// text, at most once per page and level, so measuring a session is linear in its text
/// (searching every needle in every prompt was quadratic in the session's length).
pub(crate) struct TextIndex {
    /// `None` when the automaton cannot be built (patterns beyond its size limits): then each
    /// pattern is searched on its own, slower and the same.
    automaton: Option<AhoCorasick>,
    patterns: Vec<String>,
    /// Pattern → the needles it stands for (a mention's text and its JSON-escaped text are
    /// both patterns; needles with equal texts share them).
    owners: Vec<Vec<usize>>,
    memo: HashMap<(usize, Repr), Vec<usize>>,
}

impl TextIndex {
    /// Needle `m` is mention `m`: its text or its JSON-escaped text (commands inside
    /// structured tool calls appear escaped).
    pub(crate) fn of_mentions(mentioned: &[crate::Mention]) -> Self {
        Self::new(Self::mention_patterns(mentioned).into_iter())
    }

    /// The patterns of each mention, for an index that holds other needles after them.
    pub(crate) fn mention_patterns(mentioned: &[crate::Mention]) -> Vec<Vec<String>> {
        mentioned
            .iter()
            .map(|mention| {
                let escaped = serde_json::Value::String(mention.text.clone()).to_string();
                let escaped = escaped.trim_matches('"').to_owned();
                let mut mine = vec![mention.text.clone()];
                if escaped != mention.text {
                    mine.push(escaped);
                }
                mine
            })
            .collect()
    }

    /// Needle `k` is found wherever one of the `k`th list's patterns is.
    pub(crate) fn new(needles: impl Iterator<Item = Vec<String>>) -> Self {
        let mut patterns: Vec<String> = Vec::new();
        let mut ids: HashMap<String, usize> = HashMap::new();
        let mut owners: Vec<Vec<usize>> = Vec::new();
        for (m, mine) in needles.enumerate() {
            for p in mine {
                let id = *ids.entry(p.clone()).or_insert_with(|| {
                    patterns.push(p);
                    owners.push(Vec::new());
                    owners.len() - 1
                });
                owners[id].push(m);
            }
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .ok();
        Self {
            automaton,
            patterns,
            owners,
            memo: HashMap::new(),
        }
    }

    /// Marks in `out` every needle that `text` (page `page` at `level`) holds.
    pub(crate) fn mark(&mut self, page: usize, level: Repr, text: &str, out: &mut [bool]) {
        let owners = &self.owners;
        let automaton = self.automaton.as_ref();
        let all = &self.patterns;
        let held = self.memo.entry((page, level)).or_insert_with(|| {
            let mut patterns: Vec<usize> = match automaton {
                Some(ac) => ac
                    .find_overlapping_iter(text)
                    .map(|hit| hit.pattern().as_usize())
                    .collect(),
                None => all
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| text.contains(p.as_str()))
                    .map(|(i, _)| i)
                    .collect(),
            };
            patterns.sort_unstable();
            patterns.dedup();
            patterns
                .into_iter()
                .flat_map(|p| owners[p].iter().copied())
                .collect()
        });
        for &m in held.iter() {
            out[m] = true;
        }
    }
}
