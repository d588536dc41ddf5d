//! The signed-in user's own account: password, sessions, second factors.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rampart_app::sessions;
use rampart_auth::authn;
use rampart_auth::authn::second_factor;
use rampart_core::record::format_timestamp;
use rampart_store::identity::SessionInfo;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Checks;
use super::identity::{check_new_password, client_info, signed_in};
use crate::caller::Caller;
use crate::client_addr::ClientAddr;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordIn {
    current_password: String,
    new_password: String,
}

/// Changes the caller's password (sessions only, never API tokens). Every session of the
/// user ends; the caller gets a fresh session cookie in the answer.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "account", request_body = PasswordIn,
    responses((status = 200, body = crate::routes::identity::LoginOut)), security(("session" = [])))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientAddr,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PasswordIn>,
) -> ApiResult<Response> {
    if !caller.principal.is_cookie_session() {
        return Err(ApiError::session_required());
    }
    let user = &caller.principal.user;
    let mut checks = Checks::default();
    check_new_password(
        &state,
        &mut checks,
        "new_password",
        &body.new_password,
        &[&user.email, &user.display_name],
    )
    .await;
    if body.new_password == body.current_password {
        checks.push(rampart_core::FieldError::new(
            "new_password",
            "password_unchanged",
            "must differ from the current password",
        ));
    }
    checks.finish()?;
    let session = authn::change_password(
        &caller.tenant.store,
        &state.hasher,
        &caller.principal,
        &SecretString::from(body.current_password),
        &SecretString::from(body.new_password),
        state.session_policy(),
        client_info(client, &headers),
    )
    .await
    .map_err(|e| match e {
        authn::AuthError::WrongPassword => ApiError::field(
            "current_password",
            "wrong_password",
            "the current password is wrong",
        ),
        other => other.into(),
    })?;
    match session {
        Some(s) => signed_in(s),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// One of the caller's sessions.
#[derive(Serialize, ToSchema)]
pub struct SessionOut {
    id: String,
    created_at: String,
    last_seen_at: String,
    expires_at: String,
    ip: Option<String>,
    /// The browser or client that opened it.
    user_agent: Option<String>,
    /// Whether this is the session making the request.
    current: bool,
}

fn session_out(s: SessionInfo, current: Option<[u8; 32]>) -> SessionOut {
    SessionOut {
        id: s.public_id.to_string(),
        created_at: format_timestamp(&s.created_at),
        last_seen_at: format_timestamp(&s.last_seen_at),
        expires_at: format_timestamp(&s.expires_at),
        current: current.is_some_and(|h| h.as_slice() == s.id_hash.as_slice()),
        ip: s.ip,
        user_agent: s.user_agent,
    }
}

/// The caller's live sessions, newest first.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "account",
    responses((status = 200, body = [SessionOut])), security(("session" = []), ("token" = [])))]
pub async fn sessions(caller: Caller) -> ApiResult<axum::Json<Vec<SessionOut>>> {
    let live = caller
        .read(|tx, me, _| Box::pin(sessions::list(tx, me)))
        .await?;
    let current = sessions::current(&caller.principal);
    Ok(axum::Json(
        live.into_iter().map(|s| session_out(s, current)).collect(),
    ))
}

/// Ends one of the caller's sessions.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{session_id}", tag = "account",
    params(("session_id" = String, Path)),
    responses((status = 204)), security(("session" = []), ("token" = [])))]
