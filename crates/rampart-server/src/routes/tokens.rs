//! The caller's own API tokens: create (shown once), list, revoke.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use rampart_auth::authn;
use rampart_core::TokenId;
use rampart_core::names::validate_display_name;
use rampart_core::record::format_timestamp;
use rampart_store::Tx;
use rampart_store::identity::{self, ApiToken};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenOut {
    id: String,
    name: String,
    created_at: String,
    expires_at: String,
    last_used_at: Option<String>,
}

impl From<ApiToken> for TokenOut {
    fn from(t: ApiToken) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name,
            created_at: format_timestamp(&t.created_at),
            expires_at: format_timestamp(&t.expires_at),
            last_used_at: t.last_used_at.as_ref().map(format_timestamp),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenIn {
    name: String,
    /// Days until the token expires; every token expires.
    expires_in_days: u32,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedTokenOut {
    token: TokenOut,
    /// The token itself. Shown this once; only its hash is stored.
    secret: String,
}

/// Lists the caller's tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = [TokenOut])), security(("session" = []), ("token" = [])))]
pub async fn list(caller: Caller) -> ApiResult<axum::Json<Vec<TokenOut>>> {
    let user = caller.principal.user.id;
    let tokens = caller
        .tenant
        .store
        .read(move |tx: &mut Tx| Box::pin(identity::list_tokens(tx, user)))
        .await?;
    Ok(axum::Json(tokens.into_iter().map(TokenOut::from).collect()))
}

/// Creates a token for the caller (from a recently re-authenticated session).
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateTokenIn,
    responses((status = 201, body = CreatedTokenOut)), security(("session" = []), ("token" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateTokenIn>,
) -> ApiResult<(StatusCode, axum::Json<CreatedTokenOut>)> {
    caller.require_recent_auth(&state)?;
    validate_display_name("name", &body.name)?;
    let max = state.config.auth.token_max_days;
    if body.expires_in_days == 0 || body.expires_in_days > max {
        return Err(ApiError::field(
            "expires_in_days",
            "out_of_range",
            format!("must be between 1 and {max}"),
        ));
    }
    let expires_at = Utc::now() + Duration::days(i64::from(body.expires_in_days));
    let (token, secret) = authn::create_api_token(
        &caller.tenant.store,
        &caller.principal.user,
        body.name,
        expires_at,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedTokenOut {
            token: token.into(),
            secret: secret.expose_secret().to_owned(),
        }),
    ))
}

/// Revokes one of the caller's tokens.
#[utoipa::path(delete, path = "/api/v1/tokens/{token_id}", tag = "tokens",
    params(("token_id" = String, Path)),
    responses((status = 204)), security(("session" = []), ("token" = [])))]
pub async fn revoke(caller: Caller, ApiPath(token_id): ApiPath<TokenId>) -> ApiResult<StatusCode> {
    let user = caller.principal.user.id;
    caller
        .tenant
        .store
        .write(move |tx: &mut Tx| Box::pin(identity::delete_token(tx, user, token_id)))
        .await?;
    tracing::info!(target: "rampart::security", event = "token_revoked", user = %user, token = %token_id);
    Ok(StatusCode::NO_CONTENT)
}
