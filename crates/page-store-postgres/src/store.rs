//! The PostgreSQL store: opening and the writeback traits (the commit protocol is in
//! `commit.rs`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use page_core::{ContentDigest, Page, PageId, ParseCodeError, Scope, SessionId, ToolCallId};
use page_writeback::{
    AuditRecord, BlobStore, BoundaryContext, BoundarySeq, CommitBatch, CommitReceipt, EntryId,
    EntryState, FaultRecord, FieldPath, FieldState, HistoryStore, JournalEntry, JournalStore,
    PageStore, ReprChange, StoreError, Update,
};
use postgres::Client;

use crate::codec::{self, corrupt, entry_key, to_i64, to_u64};
use crate::commit::{commit_body, committed_receipt};
use crate::conn::{Db, Failure, Pool};
use crate::error::{DriverError, PostgresError};
use crate::schema::{self, MigrateError, SCHEMA_VERSION};

/// Options of [`PostgresStore::open_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostgresConfig {
    /// The most connections this handle holds open. Default 8. Connections are opened on
    /// demand and shared by the threads using the handle.
    pub pool_size: u32,
    /// How long an operation waits for a connection (the server down, restarting or out of
    /// connection slots) before it fails with [`PostgresError::Unavailable`]. Default 10 s.
    pub connect_timeout: Duration,
    /// How many times an operation is re-run after a transient failure (a lost connection, a
    /// deadlock, a serialization failure) before it fails with
    /// [`PostgresError::RetriesExhausted`]. Default 50 (with backoff, several seconds).
    pub retries: u32,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            pool_size: 8,
            connect_timeout: Duration::from_secs(10),
            retries: 50,
        }
    }
}

/// A pagevm store in a PostgreSQL database.
///
/// One handle holds a pool of connections and may be shared by threads; several handles (in
/// several processes or machines) may write one database at once. Transient failures are
/// retried inside the store and never reported to the caller.
pub struct PostgresStore {
    pool: Pool,
    config: PostgresConfig,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection configuration may hold a password: not shown.
        f.debug_struct("PostgresStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The advisory-lock key of a field: the first 8 bytes of the BLAKE3 hash of
/// `page \x1f field`. A collision only makes two fields share a lock.
pub(crate) fn field_lock(page: &PageId, field: &FieldPath) -> i64 {
    let mut key = Vec::with_capacity(page.as_str().len() + field.as_str().len() + 1);
    key.extend_from_slice(page.as_str().as_bytes());
    key.push(0x1f);
    key.extend_from_slice(field.as_str().as_bytes());
    lock_key(&key)
}

/// The advisory lock of a page's versions: held while a commit looks up which of its page
/// versions are stored and stores the others, so two commits of one version do not both
/// find it absent. (0x1e never occurs in a field lock's key, which separates with 0x1f.)
pub(crate) fn page_lock(page: &PageId) -> i64 {
    let mut key = Vec::with_capacity(page.as_str().len() + 1);
    key.push(0x1e);
    key.extend_from_slice(page.as_str().as_bytes());
    lock_key(&key)
}

fn lock_key(key: &[u8]) -> i64 {
    let digest = ContentDigest::of(key);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_bytes()[..8]);
    i64::from_le_bytes(first)
}

pub(crate) fn utf8(bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|e| corrupt(format!("stored text is not UTF-8: {e}")))
}

pub(crate) fn parse<T: std::str::FromStr<Err = ParseCodeError>>(s: &str) -> Result<T, StoreError> {
    s.parse()
        .map_err(|e: ParseCodeError| corrupt(e.to_string()))
}

