//! Reading pages back: `read_page` texts, pointer resolution, demands for the next prompt
//! and memory recall.

use page_core::{Page, PageId, RecallOutcome, Repr, Scope, TokenCount, TokenCounter};
use page_writeback::Store;

use crate::error::EngineError;

use super::{Engine, HarnessPage};

impl<S: Store, C: TokenCounter> Engine<S, C> {
    /// The full text of a page, from the table or else the store.
    pub(super) fn full_text(&self, id: &PageId) -> Result<Option<String>, EngineError> {
        Ok(self
            .find_page(id)?
            .and_then(|p| p.representation(Repr::Full).map(|r| r.content().to_owned())))
    }

    /// Whether the page table or the store holds `id`.
    ///
    /// # Errors
    /// [`EngineError::Store`].
    pub fn holds(&self, id: &PageId) -> Result<bool, EngineError> {
        Ok(self.table.get(id).is_some() || self.wb.store().page(id)?.is_some())
    }

    /// A page from the table or else the store.
    fn find_page(&self, id: &PageId) -> Result<Option<std::borrow::Cow<'_, Page>>, EngineError> {
        if let Some(p) = self.table.get(id) {
            return Ok(Some(std::borrow::Cow::Borrowed(p)));
        }
        Ok(self.wb.store().page(id)?.map(std::borrow::Cow::Owned))
    }

    /// The full text of a page of this session or its project, from the table or else the
    /// store, without demanding it: what a harness's `read_page` tool returns as a new result
    /// at the tail of the conversation, leaving the page where it is.
    ///
    /// # Errors
    /// [`EngineError::UnknownPage`] when neither holds it, [`EngineError::OutOfScope`] for a
    /// page of another session or project, [`EngineError::Store`].
    pub fn page_text(&self, page: &PageId) -> Result<String, EngineError> {
        let unknown = || EngineError::UnknownPage {
            page: page.to_string(),
        };
        let found = self.find_page(page)?.ok_or_else(unknown)?;
        let own = match found.scope() {
            Scope::Session(s) => s == &self.config.session,
            Scope::Project(p) => self.config.project.as_ref() == Some(p),
        };
        if !own {
            return Err(EngineError::OutOfScope {
                page: page.to_string(),
                scope: found.scope().to_string(),
            });
        }
        let text = found
            .representation(Repr::Full)
            .map(|r| r.content().to_owned())
            .ok_or_else(unknown)?;
        tracing::event!(
            name: "context.pagevm.page_in",
            tracing::Level::DEBUG,
            session = %self.config.session,
            turn = self.turn,
            page = %page,
            page_type = %found.page_type(),
            tokens_full = found.levels().get(Repr::Full).map_or(0, TokenCount::get),
        );
        Ok(text)
    }

    /// Pointer resolution: the full text of a page the agent asked to expand, re-paged from
    /// the table or the store, and demanded in full by the next prompt.
    ///
    /// # Errors
    /// [`EngineError::UnknownPage`] when neither holds it, [`EngineError::Store`].
    pub fn resolve(&mut self, page: &PageId) -> Result<String, EngineError> {
        let text = self
            .full_text(page)?
            .ok_or_else(|| EngineError::UnknownPage {
                page: page.to_string(),
            })?;
        if self.table.get(page).is_some() {
            self.demands.insert(page.clone(), Repr::Full);
        }
        Ok(text)
    }

    /// Demands a page at `level` (at least its minimum) in the next prompt.
    ///
    /// # Errors
    /// [`EngineError::UnknownPage`].
    pub fn demand(&mut self, page: &PageId, level: Repr) -> Result<(), EngineError> {
        if self.table.get(page).is_none() {
            return Err(EngineError::UnknownPage {
                page: page.to_string(),
            });
        }
        let slot = self.demands.entry(page.clone()).or_insert(Repr::None);
        *slot = (*slot).max(level);
        Ok(())
    }

    /// Drops the demands of everything ingested so far. A harness catching up on history it
    /// did not see live (a restart, a migrated session) ingests the old turns, calls this, and
    /// then ingests the newest turn: only that turn is demanded in full by the next prompt,
    /// not every message and result of the past.
    pub fn settle_demands(&mut self) {
        self.demands.clear();
        self.page_ins.clear();
    }

    /// Demands `page`, the result of a page-in (a harness's `read_page`), in full in the next
    /// prompt. The model asked for this text, so [`EngineConfig::fresh_result_share`](crate::EngineConfig::fresh_result_share) does not
    /// lower it; only the budget does.
    ///
    /// # Errors
    /// [`EngineError::UnknownPage`].
    pub fn demand_page_in(&mut self, page: &PageId) -> Result<(), EngineError> {
        self.demand(page, Repr::Full)?;
        self.page_ins.insert(page.clone());
        Ok(())
    }

    /// A memory lookup over committed pages of the session (or the project). Never silent:
    /// the outcome, hit or not, is recorded as a visible note in the next prompt.
    ///
    /// # Errors
    /// [`EngineError::Build`] if the note cannot be built.
    pub fn recall(&mut self, query: &str, scope: &Scope) -> Result<RecallOutcome, EngineError> {
        let outcome = self.wb.recall(&self.config.principal, scope, query);
        let note = match &outcome {
            RecallOutcome::Hit { pages } => format!(
                "recall {query:?}: {} page(s): {}",
                pages.len(),
                pages
                    .iter()
                    .map(PageId::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            other => format!("recall {query:?}: {}", describe_miss(other)),
        };
        let page = HarnessPage {
            id: self.new_id("msg")?,
            frame: TokenCount::ZERO,
        };
        let id = self.conversation(page, "user", &note)?;
        self.demands.insert(id, Repr::Full);
        if let RecallOutcome::Hit { pages } = &outcome {
            for p in pages {
                if self.table.get(p).is_some() {
                    self.demands.insert(p.clone(), Repr::None);
                }
            }
        }
        Ok(outcome)
    }
}

fn describe_miss(outcome: &RecallOutcome) -> String {
    match outcome {
        RecallOutcome::Hit { pages } => format!("{} page(s)", pages.len()),
        RecallOutcome::NoMatch => "no committed page matches".to_owned(),
        RecallOutcome::Denied { reason } => format!("denied: {reason}"),
        RecallOutcome::BackendError { reason } => format!("memory backend failed: {reason}"),
    }
}
