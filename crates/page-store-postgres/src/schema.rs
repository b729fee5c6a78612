//! The PostgreSQL schema and its versioned migrator on a `schema_version` table.
//!
//! Each migration moves the schema from version `i` to `i + 1` and runs, with the version bump,
//! in one transaction (PostgreSQL's DDL is transactional): a failure mid-migration leaves the
//! old version intact. Concurrent openers serialise on a transaction-scoped advisory lock, so
//! a database is migrated once. A database whose version is newer than [`SCHEMA_VERSION`] is
//! refused, never downgraded.

use postgres::Client;

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: u32 = 2;

/// The advisory lock key the migrator holds (an arbitrary constant: "pagevm" in ASCII).
const MIGRATION_LOCK: i64 = 0x7061_6765_766d;

/// `MIGRATIONS[i]` moves a database from version `i` to `i + 1`.
///
/// The same tables and keys as the SQLite schema (docs/design/store.md §4 and §11). Names and
/// codes are `text`, counters `bigint`; field values and page metadata stay JSON *text* (not
/// `jsonb`) so they read back byte for byte. Caller-supplied free text (a staged value, which
/// may not even be JSON, rejection details, audit reasons, fault details) is `bytea` holding
/// UTF-8, because PostgreSQL's `text` cannot hold a NUL character and SQLite's can. The `token` columns hold a per-call random token that
/// lets the store find out whether a write whose `COMMIT` lost its connection committed.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [
    // 0 → 1: the initial schema.
    r"
    CREATE TABLE sessions (
        id text PRIMARY KEY
    );

    CREATE TABLE boundaries (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        session text NOT NULL REFERENCES sessions(id),
        kind text NOT NULL,
        turn bigint NOT NULL,
        time_ms bigint NOT NULL,
        token text NOT NULL UNIQUE
    );
    CREATE INDEX boundaries_session ON boundaries(session, seq);

    CREATE TABLE blobs (
        digest bytea PRIMARY KEY CHECK (length(digest) = 32),
        bytes bytea NOT NULL
    );

    CREATE TABLE pages (
        id text PRIMARY KEY,
        page_type text NOT NULL,
        scope_kind text NOT NULL,
        scope_id text NOT NULL,
        tool_call text,
        latest_version bigint NOT NULL
    );
    CREATE INDEX pages_tool_call ON pages(tool_call);
    CREATE INDEX pages_scope ON pages(scope_kind, scope_id);

    CREATE TABLE page_versions (
        page text NOT NULL REFERENCES pages(id),
        version bigint NOT NULL,
        seq bigint NOT NULL REFERENCES boundaries(seq),
        session text NOT NULL REFERENCES sessions(id),
        meta text NOT NULL,
        PRIMARY KEY (page, version)
    );
    CREATE INDEX page_versions_session ON page_versions(session, page);

    CREATE TABLE session_pages (
        session text NOT NULL REFERENCES sessions(id),
        page text NOT NULL REFERENCES pages(id),
        PRIMARY KEY (session, page)
    );

    CREATE TABLE representations (
        page text NOT NULL,
        version bigint NOT NULL,
        level text NOT NULL,
        tokens bigint NOT NULL CHECK (tokens >= 0),
        digest bytea NOT NULL REFERENCES blobs(digest),
        PRIMARY KEY (page, version, level),
        FOREIGN KEY (page, version) REFERENCES page_versions(page, version)
    );

    CREATE TABLE journal (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        session text NOT NULL REFERENCES sessions(id),
        page text NOT NULL,
        field text NOT NULL,
        op text NOT NULL,
        expected_version bigint,
        value bytea NOT NULL,
        scope_kind text NOT NULL,
        scope_id text NOT NULL,
        evidence text NOT NULL,
        principal text NOT NULL,
        state text NOT NULL CHECK (state IN ('staged', 'validated', 'committed', 'rejected')),
        reason_code text,
        reason_detail bytea,
        seq bigint REFERENCES boundaries(seq),
        field_version bigint,
        token text NOT NULL,
        CHECK ((state = 'rejected') = (reason_code IS NOT NULL)),
        CHECK ((state = 'committed') = (seq IS NOT NULL))
    );
    CREATE INDEX journal_session ON journal(session, id);
    CREATE INDEX journal_pending ON journal(session, state, id);
    CREATE INDEX journal_token ON journal(token);

    CREATE TABLE field_versions (
        page text NOT NULL,
        field text NOT NULL,
        version bigint NOT NULL CHECK (version >= 1),
        value text NOT NULL,
        seq bigint NOT NULL REFERENCES boundaries(seq),
        entry bigint NOT NULL REFERENCES journal(id),
        PRIMARY KEY (page, field, version)
    );

    -- The latest version of each field: derived from field_versions, updated by the same
    -- commit, so reading a field is one key lookup.
    CREATE TABLE field_heads (
        page text NOT NULL,
        field text NOT NULL,
        version bigint NOT NULL,
        PRIMARY KEY (page, field),
        FOREIGN KEY (page, field, version) REFERENCES field_versions(page, field, version)
    );

    CREATE TABLE audit (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        seq bigint NOT NULL REFERENCES boundaries(seq),
        session text NOT NULL,
        page text NOT NULL,
        page_type text NOT NULL,
        from_level text NOT NULL,
        to_level text NOT NULL,
        tokens_before bigint NOT NULL,
        tokens_after bigint NOT NULL,
        boundary text NOT NULL,
        turn bigint NOT NULL,
        time_ms bigint NOT NULL,
        reason bytea NOT NULL
    );
    CREATE INDEX audit_page ON audit(page, id);

    CREATE TABLE faults (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        session text NOT NULL,
        kind text NOT NULL,
        page text,
        tool_call text,
        turn bigint NOT NULL,
        time_ms bigint NOT NULL,
        detail bytea NOT NULL,
        token text NOT NULL UNIQUE
    );
    CREATE INDEX faults_session ON faults(session, id);
    ",
    // 1 → 2: the page's full tokens on every audit row; rows written before take them from
    // the page's latest stored full representation, as in the SQLite store's step 2 → 3.
    r"
    ALTER TABLE audit ADD COLUMN full_tokens bigint NOT NULL DEFAULT 0;
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
    Sql(postgres::Error),
}

