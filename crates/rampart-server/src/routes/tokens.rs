//! The caller's own API tokens over HTTP: the use cases of `rampart_app::tokens`, with the
//! secret shown once.

use axum::extract::State;
use axum::http::StatusCode;
use rampart_app::tokens::{self, Lifetimes, NewToken};
use rampart_core::record::format_timestamp;
use rampart_core::{ProjectId, TokenId};
use rampart_store::tokens::{ApiToken, TokenScope};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::caller::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenAccess {
    Read,
    ReadWrite,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenOut {
    id: String,
    name: String,
    /// Only these projects (absent: every project its user reaches).
    #[serde(skip_serializing_if = "Option::is_none")]
    projects: Option<Vec<String>>,
    access: TokenAccess,
    /// Acts with this permission set's grants only.
    #[serde(skip_serializing_if = "Option::is_none")]
    permission_set: Option<String>,
    created_at: String,
    expires_at: String,
    last_used_at: Option<String>,
    last_used_ip: Option<String>,
    /// Set once a successor was issued; the token then expires after the grace period.
    rotated_at: Option<String>,
}

impl From<ApiToken> for TokenOut {
    fn from(t: ApiToken) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name,
            projects: t
                .scope
                .projects
                .map(|p| p.iter().map(ToString::to_string).collect()),
            access: if t.scope.read_only {
                TokenAccess::Read
            } else {
                TokenAccess::ReadWrite
            },
            permission_set: t.scope.permission_set.map(|s| s.to_string()),
            created_at: format_timestamp(&t.created_at),
            expires_at: format_timestamp(&t.expires_at),
            last_used_at: t.last_used_at.as_ref().map(format_timestamp),
            last_used_ip: t.last_used_ip,
            rotated_at: t.rotated_at.as_ref().map(format_timestamp),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenIn {
    #[schema(schema_with = crate::input_schemas::display_name)]
    name: String,
    /// Days until the token expires (default 90, at most `auth.token_max_days`, 366 unless
    /// the operator chose otherwise; every token expires).
    #[serde(default, deserialize_with = "crate::extract::integral_u32_option")]
    #[schema(minimum = 1, maximum = 366)]
    expires_in_days: Option<u32>,
    /// Limit the token to these projects.
    #[serde(default)]
    #[schema(value_type = Option<Vec<uuid::Uuid>>)]
    projects: Option<Vec<ProjectId>>,
    /// `read` or `read_write` (default).
    #[serde(default)]
    access: Option<TokenAccess>,
    /// Limit the token to one permission set's grants (and that set's project).
    #[serde(default)]
    #[schema(value_type = Option<uuid::Uuid>)]
    permission_set: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedTokenOut {
    token: TokenOut,
    /// The token itself. Shown this once; only its hash is stored.
    secret: String,
}

fn created(token: ApiToken, secret: &SecretString) -> axum::Json<CreatedTokenOut> {
    axum::Json(CreatedTokenOut {
        token: token.into(),
        secret: secret.expose_secret().to_owned(),
    })
}

fn lifetimes(state: &AppState) -> Lifetimes {
    let auth = &state.config.auth;
    Lifetimes {
        default_days: auth.token_default_days,
        max_days: auth.token_max_days,
        rotation_grace_hours: auth.token_rotation_grace_hours,
    }
}

/// Lists the caller's tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = [TokenOut])), security(("session" = []), ("token" = [])))]
pub async fn list(caller: Caller) -> ApiResult<axum::Json<Vec<TokenOut>>> {
    let all = caller
        .read(|tx, me, _| Box::pin(tokens::list(tx, me)))
        .await?;
    Ok(axum::Json(all.into_iter().map(TokenOut::from).collect()))
}

/// Creates a token for the caller (from a recently re-authenticated session). A scope only
/// narrows what the caller may do.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateTokenIn,
    responses((status = 201, body = CreatedTokenOut)), security(("session" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateTokenIn>,
) -> ApiResult<(StatusCode, axum::Json<CreatedTokenOut>)> {
    caller.require_recent_auth(&state)?;
    let new = NewToken {
        name: body.name,
        expires_in_days: body.expires_in_days,
        scope: TokenScope {
            projects: body.projects,
            read_only: body.access == Some(TokenAccess::Read),
            permission_set: body.permission_set,
        },
    };
    let (token, secret) = tokens::create(
        &caller.tenant.store,
        &caller.principal,
        new,
        lifetimes(&state),
    )
    .await?;
    Ok((StatusCode::CREATED, created(token, &secret)))
}

/// Issues a successor with the same name, scope and lifetime; the old token keeps working for
/// the grace period (`auth.token_rotation_grace_hours`), then expires. A token may rotate
/// itself; a session must have re-authenticated recently.
#[utoipa::path(post, path = "/api/v1/tokens/{token_id}/rotate", tag = "tokens",
    params(("token_id" = String, Path)),
    responses((status = 201, body = CreatedTokenOut)), security(("session" = []), ("token" = [])))]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(token_id): ApiPath<TokenId>,
) -> ApiResult<(StatusCode, axum::Json<CreatedTokenOut>)> {
    if caller.principal.is_cookie_session() {
        caller.require_recent_auth(&state)?;
    }
    let (token, secret) = tokens::rotate(
        &caller.tenant.store,
        &caller.principal,
        token_id,
        lifetimes(&state),
    )
    .await?;
    Ok((StatusCode::CREATED, created(token, &secret)))
}

/// Revokes one of the caller's tokens.
#[utoipa::path(delete, path = "/api/v1/tokens/{token_id}", tag = "tokens",
    params(("token_id" = String, Path)),
    responses((status = 204)), security(("session" = []), ("token" = [])))]
pub async fn revoke(caller: Caller, ApiPath(token_id): ApiPath<TokenId>) -> ApiResult<StatusCode> {
    caller
        .write(move |tx, me, _| Box::pin(tokens::revoke(tx, me, token_id)))
        .await?;
    tracing::info!(target: "rampart::security", event = "token_revoked", user = %caller.principal.user.id, token = %token_id);
    Ok(StatusCode::NO_CONTENT)
}
