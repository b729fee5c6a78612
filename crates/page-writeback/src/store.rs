//! The storage seams writeback commits through, with their contracts.
//!
//! Writeback owns these traits; stores implement them (`MemoryStore` here, the SQLite store in
//! `page-store-sqlite`). Every method takes `&self`: a store is shared by reference between
//! threads, and serialises writers itself. No driver type appears in a signature.
//!
//! Common contract for every method:
//! - **Atomicity**: a method that writes either completes every write it describes or none;
//!   on `Err` the store is as it was.
//! - **Durability**: when a writing method returns `Ok`, its effect survives a process crash
//!   (for the SQLite store, as far as its `synchronous` setting promises; see
//!   `docs/design/store.md`).
//! - **Drop**: dropping a store handle never loses a write that returned `Ok` and never
//!   completes one that had not; there is no buffered state to flush.
//! - **Busy**: a store retries transient contention (another writer holding a lock) itself;
//!   callers never see it. A `StoreError::Backend` is a real failure.

use std::collections::BTreeMap;

use page_core::{ContentDigest, Page, PageId, Scope, SessionId, ToolCallId};

use crate::error::StoreError;
use crate::journal::{
    AuditRecord, BoundaryContext, BoundarySeq, CommitBatch, CommitReceipt, EntryId, EntryState,
    FaultRecord, FieldState, JournalEntry,
};
use crate::update::{FieldPath, Update};

/// Content-addressed blobs: representation texts and any other immutable bytes.
pub trait BlobStore {
    /// Stores `bytes` under their BLAKE3 digest and returns it. Storing content that is already
    /// present is a no-op (deduplication), so the call is idempotent.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn put_blob(&self, bytes: &[u8]) -> Result<ContentDigest, StoreError>;

    /// The bytes stored under `digest`, or `None`.
    ///
    /// # Errors
    /// [`StoreError::Backend`]; [`StoreError::Corrupt`] when the stored bytes do not hash to
    /// `digest`.
    fn get_blob(&self, digest: &ContentDigest) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Committed pages and field documents. Read-only: pages and fields change only through
/// [`JournalStore::commit`].
pub trait PageStore {
    /// The latest committed version of a page, or `None` if it was never committed.
    ///
    /// # Errors
    /// [`StoreError::Backend`]; [`StoreError::Corrupt`] when the stored page fails
    /// page-core's validation.
    fn page(&self, id: &PageId) -> Result<Option<Page>, StoreError>;

    /// Whether some committed page's provenance is the tool call `id`.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn tool_call_exists(&self, id: &ToolCallId) -> Result<bool, StoreError>;

    /// The committed value and version of `page.field`, or `None` if never written.
    ///
    /// # Errors
    /// [`StoreError::Backend`]; [`StoreError::Corrupt`] for a value that is not JSON.
    fn field(&self, page: &PageId, field: &FieldPath) -> Result<Option<FieldState>, StoreError>;

    /// Every committed field of `page`, by field path.
    ///
    /// # Errors
    /// As [`PageStore::field`].
    fn fields(&self, page: &PageId) -> Result<BTreeMap<FieldPath, FieldState>, StoreError>;

    /// The committed pages of `scope` whose latest version has `needle` in any representation,
    /// sorted by id. An empty result is an answer ("no match"), not a
    /// failure.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn search(&self, scope: &Scope, needle: &str) -> Result<Vec<PageId>, StoreError>;
}

/// The writeback journal and the atomic boundary commit.
pub trait JournalStore {
    /// Appends `updates` to `session`'s journal as `Staged`, all or none, and returns their
    /// ids in the same order. Ids increase across the store in staging order.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn stage(&self, session: &SessionId, updates: &[Update]) -> Result<Vec<EntryId>, StoreError>;

    /// Records validation outcomes (`Validated`, `Rejected`, or `Staged` to reset an entry for
    /// re-validation), all or none. Only pending entries may change; a `Committed` state is
    /// refused here (commits go through [`JournalStore::commit`]).
    ///
    /// # Errors
    /// [`StoreError::UnknownEntry`] for an id that is not a pending entry, or
    /// [`StoreError::Backend`]; nothing is recorded then.
    fn record_outcomes(&self, outcomes: &[(EntryId, EntryState)]) -> Result<(), StoreError>;

    /// Commits one boundary as a single atomic unit: a new boundary sequence number; every
    /// update of the batch applied in order with [`crate::apply_op`] on the value committed at
    /// that moment (so concurrent writers compose) and its entry marked `Committed`; every
    /// rejection of the batch recorded on its (pending) entry; every
    /// page of the batch stored as a new version with its representations and their blobs; the
    /// audit rows. Either all of it is durable when this returns `Ok`, or none of it is.
    ///
    /// Re-committing is idempotent by key, so two writers that commit the same boundary (two
    /// migrations of one source at once, or a re-run after a crash) end with what one would
    /// have written: a page version already stored identically is not stored again and its
    /// audit rows are not written again; a batch that would store nothing new (no updates, no
    /// rejections, only such versions and audit rows of those pages) writes nothing at all and
    /// its receipt carries the newest boundary that stored those versions.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when an op no longer applies (a concurrent `set_with_version`
    /// moved the field's version); [`StoreError::UnknownEntry`] when an entry is not pending;
    /// [`StoreError::Backend`]. Nothing is committed on error.
    fn commit(&self, batch: &CommitBatch) -> Result<CommitReceipt, StoreError>;

