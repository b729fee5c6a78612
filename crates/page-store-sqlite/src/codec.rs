//! Mapping between domain types and rows: every value read back is re-validated by the
//! domain type's constructor, so a damaged row surfaces as `StoreError::Corrupt`.

use std::collections::BTreeMap;

use page_core::{
    ContentDigest, Page, PageId, PageSpec, Provenance, Repr, RepresentationSpec, Scope, SessionId,
    TokenCount, TypeTable,
};
use page_writeback::{
    BoundarySeq, EntryId, EntryState, EvidenceRef, FieldPath, FieldState, FieldVersion,
    JournalEntry, Op, PrincipalId, Rejection, StoreError, Update,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::store::Failure;

pub(crate) fn corrupt(msg: impl Into<String>) -> StoreError {
    StoreError::Corrupt(msg.into())
}

pub(crate) fn to_i64(v: u64) -> Result<i64, Failure> {
    i64::try_from(v).map_err(|_| corrupt(format!("{v} does not fit a SQLite integer")).into())
}

pub(crate) fn to_u64(v: i64) -> Result<u64, Failure> {
    u64::try_from(v).map_err(|_| corrupt(format!("negative counter {v}")).into())
}

pub(crate) fn entry_key(id: EntryId) -> Result<i64, Failure> {
    to_i64(id.get())
}

pub(crate) fn scope_parts(scope: &Scope) -> (&'static str, &str) {
    (scope.kind().code(), scope.id_str())
}

pub(crate) fn parse_scope(kind: &str, id: &str) -> Result<Scope, StoreError> {
    Scope::from_parts(kind, id).map_err(|e| corrupt(format!("scope {kind}:{id}: {e}")))
}

pub(crate) fn ensure_session(conn: &Connection, session: &SessionId) -> Result<(), Failure> {
    conn.prepare_cached("INSERT OR IGNORE INTO sessions (id) VALUES (?1)")?
        .execute([session.as_str()])?;
    Ok(())
}

pub(crate) fn insert_entry(
    conn: &Connection,
    session: &SessionId,
    u: &Update,
) -> Result<EntryId, Failure> {
    let (kind, id) = scope_parts(u.scope());
    let expected = u
        .op()
        .expected_version()
        .map(|v| to_i64(v.get()))
        .transpose()?;
    conn.prepare_cached(
        "INSERT INTO journal (session, page, field, op, expected_version, value, scope_kind, \
         scope_id, evidence, principal, state) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'staged')",
    )?
    .execute(params![
        session.as_str(),
        u.page().as_str(),
        u.field().as_str(),
        u.op().code(),
        expected,
        u.value_json(),
        kind,
        id,
        u.evidence().to_code(),
        u.principal().as_str()
    ])?;
    Ok(EntryId::new(to_u64(conn.last_insert_rowid())?))
}

pub(crate) fn is_pending(conn: &Connection, id: EntryId) -> Result<bool, Failure> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM journal WHERE id = ?1 AND state IN ('staged', 'validated')")?
        .exists([entry_key(id)?])?)
}

pub(crate) fn field_state(value: &str, version: i64) -> Result<FieldState, StoreError> {
    let value = serde_json::from_str(value)
        .map_err(|e| corrupt(format!("field value is not JSON: {e}")))?;
    let version = u64::try_from(version).map_err(|_| corrupt("negative field version"))?;
    Ok(FieldState {
        value,
        version: FieldVersion::new(version),
    })
}

pub(crate) fn field(
    conn: &Connection,
    page: &PageId,
    field: &FieldPath,
) -> Result<Option<FieldState>, Failure> {
    // Two single-table lookups rather than a join: SQLite (built with STAT4) re-prepares the
    // join, or an ORDER BY/max() over field_versions, on every execution.
    let head = conn
        .prepare_cached("SELECT version, row FROM field_heads WHERE page = ?1 AND field = ?2")?
        .query_row([page.as_str(), field.as_str()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })
        .optional()?;
    let Some((version, row)) = head else {
        return Ok(None);
    };
    Ok(Some(field_state(&field_value(conn, row)?, version)?))
}

