//! Schema detection: which Zeph layout a database has, from sqlx's `_sqlx_migrations` table,
//! cross-checked against the columns that are really there.

use std::collections::BTreeSet;
use std::path::Path;

use rusqlite::Connection;
use serde::Serialize;

use crate::error::MigrateError;

/// How `messages` records who may see a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VisibilityLayout {
    /// Before migration 014: every message is visible to both.
    None,
    /// Migrations 014–072: `agent_visible` and `user_visible` integer flags.
    Flags,
    /// Migration 073 on: `visibility TEXT` (`both`, `agent_only`, `user_only`).
    Column,
}

/// How `messages.parts` is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartsLayout {
    /// Before migration 006: no `parts` column; the `content` text is the message.
    None,
    /// Migrations 006–044: JSON that may be the legacy externally tagged form
    /// (`[{"ToolUse":{…}}]`) or the current one (`[{"kind":"tool_use",…}]`), row by row.
    MaybeLegacy,
    /// Migration 045 on: legacy rows were rewritten; rows are the internally tagged form
    /// (a legacy row that still appears is read all the same).
    Current,
}

/// How `tool_overflow` is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OverflowLayout {
    /// Before migration 031: no table.
    None,
    /// Migrations 031–053: overflow bodies only.
    Untyped,
    /// Migration 054 on: `archive_type` `overflow` or `archive` (Memex).
    Typed,
}

/// The layout of one Zeph database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZephSchema {
    /// The newest successfully applied sqlx migration.
    pub migration: i64,
    /// How many migrations are recorded as applied.
    pub applied: usize,
    /// Whether `migration` is newer than [`crate::KNOWN_MIGRATION`].
    pub newer_than_known: bool,
    /// `messages.parts`.
    pub parts: PartsLayout,
    /// Visibility columns.
    pub visibility: VisibilityLayout,
    /// Whether `messages.compacted_at` exists (014).
    pub compacted_at: bool,
    /// Whether `messages.deleted_at` exists (020).
    pub soft_delete: bool,
    /// Whether the `summaries` table exists (003).
    pub summaries: bool,
    /// `tool_overflow`.
    pub overflow: OverflowLayout,
}

/// A column the layout implies, the migration that adds it, and whether it must exist.
struct Expect {
    table: &'static str,
    column: &'static str,
    from: i64,
    until: Option<i64>,
}

const EXPECTED: &[Expect] = &[
    Expect {
        table: "messages",
        column: "parts",
        from: 6,
        until: None,
    },
    Expect {
        table: "messages",
        column: "agent_visible",
        from: 14,
        until: Some(73),
    },
    Expect {
        table: "messages",
        column: "user_visible",
        from: 14,
        until: Some(73),
    },
    Expect {
        table: "messages",
        column: "compacted_at",
        from: 14,
        until: None,
    },
    Expect {
        table: "messages",
        column: "deleted_at",
        from: 20,
        until: None,
    },
    Expect {
        table: "messages",
        column: "visibility",
        from: 73,
        until: None,
    },
    Expect {
        table: "summaries",
        column: "content",
        from: 3,
        until: None,
    },
    Expect {
        table: "tool_overflow",
        column: "content",
        from: 31,
        until: None,
    },
    Expect {
        table: "tool_overflow",
        column: "archive_type",
        from: 54,
        until: None,
    },
];

fn columns(conn: &Connection, path: &Path, table: &str) -> Result<BTreeSet<String>, MigrateError> {
    // `pragma_table_info` is a table-valued function: an absent table yields no rows.
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info(?1)")
        .map_err(|e| MigrateError::read(path, format!("columns of {table}"), e))?;
    let rows = stmt
        .query_map([table], |r| r.get::<_, String>(0))
        .map_err(|e| MigrateError::read(path, format!("columns of {table}"), e))?;
    rows.collect::<Result<_, _>>()
        .map_err(|e| MigrateError::read(path, format!("columns of {table}"), e))
}

impl ZephSchema {
    /// Detects the layout of the database behind `conn` (the file `path`, for messages).
    ///
    /// # Errors
    /// [`MigrateError::NotZeph`] without `_sqlx_migrations`, `conversations` or `messages`;
    /// [`MigrateError::SchemaMismatch`] for a failed (half-applied) migration or when a column
    /// the migration number implies is missing, or one it removed is still there;
    /// [`MigrateError::Read`].
    pub(crate) fn detect(conn: &Connection, path: &Path) -> Result<Self, MigrateError> {
        let not_zeph = |reason: &str| MigrateError::NotZeph {
            path: path.to_path_buf(),
            reason: reason.to_owned(),
        };
        let migrations = columns(conn, path, "_sqlx_migrations")?;
        if !migrations.contains("version") || !migrations.contains("success") {
            return Err(not_zeph(
                "it has no sqlx migrations table (_sqlx_migrations)",
            ));
        }
        let (applied, newest, failed): (i64, Option<i64>, Option<i64>) = conn
            .query_row(
                "SELECT count(*) FILTER (WHERE success), max(version) FILTER (WHERE success), \
                 min(version) FILTER (WHERE NOT success) FROM _sqlx_migrations",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(|e| MigrateError::read(path, "_sqlx_migrations", e))?;
        let Some(migration) = newest else {
            return Err(not_zeph("no migration has been applied"));
        };
        if let Some(v) = failed {
            return Err(MigrateError::SchemaMismatch {
                path: path.to_path_buf(),
                migration,
                detail: format!(
                    "migration {v} is recorded as failed; let Zeph finish migrating first"
                ),
            });
        }
        let messages = columns(conn, path, "messages")?;
        if !messages.contains("conversation_id") || columns(conn, path, "conversations")?.is_empty()
        {
            return Err(not_zeph("it has no conversations/messages tables"));
        }
        let mut tables = std::collections::BTreeMap::new();
        for e in EXPECTED {
            if !tables.contains_key(e.table) {
                let cols = if e.table == "messages" {
                    messages.clone()
                } else {
                    columns(conn, path, e.table)?
                };
                tables.insert(e.table, cols);
            }
            let present = tables.get(e.table).is_some_and(|c| c.contains(e.column));
            let expected = migration >= e.from && e.until.is_none_or(|u| migration < u);
            if present != expected {
                let detail = if expected {
                    format!(
                        "{}.{} (added by migration {:03}) is missing",
                        e.table, e.column, e.from
                    )
                } else {
                    format!(
                        "{}.{} is present although migration {migration} should {}",
                        e.table,
                        e.column,
                        if migration < e.from {
                            "not have it yet"
                        } else {
                            "have removed it"
                        }
                    )
                };
                return Err(MigrateError::SchemaMismatch {
                    path: path.to_path_buf(),
                    migration,
                    detail,
                });
            }
        }
        let at = |v: i64| migration >= v;
        Ok(Self {
            migration,
            applied: usize::try_from(applied).unwrap_or(0),
            newer_than_known: migration > crate::KNOWN_MIGRATION,
            parts: if !at(6) {
                PartsLayout::None
            } else if at(45) {
                PartsLayout::Current
            } else {
                PartsLayout::MaybeLegacy
            },
            visibility: if at(73) {
                VisibilityLayout::Column
            } else if at(14) {
                VisibilityLayout::Flags
            } else {
                VisibilityLayout::None
            },
            compacted_at: at(14),
            soft_delete: at(20),
            summaries: at(3),
            overflow: if at(54) {
                OverflowLayout::Typed
            } else if at(31) {
                OverflowLayout::Untyped
            } else {
                OverflowLayout::None
            },
        })
    }
}
