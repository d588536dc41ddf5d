//! Forgotten passwords: a reset link by mail, then a new password with the link's token.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Duration;
use rampart_auth::authn::reset::{self, ResetError};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use utoipa::ToSchema;

use super::Checks;
use super::identity::check_new_password;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::mail;
use crate::state::AppState;
use crate::tenant::TenantCtx;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequestIn {
    email: String,
}

/// Sends a password-reset link to the address, if it belongs to an enabled account. The
/// answer is the same whether or not it does; the mail leaves in the background.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "identity",
    request_body = ResetRequestIn, responses((status = 202, description = "accepted")))]
pub async fn request(
    State(state): State<AppState>,
    tenant: TenantCtx,
    ApiJson(body): ApiJson<ResetRequestIn>,
) -> ApiResult<StatusCode> {
    let Some(mailer) = state.mailer.clone() else {
        return Err(mail::unavailable());
    };
    let valid = Duration::minutes(i64::from(state.config.smtp.reset_minutes));
    let Some((user, token)) = reset::request_reset(&tenant.store, body.email.trim(), valid).await?
    else {
        return Ok(StatusCode::ACCEPTED);
    };
    let link = format!(
        "{}/reset-password#token={}",
        state.tenant_url(&tenant),
        token.expose_secret()
    );
    let text = format!(
        "Someone asked to reset the password of your account {email} at {site}.\n\n\
         To choose a new password, open this link within {minutes} minutes:\n\n{link}\n\n\
         or give this code to the API:\n\n{code}\n\n\
         If it was not you, ignore this message: your password stays as it is.\n",
        email = user.email,
        site = state.tenant_url(&tenant),
        minutes = state.config.smtp.reset_minutes,
        code = token.expose_secret(),
    );
    mail::send_later(mailer, user.email, "Reset your Rampart password", text);
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmIn {
    /// The `rpr_...` code from the mail.
    token: String,
    new_password: String,
}

fn invalid_token() -> ApiError {
    ApiError::field(
        "token",
        "invalid_token",
        "the reset code is invalid, used or expired; ask for a new one",
    )
}

/// Sets a new password with the code from the reset mail. Every session of the account
/// ends; signing in afterwards still asks for the second factor.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "identity",
    request_body = ResetConfirmIn, responses((status = 204, description = "password set")))]
pub async fn confirm(
    State(state): State<AppState>,
    tenant: TenantCtx,
    ApiJson(body): ApiJson<ResetConfirmIn>,
) -> ApiResult<StatusCode> {
    let map = |e: ResetError| match e {
        ResetError::InvalidToken => invalid_token(),
        ResetError::Auth(a) => a.into(),
    };
    let user = reset::reset_user(&tenant.store, &body.token)
        .await
        .map_err(map)?;
    let mut checks = Checks::default();
    check_new_password(
        &state,
        &mut checks,
        "new_password",
        &body.new_password,
        &[&user.email, &user.display_name],
    )
    .await;
    checks.finish()?;
    reset::complete_reset(
        &tenant.store,
        &state.hasher,
        &body.token,
        &SecretString::from(body.new_password),
    )
    .await
    .map_err(map)?;
    Ok(StatusCode::NO_CONTENT)
}
