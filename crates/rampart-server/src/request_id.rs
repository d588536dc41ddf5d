//! A request id for every request: generated here (never taken from the client), returned in
//! `x-request-id`, attached to the access log and to every problem document.
//!
//! The access log line (target `rampart::access`) names the method, the route *template*
//! (never the path or query, so no filter value or id reaches the log), status, duration,
//! tenant, actor, request id and client address. Every other event of the request (security
//! events included) runs inside a `request` span carrying the request id and client address.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

tokio::task_local! {
    static REQUEST_ID: String;
    static FACTS: std::sync::Mutex<Facts>;
}

/// What later layers learn about a request, for its access log line.
#[derive(Debug, Default)]
struct Facts {
    tenant: Option<String>,
    actor: Option<String>,
}

fn note(f: impl FnOnce(&mut Facts)) {
    let _ = FACTS.try_with(|facts| {
        if let Ok(mut facts) = facts.lock() {
            f(&mut facts);
        }
    });
}

/// Records the tenant a request was resolved to.
pub fn note_tenant(slug: &str) {
    note(|f| f.tenant = Some(slug.to_owned()));
}

/// Records who the request was authenticated as.
pub fn note_actor(user: impl std::fmt::Display) {
    note(|f| f.actor = Some(user.to_string()));
}

pub const HEADER: &str = "x-request-id";

/// The target of the per-request span (no event uses it), so a log that keeps only some
/// targets can still keep the span that names the request.
pub const SPAN_TARGET: &str = "rampart::request";

/// A new request id.
pub fn fresh() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Runs `f` as part of the request `id` (for answers the connection layer writes itself,
/// before any request reached the router).
pub fn in_scope<R>(id: String, f: impl FnOnce() -> R) -> R {
    REQUEST_ID.sync_scope(id, f)
}

/// The current request's id, or `-` outside a request.
pub fn current() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".to_owned())
}

/// Assigns the id, then writes one structured access-log line and the request metrics.
pub async fn middleware(req: Request, next: Next) -> Response {
    let id = fresh();
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let client = req
        .extensions()
        .get::<crate::client_addr::ClientAddr>()
        .map(|c| c.ip);
    let span =
        tracing::info_span!(target: SPAN_TARGET, "request", request_id = %id, client_ip = ?client);
    let (mut response, facts) = FACTS
        .scope(std::sync::Mutex::new(Facts::default()), async {
            let audit = rampart_store::audit::AuditContext::new(
                Some(id.clone()),
                client.map(|c| c.to_string()),
                rampart_store::audit::Actor::Anonymous,
            );
            let response = REQUEST_ID
                .scope(
                    id.clone(),
                    rampart_store::audit::scope(audit, next.run(req).instrument(span)),
                )
                .await;
            let facts = FACTS
                .try_with(|f| f.lock().map(|mut f| std::mem::take(&mut *f)).ok())
                .ok()
                .flatten()
                .unwrap_or_default();
            (response, facts)
        })
        .await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    tracing::info!(
        target: "rampart::access",
        request_id = %id,
        method = %method,
        route = %route,
        status,
        micros = elapsed.as_micros() as u64,
        tenant = facts.tenant.as_deref().unwrap_or("-"),
        actor = facts.actor.as_deref().unwrap_or("-"),
        client_ip = ?client,
    );
    metrics::counter!("rampart_http_requests_total", "status" => status.to_string()).increment(1);
    metrics::histogram!("rampart_http_request_seconds").record(elapsed.as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, v);
    }
    response
}