pub async fn revoke_session(
    caller: Caller,
    ApiPath(session_id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    caller
        .write(move |tx, me, _| Box::pin(sessions::revoke(tx, me, session_id)))
        .await?;
    tracing::info!(target: "rampart::security", event = "session_revoked", user = %caller.principal.user.id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct RevokedOut {
    /// How many sessions ended.
    revoked: u64,
}

/// Ends every session of the caller except the current one.
#[utoipa::path(delete, path = "/api/v1/me/sessions", tag = "account",
    responses((status = 200, body = RevokedOut)), security(("session" = []), ("token" = [])))]
pub async fn revoke_other_sessions(caller: Caller) -> ApiResult<axum::Json<RevokedOut>> {
    let revoked = caller
        .write(|tx, me, _| Box::pin(sessions::revoke_others(tx, me)))
        .await?;
    tracing::info!(target: "rampart::security", event = "other_sessions_revoked", user = %caller.principal.user.id, revoked);
    Ok(axum::Json(RevokedOut { revoked }))
}

/// The caller's second factors.
#[derive(Serialize, ToSchema)]
pub struct FactorsOut {
    /// TOTP (authenticator app) is enabled.
    totp: bool,
    /// Passkeys registered (see `/api/v1/me/passkeys`).
    passkeys: i64,
    /// Unused recovery codes left.
    recovery_codes_left: i64,
    /// The tenant requires a second factor.
    required: bool,
}

/// What second factors the caller has.
#[utoipa::path(get, path = "/api/v1/me/second-factors", tag = "account",
    responses((status = 200, body = FactorsOut)), security(("session" = []), ("token" = [])))]
pub async fn factors(caller: Caller) -> ApiResult<axum::Json<FactorsOut>> {
    let status = second_factor::status(&caller.tenant.store, caller.principal.user.id).await?;
    Ok(axum::Json(FactorsOut {
        totp: status.totp,
        passkeys: status.passkeys,
        recovery_codes_left: status.recovery_codes_left,
        required: caller.principal.second_factor_required,
    }))
}

/// A TOTP enrolment to confirm.
#[derive(Serialize, ToSchema)]
pub struct TotpEnrolmentOut {
    /// The seed in base32, to type into an authenticator app.
    secret: String,
    /// The `otpauth://` URI, to show as a QR code.
    uri: String,
}

/// Starts enrolling TOTP (an authenticator app). Nothing changes for sign-in until a code
/// confirms it. Needs a recently re-authenticated session: a stolen old session must not be
/// able to plant the attacker's authenticator.
#[utoipa::path(post, path = "/api/v1/me/second-factors/totp", tag = "account",
    responses((status = 201, body = TotpEnrolmentOut)), security(("session" = [])))]
pub async fn begin_totp(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<(StatusCode, axum::Json<TotpEnrolmentOut>)> {
    caller.require_recent_auth(&state)?;
    let issuer = format!("Rampart ({})", caller.tenant.tenant.slug);
    let enrolment =
        second_factor::begin_totp(&caller.tenant.store, &caller.principal.user, &issuer).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(TotpEnrolmentOut {
            secret: enrolment.secret,
            uri: enrolment.uri,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeIn {
    /// The 6-digit code the authenticator app shows now.
    code: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesOut {
    /// Ten single-use codes for when the authenticator is lost. Shown this once.
    recovery_codes: Vec<String>,
}

/// Confirms a TOTP enrolment with a code; answers with the recovery codes.
#[utoipa::path(post, path = "/api/v1/me/second-factors/totp/confirm", tag = "account",
    request_body = CodeIn,
    responses((status = 200, body = RecoveryCodesOut)), security(("session" = [])))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CodeIn>,
) -> ApiResult<axum::Json<RecoveryCodesOut>> {
    caller.require_recent_auth(&state)?;
    let codes =
        second_factor::confirm_totp(&caller.tenant.store, caller.principal.user.id, body.code)
            .await?;
    Ok(axum::Json(RecoveryCodesOut {
        recovery_codes: codes,
    }))
}

/// Removes TOTP (and the recovery codes, unless a passkey remains).
#[utoipa::path(delete, path = "/api/v1/me/second-factors/totp", tag = "account",
    responses((status = 204)), security(("session" = [])))]
pub async fn remove_totp(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    caller.require_recent_auth(&state)?;
    second_factor::remove_totp(&caller.tenant.store, caller.principal.user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the recovery codes with ten new ones; the old ones stop working.
#[utoipa::path(post, path = "/api/v1/me/second-factors/recovery-codes", tag = "account",
    responses((status = 200, body = RecoveryCodesOut)), security(("session" = [])))]
pub async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<RecoveryCodesOut>> {
    caller.require_recent_auth(&state)?;
    let codes =
        second_factor::regenerate_recovery_codes(&caller.tenant.store, caller.principal.user.id)
            .await?;
    Ok(axum::Json(RecoveryCodesOut {
        recovery_codes: codes,
    }))
}
