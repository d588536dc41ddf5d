//! First-owner setup, login, logout and the current user.

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rampart_auth::authn::{self, ClientInfo, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, SetupError};
use rampart_core::names::{validate_display_name, validate_email};
use rampart_core::{FieldError, GlobalRole};
use rampart_store::identity::{NewUser, User};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Checks;
use crate::caller::{Caller, SESSION_COOKIE};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, PeerAddr};
use crate::state::AppState;
use crate::tenant::TenantCtx;

/// A user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    pub id: String,
    pub email: String,
    pub display_name: String,
    #[schema(value_type = String, example = "member")]
    pub role: GlobalRole,
    pub disabled: bool,
    pub created_at: String,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email,
            display_name: u.display_name,
            role: u.role,
            disabled: u.disabled,
            created_at: rampart_core::record::format_timestamp(&u.created_at),
        }
    }
}

pub fn check_password(checks: &mut Checks, field: &str, password: &str) {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        checks.push(FieldError::new(
            field,
            "password_too_short",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    } else if n > MAX_PASSWORD_CHARS {
        checks.push(FieldError::new(
            field,
            "password_too_long",
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupIn {
    /// The one-time setup token printed at first start (`rps_...`).
    token: String,
    email: String,
    password: String,
    #[serde(default)]
    display_name: Option<String>,
}

/// Creates the tenant's first owner with the one-time setup token.
#[utoipa::path(post, path = "/api/v1/setup", tag = "identity", request_body = SetupIn,
    responses((status = 201, body = UserOut)))]
pub async fn setup(
    State(state): State<AppState>,
    tenant: TenantCtx,
    ApiJson(body): ApiJson<SetupIn>,
) -> ApiResult<(StatusCode, axum::Json<UserOut>)> {
    let mut checks = Checks::default();
    checks.check(validate_email("email", body.email.trim()));
    check_password(&mut checks, "password", &body.password);
    let display_name = body
        .display_name
        .unwrap_or_else(|| body.email.split('@').next().unwrap_or_default().to_owned());
    checks.check(validate_display_name("display_name", &display_name));
    checks.finish()?;
    let password = SecretString::from(body.password);
    let user = authn::complete_setup(
        &tenant.store,
        &state.hasher,
        &body.token,
        NewUser {
            email: body.email,
            display_name,
            role: GlobalRole::Owner,
            password_hash: None,
        },
        &password,
    )
    .await
    .map_err(|e| match e {
        SetupError::InvalidToken => ApiError::field(
            "token",
            "invalid_token",
            "the setup token is invalid, used or expired",
        ),
        SetupError::Auth(a) => a.into(),
    })?;
    Ok((StatusCode::CREATED, axum::Json(user.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginIn {
    email: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginOut {
    user: UserOut,
    expires_at: String,
}

fn session_cookie(value: &str, max_age_secs: i64) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}"
    ))
    .map_err(|e| ApiError::internal(&e))
}

/// The peer address as seen on the socket. Forwarding headers are not believed here; the
/// edge work adds trusted proxies.
fn client_info(peer: Option<SocketAddr>, headers: &HeaderMap) -> ClientInfo {
    ClientInfo {
        ip: peer.map(|p| p.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect()),
    }
}

/// Signs in with email and password; sets the session cookie.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "identity", request_body = LoginIn,
    responses((status = 200, body = LoginOut)))]
pub async fn login(
    State(state): State<AppState>,
    tenant: TenantCtx,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginIn>,
) -> ApiResult<Response> {
    let password = SecretString::from(body.password);
    let session = authn::login(
        &tenant.store,
        &state.hasher,
        &body.email,
        &password,
        state.session_policy(),
        client_info(peer, &headers),
    )
    .await
    .map_err(|e| match e {
        authn::AuthError::Unauthenticated => ApiError {
            www_authenticate: false,
            ..ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid credentials",
            )
            .detail("the email or password is wrong")
        },
        other => other.into(),
    })?;
    let max_age = (session.expires_at - chrono::Utc::now())
        .num_seconds()
        .max(0);
    let cookie = session_cookie(session.cookie_value.expose_secret(), max_age)?;
    let out = LoginOut {
        user: session.user.into(),
        expires_at: rampart_core::record::format_timestamp(&session.expires_at),
    };
    let mut response = axum::Json(out).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// Ends the current session and clears its cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "identity",
    responses((status = 204, description = "signed out")), security(("session" = []), ("token" = [])))]
pub async fn logout(caller: Caller) -> ApiResult<Response> {
    authn::logout(&caller.tenant.store, &caller.principal).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0)?);
    Ok(response)
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "identity",
    responses((status = 200, body = UserOut)), security(("session" = []), ("token" = [])))]
pub async fn me(caller: Caller) -> axum::Json<UserOut> {
    axum::Json(caller.principal.user.into())
}
