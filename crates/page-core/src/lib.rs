//! The page model of pagevm: typed pages, their multi-resolution representations and the
//! invariants every other crate relies on.
//!
//! An agent's context window is treated as physical memory and its durable stores as disk.
//! The unit of residency is the [`Page`]: a typed record ([`PageType`]) with a stable
//! [`PageId`], a [`Scope`], a [`Provenance`], a [`PinClass`] and a representation for every
//! level of its type's [`DegradationPath`] (`full`, `compressed`, `structured`, `pointer`), each
//! with an exact [`TokenCount`]. Representations are built when a page is created or updated,
//! so budget decisions downstream are table lookups ([`LevelCosts`]) and token arithmetic.
//!
//! The key design decision: invariants are checked once, in validating constructors
//! ([`Page::from_spec`], [`LevelCosts::new`], [`TypeTable::from_config`]), and every value of
//! these types is valid. A page whose minimum fidelity is off its path, whose costs decrease
//! toward `full`, or that lacks a representation of its path cannot be built.
//!
//! This crate does no IO: no files, no clock, no database, no agent types.
//!
//! ```
//! use std::collections::BTreeMap;
//! use page_core::{
//!     Page, PageId, PageSpec, PageType, Provenance, Repr, Representation, Scope, SessionId,
//!     SessionPageTable, TokenCount, ToolCallId, ToolSignature, TypeTable,
//! };
//!
//! let signature = ToolSignature::from_json_text("read_file", r#"{"path": "src/main.rs"}"#)?;
//! let rep = |text: &str, n| Representation::new(text, TokenCount::new(n));
//! let representations = BTreeMap::from([
//!     (Repr::Full, rep("fn main() { println!(\"hi\"); }", 12)),
//!     (Repr::Compressed, rep("fn main() { … }", 6)),
//!     (Repr::Structured, rep("file=src/main.rs fns=[main]", 6)),
//!     (Repr::Pointer, rep("[page e1: read_file src/main.rs]", 5)),
//! ]);
//! let spec = PageSpec::new(
//!     PageId::new("e1")?,
//!     PageType::Evidence,
//!     Scope::Session(SessionId::new("s1")?),
//!     Provenance::ToolCall { call_id: ToolCallId::new("toolu_1")?, signature },
//!     representations,
//! );
//! let page = Page::from_spec(spec, &TypeTable::default())?;
//! assert_eq!(page.levels().min_fidelity(), Repr::Pointer);
//! assert_eq!(page.levels().get(Repr::Compressed), Some(TokenCount::new(6)));
//!
//! let mut table = SessionPageTable::new();
//! table.insert(page)?;
//! assert_eq!(table.dirty().count(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod canonical;
mod digest;
mod error;
mod ids;
mod levels;
mod lifecycle;
mod page;
mod page_type;
mod provenance;
mod repr;
mod scope;
mod table;
mod tokens;
mod type_table;

pub use crate::canonical::canonical_json;
pub use crate::digest::ContentDigest;
pub use crate::error::{PageError, ParseCodeError, TableError};
pub use crate::ids::{MAX_ID_LEN, MessageId, PageId, ProjectId, SessionId, ToolCallId};
pub use crate::levels::LevelCosts;
pub use crate::lifecycle::{AlertKind, Boundary, CompactionKind, FaultKind, RecallOutcome};
pub use crate::page::{Page, PageSpec, Representation, RepresentationSpec};
pub use crate::page_type::{DegradationPath, PageType, PinClass, TypePolicy};
pub use crate::provenance::{Provenance, ToolSignature};
pub use crate::repr::Repr;
pub use crate::scope::{Scope, ScopeKind};
pub use crate::table::SessionPageTable;
pub use crate::tokens::{TokenCount, TokenCounter};
pub use crate::type_table::{TypeOverride, TypeTable, TypeTableConfig};

/// The version of the JSON shapes of this crate's serializable types. Documents that embed
/// them (workloads, traces, configuration) record it as `schema_version`.
pub const SCHEMA_VERSION: u32 = 1;
