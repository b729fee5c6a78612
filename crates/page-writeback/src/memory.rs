//! An in-memory store: the reference implementation of the storage traits, used by tests, by
//! replay and as the model the SQLite store is compared against.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use page_core::{ContentDigest, Page, PageId, Provenance, Scope, SessionId, ToolCallId, TypeTable};

use crate::copy::{BoundaryRecord, CopyStore};
use crate::error::StoreError;
use crate::journal::{
    AuditRecord, BoundaryContext, BoundarySeq, CommitBatch, CommitReceipt, EntryId, EntryState,
    FaultRecord, FieldState, JournalEntry,
};
use crate::ops::{OpError, apply_op};
use crate::store::{BlobStore, HistoryStore, JournalStore, PageStore};
use crate::update::{FieldPath, FieldVersion, Update};

/// A store held in memory. Cloning gives another handle to the same store (like opening the
/// same database file twice); it lives as long as its last handle.
///
/// It keeps the same contracts as a durable store, except durability: it is gone when the last
/// handle is dropped.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    entries: BTreeMap<EntryId, JournalEntry>,
    next_entry: u64,
    fields: BTreeMap<(PageId, FieldPath), FieldState>,
    pages: BTreeMap<PageId, BTreeMap<u64, Page>>,
    blobs: BTreeMap<ContentDigest, Vec<u8>>,
    boundaries: Vec<(BoundarySeq, SessionId, BoundaryContext)>,
    audit: Vec<AuditRecord>,
    faults: Vec<FaultRecord>,
    /// The field version each committed entry produced.
    entry_versions: BTreeMap<EntryId, FieldVersion>,
    /// The boundary that stored each page version.
    page_seqs: BTreeMap<(PageId, u64), BoundarySeq>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Corrupt("memory store lock poisoned by a panic".to_owned()))
    }

    /// The audit trail of `page`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if a thread panicked while holding the store.
    pub fn audit(&self, page: &PageId) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(self
            .lock()?
            .audit
            .iter()
            .filter(|a| &a.change.page == page)
            .cloned()
            .collect())
    }

    /// The fault log of `session`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if a thread panicked while holding the store.
    pub fn faults(&self, session: &SessionId) -> Result<Vec<FaultRecord>, StoreError> {
        Ok(self
            .lock()?
            .faults
            .iter()
            .filter(|f| &f.session == session)
            .cloned()
            .collect())
    }

    /// Every committed version of `page`, ascending.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if a thread panicked while holding the store.
    pub fn page_versions(&self, page: &PageId) -> Result<Vec<Page>, StoreError> {
        Ok(self
            .lock()?
            .pages
            .get(page)
            .map(|v| v.values().cloned().collect())
            .unwrap_or_default())
    }
}

impl HistoryStore for MemoryStore {
    fn boundaries(
        &self,
        session: &SessionId,
    ) -> Result<Vec<(BoundarySeq, BoundaryContext)>, StoreError> {
        Ok(self
            .lock()?
            .boundaries
            .iter()
            .filter(|(_, s, _)| s == session)
            .map(|(seq, _, ctx)| (*seq, *ctx))
            .collect())
    }

    fn page_versions(&self, page: &PageId) -> Result<Vec<u64>, StoreError> {
        Ok(self
            .lock()?
            .pages
            .get(page)
            .map(|v| v.keys().copied().collect())
            .unwrap_or_default())
    }

    fn audit_trail(&self, page: &PageId) -> Result<Vec<AuditRecord>, StoreError> {
        self.audit(page)
    }

    fn faults(&self, session: &SessionId) -> Result<Vec<FaultRecord>, StoreError> {
        MemoryStore::faults(self, session)
    }
}

impl BlobStore for MemoryStore {
    fn put_blob(&self, bytes: &[u8]) -> Result<ContentDigest, StoreError> {
        let digest = ContentDigest::of(bytes);
        self.lock()?
            .blobs
            .entry(digest)
            .or_insert_with(|| bytes.to_vec());
        Ok(digest)
    }

    fn get_blob(&self, digest: &ContentDigest) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock()?.blobs.get(digest).cloned())
    }
}

impl PageStore for MemoryStore {
    fn page(&self, id: &PageId) -> Result<Option<Page>, StoreError> {
        Ok(self
            .lock()?
            .pages
            .get(id)
            .and_then(|v| v.values().next_back().cloned()))
    }

