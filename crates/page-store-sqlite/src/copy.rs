//! Whole-store export and import for copies between stores (`page_writeback::CopyStore`).

use page_core::{ContentDigest, PageId, ParseCodeError, SessionId, TokenCount, ToolCallId};
use page_writeback::{
    BoundaryContext, BoundaryRecord, BoundarySeq, CopyStore, EntryState, FaultRecord, FieldVersion,
    JournalEntry, ReprChange, StoreError, Update, apply_op,
};
use rusqlite::{OptionalExtension as _, Transaction, params};

use crate::codec::{self, corrupt};
use crate::store::{Failure, SqliteStore};

/// An audit row as read: page, type, levels, tokens before and after, reason, full tokens.
type AuditRow = (String, String, String, String, u32, u32, String, u32);

fn code<T: std::str::FromStr<Err = ParseCodeError>>(s: &str) -> Result<T, StoreError> {
    s.parse()
        .map_err(|e: ParseCodeError| corrupt(e.to_string()))
}

/// Inserts `u` as journal entry `id` of `session` in `state`; an entry there that is still
/// pending takes the state. Returns the number of rows changed.
fn put_entry(
    tx: &Transaction<'_>,
    id: i64,
    session: &SessionId,
    u: &Update,
    state: &EntryState,
    seq: Option<i64>,
    field_version: Option<i64>,
) -> Result<usize, Failure> {
    let (kind, scope_id) = codec::scope_parts(u.scope());
    let expected = u
        .op()
        .expected_version()
        .map(|v| codec::to_i64(v.get()))
        .transpose()?;
    let (reason_code, reason_detail) = match state {
        EntryState::Rejected(r) => (Some(r.code().code()), Some(r.detail())),
        EntryState::Staged | EntryState::Validated | EntryState::Committed(_) => (None, None),
    };
    Ok(tx
        .prepare_cached(
            "INSERT INTO journal (id, session, page, field, op, expected_version, value, \
             scope_kind, scope_id, evidence, principal, state, reason_code, reason_detail, seq, \
             field_version) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, \
             reason_code = excluded.reason_code, reason_detail = excluded.reason_detail, \
             seq = excluded.seq, field_version = excluded.field_version \
             WHERE journal.state IN ('staged', 'validated') AND journal.state <> excluded.state",
        )?
        .execute(params![
            id,
            session.as_str(),
            u.page().as_str(),
            u.field().as_str(),
            u.op().code(),
            expected,
            u.value_json(),
            kind,
            scope_id,
            u.evidence().to_code(),
            u.principal().as_str(),
            state.code(),
            reason_code,
            reason_detail,
            seq,
            field_version
        ])?)
}

