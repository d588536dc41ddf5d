//! Data in and out over HTTP: `GET /tables/{t}/export` streams a table as a file through
//! `rampart_app::records::export`, in one read snapshot, after the export's audit entry is
//! durable; `POST /imports/preview` shows what an import would read from a file (spooled to a
//! temporary file within `limits.import_bytes`, read off the async workers).

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rampart_app::AppError;
use rampart_app::records::encode::Format;
use rampart_app::records::export::{self, ExportRequest, LinkForm, Summary};
use rampart_app::records::import::{self, Preview, ReadOptions, SourceFormat};
use rampart_core::TableId;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use utoipa::IntoParams;

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `csv` (the default), `tsv`, `json`, `ndjson` or `xlsx`.
    #[param(pattern = "^(csv|tsv|json|ndjson|xlsx)$")]
    format: Option<String>,
    /// A list filter, e.g. `status = "open"`.
    filter: Option<String>,
    /// A list sort, e.g. `-created_at,title`.
    sort: Option<String>,
    /// The columns by field name, comma-separated, in this order (default: every field you
    /// may read).
    fields: Option<String>,
    /// `names` (the default: linked records' primary values) or `ids`.
    #[param(pattern = "^(names|ids)$")]
    links: Option<String>,
}

fn request(q: ExportQuery) -> Result<ExportRequest, ApiError> {
    let format = match q.format.as_deref() {
        None => Format::Csv,
        Some(f) => Format::parse(f)?,
    };
    let links = match q.links.as_deref() {
        None | Some("names") => LinkForm::Names,
        Some("ids") => LinkForm::Ids,
        Some(_) => {
            return Err(ApiError::field(
                "links",
                "invalid_value",
                "one of names, ids",
            ));
        }
    };
    let fields = q.fields.map(|list| {
        list.split(',')
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect()
    });
    Ok(ExportRequest {
        format,
        filter: q.filter,
        sort: q.sort,
        fields,
        links,
    })
}

/// `attachment` with the table's name, in ASCII and in RFC 5987 form.
fn disposition(table: &str, format: Format) -> HeaderValue {
    let ascii: String = table
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = format!("{table}.{}", format.as_str())
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}.{}\"; filename*=UTF-8''{encoded}",
        format.as_str()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// Exports the records and fields you may read, as a file.