    fn tool_call_exists(&self, id: &ToolCallId) -> Result<bool, StoreError> {
        Ok(self.lock()?.pages.values().any(|versions| {
            versions.values().any(
                |p| matches!(p.provenance(), Provenance::ToolCall { call_id, .. } if call_id == id),
            )
        }))
    }

    fn field(&self, page: &PageId, field: &FieldPath) -> Result<Option<FieldState>, StoreError> {
        Ok(self
            .lock()?
            .fields
            .get(&(page.clone(), field.clone()))
            .cloned())
    }

    fn fields(&self, page: &PageId) -> Result<BTreeMap<FieldPath, FieldState>, StoreError> {
        Ok(self
            .lock()?
            .fields
            .iter()
            .filter(|((p, _), _)| p == page)
            .map(|((_, f), s)| (f.clone(), s.clone()))
            .collect())
    }

    fn search(&self, scope: &Scope, needle: &str) -> Result<Vec<PageId>, StoreError> {
        Ok(self
            .lock()?
            .pages
            .iter()
            .filter_map(|(id, versions)| {
                let latest = versions.values().next_back()?;
                let hit = latest.scope() == scope
                    && latest
                        .representations()
                        .any(|(_, r)| r.content().contains(needle));
                hit.then(|| id.clone())
            })
            .collect())
    }
}

impl JournalStore for MemoryStore {
    fn stage(&self, session: &SessionId, updates: &[Update]) -> Result<Vec<EntryId>, StoreError> {
        let mut st = self.lock()?;
        let mut ids = Vec::with_capacity(updates.len());
        for u in updates {
            st.next_entry += 1;
            let id = EntryId::new(st.next_entry);
            st.entries.insert(
                id,
                JournalEntry::new(id, session.clone(), u.clone(), EntryState::Staged),
            );
            ids.push(id);
        }
        Ok(ids)
    }

    fn record_outcomes(&self, outcomes: &[(EntryId, EntryState)]) -> Result<(), StoreError> {
        let mut st = self.lock()?;
        for (id, state) in outcomes {
            let pending = st.entries.get(id).is_some_and(|e| e.state().is_pending());
            if !pending || matches!(state, EntryState::Committed(_)) {
                return Err(StoreError::UnknownEntry(*id));
            }
        }
        for (id, state) in outcomes {
            if let Some(e) = st.entries.get_mut(id) {
                e.set_state(state.clone());
            }
        }
        Ok(())
    }

