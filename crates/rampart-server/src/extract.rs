//! Extractors whose rejections are problem documents: JSON bodies (with the failing field's
//! path), path parameters (a malformed id is just a missing resource) and query strings.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body. Requires `Content-Type: application/json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
}

pub use rampart_app::input::MAX_JSON_DEPTH;

/// Parses JSON with the input rules of `rampart_app::input`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    rampart_app::input::parse_json(bytes).map_err(ApiError::from)
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(&req) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            )
            .detail("send the body as application/json"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| match e {
            BytesRejection::FailedToBufferBody(_)
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "Payload too large",
                )
                .detail("the request body exceeds the configured limit")
            }
            other if crate::connections::is_body_timeout(&other) => ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "Request timeout",
            )
            .detail("the request body stopped arriving"),
            other => ApiError::bad_request("unreadable_body", other.body_text()),
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Path parameters; anything that does not parse is a resource that does not exist.
#[derive(Debug, Clone, Copy)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_| ApiError::not_found())
    }
}

/// A query string.
#[derive(Debug, Clone, Copy)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

/// A required count that fits `u32`, written as `7` or `7.0`.
pub fn integral_u32<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    use serde::de::Error;
    integral_u32_option(d)?.ok_or_else(|| D::Error::custom("expected a count, found null"))
}

/// [`integral_option`] for a count that fits `u32` (larger or negative: refused).
pub fn integral_u32_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<u32>, D::Error> {
    use serde::de::Error;
    integral_option(d)?
        .map(|n| {
            u32::try_from(n).map_err(|_| D::Error::custom(format!("expected a count, found {n}")))
        })
        .transpose()
}

/// Reads an optional integer that a client may have written as `7` or `7.0` (one number
/// type in JSON; JSON Schema's `integer` admits both).
pub fn integral_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::Deserialize;
    use serde::de::Error;
    Option::<serde_json::Number>::deserialize(d)?
        .map(|n| {
            n.as_i64()
                .or_else(|| n.as_f64().and_then(rampart_core::value::integral))
                .ok_or_else(|| D::Error::custom(format!("expected an integer, found {n}")))
        })
        .transpose()
}