#[utoipa::path(get, path = "/api/v1/tables/{table_id}/export", tag = "records",
    params(("table_id" = String, Path), ExportQuery),
    responses((status = 200, description = "The file, in the format asked for; `x-rampart-records` says how many records it holds",
        content(
            (String = "text/csv"),
            (String = "text/tab-separated-values"),
            (Vec<Object> = "application/json"),
            (String = "application/x-ndjson"),
            (String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ))),
    security(("session" = []), ("token" = [])))]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(table_id): ApiPath<TableId>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    let req = request(query)?;
    let format = req.format;
    let permit = state.exports.clone().try_acquire_owned().map_err(|_| {
        ApiError::rate_limited(5).detail(format!(
            "{} exports are running; try again in a few seconds",
            state.config.limits.max_concurrent_exports
        ))
    })?;
    let (chunks, received) = mpsc::channel::<Vec<u8>>(4);
    let sink = export::Sink::new(chunks);
    let (told, summary) = oneshot::channel::<Summary>();
    let (proceed, go) = oneshot::channel::<()>();
    let reader = caller.clone();
    let job = tokio::spawn(async move {
        let _permit = permit;
        reader
            .read(move |tx, me, cache| {
                Box::pin(async move {
                    let gate = move |s: Summary| async move {
                        told.send(s).map_err(|_| AppError::Cancelled)?;
                        go.await.map_err(|_| AppError::Cancelled)
                    };
                    export::export(tx, cache, me, table_id, req, gate, &sink).await
                })
            })
            .await
    });
    let Ok(summary) = summary.await else {
        // The export ended before its gate: refused, or failed.
        return Err(match job.await {
            Ok(Err(e)) => e,
            Ok(Ok(_)) => ApiError::internal(&"the export ended before it began"),
            Err(e) => ApiError::internal(&e),
        });
    };
    let entry = summary.clone();
    caller
        .write(move |tx, _me, _cache| Box::pin(async move { export::record(tx, &entry).await }))
        .await?;
    if proceed.send(()).is_err() {
        return Err(ApiError::internal(&"the export stopped before it began"));
    }
    let body = futures::stream::unfold((received, Some(job)), |(mut received, job)| async move {
        let job = job?;
        match received.recv().await {
            Some(chunk) => Some((
                Ok::<_, std::io::Error>(Bytes::from(chunk)),
                (received, Some(job)),
            )),
            // Every chunk is out: the export's own outcome decides whether the body
            // ends cleanly or breaks off (the client sees an incomplete transfer).
            None => {
                let failure = match job.await {
                    Ok(Ok(_)) => return None,
                    Ok(Err(e)) => {
                        tracing::warn!(error = ?e, "an export failed part-way");
                        std::io::Error::other("the export failed")
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "an export task was lost");
                        std::io::Error::other("the export failed")
                    }
                };
                Some((Err(failure), (received, None)))
            }
        }
    });
    let mut response = (StatusCode::OK, Body::from_stream(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.media_type()),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        disposition(&summary.table_name, format),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::HeaderName::from_static("x-rampart-records"),
        HeaderValue::from(summary.records),
    );
    Ok(response)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PreviewQuery {
    /// `csv`, `tsv`, `xlsx`, `json` or `ndjson` (default: detected from the content).
    #[param(pattern = "^(csv|tsv|xlsx|json|ndjson)$")]
    format: Option<String>,
    /// One character, or `tab` (CSV; default: detected).
    delimiter: Option<String>,
    /// An encoding label, e.g. `utf-8`, `utf-16le`, `windows-1252` (default: detected).
    encoding: Option<String>,
    /// The workbook's sheet to read (default: the first).
    sheet: Option<String>,
    /// A table to map the columns to (by field name, without regard to case).
    #[param(value_type = Option<uuid::Uuid>)]
    table_id: Option<TableId>,
}

/// What a preview shows (for the OpenAPI document; the body is `rampart_app`'s `Preview`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PreviewOut {
    format: String,
    delimiter: Option<String>,
    encoding: Option<String>,
    sheet: Option<String>,
    sheets: Option<Vec<String>>,
    /// Per column: `name`, `field_name`, the inferred `type` and `options`, `maps_to` (with
    /// `table_id`) and `empty`.
    #[schema(value_type = Vec<Object>)]
    columns: Vec<serde_json::Value>,
    /// The first rows, one value per column.
    rows: Vec<Vec<serde_json::Value>>,
    rows_sampled: u64,
    more_rows: bool,
}

pub(crate) fn read_options(
    format: Option<&str>,
    delimiter: Option<&str>,
    encoding: Option<String>,
    sheet: Option<String>,
) -> Result<ReadOptions, ApiError> {
    let format = format.map(SourceFormat::parse).transpose()?;
    let delimiter = match delimiter {
        None => None,
        Some("tab" | "\t") => Some(b'\t'),
        Some(d) if d.len() == 1 && d.is_ascii() && !matches!(d, "\"" | "\n" | "\r") => {
            Some(d.as_bytes()[0])
        }
        Some(_) => {
            return Err(ApiError::field(
                "delimiter",
                "invalid_value",
                "one ASCII character other than a quote or a line break, or \"tab\"",
            ));
        }
    };
    Ok(ReadOptions {
        format,
        delimiter,
        encoding,
        sheet,
    })
}

/// Writes a request body to a temporary file, refusing it past `max` bytes.
pub(crate) async fn spool(body: Body, max: u64) -> Result<std::fs::File, ApiError> {
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    let file = tempfile::tempfile().map_err(|e| ApiError::internal(&e))?;
    let mut file = tokio::fs::File::from_std(file);
    let mut stream = body.into_data_stream();
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::bad_request("body_unreadable", "the file could not be read to its end")
        })?;
        total += chunk.len() as u64;
        if total > max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "file_too_large",
                "File too large",
            )
            .detail(format!("an import's file may hold at most {max} bytes")));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal(&e))?;
    }
    if total == 0 {
        return Err(ApiError::field(
            "file",
            "empty_file",
            "send the file as the request body",
        ));
    }
    file.flush().await.map_err(|e| ApiError::internal(&e))?;
    let mut file = file.into_std().await;
    use std::io::Seek;
    file.rewind().map_err(|e| ApiError::internal(&e))?;
    Ok(file)
}

