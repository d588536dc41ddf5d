//! Records: create, read, update (partial, optimistic concurrency), delete, atomic batches,
//! and lists with filter, sort and keyset cursors. Every path goes through
//! [`record_ops::scoped`]: the caller's grants, record rules and field access, inside the
//! transaction that touches the records.

use axum::extract::State;
use axum::http::StatusCode;
use rampart_auth::authz::definition::Op;
use rampart_auth::authz::query::QueryScope;
use rampart_core::{FieldError, RecordId, TableId, UserId};
use rampart_rules::sort::Sort;
use rampart_store::Tx;
use rampart_store::records::{self, ListQuery};
use rampart_store::schema::load_table;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use utoipa::{IntoParams, ToSchema};

use super::record_ops::{RecordJson, in_op, scoped};
use crate::caller::Caller;
use crate::cursor::{self, Binding};
use crate::error::{ApiError, ApiResult};
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

fn version_required() -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_REQUIRED,
        "version_required",
        "Precondition required",
    )
    .detail("send the record's current version to change or delete it")
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
    let principal = caller.principal.clone();
    let cache = caller.tenant.access.clone();
    let out = caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let scoped = scoped(tx, &cache, &principal, table_id).await?;
                scoped.create(tx, &body.fields, body.owner, "fields").await
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
    let principal = caller.principal.clone();
    let cache = caller.tenant.access.clone();
    let out = caller
        .tenant
        .lookup(move |tx: &mut Tx| {
            Box::pin(async move {
                let scoped = scoped(tx, &cache, &principal, table_id).await?;
                scoped.get(tx, record_id).await
            })
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
    let version = body.version.ok_or_else(version_required)?;
    let principal = caller.principal.clone();
    let cache = caller.tenant.access.clone();
    let out = caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let scoped = scoped(tx, &cache, &principal, table_id).await?;
                scoped
                    .update(tx, record_id, version, &body.fields, body.owner, "fields")
                    .await
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
    let version = query.version.ok_or_else(version_required)?;
    let principal = caller.principal.clone();
    let cache = caller.tenant.access.clone();
    caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let scoped = scoped(tx, &cache, &principal, table_id).await?;
                scoped.delete(tx, record_id, version).await
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
) -> ApiResult<axum::Json<BatchOut>> {
    let total = body.create.len() + body.update.len() + body.delete.len();
    let max = state.config.limits.max_batch;
    if total > max {
        return Err(ApiError::field(
            "",
            "batch_too_large",
            format!("at most {max} operations per batch"),
        ));
    }
    let mut missing = Vec::new();
    for (i, u) in body.update.iter().enumerate() {
        if u.version.is_none() {
            missing.push(format!("update[{i}]"));
        }
    }
    for (i, d) in body.delete.iter().enumerate() {
        if d.version.is_none() {
            missing.push(format!("delete[{i}]"));
        }
    }
    if !missing.is_empty() {
        return Err(version_required().detail(format!("version missing in {}", missing.join(", "))));
    }
    let principal = caller.principal.clone();
    let cache = caller.tenant.access.clone();
    let out = caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let scoped = scoped(tx, &cache, &principal, table_id).await?;
                let mut out = BatchOut {
                    created: vec![],
                    updated: vec![],
                    deleted: vec![],
                };
                let mut bulk = Vec::new();
                for (i, c) in body.create.into_iter().enumerate() {
                    let op = format!("create[{i}]");
                    match c.owner {
                        // An owner change goes through the single-record path and its checks.
                        Some(owner) => {
                            let r = scoped
                                .create(tx, &c.fields, Some(owner), &format!("{op}.fields"))
                                .await
                                .map_err(|e| in_op(&op, e))?;
                            out.created.push(r);
                        }
                        None => bulk.push((op, c.fields)),
                    }
                }
                if !bulk.is_empty() {
                    out.created.extend(scoped.create_many(tx, bulk).await?);
                }
                for (i, u) in body.update.into_iter().enumerate() {
                    let op = format!("update[{i}]");
                    let r = scoped
                        .update(
                            tx,
                            u.id,
                            u.version.unwrap_or_default(),
                            &u.fields,
                            u.owner,
                            &format!("{op}.fields"),
                        )
                        .await
                        .map_err(|e| in_op(&op, e))?;
                    out.updated.push(r);
                }
                for (i, d) in body.delete.into_iter().enumerate() {
                    scoped
                        .delete(tx, d.id, d.version.unwrap_or_default())
                        .await
                        .map_err(|e| in_op(&format!("delete[{i}]"), e))?;
                    out.deleted.push(d.id.to_string());
                }
                Ok(out)
            })
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
) -> ApiResult<axum::Json<ListOut>> {
    let req = page_request(
        &state,
        query,
        caller.tenant.tenant.id,
        caller.principal.user.id,
    )?;
    let principal = caller.principal.clone();
    let cache = caller.tenant.access.clone();
    let out = caller
        .tenant
        .read(move |tx: &mut Tx| {
            Box::pin(async move { page(tx, &cache, &principal, table_id, req).await })
        })
        .await?;
    Ok(axum::Json(out))
}

