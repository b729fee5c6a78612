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
use postgres::{GenericClient, Row};

use crate::conn::{Db, Failure};

pub(crate) fn corrupt(msg: impl Into<String>) -> StoreError {
    StoreError::Corrupt(msg.into())
}

pub(crate) fn to_i64(v: u64) -> Result<i64, Failure> {
    i64::try_from(v).map_err(|_| corrupt(format!("{v} does not fit a PostgreSQL bigint")).into())
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

pub(crate) fn ensure_session<C: GenericClient>(
    db: &mut Db<'_, C>,
    session: &SessionId,
) -> Result<(), Failure> {
    db.execute(
        "INSERT INTO sessions (id) VALUES ($1) ON CONFLICT DO NOTHING",
        &[&session.as_str()],
    )?;
    Ok(())
}

/// Appends `updates` to the journal as `staged`, in one statement, and returns their ids in
/// the order given.
pub(crate) fn insert_entries<C: GenericClient>(
    db: &mut Db<'_, C>,
    session: &SessionId,
    updates: &[Update],
    token: &str,
) -> Result<Vec<EntryId>, Failure> {
    let mut pages = Vec::with_capacity(updates.len());
    let mut fields = Vec::with_capacity(updates.len());
    let mut ops = Vec::with_capacity(updates.len());
    let mut expected = Vec::with_capacity(updates.len());
    let mut values = Vec::with_capacity(updates.len());
    let mut scope_kinds = Vec::with_capacity(updates.len());
    let mut scope_ids = Vec::with_capacity(updates.len());
    let mut evidence = Vec::with_capacity(updates.len());
    let mut principals = Vec::with_capacity(updates.len());
    for u in updates {
        let (kind, id) = scope_parts(u.scope());
        pages.push(u.page().as_str());
        fields.push(u.field().as_str());
        ops.push(u.op().code());
        expected.push(
            u.op()
                .expected_version()
                .map(|v| to_i64(v.get()))
                .transpose()?,
        );
        values.push(u.value_json().as_bytes());
        scope_kinds.push(kind);
        scope_ids.push(id);
        evidence.push(u.evidence().to_code());
        principals.push(u.principal().as_str());
    }
    // Identity values are drawn in insertion order, which follows the ORDER BY.
    let rows = db.query(
        "INSERT INTO journal (session, page, field, op, expected_version, value, scope_kind, \
         scope_id, evidence, principal, state, token) \
         SELECT $1, p, f, o, e, v, sk, si, ev, pr, 'staged', $2 \
         FROM unnest($3::text[], $4::text[], $5::text[], $6::bigint[], $7::bytea[], $8::text[], \
                     $9::text[], $10::text[], $11::text[]) \
              WITH ORDINALITY AS u(p, f, o, e, v, sk, si, ev, pr, n) \
         ORDER BY n RETURNING id",
        &[
            &session.as_str(),
            &token,
            &pages,
            &fields,
            &ops,
            &expected,
            &values,
            &scope_kinds,
            &scope_ids,
            &evidence,
            &principals,
        ],
    )?;
    ids_of(&rows)
}

/// The entry ids in `rows` (column 0), ascending.
pub(crate) fn ids_of(rows: &[Row]) -> Result<Vec<EntryId>, Failure> {
    let mut ids = Vec::with_capacity(rows.len());
    for r in rows {
        ids.push(EntryId::new(to_u64(r.try_get(0)?)?));
    }
    ids.sort_unstable();
    Ok(ids)
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

pub(crate) fn field<C: GenericClient>(
    db: &mut Db<'_, C>,
    page: &PageId,
    field: &FieldPath,
) -> Result<Option<FieldState>, Failure> {
    let row = db.query_opt(
        "SELECT v.version, v.value FROM field_heads h \
         JOIN field_versions v ON v.page = h.page AND v.field = h.field AND v.version = h.version \
         WHERE h.page = $1 AND h.field = $2",
        &[&page.as_str(), &field.as_str()],
    )?;
    match row {
        None => Ok(None),
        Some(r) => {
            let value: String = r.try_get(1)?;
            Ok(Some(field_state(&value, r.try_get(0)?)?))
        }
    }
}

pub(crate) fn fields<C: GenericClient>(
    db: &mut Db<'_, C>,
    page: &PageId,
) -> Result<BTreeMap<FieldPath, FieldState>, Failure> {
    let rows = db.query(
        "SELECT h.field, v.version, v.value FROM field_heads h \
         JOIN field_versions v ON v.page = h.page AND v.field = h.field AND v.version = h.version \
         WHERE h.page = $1",
        &[&page.as_str()],
    )?;
    let mut out = BTreeMap::new();
    for r in rows {
        let field: String = r.try_get(0)?;
        let field = FieldPath::new(field).map_err(|e| corrupt(e.to_string()))?;
        let value: String = r.try_get(2)?;
        out.insert(field, field_state(&value, r.try_get(1)?)?);
    }
    Ok(out)
}

pub(crate) fn put_blob<C: GenericClient>(
    db: &mut Db<'_, C>,
    digest: &ContentDigest,
    bytes: &[u8],
) -> Result<(), Failure> {
    db.execute(
        "INSERT INTO blobs (digest, bytes) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&digest.as_bytes().as_slice(), &bytes],
    )?;
    Ok(())
}

pub(crate) fn get_blob<C: GenericClient>(
    db: &mut Db<'_, C>,
    digest: &ContentDigest,
) -> Result<Option<Vec<u8>>, Failure> {
    let row = db.query_opt(
        "SELECT bytes FROM blobs WHERE digest = $1",
        &[&digest.as_bytes().as_slice()],
    )?;
    let Some(row) = row else {
        return Ok(None);
    };
    let bytes: Vec<u8> = row.try_get(0)?;
    if ContentDigest::of(&bytes) != *digest {
        return Err(corrupt(format!("blob {digest} does not match its digest")).into());
    }
    Ok(Some(bytes))
}

/// Stores `page` as version `page.version()`, committed at boundary `seq`, and says whether it
/// was new. A version already stored must be identical (ignoring the dirty flag), else the
/// commit conflicts.
pub(crate) fn insert_page<C: GenericClient>(
    db: &mut Db<'_, C>,
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
        Provenance::Transcript { .. } | Provenance::File { .. } | Provenance::Import { .. } => None,
    };
    let (kind, scope_id) = scope_parts(page.scope());
    db.execute(
        "INSERT INTO pages (id, page_type, scope_kind, scope_id, tool_call, latest_version) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET latest_version = GREATEST(pages.latest_version, excluded.latest_version)",
        &[
            &page.id().as_str(),
            &page.page_type().code(),
            &kind,
            &scope_id,
            &tool_call,
            &version,
        ],
    )?;
    db.execute(
        "INSERT INTO session_pages (session, page) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&session.as_str(), &page.id().as_str()],
    )?;
    let meta = serde_json::to_string(&spec)
        .map_err(|e| corrupt(format!("page {} does not serialize: {e}", page.id())))?;
    let inserted = db.execute(
        "INSERT INTO page_versions (page, version, seq, session, meta) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (page, version) DO NOTHING",
        &[
            &page.id().as_str(),
            &version,
            &seq,
            &session.as_str(),
            &meta,
        ],
    )?;
    if inserted == 0 {
        return same_as_stored(db, page, spec, version).map(|()| false);
    }
    let mut digests: Vec<ContentDigest> = Vec::with_capacity(4);
    let mut levels = Vec::with_capacity(4);
    let mut tokens = Vec::with_capacity(4);
    let mut level_digests: Vec<Vec<u8>> = Vec::with_capacity(4);
    for (level, rep) in page.representations() {
        let digest = rep.digest();
        if !digests.contains(&digest) {
            put_blob(db, &digest, rep.content().as_bytes())?;
            digests.push(digest);
        }
        levels.push(level.code());
        tokens.push(i64::from(rep.tokens().get()));
        level_digests.push(digest.as_bytes().to_vec());
    }
    db.execute(
        "INSERT INTO representations (page, version, level, tokens, digest) \
         SELECT $1, $2, l, t, d FROM unnest($3::text[], $4::bigint[], $5::bytea[]) AS u(l, t, d)",
        &[
            &page.id().as_str(),
            &version,
            &levels,
            &tokens,
            &level_digests,
        ],
    )?;
    Ok(true)
}

/// A re-commit of a stored version: fine when identical (metadata without the dirty flag,
/// and each level's digest and tokens), a [`StoreError::PageConflict`] otherwise.
fn same_as_stored<C: GenericClient>(
    db: &mut Db<'_, C>,
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
    let existing = page_at(db, page.id(), version)?.ok_or_else(conflict)?;
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

pub(crate) fn latest_page<C: GenericClient>(
    db: &mut Db<'_, C>,
    id: &PageId,
) -> Result<Option<Page>, Failure> {
    let row = db.query_opt(
        "SELECT latest_version FROM pages WHERE id = $1",
        &[&id.as_str()],
    )?;
    match row {
        None => Ok(None),
        Some(r) => page_at(db, id, r.try_get(0)?),
    }
}

pub(crate) fn page_at<C: GenericClient>(
    db: &mut Db<'_, C>,
    id: &PageId,
    version: i64,
) -> Result<Option<Page>, Failure> {
    let row = db.query_opt(
        "SELECT meta FROM page_versions WHERE page = $1 AND version = $2",
        &[&id.as_str(), &version],
    )?;
    let Some(row) = row else {
        return Ok(None);
    };
    let meta: String = row.try_get(0)?;
    let mut spec: PageSpec = serde_json::from_str(&meta)
        .map_err(|e| corrupt(format!("page {id} v{version} metadata: {e}")))?;
    let rows = db.query(
        "SELECT r.level, r.tokens, b.bytes FROM representations r \
         JOIN blobs b ON b.digest = r.digest WHERE r.page = $1 AND r.version = $2",
        &[&id.as_str(), &version],
    )?;
    let mut reps = BTreeMap::new();
    for r in rows {
        let level: String = r.try_get(0)?;
        let tokens: i64 = r.try_get(1)?;
        let bytes: Vec<u8> = r.try_get(2)?;
        let level: Repr = level
            .parse()
            .map_err(|e: page_core::ParseCodeError| corrupt(e.to_string()))?;
        let tokens = u32::try_from(tokens).map_err(|_| {
            corrupt(format!(
                "page {id} v{version} {level}: token count {tokens}"
            ))
        })?;
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

/// A journal row as stored, before validation.
pub(crate) struct RawEntry {
    id: i64,
    session: String,
    page: String,
    field: String,
    op: String,
    expected: Option<i64>,
    value: Vec<u8>,
    scope_kind: String,
    scope_id: String,
    evidence: String,
    principal: String,
    state: String,
    reason_code: Option<String>,
    reason_detail: Option<Vec<u8>>,
    seq: Option<i64>,
}

impl RawEntry {
    pub(crate) fn from_row(row: &Row) -> Result<Self, postgres::Error> {
        Ok(Self {
            id: row.try_get(0)?,
            session: row.try_get(1)?,
            page: row.try_get(2)?,
            field: row.try_get(3)?,
            op: row.try_get(4)?,
            expected: row.try_get(5)?,
            value: row.try_get(6)?,
            scope_kind: row.try_get(7)?,
            scope_id: row.try_get(8)?,
            evidence: row.try_get(9)?,
            principal: row.try_get(10)?,
            state: row.try_get(11)?,
            reason_code: row.try_get(12)?,
            reason_detail: row.try_get(13)?,
            seq: row.try_get(14)?,
        })
    }

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
            String::from_utf8(self.value.clone()).map_err(|e| c(&e))?,
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
                String::from_utf8(self.reason_detail.clone().unwrap_or_default())
                    .map_err(|e| c(&e))?,
            )),
            (state, _, _) => return Err(c(&format!("inconsistent state {state:?}"))),
        };
        let session = SessionId::new(&self.session).map_err(|e| c(&e))?;
        Ok(JournalEntry::new(id, session, update, state))
    }
}

pub(crate) fn entries<C: GenericClient>(
    db: &mut Db<'_, C>,
    session: &SessionId,
) -> Result<Vec<JournalEntry>, Failure> {
    let rows = db.query(
        "SELECT id, session, page, field, op, expected_version, value, scope_kind, scope_id, \
         evidence, principal, state, reason_code, reason_detail, seq \
         FROM journal WHERE session = $1 ORDER BY id",
        &[&session.as_str()],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(RawEntry::from_row(r)?.into_entry()?);
    }
    Ok(out)
}

/// The state of entry `id` as stored (`None`: no such entry).
pub(crate) fn entry_state<C: GenericClient>(
    db: &mut Db<'_, C>,
    id: EntryId,
) -> Result<Option<String>, Failure> {
    let row = db.query_opt(
        "SELECT state FROM journal WHERE id = $1",
        &[&entry_key(id)?],
    )?;
    Ok(match row {
        Some(r) => Some(r.try_get(0)?),
        None => None,
    })
}