/// Shows what an import would read from a file, writing nothing: the detected format,
/// delimiter, encoding and sheets, each column with the type inferred from the first 1000 rows
/// (and, with `table_id`, the field it maps to), and the first 20 rows.
#[utoipa::path(post, path = "/api/v1/imports/preview", tag = "records",
    params(PreviewQuery),
    request_body(content = String, description = "The file", content_type = "application/octet-stream"),
    responses((status = 200, body = PreviewOut)),
    security(("session" = []), ("token" = [])))]
pub async fn preview(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PreviewQuery>,
    body: Body,
) -> ApiResult<axum::Json<Preview>> {
    let options = read_options(
        q.format.as_deref(),
        q.delimiter.as_deref(),
        q.encoding,
        q.sheet,
    )?;
    let limits = &state.config.limits;
    let file = spool(body, limits.import_bytes).await?;
    let import_limits = limits.import_limits();
    let mut preview =
        tokio::task::spawn_blocking(move || import::preview_file(file, &options, &import_limits))
            .await
            .map_err(|e| ApiError::internal(&e))??;
    if let Some(table) = q.table_id {
        preview = caller
            .lookup(move |tx, me, cache| {
                Box::pin(async move {
                    import::map_columns(tx, cache, me, table, &mut preview).await?;
                    Ok(preview)
                })
            })
            .await?;
    }
    Ok(axum::Json(preview))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// `csv`, `tsv`, `xlsx`, `json` or `ndjson` (default: detected from the content).
    #[param(pattern = "^(csv|tsv|xlsx|json|ndjson)$")]
    format: Option<String>,
    /// One character, or `tab` (CSV; default: detected).
    delimiter: Option<String>,
    /// An encoding label, e.g. `utf-8`, `utf-16le`, `windows-1252` (default: detected).
    encoding: Option<String>,
    /// The workbook's sheet to read (default: the first).
    sheet: Option<String>,
    /// `all_or_nothing` (the default: one refused row and nothing is written) or
    /// `valid_rows` (write the valid rows; the refused ones are kept as a file).
    #[param(pattern = "^(all_or_nothing|valid_rows)$")]
    mode: Option<String>,
    /// Check every row and report what would be refused, writing nothing.
    dry_run: Option<bool>,
    /// Columns to fields, as a JSON object: `{"Column": "field", "Skipped": null}` (default:
    /// by name, without regard to case).
    map: Option<String>,
    /// Upsert by this unique field: a row whose value of it matches a record you may read
    /// updates that record (you need update rights too), the other rows are created.
    upsert: Option<String>,
}

/// An import job as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ImportOut {
    #[schema(value_type = uuid::Uuid)]
    id: uuid::Uuid,
    #[schema(value_type = uuid::Uuid)]
    table_id: TableId,
    #[schema(value_type = uuid::Uuid)]
    created_by: rampart_core::UserId,
    /// `running`, `done`, `failed`, `cancelled` or `interrupted` (the server stopped while it
    /// ran: in `all_or_nothing` mode nothing was written; in `valid_rows` mode what the counts
    /// say was).
    state: String,
    mode: String,
    dry_run: bool,
    format: String,
    /// Each column of the file and the field it goes to (null: not imported).
    #[schema(value_type = Vec<Object>)]
    columns: serde_json::Value,
    rows_read: u64,
    /// Rows created or updated.
    rows_written: u64,
    /// Of the rows written, those that updated a record (an upsert's matches).
    rows_updated: u64,
    rows_rejected: u64,
    message: Option<String>,
    /// Seconds left at the rate so far, from how far into the file reading has come (while
    /// it runs, for CSV and TSV).
    estimated_seconds_left: Option<u64>,
    /// The share of the file read so far, 0 to 1 (while it runs, when known).
    share_read: Option<f64>,
    created_at: String,
    finished_at: Option<String>,
    /// When the job and its refused rows are deleted.
    expires_at: String,
}

