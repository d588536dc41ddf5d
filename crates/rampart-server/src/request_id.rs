//! A request id for every request: generated here (never taken from the client), returned in
//! `x-request-id`, attached to the access log and to every problem document.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

tokio::task_local! {
    static REQUEST_ID: String;
}

pub const HEADER: &str = "x-request-id";

/// The current request's id, or `-` outside a request.
pub fn current() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".to_owned())
}

/// Assigns the id, then writes one structured access-log line and the request metrics.
pub async fn middleware(req: Request, next: Next) -> Response {
    let id = uuid::Uuid::now_v7().simple().to_string();
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let mut response = REQUEST_ID.scope(id.clone(), next.run(req)).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    tracing::info!(
        target: "rampart::access",
        request_id = %id,
        method = %method,
        route = %route,
        status,
        micros = elapsed.as_micros() as u64,
    );
    metrics::counter!("rampart_http_requests_total", "status" => status.to_string()).increment(1);
    metrics::histogram!("rampart_http_request_seconds").record(elapsed.as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, v);
    }
    response
}
