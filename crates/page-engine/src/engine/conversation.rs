//! Intake: rules, plans, preferences, messages and model responses become pages and
//! prompt items (under the harness's names when it gives them, adopted from the store when
//! it holds them).

use std::collections::BTreeSet;

use page_core::{
    MessageId, Page, PageId, PageType, Provenance, Repr, Scope, TokenCount, TokenCounter,
    ToolSignature,
};
use page_writeback::{EvidenceRef, FieldPath, FieldVersion, Op, Store, Update};
use serde_json::Value;

use crate::assembly::Role;
use crate::build::{ConversationTurn, PlanState, Preference, Rules, RulesKind};
use crate::error::EngineError;
use crate::ingest::{Ingested, Source};

use super::{Engine, Group, GroupCall, HarnessPage, Item, ModelOutput, PlanCache};

impl<S: Store, C: TokenCounter> Engine<S, C> {
    pub(super) fn new_id(&mut self, kind: &str) -> Result<PageId, EngineError> {
        let id = self.next_id(kind)?;
        self.next_seq += 1;
        Ok(id)
    }

    fn next_id(&self, kind: &str) -> Result<PageId, EngineError> {
        Ok(PageId::new(format!(
            "{}/{kind}{}",
            self.config.session,
            self.next_seq + 1
        ))?)
    }

    /// Pages `source` under the engine's next id of `kind`; the number is taken only when
    /// the builders accept the source.
    fn ingest_new(
        &mut self,
        kind: &str,
        source: &Source<'_>,
    ) -> Result<(PageId, Ingested), EngineError> {
        let id = self.next_id(kind)?;
        let page = self.builder.ingest(&id, source)?;
        self.next_seq += 1;
        Ok((id, page))
    }

    fn scope_for(&self, page_type: PageType) -> Scope {
        match (&self.config.project, page_type) {
            (Some(p), PageType::Bootstrap | PageType::Constraint | PageType::Preference) => {
                Scope::Project(p.clone())
            }
            _ => Scope::Session(self.config.session.clone()),
        }
    }

    pub(super) fn insert_page(
        &mut self,
        id: PageId,
        page: Ingested,
        provenance: Provenance,
    ) -> Result<(), EngineError> {
        let page_type = page.page_type;
        let scope = self.scope_for(page_type);
        let page = Page::from_spec(page.into_spec(id, scope, provenance), &self.types)?;
        tracing::event!(
            name: "context.pagevm.ingest",
            tracing::Level::DEBUG,
            session = %self.config.session,
            turn = self.turn,
            page = %page.id(),
            page_type = %page_type,
            tokens_full = page.levels().get(Repr::Full).map_or(0, TokenCount::get),
            min_fidelity = %page.levels().min_fidelity(),
        );
        self.table.insert(page)?;
        Ok(())
    }

    fn add_page_item(&mut self, id: PageId, role: Role, frame: u32) {
        self.roles.insert(id.clone(), role);
        self.items.push(Item::Page { id, role, frame });
    }

    /// Adds rules: the system prompt (`Bootstrap`) or a constraint. They are hard-pinned and
    /// restored after every compaction and reset. A system prompt that states no rule is a
    /// conversation page of role `system` (`RepresentationBuilder::system_prompt`).
    ///
    /// # Errors
    /// [`EngineError::Build`] for a constraint without rules.
    pub fn add_rules(
        &mut self,
        kind: RulesKind,
        text: &str,
        source: &str,
    ) -> Result<PageId, EngineError> {
        let (id, page) = match kind {
            RulesKind::Bootstrap => {
                let span = self.next_id(PageType::Bootstrap.code())?;
                let source = Source::SystemPrompt {
                    text,
                    span: span.as_str(),
                    start_ms: Some(self.now_ms),
                };
                self.ingest_new(PageType::Bootstrap.code(), &source)?
            }
            RulesKind::Constraint => self.ingest_new(
                PageType::Constraint.code(),
                &Source::Constraint(Rules { text }),
            )?,
        };
        self.insert_page(
            id.clone(),
            page,
            Provenance::Import {
                source: source.to_owned(),
            },
        )?;
        self.add_page_item(id.clone(), Role::System, 0);
        Ok(id)
    }