fn job_out(state: &AppState, job: rampart_store::imports::Job) -> ImportOut {
    let live = match state.imports.lock() {
        Ok(running) => running.get(&job.id).cloned(),
        Err(_) => None,
    };
    let mut out_state = job.state.clone();
    let (mut read, mut written, mut updated, mut rejected) = (
        job.rows_read,
        job.rows_written,
        job.rows_updated,
        job.rows_rejected,
    );
    if job.state == "running" {
        match &live {
            Some(p) => {
                let c = p.counts();
                (read, written, updated, rejected) = (c.read, c.written, c.updated, c.rejected);
            }
            None if job.runner != state.runner => out_state = "interrupted".to_owned(),
            None => {}
        }
    }
    let estimated_seconds_left = match (out_state.as_str(), &live) {
        ("running", Some(p)) => p.seconds_left(
            (chrono::Utc::now() - job.created_at)
                .to_std()
                .unwrap_or_default(),
        ),
        _ => None,
    };
    let share_read = match (out_state.as_str(), &live) {
        ("running", Some(p)) => p.share_read(),
        _ => None,
    };
    ImportOut {
        id: job.id,
        table_id: job.table_id,
        created_by: job.created_by,
        state: out_state,
        mode: job.mode,
        dry_run: job.dry_run,
        format: job.format,
        columns: job.columns,
        rows_read: read,
        rows_written: written,
        rows_updated: updated,
        rows_rejected: rejected,
        message: job.message,
        estimated_seconds_left,
        share_read,
        created_at: rampart_core::record::format_timestamp(&job.created_at),
        finished_at: job
            .finished_at
            .map(|t| rampart_core::record::format_timestamp(&t)),
        expires_at: rampart_core::record::format_timestamp(&job.expires_at),
    }
}

/// Starts importing a file into a table: answers at once with the job, which reads,
/// checks and writes in the background (`GET /api/v1/imports/{id}` for its counts).
#[utoipa::path(post, path = "/api/v1/tables/{table_id}/imports", tag = "records",
    params(("table_id" = String, Path), ImportQuery),
    request_body(content = String, description = "The file", content_type = "application/octet-stream"),
    responses((status = 202, body = ImportOut)),
    security(("session" = []), ("token" = [])))]
pub async fn start_import(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(table_id): ApiPath<TableId>,
    ApiQuery(q): ApiQuery<ImportQuery>,
    body: Body,
) -> ApiResult<(StatusCode, axum::Json<ImportOut>)> {
    use rampart_app::records::import::job;
    use rampart_app::records::import::write::Mode;
    let options = read_options(
        q.format.as_deref(),
        q.delimiter.as_deref(),
        q.encoding,
        q.sheet,
    )?;
    let mode = Mode::parse(q.mode.as_deref())?;
    let asked = q.map.as_deref().map(job::parse_mapping).transpose()?;
    let dry_run = q.dry_run.unwrap_or(false);
    let upsert = q.upsert;
    import_slot(&state)?;
    let limits = &state.config.limits;
    let file = spool(body, limits.import_bytes).await?;
    let import_limits = limits.import_limits();
    let (detected, rows) =
        tokio::task::spawn_blocking(move || import::source::open(file, &options, &import_limits))
            .await
            .map_err(|e| ApiError::internal(&e))??;
    let header = rows.header().to_vec();
    let (size, format, runner) = (detected.bytes, detected.format, state.runner);
    let (job, mapping) = caller
        .write(move |tx, me, cache| {
            Box::pin(async move {
                let start = job::Start {
                    table: table_id,
                    header,
                    asked: asked.as_ref(),
                    format,
                    mode,
                    dry_run,
                    upsert: upsert.as_deref(),
                    runner,
                };
                job::start(tx, cache, me, start).await
            })
        })
        .await?;
    let out = launch(&state, &caller, job, mapping, mode, dry_run, rows, size);
    Ok((StatusCode::ACCEPTED, axum::Json(out)))
}

