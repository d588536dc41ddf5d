//! Lists: one keyset page of a table as a caller may see it, filtered and sorted with names
//! checked by [`QueryScope`], counted on request, and the same list as another user sees it
//! (simulate, for the project's builders).

use std::sync::Arc;

use rampart_auth::Principal;
use rampart_auth::authz::cache::AccessCache;
use rampart_auth::authz::definition::Op;
use rampart_auth::authz::query::QueryScope;
use rampart_core::{FieldError, TableId, TenantId, UserId};
use rampart_rules::sort::Sort;
use rampart_store::Tx;
use rampart_store::audit::{self, Action, Event};
use rampart_store::records::{self, ListQuery};

use serde::Serialize;

use super::{RecordJson, scoped};
use crate::AppError;
use crate::cursor::{self, Binding};

/// How lists are bounded, and what their cursors are bound to.
#[derive(Debug, Clone)]
pub struct ListSettings {
    pub default_page_size: u32,
    pub max_page_size: u32,
    /// Largest number of matching records an exact count is given for.
    pub max_exact_count: u64,
    /// The instance's key for signing cursors.
    pub cursor_key: Arc<Vec<u8>>,
    pub tenant: TenantId,
}

/// What a caller asks of a list, as they wrote it.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    /// An expression, e.g. `status = "open" && priority >= 3`.
    pub filter: Option<String>,
    /// Comma-separated field names, `-` for descending.
    pub sort: Option<String>,
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `exact` to count the matching records.
    pub count: Option<String>,
}

