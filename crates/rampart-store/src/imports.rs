//! Import jobs: one row per import with what it read, wrote and refused, and the refused rows
//! (their cells sealed with the tenant's data key, bound to the job and row). A job and its
//! rows are kept for a day ([`purge_expired`]).

use chrono::{DateTime, Utc};
use rampart_core::{TableId, UserId};
use rampart_sql::Param;
use uuid::Uuid;

use crate::db::{DbRow, Tx};
use crate::error::StoreError;

/// How long a job and its refused rows are kept.
pub const KEPT_FOR: chrono::Duration = chrono::Duration::days(1);

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Job {
    pub id: Uuid,
    pub table_id: TableId,
    pub created_by: UserId,
    /// `running`, `done`, `failed`, `cancelled` or `interrupted`.
    pub state: String,
    /// `all_or_nothing` or `valid_rows`.
    pub mode: String,
    pub dry_run: bool,
    pub format: String,
    /// The columns read and the fields they went to, as given when the job started.
    pub columns: serde_json::Value,
    pub rows_read: u64,
    pub rows_written: u64,
    /// Of the rows written, those that updated a record (an upsert).
    pub rows_updated: u64,
    pub rows_rejected: u64,
    pub message: Option<String>,
    /// The process that runs it (a job whose runner is gone was interrupted).
    #[serde(skip)]
    pub runner: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

/// A job to start.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub table_id: TableId,
    pub created_by: UserId,
    pub mode: &'static str,
    pub dry_run: bool,
    pub format: &'static str,
    pub columns: serde_json::Value,
    pub runner: Uuid,
}

/// How far a job has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub read: u64,
    pub written: u64,
    pub updated: u64,
    pub rejected: u64,
}

const COLUMNS: &str = "SELECT id, table_id, created_by, state, mode, dry_run, format, columns, \
     rows_read, rows_written, rows_rejected, message, runner, created_at, updated_at, \
     finished_at, expires_at, rows_updated FROM import_jobs";

fn count(r: &DbRow, i: usize) -> Result<u64, StoreError> {
    Ok(u64::try_from(r.i64(i)?).unwrap_or(0))
}

fn from_row(r: &DbRow) -> Result<Job, StoreError> {
    Ok(Job {
        id: r.uuid(0)?,
        table_id: TableId(r.uuid(1)?),
        created_by: UserId(r.uuid(2)?),
        state: r.text(3)?,
        mode: r.text(4)?,
        dry_run: r.bool(5)?,
        format: r.text(6)?,
        columns: serde_json::from_str(&r.text(7)?).unwrap_or(serde_json::Value::Null),
        rows_read: count(r, 8)?,
        rows_written: count(r, 9)?,
        rows_rejected: count(r, 10)?,
        message: r.opt_text(11)?,
        runner: r.uuid(12)?,
        created_at: r.timestamp(13)?,
        updated_at: r.timestamp(14)?,
        finished_at: r.opt_timestamp(15)?,
        expires_at: r.timestamp(16)?,
        rows_updated: count(r, 17)?,
    })
}

fn n(v: u64) -> Param {
    Param::I64(i64::try_from(v).unwrap_or(i64::MAX))
}

pub async fn create(tx: &mut Tx, new: NewJob) -> Result<Job, StoreError> {
    let id = Uuid::now_v7();
    let now = crate::now();
    let mut q = tx.sql();
    q.push(
        "INSERT INTO import_jobs (id, table_id, created_by, state, mode, dry_run, format, \
         columns, runner, created_at, updated_at, expires_at) VALUES (",
    )
    .param_list([
        Param::Uuid(id),
        Param::Uuid(new.table_id.0),
        Param::Uuid(new.created_by.0),
        Param::Text("running".into()),
        Param::Text(new.mode.into()),
        Param::Bool(new.dry_run),
        Param::Text(new.format.into()),
        Param::Text(new.columns.to_string()),
        Param::Uuid(new.runner),
        Param::Timestamp(now),
        Param::Timestamp(now),
        Param::Timestamp(now + KEPT_FOR),
    ])
    .push(")");
    tx.execute(q).await?;
    get(tx, id).await?.ok_or(StoreError::NotFound)
}

