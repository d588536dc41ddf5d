//! `rampart records list`: a table's records exactly as one of the tenant's users gets them
//! over the API (same records, same fields), through the same use case, one JSON line each.

use std::io::Write;

use rampart_app::records::list::{self, ListRequest, ListSettings};
use rampart_auth::authz::cache::AccessCache;
use rampart_core::TableId;
use rampart_server::Config;
use rampart_store::{Store, Tx};

use crate::cli::RecordsCommand;
use crate::serve::{init_logging, open_store, open_tenant};

pub async fn run(config: Config, command: RecordsCommand) -> Result<(), String> {
    init_logging(&config)?;
    let store = open_store(&config).await?;
    let operator =
        rampart_store::audit::AuditContext::new(None, None, rampart_store::audit::Actor::Operator);
    let result = rampart_store::audit::scope(operator, run_with(&config, &store, command)).await;
    store.close().await;
    result
}

pub fn say(e: rampart_app::AppError) -> String {
    match e {
        rampart_app::AppError::NotFound => "no such table, or the user may not see it".to_owned(),
        rampart_app::AppError::Invalid(i) => i
            .errors
            .iter()
            .map(|e| format!("{}: {} ({})", e.field, e.message, e.code))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

async fn run_with(config: &Config, store: &Store, command: RecordsCommand) -> Result<(), String> {
    let RecordsCommand::List {
        tenant,
        table,
        as_user,
        filter,
        sort,
        limit,
    } = command;
    let table: TableId = table
        .parse()
        .map_err(|_| format!("{table:?} is not a table id"))?;
    let ts = open_tenant(store, &tenant).await?;
    let t = store
        .tenant_by_slug(&tenant)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no such tenant")?;
    let l = &config.limits;
    let settings = ListSettings {
        default_page_size: l.default_page_size,
        max_page_size: l.max_page_size,
        max_exact_count: l.max_exact_count,
        cursor_key: std::sync::Arc::new(
            store
                .instance_secret("cursor_hmac")
                .await
                .map_err(|e| e.to_string())?,
        ),
        tenant: t.id,
    };
    let cache = std::sync::Arc::new(AccessCache::default());
    let mut cursor: Option<String> = None;
    let mut printed = 0usize;
    let mut out = std::io::stdout().lock();
    loop {
        let req = ListRequest {
            filter: filter.clone(),
            sort: sort.clone(),
            limit: None,
            cursor: cursor.take(),
            count: None,
        };
        let (settings, cache, email) = (settings.clone(), cache.clone(), as_user.clone());
        let page = ts
            .read_with(move |tx: &mut Tx| {
                Box::pin(async move {
                    let principal = rampart_app::people::acting_as(tx, &email).await?;
                    list::list(tx, &cache, &principal, table, req, &settings).await
                })
            })
            .await
            .map_err(say)?;
        for record in &page.records {
            if limit.is_some_and(|n| printed >= n) {
                return Ok(());
            }
            writeln!(out, "{}", record.get()).map_err(|e| e.to_string())?;
            printed += 1;
        }
        match page.next_cursor {
            Some(next) if limit.is_none_or(|n| printed < n) => cursor = Some(next),
            _ => return Ok(()),
        }
    }
}