    fn commit(&self, batch: &CommitBatch) -> Result<CommitReceipt, StoreError> {
        let mut st = self.lock()?;
        // Everything is checked and computed before anything is written: that is the
        // atomicity of this store.
        let mut staged_fields: BTreeMap<(PageId, FieldPath), FieldState> = BTreeMap::new();
        let mut versions = Vec::with_capacity(batch.updates().len());
        for vu in batch.updates() {
            let entry = vu.entry();
            if !st
                .entries
                .get(&entry)
                .is_some_and(|e| e.state().is_pending())
            {
                return Err(StoreError::UnknownEntry(entry));
            }
            let u = vu.update();
            let key = (u.page().clone(), u.field().clone());
            let current = staged_fields.get(&key).or_else(|| st.fields.get(&key));
            let next = apply_op(current, u.op(), vu.value()).map_err(|e| match e {
                OpError::Shape(detail) | OpError::Destructive(detail) => {
                    StoreError::Conflict { entry, detail }
                }
            })?;
            versions.push((entry, next.version));
            staged_fields.insert(key, next);
        }
        for (entry, _) in batch.rejected() {
            if !st
                .entries
                .get(entry)
                .is_some_and(|e| e.state().is_pending())
            {
                return Err(StoreError::UnknownEntry(*entry));
            }
        }
        let mut clean_pages = Vec::with_capacity(batch.pages().len());
        // Pages whose batch version is already stored, with the boundary that stored it.
        let mut already: BTreeMap<PageId, BoundarySeq> = BTreeMap::new();
        for page in batch.pages() {
            let clean = clean_copy(page)?;
            if let Some(existing) = st.pages.get(page.id()).and_then(|v| v.get(&page.version())) {
                if existing != &clean {
                    return Err(StoreError::PageConflict {
                        page: page.id().clone(),
                        version: page.version(),
                    });
                }
                if let Some(stored_at) = st.page_seqs.get(&(page.id().clone(), page.version())) {
                    already.insert(page.id().clone(), *stored_at);
                }
            } else {
                clean_pages.push(clean);
            }
        }
        if let Some(seq) = batch.replays(&already) {
            return Ok(CommitReceipt {
                seq,
                versions,
                stored_pages: 0,
            });
        }
        let seq = BoundarySeq::new(st.boundaries.last().map_or(0, |(s, _, _)| s.get()) + 1);
        let ctx = batch.context();
        st.boundaries.push((seq, batch.session().clone(), ctx));
        st.fields.extend(staged_fields);
        for (entry, version) in &versions {
            if let Some(e) = st.entries.get_mut(entry) {
                e.set_state(EntryState::Committed(seq));
            }
            st.entry_versions.insert(*entry, *version);
        }
        for (entry, rejection) in batch.rejected() {
            if let Some(e) = st.entries.get_mut(entry) {
                e.set_state(EntryState::Rejected(rejection.clone()));
            }
        }
        let stored_pages = clean_pages.len();
        for clean in clean_pages {
            for (_, rep) in clean.representations() {
                st.blobs
                    .entry(rep.digest())
                    .or_insert_with(|| rep.content().as_bytes().to_vec());
            }
            st.page_seqs
                .entry((clean.id().clone(), clean.version()))
                .or_insert(seq);
            st.pages
                .entry(clean.id().clone())
                .or_default()
                .entry(clean.version())
                .or_insert(clean);
        }
        for change in batch
            .repr_changes()
            .iter()
            .filter(|c| !already.contains_key(&c.page))
        {
            st.audit.push(AuditRecord {
                seq,
                session: batch.session().clone(),
                change: change.clone(),
                boundary: ctx.boundary,
                turn: ctx.turn,
                time_ms: ctx.time_ms,
            });
        }
        Ok(CommitReceipt {
            seq,
            versions,
            stored_pages,
        })
    }

    fn entries(&self, session: &SessionId) -> Result<Vec<JournalEntry>, StoreError> {
        Ok(self
            .lock()?
            .entries
            .values()
            .filter(|e| e.session() == session)
            .cloned()
            .collect())
    }

    fn record_fault(&self, fault: &FaultRecord) -> Result<(), StoreError> {
        self.lock()?.faults.push(fault.clone());
        Ok(())
    }
}

