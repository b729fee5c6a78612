//! How a planned unit becomes a page: page-engine's builders on its text, under the id, scope
//! and provenance the plan gives it, on several threads for a boundary's pages.

use page_core::{MessageId, Page, PageId, Provenance, Scope, TokenCounter, ToolCallId, TypeTable};
use page_engine::{BuildError, ConversationTurn, RepresentationBuilder, Source, ToolResult};

use crate::error::MigrateError;
use crate::plan::{Body, Unit};

/// One boundary to build and commit: the pages of `group` the store does not hold yet.
pub(crate) struct Job {
    pub(crate) conversation: i64,
    /// The boundary's position in its conversation (its turn is `ordinal + 1`).
    pub(crate) ordinal: usize,
    pub(crate) scope: Scope,
    pub(crate) todo: Vec<(PageId, Unit)>,
    /// The compaction of the boundary's first unit, if any (its kind and time).
    pub(crate) head: Option<crate::plan::Compacted>,
    /// The newest unit time of the whole group, those already stored included.
    pub(crate) newest_ms: i64,
}

pub(crate) fn build_err(page: &str, e: impl std::fmt::Display) -> MigrateError {
    MigrateError::Build {
        page: page.to_owned(),
        detail: e.to_string(),
    }
}

/// Builds the pages of `todo` in order, on up to `threads` scoped threads: tokenizing the
/// representations is most of a migration's work, and pages are independent.
pub(crate) fn build_all<C: TokenCounter + Sync>(
    builder: &RepresentationBuilder<C>,
    types: &TypeTable,
    job: &Job,
    threads: usize,
) -> Vec<Result<Page, MigrateError>> {
    let (scope, c, todo) = (&job.scope, job.conversation, job.todo.as_slice());
    let one = |(id, unit): &(PageId, Unit)| build_page(builder, types, scope, id.clone(), unit, c);
    // Small batches are not worth a thread.
    if threads <= 1 || todo.len() < 16 {
        return todo.iter().map(one).collect();
    }
    let chunk = todo.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = todo
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(pages) => pages,
                // A builder panic is a bug; surface it as an error of this batch, not a crash.
                Err(_) => vec![Err(build_err("(batch)", "a page builder thread panicked"))],
            })
            .collect()
    })
}

fn message_id(c: i64, m: i64) -> Result<MessageId, MigrateError> {
    MessageId::new(crate::ids::message_source(c, m))
        .map_err(|e| build_err(&format!("message {m}"), e))
}

fn build_page<C: TokenCounter>(
    builder: &RepresentationBuilder<C>,
    types: &TypeTable,
    scope: &Scope,
    id: PageId,
    unit: &Unit,
    c: i64,
) -> Result<Page, MigrateError> {
    let err = |e: BuildError| build_err(&unit.id, e);
    let import = || Provenance::Import {
        source: unit.source.clone(),
    };
    let at = (unit.time_ms > 0).then_some(unit.time_ms);
    let (page, provenance) = match &unit.body {
        Body::Bootstrap { text } => {
            let source = Source::SystemPrompt {
                text,
                span: "m0",
                start_ms: at,
            };
            (builder.ingest(&id, &source).map_err(err)?, import())
        }
        Body::Conversation {
            role,
            text,
            first,
            last,
        } => {
            let (a, b) = (format!("m{first}"), format!("m{last}"));
            let source = Source::Turn(ConversationTurn {
                role,
                text,
                span: (&a, &b),
                start_ms: at,
            });
            let provenance = if *first > 0 {
                Provenance::Transcript {
                    first: message_id(c, *first)?,
                    last: message_id(c, *last)?,
                    start_ms: None,
                    end_ms: at,
                }
            } else {
                import()
            };
            (builder.ingest(&id, &source).map_err(err)?, provenance)
        }
        Body::Evidence {
            tool,
            args_json,
            output,
            is_error,
            call_id,
        } => {
            let source = Source::ToolResult(ToolResult {
                tool,
                args_json,
                output,
                is_error: *is_error,
                exit_code: None,
            });
            let page = builder.ingest(&id, &source).map_err(err)?;
            // An unusable call id (empty, control characters) keeps the Zeph locator.
            let provenance = call_id
                .as_deref()
                .and_then(|c| ToolCallId::new(c).ok())
                .and_then(|c| page.tool_call(c))
                .unwrap_or_else(import);
            (page, provenance)
        }
    };
    Page::from_spec(page.into_spec(id, scope.clone(), provenance), types)
        .map_err(|e| build_err(&unit.id, e))
}