impl PostgresStore {
    /// Opens the store in the database at `url` (`postgres://user@host:port/db`,
    /// `postgresql://…`, a Unix socket directory as a percent-encoded host, or the
    /// `host=… dbname=…` form), creating or migrating the schema, with the default
    /// configuration.
    ///
    /// # Errors
    /// [`StoreError::NewerSchema`] for a database written by a newer pagevm;
    /// [`StoreError::Backend`] with a [`PostgresError`] when the URL is invalid, the server
    /// cannot be reached within the connect timeout, or the migration fails (each migration step
    /// is one transaction: nothing is changed then).
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, PostgresConfig::default())
    }

    /// Opens the store at `url` with `config`.
    ///
    /// # Errors
    /// As [`PostgresStore::open`].
    pub fn open_with(url: &str, config: PostgresConfig) -> Result<Self, StoreError> {
        let mut pg: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::from(PostgresError::InvalidUrl(DriverError(e))))?;
        pg.connect_timeout(config.connect_timeout);
        if pg.get_application_name().is_none() {
            // Names this process's connections in `pg_stat_activity`.
            pg.application_name(&format!("pagevm/{}", std::process::id()));
        }
        let pool = Pool::new(pg, config.pool_size, config.connect_timeout, config.retries);
        let store = Self { pool, config };
        let mut newer = None;
        store.pool.read("migrate", |db| {
            match schema::migrate(db.client()) {
                Ok(_) => {}
                Err(MigrateError::Newer(found)) => newer = Some(found),
                Err(MigrateError::Sql(e)) => return Err(Failure::Sql(e)),
            }
            Ok(())
        })?;
        if let Some(found) = newer {
            return Err(StoreError::NewerSchema {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(store)
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The configuration it was opened with.
    #[must_use]
    pub const fn config(&self) -> PostgresConfig {
        self.config
    }

    /// The schema version of the database (its `schema_version` table).
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.pool
            .read("schema_version", |db| Ok(schema::version(db.client())?))
    }

    /// The rejected journal entries of `session` with their reasons, in journal order.
    ///
    /// # Errors
    /// As [`JournalStore::entries`].
    pub fn rejections(
        &self,
        session: &SessionId,
    ) -> Result<Vec<(EntryId, page_writeback::Rejection)>, StoreError> {
        Ok(self
            .entries(session)?
            .into_iter()
            .filter_map(|e| match e.state() {
                EntryState::Rejected(r) => Some((e.id(), r.clone())),
                EntryState::Staged | EntryState::Validated | EntryState::Committed(_) => None,
            })
            .collect())
    }

    /// Consistency checks a SQL database can state: every page's latest version and every
    /// field head exist, every committed entry has its boundary, no boundary token repeats.
    /// `ok`, or the problems found, one per line.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        self.pool.read("integrity_check", |db| {
            let checks: [(&'static str, &str); 3] = [
                (
                    "SELECT count(*) FROM pages p WHERE NOT EXISTS \
                     (SELECT 1 FROM page_versions v WHERE v.page = p.id AND v.version = p.latest_version)",
                    "pages without their latest version",
                ),
                (
                    "SELECT count(*) FROM (SELECT page, version FROM page_versions v WHERE NOT EXISTS \
                     (SELECT 1 FROM representations r WHERE r.page = v.page AND r.version = v.version)) s",
                    "page versions without representations",
                ),
                (
                    "SELECT count(*) FROM journal WHERE state = 'committed' AND field_version IS NULL",
                    "committed entries without a field version",
                ),
            ];
            let mut out = Vec::new();
            for (sql, what) in checks {
                let n: i64 = db.query_one(sql, &[])?.try_get(0)?;
                if n != 0 {
                    out.push(format!("{n} {what}"));
                }
            }
            if out.is_empty() {
                out.push("ok".to_owned());
            }
            Ok(out.join("\n"))
        })
    }
}

impl BlobStore for PostgresStore {
    fn put_blob(&self, bytes: &[u8]) -> Result<ContentDigest, StoreError> {
        let digest = ContentDigest::of(bytes);
        let resolve = |db: &mut Db<'_, Client>| -> Result<Option<()>, Failure> {
            Ok(codec::get_blob(db, &digest)?.map(|_| ()))
        };
        self.pool.write(
            "put_blob",
            |db| codec::put_blob(db, &digest, bytes),
            Some(&resolve),
        )?;
        Ok(digest)
    }

    fn get_blob(&self, digest: &ContentDigest) -> Result<Option<Vec<u8>>, StoreError> {
        self.pool.read("get_blob", |db| codec::get_blob(db, digest))
    }
}

impl PageStore for PostgresStore {
    fn page(&self, id: &PageId) -> Result<Option<Page>, StoreError> {
        self.pool.read("page", |db| codec::latest_page(db, id))
    }

