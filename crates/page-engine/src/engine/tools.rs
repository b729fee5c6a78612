//! Tool mediation: a response's calls wait for their results, and a repeated read-only call
//! is served from the earlier result instead of re-run.

use page_core::{
    FaultKind, PageId, PageType, Provenance, Repr, TokenCounter, ToolCallId, ToolSignature,
};
use page_writeback::Store;

use crate::build::ToolResult;
use crate::error::EngineError;
use crate::ingest::Source;
use crate::reuse::Reuse;
use crate::summarize::{EvidenceFacts, SummaryInput, admit};

use super::{Engine, Group, GroupCall, Item, ToolDecision, ToolOutput};

impl<S: Store, C: TokenCounter> Engine<S, C> {
    pub(super) fn ensure_no_pending(&self) -> Result<(), EngineError> {
        let missing: Vec<String> = self
            .pending_group()
            .map(|g| {
                g.calls
                    .iter()
                    .filter(|c| c.page.is_none())
                    .map(|c| c.request.call_id.to_string())
                    .collect()
            })
            .unwrap_or_default();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(EngineError::PendingToolResults { missing })
        }
    }

    fn pending_group(&self) -> Option<&Group> {
        match self.items.last() {
            Some(Item::Group(g)) if g.calls.iter().any(|c| c.page.is_none()) => Some(g),
            _ => None,
        }
    }

    fn pending_call(&mut self, call_id: &ToolCallId) -> Result<&mut GroupCall, EngineError> {
        let unknown = || EngineError::UnknownToolCall {
            call_id: call_id.to_string(),
        };
        match self.items.last_mut() {
            Some(Item::Group(g)) => g
                .calls
                .iter_mut()
                .find(|c| &c.request.call_id == call_id)
                .ok_or_else(unknown),
            _ => Err(unknown()),
        }
    }

    /// `tool_execute`, before: whether the call must run. A repeated read-only call (the rules
    /// are in [`ReadOnlyTools`](crate::ReadOnlyTools)) is served from the earlier result (re-paged from the page
    /// table or the store, never by re-running the tool), and the result is recorded for this
    /// call. The decision and its reason are the `tracing` event `context.pagevm.tool_decision`.
    ///
    /// # Errors
    /// [`EngineError::UnknownToolCall`] for a call not in the last response,
    /// [`EngineError::Store`] when the earlier result cannot be read.
    pub fn tool_before(&mut self, call_id: &ToolCallId) -> Result<ToolDecision, EngineError> {
        let call = self.pending_call(call_id)?;
        if let Some(page) = &call.page {
            return Ok(ToolDecision::Served {
                from: page.clone(),
                page: page.clone(),
                output: String::new(),
            });
        }
        let signature = call.signature.clone();
        let Some((from, output)) = self.reusable(call_id, &signature)? else {
            return Ok(ToolDecision::Run);
        };
        let is_error = self.is_error_result(&from);
        let page = self.record_result(
            call_id,
            &ToolOutput {
                output: output.clone(),
                is_error,
                exit_code: None,
            },
        )?;
        self.pending_call(call_id)?.served = true;
        Ok(ToolDecision::Served { from, page, output })
    }

    /// The earlier result (page and full text) that would answer call `call_id` of `tool`
    /// with `args_json` if it were made now, by the rules of [`tool_before`](Self::tool_before),
    /// without recording anything but the decision's event: for a harness that sees a call
    /// before it hands the engine the response that made it. The harness then reports the
    /// served text as the call's result.
    ///
    /// # Errors
    /// [`EngineError::Store`] when the earlier result cannot be read.
    pub fn stored_result(
        &self,
        call_id: &ToolCallId,
        tool: &str,
        args_json: &str,
    ) -> Result<Option<(PageId, String)>, EngineError> {
        self.reusable(call_id, &ToolSignature::of_call(tool, args_json))
    }

    /// A tool ran whose result the engine is given later (a harness that hands over a
    /// response and its results after the fact): one outside the read-only set may have
    /// changed what earlier reads returned, so none of them serves a call from now on.
    pub fn tool_ran(&mut self, tool: &str) {
        if !self.config.read_only_tools.contains(tool) {
            self.writes += 1;
        }
    }

    /// The earlier result that may answer a call with `signature`, the decision traced as
    /// `context.pagevm.tool_decision` with its reason.
    fn reusable(
        &self,
        call_id: &ToolCallId,
        signature: &ToolSignature,
    ) -> Result<Option<(PageId, String)>, EngineError> {
        let earlier = self.signatures.get(signature);
        let (reuse, served) = match earlier {
            _ if !self.config.read_only_tools.contains(signature.tool()) => {
                (Reuse::NotReadOnly, None)
            }
            None => (Reuse::New, None),
            Some((_, writes)) if *writes != self.writes => (Reuse::ChangedSince, None),
            Some((from, _)) => match self.full_text(from)? {
                Some(text) => (Reuse::Served, Some((from.clone(), text))),
                None => (Reuse::ResultGone, None),
            },
        };
        tracing::event!(
            name: "context.pagevm.tool_decision",
            tracing::Level::DEBUG,
            session = %self.config.session,
            turn = self.turn,
            call = %call_id,
            tool = signature.tool(),
            decision = if served.is_some() { "served" } else { "run" },
            reason = reuse.code(),
            from = earlier.map(|(p, _)| p.as_str()),
        );
        Ok(served)
    }

    fn is_error_result(&self, page: &PageId) -> bool {
        self.items.iter().any(|item| match item {
            Item::Group(g) => g
                .calls
                .iter()
                .any(|c| c.page.as_ref() == Some(page) && c.is_error),
            Item::Page { .. } => false,
        })
    }

    /// `tool_execute`, after: records the result of a call that ran. A call already served
    /// (or already recorded) that ran anyway is a `duplicate_tool` fault; its output is
    /// ignored and the recorded result kept.
    ///
    /// # Errors
    /// [`EngineError::UnknownToolCall`], [`EngineError::Build`].
    pub fn tool_after(
        &mut self,
        call_id: &ToolCallId,
        output: &ToolOutput,
    ) -> Result<PageId, EngineError> {
        let call = self.pending_call(call_id)?;
        if let Some(page) = call.page.clone() {
            self.record_fault(
                FaultKind::DuplicateTool,
                Some(&page),
                format!("call {call_id} ran although its result was already available"),
            );
            return Ok(page);
        }
        self.record_result(call_id, output)
    }

    fn record_result(
        &mut self,
        call_id: &ToolCallId,
        output: &ToolOutput,
    ) -> Result<PageId, EngineError> {
        let (tool, args_json, signature, named) = {
            let call = self.pending_call(call_id)?;
            (
                call.request.tool.clone(),
                call.request.args_json.clone(),
                call.signature.clone(),
                call.request.page.as_ref().map(|p| p.id.clone()),
            )
        };
        let id = match named {
            Some(id) => id,
            None => self.new_id("ev")?,
        };
        if !self.adopt(&id, PageType::Evidence)? {
            self.build_result(&id, call_id, &tool, &args_json, &signature, output)?;
        }
        if !self.config.read_only_tools.contains(&tool) {
            self.writes += 1;
        }
        self.signatures.insert(signature, (id.clone(), self.writes));
        self.demands.insert(id.clone(), Repr::Full);
        let call = self.pending_call(call_id)?;
        call.page = Some(id.clone());
        call.is_error = output.is_error;
        Ok(id)
    }

    fn build_result(
        &mut self,
        id: &PageId,
        call_id: &ToolCallId,
        tool: &str,
        args_json: &str,
        signature: &ToolSignature,
        output: &ToolOutput,
    ) -> Result<(), EngineError> {
        let mut page = self.builder.ingest(
            id,
            &Source::ToolResult(ToolResult {
                tool,
                args_json,
                output: &output.output,
                is_error: output.is_error,
                exit_code: output.exit_code,
            }),
        )?;
        if let Some(summarizer) = &self.summarizer {
            let proposal = summarizer.summarize(&SummaryInput {
                tool,
                args_json,
                output: &output.output,
                is_error: output.is_error,
            });
            let facts = EvidenceFacts {
                tool,
                is_error: output.is_error,
                paths: &page.listed_paths,
            };
            let refused = admit(
                id,
                proposal,
                &facts,
                &mut page.representations,
                &self.schemas,
                self.builder.counter(),
                summarizer.name(),
            );
            self.summary_rejections.extend(refused);
        }
        self.insert_page(
            id.clone(),
            page,
            Provenance::ToolCall {
                call_id: call_id.clone(),
                signature: signature.clone(),
            },
        )
    }
}
