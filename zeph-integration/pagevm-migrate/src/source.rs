//! Read-only access to a Zeph database: conversations, message rows, summaries and
//! `tool_overflow` bodies, each read with the query its detected layout needs.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, params};

use crate::error::MigrateError;
use crate::schema::{OverflowLayout, PartsLayout, VisibilityLayout, ZephSchema};

/// Who may see a message, normalised over both layouts (073 maps the flags the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visibility {
    Both,
    AgentOnly,
    UserOnly,
}

/// One `messages` row.
#[derive(Debug, Clone)]
pub(crate) struct MessageRow {
    pub(crate) id: i64,
    pub(crate) role: String,
    pub(crate) content: String,
    /// `None` before migration 006.
    pub(crate) parts: Option<String>,
    pub(crate) visibility: Visibility,
    /// Seconds since the epoch as Zeph wrote them (text), when the row was compacted.
    pub(crate) compacted_at: Option<String>,
    pub(crate) deleted: bool,
    /// `YYYY-MM-DD HH:MM:SS` (UTC), SQLite's `datetime('now')`.
    pub(crate) created_at: String,
}

/// One `summaries` row.
#[derive(Debug, Clone)]
pub(crate) struct SummaryRow {
    pub(crate) id: i64,
    pub(crate) content: String,
    pub(crate) first: Option<i64>,
    pub(crate) last: Option<i64>,
    pub(crate) created_at: String,
}

/// One `tool_overflow` row.
#[derive(Debug, Clone)]
pub(crate) struct OverflowRow {
    pub(crate) id: String,
    pub(crate) content: Vec<u8>,
    /// `overflow` or `archive` (`overflow` before migration 054).
    pub(crate) archive_type: String,
    pub(crate) created_at: String,
}

/// Everything of one conversation, in id order.
#[derive(Debug, Clone)]
pub(crate) struct Conversation {
    pub(crate) id: i64,
    pub(crate) messages: Vec<MessageRow>,
    pub(crate) summaries: Vec<SummaryRow>,
    pub(crate) overflow: Vec<OverflowRow>,
}

/// A Zeph database opened read-only, with its detected layout.
#[derive(Debug)]
pub struct ZephDb {
    conn: Connection,
    path: PathBuf,
    schema: ZephSchema,
    messages_sql: String,
}

impl ZephDb {
    /// Refuses `store` when it is this database's file (compared by file identity, so a
    /// second path or a symlink to it is refused too). An absent store is a new file.
    ///
    /// # Errors
    /// [`MigrateError::StoreIsSource`].
    pub fn refuse_as_store(&self, store: &Path) -> Result<(), MigrateError> {
        if same_file(&self.path, store) {
            return Err(MigrateError::StoreIsSource {
                store: store.to_path_buf(),
                zeph: self.path.clone(),
            });
        }
        Ok(())
    }