pub async fn get(tx: &mut Tx, id: Uuid) -> Result<Option<Job>, StoreError> {
    let mut q = tx.sql();
    q.push(COLUMNS)
        .push(" WHERE id = ")
        .param(Param::Uuid(id))
        .push(" AND expires_at > ")
        .param(Param::Timestamp(crate::now()));
    tx.fetch_optional(q)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Records progress (in the transaction that wrote it, so the counts are what is durable).
pub async fn progress(tx: &mut Tx, id: Uuid, counts: Counts) -> Result<(), StoreError> {
    let mut q = tx.sql();
    q.push("UPDATE import_jobs SET rows_read = ")
        .param(n(counts.read))
        .push(", rows_written = ")
        .param(n(counts.written))
        .push(", rows_updated = ")
        .param(n(counts.updated))
        .push(", rows_rejected = ")
        .param(n(counts.rejected))
        .push(", updated_at = ")
        .param(Param::Timestamp(crate::now()))
        .push(" WHERE id = ")
        .param(Param::Uuid(id));
    tx.execute(q).await?;
    Ok(())
}

/// Ends a running job in `state` with its final counts.
pub async fn finish(
    tx: &mut Tx,
    id: Uuid,
    state: &'static str,
    counts: Counts,
    message: Option<String>,
) -> Result<(), StoreError> {
    progress(tx, id, counts).await?;
    let now = crate::now();
    let mut q = tx.sql();
    q.push("UPDATE import_jobs SET state = ")
        .param(Param::Text(state.into()))
        .push(", message = ")
        .param(message.map_or(Param::Null(rampart_sql::ParamType::Text), Param::Text))
        .push(", finished_at = ")
        .param(Param::Timestamp(now))
        .push(" WHERE id = ")
        .param(Param::Uuid(id))
        .push(" AND state = 'running'");
    tx.execute(q).await?;
    Ok(())
}

/// One refused row: its number in the file, why (per column), and its cells as the file had
/// them.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    pub row: u64,
    pub errors: serde_json::Value,
    pub cells: Vec<String>,
}

fn reject_context(job: Uuid, row: u64) -> Vec<u8> {
    format!("import/{job}/reject/{row}").into_bytes()
}

pub async fn add_rejects(tx: &mut Tx, job: Uuid, rejects: &[Reject]) -> Result<(), StoreError> {
    let keys = tx.keys()?;
    for chunk in rejects.chunks(200) {
        let mut q = tx.sql();
        q.push("INSERT INTO import_rejects (job_id, row_no, errors, cells) VALUES ");
        for (i, r) in chunk.iter().enumerate() {
            let cells =
                serde_json::to_vec(&r.cells).map_err(|e| StoreError::internal(e.to_string()))?;
            let sealed = keys
                .seal(&reject_context(job, r.row), &cells)
                .map_err(|e| StoreError::Keys(e.to_string()))?;
            q.push(if i == 0 { "(" } else { ", (" })
                .param_list([
                    Param::Uuid(job),
                    n(r.row),
                    Param::Text(r.errors.to_string()),
                    Param::Bytes(sealed),
                ])
                .push(")");
        }
        tx.execute(q).await?;
    }
    Ok(())
}

/// A job's refused rows in file order, `limit` from row `after`.
pub async fn rejects(
    tx: &mut Tx,
    job: Uuid,
    after: u64,
    limit: u32,
) -> Result<Vec<Reject>, StoreError> {
    let keys = tx.keys()?;
    let mut q = tx.sql();
    q.push("SELECT row_no, errors, cells FROM import_rejects WHERE job_id = ")
        .param(Param::Uuid(job))
        .push(" AND row_no > ")
        .param(n(after))
        .push(" ORDER BY row_no LIMIT ")
        .param(Param::I64(i64::from(limit)));
    let mut out = Vec::new();
    for r in tx.fetch_all(q).await? {
        let row = count(&r, 0)?;
        let opened = keys
            .open(&reject_context(job, row), &r.bytes(2)?)
            .map_err(|e| StoreError::Keys(e.to_string()))?;
        out.push(Reject {
            row,
            errors: serde_json::from_str(&r.text(1)?).unwrap_or(serde_json::Value::Null),
            cells: serde_json::from_slice(&opened).unwrap_or_default(),
        });
    }
    Ok(out)
}

/// Deletes jobs (and their rows) past their day.
pub async fn purge_expired(tx: &mut Tx) -> Result<u64, StoreError> {
    let now = crate::now();
    let mut q = tx.sql();
    q.push("DELETE FROM import_rejects WHERE job_id IN (SELECT id FROM import_jobs WHERE expires_at <= ")
        .param(Param::Timestamp(now))
        .push(")");
    tx.execute(q).await?;
    let mut q = tx.sql();
    q.push("DELETE FROM import_jobs WHERE expires_at <= ")
        .param(Param::Timestamp(now));
    tx.execute(q).await
}