    /// Every journal entry of `session`, in id order.
    ///
    /// # Errors
    /// [`StoreError::Backend`]; [`StoreError::Corrupt`] for an entry that does not parse.
    fn entries(&self, session: &SessionId) -> Result<Vec<JournalEntry>, StoreError>;

    /// Appends a fault to the fault log.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn record_fault(&self, fault: &FaultRecord) -> Result<(), StoreError>;
}

/// Read access to what a store has recorded beyond the latest state: boundaries, page
/// versions, the audit and fault logs. Tools, the store contract tests and store copies read
/// through it; writeback does not need it, so it is not part of [`Store`].
pub trait HistoryStore {
    /// The committed boundaries of `session`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Backend`]; [`StoreError::Corrupt`] for a row that fails validation.
    fn boundaries(
        &self,
        session: &SessionId,
    ) -> Result<Vec<(BoundarySeq, BoundaryContext)>, StoreError>;

    /// Every stored version number of `page`, ascending.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn page_versions(&self, page: &PageId) -> Result<Vec<u64>, StoreError>;

    /// The audit trail of `page`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Backend`]; [`StoreError::Corrupt`] for a row that fails validation.
    fn audit_trail(&self, page: &PageId) -> Result<Vec<AuditRecord>, StoreError>;

    /// The fault log of `session`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Backend`]; [`StoreError::Corrupt`] for a row that fails validation.
    fn faults(&self, session: &SessionId) -> Result<Vec<FaultRecord>, StoreError>;
}

impl<T: HistoryStore + ?Sized> HistoryStore for &T {
    fn boundaries(
        &self,
        session: &SessionId,
    ) -> Result<Vec<(BoundarySeq, BoundaryContext)>, StoreError> {
        (**self).boundaries(session)
    }
    fn page_versions(&self, page: &PageId) -> Result<Vec<u64>, StoreError> {
        (**self).page_versions(page)
    }
    fn audit_trail(&self, page: &PageId) -> Result<Vec<AuditRecord>, StoreError> {
        (**self).audit_trail(page)
    }
    fn faults(&self, session: &SessionId) -> Result<Vec<FaultRecord>, StoreError> {
        (**self).faults(session)
    }
}

/// A complete store: what [`crate::Writeback`] needs.
pub trait Store: JournalStore + PageStore + BlobStore {}

impl<T: JournalStore + PageStore + BlobStore + ?Sized> Store for T {}

impl<T: BlobStore + ?Sized> BlobStore for &T {
    fn put_blob(&self, bytes: &[u8]) -> Result<ContentDigest, StoreError> {
        (**self).put_blob(bytes)
    }
    fn get_blob(&self, digest: &ContentDigest) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get_blob(digest)
    }
}

impl<T: PageStore + ?Sized> PageStore for &T {
    fn page(&self, id: &PageId) -> Result<Option<Page>, StoreError> {
        (**self).page(id)
    }
    fn tool_call_exists(&self, id: &ToolCallId) -> Result<bool, StoreError> {
        (**self).tool_call_exists(id)
    }
    fn field(&self, page: &PageId, field: &FieldPath) -> Result<Option<FieldState>, StoreError> {
        (**self).field(page, field)
    }
    fn fields(&self, page: &PageId) -> Result<BTreeMap<FieldPath, FieldState>, StoreError> {
        (**self).fields(page)
    }
    fn search(&self, scope: &Scope, needle: &str) -> Result<Vec<PageId>, StoreError> {
        (**self).search(scope, needle)
    }
}

impl<T: JournalStore + ?Sized> JournalStore for &T {
    fn stage(&self, session: &SessionId, updates: &[Update]) -> Result<Vec<EntryId>, StoreError> {
        (**self).stage(session, updates)
    }
    fn record_outcomes(&self, outcomes: &[(EntryId, EntryState)]) -> Result<(), StoreError> {
        (**self).record_outcomes(outcomes)
    }
    fn commit(&self, batch: &CommitBatch) -> Result<CommitReceipt, StoreError> {
        (**self).commit(batch)
    }
    fn entries(&self, session: &SessionId) -> Result<Vec<JournalEntry>, StoreError> {
        (**self).entries(session)
    }
    fn record_fault(&self, fault: &FaultRecord) -> Result<(), StoreError> {
        (**self).record_fault(fault)
    }
}
