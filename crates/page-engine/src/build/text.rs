//! Builders for the pages that are not tool output: plans, preferences, rules (constraint and
//! bootstrap), and conversation turns.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use page_core::{PageId, PageType, Repr, Representation, TokenCounter};

use super::scan::{FirstDistinct, clip, paths_in};
use super::{BuildError, RepresentationBuilder};

/// A task plan: its goal, its steps and which one is current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanState<'a> {
    /// What the task is for.
    pub goal: &'a str,
    /// The steps, in order.
    pub steps: &'a [String],
    /// The 0-based index of the step in progress.
    pub current: usize,
}

/// A user or project preference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preference<'a> {
    /// What it is about (`indent_style`).
    pub key: &'a str,
    /// What the user wants (`tabs`).
    pub value: &'a str,
    /// Where it was stated, for the reader (`user message m12`).
    pub source: &'a str,
}

/// Rules the agent must keep: a constraint page or a bootstrap (policy) page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules<'a> {
    /// The text as written (a system prompt, a repository's instructions file).
    pub text: &'a str,
}

/// One or more conversation messages forming a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationTurn<'a> {
    /// `user` or `assistant`.
    pub role: &'a str,
    /// The message text.
    pub text: &'a str,
    /// The first and last message ids of the span, as the harness names them.
    pub span: (&'a str, &'a str),
    /// Time of the first message, milliseconds since the Unix epoch, when known.
    pub start_ms: Option<i64>,
}

impl<C: TokenCounter> RepresentationBuilder<C> {
    /// A plan page. The structured form always holds the goal and the current step (the
    /// plan's invariant); the pointer names the step position.
    ///
    /// # Errors
    /// [`BuildError::Empty`] for an empty goal or step list, [`BuildError::StepOutOfRange`].
    pub fn plan(
        &self,
        id: &PageId,
        plan: &PlanState<'_>,
    ) -> Result<BTreeMap<Repr, Representation>, BuildError> {
        if plan.goal.trim().is_empty() {
            return Err(BuildError::Empty { what: "plan goal" });
        }
        if plan.steps.is_empty() {
            return Err(BuildError::Empty { what: "plan steps" });
        }
        let Some(current) = plan.steps.get(plan.current) else {
            return Err(BuildError::StepOutOfRange {
                current: plan.current,
                steps: plan.steps.len(),
            });
        };
        let n = plan.steps.len();
        let k = plan.current + 1;
        Ok(self.assemble(PageType::Plan, |level| match level {
            Repr::Full => {
                let mut s = format!("Goal: {}\nSteps:\n", plan.goal.trim());
                for (i, step) in plan.steps.iter().enumerate() {
                    let mark = if i == plan.current {
                        "  ← current"
                    } else {
                        ""
                    };
                    let _ = writeln!(s, "{}. {}{mark}", i + 1, step.trim());
                }
                Some(s)
            }
            Repr::Compressed | Repr::Structured => Some(format!(
                "goal: {}\ncurrent step {k}/{n}: {}\n",
                plan.goal.trim(),
                current.trim()
            )),
            Repr::Pointer => Some(format!("[plan {id} · step {k}/{n}]")),
            Repr::None => None,
        }))
    }

    /// A preference page: key, value and where it was stated. The structured form keeps key,
    /// value and source; the compressed form clips a long value.
    ///
    /// # Errors
    /// [`BuildError::Empty`] for an empty key.
    pub fn preference(
        &self,
        id: &PageId,
        pref: &Preference<'_>,
    ) -> Result<BTreeMap<Repr, Representation>, BuildError> {
        if pref.key.trim().is_empty() {
            return Err(BuildError::Empty {
                what: "preference key",
            });
        }
        let max = self.config.max_line_chars;
        Ok(self.assemble(PageType::Preference, |level| match level {
            Repr::Full => Some(format!(
                "Preference {} = {} (stated in {})",
                pref.key, pref.value, pref.source
            )),
            Repr::Compressed => Some(format!(
                "{} = {} ({})",
                pref.key,
                clip(pref.value, max),
                pref.source
            )),
            Repr::Structured => Some(format!(
                "key: {}\nvalue: {}\nsource: {}\n",
                pref.key,
                clip(pref.value, max / 2),
                pref.source
            )),
            Repr::Pointer => Some(format!("[preference {id} · {}]", clip(pref.key, 40))),
            Repr::None => None,
        }))
    }

