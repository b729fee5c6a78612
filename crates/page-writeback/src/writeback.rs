//! The writeback journal of one session: stage typed updates, validate them with the five
//! deterministic checks, commit them with the dirty pages at a boundary.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use page_core::{PageId, RecallOutcome, Scope, SessionId, SessionPageTable};
use serde_json::Value;

use crate::error::{FlushMiss, StoreError};
use crate::journal::{
    BoundaryContext, BoundarySeq, CommitBatch, EntryId, EntryState, FaultRecord, FieldState,
    JournalEntry, Rejection, ReprChange, ValidatedUpdate,
};
use crate::schema::FieldSchemas;
use crate::store::Store;
use crate::update::{FieldPath, FieldVersion, PrincipalId, Update};

mod checks;

/// Which principals may write which scopes. Nothing is allowed unless granted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessControl {
    grants: BTreeMap<PrincipalId, BTreeSet<Scope>>,
}

impl AccessControl {
    /// No grants.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows `principal` to write pages of `scope`.
    #[must_use]
    pub fn grant(mut self, principal: PrincipalId, scope: Scope) -> Self {
        self.grants.entry(principal).or_default().insert(scope);
        self
    }

    /// Whether `principal` may write (and read) `scope`.
    #[must_use]
    pub fn allows(&self, principal: &PrincipalId, scope: &Scope) -> bool {
        self.grants
            .get(principal)
            .is_some_and(|s| s.contains(scope))
    }
}

/// A domain check beyond the five (e.g. "a plan's current step is within its steps"). Runs
/// after them, only on updates that passed them; a refusal is recorded with code `SEMANTIC`.
///
/// Implementations must be deterministic and must not do IO: validation is replayed.
pub trait SemanticValidator: Send + Sync {
    /// A stable name, recorded in the rejection detail.
    fn name(&self) -> &str;

    /// Checks `update`, whose parsed operand is `value` and which would leave its field as
    /// `next`. `Err` carries the reason, for a person.
    ///
    /// # Errors
    /// The reason the update is refused.
    fn check(&self, update: &Update, value: &Value, next: &FieldState) -> Result<(), String>;
}

/// Limits of a writeback journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WritebackConfig {
    /// The largest operand accepted, in bytes of JSON text. Larger ones are rejected with
    /// `SCHEMA`. Default 64 KiB.
    pub max_value_bytes: usize,
    /// How often a boundary re-validates and retries after a commit conflict with a concurrent
    /// writer before it reports a flush miss. Default 4.
    pub max_commit_attempts: u32,
}

impl Default for WritebackConfig {
    fn default() -> Self {
        Self {
            max_value_bytes: 64 * 1024,
            max_commit_attempts: 4,
        }
    }
}

/// What a committed boundary did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundaryReport {
    /// The boundary's sequence number in the store.
    pub seq: BoundarySeq,
    /// Committed entries and the field version each produced, in journal order.
    pub committed: Vec<(EntryId, FieldVersion)>,
    /// Entries rejected while validating for this boundary.
    pub rejected: Vec<(EntryId, Rejection)>,
    /// Pages committed, with the version stored.
    pub pages: Vec<(PageId, u64)>,
    /// How many of `pages` the store did not hold yet (a version it held identically is not
    /// stored twice).
    pub stored_pages: usize,
}

struct Pending {
    entry: JournalEntry,
    validated: Option<ValidatedUpdate>,
}

/// The verdicts of one validation pass, before anything is recorded.
struct Evaluation {
    overlay: BTreeMap<(PageId, FieldPath), FieldState>,
    /// `(index into pending, verdict)`, in journal order.
    results: Vec<(usize, Result<ValidatedUpdate, Rejection>)>,
}

