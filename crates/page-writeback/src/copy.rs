//! Copying a whole store to another store (of any backend), boundary by boundary, keeping
//! sequence numbers and journal entry ids: what `pagevm store copy` runs.

use page_core::{ContentDigest, Page, SessionId};

use crate::error::StoreError;
use crate::journal::{
    BoundaryContext, BoundarySeq, EntryState, FaultRecord, JournalEntry, ReprChange,
};
use crate::store::{HistoryStore, Store};
use crate::update::FieldVersion;

/// A committed boundary with everything it wrote: the unit a copy moves in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundaryRecord {
    /// Its sequence number (kept by the copy).
    pub seq: BoundarySeq,
    /// The session that committed it.
    pub session: SessionId,
    /// Its kind, turn and time.
    pub context: BoundaryContext,
    /// The journal entries it committed, in id order, each with the field version it produced.
    pub committed: Vec<(JournalEntry, FieldVersion)>,
    /// The page versions it stored, by page id.
    pub pages: Vec<Page>,
    /// Its audit rows, in order.
    pub audit: Vec<ReprChange>,
}

/// Whole-store enumeration and import with the original sequence numbers and entry ids.
///
/// Imports are idempotent: a boundary, entry or fault already there is skipped, so a copy can
/// be re-run and continues where an interrupted one stopped. The destination must be empty or
/// an earlier copy of the same source, and nobody else may write it during the copy: a
/// boundary that is there with other content is [`StoreError::Corrupt`].
pub trait CopyStore: Store + HistoryStore {
    /// Every session that staged, committed or recorded a fault, sorted.
    ///
    /// # Errors
    /// [`StoreError::Backend`]; [`StoreError::Corrupt`].
    fn sessions(&self) -> Result<Vec<SessionId>, StoreError>;

    /// The sequence number of every committed boundary, ascending.
    ///
    /// # Errors
    /// [`StoreError::Backend`]; [`StoreError::Corrupt`].
    fn boundary_seqs(&self) -> Result<Vec<BoundarySeq>, StoreError>;

    /// The boundary `seq` with everything it wrote.
    ///
    /// # Errors
    /// [`StoreError::Backend`]; [`StoreError::Corrupt`] when there is no such boundary or a row
    /// fails validation.
    fn export_boundary(&self, seq: BoundarySeq) -> Result<BoundaryRecord, StoreError>;

    /// Stores `record` with its sequence number and entry ids, in one transaction; its ops are
    /// re-applied with [`crate::apply_op`] and must produce the recorded field versions.
    /// `false` when the boundary is already there.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when another boundary holds the number or a version differs;
    /// [`StoreError::Backend`].
    fn import_boundary(&self, record: &BoundaryRecord) -> Result<bool, StoreError>;

    /// Stores a journal entry no boundary committed (staged, validated or rejected) with its
    /// id; an entry there and still pending takes the given state. `false` when nothing changed.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for a committed entry (those come with their boundary);
    /// [`StoreError::Backend`].
    fn import_entry(&self, entry: &JournalEntry) -> Result<bool, StoreError>;

    /// Appends those of `faults` (the whole fault log of `session`, oldest first) that the
    /// store does not have yet, by position; returns how many.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn import_faults(
        &self,
        session: &SessionId,
        faults: &[FaultRecord],
    ) -> Result<usize, StoreError>;

    /// Every stored blob's digest, sorted.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn blob_digests(&self) -> Result<Vec<ContentDigest>, StoreError>;
}

/// What a copy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyCounts {
    /// Boundaries copied now.
    pub boundaries: u64,
    /// Boundaries the destination already had.
    pub boundaries_present: u64,
    /// Pending and rejected journal entries copied or brought up to date.
    pub entries: u64,
    /// Faults copied.
    pub faults: u64,
    /// Blobs copied (those no page version references; the others come with their pages).
    pub blobs: u64,
}

/// Copies everything of `from` into `to`: every boundary in sequence order (each in one
/// transaction), then the journal entries no boundary committed, the fault logs and the
/// remaining blobs. `progress(done, total)` is called after each boundary.
///
/// # Errors
/// The first store error; what was copied before it stays, and a re-run continues.
pub fn copy_store(
    from: &dyn CopyStore,
    to: &dyn CopyStore,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<CopyCounts, StoreError> {
    let mut counts = CopyCounts::default();
    let seqs = from.boundary_seqs()?;
    let total = seqs.len() as u64;
    for (i, seq) in seqs.into_iter().enumerate() {
        let record = from.export_boundary(seq)?;
        if to.import_boundary(&record)? {
            counts.boundaries += 1;
        } else {
            counts.boundaries_present += 1;
        }
        progress(i as u64 + 1, total);
    }
    for session in from.sessions()? {
        for entry in from.entries(&session)? {
            let uncommitted = !matches!(entry.state(), EntryState::Committed(_));
            if uncommitted && to.import_entry(&entry)? {
                counts.entries += 1;
            }
        }
        let faults = from.faults(&session)?;
        counts.faults += to.import_faults(&session, &faults)? as u64;
    }
    for digest in from.blob_digests()? {
        if to.get_blob(&digest)?.is_none()
            && let Some(bytes) = from.get_blob(&digest)?
        {
            to.put_blob(&bytes)?;
            counts.blobs += 1;
        }
    }
    Ok(counts)
}
