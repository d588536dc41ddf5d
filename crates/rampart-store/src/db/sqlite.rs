//! SQLite: one database file, one writer connection fed by a queue, a pool of readers.
//!
//! The writer applies **group commit**: it takes every job waiting in its queue (up to
//! [`MAX_BATCH`]), runs each inside its own SAVEPOINT of one `BEGIN IMMEDIATE` transaction and
//! commits once. With `synchronous=FULL` the commit is durable before any job of the batch is
//! answered, so an acknowledged write is never lost, while one fsync serves many writes.
//! A job that fails is rolled back to its savepoint and answered at once; the others commit.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use futures::FutureExt;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::{mpsc, oneshot};

use super::{Tx, TxFn, TxFuture};
use crate::error::StoreError;

/// Most jobs committed together.
pub const MAX_BATCH: usize = 256;
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

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

/// One SQLite database file with its writer and readers.
#[derive(Debug, Clone)]
pub struct SqliteDb {
    writer: mpsc::Sender<WriteJob>,
    readers: SqlitePool,
}

fn options(path: &Path) -> Result<SqliteConnectOptions, StoreError> {
    let url = format!("sqlite://{}", path.display());
    Ok(SqliteConnectOptions::from_str(&url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        .statement_cache_capacity(512))
}

impl SqliteDb {
    /// Opens (creating if needed) the database file and starts its writer task.
    pub async fn open(path: &Path, readers: u32) -> Result<Self, StoreError> {
        let opts = options(path)?;
        let writer_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts.clone())
            .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(readers.max(1))
            .min_connections(0)
            .idle_timeout(Some(Duration::from_secs(300)))
            .connect_with(opts.read_only(true))
            .await?;
        let conn = writer_pool.acquire().await?;
        let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
        tokio::spawn(writer_loop(conn, rx, writer_pool));
        Ok(Self {
            writer: tx,
            readers,
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
            .send(WriteJob { run, reply })
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
        let mut tx = Tx::sqlite_tx(self.readers.begin().await.map_err(StoreError::from)?);
        let result = f(&mut tx).await;
        tx.finish(false).await?;
        result
    }

    /// Stops accepting work; the writer finishes what is queued and closes the file.
    pub async fn close(&self) {
        self.readers.close().await;
    }
}

async fn exec(tx: &mut Tx, sql: &'static str) -> Result<(), StoreError> {
    tx.execute_script(sql).await
}

async fn writer_loop(
    conn: sqlx::pool::PoolConnection<sqlx::Sqlite>,
    mut rx: mpsc::Receiver<WriteJob>,
    pool: SqlitePool,
) {
    let mut tx = Tx::sqlite_writer(conn);
    let mut batch: Vec<WriteJob> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&mut tx, &mut batch).await;
    }
    if let Some(conn) = tx.into_sqlite_writer() {
        drop(conn);
    }
    pool.close().await;
}

async fn run_batch(tx: &mut Tx, batch: &mut Vec<WriteJob>) {
    if let Err(e) = exec(tx, "BEGIN IMMEDIATE").await {
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
        if let Err(e) = exec(tx, "SAVEPOINT job").await {
            let _ = job.reply.send(Err(e.into()));
            continue;
        }
        let outcome = AssertUnwindSafe((job.run)(tx)).catch_unwind().await;
        match outcome {
            Ok(Ok(value)) => match exec(tx, "RELEASE job").await {
                Ok(()) => done.push((job.reply, value)),
                Err(e) => {
                    let _ = job.reply.send(Err(e.into()));
                }
            },
            Ok(Err(e)) => {
                let _ = exec(tx, "ROLLBACK TO job; RELEASE job").await;
                let _ = job.reply.send(Err(e));
            }
            Err(_) => {
                tracing::error!("a write job panicked; its changes were rolled back");
                let _ = exec(tx, "ROLLBACK TO job; RELEASE job").await;
                let _ = job
                    .reply
                    .send(Err(StoreError::internal("a write job panicked").into()));
            }
        }
    }
    match exec(tx, "COMMIT").await {
        Ok(()) => {
            for (reply, value) in done {
                let _ = reply.send(Ok(value));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "commit failed; the batch was rolled back");
            let _ = exec(tx, "ROLLBACK").await;
            for (reply, _) in done {
                let _ = reply.send(Err(StoreError::internal("commit failed").into()));
            }
        }
    }
}
