//! Audit queries for tenant admins: entries filtered by actor, action, table, record and time,
//! newest first in pages, and an export of every matching entry, oldest first (the export is
//! itself recorded in the chain before anything is read).

use chrono::{DateTime, Utc};
use futures::Stream;
use rampart_auth::Principal;
use rampart_store::audit::{self, Action, Filter, Shown};
use rampart_store::{TenantStore, Tx, tx_fn};
use uuid::Uuid;

use crate::AppError;
use crate::people::require_tenant_admin;

/// Largest page; exports read in pages of this size too.
pub const MAX_PAGE: u32 = 500;
const DEFAULT_PAGE: u32 = 100;

/// What a caller asks of the trail.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// `user:<id>`, `operator`, `system` or `anonymous`.
    pub actor: Option<String>,
    /// An action (`record.update`) or an area ending in a dot (`record.`).
    pub action: Option<String>,
    pub table: Option<Uuid>,
    pub record: Option<Uuid>,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    /// Entries numbered below this (a page's `next_before`).
    pub before: Option<u64>,
    /// 1 to [`MAX_PAGE`], default 100.
    pub limit: Option<u32>,
}

fn action_ok(action: &str) -> bool {
    !action.is_empty()
        && action.len() <= 64
        && action
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
}

impl AuditQuery {
    fn filter(&self, ascending: bool) -> Result<Filter, AppError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(AppError::invalid(
                "limit",
                "out_of_range",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        if self.before.is_some_and(|b| b == 0 || b > i64::MAX as u64) {
            return Err(AppError::invalid(
                "before",
                "out_of_range",
                "an entry number from 1",
            ));
        }
        if self.action.as_deref().is_some_and(|a| !action_ok(a)) {
            return Err(AppError::invalid(
                "action",
                "invalid",
                "an action such as record.update, or an area such as record.",
            ));
        }
        Ok(Filter {
            actor: self.actor.clone(),
            action: self.action.clone(),
            table: self.table,
            record: self.record,
            from: self.from,
            to: self.to,
            cursor: if ascending { None } else { self.before },
            through: None,
            ascending,
            limit,
        })
    }
}

/// One page of entries, newest first.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Shown>,
    /// Pass as `before` for the next (older) page; `None` on the last page.
    pub next_before: Option<u64>,
}

/// Every action the chain records, with what it means (for the viewer's filters).
pub fn actions(principal: &Principal) -> Result<&'static [Action], AppError> {
    require_tenant_admin(principal)?;
    Ok(Action::ALL)
}

/// A page of the tenant's entries, newest first.
pub async fn page(
    store: &TenantStore,
    principal: &Principal,
    query: &AuditQuery,
) -> Result<Page, AppError> {
    require_tenant_admin(principal)?;
    let filter = query.filter(false)?;
    let limit = filter.limit as usize;
    let items = audit::read(store, filter).await?;
    let next_before = (items.len() == limit)
        .then(|| items.last().map(|s| s.entry.seq))
        .flatten();
    Ok(Page { items, next_before })
}

/// Every matching entry, oldest first, in pages of [`MAX_PAGE`]: memory stays bounded on any
/// chain, and entries appended while it runs are left for the next export. The export is
/// recorded before the first page is read.
pub async fn export(
    store: &TenantStore,
    principal: &Principal,
    query: &AuditQuery,
) -> Result<impl Stream<Item = Result<Vec<Shown>, AppError>> + Send + 'static, AppError> {
    require_tenant_admin(principal)?;
    let mut filter = query.filter(true)?;
    filter.limit = MAX_PAGE;
    let detail = serde_json::json!({
        "actor": query.actor, "action": query.action,
        "table_id": query.table, "record_id": query.record,
        "from": query.from, "to": query.to,
    });
    store
        .write(tx_fn(move |tx: &mut Tx| {
            Box::pin(async move {
                audit::record(tx, audit::Event::new(Action::AuditExport).detail(detail))
                    .await
                    .map(|_| ())
            })
        }))
        .await?;
    filter.through = Some(audit::head_seq(store).await?);
    let store = store.clone();
    Ok(futures::stream::try_unfold(Some(filter), move |state| {
        let store = store.clone();
        async move {
            let Some(mut filter) = state else {
                return Ok(None);
            };
            let page = audit::read(&store, filter.clone()).await?;
            let last_page = page.len() < MAX_PAGE as usize;
            filter.cursor = page.last().map(|s| s.entry.seq);
            let next = (!last_page).then_some(filter);
            Ok::<_, AppError>(Some((page, next)))
        }
    }))
}