    /// A constraint or bootstrap page (`page_type` must be one of the two). The structured form
    /// is the list of rules, each kept verbatim: rules are never paraphrased, only the prose
    /// between them is dropped.
    ///
    /// # Errors
    /// [`BuildError::Empty`] when the text holds no rule.
    pub fn rules(
        &self,
        page_type: RulesKind,
        rules: &Rules<'_>,
    ) -> Result<BTreeMap<Repr, Representation>, BuildError> {
        let list = extract_rules(rules.text);
        if list.is_empty() {
            return Err(BuildError::Empty { what: "rule text" });
        }
        let page_type = match page_type {
            RulesKind::Constraint => PageType::Constraint,
            RulesKind::Bootstrap => PageType::Bootstrap,
        };
        Ok(self.assemble(page_type, |level| match level {
            Repr::Full => Some(rules.text.to_owned()),
            Repr::Compressed | Repr::Structured => {
                let mut s = String::from("rules:\n");
                for (i, r) in list.iter().enumerate() {
                    let _ = writeln!(s, "{}. {r}", i + 1);
                }
                Some(s)
            }
            // Off the default paths of both types; a configured path that adds a pointer gets
            // none here, so it reuses the structured text and can never lose a rule.
            Repr::Pointer | Repr::None => None,
        }))
    }

    /// A system prompt: a bootstrap page of its rules or, when it states none, a conversation
    /// page of role `system` spanning message `span` (stamped `start_ms`). The one rule by
    /// which the engine, the migration and the replay page a system prompt.
    ///
    /// # Errors
    /// [`BuildError::Empty`] for an empty span id.
    pub fn system_prompt(
        &self,
        id: &PageId,
        text: &str,
        span: &str,
        start_ms: Option<i64>,
    ) -> Result<(PageType, BTreeMap<Repr, Representation>), BuildError> {
        match self.rules(RulesKind::Bootstrap, &Rules { text }) {
            Ok(reprs) => Ok((PageType::Bootstrap, reprs)),
            Err(BuildError::Empty { .. }) => {
                let turn = ConversationTurn {
                    role: "system",
                    text,
                    span: (span, span),
                    start_ms,
                };
                Ok((PageType::Conversation, self.conversation(id, &turn)?))
            }
            Err(e) => Err(e),
        }
    }

    /// A conversation segment. The structured form keeps the span id, timestamps, role, size
    /// and the paths mentioned (the segment's invariant is span id + timestamps).
    ///
    /// # Errors
    /// [`BuildError::Empty`] for an empty span id.
    pub fn conversation(
        &self,
        id: &PageId,
        turn: &ConversationTurn<'_>,
    ) -> Result<BTreeMap<Repr, Representation>, BuildError> {
        if turn.span.0.is_empty() || turn.span.1.is_empty() {
            return Err(BuildError::Empty {
                what: "conversation span id",
            });
        }
        let (first, last) = turn.span;
        let span = if first == last {
            first.to_owned()
        } else {
            format!("{first}..{last}")
        };
        let at = turn.start_ms.map(|t| format!(" @{t}")).unwrap_or_default();
        let max = self.config.max_line_chars;
        Ok(self.assemble(PageType::Conversation, |level| match level {
            Repr::Full => Some(format!("{}: {}", turn.role, turn.text)),
            Repr::Compressed => {
                let budget = ((turn.text.len() as f64) * self.config.compressed_ratio) as usize;
                let mut s = format!("{}: ", turn.role);
                for line in turn.text.lines().filter(|l| !l.trim().is_empty()) {
                    if s.len() + line.len() > budget.max(max) {
                        s.push('…');
                        break;
                    }
                    s.push_str(&clip(line, max));
                    s.push('\n');
                }
                Some(s)
            }
            Repr::Structured => {
                let mut paths = FirstDistinct::new(self.config.max_paths);
                for line in turn.text.lines() {
                    for p in paths_in(line) {
                        paths.push(p);
                    }
                }
                let mut s = format!(
                    "span: {span}{at}\nrole: {}\nsize: {} chars\n",
                    turn.role,
                    turn.text.chars().count()
                );
                if let Some(p) = paths.render() {
                    let _ = writeln!(s, "paths: {p}");
                }
                if let Some(first) = turn.text.lines().find(|l| !l.trim().is_empty()) {
                    let _ = writeln!(s, "opens: {}", clip(first.trim(), 80));
                }
                Some(s)
            }
            Repr::Pointer => Some(format!("[conversation {id} · {span}{at}]")),
            Repr::None => None,
        }))
    }
}

/// Which kind of rules page to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RulesKind {
    /// A user or task constraint.
    Constraint,
    /// The system prompt or operating policy.
    Bootstrap,
}

/// The rules of a text: list items (`-`, `*`, `1.`) when it has any, else its non-empty lines.
/// Headings and blank lines are dropped; the rule text itself is kept as written.
fn extract_rules(text: &str) -> Vec<&str> {
    let items: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            let t = l.trim_start();
            t.strip_prefix("- ")
                .or_else(|| t.strip_prefix("* "))
                .or_else(|| {
                    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
                    (digits > 0)
                        .then(|| t[digits..].strip_prefix(". "))
                        .flatten()
                })
                .map(str::trim)
        })
        .filter(|r| !r.is_empty())
        .collect();
    if !items.is_empty() {
        return items;
    }
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}
