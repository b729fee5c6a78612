//! Validated, non-destructive writeback: the durability half of pagevm.
//!
//! The harness never writes durable state directly. It stages typed [`Update`]s
//! `(page, field path, op, value, scope, evidence_ref, principal)` with an [`Op`] of `append`,
//! `merge` or `set_with_version`; a [`Writeback`] journal validates them with five
//! deterministic checks, each with a stable [`ReasonCode`] (`SCHEMA`, `PROVENANCE`,
//! `SCOPE_DENIED`, `DESTRUCTIVE_OP`, `POLICY`), and commits the validated ones together with
//! every dirty page at a lifecycle boundary, as one atomic unit. A rejected update stays in the
//! journal with its reason and changes nothing; a boundary that cannot commit returns a
//! [`FlushMiss`] instead of pretending success.
//!
//! The key design decision: this crate owns the storage seams ([`JournalStore`],
//! [`PageStore`], [`BlobStore`]) with written contracts, and ships a real in-memory
//! implementation ([`MemoryStore`]); durable stores (`page-store-sqlite`) implement the same
//! traits and apply ops with the same [`apply_op`], so validation and commit agree. This crate
//! does no IO and depends on no database driver.
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::sync::Arc;
//! use page_core::{
//!     Boundary, Page, PageId, PageSpec, PageType, Provenance, Repr, Representation, Scope,
//!     SessionId, SessionPageTable, TokenCount, TypeTable,
//! };
//! use page_writeback::{
//!     AccessControl, BoundaryContext, EvidenceRef, FieldPath, FieldSchemas, MemoryStore, Op,
//!     PageStore, PrincipalId, ReasonCode, Update, Writeback,
//! };
//!
//! let session = SessionId::new("s1")?;
//! let scope = Scope::Session(session.clone());
//! let agent = PrincipalId::new("agent")?;
//! let rep = |t: &str| Representation::new(t, TokenCount::new(4));
//! let plan = Page::from_spec(
//!     PageSpec::new(
//!         PageId::new("plan")?,
//!         PageType::Plan,
//!         scope.clone(),
//!         Provenance::Import { source: "test".into() },
//!         BTreeMap::from([
//!             (Repr::Full, rep("goal: ship")),
//!             (Repr::Structured, rep("goal=ship")),
//!             (Repr::Pointer, rep("[plan]")),
//!         ]),
//!     ),
//!     &TypeTable::default(),
//! )?;
//! let mut table = SessionPageTable::new();
//! table.insert(plan)?;
//!
//! let store = MemoryStore::new();
//! let access = AccessControl::new().grant(agent.clone(), scope.clone());
//! let mut wb = Writeback::new(&store, session, access, Arc::new(FieldSchemas::builtin()?));
//! let update = |op, value: &str| {
//!     Update::new(
//!         PageId::new("plan").unwrap(),
//!         FieldPath::new("steps").unwrap(),
//!         op,
//!         value,
//!         scope.clone(),
//!         EvidenceRef::Page(PageId::new("plan").unwrap()),
//!         agent.clone(),
//!     )
//! };
//! wb.stage(update(Op::Append, r#""write tests""#))?;
//! wb.stage(update(Op::Remove, ""))?;
//! let ctx = BoundaryContext { boundary: Boundary::Turn, turn: 1, time_ms: 0 };
//! let report = wb.commit_boundary(ctx, &mut table, Vec::new())?;
//! assert_eq!(report.committed.len(), 1);
//! assert_eq!(report.rejected[0].1.code(), ReasonCode::DestructiveOp);
//! let steps = store.field(&PageId::new("plan")?, &FieldPath::new("steps")?)?;
//! assert_eq!(steps.map(|s| s.value), Some(serde_json::json!(["write tests"])));
//! assert_eq!(table.dirty().count(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod copy;
mod error;
mod journal;
mod memory;
mod ops;
mod schema;
mod store;
mod store_url;
mod update;
mod writeback;

pub use crate::copy::{BoundaryRecord, CopyCounts, CopyStore, copy_store};
pub use crate::error::{FlushMiss, SchemaError, StoreError, UpdateError};
pub use crate::journal::{
    AuditRecord, BoundaryContext, BoundarySeq, CommitBatch, CommitReceipt, EntryId, EntryState,
    FaultRecord, FieldState, JournalEntry, ReasonCode, Rejection, ReprChange, ValidatedUpdate,
};
pub use crate::memory::MemoryStore;
pub use crate::ops::{OpError, apply_op};
pub use crate::schema::{FieldSchemas, builtin_schema};
pub use crate::store::{BlobStore, HistoryStore, JournalStore, PageStore, Store};
pub use crate::store_url::{StoreUrl, StoreUrlError};
pub use crate::update::{EvidenceRef, FieldPath, FieldVersion, Op, PrincipalId, Update};
pub use crate::writeback::{
    AccessControl, BoundaryReport, SemanticValidator, Writeback, WritebackConfig,
};
