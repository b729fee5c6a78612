//! Connections: the pool, the per-connection statement cache, and the retry loop that keeps
//! transient failures (lost connections, restarting servers, deadlocks, serialization
//! failures) away from callers.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use page_writeback::StoreError;
use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls, Row, Statement};

use crate::error::{DriverError, PostgresError};

/// One pooled connection and the statements prepared on it.
pub(crate) struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

/// Makes and checks connections for the pool.
#[derive(Debug)]
pub(crate) struct Manager {
    pub(crate) config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Conn, postgres::Error> {
        Ok(Conn {
            client: self.config.connect(NoTls)?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.client.is_closed()
    }
}

/// A client (a connection or a transaction on it) with the connection's statement cache:
/// every statement the store runs is prepared once per connection.
pub(crate) struct Db<'a, C: GenericClient> {
    client: &'a mut C,
    statements: &'a mut HashMap<&'static str, Statement>,
}

pub(crate) type Params<'p> = [&'p (dyn ToSql + Sync)];

impl<C: GenericClient> Db<'_, C> {
    /// The client itself, for statements that are not cached (migrations).
    pub(crate) fn client(&mut self) -> &mut C {
        self.client
    }

    fn statement(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    pub(crate) fn execute(
        &mut self,
        sql: &'static str,
        params: &Params<'_>,
    ) -> Result<u64, postgres::Error> {
        let s = self.statement(sql)?;
        self.client.execute(&s, params)
    }

    pub(crate) fn query(
        &mut self,
        sql: &'static str,
        params: &Params<'_>,
    ) -> Result<Vec<Row>, postgres::Error> {
        let s = self.statement(sql)?;
        self.client.query(&s, params)
    }

    pub(crate) fn query_one(
        &mut self,
        sql: &'static str,
        params: &Params<'_>,
    ) -> Result<Row, postgres::Error> {
        let s = self.statement(sql)?;
        self.client.query_one(&s, params)
    }

    pub(crate) fn query_opt(
        &mut self,
        sql: &'static str,
        params: &Params<'_>,
    ) -> Result<Option<Row>, postgres::Error> {
        let s = self.statement(sql)?;
        self.client.query_opt(&s, params)
    }
}

/// An operation failure before it is mapped: driver errors may be retried, store errors not.
pub(crate) enum Failure {
    Sql(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Self {
        Failure::Sql(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

/// Whether the connection itself failed (the server went away, restarted, or reset the
/// connection). Such a failure during `COMMIT` leaves the outcome unknown.
fn connection_lost(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03")
        }
        None => {
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                if s.is::<std::io::Error>() {
                    return true;
                }
                source = s.source();
            }
            false
        }
    }
}

/// Whether re-running the whole operation may succeed: a lost connection, a server that is
/// starting or out of connection slots, a deadlock, a serialization failure, a lock timeout.
fn transient(e: &postgres::Error) -> bool {
    connection_lost(e)
        || e.code()
            .is_some_and(|c| matches!(c.code(), "40001" | "40P01" | "55P03" | "53300"))
}

/// Sleeps a little longer after each attempt (2 ms, 4 ms, … capped at 100 ms), so that
/// contending writers spread out and a restarting server gets time.
fn backoff(attempt: u32) {
    thread::sleep(Duration::from_millis(u64::from(attempt.min(50)) * 2));
}

/// Finds out whether a write whose `COMMIT` lost its connection committed: its result if it
/// did, `None` if it did not.
pub(crate) type Resolve<'r, T> = &'r dyn Fn(&mut Db<'_, Client>) -> Result<Option<T>, Failure>;

/// The pool and the retry policy.
pub(crate) struct Pool {
    pool: r2d2::Pool<Manager>,
    retries: u32,
    connect_timeout: Duration,
    salt: u64,
    counter: AtomicU64,
}

impl Pool {
    pub(crate) fn new(
        config: postgres::Config,
        size: u32,
        connect_timeout: Duration,
        retries: u32,
    ) -> Self {
        let pool = r2d2::Pool::builder()
            .max_size(size.max(1))
            .min_idle(Some(0))
            .connection_timeout(connect_timeout)
            .test_on_check_out(false)
            .build_unchecked(Manager { config });
        // A random salt per handle (std's hasher keys are random per process and handle), so
        // tokens of different processes and machines never collide.
        let salt = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Self {
            pool,
            retries,
            connect_timeout,
            salt,
            counter: AtomicU64::new(0),
        }
    }

    /// A token unique to one write call, recorded by that write, so a write whose `COMMIT`
    /// lost its connection can be looked up.
    pub(crate) fn token(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}-{:08x}-{n:x}", self.salt, std::process::id())
    }

    fn get(&self) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
        self.pool.get().map_err(|e| {
            PostgresError::Unavailable {
                waited_ms: u64::try_from(self.connect_timeout.as_millis()).unwrap_or(u64::MAX),
                reason: e.to_string(),
            }
            .into()
        })
    }