impl From<postgres::Error> for MigrateError {
    fn from(e: postgres::Error) -> Self {
        MigrateError::Sql(e)
    }
}

/// Brings the database to [`SCHEMA_VERSION`], one transaction per step, and returns the version
/// it found.
pub(crate) fn migrate(client: &mut Client) -> Result<u32, MigrateError> {
    let mut found = None;
    for from in 0..SCHEMA_VERSION {
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 one boolean PRIMARY KEY DEFAULT true CHECK (one),
                 version integer NOT NULL
             );
             INSERT INTO schema_version (version) VALUES (0) ON CONFLICT DO NOTHING;",
        )?;
        let now: i32 = tx
            .query_one("SELECT version FROM schema_version", &[])?
            .get(0);
        let now = u32::try_from(now).unwrap_or(0);
        found.get_or_insert(now);
        if now > SCHEMA_VERSION {
            return Err(MigrateError::Newer(now));
        }
        if now > from {
            // Another process migrated this step already.
            continue;
        }
        tx.batch_execute(MIGRATIONS[from as usize])?;
        let next = i32::try_from(from + 1).unwrap_or(i32::MAX);
        tx.execute("UPDATE schema_version SET version = $1", &[&next])?;
        tx.commit()?;
    }
    if found.is_none() {
        let v: i32 = client
            .query_one("SELECT version FROM schema_version", &[])?
            .get(0);
        let v = u32::try_from(v).unwrap_or(0);
        if v > SCHEMA_VERSION {
            return Err(MigrateError::Newer(v));
        }
        found = Some(v);
    }
    Ok(found.unwrap_or(SCHEMA_VERSION))
}

/// The version recorded in the database.
pub(crate) fn version(client: &mut Client) -> Result<u32, postgres::Error> {
    let v: i32 = client
        .query_one("SELECT version FROM schema_version", &[])?
        .get(0);
    Ok(u32::try_from(v).unwrap_or(0))
}
