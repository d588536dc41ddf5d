//! SQLite: one database file, one writer thread fed by a queue, a pool of reader connections.
//!
//! **One thread hop per transaction.** A transaction's closure runs, whole, on the thread that
//! owns the connection: the writer's own thread, or a blocking-pool thread for a read. Every
//! statement inside it is then a plain function call into SQLite (microseconds for a page
//! read), instead of a message to a per-connection worker thread and back, which is what an
//! async SQLite driver does and what made a single `GET` cost some 45 context switches.
//!
//! Reads bounded by keys (the tenant of a request, its credential, one record) may instead
//! run on the calling task ([`SqliteDb::lookup`]): no hop at all.
//!
//! The writer applies **group commit**: it takes every job waiting in its queue (up to
//! [`MAX_BATCH`]), runs each inside its own SAVEPOINT of one `BEGIN IMMEDIATE` transaction and
//! commits once. With `synchronous=FULL` the commit is durable before any job of the batch is
//! answered, so an acknowledged write is never lost, while one fsync serves many writes.
//! A job that fails is rolled back to its savepoint and answered at once; the others commit.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use rampart_sql::Param;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use tokio::runtime::Handle;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{DbRow, Tx, TxFn, TxFuture};
use crate::error::StoreError;

/// Most jobs committed together.
pub const MAX_BATCH: usize = 256;
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Prepared statements kept per connection (each distinct SQL text is one).
const STATEMENT_CACHE: usize = 512;
/// A reader connection unused this long is closed (many tenants, few of them busy).
const READER_IDLE: Duration = Duration::from_secs(300);

type AnyBox = Box<dyn Any + Send>;
type JobFn = Box<dyn for<'c> FnOnce(&'c mut Tx) -> TxFuture<'c, AnyBox, JobError> + Send>;

/// Why a job did not commit: its own error (boxed, of the caller's type) or the store's.
enum JobError {
    Job(AnyBox),
    Store(StoreError),
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

struct WriteJob {
    run: JobFn,
    reply: oneshot::Sender<Result<AnyBox, JobError>>,
}

enum WriterMsg {
    Job(WriteJob),
    /// Finish what is queued before it, close the connection, then answer.
    Close(oneshot::Sender<()>),
}

/// One SQLite database file with its writer and readers.
#[derive(Clone)]
pub struct SqliteDb {
    writer: mpsc::Sender<WriterMsg>,
    readers: Arc<Readers>,
}

impl std::fmt::Debug for SqliteDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDb")
            .field("path", &self.readers.path)
            .finish_non_exhaustive()
    }
}

/// Reader connections: at most `permits` in use at once, idle ones kept for reuse.
struct Readers {
    path: PathBuf,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<(Connection, Instant)>>,
}

impl Readers {
    /// Waits for one of the connections this database may have in use at once.
    async fn permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, StoreError> {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::internal("the database is closed"))
    }

    fn checkout(&self) -> Result<Connection, StoreError> {
        let reused = self
            .idle
            .lock()
            .map_err(|_| StoreError::internal("reader pool lock poisoned"))?
            .pop();
        match reused {
            Some((conn, _)) => Ok(conn),
            None => open(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY),
        }
    }

    fn checkin(&self, conn: Connection) {
        if self.permits.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            // The most recently used is on top; the bottom ones have waited longest.
            idle.retain(|(_, since)| since.elapsed() < READER_IDLE);
            idle.push((conn, Instant::now()));
        }
    }
}

fn open(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Without the planner stability guarantee SQLite looks at bound values while planning
    // (`LIMIT ?` among them), marks the statement as depending on them, and prepares it
    // again at every new binding: 15% of a list request's time went to re-parsing. Our
    // plans come from the shape of the SQL and the indexes, never from a value.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")?;
    // The expression language's `~` folds case as `rampart_rules::fold` does; SQLite's own
    // `lower` knows ASCII letters only.
    conn.create_scalar_function(
        "rampart_fold",
        1,
        rusqlite::functions::FunctionFlags::SQLITE_UTF8
            | rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            Ok(match ctx.get_raw(0) {
                rusqlite::types::ValueRef::Text(bytes) => {
                    let text = std::str::from_utf8(bytes)
                        .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?;
                    Some(rampart_rules::fold(text).into_owned())
                }
                _ => None,
            })
        },
    )?;
    Ok(conn)
}

fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let conn = open(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::internal(format!(
            "{} cannot use write-ahead logging (journal mode {mode})",
            path.display()
        )));
    }
    Ok(conn)
}

