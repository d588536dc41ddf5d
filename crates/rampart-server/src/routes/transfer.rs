//! Data out over HTTP: `GET /tables/{t}/export` streams a table as a file through
//! `rampart_app::records::export`, in one read snapshot, after the export's audit entry is
//! durable.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rampart_app::AppError;
use rampart_app::records::encode::Format;
use rampart_app::records::export::{self, ExportRequest, LinkForm, Summary};
use rampart_core::TableId;
use serde::Deserialize;
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
