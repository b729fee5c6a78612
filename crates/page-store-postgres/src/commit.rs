//! The commit protocol (docs/design/store.md §11): one transaction that checks every staged
//! entry's version under advisory locks, applies the fields, stores the pages and their
//! audit rows, and answers with a receipt a retry can recognise.

use std::collections::BTreeMap;

use page_core::{Page, PageId, SessionId};
use page_writeback::{
    BoundaryContext, BoundarySeq, CommitBatch, CommitReceipt, EntryId, FieldPath, FieldState,
    FieldVersion, OpError, ReprChange, StoreError, apply_op,
};
use postgres::{Client, GenericClient};

use crate::codec::{self, corrupt, entry_key, to_i64, to_u64};
use crate::conn::{Db, Failure};

use crate::store::{field_lock, page_lock};

/// The commit transaction's body; see docs/design/store.md §11 for the protocol.
pub(crate) fn commit_body<C: GenericClient>(
    db: &mut Db<'_, C>,
    batch: &CommitBatch,
    token: &str,
) -> Result<CommitReceipt, Failure> {
    let session = batch.session();
    codec::ensure_session(db, session)?;
    // 1. Lock every field the batch writes, in one global order (no deadlock between
    //    committers), before reading any of them: from here on no one else can move them.
    let mut keys: Vec<i64> = batch
        .updates()
        .iter()
        .map(|vu| field_lock(vu.update().page(), vu.update().field()))
        .chain(batch.pages().iter().map(|p| page_lock(p.id())))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    if !keys.is_empty() {
        db.execute(
            "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k",
            &[&keys],
        )?;
    }
    // 2. Which of the batch's page versions are stored already (under their locks): a batch
    //    with nothing new writes nothing (CommitBatch::replays), and a stored version's audit
    //    rows are not written twice.
    let ctx = batch.context();
    let already = stored_at(db, batch.pages())?;
    if let Some(seq) = batch.replays(&already) {
        for page in batch.pages() {
            // Identical to what is stored, or a PageConflict.
            codec::insert_page(db, page, session, to_i64(seq.get())?)?;
        }
        return Ok(CommitReceipt {
            seq,
            versions: Vec::new(),
            stored_pages: 0,
        });
    }
    //    The boundary's sequence number, drawn after the locks: of two boundaries writing a
    //    common field, the later committer gets the larger number.
    let raw_seq: i64 = db
        .query_one(
            "INSERT INTO boundaries (session, kind, turn, time_ms, token) \
             VALUES ($1, $2, $3, $4, $5) RETURNING seq",
            &[
                &session.as_str(),
                &ctx.boundary.code(),
                &to_i64(ctx.turn)?,
                &ctx.time_ms,
                &token,
            ],
        )?
        .try_get(0)?;
    let seq = BoundarySeq::new(to_u64(raw_seq)?);
    // 3. The committed values of those fields, then every op applied in journal order.
    let mut current: BTreeMap<(PageId, FieldPath), FieldState> = BTreeMap::new();
    if !batch.updates().is_empty() {
        let mut pages = Vec::new();
        let mut fields = Vec::new();
        for vu in batch.updates() {
            pages.push(vu.update().page().as_str());
            fields.push(vu.update().field().as_str());
        }
        let rows = db.query(
            "SELECT h.page, h.field, v.version, v.value \
             FROM (SELECT DISTINCT page, field FROM unnest($1::text[], $2::text[]) AS k(page, field)) k \
             JOIN field_heads h ON h.page = k.page AND h.field = k.field \
             JOIN field_versions v ON v.page = h.page AND v.field = h.field AND v.version = h.version",
            &[&pages, &fields],
        )?;
        for r in rows {
            let page: String = r.try_get(0)?;
            let field: String = r.try_get(1)?;
            let value: String = r.try_get(3)?;
            current.insert(
                (
                    PageId::new(page).map_err(|e| corrupt(e.to_string()))?,
                    FieldPath::new(field).map_err(|e| corrupt(e.to_string()))?,
                ),
                codec::field_state(&value, r.try_get(2)?)?,
            );
        }
    }
    let n = batch.updates().len();
    let (mut v_pages, mut v_fields, mut v_versions, mut v_values, mut v_entries) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut versions = Vec::with_capacity(n);
    for vu in batch.updates() {
        let entry = vu.entry();
        let u = vu.update();
        let key = (u.page().clone(), u.field().clone());
        let next = apply_op(current.get(&key), u.op(), vu.value()).map_err(|e| {
            let (OpError::Shape(detail) | OpError::Destructive(detail)) = e;
            StoreError::Conflict { entry, detail }
        })?;
        v_pages.push(u.page().as_str());
        v_fields.push(u.field().as_str());
        v_versions.push(to_i64(next.version.get())?);
        v_values.push(next.value.to_string());
        v_entries.push(entry_key(entry)?);
        versions.push((entry, next.version));
        current.insert(key, next);
    }
    if n > 0 {
        db.execute(
            "INSERT INTO field_versions (page, field, version, value, seq, entry) \
             SELECT p, f, v, val, $1, e \
             FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[]) \
                  AS u(p, f, v, val, e)",
            &[
                &raw_seq,
                &v_pages,
                &v_fields,
                &v_versions,
                &v_values,
                &v_entries,
            ],
        )?;
        // The heads move to the last version each field got in this batch.
        let mut heads: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for ((p, f), v) in v_pages.iter().zip(&v_fields).zip(&v_versions) {
            heads.insert((p, f), *v);
        }
        let (h_pages, h_fields, h_versions): (Vec<&str>, Vec<&str>, Vec<i64>) =
            heads.into_iter().fold(
                (Vec::new(), Vec::new(), Vec::new()),
                |mut acc, ((p, f), v)| {
                    acc.0.push(p);
                    acc.1.push(f);
                    acc.2.push(v);
                    acc
                },
            );
        db.execute(
            "INSERT INTO field_heads (page, field, version) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) \
             ON CONFLICT (page, field) DO UPDATE SET version = excluded.version",
            &[&h_pages, &h_fields, &h_versions],
        )?;
        let rows = db.query(
            "UPDATE journal j SET state = 'committed', seq = $1, field_version = u.fv, \
             reason_code = NULL, reason_detail = NULL \
             FROM unnest($2::bigint[], $3::bigint[]) AS u(id, fv) \
             WHERE j.id = u.id AND j.state IN ('staged', 'validated') RETURNING j.id",
            &[&raw_seq, &v_entries, &v_versions],
        )?;
        check_all_changed(&rows, batch.updates().iter().map(|vu| vu.entry()))?;
    }
    // 4. The batch's rejections, on entries still pending.
    if !batch.rejected().is_empty() {
        let mut ids = Vec::new();
        let mut codes = Vec::new();
        let mut details = Vec::new();
        for (entry, rejection) in batch.rejected() {
            ids.push(entry_key(*entry)?);
            codes.push(rejection.code().code());
            details.push(rejection.detail().as_bytes());
        }
        let rows = db.query(
            "UPDATE journal j SET state = 'rejected', reason_code = u.code, reason_detail = u.detail \
             FROM unnest($1::bigint[], $2::text[], $3::bytea[]) AS u(id, code, detail) \
             WHERE j.id = u.id AND j.state IN ('staged', 'validated') RETURNING j.id",
            &[&ids, &codes, &details],
        )?;
        check_all_changed(&rows, batch.rejected().iter().map(|(e, _)| *e))?;
    }
    // 5. The dirty pages, in id order (so two committers of shared pages lock them in the
    //    same order).
    let mut pages: Vec<&Page> = batch.pages().iter().collect();
    pages.sort_by(|a, b| a.id().cmp(b.id()));
    let mut stored_pages = 0;
    for page in pages {
        if codec::insert_page(db, page, session, raw_seq)? {
            stored_pages += 1;
        }
    }
    // 6. The audit rows, but those of a version stored before: that boundary wrote them.
    for c in batch
        .repr_changes()
        .iter()
        .filter(|c| !already.contains_key(&c.page))
    {
        insert_audit(db, raw_seq, session, ctx, c)?;
    }
    Ok(CommitReceipt {
        seq,
        versions,
        stored_pages,
    })
}