/// Refuses a new import while `limits.max_concurrent_imports` run on this node.
fn import_slot(state: &AppState) -> Result<(), ApiError> {
    let running = state.imports.lock().map(|r| r.len()).unwrap_or(usize::MAX);
    if running >= state.config.limits.max_concurrent_imports {
        return Err(ApiError::rate_limited(5).detail(format!(
            "{running} imports are running; try again when one has finished"
        )));
    }
    Ok(())
}

/// Runs a started job in the background, in the caller's audit scope.
#[allow(clippy::too_many_arguments)]
fn launch(
    state: &AppState,
    caller: &Caller,
    job: rampart_store::imports::Job,
    mapping: rampart_app::records::import::write::Mapping,
    mode: rampart_app::records::import::write::Mode,
    dry_run: bool,
    rows: import::source::Rows,
    size: u64,
) -> ImportOut {
    use rampart_app::records::import::job::{self, Spec};
    use rampart_app::records::import::write as import_write;
    let progress = std::sync::Arc::new(import_write::Progress::default());
    progress
        .size
        .store(size, std::sync::atomic::Ordering::Relaxed);
    if let Ok(mut r) = state.imports.lock() {
        r.insert(job.id, progress.clone());
    }
    let snapshot = rampart_store::audit::snapshot();
    let context = rampart_store::audit::AuditContext::new(
        snapshot.request_id,
        snapshot.client_ip,
        snapshot.actor,
    );
    let (store, cache, principal) = (
        caller.tenant.store.clone(),
        caller.tenant.access.clone(),
        caller.principal.clone(),
    );
    let spec = Spec {
        mode,
        dry_run,
        mapping,
    };
    let (registry, started) = (state.imports.clone(), job.clone());
    tokio::spawn(rampart_store::audit::scope(context, async move {
        let id = started.id;
        job::run(store, cache, principal, started, spec, rows, progress).await;
        if let Ok(mut r) = registry.lock() {
            r.remove(&id);
        }
    }));
    job_out(state, job)
}

/// An import job: its state and counts (live while it runs).
#[utoipa::path(get, path = "/api/v1/imports/{import_id}", tag = "records",
    params(("import_id" = String, Path)),
    responses((status = 200, body = ImportOut)), security(("session" = []), ("token" = [])))]
pub async fn get_import(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> ApiResult<axum::Json<ImportOut>> {
    let job = caller
        .lookup(move |tx, me, _| Box::pin(async move { import::visible_job(tx, me, id).await }))
        .await?;
    Ok(axum::Json(job_out(&state, job)))
}

/// Cancels a running import: in `all_or_nothing` mode nothing is written; in `valid_rows`
/// mode the batches written so far stay.
#[utoipa::path(post, path = "/api/v1/imports/{import_id}/cancel", tag = "records",
    params(("import_id" = String, Path)),
    responses((status = 202, body = ImportOut)), security(("session" = []), ("token" = [])))]
pub async fn cancel_import(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> ApiResult<(StatusCode, axum::Json<ImportOut>)> {
    let job = caller
        .lookup(move |tx, me, _| Box::pin(async move { import::visible_job(tx, me, id).await }))
        .await?;
    let live = state.imports.lock().ok().and_then(|r| r.get(&id).cloned());
    match live {
        Some(p) if job.state == "running" => {
            p.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        _ => {
            return Err(ApiError::conflict(
                "import_not_running",
                "this import is not running here: it has ended or was interrupted",
            ));
        }
    }
    Ok((StatusCode::ACCEPTED, axum::Json(job_out(&state, job))))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RejectsQuery {
    /// `csv` (the default: every refused row kept, as a file) or `json` (a page of them).
    #[param(pattern = "^(csv|json)$")]
    format: Option<String>,
    /// With `json`: rows after this row number (the page's `next_after`).
    after: Option<u64>,
    /// With `json`: at most this many rows (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// A page of refused rows.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RejectsOut {
    items: Vec<RejectOut>,
    /// Pass as `after` for the next page; absent on the last.
    next_after: Option<u64>,
}

/// One refused row: its number in the file, why per column, and its cells (one per column of
/// the job's `columns`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct RejectOut {
    row: u64,
    /// `{"column": …, "code": …, "message": …}` for each problem (`column` null: the row).
    #[schema(value_type = Vec<Object>)]
    errors: serde_json::Value,
    cells: Vec<String>,
}

/// The rows an import refused: as CSV, the file's columns and an `errors` column saying why
/// (`column: code: message`), each row with its number in the file; or as JSON pages.
#[utoipa::path(get, path = "/api/v1/imports/{import_id}/rejects", tag = "records",
    params(("import_id" = String, Path), RejectsQuery),
    responses((status = 200, description = "The refused rows",
        content((String = "text/csv"), (RejectsOut = "application/json")))),
    security(("session" = []), ("token" = [])))]
