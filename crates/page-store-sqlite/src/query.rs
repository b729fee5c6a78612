//! The query API for tools: a session's page table, a page's audit trail, journal entries with
//! their reasons, the fault log, the boundaries, and an integrity check.

use page_core::{
    Boundary, FaultKind, PageId, PageType, ParseCodeError, PinClass, Repr, Scope, SessionId,
    TokenCount, ToolCallId,
};
use page_writeback::{
    AuditRecord, BoundaryContext, BoundarySeq, EntryId, EntryState, FaultRecord, JournalEntry,
    JournalStore, Rejection, ReprChange, StoreError,
};
use rusqlite::params;

use crate::codec::{self, corrupt};
use crate::store::SqliteStore;

/// One row of a session's page table: a page's latest committed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRow {
    /// The page.
    pub id: PageId,
    /// Its type.
    pub page_type: PageType,
    /// Its scope.
    pub scope: Scope,
    /// Its pin class.
    pub pin: PinClass,
    /// Its minimum fidelity.
    pub min_fidelity: Repr,
    /// The latest committed version.
    pub version: u64,
    /// The boundary that committed that version.
    pub seq: BoundarySeq,
    /// Token cost per level on its path, ascending.
    pub tokens: Vec<(Repr, TokenCount)>,
}

fn parse<T: std::str::FromStr<Err = ParseCodeError>>(s: &str) -> Result<T, StoreError> {
    s.parse()
        .map_err(|e: ParseCodeError| corrupt(e.to_string()))
}