/// For each page of `pages` whose version is already stored, the boundary that stored it.
fn stored_at<C: GenericClient>(
    db: &mut Db<'_, C>,
    pages: &[Page],
) -> Result<BTreeMap<PageId, BoundarySeq>, Failure> {
    let mut out = BTreeMap::new();
    if pages.is_empty() {
        return Ok(out);
    }
    let ids: Vec<&str> = pages.iter().map(|p| p.id().as_str()).collect();
    let versions: Vec<i64> = pages
        .iter()
        .map(|p| to_i64(p.version()))
        .collect::<Result<_, _>>()?;
    let rows = db.query(
        "SELECT v.page, v.seq FROM page_versions v \
         JOIN unnest($1::text[], $2::bigint[]) AS k(page, version) \
         ON v.page = k.page AND v.version = k.version",
        &[&ids, &versions],
    )?;
    for r in rows {
        let page: String = r.try_get(0)?;
        let seq: i64 = r.try_get(1)?;
        out.insert(
            PageId::new(page).map_err(|e| corrupt(e.to_string()))?,
            BoundarySeq::new(to_u64(seq)?),
        );
    }
    Ok(out)
}

pub(crate) fn insert_audit<C: GenericClient>(
    db: &mut Db<'_, C>,
    seq: i64,
    session: &SessionId,
    ctx: BoundaryContext,
    c: &ReprChange,
) -> Result<(), Failure> {
    db.execute(
        "INSERT INTO audit (seq, session, page, page_type, from_level, to_level, \
         tokens_before, tokens_after, boundary, turn, time_ms, reason, full_tokens) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            &seq,
            &session.as_str(),
            &c.page.as_str(),
            &c.page_type.code(),
            &c.from.code(),
            &c.to.code(),
            &i64::from(c.tokens_before.get()),
            &i64::from(c.tokens_after.get()),
            &ctx.boundary.code(),
            &to_i64(ctx.turn)?,
            &ctx.time_ms,
            &c.reason.as_bytes(),
            &i64::from(c.full_tokens.get()),
        ],
    )?;
    Ok(())
}

