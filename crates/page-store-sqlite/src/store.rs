//! The SQLite store: opening, pragmas, the busy-retry loop and the writeback traits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use page_core::{ContentDigest, Page, PageId, Scope, SessionId, ToolCallId};
use page_writeback::{
    AuditRecord, BlobStore, BoundaryContext, BoundarySeq, CommitBatch, CommitReceipt, EntryId,
    EntryState, FaultRecord, FieldPath, FieldState, HistoryStore, JournalEntry, JournalStore,
    OpError, PageStore, StoreError, Update, apply_op,
};
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior, params};

use crate::codec::{self, corrupt};
use crate::schema::{self, MigrateError, SCHEMA_VERSION};

/// How far an acknowledged commit is durable; the `PRAGMA synchronous` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// `FULL`: every commit is fsynced to the WAL before it returns. An acknowledged boundary
    /// survives a process crash, an OS crash and power loss. The default.
    #[default]
    Full,
    /// `NORMAL`: commits reach the OS before they return and are fsynced at checkpoints. An
    /// acknowledged boundary survives a process crash; an OS crash or power loss may roll back
    /// the last few boundaries (never corrupt the file).
    Normal,
}

/// Options of [`SqliteStore::open_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteConfig {
    /// Durability of a commit.
    pub synchronous: Synchronous,
    /// How long SQLite itself waits for another connection's lock before the store's own
    /// retry loop takes over. Default 5 s.
    pub busy_timeout: Duration,
    /// How many times the store retries an operation that found the database busy before it
    /// gives up with a backend error. Default 200 (with backoff, well over a minute).
    pub busy_retries: u32,
    /// `PRAGMA wal_autocheckpoint`: the WAL size in pages after which a commit also
    /// checkpoints. Default 1000 (SQLite's). 0 disables automatic checkpoints; the owner then
    /// calls [`SqliteStore::checkpoint`] at idle times, which keeps checkpoint work out of
    /// boundary commits.
    pub wal_autocheckpoint: u32,
    /// `PRAGMA cache_size` in KiB: this connection's page cache. Default 2000 (SQLite's).
    pub cache_kib: u32,
}

impl SqliteConfig {
    /// For loading many pages in a row from a source that can be loaded again (`pagevm
    /// migrate`, which is idempotent and resumable): a 64 MiB page cache, so the indexes a
    /// load touches at random (blob digests) stay in memory; automatic checkpoints every
    /// 16384 WAL pages (64 MiB with the default page size) instead of 1000, so a page
    /// rewritten by consecutive commits is copied back once; and [`Synchronous::Normal`], so
    /// a commit does not wait for an fsync. An acknowledged commit survives a process crash;
    /// an OS crash or power loss may roll back the last commits since a checkpoint (never
    /// corrupt the file), which a re-run of the load redoes. Call [`SqliteStore::checkpoint`]
    /// at the end of the load to make all of it durable.
    #[must_use]
    pub fn bulk_load() -> Self {
        Self {
            synchronous: Synchronous::Normal,
            wal_autocheckpoint: 16_384,
            cache_kib: 64 * 1024,
            ..Self::default()
        }
    }
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
            busy_retries: 200,
            wal_autocheckpoint: 1000,
            cache_kib: 2000,
        }
    }
}

/// A pagevm store in one SQLite file (WAL mode).
///
/// One handle holds one connection, serialised by a mutex; open one handle per thread or
/// process for parallelism. Writers of different handles serialise on SQLite's write lock; a
/// busy database is retried inside the store and never reported to the caller.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
    config: SqliteConfig,
}

