//! An import as a job: started at once, run in the background, its counts readable while it
//! runs, cancellable, its outcome (counts, refused rows) kept for a day.
//!
//! All or nothing (and every dry run) runs the whole file in one write transaction: a row
//! refused, a cancellation, a failure or a restart leaves nothing written, and the job row's
//! `done` is committed with the records. "Valid rows" commits each batch with the job's counts,
//! so a restart leaves exactly the batches it reports.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use rampart_auth::Principal;
use rampart_auth::authz::cache::AccessCache;
use rampart_store::imports::{self, Counts, Job, Reject};
use rampart_store::{TenantStore, Tx};
use tokio::sync::mpsc;

use super::source::{Raw, Rows};
use super::write::{BATCH_ROWS, KEPT_REJECTS, Mapping, Mode, Progress, write_batch};
use crate::AppError;

/// What a job does.
#[derive(Debug, Clone)]
pub struct Spec {
    pub mode: Mode,
    pub dry_run: bool,
    pub mapping: Mapping,
}

/// Rows in batches, each row with its number in the file (the header is row 1), or the
/// reason the file cannot be read on.
type Batch = Result<Vec<(u64, Vec<Raw>)>, AppError>;

/// Reads the file on its own thread (blocking I/O), a bounded number of batches ahead.
fn read_ahead(mut rows: Rows, progress: Arc<Progress>) -> mpsc::Receiver<Batch> {
    let (tx, rx) = mpsc::channel::<Batch>(2);
    let spawned = std::thread::Builder::new()
        .name("rampart-import-read".into())
        .spawn(move || {
            loop {
                let mut batch = Vec::with_capacity(BATCH_ROWS);
                while batch.len() < BATCH_ROWS {
                    match rows.next_row() {
                        Ok(Some(r)) => batch.push((rows.read() + 1, r)),
                        Ok(None) => break,
                        Err(e) => {
                            let _ = tx.blocking_send(Err(e));
                            return;
                        }
                    }
                }
                if let Some(at) = rows.position() {
                    progress.position.store(at, Ordering::Relaxed);
                }
                let last = batch.len() < BATCH_ROWS;
                if !batch.is_empty() && tx.blocking_send(Ok(batch)).is_err() {
                    return;
                }
                if last {
                    return;
                }
            }
        });
    if spawned.is_err() {
        tracing::error!("cannot start an import's reader thread");
    }
    rx
}