    fn tool_call_exists(&self, id: &ToolCallId) -> Result<bool, StoreError> {
        self.pool.read("tool_call_exists", |db| {
            Ok(db
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pages WHERE tool_call = $1)",
                    &[&id.as_str()],
                )?
                .try_get(0)?)
        })
    }

    fn field(&self, page: &PageId, field: &FieldPath) -> Result<Option<FieldState>, StoreError> {
        self.pool.read("field", |db| codec::field(db, page, field))
    }

    fn fields(&self, page: &PageId) -> Result<BTreeMap<FieldPath, FieldState>, StoreError> {
        self.pool.read("fields", |db| codec::fields(db, page))
    }

    fn search(&self, scope: &Scope, needle: &str) -> Result<Vec<PageId>, StoreError> {
        let (kind, id) = codec::scope_parts(scope);
        self.pool.read("search", |db| {
            let rows = db.query(
                "SELECT DISTINCT p.id FROM pages p \
                 JOIN representations r ON r.page = p.id AND r.version = p.latest_version \
                 JOIN blobs b ON b.digest = r.digest \
                 WHERE p.scope_kind = $1 AND p.scope_id = $2 AND position($3::bytea IN b.bytes) > 0",
                &[&kind, &id, &needle.as_bytes()],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let id: String = r.try_get(0)?;
                out.push(PageId::new(id).map_err(|e| corrupt(e.to_string()))?);
            }
            // Byte order, as the other stores sort, whatever the database's collation.
            out.sort();
            Ok(out)
        })
    }
}

impl JournalStore for PostgresStore {
    fn stage(&self, session: &SessionId, updates: &[Update]) -> Result<Vec<EntryId>, StoreError> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let token = self.pool.token();
        let resolve = |db: &mut Db<'_, Client>| -> Result<Option<Vec<EntryId>>, Failure> {
            let rows = db.query("SELECT id FROM journal WHERE token = $1", &[&token])?;
            (!rows.is_empty()).then(|| codec::ids_of(&rows)).transpose()
        };
        self.pool.write(
            "stage",
            |db| {
                codec::ensure_session(db, session)?;
                codec::insert_entries(db, session, updates, &token)
            },
            Some(&resolve),
        )
    }

    fn record_outcomes(&self, outcomes: &[(EntryId, EntryState)]) -> Result<(), StoreError> {
        let resolve = |db: &mut Db<'_, Client>| -> Result<Option<()>, Failure> {
            for (id, state) in outcomes {
                if codec::entry_state(db, *id)?.as_deref() != Some(state.code()) {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        };
        self.pool.write(
            "record_outcomes",
            |db| {
                for (id, state) in outcomes {
                    let pending = matches!(
                        codec::entry_state(db, *id)?.as_deref(),
                        Some("staged" | "validated")
                    );
                    if matches!(state, EntryState::Committed(_)) || !pending {
                        return Err(StoreError::UnknownEntry(*id).into());
                    }
                    let (code, detail) = match state {
                        EntryState::Rejected(r) => {
                            (Some(r.code().code()), Some(r.detail().as_bytes()))
                        }
                        EntryState::Staged | EntryState::Validated | EntryState::Committed(_) => {
                            (None, None)
                        }
                    };
                    db.execute(
                        "UPDATE journal SET state = $2, reason_code = $3, reason_detail = $4 \
                         WHERE id = $1",
                        &[&entry_key(*id)?, &state.code(), &code, &detail],
                    )?;
                }
                Ok(())
            },
            Some(&resolve),
        )
    }

    fn commit(&self, batch: &CommitBatch) -> Result<CommitReceipt, StoreError> {
        let token = self.pool.token();
        let resolve = |db: &mut Db<'_, Client>| committed_receipt(db, batch, &token);
        self.pool.write(
            "commit",
            |db| commit_body(db, batch, &token),
            Some(&resolve),
        )
    }

    fn entries(&self, session: &SessionId) -> Result<Vec<JournalEntry>, StoreError> {
        self.pool.read("entries", |db| codec::entries(db, session))
    }

    fn record_fault(&self, fault: &FaultRecord) -> Result<(), StoreError> {
        let token = self.pool.token();
        let resolve = |db: &mut Db<'_, Client>| -> Result<Option<()>, Failure> {
            let row = db.query_opt("SELECT 1 FROM faults WHERE token = $1", &[&token])?;
            Ok(row.map(|_| ()))
        };
        self.pool.write(
            "record_fault",
            |db| {
                db.execute(
                    "INSERT INTO faults (session, kind, page, tool_call, turn, time_ms, detail, token) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        &fault.session.as_str(),
                        &fault.kind.code(),
                        &fault.page.as_ref().map(PageId::as_str),
                        &fault.tool_call.as_ref().map(ToolCallId::as_str),
                        &to_i64(fault.turn)?,
                        &fault.time_ms,
                        &fault.detail.as_bytes(),
                        &token,
                    ],
                )?;
                Ok(())
            },
            Some(&resolve),
        )
    }
}