/// An operation failure before it is mapped: SQL errors may be retried, store errors not.
pub(crate) enum Failure {
    Sql(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Failure::Sql(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` with the default configuration
    /// (`synchronous=FULL`).
    ///
    /// # Errors
    /// [`StoreError::NewerSchema`] for a file written by a newer pagevm;
    /// [`StoreError::Backend`] when the file cannot be opened or migrated (nothing is changed
    /// then: each migration step is one transaction).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteConfig::default())
    }

    /// Opens the store at `path` with `config`.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn open_with(path: impl AsRef<Path>, config: SqliteConfig) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        // SQLite would open a read-only file read-only and still create `-wal`/`-shm` files
        // beside it that it cannot remove: refuse before touching anything.
        if std::fs::metadata(&path).is_ok_and(|m| m.permissions().readonly()) {
            return Err(StoreError::backend(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("the store {} is a read-only file", path.display()),
            )));
        }
        let mut attempt = 0;
        loop {
            match Self::try_open(&path, config) {
                Ok(conn) => {
                    return Ok(Self {
                        conn: Mutex::new(conn),
                        path,
                        config,
                    });
                }
                Err(Failure::Sql(e)) if is_busy(&e) && attempt < config.busy_retries => {
                    attempt += 1;
                    backoff(attempt);
                }
                Err(Failure::Sql(e)) => return Err(StoreError::backend(e)),
                Err(Failure::Store(e)) => return Err(e),
            }
        }
    }

    fn try_open(path: &Path, config: SqliteConfig) -> Result<Connection, Failure> {
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(config.busy_timeout)?;
        // Before anything writes (even the journal-mode pragma is stored in the file header): a
        // database with tables but no pagevm schema version belongs to someone else.
        // One statement, one snapshot: another process may be creating the schema (tables and
        // version in one transaction) between two separate reads.
        let (version, tables): (u32, i64) = conn.query_row(
            "SELECT (SELECT user_version FROM pragma_user_version), \
                    (SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if version == 0 && tables > 0 {
            return Err(Failure::Store(StoreError::NotAStore(
                path.display().to_string(),
            )));
        }
        // Every statement the store runs stays prepared.
        conn.set_prepared_statement_cache_capacity(64);
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Failure::Store(StoreError::backend(std::io::Error::other(
                format!("the database refused WAL mode (journal_mode is {mode})"),
            ))));
        }
        let sync = match config.synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "wal_autocheckpoint", config.wal_autocheckpoint)?;
        // A negative cache size is in KiB rather than pages.
        conn.pragma_update(None, "cache_size", -i64::from(config.cache_kib))?;
        match schema::migrate(&mut conn) {
            Ok(_) => Ok(conn),
            Err(MigrateError::Newer(found)) => Err(Failure::Store(StoreError::NewerSchema {
                found,
                supported: SCHEMA_VERSION,
            })),
            Err(MigrateError::Sql(e)) => Err(Failure::Sql(e)),
        }
    }

    /// Copies committed WAL frames into the database file (`PRAGMA wal_checkpoint(PASSIVE)`:
    /// never waits for readers or writers). Returns how many frames are in the WAL and how
    /// many of them are now checkpointed.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub fn checkpoint(&self) -> Result<(u64, u64), StoreError> {
        self.run(|conn| {
            let (_busy, log, done): (i64, i64, i64) =
                conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
            // -1 means "not in WAL mode", which `open` rules out; report it as zero.
            Ok((
                u64::try_from(log).unwrap_or(0),
                u64::try_from(done).unwrap_or(0),
            ))
        })
    }

    /// The file this store was opened from.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configuration it was opened with.
    #[must_use]
    pub const fn config(&self) -> SqliteConfig {
        self.config
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Corrupt("connection lock poisoned by a panic".to_owned()))
    }

    /// Runs `f` on the connection, retrying while the database is busy. `f` must be safe to
    /// re-run: a write must happen inside one transaction that `f` opens and commits.
    pub(crate) fn run<T>(
        &self,
        mut f: impl FnMut(&mut Connection) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock()?;
        let mut attempt = 0;
        loop {
            match f(&mut conn) {
                Ok(v) => return Ok(v),
                Err(Failure::Sql(e)) if is_busy(&e) && attempt < self.config.busy_retries => {
                    attempt += 1;
                    backoff(attempt);
                }
                Err(Failure::Sql(e)) => return Err(StoreError::backend(e)),
                Err(Failure::Store(e)) => return Err(e),
            }
        }
    }

    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction, committed if `f` succeeds and rolled
    /// back otherwise, retrying the whole transaction while the database is busy.
    pub(crate) fn write<T>(
        &self,
        mut f: impl FnMut(&rusqlite::Transaction<'_>) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        self.run(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let v = f(&tx)?;
            tx.commit()?;
            Ok(v)
        })
    }
}

/// Sleeps a little longer after each busy attempt (1 ms, 2 ms, … capped at 50 ms), so that
/// contending writers spread out.
fn backoff(attempt: u32) {
    thread::sleep(Duration::from_millis(u64::from(attempt.min(50))));
}

impl BlobStore for SqliteStore {
    fn put_blob(&self, bytes: &[u8]) -> Result<ContentDigest, StoreError> {
        let digest = ContentDigest::of(bytes);
        self.write(|tx| {
            codec::put_blob(tx, &digest, bytes)?;
            Ok(())
        })?;
        Ok(digest)
    }

    fn get_blob(&self, digest: &ContentDigest) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(|conn| codec::get_blob(conn, digest))
    }
}

impl PageStore for SqliteStore {
    fn page(&self, id: &PageId) -> Result<Option<Page>, StoreError> {
        self.run(|conn| codec::latest_page(conn, id))
    }

    fn tool_call_exists(&self, id: &ToolCallId) -> Result<bool, StoreError> {
        self.run(|conn| {
            Ok(conn
                .prepare_cached("SELECT 1 FROM pages WHERE tool_call = ?1 LIMIT 1")?
                .exists([id.as_str()])?)
        })
    }

    fn field(&self, page: &PageId, field: &FieldPath) -> Result<Option<FieldState>, StoreError> {
        self.run(|conn| codec::field(conn, page, field))
    }

    fn fields(&self, page: &PageId) -> Result<BTreeMap<FieldPath, FieldState>, StoreError> {
        self.run(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT field, version, row FROM field_heads WHERE page = ?1")?;
            let rows = stmt.query_map([page.as_str()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            let mut heads = Vec::new();
            for row in rows {
                heads.push(row?);
            }
            let mut out = BTreeMap::new();
            for (field, version, row) in heads {
                let field = FieldPath::new(field).map_err(|e| corrupt(e.to_string()))?;
                let value = codec::field_value(conn, row)?;
                out.insert(field, codec::field_state(&value, version)?);
            }
            Ok(out)
        })
    }

    fn search(&self, scope: &Scope, needle: &str) -> Result<Vec<PageId>, StoreError> {
        let (kind, id) = codec::scope_parts(scope);
        self.run(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT DISTINCT p.id FROM pages p \
                 JOIN representations r ON r.page = p.id AND r.version = p.latest_version \
                 JOIN blobs b ON b.digest = r.digest \
                 WHERE p.scope_kind = ?1 AND p.scope_id = ?2 AND instr(b.bytes, CAST(?3 AS BLOB)) > 0 \
                 ORDER BY p.id",
            )?;
            let rows = stmt.query_map(params![kind, id, needle], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(PageId::new(row?).map_err(|e| corrupt(e.to_string()))?);
            }
            Ok(out)
        })
    }
}

impl JournalStore for SqliteStore {
    fn stage(&self, session: &SessionId, updates: &[Update]) -> Result<Vec<EntryId>, StoreError> {
        self.write(|tx| {
            codec::ensure_session(tx, session)?;
            let mut ids = Vec::with_capacity(updates.len());
            for u in updates {
                ids.push(codec::insert_entry(tx, session, u)?);
            }
            Ok(ids)
        })
    }

    fn record_outcomes(&self, outcomes: &[(EntryId, EntryState)]) -> Result<(), StoreError> {
        self.write(|tx| {
            for (id, state) in outcomes {
                if matches!(state, EntryState::Committed(_)) || !codec::is_pending(tx, *id)? {
                    return Err(StoreError::UnknownEntry(*id).into());
                }
                let (code, detail) = match state {
                    EntryState::Rejected(r) => (Some(r.code().code()), Some(r.detail())),
                    EntryState::Staged | EntryState::Validated | EntryState::Committed(_) => {
                        (None, None)
                    }
                };
                tx.prepare_cached(
                    "UPDATE journal SET state = ?2, reason_code = ?3, reason_detail = ?4 WHERE id = ?1",
                )?
                .execute(params![codec::entry_key(*id)?, state.code(), code, detail])?;
            }
            Ok(())
        })
    }

    fn commit(&self, batch: &CommitBatch) -> Result<CommitReceipt, StoreError> {
        self.write(|tx| {
            let session = batch.session();
            codec::ensure_session(tx, session)?;
            let ctx = batch.context();
            let already = codec::stored_at(tx, batch.pages())?;
            if let Some(seq) = batch.replays(&already) {
                // Identical to what is stored, or a PageConflict.
                let mut writer = codec::PageWriter::new(tx)?;
                for page in batch.pages() {
                    writer.insert(page, session, codec::to_i64(seq.get())?)?;
                }
                return Ok(CommitReceipt {
                    seq,
                    versions: Vec::new(),
                    stored_pages: 0,
                });
            }
            tx.prepare_cached(
                "INSERT INTO boundaries (session, kind, turn, time_ms) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                session.as_str(),
                ctx.boundary.code(),
                codec::to_i64(ctx.turn)?,
                ctx.time_ms
            ])?;
            let raw_seq = tx.last_insert_rowid();
            let seq = BoundarySeq::new(codec::to_u64(raw_seq)?);
            let mut versions = Vec::with_capacity(batch.updates().len());
            for vu in batch.updates() {
                let entry = vu.entry();
                let u = vu.update();
                let current = codec::field(tx, u.page(), u.field())?;
                let next = apply_op(current.as_ref(), u.op(), vu.value()).map_err(|e| {
                    let (OpError::Shape(detail) | OpError::Destructive(detail)) = e;
                    StoreError::Conflict { entry, detail }
                })?;
                codec::insert_field_version(tx, u.page(), u.field(), &next, raw_seq, entry)?;
                let fv = codec::to_i64(next.version.get())?;
                let changed = tx
                    .prepare_cached(
                        "UPDATE journal SET state = 'committed', seq = ?2, field_version = ?3, \
                         reason_code = NULL, reason_detail = NULL \
                         WHERE id = ?1 AND state IN ('staged', 'validated')",
                    )?
                    .execute(params![codec::entry_key(entry)?, raw_seq, fv])?;
                if changed != 1 {
                    return Err(StoreError::UnknownEntry(entry).into());
                }
                versions.push((entry, next.version));
            }
            for (entry, rejection) in batch.rejected() {
                let changed = tx
                    .prepare_cached(
                        "UPDATE journal SET state = 'rejected', reason_code = ?2, reason_detail = ?3 \
                         WHERE id = ?1 AND state IN ('staged', 'validated')",
                    )?
                    .execute(params![
                        codec::entry_key(*entry)?,
                        rejection.code().code(),
                        rejection.detail()
                    ])?;
                if changed != 1 {
                    return Err(StoreError::UnknownEntry(*entry).into());
                }
            }
            let mut writer = codec::PageWriter::new(tx)?;
            let mut stored_pages = 0;
            for page in batch.pages() {
                if writer.insert(page, session, raw_seq)? {
                    stored_pages += 1;
                }
            }
            drop(writer);
            // A version stored before has its audit rows from the boundary that stored it.
            for c in batch
                .repr_changes()
                .iter()
                .filter(|c| !already.contains_key(&c.page))
            {
                tx.prepare_cached(
                    "INSERT INTO audit (seq, session, page, page_type, from_level, to_level, \
                     tokens_before, tokens_after, boundary, turn, time_ms, reason, full_tokens) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )?
                .execute(params![
                    raw_seq,
                    session.as_str(),
                    c.page.as_str(),
                    c.page_type.code(),
                    c.from.code(),
                    c.to.code(),
                    c.tokens_before.get(),
                    c.tokens_after.get(),
                    ctx.boundary.code(),
                    codec::to_i64(ctx.turn)?,
                    ctx.time_ms,
                    c.reason,
                    c.full_tokens.get()
                ])?;
            }
            Ok(CommitReceipt {
                seq,
                versions,
                stored_pages,
            })
        })
    }

    fn entries(&self, session: &SessionId) -> Result<Vec<JournalEntry>, StoreError> {
        self.run(|conn| codec::entries(conn, session))
    }

    fn record_fault(&self, fault: &FaultRecord) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO faults (session, kind, page, tool_call, turn, time_ms, detail) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                fault.session.as_str(),
                fault.kind.code(),
                fault.page.as_ref().map(PageId::as_str),
                fault.tool_call.as_ref().map(ToolCallId::as_str),
                codec::to_i64(fault.turn)?,
                fault.time_ms,
                fault.detail
            ])?;
            Ok(())
        })
    }
}

impl HistoryStore for SqliteStore {
    fn boundaries(
        &self,
        session: &SessionId,
    ) -> Result<Vec<(BoundarySeq, BoundaryContext)>, StoreError> {
        SqliteStore::boundaries(self, session)
    }

    fn page_versions(&self, page: &PageId) -> Result<Vec<u64>, StoreError> {
        SqliteStore::page_versions(self, page)
    }

    fn audit_trail(&self, page: &PageId) -> Result<Vec<AuditRecord>, StoreError> {
        SqliteStore::audit_trail(self, page)
    }

    fn faults(&self, session: &SessionId) -> Result<Vec<FaultRecord>, StoreError> {
        SqliteStore::faults(self, session)
    }
}
