//! First-owner setup, login, logout and the current user.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rampart_auth::authn::{
    self, ClientInfo, LoginOutcome, NewSession, SecondFactorProof, SetupError,
};
use rampart_core::GlobalRole;
use rampart_core::names::{validate_display_name, validate_email};
use rampart_store::identity::{NewUser, User};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Checks;
use crate::caller::{Caller, SESSION_COOKIE};
use crate::client_addr::ClientAddr;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
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

/// Checks a new password against the policy (length, block list, strength given the
/// user's own email and name), adding any problem to `checks`.
pub async fn check_new_password(
    state: &AppState,
    checks: &mut Checks,
    field: &str,
    password: &str,
    context: &[&str],
) {
    let result = state
        .password_policy()
        .check_async(
            field.to_owned(),
            password.to_owned(),
            context.iter().map(|s| (*s).to_owned()).collect(),
        )
        .await;
    checks.check(result);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupIn {
    /// The one-time setup token printed at first start (`rps_...`).
    token: String,
    #[schema(schema_with = crate::input_schemas::email)]
    email: String,
    password: String,
    #[serde(default)]
    #[schema(schema_with = crate::input_schemas::display_name_or_null)]
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
    let display_name = body
        .display_name
        .unwrap_or_else(|| body.email.split('@').next().unwrap_or_default().to_owned());
    checks.check(validate_display_name("display_name", &display_name));
    check_new_password(
        &state,
        &mut checks,
        "password",
        &body.password,
        &[&body.email, &display_name],
    )
    .await;
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

/// The answer to a login: signed in (the session cookie is set), or a second factor is needed.
#[derive(Serialize, ToSchema)]
pub struct LoginOut {
    /// `signed_in`, or `second_factor_required`: then post `challenge` with a code to
    /// `/api/v1/auth/login/second-factor`.
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<UserOut>,
    /// When the session (or the challenge) expires.
    expires_at: String,
    /// `rpc_...`, single use, valid a few minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    challenge: Option<String>,
    /// The kinds of second factor the challenge accepts.
    #[serde(skip_serializing_if = "Option::is_none")]
    methods: Option<Vec<String>>,
}

fn session_cookie(value: &str, max_age_secs: i64) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}"
    ))
    .map_err(|e| ApiError::internal(&e))
}

/// The resolved client address (forwarding headers only from trusted proxies) and agent.
pub fn client_info(client: ClientAddr, headers: &HeaderMap) -> ClientInfo {
    ClientInfo {
        ip: Some(client.ip.to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect()),
    }
}

/// A signed-in answer that sets the session cookie.
pub fn signed_in(session: NewSession) -> ApiResult<Response> {
    let max_age = (session.expires_at - chrono::Utc::now())
        .num_seconds()
        .max(0);
    let cookie = session_cookie(session.cookie_value.expose_secret(), max_age)?;
    let out = LoginOut {
        status: "signed_in".into(),
        user: Some(session.user.into()),
        expires_at: rampart_core::record::format_timestamp(&session.expires_at),
        challenge: None,
        methods: None,
    };
    let mut response = axum::Json(out).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

pub(crate) fn invalid_credentials(detail: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "Invalid credentials",
    )
    .detail(detail)
}

/// Signs in with email and password. Sets the session cookie, or answers with a challenge
/// when the user has a second factor. Failures slow down per account and per address.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "identity", request_body = LoginIn,
    responses((status = 200, body = LoginOut)))]
pub async fn login(
    State(state): State<AppState>,
    tenant: TenantCtx,
    client: ClientAddr,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginIn>,
) -> ApiResult<Response> {
    let password = SecretString::from(body.password);
    let outcome = authn::login(
        &tenant.store,
        &state.hasher,
        &body.email,
        &password,
        state.session_policy(),
        client_info(client, &headers),
    )
    .await
    .map_err(|e| match e {
        authn::AuthError::Unauthenticated => invalid_credentials("the email or password is wrong"),
        other => other.into(),
    })?;
    match outcome {
        LoginOutcome::SignedIn(session) => signed_in(session),
        LoginOutcome::SecondFactorRequired(challenge) => Ok(axum::Json(LoginOut {
            status: "second_factor_required".into(),
            user: None,
            expires_at: rampart_core::record::format_timestamp(&challenge.expires_at),
            challenge: Some(challenge.token.expose_secret().to_owned()),
            methods: Some(challenge.methods.iter().map(|m| (*m).to_owned()).collect()),
        })
        .into_response()),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecondFactorIn {
    /// The `challenge` of the login answer.
    challenge: String,
    /// A 6-digit code from the authenticator app.
    #[serde(default)]
    code: Option<String>,
    /// Or one of the recovery codes (each works once).
    #[serde(default)]
    recovery_code: Option<String>,
    /// Or a passkey's answer to `/api/v1/auth/login/second-factor/passkey-options`.
    #[serde(default)]
    passkey: Option<super::passkeys::PasskeyAnswerIn>,
}

/// Completes a login with the second factor; sets the session cookie.
#[utoipa::path(post, path = "/api/v1/auth/login/second-factor", tag = "identity",
    request_body = SecondFactorIn, responses((status = 200, body = LoginOut)))]
pub async fn login_second_factor(
    State(state): State<AppState>,
    tenant: TenantCtx,
    client: ClientAddr,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SecondFactorIn>,
) -> ApiResult<Response> {
    let proof = match (body.code, body.recovery_code, body.passkey) {
        (Some(code), None, None) => SecondFactorProof::Totp(code),
        (None, Some(code), None) => SecondFactorProof::RecoveryCode(code),
        (None, None, Some(answer)) => {
            SecondFactorProof::Passkey(answer.into_proof(&state, &tenant)?)
        }
        _ => {
            return Err(ApiError::field(
                "code",
                "one_of_required",
                "give exactly one of code, recovery_code and passkey",
            ));
        }
    };
    let session = authn::complete_second_factor(
        &tenant.store,
        &body.challenge,
        proof,
        state.session_policy(),
        client_info(client, &headers),
    )
    .await
    .map_err(|e| match e {
        authn::AuthError::Unauthenticated => invalid_credentials(
            "the code is wrong or already used, or the challenge expired; sign in again if it keeps failing",
        ),
        other => other.into(),
    })?;
    signed_in(session)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReauthIn {
    password: String,
}

/// Confirms the password of the current session, opening a short window for sensitive
/// actions (second factors, tokens, roles).
#[utoipa::path(post, path = "/api/v1/auth/reauth", tag = "identity", request_body = ReauthIn,
    responses((status = 204, description = "confirmed")), security(("session" = [])))]
pub async fn reauth(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ReauthIn>,
) -> ApiResult<StatusCode> {
    authn::reauthenticate(
        &caller.tenant.store,
        &state.hasher,
        &caller.principal,
        &SecretString::from(body.password),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
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

/// The signed-in user, and where they stand on second factors.
#[derive(Serialize, ToSchema)]
pub struct MeOut {
    #[serde(flatten)]
    user: UserOut,
    /// Whether the user has a confirmed second factor.
    second_factor: bool,
    /// Whether the tenant requires one (without it, only `/api/v1/me/...` answers).
    second_factor_required: bool,
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "identity",
    responses((status = 200, body = MeOut)), security(("session" = []), ("token" = [])))]
pub async fn me(caller: Caller) -> axum::Json<MeOut> {
    let p = caller.principal;
    axum::Json(MeOut {
        second_factor: p.has_second_factor,
        second_factor_required: p.second_factor_required,
        user: p.user.into(),
    })
}