impl HistoryStore for PostgresStore {
    fn boundaries(
        &self,
        session: &SessionId,
    ) -> Result<Vec<(BoundarySeq, BoundaryContext)>, StoreError> {
        self.pool.read("boundaries", |db| {
            let rows = db.query(
                "SELECT seq, kind, turn, time_ms FROM boundaries WHERE session = $1 ORDER BY seq",
                &[&session.as_str()],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let kind: String = r.try_get(1)?;
                out.push((
                    BoundarySeq::new(to_u64(r.try_get(0)?)?),
                    BoundaryContext {
                        boundary: parse(&kind)?,
                        turn: to_u64(r.try_get(2)?)?,
                        time_ms: r.try_get(3)?,
                    },
                ));
            }
            Ok(out)
        })
    }

    fn page_versions(&self, page: &PageId) -> Result<Vec<u64>, StoreError> {
        self.pool.read("page_versions", |db| {
            let rows = db.query(
                "SELECT version FROM page_versions WHERE page = $1 ORDER BY version",
                &[&page.as_str()],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(to_u64(r.try_get(0)?)?);
            }
            Ok(out)
        })
    }

    fn audit_trail(&self, page: &PageId) -> Result<Vec<AuditRecord>, StoreError> {
        self.pool.read("audit_trail", |db| {
            let rows = db.query(
                "SELECT seq, session, page_type, from_level, to_level, tokens_before, \
                 tokens_after, boundary, turn, time_ms, reason, full_tokens FROM audit \
                 WHERE page = $1 ORDER BY id",
                &[&page.as_str()],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let session: String = r.try_get(1)?;
                let ty: String = r.try_get(2)?;
                let from: String = r.try_get(3)?;
                let to: String = r.try_get(4)?;
                let before: i64 = r.try_get(5)?;
                let after: i64 = r.try_get(6)?;
                let boundary: String = r.try_get(7)?;
                let tokens = |t: i64| {
                    u32::try_from(t)
                        .map(page_core::TokenCount::new)
                        .map_err(|_| corrupt(format!("audit of {page}: token count {t}")))
                };
                out.push(AuditRecord {
                    seq: BoundarySeq::new(to_u64(r.try_get(0)?)?),
                    session: SessionId::new(session).map_err(|e| corrupt(e.to_string()))?,
                    change: ReprChange {
                        page: page.clone(),
                        page_type: parse(&ty)?,
                        from: parse(&from)?,
                        to: parse(&to)?,
                        tokens_before: tokens(before)?,
                        tokens_after: tokens(after)?,
                        full_tokens: tokens(r.try_get(11)?)?,
                        reason: utf8(r.try_get(10)?)?,
                    },
                    boundary: parse(&boundary)?,
                    turn: to_u64(r.try_get(8)?)?,
                    time_ms: r.try_get(9)?,
                });
            }
            Ok(out)
        })
    }

    fn faults(&self, session: &SessionId) -> Result<Vec<FaultRecord>, StoreError> {
        self.pool.read("faults", |db| {
            let rows = db.query(
                "SELECT kind, page, tool_call, turn, time_ms, detail FROM faults \
                 WHERE session = $1 ORDER BY id",
                &[&session.as_str()],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let kind: String = r.try_get(0)?;
                let page: Option<String> = r.try_get(1)?;
                let tool_call: Option<String> = r.try_get(2)?;
                out.push(FaultRecord {
                    session: session.clone(),
                    kind: parse(&kind)?,
                    page: page
                        .map(PageId::new)
                        .transpose()
                        .map_err(|e| corrupt(e.to_string()))?,
                    tool_call: tool_call
                        .map(ToolCallId::new)
                        .transpose()
                        .map_err(|e| corrupt(e.to_string()))?,
                    turn: to_u64(r.try_get(3)?)?,
                    time_ms: r.try_get(4)?,
                    detail: utf8(r.try_get(5)?)?,
                });
            }
            Ok(out)
        })
    }
}
