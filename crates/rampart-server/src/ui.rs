//! The browser UI (`rampart-web`) at `/`: every path outside `/api/` that names no file is
//! an app route and gets the app's page; `/assets/…` are its content-hashed files.
//!
//! The page has its own Content-Security-Policy, as strict as the app allows: scripts,
//! styles, fetches and fonts from this origin only, no inline code of any kind (the page's
//! scripts also carry SRI), no plugins, no framing, forms only to this origin. The API's
//! policy (`default-src 'none'`) stays on everything else.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The internal listener's paths: a probe sent to the public port by mistake gets a 404,
/// not a page that looks healthy.
const INTERNAL_PATHS: &[&str] = &["/healthz", "/readyz", "/metrics"];

/// The router's fallback: the UI for GET/HEAD outside the API, the API's 404 otherwise.
pub async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if (method != Method::GET && method != Method::HEAD)
        || path == "/api"
        || path.starts_with("/api/")
        || INTERNAL_PATHS.contains(&path)
    {
        return ApiError::not_found().into_response();
    }
    if let Some(file) = path.strip_prefix("/assets/") {
        let name = format!("assets/{file}");
        return match rampart_web::asset(&name) {
            Some(asset) => answer(&name, asset, &headers, None),
            None => ApiError::not_found().into_response(),
        };
    }
    // A path that names a file we do not have is not an app route.
    if path
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
    {
        return ApiError::not_found().into_response();
    }
    page(headers).await
}

/// The app's page.
pub async fn page(headers: HeaderMap) -> Response {
    match rampart_web::index() {
        Some(asset) => answer("index.html", asset, &headers, Some(PAGE_CSP)),
        None => ApiError::not_found().into_response(),
    }
}

/// Whether the client takes gzip (`Accept-Encoding`): named with a quality above zero, or not
/// named and `*` accepted.
fn accepts_gzip(request: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut any = None;
    for coding in request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q <= 0.0))
        });
        if name.eq_ignore_ascii_case("gzip") {
            gzip = Some(!refused);
        } else if name == "*" {
            any = Some(!refused);
        }
    }
    gzip.or(any).unwrap_or(false)
}

fn answer(
    path: &str,
    asset: rampart_web::Asset,
    request: &HeaderMap,
    csp: Option<&'static str>,
) -> Response {
    // The page is not cached at all (it is small, and a new build must show at once);
    // `security_headers` gives it the API's `no-store`.
    let cache = asset
        .immutable
        .then_some("public, max-age=31536000, immutable");
    // Only the UI's own static files are compressed: they hold no secret for a compression
    // oracle (BREACH) to reveal; API answers are never compressed.
    let gzipped = rampart_web::gzipped(path);
    let gzip = gzipped.filter(|_| accepts_gzip(request));
    // Each representation has its own strong validator.
    let tag = match gzip {
        Some(_) => format!("{}-gzip\"", asset.etag.trim_end_matches('"')),
        None => asset.etag.clone(),
    };
    let etag = HeaderValue::from_str(&tag).ok();
    let fresh = match (&etag, request.get(header::IF_NONE_MATCH)) {
        (Some(tag), Some(wanted)) => wanted
            .to_str()
            .is_ok_and(|w| w.split(',').any(|t| t.trim() == tag)),
        _ => false,
    };
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = match gzip {
            Some(bytes) => {
                let mut r = bytes.into_response();
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                r
            }
            None => asset.bytes.into_owned().into_response(),
        };
        if let Ok(v) = HeaderValue::from_str(&asset.content_type) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    };
    let h = response.headers_mut();
    if gzipped.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if let Some(cache) = cache {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    if let Some(tag) = etag {
        h.insert(header::ETAG, tag);
    }
    if let Some(csp) = csp {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_policy_allows_nothing_inline_or_foreign() {
        for forbidden in ["unsafe", "*", "http:", "https:", "blob:"] {
            assert!(!PAGE_CSP.contains(forbidden), "{forbidden}");
        }
        for directive in [
            "default-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(PAGE_CSP.contains(directive));
        }
        assert!(HeaderValue::from_str(PAGE_CSP).is_ok());
    }

    #[test]
    fn gzip_is_taken_unless_refused_with_a_zero_quality() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(v));
            accepts_gzip(&h)
        };
        assert!(with("gzip"));
        assert!(with("br, GZIP;q=0.5"));
        assert!(with("*"));
        assert!(!with("gzip;q=0"));
        assert!(!with("gzip; q=0.0, br"));
        assert!(!with("br, deflate"));
        assert!(!with("gzipx"));
        assert!(!with("gzip;q=0, *"));
        assert!(!with("*;q=0"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