    /// Adds the task plan. Its fields are staged for writeback, so later updates (a step
    /// appended, the current step moved) rebuild it from committed state.
    ///
    /// # Errors
    /// [`EngineError::Build`] for an empty goal or steps, or a current step out of range.
    pub fn add_plan(
        &mut self,
        goal: &str,
        steps: &[String],
        current: usize,
    ) -> Result<PageId, EngineError> {
        let (id, page) = self.ingest_new(
            "plan",
            &Source::Plan(PlanState {
                goal,
                steps,
                current,
            }),
        )?;
        self.insert_page(
            id.clone(),
            page,
            Provenance::Import {
                source: "plan".to_owned(),
            },
        )?;
        self.plans.insert(
            id.clone(),
            PlanCache {
                goal: goal.to_owned(),
                steps: steps.to_vec(),
                current,
            },
        );
        let scope = self.scope_for(PageType::Plan);
        for (field, value) in [
            ("goal", Value::from(goal)),
            ("steps", Value::from(steps.to_vec())),
            ("current_step", Value::from(current)),
            ("status", Value::from("active")),
        ] {
            let update = Update::new(
                id.clone(),
                FieldPath::new(field)?,
                Op::SetWithVersion {
                    expected: FieldVersion::ABSENT,
                },
                value.to_string(),
                scope.clone(),
                EvidenceRef::Page(id.clone()),
                self.config.principal.clone(),
            );
            self.wb.stage(update)?;
        }
        self.add_page_item(id.clone(), Role::System, 0);
        Ok(id)
    }

    /// Adds a preference the user stated.
    ///
    /// # Errors
    /// [`EngineError::Build`] for an empty key or value.
    pub fn add_preference(
        &mut self,
        key: &str,
        value: &str,
        source: &str,
    ) -> Result<PageId, EngineError> {
        let (id, page) = self.ingest_new(
            "pref",
            &Source::Preference(Preference { key, value, source }),
        )?;
        self.insert_page(
            id.clone(),
            page,
            Provenance::Import {
                source: source.to_owned(),
            },
        )?;
        self.add_page_item(id.clone(), Role::System, 0);
        Ok(id)
    }

    /// Records a user message; it is demanded in full by the next prompt.
    ///
    /// # Errors
    /// [`EngineError::Build`] when the builders refuse it.
    pub fn user_message(&mut self, text: &str) -> Result<PageId, EngineError> {
        let page = HarnessPage {
            id: self.new_id("msg")?,
            frame: TokenCount::ZERO,
        };
        self.user_message_as(page, text)
    }

    /// [`Engine::user_message`] under an id the harness chose. A harness that names its pages
    /// after its own durable ids (a database row, a migrated page) gets the same page back
    /// after a restart: a named page the store already holds in this session's scope is
    /// adopted as committed, not built or written again. The same applies to
    /// [`ModelOutput::page`] and [`ToolCallRequest::page`](crate::ToolCallRequest::page).
    ///
    /// # Errors
    /// [`EngineError::PageExists`] when the session already has the page,
    /// [`EngineError::NamedPageConflict`] when the store's page of that id is of another type
    /// or scope, [`EngineError::Build`] when the builders refuse the text.
    pub fn user_message_as(
        &mut self,
        page: HarnessPage,
        text: &str,
    ) -> Result<PageId, EngineError> {
        let id = self.conversation(page, "user", text)?;
        self.demands.insert(id.clone(), Repr::Full);
        Ok(id)
    }

