//! What an agent run did, as its summary line reports it: the requests sent, the largest of
//! them against the budget, orphaned pairs, tool runs the store made unnecessary, page-ins and
//! the audit rows the session left in the store.

use std::sync::Arc;

use page_core::PageId;
use page_writeback::{BoundaryReport, HistoryStore, Store};
use pagevm_zeph::AdapterError;
use serde::Serialize;

use crate::{LayerError, RequestRecord, Shared};

/// A finished run, as `--json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Tool-capable requests the provider received.
    pub requests: usize,
    /// The most Zeph-counted tokens one of them held.
    pub max_request_tokens: usize,
    /// The budget they were held to (in `observe` mode, the one pagevm's views were held to).
    pub budget: usize,
    /// Orphaned tool_use / tool_result pairs across what was sent.
    pub orphaned_pairs: usize,
    /// Repeated read-only calls answered from the store instead of run.
    pub tool_reruns_avoided: usize,
    /// `read_page` calls answered with a page.
    pub page_ins: usize,
    /// Audit rows of the session's pages in the store, after the session's last boundary.
    pub audit_records: usize,
    /// Where the pages are.
    pub store: String,
}

/// Why a run could not be finished.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FinishError {
    /// The layer or the executor still holds the session (the agent was not dropped).
    #[error("the pagevm session is still in use: drop the agent before finishing")]
    InUse,
    /// A hook panicked while it held the session.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// The session's last boundary failed; nothing committed earlier is lost.
    #[error("the session's last commit failed: {0}")]
    End(AdapterError),
    /// The store could not be read back.
    #[error("the store could not be read: {0}")]
    Store(#[from] page_writeback::StoreError),
}

/// Ends the session behind `shared` (its last write boundary: dirty pages and pending audit
/// rows are committed) and summarises the run. The agent must have been dropped first.
///
/// # Errors
/// [`FinishError`].
pub fn finish<S: Store + HistoryStore + Send + 'static>(
    shared: Arc<Shared<S>>,
    budget: usize,
    store: String,
) -> Result<(Summary, BoundaryReport), FinishError> {
    let shared = Arc::into_inner(shared).ok_or(FinishError::InUse)?;
    let (records, served, page_ins) = (shared.records(), shared.served(), shared.page_ins());
    let session = shared.into_session()?;
    let pages: Vec<PageId> = session
        .engine()
        .pages()
        .iter()
        .map(|p| p.id().clone())
        .collect();
    let (report, store_handle) = session.end().map_err(|e| {
        let (error, _session) = *e;
        FinishError::End(error)
    })?;
    let mut audit_records = 0;
    for page in &pages {
        audit_records += store_handle.audit_trail(page)?.len();
    }
    Ok((
        Summary {
            requests: records.len(),
            max_request_tokens: records.iter().map(sent_tokens).max().unwrap_or(0),
            budget,
            orphaned_pairs: records.iter().map(sent_orphans).sum(),
            tool_reruns_avoided: served,
            page_ins,
            audit_records,
            store,
        },
        report,
    ))
}

fn sent_tokens(r: &RequestRecord) -> usize {
    if r.sent {
        r.pagevm_tokens
    } else {
        r.zeph_tokens
    }
}

fn sent_orphans(r: &RequestRecord) -> usize {
    if r.sent { r.orphans } else { r.zeph_orphans }
}