/// A validated list request.
struct PageRequest {
    query: ListQueryIn,
    parsed: Option<rampart_rules::Expr>,
    limit: u32,
    exact: bool,
    limits: crate::config::LimitsConfig,
    key: std::sync::Arc<Vec<u8>>,
    tenant: rampart_core::TenantId,
    /// Who the cursor is bound to: the caller (also when simulating another user).
    cursor_user: UserId,
}

fn page_request(
    state: &AppState,
    query: ListQueryIn,
    tenant: rampart_core::TenantId,
    cursor_user: UserId,
) -> ApiResult<PageRequest> {
    let limits = state.config.limits.clone();
    let limit = query.limit.unwrap_or(limits.default_page_size);
    if limit == 0 || limit > limits.max_page_size {
        return Err(ApiError::field(
            "limit",
            "out_of_range",
            format!("must be between 1 and {}", limits.max_page_size),
        ));
    }
    let exact = match query.count.as_deref() {
        None => false,
        Some("exact") => true,
        Some(_) => {
            return Err(ApiError::field(
                "count",
                "invalid_value",
                "the only count is \"exact\"",
            ));
        }
    };
    let parsed = match &query.filter {
        Some(text) => Some(rampart_rules::parse(text).map_err(|e| {
            ApiError::invalid(
                FieldError::new("filter", "invalid_filter", e.message.clone())
                    .at(e.position)
                    .into(),
            )
        })?),
        None => None,
    };
    Ok(PageRequest {
        query,
        parsed,
        limit,
        exact,
        limits,
        key: state.cursor_key.clone(),
        tenant,
        cursor_user,
    })
}