/// What a job ends with.
#[derive(Debug, Default)]
struct Outcome {
    rejects: Vec<Reject>,
    /// Why it stopped early (failed, cancelled), for the job's message.
    stopped: Option<(&'static str, String)>,
}

const ROLLED_BACK: &str = "import_rolled_back";

fn rolled_back() -> AppError {
    AppError::Conflict {
        code: ROLLED_BACK,
        detail: "the import's transaction was rolled back".into(),
    }
}

fn keep(outcome: &mut Outcome, rejects: Vec<Reject>) {
    let room = KEPT_REJECTS.saturating_sub(outcome.rejects.len());
    outcome.rejects.extend(rejects.into_iter().take(room));
}

fn message(e: &AppError) -> String {
    match e {
        AppError::Invalid(i) => i
            .errors
            .iter()
            .map(|fe| fe.message.clone())
            .collect::<Vec<_>>()
            .join("; "),
        AppError::Forbidden { detail, .. } | AppError::Conflict { detail, .. } => detail.clone(),
        AppError::NotFound => "the table is gone, or you may no longer see it".into(),
        _ => "the import failed; see the server's log".into(),
    }
}

/// Runs a started job to its end and records how it ended. Never fails: what goes wrong is
/// the job's outcome.
pub async fn run(
    store: TenantStore,
    cache: Arc<AccessCache>,
    principal: Principal,
    job: Job,
    spec: Spec,
    rows: Rows,
    progress: Arc<Progress>,
) {
    let batches = read_ahead(rows, progress.clone());
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let result = if spec.mode == Mode::AllOrNothing || spec.dry_run {
        in_one_transaction(
            &store, &cache, &principal, &job, &spec, batches, &progress, &outcome,
        )
        .await
    } else {
        batch_by_batch(
            &store, &cache, &principal, &job, &spec, batches, &progress, &outcome,
        )
        .await
    };
    let mut outcome = match outcome.lock() {
        Ok(mut o) => std::mem::take(&mut *o),
        Err(_) => Outcome::default(),
    };
    if let Err(e) = &result {
        tracing::warn!(job = %job.id, error = ?e, "an import failed");
        outcome.stopped = Some(("failed", message(e)));
    }
    let counts = progress.counts();
    let (state, message) = match (&result, outcome.stopped.take()) {
        (Ok(true), _) => return,
        (_, Some((state, why))) => (state, Some(why)),
        (_, None) if spec.dry_run => (
            "done",
            Some(format!(
                "dry run: nothing was written; {} rows would be written ({} of them updates), {} refused",
                counts.written, counts.updated, counts.rejected
            )),
        ),
        (_, None) if counts.rejected > 0 && spec.mode == Mode::AllOrNothing => (
            "failed",
            Some(format!(
                "{} rows were refused, so nothing was written",
                counts.rejected
            )),
        ),
        (_, None) => ("done", None),
    };
    // Rolled back: nothing was written, whatever was about to be (a dry run says what would).
    let mut counts = counts;
    if spec.mode == Mode::AllOrNothing && !spec.dry_run {
        counts.written = 0;
        counts.updated = 0;
    }
    let id = job.id;
    let rejects = outcome.rejects;
    let ended = store
        .write_with(move |tx: &mut Tx| {
            Box::pin(async move {
                imports::add_rejects(tx, id, &rejects).await?;
                imports::finish(tx, id, state, counts, message).await?;
                Ok::<_, AppError>(())
            })
        })
        .await;
    if let Err(e) = ended {
        tracing::error!(job = %id, error = ?e, "an import's outcome could not be recorded");
    }
}

/// All or nothing, or a dry run. `Ok(true)`: committed with the job marked done.
#[allow(clippy::too_many_arguments)]
async fn in_one_transaction(
    store: &TenantStore,
    cache: &Arc<AccessCache>,
    principal: &Principal,
    job: &Job,
    spec: &Spec,
    mut batches: mpsc::Receiver<Batch>,
    progress: &Arc<Progress>,
    outcome: &Arc<Mutex<Outcome>>,
) -> Result<bool, AppError> {
    let (cache, principal, spec, progress, outcome) = (
        cache.clone(),
        principal.clone(),
        spec.clone(),
        progress.clone(),
        outcome.clone(),
    );
    let (id, table) = (job.id, job.table_id);
    let result = store
        .write_with(move |tx: &mut Tx| {
            Box::pin(async move {
                while let Some(batch) = batches.recv().await {
                    if progress.cancel.load(Ordering::Relaxed) {
                        stop(
                            &outcome,
                            "cancelled",
                            "cancelled; nothing was written".into(),
                        );
                        return Err(rolled_back());
                    }
                    let batch = match batch {
                        Ok(b) => b,
                        Err(e) => {
                            stop(
                                &outcome,
                                "failed",
                                format!("{}; nothing was written", message(&e)),
                            );
                            return Err(rolled_back());
                        }
                    };
                    progress
                        .read
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    let done = write_batch(tx, &cache, &principal, table, &spec.mapping, batch, id)
                        .await?;
                    progress.written.fetch_add(done.written, Ordering::Relaxed);
                    progress.updated.fetch_add(done.updated, Ordering::Relaxed);
                    progress
                        .rejected
                        .fetch_add(done.rejects.len() as u64, Ordering::Relaxed);
                    if let Ok(mut o) = outcome.lock() {
                        keep(&mut o, done.rejects);
                    }
                }
                if spec.dry_run || progress.rejected.load(Ordering::Relaxed) > 0 {
                    return Err(rolled_back());
                }
                imports::finish(tx, id, "done", progress.counts(), None).await?;
                Ok(true)
            })
        })
        .await;
    match result {
        Err(AppError::Conflict { code, .. }) if code == ROLLED_BACK => Ok(false),
        other => other,
    }
}

fn stop(outcome: &Mutex<Outcome>, state: &'static str, why: String) {
    if let Ok(mut o) = outcome.lock() {
        o.stopped = Some((state, why));
    }
}

/// Valid rows: each batch committed with its refused rows and the job's counts.
#[allow(clippy::too_many_arguments)]
async fn batch_by_batch(
    store: &TenantStore,
    cache: &Arc<AccessCache>,
    principal: &Principal,
    job: &Job,
    spec: &Spec,
    mut batches: mpsc::Receiver<Batch>,
    progress: &Arc<Progress>,
    outcome: &Arc<Mutex<Outcome>>,
) -> Result<bool, AppError> {
    while let Some(batch) = batches.recv().await {
        if progress.cancel.load(Ordering::Relaxed) {
            let c = progress.counts();
            stop(
                outcome,
                "cancelled",
                format!("cancelled after {} rows were written", c.written),
            );
            return Ok(false);
        }
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                let c = progress.counts();
                stop(
                    outcome,
                    "failed",
                    format!("{}; {} rows were written before", message(&e), c.written),
                );
                return Ok(false);
            }
        };
        let read = batch.len() as u64;
        let (cache, principal, mapping, progress2) = (
            cache.clone(),
            principal.clone(),
            spec.mapping.clone(),
            progress.clone(),
        );
        let (id, table) = (job.id, job.table_id);
        let kept = outcome
            .lock()
            .map(|o| o.rejects.len())
            .unwrap_or(KEPT_REJECTS);
        let done = store
            .write_with(move |tx: &mut Tx| {
                Box::pin(async move {
                    let done =
                        write_batch(tx, &cache, &principal, table, &mapping, batch, id).await?;
                    let before = progress2.counts();
                    let counts = Counts {
                        read: before.read + read,
                        written: before.written + done.written,
                        updated: before.updated + done.updated,
                        rejected: before.rejected + done.rejects.len() as u64,
                    };
                    let room = KEPT_REJECTS.saturating_sub(kept);
                    let stored: Vec<Reject> = done.rejects.iter().take(room).cloned().collect();
                    imports::add_rejects(tx, id, &stored).await?;
                    imports::progress(tx, id, counts).await?;
                    Ok::<_, AppError>((done.written, done.updated, done.rejects.len() as u64))
                })
            })
            .await?;
        progress.read.fetch_add(read, Ordering::Relaxed);
        progress.written.fetch_add(done.0, Ordering::Relaxed);
        progress.updated.fetch_add(done.1, Ordering::Relaxed);
        progress.rejected.fetch_add(done.2, Ordering::Relaxed);
    }
    // Refused rows were stored with their batches.
    Ok(false)
}

