//! Records over HTTP: create, read, update (partial, optimistic concurrency), delete, atomic
//! batches, lists with filter, sort and keyset cursors, simulate and explain. Each handler
//! extracts its input, calls one use case of `rampart_app::records` (where the caller's
//! grants, record rules and field access are applied, inside the transaction that touches
//! the records) and serializes the answer.

use axum::extract::State;
use axum::http::StatusCode;
use rampart_app::records::batch::{self, Batch, BatchDone, Change, Deletion, NewRecord};
use rampart_app::records::list::{self, ListRequest, Page};
use rampart_app::records::{self, RecordJson, explain as why};
use rampart_core::{RecordId, TableId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use utoipa::{IntoParams, ToSchema};

use crate::caller::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

/// A record as the API shows it (for the OpenAPI document; bodies are built by
/// `Record::api_form`).
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordOut {
    id: String,
    created_at: String,
    updated_at: String,
    created_by: Option<String>,
    owner: Option<String>,
    version: i64,
    /// Values by field name.
    #[schema(value_type = Object)]
    fields: Map<String, Json>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordIn {
    /// Values by field name.
    #[serde(default)]
    #[schema(value_type = Object)]
    fields: Map<String, Json>,
    /// Another owner than the caller (needs write access to `owner`).
    #[serde(default)]
    #[schema(value_type = Option<uuid::Uuid>)]
    owner: Option<UserId>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordPatch {
    /// The version the change is based on; a stale version is refused with 409.
    #[serde(default, deserialize_with = "crate::extract::integral_option")]
    version: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Object)]
    fields: Map<String, Json>,
    /// A new owner (needs write access to `owner`).
    #[serde(default)]
    #[schema(value_type = Option<uuid::Uuid>)]
    owner: Option<UserId>,
}

/// Creates a record.
#[utoipa::path(post, path = "/api/v1/tables/{table_id}/records", tag = "records", request_body = RecordIn,
    params(("table_id" = String, Path)),
    responses((status = 201, body = RecordOut)), security(("session" = []), ("token" = [])))]
pub async fn create(
    caller: Caller,
    ApiPath(table_id): ApiPath<TableId>,
    ApiJson(body): ApiJson<RecordIn>,
) -> ApiResult<(StatusCode, axum::Json<RecordJson>)> {
    let out = caller
        .write(move |tx, me, cache| {
            Box::pin(async move {
                records::create(tx, cache, me, table_id, &body.fields, body.owner).await
            })
        })
        .await?;
    Ok((StatusCode::CREATED, axum::Json(out)))
}

/// One record, with the fields the caller may read.
#[utoipa::path(get, path = "/api/v1/tables/{table_id}/records/{record_id}", tag = "records",
    params(("table_id" = String, Path), ("record_id" = String, Path)),
    responses((status = 200, body = RecordOut)), security(("session" = []), ("token" = [])))]
pub async fn get(
    caller: Caller,
    ApiPath((table_id, record_id)): ApiPath<(TableId, RecordId)>,
) -> ApiResult<axum::Json<RecordJson>> {
    let out = caller
        .lookup(move |tx, me, cache| {
            Box::pin(async move { records::get(tx, cache, me, table_id, record_id).await })
        })
        .await?;
    Ok(axum::Json(out))
}

/// Changes the given fields of a record at `version`.
#[utoipa::path(patch, path = "/api/v1/tables/{table_id}/records/{record_id}", tag = "records", request_body = RecordPatch,
    params(("table_id" = String, Path), ("record_id" = String, Path)),
    responses((status = 200, body = RecordOut)), security(("session" = []), ("token" = [])))]
pub async fn update(
    caller: Caller,
    ApiPath((table_id, record_id)): ApiPath<(TableId, RecordId)>,
    ApiJson(body): ApiJson<RecordPatch>,
) -> ApiResult<axum::Json<RecordJson>> {
    let out = caller
        .write(move |tx, me, cache| {
            Box::pin(async move {
                let change = Change {
                    id: record_id,
                    version: body.version,
                    fields: body.fields,
                    owner: body.owner,
                };
                records::update(tx, cache, me, table_id, change).await
            })
        })
        .await?;
    Ok(axum::Json(out))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// The record's current version.
    version: Option<i64>,
}

