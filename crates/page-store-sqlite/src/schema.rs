//! The on-disk schema and its hand-written migrator on `PRAGMA user_version`.
//!
//! Each migration moves the schema from version `i` to `i + 1` and runs, with the version
//! bump, in one transaction: a crash mid-migration leaves the old version intact. A file whose
//! version is newer than [`SCHEMA_VERSION`] is refused, never downgraded.

use rusqlite::{Connection, TransactionBehavior};

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: u32 = 3;

/// `MIGRATIONS[i]` moves a database from version `i` to `i + 1`.
///
/// Tables whose rows can be large (blobs, field values, page metadata) are rowid tables with a
/// unique key, so new rows append at the end of the table's B-tree instead of splitting pages
/// in the middle of it; small-row tables are `WITHOUT ROWID`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [
    // 0 → 1: the initial schema.
    r"
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE boundaries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        session TEXT NOT NULL REFERENCES sessions(id),
        kind TEXT NOT NULL,
        turn INTEGER NOT NULL,
        time_ms INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE blobs (
        id INTEGER PRIMARY KEY,
        digest BLOB NOT NULL UNIQUE CHECK (length(digest) = 32),
        bytes BLOB NOT NULL
    ) STRICT;

    CREATE TABLE pages (
        id TEXT PRIMARY KEY,
        page_type TEXT NOT NULL,
        scope_kind TEXT NOT NULL,
        scope_id TEXT NOT NULL,
        tool_call TEXT,
        latest_version INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX pages_tool_call ON pages(tool_call);
    CREATE INDEX pages_scope ON pages(scope_kind, scope_id);

    CREATE TABLE page_versions (
        id INTEGER PRIMARY KEY,
        page TEXT NOT NULL REFERENCES pages(id),
        version INTEGER NOT NULL,
        seq INTEGER NOT NULL REFERENCES boundaries(seq),
        session TEXT NOT NULL REFERENCES sessions(id),
        meta TEXT NOT NULL,
        UNIQUE (page, version)
    ) STRICT;
    CREATE INDEX page_versions_session ON page_versions(session, page);

    CREATE TABLE session_pages (
        session TEXT NOT NULL REFERENCES sessions(id),
        page TEXT NOT NULL REFERENCES pages(id),
        PRIMARY KEY (session, page)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE representations (
        page TEXT NOT NULL,
        version INTEGER NOT NULL,
        level TEXT NOT NULL,
        tokens INTEGER NOT NULL CHECK (tokens >= 0),
        digest BLOB NOT NULL REFERENCES blobs(digest),
        PRIMARY KEY (page, version, level),
        FOREIGN KEY (page, version) REFERENCES page_versions(page, version)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE field_versions (
        id INTEGER PRIMARY KEY,
        page TEXT NOT NULL,
        field TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version >= 1),
        value TEXT NOT NULL,
        seq INTEGER NOT NULL REFERENCES boundaries(seq),
        entry INTEGER NOT NULL REFERENCES journal(id),
        UNIQUE (page, field, version)
    ) STRICT;

    -- The latest version of each field: derived from field_versions, updated by the same
    -- commit, so reading a field is one primary-key lookup.
    CREATE TABLE field_heads (
        page TEXT NOT NULL,
        field TEXT NOT NULL,
        version INTEGER NOT NULL,
        row INTEGER NOT NULL REFERENCES field_versions(id),
        PRIMARY KEY (page, field)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE journal (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session TEXT NOT NULL REFERENCES sessions(id),
        page TEXT NOT NULL,
        field TEXT NOT NULL,
        op TEXT NOT NULL,
        expected_version INTEGER,
        value TEXT NOT NULL,
        scope_kind TEXT NOT NULL,
        scope_id TEXT NOT NULL,
        evidence TEXT NOT NULL,
        principal TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('staged', 'validated', 'committed', 'rejected')),
        reason_code TEXT,
        reason_detail TEXT,
        seq INTEGER REFERENCES boundaries(seq),
        field_version INTEGER,
        CHECK ((state = 'rejected') = (reason_code IS NOT NULL)),
        CHECK ((state = 'committed') = (seq IS NOT NULL))
    ) STRICT;
    CREATE INDEX journal_session ON journal(session, id);

    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        seq INTEGER NOT NULL REFERENCES boundaries(seq),
        session TEXT NOT NULL,
        page TEXT NOT NULL,
        page_type TEXT NOT NULL,
        from_level TEXT NOT NULL,
        to_level TEXT NOT NULL,
        tokens_before INTEGER NOT NULL,
        tokens_after INTEGER NOT NULL,
        boundary TEXT NOT NULL,
        turn INTEGER NOT NULL,
        time_ms INTEGER NOT NULL,
        reason TEXT NOT NULL
    ) STRICT;
    CREATE INDEX audit_page ON audit(page, id);

    CREATE TABLE faults (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session TEXT NOT NULL,
        kind TEXT NOT NULL,
        page TEXT,
        tool_call TEXT,
        turn INTEGER NOT NULL,
        time_ms INTEGER NOT NULL,
        detail TEXT NOT NULL
    ) STRICT;
    ",
    // 1 → 2: indexes for the tool queries (entries of a session by state, faults of a
    // session).
    r"
    CREATE INDEX journal_pending ON journal(session, state, id);
    CREATE INDEX faults_session ON faults(session, id);
    ",
    // 2 → 3: the page's full tokens on every audit row; rows written before take them from
    // the page's latest stored full representation (a page's full text does not change
    // between the versions an audit row can name, except a plan's, whose latest is kept).
    r"
    ALTER TABLE audit ADD COLUMN full_tokens INTEGER NOT NULL DEFAULT 0;
    UPDATE audit SET full_tokens = COALESCE(
        (SELECT r.tokens FROM representations r
         WHERE r.page = audit.page AND r.level = 'full'
         ORDER BY r.version DESC LIMIT 1),
        0);
    ",
];

/// Why a schema cannot be brought to [`SCHEMA_VERSION`].
#[derive(Debug)]
pub(crate) enum MigrateError {
    Newer(u32),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sql(e)
    }
}

/// Brings the database to [`SCHEMA_VERSION`], one transaction per step, and returns the version
/// it found.
pub(crate) fn migrate(conn: &mut Connection) -> Result<u32, MigrateError> {
    let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(MigrateError::Newer(found));
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated between our read and our write lock.
        let now: u32 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if now as usize > from {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", from as u32 + 1)?;
        tx.commit()?;
    }
    Ok(found)
}
