//! Whole-store export and import for copies between stores (`page_writeback::CopyStore`).

use page_core::{ContentDigest, PageId, SessionId, TokenCount, ToolCallId};
use page_writeback::{
    BoundaryContext, BoundaryRecord, BoundarySeq, CopyStore, EntryState, FaultRecord, FieldVersion,
    JournalEntry, ReprChange, StoreError, Update, apply_op,
};
use postgres::GenericClient;

use crate::codec::{self, RawEntry, corrupt, entry_key, to_i64, to_u64};
use crate::commit::insert_audit;
use crate::conn::{Db, Failure};
use crate::store::{PostgresStore, parse, utf8};

/// Moves the identity sequences past the imported ids, so later commits and stagings draw
/// new ones.
fn bump_sequences<C: GenericClient>(db: &mut Db<'_, C>) -> Result<(), Failure> {
    db.execute(
        "SELECT setval(pg_get_serial_sequence('boundaries', 'seq'), \
         GREATEST((SELECT max(seq) FROM boundaries), 1), (SELECT count(*) > 0 FROM boundaries))",
        &[],
    )?;
    db.execute(
        "SELECT setval(pg_get_serial_sequence('journal', 'id'), \
         GREATEST((SELECT max(id) FROM journal), 1), (SELECT count(*) > 0 FROM journal))",
        &[],
    )?;
    Ok(())
}

/// Inserts `u` as journal entry `id` of `session` in `state`; an entry there that is still
/// pending takes the state. Returns the number of rows changed.
#[expect(clippy::too_many_arguments, reason = "one journal row's columns")]
fn put_entry<C: GenericClient>(
    db: &mut Db<'_, C>,
    id: i64,
    session: &SessionId,
    u: &Update,
    state: &EntryState,
    seq: Option<i64>,
    field_version: Option<i64>,
    token: &str,
) -> Result<u64, Failure> {
    let (kind, scope_id) = codec::scope_parts(u.scope());
    let expected = u
        .op()
        .expected_version()
        .map(|v| to_i64(v.get()))
        .transpose()?;
    let (reason_code, reason_detail) = match state {
        EntryState::Rejected(r) => (Some(r.code().code()), Some(r.detail().as_bytes())),
        EntryState::Staged | EntryState::Validated | EntryState::Committed(_) => (None, None),
    };
    Ok(db.execute(
        "INSERT INTO journal (id, session, page, field, op, expected_version, value, \
         scope_kind, scope_id, evidence, principal, state, reason_code, reason_detail, seq, \
         field_version, token) OVERRIDING SYSTEM VALUE \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, \
         reason_code = excluded.reason_code, reason_detail = excluded.reason_detail, \
         seq = excluded.seq, field_version = excluded.field_version \
         WHERE journal.state IN ('staged', 'validated') AND journal.state <> excluded.state",
        &[
            &id,
            &session.as_str(),
            &u.page().as_str(),
            &u.field().as_str(),
            &u.op().code(),
            &expected,
            &u.value_json().as_bytes(),
            &kind,
            &scope_id,
            &u.evidence().to_code(),
            &u.principal().as_str(),
            &state.code(),
            &reason_code,
            &reason_detail,
            &seq,
            &field_version,
            &token,
        ],
    )?)
}

impl CopyStore for PostgresStore {
    fn sessions(&self) -> Result<Vec<SessionId>, StoreError> {
        self.pool().read("sessions", |db| {
            let rows = db.query(
                "SELECT id FROM sessions UNION SELECT session FROM faults",
                &[],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let id: String = r.try_get(0)?;
                out.push(SessionId::new(id).map_err(|e| corrupt(e.to_string()))?);
            }
            out.sort();
            Ok(out)
        })
    }