/// What starting a job needs to know.
#[derive(Debug, Clone)]
pub struct Start<'a> {
    pub table: rampart_core::TableId,
    /// The file's columns.
    pub header: Vec<String>,
    /// Columns to fields as the client named them (by name otherwise).
    pub asked: Option<&'a BTreeMap<String, Option<String>>>,
    pub format: super::source::SourceFormat,
    pub mode: Mode,
    pub dry_run: bool,
    /// The unique field an upsert matches records by (none: every row is created).
    pub upsert: Option<&'a str>,
    /// The process that will run it.
    pub runner: uuid::Uuid,
}

/// Maps the columns and records the job as running, in the caller's transaction; the
/// adapter then hands both to [`run`].
pub async fn start(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    start: Start<'_>,
) -> Result<(Job, Mapping), AppError> {
    let mapping = super::write::mapping(
        tx,
        cache,
        principal,
        start.table,
        start.header,
        start.asked,
        start.format.is_sheet(),
        start.upsert,
    )
    .await?;
    let job = imports::create(
        tx,
        imports::NewJob {
            table_id: start.table,
            created_by: principal.user.id,
            mode: start.mode.as_str(),
            dry_run: start.dry_run,
            format: start.format.as_str(),
            columns: mapping.describe(),
            runner: start.runner,
        },
    )
    .await?;
    Ok((job, mapping))
}

/// Parses a mapping given as JSON: `{"column": "field", "skipped column": null}`.
pub fn parse_mapping(text: &str) -> Result<BTreeMap<String, Option<String>>, AppError> {
    serde_json::from_str(text).map_err(|_| {
        AppError::invalid(
            "map",
            "invalid_value",
            "a JSON object of column names to field names (or null to skip a column)",
        )
    })
}