/// The writeback journal of one session over a [`Store`].
///
/// Updates are staged (journalled, inert), validated (five checks in a fixed order, each with
/// its reason code, then the pluggable [`SemanticValidator`]s) and committed with every dirty
/// page of the session at a boundary, as one atomic store commit. A rejected update stays in
/// the journal with its reason and changes nothing.
///
/// Validation sees the committed state plus the effect of the entries validated before it, in
/// staging order. The commit re-applies each op to the state committed at that moment, so two
/// writers' appends both land; a `set_with_version` whose version another writer moved makes
/// the commit fail with a conflict, after which the boundary re-validates (the stale update is
/// then rejected with `DESTRUCTIVE_OP`) and retries.
pub struct Writeback<S> {
    store: S,
    session: SessionId,
    access: AccessControl,
    schemas: Arc<FieldSchemas>,
    config: WritebackConfig,
    validators: Vec<Box<dyn SemanticValidator>>,
    pending: Vec<Pending>,
    overlay: BTreeMap<(PageId, FieldPath), FieldState>,
}

impl<S> fmt::Debug for Writeback<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writeback")
            .field("session", &self.session)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<S: Store> Writeback<S> {
    /// A journal for `session` over `store`, allowing what `access` grants.
    #[must_use]
    pub fn new(
        store: S,
        session: SessionId,
        access: AccessControl,
        schemas: Arc<FieldSchemas>,
    ) -> Self {
        Self {
            store,
            session,
            access,
            schemas,
            config: WritebackConfig::default(),
            validators: Vec::new(),
            pending: Vec::new(),
            overlay: BTreeMap::new(),
        }
    }

    /// Replaces the limits.
    #[must_use]
    pub fn with_config(mut self, config: WritebackConfig) -> Self {
        self.config = config;
        self
    }

    /// Adds a semantic validator; validators run in the order added.
    #[must_use]
    pub fn with_validator(mut self, validator: Box<dyn SemanticValidator>) -> Self {
        self.validators.push(validator);
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back (entries still pending stay journalled in it).
    pub fn into_store(self) -> S {
        self.store
    }

    /// The session.
    pub fn session(&self) -> &SessionId {
        &self.session
    }

    /// The entries waiting for a boundary (staged or validated), in journal order.
    pub fn pending(&self) -> impl ExactSizeIterator<Item = &JournalEntry> {
        self.pending.iter().map(|p| &p.entry)
    }

    /// Journals `update` as `Staged`. It changes nothing until validated and committed.
    ///
    /// # Errors
    /// [`StoreError`] when the journal cannot be written; nothing is staged then.
    pub fn stage(&mut self, update: Update) -> Result<EntryId, StoreError> {
        let ids = self.stage_all(vec![update])?;
        ids.first()
            .copied()
            .ok_or_else(|| StoreError::Corrupt("the journal returned no id".to_owned()))
    }

    /// Journals several updates as `Staged`, in one store write.
    ///
    /// # Errors
    /// [`StoreError`] when the journal cannot be written; nothing is staged then.
    pub fn stage_all(&mut self, updates: Vec<Update>) -> Result<Vec<EntryId>, StoreError> {
        let ids = self.store.stage(&self.session, &updates)?;
        if ids.len() != updates.len() {
            return Err(StoreError::Corrupt(format!(
                "the journal returned {} ids for {} updates",
                ids.len(),
                updates.len()
            )));
        }
        for (&id, update) in ids.iter().zip(updates) {
            self.pending.push(Pending {
                entry: JournalEntry::new(id, self.session.clone(), update, EntryState::Staged),
                validated: None,
            });
        }
        Ok(ids)
    }

    /// Adopts the entries of this session that a previous process left pending (it stopped
    /// before their boundary committed). They become `Staged` again, to be re-validated against
    /// the current committed state and committed at the next boundary. Returns how many.
    ///
    /// Call it once after opening a store, before any other writer of the session starts.
    ///
    /// # Errors
    /// [`StoreError`] when the journal cannot be read or written.
    pub fn recover(&mut self) -> Result<usize, StoreError> {
        let known: BTreeSet<EntryId> = self.pending.iter().map(|p| p.entry.id()).collect();
        let orphans: Vec<JournalEntry> = self
            .store
            .entries(&self.session)?
            .into_iter()
            .filter(|e| e.state().is_pending() && !known.contains(&e.id()))
            .collect();
        let resets: Vec<(EntryId, EntryState)> = orphans
            .iter()
            .filter(|e| matches!(e.state(), EntryState::Validated))
            .map(|e| (e.id(), EntryState::Staged))
            .collect();
        if !resets.is_empty() {
            self.store.record_outcomes(&resets)?;
        }
        let n = orphans.len();
        for mut entry in orphans {
            entry.set_state(EntryState::Staged);
            self.pending.push(Pending {
                entry,
                validated: None,
            });
        }
        self.pending.sort_by_key(|p| p.entry.id());
        self.overlay.clear();
        for p in &mut self.pending {
            p.validated = None;
            p.entry.set_state(EntryState::Staged);
        }
        Ok(n)
    }

    /// Validates every staged entry, in journal order, and records the outcomes. `pages` is
    /// the session's live page table: its pages count as existing for the page, scope and
    /// provenance checks even before they are committed. Returns the rejections.
    ///
    /// # Errors
    /// [`StoreError`] when the committed state cannot be read or the outcomes cannot be
    /// recorded; no outcome is recorded then.
    pub fn validate(
        &mut self,
        pages: &SessionPageTable,
    ) -> Result<Vec<(EntryId, Rejection)>, StoreError> {
        let eval = self.evaluate(pages)?;
        let outcomes: Vec<(EntryId, EntryState)> = eval
            .results
            .iter()
            .map(|(idx, res)| {
                let state = match res {
                    Ok(_) => EntryState::Validated,
                    Err(rej) => EntryState::Rejected(rej.clone()),
                };
                (self.pending[*idx].entry.id(), state)
            })
            .collect();
        if !outcomes.is_empty() {
            self.store.record_outcomes(&outcomes)?;
        }
        Ok(self.apply_evaluation(eval))
    }

    /// Checks every staged entry against the committed state and the entries validated before
    /// it, without writing anything.
    fn evaluate(&self, pages: &SessionPageTable) -> Result<Evaluation, StoreError> {
        let mut overlay = self.overlay.clone();
        let mut results = Vec::new();
        for (idx, p) in self.pending.iter().enumerate() {
            if !matches!(p.entry.state(), EntryState::Staged) {
                continue;
            }
            let res = self.check(&p.entry, pages, &overlay)?;
            if let Ok((vu, next)) = &res {
                let u = vu.update();
                overlay.insert((u.page().clone(), u.field().clone()), next.clone());
            }
            results.push((idx, res.map(|(vu, _)| vu)));
        }
        Ok(Evaluation { overlay, results })
    }

    /// Makes an evaluation the in-memory state (after the store recorded it) and returns its
    /// rejections.
    fn apply_evaluation(&mut self, eval: Evaluation) -> Vec<(EntryId, Rejection)> {
        self.overlay = eval.overlay;
        let mut rejected = Vec::new();
        for (idx, res) in eval.results {
            let p = &mut self.pending[idx];
            match res {
                Ok(vu) => {
                    p.entry.set_state(EntryState::Validated);
                    p.validated = Some(vu);
                }
                Err(rej) => {
                    p.entry.set_state(EntryState::Rejected(rej.clone()));
                    rejected.push((p.entry.id(), rej));
                }
            }
        }
        self.pending
            .retain(|p| !matches!(p.entry.state(), EntryState::Rejected(_)));
        rejected
    }

    /// Commits a boundary: validates what is still staged, then commits every validated
    /// update, every dirty page of `pages` and the audit rows of `repr_changes` as one atomic
    /// store commit, and marks the committed pages clean.
    ///
    /// # Errors
    /// [`FlushMiss`] with the reason when the boundary cannot commit: nothing of it is applied,
    /// the pages stay dirty and the updates pending, and a `flush_miss` fault is logged when
    /// the store still accepts writes.
    pub fn commit_boundary(
        &mut self,
        context: BoundaryContext,
        pages: &mut SessionPageTable,
        repr_changes: Vec<ReprChange>,
    ) -> Result<BoundaryReport, FlushMiss> {
        let mut last_conflict = None;
        for attempt in 0..self.config.max_commit_attempts.max(1) {
            let eval = match self.evaluate(pages) {
                Ok(eval) => eval,
                Err(e) => return Err(self.flush_miss(context, pages, e.to_string(), Some(e))),
            };
            // Validated updates in journal order: those validated earlier and those just now.
            let fresh: BTreeMap<usize, &ValidatedUpdate> = eval
                .results
                .iter()
                .filter_map(|(idx, res)| res.as_ref().ok().map(|vu| (*idx, vu)))
                .collect();
            let updates = self
                .pending
                .iter()
                .enumerate()
                .filter_map(|(idx, p)| p.validated.as_ref().or_else(|| fresh.get(&idx).copied()))
                .cloned()
                .collect();
            let rejected: Vec<(EntryId, Rejection)> = eval
                .results
                .iter()
                .filter_map(|(idx, res)| {
                    res.as_ref()
                        .err()
                        .map(|rej| (self.pending[*idx].entry.id(), rej.clone()))
                })
                .collect();
            let batch = CommitBatch {
                session: self.session.clone(),
                context,
                updates,
                rejected,
                pages: pages.dirty().cloned().collect(),
                repr_changes: repr_changes.clone(),
            };
            let span = tracing::debug_span!(
                "context.pagevm.store_commit",
                store = std::any::type_name::<S>(),
                session = %self.session,
                boundary = %context.boundary,
                turn = context.turn,
                pages = batch.pages.len(),
                updates = batch.updates.len(),
                audit_rows = batch.repr_changes.len(),
                attempt,
            );
            let committed = span.in_scope(|| self.store.commit(&batch));
            if let Err(e) = &committed {
                span.in_scope(|| {
                    tracing::event!(
                        name: "context.pagevm.store_error",
                        tracing::Level::WARN,
                        session = %self.session,
                        attempt,
                        error = %e,
                    );
                });
            }
            match committed {
                Ok(receipt) => {
                    let rejected = self.apply_evaluation(eval);
                    let mut committed_pages = Vec::with_capacity(batch.pages.len());
                    for page in &batch.pages {
                        // The page was taken from this table a moment ago, so it is there.
                        let _clean = pages.mark_clean(page.id(), page.version());
                        committed_pages.push((page.id().clone(), page.version()));
                    }
                    self.pending.clear();
                    self.overlay.clear();
                    return Ok(BoundaryReport {
                        seq: receipt.seq,
                        committed: receipt.versions,
                        rejected,
                        pages: committed_pages,
                        stored_pages: receipt.stored_pages,
                    });
                }
                Err(e @ StoreError::Conflict { .. }) => {
                    // Another writer committed first: re-validate everything against the new
                    // committed state. The store keeps the entries pending meanwhile.
                    for p in &mut self.pending {
                        p.entry.set_state(EntryState::Staged);
                        p.validated = None;
                    }
                    self.overlay.clear();
                    last_conflict = Some(e);
                }
                Err(e) => return Err(self.flush_miss(context, pages, e.to_string(), Some(e))),
            }
        }
        let reason = format!(
            "still conflicting after {} attempts",
            self.config.max_commit_attempts.max(1)
        );
        Err(self.flush_miss(context, pages, reason, last_conflict))
    }

    /// Recalls committed pages of `scope` mentioning `needle` for `principal`. Never a silent
    /// empty: a hit, `no_match`, `denied` with the reason, or `backend_error` with the reason.
    pub fn recall(&self, principal: &PrincipalId, scope: &Scope, needle: &str) -> RecallOutcome {
        if !self.access.allows(principal, scope) {
            return RecallOutcome::Denied {
                reason: format!("principal {principal} may not read {scope}"),
            };
        }
        match self.store.search(scope, needle) {
            Ok(pages) => RecallOutcome::from_pages(pages),
            Err(e) => RecallOutcome::BackendError {
                reason: e.to_string(),
            },
        }
    }

    fn flush_miss(
        &self,
        context: BoundaryContext,
        pages: &SessionPageTable,
        reason: String,
        source: Option<StoreError>,
    ) -> FlushMiss {
        let miss = FlushMiss {
            boundary: context.boundary,
            pending: self.pending.len(),
            dirty_pages: pages.dirty().count(),
            reason,
            source,
        };
        // Best effort: the store that just failed may refuse this write too, and the caller
        // gets the flush miss either way.
        let _logged = self.store.record_fault(&FaultRecord {
            session: self.session.clone(),
            kind: page_core::FaultKind::FlushMiss,
            page: None,
            tool_call: None,
            turn: context.turn,
            time_ms: context.time_ms,
            detail: miss.to_string(),
        });
        miss
    }
}
