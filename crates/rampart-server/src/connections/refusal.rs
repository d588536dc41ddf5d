//! Answers the connection layer writes itself, before a request reaches the router (a head
//! too large or malformed, a head that never finished, no room for another connection):
//! RFC 9457 problem documents like every other answer, with a request id, the security
//! headers and `Connection: close`, as raw HTTP/1.1 bytes.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;

use crate::error::ApiError;
use crate::{request_id, security_headers};

/// The bytes of an HTTP/1.1 answer carrying `error`, and its request id.
pub fn http1(error: ApiError, tls: bool) -> (Vec<u8>, String) {
    let id = request_id::fresh();
    let status = error.status;
    let code = error.code;
    let response = request_id::in_scope(id.clone(), || error.into_response());
    let (mut parts, body) = response.into_parts();
    security_headers::apply(&mut parts.headers, tls);
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    if let Ok(v) = HeaderValue::from_str(&id) {
        parts.headers.insert(request_id::HEADER, v);
    }
    let body = problem_body(body);
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    )
    .into_bytes();
    for (name, value) in &parts.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(&body);
    tracing::info!(
        target: "rampart::access",
        request_id = %id,
        method = "-",
        route = "connection",
        status = status.as_u16(),
        code,
    );
    metrics::counter!("rampart_http_requests_total", "status" => status.as_u16().to_string())
        .increment(1);
    (out, id)
}

/// The problem document's bytes (an `ApiError`'s body is one in-memory buffer).
fn problem_body(body: axum::body::Body) -> Vec<u8> {
    use http_body::Body as _;
    let mut body = std::pin::pin!(body);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut out = Vec::new();
    while let std::task::Poll::Ready(Some(Ok(frame))) = body.as_mut().poll_frame(&mut cx) {
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
        }
    }
    out
}

pub fn header_too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "request_header_too_large",
        "Request header fields too large",
    )
    .detail(format!(
        "the request line and headers exceed {limit} bytes or 100 fields"
    ))
}

pub fn malformed(what: &str) -> ApiError {
    ApiError::bad_request(
        "malformed_request",
        format!("the request is not valid HTTP/1.1: {what}"),
    )
}

pub fn header_timeout() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_header_timeout",
        "Request timeout",
    )
    .detail("the request line and headers did not arrive in time")
}

pub fn no_room() -> ApiError {
    let mut e = ApiError::unavailable(
        "the server holds as many connections as it may; every one is serving a request",
    );
    e.code = "connection_limit";
    e.retry_after = Some(1);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_a_complete_problem_answer() {
        let (bytes, id) = http1(header_too_large(16384), false);
        let text = String::from_utf8(bytes).unwrap_or_default();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(head.contains("content-type: application/problem+json"));
        assert!(head.contains("connection: close"));
        assert!(head.contains("x-content-type-options: nosniff"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        assert_eq!(v["code"], "request_header_too_large");
        assert_eq!(v["request_id"], id);
        assert_eq!(v["status"], 431);
    }
}