impl CopyStore for MemoryStore {
    fn sessions(&self) -> Result<Vec<SessionId>, StoreError> {
        let st = self.lock()?;
        let mut out: Vec<SessionId> = st
            .entries
            .values()
            .map(|e| e.session().clone())
            .chain(st.boundaries.iter().map(|(_, s, _)| s.clone()))
            .chain(st.faults.iter().map(|f| f.session.clone()))
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn boundary_seqs(&self) -> Result<Vec<BoundarySeq>, StoreError> {
        Ok(self.lock()?.boundaries.iter().map(|(s, _, _)| *s).collect())
    }

    fn export_boundary(&self, seq: BoundarySeq) -> Result<BoundaryRecord, StoreError> {
        let st = self.lock()?;
        let (_, session, context) = st
            .boundaries
            .iter()
            .find(|(s, _, _)| *s == seq)
            .cloned()
            .ok_or_else(|| StoreError::Corrupt(format!("no boundary {}", seq.get())))?;
        let mut committed = Vec::new();
        for e in st.entries.values() {
            if e.state() == &EntryState::Committed(seq) {
                let v = st.entry_versions.get(&e.id()).copied().ok_or_else(|| {
                    StoreError::Corrupt(format!("entry {} has no field version", e.id()))
                })?;
                committed.push((e.clone(), v));
            }
        }
        let pages = st
            .page_seqs
            .iter()
            .filter(|(_, s)| **s == seq)
            .filter_map(|((id, v), _)| st.pages.get(id).and_then(|vs| vs.get(v)).cloned())
            .collect();
        let audit = st
            .audit
            .iter()
            .filter(|a| a.seq == seq)
            .map(|a| a.change.clone())
            .collect();
        Ok(BoundaryRecord {
            seq,
            session,
            context,
            committed,
            pages,
            audit,
        })
    }

    fn import_boundary(&self, r: &BoundaryRecord) -> Result<bool, StoreError> {
        let mut st = self.lock()?;
        if let Some((_, session, context)) = st.boundaries.iter().find(|(s, _, _)| *s == r.seq) {
            if session == &r.session && context == &r.context {
                return Ok(false);
            }
            return Err(StoreError::Corrupt(format!(
                "boundary {} is already there with other content",
                r.seq.get()
            )));
        }
        if st.boundaries.last().is_some_and(|(s, _, _)| *s > r.seq) {
            return Err(StoreError::Corrupt(format!(
                "boundary {} comes after a later one",
                r.seq.get()
            )));
        }
        // Everything is computed before anything is written.
        let mut fields: BTreeMap<(PageId, FieldPath), FieldState> = BTreeMap::new();
        for (e, version) in &r.committed {
            let u = e.update();
            let key = (u.page().clone(), u.field().clone());
            let value: serde_json::Value = serde_json::from_str(u.value_json())
                .map_err(|err| StoreError::Corrupt(format!("entry {}: {err}", e.id())))?;
            let current = fields.get(&key).or_else(|| st.fields.get(&key));
            let next = apply_op(current, u.op(), &value)
                .ok()
                .filter(|n| n.version == *version)
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "entry {} does not re-apply to version {version}",
                        e.id()
                    ))
                })?;
            fields.insert(key, next);
        }
        let mut clean_pages = Vec::with_capacity(r.pages.len());
        for page in &r.pages {
            let clean = clean_copy(page)?;
            if let Some(existing) = st.pages.get(page.id()).and_then(|v| v.get(&page.version()))
                && existing != &clean
            {
                return Err(StoreError::PageConflict {
                    page: page.id().clone(),
                    version: page.version(),
                });
            }
            clean_pages.push(clean);
        }
        st.boundaries.push((r.seq, r.session.clone(), r.context));
        st.fields.extend(fields);
        for (e, version) in &r.committed {
            let mut e = e.clone();
            e.set_state(EntryState::Committed(r.seq));
            st.next_entry = st.next_entry.max(e.id().get());
            st.entry_versions.insert(e.id(), *version);
            st.entries.insert(e.id(), e);
        }
        for clean in clean_pages {
            for (_, rep) in clean.representations() {
                st.blobs
                    .entry(rep.digest())
                    .or_insert_with(|| rep.content().as_bytes().to_vec());
            }
            st.page_seqs
                .entry((clean.id().clone(), clean.version()))
                .or_insert(r.seq);
            st.pages
                .entry(clean.id().clone())
                .or_default()
                .entry(clean.version())
                .or_insert(clean);
        }
        for change in &r.audit {
            st.audit.push(AuditRecord {
                seq: r.seq,
                session: r.session.clone(),
                change: change.clone(),
                boundary: r.context.boundary,
                turn: r.context.turn,
                time_ms: r.context.time_ms,
            });
        }
        Ok(true)
    }

    fn import_entry(&self, entry: &JournalEntry) -> Result<bool, StoreError> {
        if matches!(entry.state(), EntryState::Committed(_)) {
            return Err(StoreError::Corrupt(format!(
                "entry {} is committed: it comes with its boundary",
                entry.id()
            )));
        }
        let mut st = self.lock()?;
        match st.entries.get(&entry.id()) {
            Some(e) if !e.state().is_pending() || e.state() == entry.state() => Ok(false),
            _ => {
                st.next_entry = st.next_entry.max(entry.id().get());
                st.entries.insert(entry.id(), entry.clone());
                Ok(true)
            }
        }
    }

    fn import_faults(
        &self,
        session: &SessionId,
        faults: &[FaultRecord],
    ) -> Result<usize, StoreError> {
        let mut st = self.lock()?;
        let have = st.faults.iter().filter(|f| &f.session == session).count();
        let new = faults.get(have..).unwrap_or_default();
        st.faults.extend(new.iter().cloned());
        Ok(new.len())
    }

    fn blob_digests(&self) -> Result<Vec<ContentDigest>, StoreError> {
        Ok(self.lock()?.blobs.keys().copied().collect())
    }
}

/// `page` as committed: the same page, not dirty.
pub(crate) fn clean_copy(page: &Page) -> Result<Page, StoreError> {
    let mut spec = page.to_spec();
    spec.dirty = false;
    Page::from_spec(spec, &TypeTable::default())
        .map_err(|e| StoreError::Corrupt(format!("page {} does not rebuild: {e}", page.id())))
}