pub(crate) fn field_value(conn: &Connection, row: i64) -> Result<String, Failure> {
    Ok(conn
        .prepare_cached("SELECT value FROM field_versions WHERE id = ?1")?
        .query_row([row], |r| r.get(0))?)
}

/// Appends a field version and makes it the field's head.
pub(crate) fn insert_field_version(
    conn: &Connection,
    page: &PageId,
    field: &FieldPath,
    next: &FieldState,
    seq: i64,
    entry: EntryId,
) -> Result<(), Failure> {
    let version = to_i64(next.version.get())?;
    conn.prepare_cached(
        "INSERT INTO field_versions (page, field, version, value, seq, entry) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        page.as_str(),
        field.as_str(),
        version,
        next.value.to_string(),
        seq,
        entry_key(entry)?
    ])?;
    let row = conn.last_insert_rowid();
    conn.prepare_cached(
        "INSERT INTO field_heads (page, field, version, row) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (page, field) DO UPDATE SET version = excluded.version, row = excluded.row",
    )?
    .execute(params![page.as_str(), field.as_str(), version, row])?;
    Ok(())
}

const PUT_BLOB: &str = "INSERT OR IGNORE INTO blobs (digest, bytes) VALUES (?1, ?2)";

pub(crate) fn put_blob(
    conn: &Connection,
    digest: &ContentDigest,
    bytes: &[u8],
) -> Result<(), Failure> {
    conn.prepare_cached(PUT_BLOB)?
        .execute(params![digest.as_bytes().as_slice(), bytes])?;
    Ok(())
}

pub(crate) fn get_blob(
    conn: &Connection,
    digest: &ContentDigest,
) -> Result<Option<Vec<u8>>, Failure> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT bytes FROM blobs WHERE digest = ?1")?
        .query_row([digest.as_bytes().as_slice()], |r| r.get(0))
        .optional()?;
    if let Some(b) = &bytes
        && ContentDigest::of(b) != *digest
    {
        return Err(corrupt(format!("blob {digest} does not match its digest")).into());
    }
    Ok(bytes)
}

/// Stores pages in one transaction with the statements prepared once for all of them.
pub(crate) struct PageWriter<'c> {
    conn: &'c Connection,
    page: rusqlite::CachedStatement<'c>,
    link: rusqlite::CachedStatement<'c>,
    version: rusqlite::CachedStatement<'c>,
    blob: rusqlite::CachedStatement<'c>,
    representation: rusqlite::CachedStatement<'c>,
}

