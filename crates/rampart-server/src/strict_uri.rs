//! Refuses a request whose path or query string does not percent-decode to UTF-8, before
//! any route sees it. Lenient decoders turn `%FF` into U+FFFD, which then matches data
//! that holds that character: a filter or name must mean exactly what its bytes say.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Percent-decodes `text` (and `+` as a space when `plus` is set) into bytes.
fn decode(text: &str, plus: bool) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let hex = |at: usize| bytes.get(at).and_then(|b| char::from(*b).to_digit(16));
    while i < bytes.len() {
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(0));
                i += 3;
            }
            (b'+', _, _) if plus => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Which part of the target is not UTF-8 once decoded, if any.
fn invalid_part(path: &str, query: Option<&str>) -> Option<&'static str> {
    if std::str::from_utf8(&decode(path, false)).is_err() {
        return Some("path");
    }
    let query = query?;
    query
        .split('&')
        .any(|pair| std::str::from_utf8(&decode(pair, true)).is_err())
        .then_some("query")
}

pub async fn middleware(req: Request, next: Next) -> Response {
    if let Some(part) = invalid_part(req.uri().path(), req.uri().query()) {
        return ApiError::bad_request(
            "invalid_encoding",
            format!("the {part} is not UTF-8 once percent-decoded"),
        )
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_targets_that_decode_to_utf8_pass() {
        assert_eq!(
            invalid_part("/api/v1/x", Some("filter=a%20%3D%20%22%C3%A4%22")),
            None
        );
        assert_eq!(invalid_part("/api/v1/x", Some("filter=%FF")), Some("query"));
        assert_eq!(invalid_part("/api/v1/%C3", None), Some("path"));
        assert_eq!(
            invalid_part("/api/v1/%e2%82%ac", Some("a=%e2%82%ac&b=+")),
            None
        );
        // A lone or malformed escape is kept as written, which is valid text.
        assert_eq!(invalid_part("/a%", Some("b=%zz&c=%4")), None);
        assert_eq!(invalid_part("/a", Some("k%80=1")), Some("query"));
    }
}