    fn boundary_seqs(&self) -> Result<Vec<BoundarySeq>, StoreError> {
        self.pool().read("boundary_seqs", |db| {
            let rows = db.query("SELECT seq FROM boundaries ORDER BY seq", &[])?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(BoundarySeq::new(to_u64(r.try_get(0)?)?));
            }
            Ok(out)
        })
    }

    fn export_boundary(&self, seq: BoundarySeq) -> Result<BoundaryRecord, StoreError> {
        self.pool().read("export_boundary", |db| {
            let raw = to_i64(seq.get())?;
            let b = db
                .query_opt(
                    "SELECT session, kind, turn, time_ms FROM boundaries WHERE seq = $1",
                    &[&raw],
                )?
                .ok_or_else(|| corrupt(format!("no boundary {raw}")))?;
            let session: String = b.try_get(0)?;
            let kind: String = b.try_get(1)?;
            let rows = db.query(
                "SELECT id, session, page, field, op, expected_version, value, scope_kind, \
                 scope_id, evidence, principal, state, reason_code, reason_detail, seq, \
                 field_version FROM journal WHERE seq = $1 ORDER BY id",
                &[&raw],
            )?;
            let mut committed = Vec::with_capacity(rows.len());
            for r in &rows {
                let entry = RawEntry::from_row(r)?.into_entry()?;
                let fv: Option<i64> = r.try_get(15)?;
                let fv = fv.ok_or_else(|| corrupt(format!("entry {} has no field version", entry.id())))?;
                committed.push((entry, FieldVersion::new(to_u64(fv)?)));
            }
            let rows = db.query(
                "SELECT page, version FROM page_versions WHERE seq = $1 ORDER BY page COLLATE \"C\"",
                &[&raw],
            )?;
            let mut pages = Vec::with_capacity(rows.len());
            for r in rows {
                let id: String = r.try_get(0)?;
                let version: i64 = r.try_get(1)?;
                let id = PageId::new(id).map_err(|e| corrupt(e.to_string()))?;
                pages.push(
                    codec::page_at(db, &id, version)?
                        .ok_or_else(|| corrupt(format!("page {id} lost version {version}")))?,
                );
            }
            let rows = db.query(
                "SELECT page, page_type, from_level, to_level, tokens_before, tokens_after, reason, \
                 full_tokens FROM audit WHERE seq = $1 ORDER BY id",
                &[&raw],
            )?;
            let mut audit = Vec::with_capacity(rows.len());
            for r in rows {
                let page: String = r.try_get(0)?;
                let ty: String = r.try_get(1)?;
                let from: String = r.try_get(2)?;
                let to: String = r.try_get(3)?;
                let tokens = |t: i64| {
                    u32::try_from(t)
                        .map(TokenCount::new)
                        .map_err(|_| corrupt(format!("audit of boundary {raw}: token count {t}")))
                };
                audit.push(ReprChange {
                    page: PageId::new(page).map_err(|e| corrupt(e.to_string()))?,
                    page_type: parse(&ty)?,
                    from: parse(&from)?,
                    to: parse(&to)?,
                    tokens_before: tokens(r.try_get(4)?)?,
                    tokens_after: tokens(r.try_get(5)?)?,
                    full_tokens: tokens(r.try_get(7)?)?,
                    reason: utf8(r.try_get(6)?)?,
                });
            }
            Ok(BoundaryRecord {
                seq,
                session: SessionId::new(session).map_err(|e| corrupt(e.to_string()))?,
                context: BoundaryContext {
                    boundary: parse(&kind)?,
                    turn: to_u64(b.try_get(2)?)?,
                    time_ms: b.try_get(3)?,
                },
                committed,
                pages,
                audit,
            })
        })
    }

    fn import_boundary(&self, r: &BoundaryRecord) -> Result<bool, StoreError> {
        let token = self.pool().token();
        self.pool().write(
            "import_boundary",
            |db| {
                let raw = to_i64(r.seq.get())?;
                let turn = to_i64(r.context.turn)?;
                if let Some(b) = db.query_opt(
                    "SELECT session, kind, turn, time_ms FROM boundaries WHERE seq = $1",
                    &[&raw],
                )? {
                    let (s, k, t, tm): (String, String, i64, i64) =
                        (b.try_get(0)?, b.try_get(1)?, b.try_get(2)?, b.try_get(3)?);
                    let same = (s.as_str(), k.as_str(), t, tm)
                        == (
                            r.session.as_str(),
                            r.context.boundary.code(),
                            turn,
                            r.context.time_ms,
                        );
                    return if same {
                        Ok(false)
                    } else {
                        Err(corrupt(format!(
                            "boundary {raw} is already there with other content"
                        ))
                        .into())
                    };
                }
                codec::ensure_session(db, &r.session)?;
                db.execute(
                    "INSERT INTO boundaries (seq, session, kind, turn, time_ms, token) \
                     OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &raw,
                        &r.session.as_str(),
                        &r.context.boundary.code(),
                        &turn,
                        &r.context.time_ms,
                        &token,
                    ],
                )?;
                for (e, version) in &r.committed {
                    let u = e.update();
                    let value: serde_json::Value = serde_json::from_str(u.value_json())
                        .map_err(|err| corrupt(format!("entry {}: {err}", e.id())))?;
                    let current = codec::field(db, u.page(), u.field())?;
                    let next = apply_op(current.as_ref(), u.op(), &value)
                        .ok()
                        .filter(|n| n.version == *version)
                        .ok_or_else(|| {
                            corrupt(format!(
                                "entry {} does not re-apply to version {version}",
                                e.id()
                            ))
                        })?;
                    let fv = to_i64(version.get())?;
                    let changed = put_entry(
                        db,
                        entry_key(e.id())?,
                        e.session(),
                        u,
                        &EntryState::Committed(r.seq),
                        Some(raw),
                        Some(fv),
                        &token,
                    )?;
                    if changed != 1 {
                        return Err(corrupt(format!(
                            "entry {} is already there, not pending",
                            e.id()
                        ))
                        .into());
                    }
                    db.execute(
                        "INSERT INTO field_versions (page, field, version, value, seq, entry) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                        &[
                            &u.page().as_str(),
                            &u.field().as_str(),
                            &fv,
                            &next.value.to_string(),
                            &raw,
                            &entry_key(e.id())?,
                        ],
                    )?;
                    db.execute(
                        "INSERT INTO field_heads (page, field, version) VALUES ($1, $2, $3) \
                         ON CONFLICT (page, field) DO UPDATE SET version = excluded.version",
                        &[&u.page().as_str(), &u.field().as_str(), &fv],
                    )?;
                }
                for page in &r.pages {
                    codec::insert_page(db, page, &r.session, raw)?;
                }
                for c in &r.audit {
                    insert_audit(db, raw, &r.session, r.context, c)?;
                }
                bump_sequences(db)?;
                Ok(true)
            },
            None,
        )
    }

    fn import_entry(&self, entry: &JournalEntry) -> Result<bool, StoreError> {
        if matches!(entry.state(), EntryState::Committed(_)) {
            return Err(corrupt(format!(
                "entry {} is committed: it comes with its boundary",
                entry.id()
            )));
        }
        let token = self.pool().token();
        self.pool().write(
            "import_entry",
            |db| {
                codec::ensure_session(db, entry.session())?;
                let n = put_entry(
                    db,
                    entry_key(entry.id())?,
                    entry.session(),
                    entry.update(),
                    entry.state(),
                    None,
                    None,
                    &token,
                )?;
                bump_sequences(db)?;
                Ok(n > 0)
            },
            None,
        )
    }

    fn import_faults(
        &self,
        session: &SessionId,
        faults: &[FaultRecord],
    ) -> Result<usize, StoreError> {
        self.pool().write(
            "import_faults",
            |db| {
                let have: i64 = db
                    .query_one("SELECT count(*) FROM faults WHERE session = $1", &[&session.as_str()])?
                    .try_get(0)?;
                let new = faults
                    .get(usize::try_from(have).unwrap_or(usize::MAX)..)
                    .unwrap_or_default();
                for f in new {
                    let token = self.pool().token();
                    db.execute(
                        "INSERT INTO faults (session, kind, page, tool_call, turn, time_ms, detail, token) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        &[
                            &session.as_str(),
                            &f.kind.code(),
                            &f.page.as_ref().map(PageId::as_str),
                            &f.tool_call.as_ref().map(ToolCallId::as_str),
                            &to_i64(f.turn)?,
                            &f.time_ms,
                            &f.detail.as_bytes(),
                            &token,
                        ],
                    )?;
                }
                Ok(new.len())
            },
            None,
        )
    }

    fn blob_digests(&self) -> Result<Vec<ContentDigest>, StoreError> {
        self.pool().read("blob_digests", |db| {
            let rows = db.query("SELECT digest FROM blobs ORDER BY digest", &[])?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let bytes: Vec<u8> = r.try_get(0)?;
                let bytes: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| corrupt("a blob digest is not 32 bytes"))?;
                out.push(ContentDigest::from_bytes(bytes));
            }
            Ok(out)
        })
    }
}
