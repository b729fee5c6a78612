//! Migrates existing Zeph sessions (a Zeph 0.21.x SQLite database) into a pagevm store.
//!
//! The Zeph database is opened **read-only** ([`ZephDb::open`]: `SQLITE_OPEN_READ_ONLY` and
//! `PRAGMA query_only`) and never written. Its layout is detected from sqlx's
//! `_sqlx_migrations` table and cross-checked against the real columns ([`ZephSchema`]), so
//! every layout Zeph has shipped is read with the query it needs: `parts` JSON in the current
//! internally tagged form or the legacy externally tagged one (before migration 045), the
//! `agent_visible`/`user_visible` flags (014–072) or the `visibility` column (073 on),
//! `compacted_at` and soft-deleted rows, the `summaries` table and `tool_overflow` archives.
//!
//! Each conversation becomes one pagevm session. Pages are built from the message *parts*,
//! never from text prefixes: the first system message is the bootstrap page; a `ToolUse` and
//! the `ToolResult` in the next message form one evidence group (matched by adjacency, since
//! some providers reuse call ids); a legacy `ToolOutput` is an evidence page; text is a
//! conversation page; hard-compaction and tool-pair summaries and `summaries` rows are pages of
//! their own; `tool_overflow` bodies restore the full output of the tool result that refers to
//! them, or become evidence pages. Every page carries provenance naming the Zeph conversation
//! and message ids, and its representations are built by page-engine's
//! [`page_engine::RepresentationBuilder`] with `cl100k_base` token counts (Zeph's counter).
//!
//! Compaction history is kept, not flattened: messages Zeph hid by a compaction are migrated at
//! full fidelity, and the compaction itself is an audit record (`full` → the page's lowest
//! level) committed at a `compaction` boundary whose reason names the summary page. Orphaned
//! tool parts and rows whose `parts` JSON does not parse are reported by id
//! ([`Diagnostic`]); their text is still migrated.
//!
//! Pages are committed through page-writeback's journal in bounded boundaries. Page ids are a
//! function of the Zeph ids, and a page already in the store is skipped, so a second run creates
//! nothing and an interrupted run continues where its last committed boundary ended.
//!
//! ```no_run
//! use page_store_sqlite::SqliteStore;
//! use pagevm_migrate::{MigrateOptions, NoProgress, ZephDb, migrate, zeph_builder};
//!
//! let zeph = ZephDb::open("zeph.db")?;
//! let store = SqliteStore::open("pagevm.db")?;
//! let report = migrate(&zeph, &store, &zeph_builder()?, &MigrateOptions::default(), &mut NoProgress)?;
//! println!("{} pages from {} messages", report.pages_created, report.messages_read);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod build;
mod error;
pub mod ids;
mod migrate;
mod parts;
mod plan;
mod report;
mod schema;
mod source;

pub use crate::error::MigrateError;
pub use crate::migrate::{MigrateOptions, dry_run, migrate, zeph_builder};
pub use crate::report::{Diagnostic, DiagnosticKind, MigrationReport, NoProgress, Progress};
pub use crate::schema::{OverflowLayout, PartsLayout, VisibilityLayout, ZephSchema};
pub use crate::source::ZephDb;

/// Parses one `messages.parts` value, for the fuzz target in `fuzz/` (built with
/// `--cfg fuzzing`); not part of the API.
#[cfg(fuzzing)]
pub fn fuzz_parts(raw: &str) {
    let _ = parts::parse(raw);
}

/// The newest Zeph schema (sqlx migration number) whose layout this crate was checked
/// against: zeph-db 0.21.4 ships migrations 001–096. Newer databases are read when their
/// columns are the ones expected; [`ZephSchema::newer_than_known`] says so.
pub const KNOWN_MIGRATION: i64 = 96;

/// The prefix of every session id this crate creates: `zeph-conversation-<id>`.
pub const SESSION_PREFIX: &str = "zeph-conversation-";