    /// Takes a page the harness named from the store when the store holds it: `true` when it
    /// was adopted (and must not be built), `false` when it is new.
    pub(super) fn adopt(&mut self, id: &PageId, page_type: PageType) -> Result<bool, EngineError> {
        if self.table.get(id).is_some() {
            return Err(EngineError::PageExists {
                page: id.to_string(),
            });
        }
        let Some(page) = self.wb.store().page(id)? else {
            return Ok(false);
        };
        let scope = self.scope_for(page_type);
        if page.page_type() != page_type || page.scope() != &scope {
            return Err(EngineError::NamedPageConflict {
                page: id.to_string(),
                reason: format!(
                    "the store holds it as {} in {}, the session would make it {page_type} in {scope}",
                    page.page_type(),
                    page.scope()
                ),
            });
        }
        let version = page.version();
        tracing::event!(
            name: "context.pagevm.adopt",
            tracing::Level::DEBUG,
            session = %self.config.session,
            turn = self.turn,
            page = %id,
            page_type = %page_type,
            version,
        );
        self.table.insert(page)?;
        self.table.mark_clean(id, version)?;
        Ok(true)
    }

    pub(super) fn conversation(
        &mut self,
        page: HarnessPage,
        role: &str,
        text: &str,
    ) -> Result<PageId, EngineError> {
        let HarnessPage { id, frame } = page;
        let role_of_item = if role == "user" {
            Role::User
        } else {
            Role::Assistant
        };
        if self.adopt(&id, PageType::Conversation)? {
            self.add_page_item(id.clone(), role_of_item, frame.get());
            return Ok(id);
        }
        let message = MessageId::new(id.as_str())?;
        let page = self.builder.ingest(
            &id,
            &Source::Turn(ConversationTurn {
                role,
                text,
                span: (message.as_str(), message.as_str()),
                start_ms: Some(self.now_ms),
            }),
        )?;
        self.insert_page(
            id.clone(),
            page,
            Provenance::Transcript {
                first: message.clone(),
                last: message,
                start_ms: Some(self.now_ms),
                end_ms: None,
            },
        )?;
        self.add_page_item(id.clone(), role_of_item, frame.get());
        Ok(id)
    }

    /// `post_model`: records the model's response (its text as a conversation page, its tool
    /// calls as a pending evidence group) and stages its updates for the next boundary.
    ///
    /// # Errors
    /// [`EngineError::PendingToolResults`] while an earlier group still lacks results,
    /// [`EngineError::InvalidToolCall`] for a repeated
    /// call id, [`EngineError::Store`] when staging fails.
    pub fn post_model(&mut self, output: ModelOutput) -> Result<(), EngineError> {
        self.ensure_no_pending()?;
        let mut calls = Vec::with_capacity(output.tool_calls.len());
        let mut ids = BTreeSet::new();
        for (i, request) in output.tool_calls.into_iter().enumerate() {
            if !ids.insert(request.call_id.clone()) {
                return Err(EngineError::InvalidToolCall {
                    call_id: request.call_id.to_string(),
                    reason: "the call id repeats within the response".to_owned(),
                });
            }
            let signature = ToolSignature::of_call(&request.tool, &request.args_json);
            let overhead = match &request.page {
                Some(named) => named.frame.get(),
                None => {
                    let reasoning = if i == 0 {
                        output.thinking.as_slice()
                    } else {
                        &[]
                    };
                    self.count(&request.tool)
                        + self.count(&request.args_json)
                        + reasoning.iter().map(|t| self.count(t)).sum::<u32>()
                }
            };
            calls.push(GroupCall {
                request,
                signature,
                page: None,
                is_error: false,
                overhead,
                served: false,
            });
        }
        if let Some(text) = output.text.as_deref().filter(|t| !t.trim().is_empty()) {
            let page = match output.page {
                Some(page) => page,
                None => HarnessPage {
                    id: self.new_id("msg")?,
                    frame: TokenCount::ZERO,
                },
            };
            self.conversation(page, "assistant", text)?;
        }
        if !calls.is_empty() {
            self.items.push(Item::Group(Group {
                thinking: output.thinking,
                calls,
            }));
        }
        for update in output.updates {
            self.wb.stage(update)?;
        }
        Ok(())
    }
}