    fn give_up(&self, operation: &'static str, attempts: u32, e: postgres::Error) -> StoreError {
        if transient(&e) {
            PostgresError::RetriesExhausted {
                operation,
                attempts,
                source: DriverError(e),
            }
            .into()
        } else {
            PostgresError::Statement {
                operation,
                source: DriverError(e),
            }
            .into()
        }
    }

    /// Runs `f` on a pooled connection, re-running it on a transient failure (up to the
    /// configured retries). `f` must be safe to re-run: reads, or writes through
    /// [`Pool::write`].
    pub(crate) fn read<T>(
        &self,
        operation: &'static str,
        mut f: impl FnMut(&mut Db<'_, Client>) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let mut attempt = 0;
        loop {
            let mut conn = self.get()?;
            let Conn { client, statements } = &mut *conn;
            let mut db = Db { client, statements };
            match f(&mut db) {
                Ok(v) => return Ok(v),
                Err(Failure::Sql(e)) if transient(&e) && attempt < self.retries => {
                    attempt += 1;
                    drop(conn);
                    backoff(attempt);
                }
                Err(Failure::Sql(e)) => return Err(self.give_up(operation, attempt + 1, e)),
                Err(Failure::Store(e)) => return Err(e),
            }
        }
    }

    /// Runs `body` in one transaction (`READ COMMITTED`), committed if it succeeds and rolled
    /// back otherwise, re-running the whole transaction on a transient failure. When the
    /// connection breaks during `COMMIT` itself, the write may or may not have committed:
    /// `resolve` looks for it (by the token the body wrote) on a new connection and returns its
    /// result when it did commit; when it did not, the transaction is re-run. Without a
    /// `resolve`, such a write fails with [`PostgresError::UnknownOutcome`].
    pub(crate) fn write<T>(
        &self,
        operation: &'static str,
        mut body: impl FnMut(&mut Db<'_, postgres::Transaction<'_>>) -> Result<T, Failure>,
        resolve: Option<Resolve<'_, T>>,
    ) -> Result<T, StoreError> {
        let mut attempt = 0;
        loop {
            let mut conn = self.get()?;
            let outcome = {
                let Conn { client, statements } = &mut *conn;
                match client.transaction() {
                    Err(e) => Err((Failure::Sql(e), false)),
                    Ok(mut tx) => {
                        let res = body(&mut Db {
                            client: &mut tx,
                            statements,
                        });
                        match res {
                            Ok(v) => tx.commit().map(|()| v).map_err(|e| {
                                let lost = connection_lost(&e);
                                (Failure::Sql(e), lost)
                            }),
                            // Dropping the transaction rolls it back.
                            Err(f) => Err((f, false)),
                        }
                    }
                }
            };
            drop(conn);
            match outcome {
                Ok(v) => return Ok(v),
                Err((Failure::Sql(e), true)) => {
                    let Some(resolve) = resolve else {
                        return Err(PostgresError::UnknownOutcome {
                            operation,
                            source: DriverError(e),
                        }
                        .into());
                    };
                    match self.read(operation, |db| resolve(db)) {
                        Ok(Some(v)) => return Ok(v),
                        Ok(None) if attempt < self.retries => {
                            attempt += 1;
                            backoff(attempt);
                        }
                        Ok(None) => return Err(self.give_up(operation, attempt + 1, e)),
                        Err(_) => {
                            return Err(PostgresError::UnknownOutcome {
                                operation,
                                source: DriverError(e),
                            }
                            .into());
                        }
                    }
                }
                Err((Failure::Sql(e), false)) if transient(&e) && attempt < self.retries => {
                    attempt += 1;
                    backoff(attempt);
                }
                Err((Failure::Sql(e), false)) => {
                    return Err(self.give_up(operation, attempt + 1, e));
                }
                Err((Failure::Store(e), _)) => return Err(e),
            }
        }
    }
}