/// Deletes a record at `version`. Links pointing at it follow their field's policy.
#[utoipa::path(delete, path = "/api/v1/tables/{table_id}/records/{record_id}", tag = "records",
    params(("table_id" = String, Path), ("record_id" = String, Path), DeleteQuery),
    responses((status = 204, description = "deleted")), security(("session" = []), ("token" = [])))]
pub async fn delete(
    caller: Caller,
    ApiPath((table_id, record_id)): ApiPath<(TableId, RecordId)>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> ApiResult<StatusCode> {
    caller
        .write(move |tx, me, cache| {
            Box::pin(async move {
                records::delete(tx, cache, me, table_id, record_id, query.version).await
            })
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchUpdate {
    #[schema(value_type = uuid::Uuid)]
    id: RecordId,
    #[serde(default, deserialize_with = "crate::extract::integral_option")]
    version: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Object)]
    fields: Map<String, Json>,
    #[serde(default)]
    #[schema(value_type = Option<uuid::Uuid>)]
    owner: Option<UserId>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchDelete {
    #[schema(value_type = uuid::Uuid)]
    id: RecordId,
    #[serde(default, deserialize_with = "crate::extract::integral_option")]
    version: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchIn {
    #[serde(default)]
    create: Vec<RecordIn>,
    #[serde(default)]
    update: Vec<BatchUpdate>,
    #[serde(default)]
    delete: Vec<BatchDelete>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchOut {
    #[schema(value_type = Vec<RecordOut>)]
    created: Vec<RecordJson>,
    #[schema(value_type = Vec<RecordOut>)]
    updated: Vec<RecordJson>,
    deleted: Vec<String>,
}

/// Creates, updates and deletes up to the configured number of records at once: all or
/// nothing. Creates run first, then updates, then deletes.
#[utoipa::path(post, path = "/api/v1/tables/{table_id}/records/batch", tag = "records", request_body = BatchIn,
    params(("table_id" = String, Path)),
    responses((status = 200, body = BatchOut)), security(("session" = []), ("token" = [])))]
pub async fn batch(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(table_id): ApiPath<TableId>,
    ApiJson(body): ApiJson<BatchIn>,
) -> ApiResult<axum::Json<BatchDone>> {
    let batch = Batch {
        create: body
            .create
            .into_iter()
            .map(|c| NewRecord {
                fields: c.fields,
                owner: c.owner,
            })
            .collect(),
        update: body
            .update
            .into_iter()
            .map(|u| Change {
                id: u.id,
                version: u.version,
                fields: u.fields,
                owner: u.owner,
            })
            .collect(),
        delete: body
            .delete
            .into_iter()
            .map(|d| Deletion {
                id: d.id,
                version: d.version,
            })
            .collect(),
    };
    batch.check(state.config.limits.max_batch)?;
    let out = caller
        .write(move |tx, me, cache| {
            Box::pin(async move { batch::run(tx, cache, me, table_id, batch).await })
        })
        .await?;
    Ok(axum::Json(out))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQueryIn {
    /// An expression, e.g. `status = "open" && priority >= 3`.
    filter: Option<String>,
    /// Comma-separated field names, `-` for descending, e.g. `-created_at,title`.
    sort: Option<String>,
    /// Records per page (1 to `limits.max_page_size`, 1000 by default).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `exact` to count the matching records (refused above the configured size).
    #[param(pattern = "^exact$")]
    count: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ListOut {
    #[schema(value_type = Vec<RecordOut>)]
    records: Vec<RecordJson>,
    has_more: bool,
    next_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
}

/// Lists records: filtered, sorted, one keyset page at a time.
#[utoipa::path(get, path = "/api/v1/tables/{table_id}/records", tag = "records",
    params(("table_id" = String, Path), ListQueryIn),
    responses((status = 200, body = ListOut)), security(("session" = []), ("token" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(table_id): ApiPath<TableId>,
    ApiQuery(query): ApiQuery<ListQueryIn>,
) -> ApiResult<axum::Json<Page>> {
    let settings = state.list_settings(caller.tenant.tenant.id);
    let req = ListRequest {
        filter: query.filter,
        sort: query.sort,
        limit: query.limit,
        cursor: query.cursor,
        count: query.count,
    };
    let out = caller
        .read(move |tx, me, cache| {
            Box::pin(async move { list::list(tx, cache, me, table_id, req, &settings).await })
        })
        .await?;
    Ok(axum::Json(out))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SimulateQuery {
    /// The user whose view is simulated.
    #[param(value_type = uuid::Uuid)]
    user_id: UserId,
    filter: Option<String>,
    sort: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    cursor: Option<String>,
    #[param(pattern = "^exact$")]
    count: Option<String>,
}

/// Lists a table as another user would see it (project admins): the same path as their own
/// list, with their grants, rules and field access.
#[utoipa::path(get, path = "/api/v1/tables/{table_id}/simulate", tag = "permissions",
    params(("table_id" = String, Path), SimulateQuery),
    responses((status = 200, body = ListOut)), security(("session" = []), ("token" = [])))]
pub async fn simulate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(table_id): ApiPath<TableId>,
    ApiQuery(q): ApiQuery<SimulateQuery>,
) -> ApiResult<axum::Json<Page>> {
    let settings = state.list_settings(caller.tenant.tenant.id);
    let req = ListRequest {
        filter: q.filter,
        sort: q.sort,
        limit: q.limit,
        cursor: q.cursor,
        count: q.count,
    };
    let target = q.user_id;
    let out = caller
        .write(move |tx, me, cache| {
            Box::pin(async move {
                list::simulate(tx, cache, me, target, table_id, req, &settings).await
            })
        })
        .await?;
    Ok(axum::Json(out))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExplainQuery {
    /// The user whose access is explained.
    #[param(value_type = uuid::Uuid)]
    user_id: UserId,
    /// `read` (default), `update` or `delete`.
    #[param(pattern = "^(read|update|delete)$")]
    operation: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ClauseOut {
    /// One top-level alternative of the rule (`a || b` has two), with current names.
    clause: String,
    matched: bool,
}

#[derive(Serialize, ToSchema)]
pub struct GrantOut {
    /// `project role editor`, `permission set "Authors"`.
    source: String,
    /// Whether this grant includes the operation at all.
    allows_operation: bool,
    /// The grant's rule for the operation, with current names (none: every record).
    rule: Option<String>,
    clauses: Vec<ClauseOut>,
    /// Whether this grant allows the operation on this record.
    allows_record: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ExplainOut {
    user_id: String,
    record_id: String,
    operation: String,
    exists: bool,
    /// Whether the user may perform the operation on the record.
    allowed: bool,
    /// Why, in one sentence.
    reason: String,
    grants: Vec<GrantOut>,
    /// For `read`: the fields the user would see on this record.
    visible_fields: Vec<String>,
}

/// Explains why a user may or may not read, update or delete a record (project admins):
/// each grant, its rule and which of the rule's clauses matched.
#[utoipa::path(get, path = "/api/v1/tables/{table_id}/records/{record_id}/explain", tag = "permissions",
    params(("table_id" = String, Path), ("record_id" = String, Path), ExplainQuery),
    responses((status = 200, body = ExplainOut)), security(("session" = []), ("token" = [])))]
pub async fn explain(
    caller: Caller,
    ApiPath((table_id, record_id)): ApiPath<(TableId, RecordId)>,
    ApiQuery(q): ApiQuery<ExplainQuery>,
) -> ApiResult<axum::Json<ExplainOut>> {
    let op = why::operation(q.operation.as_deref())?;
    let target = q.user_id;
    let out = caller
        .write(move |tx, me, _| {
            Box::pin(async move { why::explain(tx, me, table_id, record_id, target, op).await })
        })
        .await?;
    Ok(axum::Json(ExplainOut {
        user_id: target.to_string(),
        record_id: record_id.to_string(),
        operation: op.as_str().to_owned(),
        exists: out.exists,
        allowed: out.allowed,
        reason: out.reason,
        grants: out
            .grants
            .into_iter()
            .map(|g| GrantOut {
                source: g.source,
                allows_operation: g.allows_operation,
                rule: g.rule,
                clauses: g
                    .clauses
                    .into_iter()
                    .map(|(clause, matched)| ClauseOut { clause, matched })
                    .collect(),
                allows_record: g.allows_record,
            })
            .collect(),
        visible_fields: out.visible_fields,
    }))
}