impl CopyStore for SqliteStore {
    fn sessions(&self) -> Result<Vec<SessionId>, StoreError> {
        self.run(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id FROM sessions UNION SELECT session FROM faults ORDER BY 1",
            )?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(SessionId::new(row?).map_err(|e| corrupt(e.to_string()))?);
            }
            Ok(out)
        })
    }

    fn boundary_seqs(&self) -> Result<Vec<BoundarySeq>, StoreError> {
        self.run(|conn| {
            let mut stmt = conn.prepare_cached("SELECT seq FROM boundaries ORDER BY seq")?;
            let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(BoundarySeq::new(codec::to_u64(row?)?));
            }
            Ok(out)
        })
    }

    fn export_boundary(&self, seq: BoundarySeq) -> Result<BoundaryRecord, StoreError> {
        self.run(|conn| {
            let raw = codec::to_i64(seq.get())?;
            let (session, kind, turn, time_ms): (String, String, i64, i64) = conn
                .prepare_cached(
                    "SELECT session, kind, turn, time_ms FROM boundaries WHERE seq = ?1",
                )?
                .query_row([raw], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()?
                .ok_or_else(|| corrupt(format!("no boundary {raw}")))?;
            let mut committed = Vec::new();
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {}, field_version FROM journal WHERE seq = ?1 ORDER BY id",
                codec::ENTRY_COLUMNS
            ))?;
            let rows = stmt.query_map([raw], |r| {
                Ok((codec::parse_entry(r)?, r.get::<_, Option<i64>>(15)?))
            })?;
            for row in rows {
                let (entry, fv) = row?;
                let entry = entry.into_entry()?;
                let fv = fv
                    .ok_or_else(|| corrupt(format!("entry {} has no field version", entry.id())))?;
                committed.push((entry, FieldVersion::new(codec::to_u64(fv)?)));
            }
            let mut stmt = conn.prepare_cached(
                "SELECT page, version FROM page_versions WHERE seq = ?1 ORDER BY page",
            )?;
            let ids: Vec<(String, i64)> = stmt
                .query_map([raw], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let mut pages = Vec::with_capacity(ids.len());
            for (id, version) in ids {
                let id = PageId::new(id).map_err(|e| corrupt(e.to_string()))?;
                pages.push(
                    codec::page_at(conn, &id, version)?
                        .ok_or_else(|| corrupt(format!("page {id} lost version {version}")))?,
                );
            }
            let mut stmt = conn.prepare_cached(
                "SELECT page, page_type, from_level, to_level, tokens_before, tokens_after, reason, \
                 full_tokens FROM audit WHERE seq = ?1 ORDER BY id",
            )?;
            let rows: Vec<AuditRow> = stmt
                .query_map([raw], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                })?
                .collect::<Result<_, _>>()?;
            let mut audit = Vec::with_capacity(rows.len());
            for (page, ty, from, to, before, after, reason, full) in rows {
                audit.push(ReprChange {
                    page: PageId::new(page).map_err(|e| corrupt(e.to_string()))?,
                    page_type: code(&ty)?,
                    from: code(&from)?,
                    to: code(&to)?,
                    tokens_before: TokenCount::new(before),
                    tokens_after: TokenCount::new(after),
                    full_tokens: TokenCount::new(full),
                    reason,
                });
            }
            Ok(BoundaryRecord {
                seq,
                session: SessionId::new(session).map_err(|e| corrupt(e.to_string()))?,
                context: BoundaryContext {
                    boundary: code(&kind)?,
                    turn: codec::to_u64(turn)?,
                    time_ms,
                },
                committed,
                pages,
                audit,
            })
        })
    }

    fn import_boundary(&self, r: &BoundaryRecord) -> Result<bool, StoreError> {
        self.write(|tx| {
            let raw = codec::to_i64(r.seq.get())?;
            let turn = codec::to_i64(r.context.turn)?;
            let existing: Option<(String, String, i64, i64)> = tx
                .prepare_cached(
                    "SELECT session, kind, turn, time_ms FROM boundaries WHERE seq = ?1",
                )?
                .query_row([raw], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .optional()?;
            if let Some(b) = existing {
                let same = (b.0.as_str(), b.1.as_str(), b.2, b.3)
                    == (r.session.as_str(), r.context.boundary.code(), turn, r.context.time_ms);
                return if same {
                    Ok(false)
                } else {
                    Err(corrupt(format!("boundary {raw} is already there with other content")).into())
                };
            }
            codec::ensure_session(tx, &r.session)?;
            tx.prepare_cached(
                "INSERT INTO boundaries (seq, session, kind, turn, time_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![raw, r.session.as_str(), r.context.boundary.code(), turn, r.context.time_ms])?;
            for (e, version) in &r.committed {
                let u = e.update();
                let value: serde_json::Value = serde_json::from_str(u.value_json())
                    .map_err(|err| corrupt(format!("entry {}: {err}", e.id())))?;
                let current = codec::field(tx, u.page(), u.field())?;
                let next = apply_op(current.as_ref(), u.op(), &value)
                    .ok()
                    .filter(|n| n.version == *version)
                    .ok_or_else(|| {
                        corrupt(format!("entry {} does not re-apply to version {version}", e.id()))
                    })?;
                let changed = put_entry(
                    tx,
                    codec::entry_key(e.id())?,
                    e.session(),
                    u,
                    &EntryState::Committed(r.seq),
                    Some(raw),
                    Some(codec::to_i64(version.get())?),
                )?;
                if changed != 1 {
                    return Err(corrupt(format!("entry {} is already there, not pending", e.id())).into());
                }
                codec::insert_field_version(tx, u.page(), u.field(), &next, raw, e.id())?;
            }
            let mut writer = codec::PageWriter::new(tx)?;
            for page in &r.pages {
                writer.insert(page, &r.session, raw)?;
            }
            drop(writer);
            for c in &r.audit {
                tx.prepare_cached(
                    "INSERT INTO audit (seq, session, page, page_type, from_level, to_level, \
                     tokens_before, tokens_after, boundary, turn, time_ms, reason, full_tokens) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )?
                .execute(params![
                    raw,
                    r.session.as_str(),
                    c.page.as_str(),
                    c.page_type.code(),
                    c.from.code(),
                    c.to.code(),
                    c.tokens_before.get(),
                    c.tokens_after.get(),
                    r.context.boundary.code(),
                    turn,
                    r.context.time_ms,
                    c.reason,
                    c.full_tokens.get()
                ])?;
            }
            Ok(true)
        })
    }

    fn import_entry(&self, entry: &JournalEntry) -> Result<bool, StoreError> {
        if matches!(entry.state(), EntryState::Committed(_)) {
            return Err(corrupt(format!(
                "entry {} is committed: it comes with its boundary",
                entry.id()
            )));
        }
        self.write(|tx| {
            codec::ensure_session(tx, entry.session())?;
            let n = put_entry(
                tx,
                codec::entry_key(entry.id())?,
                entry.session(),
                entry.update(),
                entry.state(),
                None,
                None,
            )?;
            Ok(n > 0)
        })
    }

    fn import_faults(
        &self,
        session: &SessionId,
        faults: &[FaultRecord],
    ) -> Result<usize, StoreError> {
        self.write(|tx| {
            let have: i64 = tx
                .prepare_cached("SELECT count(*) FROM faults WHERE session = ?1")?
                .query_row([session.as_str()], |r| r.get(0))?;
            let new = faults
                .get(usize::try_from(have).unwrap_or(usize::MAX)..)
                .unwrap_or_default();
            for f in new {
                tx.prepare_cached(
                    "INSERT INTO faults (session, kind, page, tool_call, turn, time_ms, detail) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    session.as_str(),
                    f.kind.code(),
                    f.page.as_ref().map(PageId::as_str),
                    f.tool_call.as_ref().map(ToolCallId::as_str),
                    codec::to_i64(f.turn)?,
                    f.time_ms,
                    f.detail
                ])?;
            }
            Ok(new.len())
        })
    }

    fn blob_digests(&self) -> Result<Vec<ContentDigest>, StoreError> {
        self.run(|conn| {
            let mut stmt = conn.prepare_cached("SELECT digest FROM blobs ORDER BY digest")?;
            let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
            let mut out = Vec::new();
            for row in rows {
                let bytes: [u8; 32] = row?
                    .try_into()
                    .map_err(|_| corrupt("a blob digest is not 32 bytes"))?;
                out.push(ContentDigest::from_bytes(bytes));
            }
            Ok(out)
        })
    }
}