pub async fn import_rejects(
    caller: Caller,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiQuery(q): ApiQuery<RejectsQuery>,
) -> ApiResult<Response> {
    match q.format.as_deref() {
        None | Some("csv") => {}
        Some("json") => {
            let limit = q.limit.unwrap_or(100);
            if !(1..=1000).contains(&limit) {
                return Err(ApiError::field(
                    "limit",
                    "out_of_range",
                    "between 1 and 1000",
                ));
            }
            let after = q.after.unwrap_or(0);
            let page = caller
                .read(move |tx, me, _| {
                    Box::pin(async move {
                        import::visible_job(tx, me, id).await?;
                        let mut page =
                            rampart_store::imports::rejects(tx, id, after, limit + 1).await?;
                        let more = page.len() > limit as usize;
                        page.truncate(limit as usize);
                        Ok::<_, AppError>((page, more))
                    })
                })
                .await?;
            let (page, more) = page;
            let next_after = more.then(|| page.last().map(|r| r.row)).flatten();
            let items = page
                .into_iter()
                .map(|r| RejectOut {
                    row: r.row,
                    errors: r.errors,
                    cells: r.cells,
                })
                .collect();
            let mut response = axum::Json(RejectsOut { items, next_after }).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return Ok(response);
        }
        Some(_) => {
            return Err(ApiError::field("format", "invalid_value", "csv or json"));
        }
    }
    let text = caller
        .read(move |tx, me, _| {
            Box::pin(async move {
                let job = import::visible_job(tx, me, id).await?;
                let mut w = csv::WriterBuilder::new()
                    .terminator(csv::Terminator::CRLF)
                    .from_writer(Vec::new());
                let internal = |e: csv::Error| AppError::internal(&e);
                let mut header: Vec<String> = vec!["row".into()];
                if let Some(columns) = job.columns.as_array() {
                    header.extend(
                        columns
                            .iter()
                            .map(|c| c["column"].as_str().unwrap_or_default().to_owned()),
                    );
                }
                header.push("errors".into());
                w.write_record(
                    header
                        .iter()
                        .map(|h| rampart_app::records::cells::guard(h).into_owned()),
                )
                .map_err(internal)?;
                let mut after = 0;
                loop {
                    let page = rampart_store::imports::rejects(tx, id, after, 1000).await?;
                    let Some(last) = page.last() else { break };
                    after = last.row;
                    for r in &page {
                        let why: Vec<String> = r
                            .errors
                            .as_array()
                            .map(|errors| {
                                errors
                                    .iter()
                                    .map(|e| {
                                        format!(
                                            "{}: {}: {}",
                                            e["column"].as_str().unwrap_or("row"),
                                            e["code"].as_str().unwrap_or_default(),
                                            e["message"].as_str().unwrap_or_default()
                                        )
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        let mut record = vec![r.row.to_string()];
                        record.extend(
                            r.cells
                                .iter()
                                .map(|c| rampart_app::records::cells::guard(c).into_owned()),
                        );
                        record
                            .push(rampart_app::records::cells::guard(&why.join("; ")).into_owned());
                        w.write_record(&record).map_err(internal)?;
                    }
                }
                w.into_inner()
                    .map_err(|e| AppError::internal(&e.to_string()))
            })
        })
        .await?;
    let mut response = (StatusCode::OK, text).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"rejected-rows.csv\""),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NewTableImportQuery {
    /// The new table's name.
    name: String,
    /// Types to use instead of the inferred ones, as a JSON object: `{"Column": "text",
    /// "Other": "skip"}` (types that need no options, or `skip`).
    types: Option<String>,
    /// `csv`, `tsv`, `xlsx`, `json` or `ndjson` (default: detected from the content).
    #[param(pattern = "^(csv|tsv|xlsx|json|ndjson)$")]
    format: Option<String>,
    /// One character, or `tab` (CSV; default: detected).
    delimiter: Option<String>,
    /// An encoding label (default: detected).
    encoding: Option<String>,
    /// The workbook's sheet to read (default: the first).
    sheet: Option<String>,
    /// `all_or_nothing` (the default) or `valid_rows`.
    #[param(pattern = "^(all_or_nothing|valid_rows)$")]
    mode: Option<String>,
}

/// Creates a table from a file and imports it: a field per column, with the type the
/// preview infers (or the one `types` names), then the same job as an import into an
/// existing table. The table stays (empty) if an all-or-nothing import refuses a row.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/imports", tag = "records",
    params(("project_id" = String, Path), NewTableImportQuery),
    request_body(content = String, description = "The file", content_type = "application/octet-stream"),
    responses((status = 202, body = ImportOut)),
    security(("session" = []), ("token" = [])))]
pub async fn import_new_table(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project_id): ApiPath<rampart_core::ProjectId>,
    ApiQuery(q): ApiQuery<NewTableImportQuery>,
    body: Body,
) -> ApiResult<(StatusCode, axum::Json<ImportOut>)> {
    use rampart_app::records::import::job;
    use rampart_app::records::import::write::Mode;
    rampart_core::names::validate_display_name("name", &q.name)?;
    let options = read_options(
        q.format.as_deref(),
        q.delimiter.as_deref(),
        q.encoding,
        q.sheet,
    )?;
    let mode = Mode::parse(q.mode.as_deref())?;
    let types: Option<std::collections::BTreeMap<String, String>> = match q.types.as_deref() {
        None => None,
        Some(t) => Some(serde_json::from_str(t).map_err(|_| {
            ApiError::field(
                "types",
                "invalid_value",
                "a JSON object of column names to type names",
            )
        })?),
    };
    import_slot(&state)?;
    let limits = &state.config.limits;
    let file = spool(body, limits.import_bytes).await?;
    let import_limits = limits.import_limits();
    let (preview, detected, rows) = tokio::task::spawn_blocking(move || {
        use std::io::Seek;
        let copy = file.try_clone().map_err(|e| AppError::internal(&e))?;
        let preview = import::preview_file(copy, &options, &import_limits)?;
        let mut file = file;
        file.rewind().map_err(|e| AppError::internal(&e))?;
        let (detected, rows) = import::source::open(file, &options, &import_limits)?;
        Ok::<_, AppError>((preview, detected, rows))
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    let fields = import::new_fields(&preview, types.as_ref())?;
    let header = rows.header().to_vec();
    let (size, format, runner) = (detected.bytes, detected.format, state.runner);
    let name = q.name;
    let (job, mapping) = caller
        .write(move |tx, me, cache| {
            Box::pin(async move {
                let map: std::collections::BTreeMap<String, Option<String>> = header
                    .iter()
                    .map(|c| {
                        let field = fields
                            .iter()
                            .find(|(col, _)| col == c)
                            .map(|(_, f)| f.name.clone());
                        (c.clone(), field)
                    })
                    .collect();
                let new: Vec<_> = fields.into_iter().map(|(_, f)| f).collect();
                let table =
                    rampart_app::schema::create_table(tx, me, project_id, name, new).await?;
                let start = job::Start {
                    table: table.id,
                    header,
                    asked: Some(&map),
                    format,
                    mode,
                    dry_run: false,
                    upsert: None,
                    runner,
                };
                job::start(tx, cache, me, start).await
            })
        })
        .await?;
    let out = launch(&state, &caller, job, mapping, mode, false, rows, size);
    Ok((StatusCode::ACCEPTED, axum::Json(out)))
}
