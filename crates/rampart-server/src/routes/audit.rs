//! The audit trail for tenant admins: entries filtered by actor, action, table, record and
//! time, newest first in pages, and an export of every matching entry as JSON lines (itself
//! recorded in the chain).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use rampart_app::audit;
use rampart_core::record::format_timestamp;
use rampart_store::audit::Shown;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::caller::TenantAdmin;
use crate::error::ApiResult;
use crate::extract::ApiQuery;

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryOut {
    /// Position in the chain, from 1 without gaps.
    seq: u64,
    at: String,
    /// `user:<id>`, `operator`, `system` or `anonymous`.
    actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_ip: Option<String>,
    /// `area.verb`, such as `record.update` or `auth.login_failed`.
    action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    table_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    record_id: Option<String>,
    /// The person whose personal values the detail holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    /// What changed (values opened for the reader).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    detail: Option<serde_json::Value>,
    /// The subject was erased: the detail can no longer be read.
    erased: bool,
    /// SHA-256 of the entry, hex; `prev_hash` links it to the one before.
    hash: String,
    prev_hash: String,
}

impl From<Shown> for AuditEntryOut {
    fn from(s: Shown) -> Self {
        let e = s.entry;
        Self {
            seq: e.seq,
            at: format_timestamp(&e.at),
            actor: e.actor,
            request_id: e.request_id,
            client_ip: e.client_ip,
            action: e.action,
            table_id: e.table.map(|u| u.to_string()),
            record_id: e.record.map(|u| u.to_string()),
            subject: e.subject.map(|u| u.to_string()),
            detail: s.detail,
            erased: s.erased,
            hash: hex::encode(e.hash),
            prev_hash: hex::encode(e.prev_hash),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// `user:<id>`, `operator`, `system` or `anonymous`.
    actor: Option<String>,
    /// An action (`record.update`) or an area ending in a dot (`record.`).
    #[param(pattern = "^[a-z_.]{1,64}$")]
    action: Option<String>,
    table_id: Option<Uuid>,
    record_id: Option<Uuid>,
    /// From this time (RFC 3339), inclusive.
    from: Option<DateTime<Utc>>,
    /// Until this time (RFC 3339), exclusive.
    to: Option<DateTime<Utc>>,
    /// Entries numbered below this (the previous page's `next_before`).
    #[param(minimum = 1, maximum = 9223372036854775807_u64)]
    before: Option<u64>,
    /// 1 to 500, default 100.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

impl AuditQuery {
    fn into_app(self) -> audit::AuditQuery {
        audit::AuditQuery {
            actor: self.actor,
            action: self.action,
            table: self.table_id,
            record: self.record_id,
            from: self.from,
            to: self.to,
            before: self.before,
            limit: self.limit,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPageOut {
    items: Vec<AuditEntryOut>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_before: Option<u64>,
}

/// One kind of action the audit chain records.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditActionOut {
    /// `area.verb`, as entries name it.
    action: &'static str,
    /// What an entry of this action says happened.
    meaning: &'static str,
}

/// Every action the audit chain records, with what each means (for the viewer's filters).
#[utoipa::path(get, path = "/api/v1/audit/actions", tag = "users",
    responses((status = 200, body = [AuditActionOut])), security(("session" = []), ("token" = [])))]
pub async fn actions(
    TenantAdmin(caller): TenantAdmin,
) -> ApiResult<axum::Json<Vec<AuditActionOut>>> {
    Ok(axum::Json(
        audit::actions(&caller.principal)?
            .iter()
            .map(|a| AuditActionOut {
                action: a.as_str(),
                meaning: a.meaning(),
            })
            .collect(),
    ))
}

/// The tenant's audit entries, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "users", params(AuditQuery),
    responses((status = 200, body = AuditPageOut)), security(("session" = []), ("token" = [])))]
pub async fn list(
    TenantAdmin(caller): TenantAdmin,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<axum::Json<AuditPageOut>> {
    let page = audit::page(&caller.tenant.store, &caller.principal, &query.into_app()).await?;
    Ok(axum::Json(AuditPageOut {
        items: page.items.into_iter().map(AuditEntryOut::from).collect(),
        next_before: page.next_before,
    }))
}

fn json_lines(page: Vec<Shown>) -> Result<axum::body::Bytes, rampart_app::AppError> {
    let mut chunk = Vec::with_capacity(page.len() * 512);
    for shown in page {
        serde_json::to_writer(&mut chunk, &AuditEntryOut::from(shown))
            .map_err(|e| rampart_app::AppError::internal(&e))?;
        chunk.push(b'\n');
    }
    Ok(axum::body::Bytes::from(chunk))
}

/// Every matching entry, oldest first, as JSON lines. The export itself is recorded.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "users", params(AuditQuery),
    responses((status = 200, description = "one JSON entry per line", content_type = "application/x-ndjson", body = String)),
    security(("session" = []), ("token" = [])))]
pub async fn export(
    TenantAdmin(caller): TenantAdmin,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
    let pages = audit::export(&caller.tenant.store, &caller.principal, &query.into_app())
        .await?
        .and_then(|page| async move { json_lines(page) })
        .inspect_err(|e| tracing::warn!(error = %e, "an audit export stopped midway"));
    let body = axum::body::Body::from_stream(pages);
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}