/// Fails with [`StoreError::UnknownEntry`] for the first of `wanted` that `rows` (the ids an
/// update changed) lack.
fn check_all_changed(
    rows: &[postgres::Row],
    wanted: impl Iterator<Item = EntryId>,
) -> Result<(), Failure> {
    let changed = codec::ids_of(rows)?;
    for id in wanted {
        if changed.binary_search(&id).is_err() {
            return Err(StoreError::UnknownEntry(id).into());
        }
    }
    Ok(())
}

/// The receipt of a commit that did commit (found by its token), or `None`.
pub(crate) fn committed_receipt(
    db: &mut Db<'_, Client>,
    batch: &CommitBatch,
    token: &str,
) -> Result<Option<CommitReceipt>, Failure> {
    let Some(row) = db.query_opt("SELECT seq FROM boundaries WHERE token = $1", &[&token])? else {
        return Ok(None);
    };
    let raw_seq: i64 = row.try_get(0)?;
    let rows = db.query(
        "SELECT id, field_version FROM journal WHERE seq = $1",
        &[&raw_seq],
    )?;
    let mut by_entry = BTreeMap::new();
    for r in rows {
        let id: i64 = r.try_get(0)?;
        let fv: Option<i64> = r.try_get(1)?;
        by_entry.insert(id, fv);
    }
    let mut versions = Vec::with_capacity(batch.updates().len());
    for vu in batch.updates() {
        let fv = by_entry
            .get(&entry_key(vu.entry())?)
            .copied()
            .flatten()
            .ok_or_else(|| corrupt(format!("entry {} lost its commit", vu.entry())))?;
        versions.push((vu.entry(), FieldVersion::new(to_u64(fv)?)));
    }
    let stored: i64 = db
        .query_one(
            "SELECT count(*) FROM page_versions WHERE seq = $1",
            &[&raw_seq],
        )?
        .try_get(0)?;
    Ok(Some(CommitReceipt {
        seq: BoundarySeq::new(to_u64(raw_seq)?),
        versions,
        stored_pages: usize::try_from(stored).unwrap_or(0),
    }))
}