impl SqliteStore {
    /// The page table of `session`: the latest version of every page a boundary of the
    /// session committed (its own pages and the project pages it holds), sorted by page id.
    ///
    /// # Errors
    /// [`StoreError::Backend`], or [`StoreError::Corrupt`] for a row that fails validation.
    pub fn page_table(&self, session: &SessionId) -> Result<Vec<PageRow>, StoreError> {
        self.run(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT DISTINCT p.id, p.latest_version, v.seq FROM pages p \
                 JOIN page_versions v ON v.page = p.id AND v.version = p.latest_version \
                 WHERE p.id IN (SELECT page FROM session_pages WHERE session = ?1) \
                 ORDER BY p.id",
            )?;
            let rows = stmt.query_map([session.as_str()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, version, seq) = row?;
                let id = PageId::new(id).map_err(|e| corrupt(e.to_string()))?;
                let page = codec::page_at(conn, &id, version)?
                    .ok_or_else(|| corrupt(format!("page {id} lost version {version}")))?;
                out.push(PageRow {
                    page_type: page.page_type(),
                    scope: page.scope().clone(),
                    pin: page.pin(),
                    min_fidelity: page.levels().min_fidelity(),
                    version: page.version(),
                    seq: BoundarySeq::new(codec::to_u64(seq)?),
                    tokens: page.levels().iter().collect(),
                    id,
                });
            }
            Ok(out)
        })
    }

    /// Every stored version number of `page`, ascending.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub fn page_versions(&self, page: &PageId) -> Result<Vec<u64>, StoreError> {
        self.run(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT version FROM page_versions WHERE page = ?1 ORDER BY version",
            )?;
            let rows = stmt.query_map([page.as_str()], |r| r.get::<_, i64>(0))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(codec::to_u64(row?)?);
            }
            Ok(out)
        })
    }

    /// The audit trail of `page`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Backend`], or [`StoreError::Corrupt`] for a row that fails validation.
    pub fn audit_trail(&self, page: &PageId) -> Result<Vec<AuditRecord>, StoreError> {
        self.run(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, session, page_type, from_level, to_level, tokens_before, \
                 tokens_after, boundary, turn, time_ms, reason, full_tokens FROM audit \
                 WHERE page = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([page.as_str()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, u32>(5)?,
                    r.get::<_, u32>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, i64>(8)?,
                    r.get::<_, i64>(9)?,
                    r.get::<_, String>(10)?,
                    r.get::<_, u32>(11)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (
                    seq,
                    session,
                    ty,
                    from,
                    to,
                    before,
                    after,
                    boundary,
                    turn,
                    time_ms,
                    reason,
                    full,
                ) = row?;
                out.push(AuditRecord {
                    seq: BoundarySeq::new(codec::to_u64(seq)?),
                    session: SessionId::new(session).map_err(|e| corrupt(e.to_string()))?,
                    change: ReprChange {
                        page: page.clone(),
                        page_type: parse(&ty)?,
                        from: parse(&from)?,
                        to: parse(&to)?,
                        tokens_before: TokenCount::new(before),
                        tokens_after: TokenCount::new(after),
                        full_tokens: TokenCount::new(full),
                        reason,
                    },
                    boundary: parse::<Boundary>(&boundary)?,
                    turn: codec::to_u64(turn)?,
                    time_ms,
                });
            }
            Ok(out)
        })
    }

    /// The rejected journal entries of `session` with their reasons, in journal order.
    ///
    /// # Errors
    /// As [`JournalStore::entries`].
    pub fn rejections(&self, session: &SessionId) -> Result<Vec<(EntryId, Rejection)>, StoreError> {
        Ok(self
            .entries(session)?
            .into_iter()
            .filter_map(|e: JournalEntry| match e.state() {
                EntryState::Rejected(r) => Some((e.id(), r.clone())),
                EntryState::Staged | EntryState::Validated | EntryState::Committed(_) => None,
            })
            .collect())
    }

    /// The fault log of `session`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Backend`], or [`StoreError::Corrupt`] for a row that fails validation.
    pub fn faults(&self, session: &SessionId) -> Result<Vec<FaultRecord>, StoreError> {
        self.run(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT kind, page, tool_call, turn, time_ms, detail FROM faults \
                 WHERE session = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([session.as_str()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (kind, page, tool_call, turn, time_ms, detail) = row?;
                out.push(FaultRecord {
                    session: session.clone(),
                    kind: parse::<FaultKind>(&kind)?,
                    page: page
                        .map(PageId::new)
                        .transpose()
                        .map_err(|e| corrupt(e.to_string()))?,
                    tool_call: tool_call
                        .map(ToolCallId::new)
                        .transpose()
                        .map_err(|e| corrupt(e.to_string()))?,
                    turn: codec::to_u64(turn)?,
                    time_ms,
                    detail,
                });
            }
            Ok(out)
        })
    }

    /// The committed boundaries of `session`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Backend`], or [`StoreError::Corrupt`] for a row that fails validation.
    pub fn boundaries(
        &self,
        session: &SessionId,
    ) -> Result<Vec<(BoundarySeq, BoundaryContext)>, StoreError> {
        self.run(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, kind, turn, time_ms FROM boundaries WHERE session = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![session.as_str()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, kind, turn, time_ms) = row?;
                out.push((
                    BoundarySeq::new(codec::to_u64(seq)?),
                    BoundaryContext {
                        boundary: parse(&kind)?,
                        turn: codec::to_u64(turn)?,
                        time_ms,
                    },
                ));
            }
            Ok(out)
        })
    }

    /// SQLite's `PRAGMA integrity_check` plus `foreign_key_check`: `ok`, or the problems found,
    /// one per line.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        self.run(|conn| {
            let mut out = Vec::new();
            let mut stmt = conn.prepare("PRAGMA integrity_check")?;
            for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
                out.push(row?);
            }
            let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
            for row in stmt.query_map([], |r| {
                Ok(format!(
                    "foreign key violation in {} row {}",
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<i64>>(1)?.unwrap_or_default()
                ))
            })? {
                out.push(row?);
            }
            Ok(out.join("\n"))
        })
    }

    /// The schema version of the open file (`PRAGMA user_version`).
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.run(|conn| Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?))
    }
}