impl<'c> PageWriter<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Result<Self, Failure> {
        Ok(Self {
            conn,
            page: conn.prepare_cached(
                "INSERT INTO pages (id, page_type, scope_kind, scope_id, tool_call, latest_version) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (id) DO UPDATE SET latest_version = max(latest_version, excluded.latest_version)",
            )?,
            link: conn
                .prepare_cached("INSERT OR IGNORE INTO session_pages (session, page) VALUES (?1, ?2)")?,
            version: conn.prepare_cached(
                "INSERT INTO page_versions (page, version, seq, session, meta) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (page, version) DO NOTHING",
            )?,
            blob: conn.prepare_cached(PUT_BLOB)?,
            representation: conn.prepare_cached(
                "INSERT INTO representations (page, version, level, tokens, digest) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?,
        })
    }

    /// Stores `page` as version `page.version()`, committed at boundary `seq`, and says
    /// whether it was new. A version already stored must be identical (ignoring the dirty
    /// flag), else the commit conflicts.
    ///
    /// The version row is inserted first and only a conflict reads the stored version back,
    /// so a new page costs its inserts and no lookup; a text two levels share is stored once.
    pub(crate) fn insert(
        &mut self,
        page: &Page,
        session: &SessionId,
        seq: i64,
    ) -> Result<bool, Failure> {
        let version = to_i64(page.version())?;
        let mut spec = page.to_spec();
        spec.dirty = false;
        spec.representations.clear();
        let tool_call = match page.provenance() {
            Provenance::ToolCall { call_id, .. } => Some(call_id.as_str()),
            Provenance::Transcript { .. } | Provenance::File { .. } | Provenance::Import { .. } => {
                None
            }
        };
        let (kind, scope_id) = scope_parts(page.scope());
        // Whatever this inserts is rolled back with the transaction when the version conflicts.
        self.page.execute(params![
            page.id().as_str(),
            page.page_type().code(),
            kind,
            scope_id,
            tool_call,
            version
        ])?;
        self.link.execute([session.as_str(), page.id().as_str()])?;
        let meta = serde_json::to_string(&spec)
            .map_err(|e| corrupt(format!("page {} does not serialize: {e}", page.id())))?;
        let inserted = self.version.execute(params![
            page.id().as_str(),
            version,
            seq,
            session.as_str(),
            meta
        ])?;
        if inserted == 0 {
            return same_as_stored(self.conn, page, spec, version).map(|()| false);
        }
        let mut stored: Vec<ContentDigest> = Vec::with_capacity(4);
        for (level, rep) in page.representations() {
            let digest = rep.digest();
            if !stored.contains(&digest) {
                self.blob.execute(params![
                    digest.as_bytes().as_slice(),
                    rep.content().as_bytes()
                ])?;
                stored.push(digest);
            }
            self.representation.execute(params![
                page.id().as_str(),
                version,
                level.code(),
                rep.tokens().get(),
                digest.as_bytes().as_slice()
            ])?;
        }
        Ok(true)
    }
}
/// For each page of `pages` whose version is already stored, the boundary that stored it.
pub(crate) fn stored_at(
    conn: &Connection,
    pages: &[Page],
) -> Result<BTreeMap<PageId, BoundarySeq>, Failure> {
    let mut stmt =
        conn.prepare_cached("SELECT seq FROM page_versions WHERE page = ?1 AND version = ?2")?;
    let mut out = BTreeMap::new();
    for page in pages {
        let seq: Option<i64> = stmt
            .query_row(params![page.id().as_str(), to_i64(page.version())?], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(seq) = seq {
            out.insert(page.id().clone(), BoundarySeq::new(to_u64(seq)?));
        }
    }
    Ok(out)
}

/// A re-commit of a stored version: fine when identical (metadata without the dirty flag,
/// and each level's digest and tokens), a [`StoreError::PageConflict`] otherwise.
fn same_as_stored(
    conn: &Connection,
    page: &Page,
    mine: PageSpec,
    version: i64,
) -> Result<(), Failure> {
    let conflict = || -> Failure {
        StoreError::PageConflict {
            page: page.id().clone(),
            version: page.version(),
        }
        .into()
    };
    let existing = page_at(conn, page.id(), version)?.ok_or_else(conflict)?;
    let mut theirs = existing.to_spec();
    theirs.representations.clear();
    let same_reps = existing
        .representations()
        .map(|(r, rep)| (r, rep.digest(), rep.tokens()))
        .eq(page
            .representations()
            .map(|(r, rep)| (r, rep.digest(), rep.tokens())));
    if !same_reps || mine != theirs {
        return Err(conflict());
    }
    Ok(())
}

pub(crate) fn latest_page(conn: &Connection, id: &PageId) -> Result<Option<Page>, Failure> {
    let latest: Option<i64> = conn
        .prepare_cached("SELECT latest_version FROM pages WHERE id = ?1")?
        .query_row([id.as_str()], |r| r.get(0))
        .optional()?;
    match latest {
        None => Ok(None),
        Some(v) => page_at(conn, id, v),
    }
}

pub(crate) fn page_at(
    conn: &Connection,
    id: &PageId,
    version: i64,
) -> Result<Option<Page>, Failure> {
    let meta: Option<String> = conn
        .prepare_cached("SELECT meta FROM page_versions WHERE page = ?1 AND version = ?2")?
        .query_row(params![id.as_str(), version], |r| r.get(0))
        .optional()?;
    let Some(meta) = meta else {
        return Ok(None);
    };
    let mut spec: PageSpec = serde_json::from_str(&meta)
        .map_err(|e| corrupt(format!("page {id} v{version} metadata: {e}")))?;
    let mut stmt = conn.prepare_cached(
        "SELECT r.level, r.tokens, b.bytes FROM representations r \
         JOIN blobs b ON b.digest = r.digest WHERE r.page = ?1 AND r.version = ?2",
    )?;
    let rows = stmt.query_map(params![id.as_str(), version], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, u32>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    let mut reps = BTreeMap::new();
    for row in rows {
        let (level, tokens, bytes) = row?;
        let level: Repr = level
            .parse()
            .map_err(|e: page_core::ParseCodeError| corrupt(e.to_string()))?;
        let content = String::from_utf8(bytes)
            .map_err(|_| corrupt(format!("page {id} v{version} {level} is not UTF-8")))?;
        reps.insert(
            level,
            RepresentationSpec {
                content,
                tokens: TokenCount::new(tokens),
                digest: None,
            },
        );
    }
    spec.representations = reps;
    let page = Page::from_spec(spec, &TypeTable::default())
        .map_err(|e| corrupt(format!("page {id} v{version}: {e}")))?;
    Ok(Some(page))
}

pub(crate) fn parse_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawEntry> {
    Ok(RawEntry {
        id: row.get(0)?,
        session: row.get(1)?,
        page: row.get(2)?,
        field: row.get(3)?,
        op: row.get(4)?,
        expected: row.get(5)?,
        value: row.get(6)?,
        scope_kind: row.get(7)?,
        scope_id: row.get(8)?,
        evidence: row.get(9)?,
        principal: row.get(10)?,
        state: row.get(11)?,
        reason_code: row.get(12)?,
        reason_detail: row.get(13)?,
        seq: row.get(14)?,
    })
}

pub(crate) const ENTRY_COLUMNS: &str = "id, session, page, field, op, expected_version, value, \
    scope_kind, scope_id, evidence, principal, state, reason_code, reason_detail, seq";

pub(crate) struct RawEntry {
    id: i64,
    session: String,
    page: String,
    field: String,
    op: String,
    expected: Option<i64>,
    value: String,
    scope_kind: String,
    scope_id: String,
    evidence: String,
    principal: String,
    state: String,
    reason_code: Option<String>,
    reason_detail: Option<String>,
    seq: Option<i64>,
}

impl RawEntry {
    pub(crate) fn into_entry(self) -> Result<JournalEntry, StoreError> {
        let c = |e: &dyn std::fmt::Display| corrupt(format!("journal entry {}: {e}", self.id));
        let id = EntryId::new(u64::try_from(self.id).map_err(|e| c(&e))?);
        let expected = self
            .expected
            .map(|v| u64::try_from(v).map(FieldVersion::new))
            .transpose()
            .map_err(|e| c(&e))?;
        let update = Update::new(
            PageId::new(&self.page).map_err(|e| c(&e))?,
            FieldPath::new(&self.field).map_err(|e| c(&e))?,
            Op::from_code(&self.op, expected).map_err(|e| c(&e))?,
            self.value.clone(),
            parse_scope(&self.scope_kind, &self.scope_id)?,
            EvidenceRef::from_code(&self.evidence).map_err(|e| c(&e))?,
            PrincipalId::new(&self.principal).map_err(|e| c(&e))?,
        );
        let state = match (self.state.as_str(), &self.reason_code, self.seq) {
            ("staged", None, None) => EntryState::Staged,
            ("validated", None, None) => EntryState::Validated,
            ("committed", None, Some(seq)) => {
                EntryState::Committed(BoundarySeq::new(u64::try_from(seq).map_err(|e| c(&e))?))
            }
            ("rejected", Some(code), None) => EntryState::Rejected(Rejection::new(
                code.parse().map_err(|e| c(&e))?,
                self.reason_detail.clone().unwrap_or_default(),
            )),
            (state, _, _) => return Err(c(&format!("inconsistent state {state:?}"))),
        };
        let session = SessionId::new(&self.session).map_err(|e| c(&e))?;
        Ok(JournalEntry::new(id, session, update, state))
    }
}

pub(crate) fn entries(
    conn: &Connection,
    session: &SessionId,
) -> Result<Vec<JournalEntry>, Failure> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ENTRY_COLUMNS} FROM journal WHERE session = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([session.as_str()], parse_entry)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row?.into_entry()?);
    }
    Ok(out)
}