    /// Opens `path` read-only (`SQLITE_OPEN_READ_ONLY`, and `PRAGMA query_only` as a second
    /// guard) and detects its layout. The file is never written.
    ///
    /// # Errors
    /// [`MigrateError::Read`] when the file cannot be opened as SQLite;
    /// [`MigrateError::NotZeph`] / [`MigrateError::SchemaMismatch`] from the layout check.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, MigrateError> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            let error = if path.exists() {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file")
            } else {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")
            };
            return Err(MigrateError::read(&path, "opening", error));
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| MigrateError::read(&path, "opening", e))?;
        conn.pragma_update(None, "query_only", true)
            .map_err(|e| MigrateError::read(&path, "setting query_only", e))?;
        // A file that is not SQLite fails on its first read, here.
        let schema = ZephSchema::detect(&conn, &path).map_err(|e| {
            // A hot rollback journal needs a write to roll back, which read-only refuses
            // ("attempt to write a readonly database"): say what it is instead.
            let mut journal = path.clone().into_os_string();
            journal.push("-journal");
            let journal = PathBuf::from(journal);
            if std::fs::metadata(&journal).is_ok_and(|m| m.len() > 0) {
                MigrateError::HotJournal {
                    path: path.clone(),
                    journal,
                }
            } else {
                e
            }
        })?;
        let parts = match schema.parts {
            PartsLayout::None => "NULL",
            PartsLayout::MaybeLegacy | PartsLayout::Current => "parts",
        };
        let visibility = match schema.visibility {
            VisibilityLayout::None => "'both'",
            // Exactly the mapping of migration 073.
            VisibilityLayout::Flags => {
                "CASE WHEN agent_visible = 1 AND user_visible = 0 THEN 'agent_only' \
                 WHEN agent_visible = 0 AND user_visible = 1 THEN 'user_only' ELSE 'both' END"
            }
            VisibilityLayout::Column => "visibility",
        };
        let compacted = if schema.compacted_at {
            "CAST(compacted_at AS TEXT)"
        } else {
            "NULL"
        };
        let deleted = if schema.soft_delete {
            "deleted_at IS NOT NULL"
        } else {
            "0"
        };
        let messages_sql = format!(
            "SELECT id, role, content, {parts}, {visibility}, {compacted}, {deleted}, \
             CAST(created_at AS TEXT) FROM messages WHERE conversation_id = ?1 ORDER BY id"
        );
        Ok(Self {
            conn,
            path,
            schema,
            messages_sql,
        })
    }

    /// The detected layout.
    #[must_use]
    pub fn schema(&self) -> &ZephSchema {
        &self.schema
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, what: &str) -> impl FnOnce(rusqlite::Error) -> MigrateError + '_ {
        let what = what.to_owned();
        move |e| MigrateError::read(&self.path, what, e)
    }

    /// Every conversation id, ascending: those with a `conversations` row and those only
    /// messages name (see [`ZephDb::conversations_without_row`]).
    ///
    /// # Errors
    /// [`MigrateError::Read`].
    pub fn conversations(&self) -> Result<Vec<i64>, MigrateError> {
        self.ids(
            "SELECT id FROM conversations UNION \
             SELECT conversation_id FROM messages WHERE conversation_id IS NOT NULL ORDER BY 1",
        )
    }

    /// The conversation ids messages name that have no `conversations` row (a row deleted
    /// by hand, or a crash between inserts), ascending. Their messages are still migrated.
    ///
    /// # Errors
    /// [`MigrateError::Read`].
    pub fn conversations_without_row(&self) -> Result<Vec<i64>, MigrateError> {
        self.ids(
            "SELECT DISTINCT conversation_id FROM messages WHERE conversation_id IS NOT NULL \
             AND conversation_id NOT IN (SELECT id FROM conversations) ORDER BY 1",
        )
    }

    fn ids(&self, sql: &str) -> Result<Vec<i64>, MigrateError> {
        let mut stmt = self.conn.prepare(sql).map_err(self.err("conversations"))?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .map_err(self.err("conversations"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.err("conversations"))
    }

    /// How many message rows `conversation` (or the whole database) has, soft-deleted ones
    /// included.
    ///
    /// # Errors
    /// [`MigrateError::Read`].
    pub fn count_messages(&self, conversation: Option<i64>) -> Result<u64, MigrateError> {
        let n: i64 = match conversation {
            Some(c) => self.conn.query_row(
                "SELECT count(*) FROM messages WHERE conversation_id = ?1",
                [c],
                |r| r.get(0),
            ),
            None => self
                .conn
                .query_row("SELECT count(*) FROM messages", [], |r| r.get(0)),
        }
        .map_err(self.err("counting messages"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Reads one conversation. Text that is not UTF-8 is read lossily (SQLite text should
    /// always be UTF-8; Zeph writes it from Rust strings).
    ///
    /// All of it is read in one read transaction: one consistent snapshot even while Zeph keeps
    /// writing (its summary rows are inserted in the same transaction as the rows they hide).
    pub(crate) fn conversation(&self, id: i64) -> Result<Conversation, MigrateError> {
        // Dropped at the end: a read transaction has nothing to commit.
        let _snapshot = self
            .conn
            .unchecked_transaction()
            .map_err(self.err("starting a read transaction"))?;
        let mut stmt = self
            .conn
            .prepare_cached(&self.messages_sql)
            .map_err(self.err("messages"))?;
        let rows = stmt
            .query_map([id], |r| {
                let visibility: String = r.get(4)?;
                Ok(MessageRow {
                    id: r.get(0)?,
                    role: text(r, 1)?,
                    content: text(r, 2)?,
                    parts: opt_text(r, 3)?,
                    visibility: match visibility.as_str() {
                        "agent_only" => Visibility::AgentOnly,
                        "user_only" => Visibility::UserOnly,
                        // Zeph's `from_db_str` maps anything else to `both` too.
                        _ => Visibility::Both,
                    },
                    compacted_at: opt_text(r, 5)?,
                    deleted: r.get::<_, bool>(6)?,
                    created_at: opt_text(r, 7)?.unwrap_or_default(),
                })
            })
            .map_err(self.err("messages"))?;
        let messages = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("messages"))?;

        let mut summaries = Vec::new();
        if self.schema.summaries {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT id, content, first_message_id, last_message_id, CAST(created_at AS TEXT) \
                     FROM summaries WHERE conversation_id = ?1 ORDER BY id",
                )
                .map_err(self.err("summaries"))?;
            let rows = stmt
                .query_map([id], |r| {
                    Ok(SummaryRow {
                        id: r.get(0)?,
                        content: text(r, 1)?,
                        first: r.get(2)?,
                        last: r.get(3)?,
                        created_at: opt_text(r, 4)?.unwrap_or_default(),
                    })
                })
                .map_err(self.err("summaries"))?;
            summaries = rows
                .collect::<Result<_, _>>()
                .map_err(self.err("summaries"))?;
        }

        let mut overflow = Vec::new();
        if self.schema.overflow != OverflowLayout::None {
            let kind = if self.schema.overflow == OverflowLayout::Typed {
                "archive_type"
            } else {
                "'overflow'"
            };
            let sql = format!(
                "SELECT id, content, {kind}, CAST(created_at AS TEXT) FROM tool_overflow \
                 WHERE conversation_id = ?1 ORDER BY created_at, id"
            );
            let mut stmt = self
                .conn
                .prepare_cached(&sql)
                .map_err(self.err("tool_overflow"))?;
            let rows = stmt
                .query_map(params![id], |r| {
                    Ok(OverflowRow {
                        id: text(r, 0)?,
                        content: blob(r, 1)?,
                        archive_type: text(r, 2)?,
                        created_at: opt_text(r, 3)?.unwrap_or_default(),
                    })
                })
                .map_err(self.err("tool_overflow"))?;
            overflow = rows
                .collect::<Result<_, _>>()
                .map_err(self.err("tool_overflow"))?;
        }
        Ok(Conversation {
            id,
            messages,
            summaries,
            overflow,
        })
    }
}

/// A text column, tolerating a BLOB or a non-UTF-8 value (read lossily) and NULL (empty).
fn text(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<String> {
    Ok(opt_text(r, i)?.unwrap_or_default())
}

fn opt_text(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<String>> {
    use rusqlite::types::ValueRef;
    Ok(match r.get_ref(i)? {
        ValueRef::Null => None,
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        ValueRef::Integer(n) => Some(n.to_string()),
        ValueRef::Real(x) => Some(x.to_string()),
    })
}

fn blob(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Vec<u8>> {
    use rusqlite::types::ValueRef;
    Ok(match r.get_ref(i)? {
        ValueRef::Null => Vec::new(),
        ValueRef::Text(b) | ValueRef::Blob(b) => b.to_vec(),
        ValueRef::Integer(n) => n.to_string().into_bytes(),
        ValueRef::Real(x) => x.to_string().into_bytes(),
    })
}

/// Whether `a` and `b` name one existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        }
    }
}