impl SqliteDb {
    /// Opens (creating if needed) the database file and starts its writer thread.
    pub async fn open(path: &Path, readers: u32) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        let writer_path = path.clone();
        let conn = tokio::task::spawn_blocking(move || open_writer(&writer_path))
            .await
            .map_err(|_| StoreError::internal("opening the database failed"))??;
        let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
        let handle = Handle::current();
        std::thread::Builder::new()
            .name("rampart-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, &handle))
            .map_err(|e| StoreError::internal(format!("cannot start the SQLite writer: {e}")))?;
        Ok(Self {
            writer: tx,
            readers: Arc::new(Readers {
                path,
                permits: Arc::new(Semaphore::new(readers.max(1) as usize)),
                idle: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Runs `f` in a write transaction; returns once the transaction is durable.
    pub async fn write<T, E>(&self, f: impl TxFn<T, E>) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let run: JobFn = Box::new(move |tx: &mut Tx| {
            Box::pin(f(tx).map(|r| match r {
                Ok(v) => Ok(Box::new(v) as AnyBox),
                Err(e) => Err(JobError::Job(Box::new(e))),
            }))
        });
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(WriterMsg::Job(WriteJob { run, reply }))
            .await
            .map_err(|_| StoreError::internal("the SQLite writer has stopped"))?;
        let outcome = answer
            .await
            .map_err(|_| StoreError::internal("the SQLite writer dropped a job"))?;
        match outcome {
            Ok(value) => value
                .downcast::<T>()
                .map(|b| *b)
                .map_err(|_| StoreError::internal("writer returned an unexpected type").into()),
            Err(JobError::Store(e)) => Err(e.into()),
            Err(JobError::Job(e)) => Err(e.downcast::<E>().map_or_else(
                |_| StoreError::internal("writer returned an unexpected error type").into(),
                |b| *b,
            )),
        }
    }

    /// Runs `f` in a read transaction on a reader connection (a consistent snapshot).
    pub async fn read<T, E>(&self, f: impl TxFn<T, E>) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let permit = self.readers.permit().await?;
        let readers = self.readers.clone();
        let handle = Handle::current();
        let run = move || {
            let _permit = permit;
            let conn = readers.checkout()?;
            let mut tx = Tx::sqlite(conn);
            exec(&mut tx, "BEGIN")?;
            let outcome = {
                let _runtime = handle.enter();
                futures::executor::block_on(AssertUnwindSafe(f(&mut tx)).catch_unwind())
            };
            let ended = exec(&mut tx, "ROLLBACK");
            match (outcome, ended) {
                (Ok(result), Ok(())) => {
                    if let Some(conn) = tx.into_sqlite() {
                        readers.checkin(conn);
                    }
                    result
                }
                // A connection whose transaction did not end cleanly is not reused.
                (Ok(result), Err(e)) => result.and(Err(e.into())),
                (Err(_), _) => {
                    tracing::error!("a read transaction panicked");
                    Err(StoreError::internal("a read transaction panicked").into())
                }
            }
        };
        tokio::task::spawn_blocking(run)
            .await
            .map_err(|_| StoreError::internal("a read transaction was lost"))?
    }

    /// Runs `f` in a read transaction **on the calling task**: for reads bounded by keys (a
    /// handful of index probes, microseconds), where the hop to another thread would cost
    /// more than the read itself. Anything that may scan goes through [`Self::read`], so a
    /// long query never holds an async worker.
    pub async fn lookup<T, E>(&self, f: impl TxFn<T, E>) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let permit = self.readers.permit().await?;
        let mut tx = Tx::sqlite(self.readers.checkout()?);
        exec(&mut tx, "BEGIN")?;
        // Dropped mid-way (the request was cancelled), the connection closes, which ends the
        // transaction; it is not reused.
        let result = f(&mut tx).await;
        exec(&mut tx, "ROLLBACK")?;
        if let Some(conn) = tx.into_sqlite() {
            self.readers.checkin(conn);
        }
        drop(permit);
        result
    }

    /// Stops accepting work; the writer finishes what is queued and closes the file.
    pub async fn close(&self) {
        self.readers.permits.close();
        if let Ok(mut idle) = self.readers.idle.lock() {
            idle.clear();
        }
        let (done, closed) = oneshot::channel();
        if self.writer.send(WriterMsg::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

/// Runs one transaction-control statement (`BEGIN`, `SAVEPOINT job`, …), prepared once per
/// connection.
fn exec(tx: &mut Tx, sql: &str) -> Result<(), StoreError> {
    tx.sqlite_conn()?.prepare_cached(sql)?.execute([])?;
    Ok(())
}

fn writer_loop(conn: Connection, mut rx: mpsc::Receiver<WriterMsg>, handle: &Handle) {
    let mut tx = Tx::sqlite(conn);
    let mut batch: Vec<WriteJob> = Vec::with_capacity(MAX_BATCH);
    let mut close: Option<oneshot::Sender<()>> = None;
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                WriterMsg::Job(job) => batch.push(job),
                WriterMsg::Close(done) => {
                    close = Some(done);
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let _runtime = handle.enter();
            run_batch(&mut tx, &mut batch);
        }
        if close.is_some() {
            break;
        }
    }
    drop(tx);
    if let Some(done) = close {
        let _ = done.send(());
    }
}

fn run_batch(tx: &mut Tx, batch: &mut Vec<WriteJob>) {
    if let Err(e) = exec(tx, "BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "could not start a write transaction");
        for job in batch.drain(..) {
            let _ = job.reply.send(Err(JobError::Store(StoreError::internal(
                "could not start a write transaction",
            ))));
        }
        return;
    }
    let mut done: Vec<(oneshot::Sender<Result<AnyBox, JobError>>, AnyBox)> =
        Vec::with_capacity(batch.len());
    for job in batch.drain(..) {
        if let Err(e) = exec(tx, "SAVEPOINT job") {
            let _ = job.reply.send(Err(e.into()));
            continue;
        }
        let outcome = futures::executor::block_on(AssertUnwindSafe((job.run)(tx)).catch_unwind());
        match outcome {
            Ok(Ok(value)) => match exec(tx, "RELEASE job") {
                Ok(()) => done.push((job.reply, value)),
                Err(e) => {
                    let _ = job.reply.send(Err(e.into()));
                }
            },
            Ok(Err(e)) => {
                let _ = exec(tx, "ROLLBACK TO job").and_then(|()| exec(tx, "RELEASE job"));
                let _ = job.reply.send(Err(e));
            }
            Err(_) => {
                tracing::error!("a write job panicked; its changes were rolled back");
                let _ = exec(tx, "ROLLBACK TO job").and_then(|()| exec(tx, "RELEASE job"));
                let _ = job
                    .reply
                    .send(Err(StoreError::internal("a write job panicked").into()));
            }
        }
    }
    match exec(tx, "COMMIT") {
        Ok(()) => {
            for (reply, value) in done {
                let _ = reply.send(Ok(value));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "commit failed; the batch was rolled back");
            let _ = exec(tx, "ROLLBACK");
            for (reply, _) in done {
                let _ = reply.send(Err(StoreError::internal("commit failed").into()));
            }
        }
    }
}

/// A parameter as SQLite stores it (the same encoding `DbRow` reads back).
fn value(p: Param) -> Value {
    match p {
        Param::Null(_) => Value::Null,
        Param::Bool(b) => Value::Integer(i64::from(b)),
        Param::I64(n) => Value::Integer(n),
        Param::Text(s) => Value::Text(s),
        Param::Uuid(u) => Value::Text(u.hyphenated().to_string()),
        Param::Date(d) => Value::Text(d.format("%Y-%m-%d").to_string()),
        Param::Timestamp(t) => Value::Integer(t.timestamp_micros()),
        Param::Json(j) => Value::Text(j.to_string()),
        Param::Bytes(b) => Value::Blob(b),
        // Resolved by `Tx::resolve` before binding.
        Param::Blind { canonical, .. } => Value::Blob(canonical),
    }
}

/// Runs one statement; returns the rows it changed (or, for a statement that returns rows,
/// how many it returned).
pub(super) fn execute(
    conn: &Connection,
    text: &str,
    params: Vec<Param>,
) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare_cached(text)?;
    let values = rusqlite::params_from_iter(params.into_iter().map(value));
    if stmt.column_count() == 0 {
        return Ok(stmt.execute(values)? as u64);
    }
    let mut rows = stmt.query(values)?;
    let mut n = 0;
    while rows.next()?.is_some() {
        n += 1;
    }
    Ok(n)
}

/// Runs one query and reads up to `limit` rows.
pub(super) fn fetch(
    conn: &Connection,
    text: &str,
    params: Vec<Param>,
    limit: usize,
) -> Result<Vec<DbRow>, StoreError> {
    let mut stmt = conn.prepare_cached(text)?;
    let columns = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.into_iter().map(value)))?;
    let mut out = Vec::new();
    while out.len() < limit {
        let Some(row) = rows.next()? else { break };
        let values = (0..columns)
            .map(|i| row.get::<_, Value>(i))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(DbRow::Sqlite(values));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A statement bound with new values runs as prepared: planning never depends on a
    /// bound value (see `open`), so the statement cache really saves the parsing.
    #[test]
    fn new_bindings_do_not_prepare_a_statement_again() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(&dir.path().join("t.db")).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT); CREATE INDEX t_k ON t (k, id);
             INSERT INTO t (k) VALUES ('a'), ('b'), ('a');",
        )
        .unwrap();
        let sql = "SELECT id FROM t WHERE k = ? AND k LIKE ? ORDER BY id LIMIT ?";
        for (k, limit) in [("a", 1), ("b", 5), ("a", 2)] {
            let mut stmt = conn.prepare_cached(sql).unwrap();
            let rows: Vec<i64> = stmt
                .query_map(rusqlite::params![k, k, limit], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(!rows.is_empty());
            assert_eq!(
                stmt.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "prepared again for new values"
            );
        }
    }
}
