//! The optional plain-HTTP listener (`tls.redirect_listen`): every request is answered with a
//! permanent redirect to the same path over HTTPS, and nothing else. Hosts that name no
//! tenant of this instance get 404, so the listener is not an open redirector.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::config::Config;
use crate::tenant::slug_for_host;

#[derive(Clone)]
struct RedirectState {
    config: Arc<Config>,
    https_port: u16,
}

pub fn router(config: Arc<Config>, https_port: u16) -> Router {
    Router::new()
        .fallback(redirect)
        .with_state(RedirectState { config, https_port })
}

/// Where a request for `host` and `path_and_query` belongs over HTTPS.
fn https_location(
    config: &Config,
    https_port: u16,
    host: &str,
    path_and_query: &str,
) -> Option<String> {
    let authority: axum::http::uri::Authority = host.parse().ok()?;
    let name = authority.host();
    slug_for_host(
        name,
        &config.base_domains,
        config.default_tenant.as_deref().or(Some("")),
    )?;
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    Some(format!("https://{name}{port}{path_and_query}"))
}

async fn redirect(State(state): State<RedirectState>, req: Request) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    match https_location(&state.config, state.https_port, host, path)
        .and_then(|l| HeaderValue::from_str(&l).ok())
    {
        Some(location) => (
            StatusCode::MOVED_PERMANENTLY,
            [
                (header::LOCATION, location),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_host_and_path_and_refuse_foreign_hosts() {
        let config = Config::default();
        assert_eq!(
            https_location(&config, 8443, "acme.localhost:8080", "/api/v1/me?x=1").as_deref(),
            Some("https://acme.localhost:8443/api/v1/me?x=1")
        );
        assert_eq!(
            https_location(&config, 443, "localhost", "/").as_deref(),
            Some("https://localhost/")
        );
        assert_eq!(https_location(&config, 443, "evil.example", "/"), None);
        assert_eq!(https_location(&config, 443, "", "/"), None);
    }
}
