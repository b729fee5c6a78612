//! What a migration reports: its counts and the problems found in the Zeph data, by id, and
//! its progress while it runs.

use serde::Serialize;

use crate::schema::ZephSchema;

/// What kind of problem a [`Diagnostic`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// A `tool_use` part with no `tool_result` in the next message.
    OrphanedToolUse,
    /// A `tool_result` part with no `tool_use` in the previous message.
    OrphanedToolResult,
    /// A `parts` column that does not parse in either format.
    CorruptParts,
    /// A `tool_overflow` body that is not UTF-8.
    ArchiveNotUtf8,
    /// Messages name a conversation that has no `conversations` row.
    MissingConversation,
}

impl DiagnosticKind {
    /// The stable snake_case code (as in the JSON report).
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            DiagnosticKind::OrphanedToolUse => "orphaned_tool_use",
            DiagnosticKind::OrphanedToolResult => "orphaned_tool_result",
            DiagnosticKind::CorruptParts => "corrupt_parts",
            DiagnosticKind::ArchiveNotUtf8 => "archive_not_utf8",
            DiagnosticKind::MissingConversation => "missing_conversation",
        }
    }
}

/// A problem in the Zeph data, by id. Nothing it names is dropped: the text is migrated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The Zeph conversation id.
    pub conversation: i64,
    /// The Zeph message id, when the problem is in a message.
    pub message: Option<i64>,
    /// What is wrong.
    pub kind: DiagnosticKind,
    /// Details for a person.
    pub detail: String,
}

/// What a run did (or, for a dry run, would do). The JSON form is what
/// `pagevm migrate --json` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MigrationReport {
    /// The Zeph layout that was read.
    pub schema: Option<ZephSchema>,
    /// Whether nothing was committed.
    pub dry_run: bool,
    /// Conversations read.
    pub conversations: u64,
    /// Message rows read, soft-deleted ones included.
    pub messages_read: u64,
    /// Pages created in the store by this run.
    pub pages_created: u64,
    /// Pages skipped because the store already held them (an earlier run).
    pub pages_existing: u64,
    /// Tool evidence groups (a `tool_use` with its `tool_result`, or a `tool_output`).
    pub tool_groups: u64,
    /// Tool parts without their partner (see `diagnostics`).
    pub orphaned_tool_parts: u64,
    /// Rows whose `parts` JSON does not parse (see `diagnostics`).
    pub corrupt_rows: u64,
    /// Rows in the legacy externally tagged `parts` format.
    pub legacy_rows: u64,
    /// Summaries: hard-compaction and tool-pair summary messages, and `summaries` rows.
    pub summaries: u64,
    /// `tool_overflow` rows (execution-time overflow and Memex archives).
    pub archives: u64,
    /// Soft-deleted rows, not migrated.
    pub skipped_deleted: u64,
    /// Compactions Zeph applied (groups of rows hidden together).
    pub compactions: u64,
    /// Audit records of compacted pages written by this run.
    pub audit_records: u64,
    /// Boundaries committed by this run.
    pub boundaries: u64,
    /// Problems found, by id.
    pub diagnostics: Vec<Diagnostic>,
}

/// Observes a run: for a progress bar, and for tests that stop a run midway.
pub trait Progress {
    /// The run starts; `total_messages` rows will be read.
    fn start(&mut self, total_messages: u64) {
        let _ = total_messages;
    }
    /// `n` more message rows were processed.
    fn messages(&mut self, n: u64) {
        let _ = n;
    }
    /// A boundary of `conversation` with `pages` pages was committed.
    fn committed(&mut self, conversation: i64, pages: usize) {
        let _ = (conversation, pages);
    }
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