/// One page.
#[derive(Debug, Serialize)]
pub struct Page {
    pub records: Vec<RecordJson>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// A request checked for everything that needs no database: limits and filter syntax.
struct Checked {
    req: ListRequest,
    parsed: Option<rampart_rules::Expr>,
    limit: u32,
    exact: bool,
}

/// A filter's syntax, its errors at their position in `filter`.
pub(crate) fn parse_filter(text: &str) -> Result<rampart_rules::Expr, AppError> {
    rampart_rules::parse(text).map_err(|e| {
        AppError::from(
            FieldError::new("filter", "invalid_filter", e.message.clone()).at(e.position),
        )
    })
}

fn check(req: ListRequest, settings: &ListSettings) -> Result<Checked, AppError> {
    let limit = req.limit.unwrap_or(settings.default_page_size);
    if limit == 0 || limit > settings.max_page_size {
        return Err(AppError::invalid(
            "limit",
            "out_of_range",
            format!("must be between 1 and {}", settings.max_page_size),
        ));
    }
    let exact = match req.count.as_deref() {
        None => false,
        Some("exact") => true,
        Some(_) => {
            return Err(AppError::invalid(
                "count",
                "invalid_value",
                "the only count is \"exact\"",
            ));
        }
    };
    let parsed = req.filter.as_deref().map(parse_filter).transpose()?;
    Ok(Checked {
        req,
        parsed,
        limit,
        exact,
    })
}

/// One page of a table as the caller may see it.
pub async fn list(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    table: TableId,
    req: ListRequest,
    settings: &ListSettings,
) -> Result<Page, AppError> {
    let checked = check(req, settings)?;
    page(
        tx,
        cache,
        principal,
        principal.user.id,
        table,
        checked,
        settings,
    )
    .await
}

/// One page of a table as `user` would see it, for `admin` (who must administer the
/// project); the cursors are the admin's. Recorded in the audit chain (so it runs in a write
/// transaction: it is rare, and a builder looking through someone's eyes is accountable).
pub async fn simulate(
    tx: &mut Tx,
    cache: &AccessCache,
    admin: &Principal,
    user: UserId,
    table: TableId,
    req: ListRequest,
    settings: &ListSettings,
) -> Result<Page, AppError> {
    let checked = check(req, settings)?;
    let principal = super::explain::as_user(tx, admin, table, user).await?;
    let detail = serde_json::json!({"filter": checked.req.filter, "sort": checked.req.sort});
    let page = page(
        tx,
        cache,
        &principal,
        admin.user.id,
        table,
        checked,
        settings,
    )
    .await?;
    audit::record(
        tx,
        Event::new(Action::AccessSimulate)
            .table(table.0)
            .subject(user.0)
            .detail(detail),
    )
    .await?;
    Ok(page)
}

/// A list's query, checked against one caller's access: their read predicate and filter as
/// SQL, the sort, and the per-record field flags. A page and an export both run from it.
pub(crate) struct Plan {
    pub scoped: super::Scoped,
    pub table: rampart_core::TableDef,
    pub sort: Sort,
    /// The filter as parsed and printed back (what cursors are bound to).
    pub filter_text: String,
    /// The caller's visibility and their filter, combined.
    pub combined: Option<rampart_sql::Sql>,
    branches: Vec<rampart_sql::Sql>,
    page_filter: Option<rampart_sql::Sql>,
    flags: Vec<rampart_sql::Sql>,
}

impl Plan {
    /// Checks the caller may read the table and every name the filter and sort use.
    pub(crate) async fn new(
        tx: &mut Tx,
        cache: &AccessCache,
        principal: &Principal,
        table_id: TableId,
        parsed: Option<&rampart_rules::Expr>,
        sort: Option<&str>,
    ) -> Result<Self, AppError> {
        let scoped = scoped(tx, cache, principal, table_id).await?;
        if !scoped.access.allows(Op::Read) {
            return Err(AppError::forbidden(
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
            parsed,
        )
        .await?;
        let sort = match sort {
            Some(s) => view.parse_sort(s)?,
            None => Sort::default(),
        };
        let (pred, filter_text) = match parsed {
            None => (None, String::new()),
            Some(expr) => (Some(view.check_filter(expr)?), expr.to_string()),
        };
        let dialect = tx.dialect();
        let visible = scoped.visible_sql(tx)?;
        let user_filter = match &pred {
            Some(p) => Some(rampart_rules::compile(p, &scoped.facts.ctx, dialect)?),
            None => None,
        };
        // A top-level OR of the caller's rules becomes one index range scan per branch.
        let branches: Vec<rampart_sql::Sql> = match scoped.access.read_branches() {
            Some(parts) if sort.keys.is_empty() => parts
                .iter()
                .map(|p| rampart_rules::compile(p, &scoped.facts.ctx, dialect))
                .collect::<Result<_, _>>()?,
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
        let flags = scoped.read_flags(tx)?;
        Ok(Self {
            scoped,
            table,
            sort,
            filter_text,
            combined,
            branches,
            page_filter,
            flags,
        })
    }

    /// Up to `limit` records after `after`, in the plan's order.
    pub(crate) async fn fetch(
        &self,
        tx: &mut Tx,
        after: Option<records::After>,
        limit: u32,
    ) -> Result<records::Page, AppError> {
        Ok(records::list(
            tx,
            &self.table,
            ListQuery {
                filter: if self.branches.is_empty() {
                    self.combined.clone()
                } else {
                    self.page_filter.clone()
                },
                flags: self.flags.clone(),
                branches: self.branches.clone(),
                sort: self.sort.keys.clone(),
                id_descending: self.sort.id_descending,
                after,
                limit,
            },
        )
        .await?)
    }

    /// How many records the plan matches, counting at most `cap + 1`.
    pub(crate) async fn count(&self, tx: &mut Tx, cap: u64) -> Result<u64, AppError> {
        Ok(records::count(tx, &self.table, self.combined.clone(), cap).await?)
    }
}

/// One page of a table as `principal` may see it; `cursor_user` is whom its cursors are bound
/// to (the caller, also when they simulate another user).
async fn page(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    cursor_user: UserId,
    table_id: TableId,
    checked: Checked,
    settings: &ListSettings,
) -> Result<Page, AppError> {
    let Checked {
        req,
        parsed,
        limit,
        exact,
    } = checked;
    let plan = Plan::new(
        tx,
        cache,
        principal,
        table_id,
        parsed.as_ref(),
        req.sort.as_deref(),
    )
    .await?;
    // A simulated list's cursors are the admin's, and differ from their own list's.
    let bound_filter = if cursor_user == principal.user.id {
        plan.filter_text.clone()
    } else {
        format!("as {}: {}", principal.user.id, plan.filter_text)
    };
    let binding = Binding {
        tenant: settings.tenant,
        table: &plan.table,
        user: cursor_user,
        sort: &plan.sort,
        filter: &bound_filter,
    };
    let after = match &req.cursor {
        Some(c) => Some(cursor::decode(&settings.cursor_key, &binding, c)?),
        None => None,
    };
    let count = if exact {
        let n = plan.count(tx, settings.max_exact_count).await?;
        if n > settings.max_exact_count {
            return Err(AppError::invalid(
                "count",
                "count_too_large",
                format!(
                    "more than {} records match; exact counts stop there",
                    settings.max_exact_count
                ),
            ));
        }
        Some(n)
    } else {
        None
    };
    let page = plan.fetch(tx, after, limit).await?;
    let next_cursor = match (page.has_more, page.records.last()) {
        (true, Some(last)) => Some(cursor::encode(&settings.cursor_key, &binding, last)),
        _ => None,
    };
    Ok(Page {
        records: plan.scoped.project_all(&page.records, &page.flags)?,
        has_more: page.has_more,
        next_cursor,
        count,
    })
}
