//! The one way an event a harness saw becomes a page: its type, every representation, pin,
//! scores, the call's signature and the specifics it can be cited by. The engine, the Zeph
//! adapter, the migration and the replay all page through [`RepresentationBuilder::ingest`];
//! only the id, the scope and the provenance are theirs to choose.

use std::collections::BTreeMap;

use page_core::{
    PageId, PageSpec, PageType, PinClass, Provenance, Repr, Representation, Scope, TokenCounter,
    ToolCallId, ToolSignature,
};

use crate::build::{
    BuildError, ConversationTurn, PlanState, Preference, RepresentationBuilder, Rules, RulesKind,
    ToolResult,
};
use crate::scoring::{TOOL_RESULT_UTILITY, base_utility, recompute_cost};
use crate::specifics::{Specifics, specifics};

/// What a harness saw, before it is a page.
#[derive(Debug, Clone)]
pub enum Source<'a> {
    /// The system prompt: a bootstrap page of its rules, or a `system` conversation turn
    /// spanning message `span` when it states none.
    SystemPrompt {
        /// The prompt as sent.
        text: &'a str,
        /// The message id the harness gives it.
        span: &'a str,
        /// When it was sent, milliseconds since the Unix epoch, when known.
        start_ms: Option<i64>,
    },
    /// A user or task constraint.
    Constraint(Rules<'a>),
    /// The task plan.
    Plan(PlanState<'a>),
    /// A preference the user stated.
    Preference(Preference<'a>),
    /// A user or assistant message.
    Turn(ConversationTurn<'a>),
    /// A tool call and its result, paged as one group.
    ToolResult(ToolResult<'a>),
    /// An excerpt the harness recalled from long-term memory (`label` says which kind). It is
    /// evidence, but no call: it signs nothing a repeated call could be served from.
    Memory {
        /// The kind of recall (`semantic recall`, `summary`, …).
        label: &'a str,
        /// The excerpt as the harness inserted it.
        text: &'a str,
    },
}

/// A page built from a [`Source`], before the harness gives it an id, a scope and an origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Ingested {
    /// The page's type.
    pub page_type: PageType,
    /// One representation per level of the type's degradation path.
    pub representations: BTreeMap<Repr, Representation>,
    /// A pin stronger than the type's default: tool results are soft-pinned, as the paper's
    /// transcript converter pins them (`None` keeps the type's default).
    pub pin: Option<PinClass>,
    /// Utility independent of recency and pins.
    pub base_utility: f64,
    /// What re-creating the content would cost.
    pub recompute_cost: f64,
    /// A tool call's canonical signature: equal signatures are repeated calls.
    pub signature: Option<ToolSignature>,
    /// The file paths a tool result's structured form lists: what any replacement of its
    /// structured or compressed form must keep. Empty for other sources.
    pub listed_paths: Vec<String>,
}

impl Ingested {
    /// The specifics (paths, identifiers) of the page's full text: what a later mention cites
    /// it by. Scanned on request, as a harness that cites nothing should not pay for it.
    #[must_use]
    pub fn specifics(&self) -> Specifics {
        specifics(
            self.representations
                .get(&Repr::Full)
                .map_or("", Representation::content),
        )
    }

    /// The provenance of a signed page as the result of call `call_id`; `None` for a page
    /// that is no tool call's result.
    #[must_use]
    pub fn tool_call(&self, call_id: ToolCallId) -> Option<Provenance> {
        self.signature
            .clone()
            .map(|signature| Provenance::ToolCall { call_id, signature })
    }

    /// Tokens of the full representation.
    #[must_use]
    pub fn full_tokens(&self) -> u32 {
        self.representations
            .get(&Repr::Full)
            .map_or(0, |r| r.tokens().get())
    }

    /// The page's spec under `id`, owned by `scope`, originating from `provenance`.
    #[must_use]
    pub fn into_spec(self, id: PageId, scope: Scope, provenance: Provenance) -> PageSpec {
        let mut spec = PageSpec::new(id, self.page_type, scope, provenance, self.representations);
        spec.pin = self.pin;
        spec.base_utility = self.base_utility;
        spec.recompute_cost = self.recompute_cost;
        spec
    }
}

/// Recompute costs of pages that are not tool results: what rebuilding them from their
/// source costs (a plan is re-derived from the task, a preference re-asked, rules and turns
/// are at hand in the transcript).
const PLAN_RECOMPUTE: f64 = 3.0;
const PREFERENCE_RECOMPUTE: f64 = 2.0;
const TRANSCRIPT_RECOMPUTE: f64 = 1.0;

impl<C: TokenCounter> RepresentationBuilder<C> {
    /// Pages `source` under `id` (the id is named by pointers and spans).
    ///
    /// # Errors
    /// [`BuildError::Empty`] for a source without its required content (a constraint without
    /// rules, a plan without a goal or steps, a turn without a span id),
    /// [`BuildError::StepOutOfRange`] for a plan's current step.
    pub fn ingest(&self, id: &PageId, source: &Source<'_>) -> Result<Ingested, BuildError> {
        let other = |page_type, representations, recompute_cost| Ingested {
            page_type,
            representations,
            pin: None,
            base_utility: base_utility(page_type),
            recompute_cost,
            signature: None,
            listed_paths: Vec::new(),
        };
        Ok(match source {
            Source::SystemPrompt {
                text,
                span,
                start_ms,
            } => {
                let (page_type, reprs) = self.system_prompt(id, text, span, *start_ms)?;
                other(page_type, reprs, TRANSCRIPT_RECOMPUTE)
            }
            Source::Constraint(rules) => other(
                PageType::Constraint,
                self.rules(RulesKind::Constraint, rules)?,
                TRANSCRIPT_RECOMPUTE,
            ),
            Source::Plan(plan) => other(PageType::Plan, self.plan(id, plan)?, PLAN_RECOMPUTE),
            Source::Preference(preference) => other(
                PageType::Preference,
                self.preference(id, preference)?,
                PREFERENCE_RECOMPUTE,
            ),
            Source::Turn(turn) => other(
                PageType::Conversation,
                self.conversation(id, turn)?,
                TRANSCRIPT_RECOMPUTE,
            ),
            Source::ToolResult(result) => {
                let built = self.evidence(id, result);
                Ingested {
                    page_type: PageType::Evidence,
                    representations: built.representations,
                    pin: Some(PinClass::Soft),
                    base_utility: TOOL_RESULT_UTILITY,
                    recompute_cost: recompute_cost(result.tool),
                    signature: Some(built.signature),
                    listed_paths: built.paths,
                }
            }
            Source::Memory { label, text } => {
                let built = self.evidence(
                    id,
                    &ToolResult {
                        tool: label,
                        args_json: "{}",
                        output: text,
                        is_error: false,
                        exit_code: None,
                    },
                );
                Ingested {
                    listed_paths: built.paths,
                    ..other(
                        PageType::Evidence,
                        built.representations,
                        recompute_cost(label),
                    )
                }
            }
        })
    }
}