/// One page of a table as `principal` may see it: the caller, or the user an admin simulates.
async fn page(
    tx: &mut Tx,
    cache: &rampart_auth::authz::cache::AccessCache,
    principal: &rampart_auth::Principal,
    table_id: TableId,
    req: PageRequest,
) -> Result<ListOut, ApiError> {
    let PageRequest {
        query,
        parsed,
        limit,
        exact,
        limits,
        key,
        tenant,
        cursor_user,
    } = req;
    let scoped = scoped(tx, cache, principal, table_id).await?;
    if !scoped.access.allows(Op::Read) {
        return Err(ApiError::forbidden(
            "forbidden",
            "your permissions do not allow reading this table",
        ));
    }
    let table = scoped.access.table.clone();
    let view = QueryScope::load(
        tx,
        cache,
        scoped.facts.clone(),
        scoped.access.clone(),
        parsed.as_ref(),
    )
    .await?;
    let sort = match query.sort.as_deref() {
        Some(s) => view.parse_sort(s)?,
        None => Sort::default(),
    };
    let (pred, filter_text) = match &parsed {
        None => (None, String::new()),
        Some(expr) => (Some(view.check_filter(expr)?), expr.to_string()),
    };
    // A simulated list's cursors are the admin's, and differ from their own list's.
    let bound_filter = if cursor_user == principal.user.id {
        filter_text.clone()
    } else {
        format!("as {}: {filter_text}", principal.user.id)
    };
    let binding = Binding {
        tenant,
        table: &table,
        user: cursor_user,
        sort: &sort,
        filter: &bound_filter,
    };
    let after = match &query.cursor {
        Some(c) => Some(cursor::decode(&key, &binding, c)?),
        None => None,
    };
    let dialect = tx.dialect();
    let visible = scoped.visible_sql(tx)?;
    let user_filter = match &pred {
        Some(p) => Some(
            rampart_rules::compile(p, &scoped.facts.ctx, dialect)
                .map_err(|e| ApiError::internal(&e))?,
        ),
        None => None,
    };
    // A top-level OR of the caller's rules becomes one index range scan per branch.
    let branches: Vec<rampart_sql::Sql> = match scoped.access.read_branches() {
        Some(parts) if sort.keys.is_empty() => parts
            .iter()
            .map(|p| rampart_rules::compile(p, &scoped.facts.ctx, dialect))
            .collect::<Result<_, _>>()
            .map_err(|e| ApiError::internal(&e))?,
        _ => Vec::new(),
    };
    let page_filter = if branches.is_empty() {
        None
    } else {
        user_filter.clone()
    };
    let combined = match (visible, user_filter) {
        (None, None) => None,
        (Some(a), None) | (None, Some(a)) => Some(a),
        (Some(a), Some(b)) => {
            let mut c = tx.sql();
            c.push("(").append(a).push(") AND (").append(b).push(")");
            Some(c)
        }
    };
    let count = if exact {
        let n = records::count(tx, &table, combined.clone(), limits.max_exact_count).await?;
        if n > limits.max_exact_count {
            return Err(ApiError::field(
                "count",
                "count_too_large",
                format!(
                    "more than {} records match; exact counts stop there",
                    limits.max_exact_count
                ),
            ));
        }
        Some(n)
    } else {
        None
    };
    let flags = scoped.read_flags(tx)?;
    let page = records::list(
        tx,
        &table,
        ListQuery {
            filter: if branches.is_empty() {
                combined
            } else {
                page_filter
            },
            flags,
            branches,
            sort: sort.keys.clone(),
            id_descending: sort.id_descending,
            after,
            limit,
        },
    )
    .await?;
    let next_cursor = match (page.has_more, page.records.last()) {
        (true, Some(last)) => Some(cursor::encode(&key, &binding, last)),
        _ => None,
    };
    Ok(ListOut {
        records: scoped.project_all(&page.records, &page.flags)?,
        has_more: page.has_more,
        next_cursor,
        count,
    })
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

/// Loads a user of the tenant as a principal (for simulate and explain), after checking the
/// caller administers the table's project.
async fn as_user(
    tx: &mut Tx,
    caller: &rampart_auth::Principal,
    table_id: TableId,
    user: UserId,
) -> Result<rampart_auth::Principal, ApiError> {
    let table = load_table(tx, table_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    rampart_auth::authz::authorize(
        tx,
        caller,
        table.project_id,
        rampart_core::TableAction::ManageMembers,
    )
    .await??;
    let user = rampart_store::identity::user_by_id(tx, user)
        .await?
        .ok_or_else(|| ApiError::field("user_id", "unknown_user", "no such user in this tenant"))?;
    let has_second_factor = rampart_store::factors::has_second_factor(tx, user.id).await?;
    Ok(rampart_auth::Principal::for_simulation(
        user,
        has_second_factor,
    ))
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
) -> ApiResult<axum::Json<ListOut>> {
    let query = ListQueryIn {
        filter: q.filter,
        sort: q.sort,
        limit: q.limit,
        cursor: q.cursor,
        count: q.count,
    };
    let req = page_request(
        &state,
        query,
        caller.tenant.tenant.id,
        caller.principal.user.id,
    )?;
    let admin = caller.principal.clone();
    let cache = caller.tenant.access.clone();
    let target = q.user_id;
    let out = caller
        .tenant
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let principal = as_user(tx, &admin, table_id, target).await?;
                page(tx, &cache, &principal, table_id, req).await
            })
        })
        .await?;
    tracing::info!(target: "rampart::audit", event = "simulate", table = %table_id, as_user = %target, by = %caller.principal.user.id);
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
    let op = match q.operation.as_deref().unwrap_or("read") {
        "read" => Op::Read,
        "update" => Op::Update,
        "delete" => Op::Delete,
        _ => {
            return Err(ApiError::field(
                "operation",
                "invalid_value",
                "one of read, update, delete",
            ));
        }
    };
    let admin = caller.principal.clone();
    let target = q.user_id;
    let out = caller
        .tenant
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let principal = as_user(tx, &admin, table_id, target).await?;
                super::record_ops::explain(tx, &principal, table_id, record_id, op).await
            })
        })
        .await?;
    tracing::info!(target: "rampart::audit", event = "explain", table = %table_id, record = %record_id, as_user = %target, by = %caller.principal.user.id);
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
