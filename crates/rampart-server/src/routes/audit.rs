//! The audit trail for tenant admins: entries filtered by actor, action, table, record and
//! time, newest first in pages, and an export of every matching entry as JSON lines (itself
//! recorded in the chain).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use rampart_core::record::format_timestamp;
use rampart_store::audit::{self, Filter, Shown};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::caller::TenantAdmin;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;

/// Largest page; exports read in pages of this size too.
const MAX_PAGE: u32 = 500;

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
    fn filter(&self, ascending: bool) -> Result<Filter, ApiError> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::field(
                "limit",
                "out_of_range",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        if self.before.is_some_and(|b| b == 0 || b > i64::MAX as u64) {
            return Err(ApiError::field(
                "before",
                "out_of_range",
                "an entry number from 1",
            ));
        }
        if let Some(action) = &self.action
            && (action.is_empty()
                || action.len() > 64
                || !action
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.'))
        {
            return Err(ApiError::field(
                "action",
                "invalid",
                "an action such as record.update, or an area such as record.",
            ));
        }
        Ok(Filter {
            actor: self.actor.clone(),
            action: self.action.clone(),
            table: self.table_id,
            record: self.record_id,
            from: self.from,
            to: self.to,
            cursor: if ascending { None } else { self.before },
            through: None,
            ascending,
            limit,
        })
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
pub async fn actions(_admin: TenantAdmin) -> axum::Json<Vec<AuditActionOut>> {
    axum::Json(
        audit::Action::ALL
            .iter()
            .map(|a| AuditActionOut {
                action: a.as_str(),
                meaning: a.meaning(),
            })
            .collect(),
    )
}

/// The tenant's audit entries, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "users", params(AuditQuery),
    responses((status = 200, body = AuditPageOut)), security(("session" = []), ("token" = [])))]
pub async fn list(
    TenantAdmin(caller): TenantAdmin,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<axum::Json<AuditPageOut>> {
    let filter = query.filter(false)?;
    let limit = filter.limit as usize;
    let items = audit::read(&caller.tenant.store, filter).await?;
    let next_before = (items.len() == limit)
        .then(|| items.last().map(|s| s.entry.seq))
        .flatten();
    Ok(axum::Json(AuditPageOut {
        items: items.into_iter().map(AuditEntryOut::from).collect(),
        next_before,
    }))
}

/// Every matching entry, oldest first, as JSON lines. The export itself is recorded.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "users", params(AuditQuery),
    responses((status = 200, description = "one JSON entry per line", content_type = "application/x-ndjson", body = String)),
    security(("session" = []), ("token" = [])))]
pub async fn export(
    TenantAdmin(caller): TenantAdmin,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
    let mut filter = query.filter(true)?;
    filter.limit = MAX_PAGE;
    let store = caller.tenant.store.clone();
    let detail = serde_json::json!({
        "actor": query.actor, "action": query.action,
        "table_id": query.table_id, "record_id": query.record_id,
        "from": query.from, "to": query.to,
    });
    store
        .write(move |tx: &mut rampart_store::Tx| {
            Box::pin(async move {
                audit::record(
                    tx,
                    audit::Event::new(rampart_store::audit::Action::AuditExport).detail(detail),
                )
                .await
                .map(|_| ())
            })
        })
        .await?;
    // Streamed a page at a time, so memory stays bounded on any chain; entries appended
    // while it runs are left for the next export.
    filter.through = Some(audit::head_seq(&store).await?);
    let pages = futures::stream::try_unfold(Some(filter), move |state| {
        let store = store.clone();
        async move {
            let Some(mut filter) = state else {
                return Ok(None);
            };
            let page = audit::read(&store, filter.clone()).await?;
            let last_page = page.len() < MAX_PAGE as usize;
            filter.cursor = page.last().map(|s| s.entry.seq);
            let mut chunk = Vec::with_capacity(page.len() * 512);
            for shown in page {
                serde_json::to_writer(&mut chunk, &AuditEntryOut::from(shown))
                    .map_err(|e| rampart_store::StoreError::internal(e.to_string()))?;
                chunk.push(b'\n');
            }
            let next = (!last_page).then_some(filter);
            Ok::<_, rampart_store::StoreError>(Some((axum::body::Bytes::from(chunk), next)))
        }
    })
    .inspect_err(|e| tracing::warn!(error = %e, "an audit export stopped midway"));
    let body = axum::body::Body::from_stream(pages);
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}
