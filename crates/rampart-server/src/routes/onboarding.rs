//! People arriving and moving by mail: invitations from admins, self-registration when the
//! tenant allows it, and a user moving their account to a new address.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Duration;
use rampart_auth::authn::onboarding::{self, OnboardingError};
use rampart_core::GlobalRole;
use rampart_core::names::{validate_display_name, validate_email};
use rampart_store::email_tokens::{EmailToken, Purpose};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Checks;
use super::identity::{UserOut, check_new_password};
use crate::caller::{Caller, TenantAdmin};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::mail;
use crate::state::AppState;
use crate::tenant::TenantCtx;

/// How long an invitation works.
const INVITATION_VALID: Duration = Duration::days(7);
/// How long sign-up and email-change confirmations work.
const CONFIRMATION_VALID: Duration = Duration::hours(24);

fn mailer(state: &AppState) -> ApiResult<mail::Mailer> {
    state.mailer.clone().ok_or_else(mail::unavailable)
}

fn message(state: &AppState, tenant: &TenantCtx, intro: &str, path: &str, token: &str) -> String {
    let site = state.tenant_url(tenant);
    format!(
        "{intro} at {site}.\n\nOpen this link:\n\n{site}{path}#token={token}\n\n\
         or give this code to the API:\n\n{token}\n\n\
         If you did not expect this message, ignore it.\n"
    )
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationIn {
    #[schema(schema_with = crate::input_schemas::email)]
    email: String,
    #[serde(default = "member")]
    #[schema(schema_with = crate::input_schemas::global_role)]
    role: GlobalRole,
}

fn member() -> GlobalRole {
    GlobalRole::Member
}

#[derive(Serialize, ToSchema)]
pub struct InvitationOut {
    email: String,
    #[schema(value_type = String)]
    role: GlobalRole,
    expires_at: String,
}

/// Invites someone by mail (tenant admins; admins invite members, owners any role, which
/// needs a recently re-authenticated session). The account exists once they accept.
#[utoipa::path(post, path = "/api/v1/invitations", tag = "users", request_body = InvitationIn,
    responses((status = 202, body = InvitationOut)), security(("session" = []), ("token" = [])))]
pub async fn invite(
    State(state): State<AppState>,
    TenantAdmin(caller): TenantAdmin,
    ApiJson(body): ApiJson<InvitationIn>,
) -> ApiResult<(StatusCode, axum::Json<InvitationOut>)> {
    let email = body.email.trim().to_owned();
    validate_email("email", &email)?;
    if body.role >= GlobalRole::Admin {
        caller.require_recent_auth(&state)?;
    }
    if !caller.principal.role().may_assign(body.role) {
        return Err(ApiError::forbidden(
            "forbidden",
            "your role may not invite users with this role",
        ));
    }
    let mailer = mailer(&state)?;
    let token = onboarding::issue(
        &caller.tenant.store,
        Purpose::Invitation,
        EmailToken {
            email: email.clone(),
            user_id: None,
            role: Some(body.role),
        },
        INVITATION_VALID,
    )
    .await?
    .ok_or_else(|| ApiError::from(OnboardingError::EmailTaken))?;
    let text = message(
        &state,
        &caller.tenant,
        &format!(
            "{} invited you to join as {}",
            caller.principal.user.display_name,
            body.role.as_str()
        ),
        "/accept-invitation",
        token.expose_secret(),
    );
    mail::send_later(mailer, email.clone(), "You are invited to Rampart", text);
    tracing::info!(target: "rampart::security", event = "user_invited", by = %caller.principal.user.id, role = body.role.as_str());
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(InvitationOut {
            email,
            role: body.role,
            expires_at: rampart_core::record::format_timestamp(
                &(chrono::Utc::now() + INVITATION_VALID),
            ),
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountIn {
    /// The `rpe_...` code from the mail.
    token: String,
    #[schema(schema_with = crate::input_schemas::display_name)]
    display_name: String,
    password: String,
}

async fn create_account(
    state: &AppState,
    tenant: &TenantCtx,
    purpose: Purpose,
    body: NewAccountIn,
) -> ApiResult<(StatusCode, axum::Json<UserOut>)> {
    let found = onboarding::peek(&tenant.store, &body.token, purpose)
        .await
        .map_err(ApiError::from)?;
    let display_name = body.display_name.trim().to_owned();
    let mut checks = Checks::default();
    checks.check(validate_display_name("display_name", &display_name));
    check_new_password(
        state,
        &mut checks,
        "password",
        &body.password,
        &[&found.email, &display_name],
    )
    .await;
    checks.finish()?;
    let user = onboarding::create_account(
        &tenant.store,
        &state.hasher,
        &body.token,
        purpose,
        display_name,
        &SecretString::from(body.password),
    )
    .await
    .map_err(ApiError::from)?;
    Ok((StatusCode::CREATED, axum::Json(user.into())))
}

/// Accepts an invitation: creates the account with the invited email and role. Sign in
/// afterwards.
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "identity",
    request_body = NewAccountIn, responses((status = 201, body = UserOut)))]
pub async fn accept(
    State(state): State<AppState>,
    tenant: TenantCtx,
    ApiJson(body): ApiJson<NewAccountIn>,
) -> ApiResult<(StatusCode, axum::Json<UserOut>)> {
    create_account(&state, &tenant, Purpose::Invitation, body).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailIn {
    #[schema(schema_with = crate::input_schemas::email)]
    email: String,
}

fn registration_closed() -> ApiError {
    ApiError::forbidden(
        "registration_closed",
        "this site does not take sign-ups; ask an administrator for an invitation",
    )
}

/// Signs up (when the tenant allows it, optionally for some email domains only): a
/// confirmation code goes to the address. The answer is the same whether or not an account
/// already uses it.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "identity",
    request_body = EmailIn, responses((status = 202, description = "accepted")))]
pub async fn register(
    State(state): State<AppState>,
    tenant: TenantCtx,
    ApiJson(body): ApiJson<EmailIn>,
) -> ApiResult<StatusCode> {
    let Some(domains) = onboarding::registration_domains(&tenant.store).await? else {
        return Err(registration_closed());
    };
    let email = body.email.trim().to_owned();
    validate_email("email", &email)?;
    if !onboarding::domain_allowed(&email, &domains) {
        return Err(ApiError::field(
            "email",
            "domain_not_allowed",
            format!("sign-ups are open to {} addresses only", domains.join(", ")),
        ));
    }
    let mailer = mailer(&state)?;
    let token = onboarding::issue(
        &tenant.store,
        Purpose::SignUp,
        EmailToken {
            email: email.clone(),
            user_id: None,
            role: None,
        },
        CONFIRMATION_VALID,
    )
    .await?;
    if let Some(token) = token {
        let text = message(
            &state,
            &tenant,
            "Someone signed up with this address",
            "/confirm-sign-up",
            token.expose_secret(),
        );
        mail::send_later(mailer, email, "Confirm your Rampart sign-up", text);
    }
    Ok(StatusCode::ACCEPTED)
}

/// Finishes a sign-up with the mailed code: creates a member account. Sign in afterwards.
#[utoipa::path(post, path = "/api/v1/auth/register/confirm", tag = "identity",
    request_body = NewAccountIn, responses((status = 201, body = UserOut)))]
pub async fn confirm_registration(
    State(state): State<AppState>,
    tenant: TenantCtx,
    ApiJson(body): ApiJson<NewAccountIn>,
) -> ApiResult<(StatusCode, axum::Json<UserOut>)> {
    let Some(domains) = onboarding::registration_domains(&tenant.store).await? else {
        return Err(registration_closed());
    };
    let found = onboarding::peek(&tenant.store, &body.token, Purpose::SignUp)
        .await
        .map_err(ApiError::from)?;
    if !onboarding::domain_allowed(&found.email, &domains) {
        return Err(registration_closed());
    }
    create_account(&state, &tenant, Purpose::SignUp, body).await
}

/// Asks to move the caller's account to a new address (a recently re-authenticated
/// session). Nothing changes until the code mailed to the new address comes back.
#[utoipa::path(post, path = "/api/v1/me/email", tag = "account", request_body = EmailIn,
    responses((status = 202, description = "accepted")), security(("session" = [])))]
pub async fn change_email(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<EmailIn>,
) -> ApiResult<StatusCode> {
    caller.require_recent_auth(&state)?;
    let email = body.email.trim().to_owned();
    validate_email("email", &email)?;
    let mailer = mailer(&state)?;
    let token = onboarding::issue(
        &caller.tenant.store,
        Purpose::EmailChange,
        EmailToken {
            email: email.clone(),
            user_id: Some(caller.principal.user.id),
            role: None,
        },
        CONFIRMATION_VALID,
    )
    .await?;
    if let Some(token) = token {
        let text = message(
            &state,
            &caller.tenant,
            &format!(
                "{} asked to move their account to this address",
                caller.principal.user.display_name
            ),
            "/confirm-email",
            token.expose_secret(),
        );
        mail::send_later(mailer, email, "Confirm your new Rampart address", text);
    }
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenIn {
    token: String,
}

/// Confirms a new address with the mailed code; every session of the account ends.
#[utoipa::path(post, path = "/api/v1/auth/email-change/confirm", tag = "identity",
    request_body = TokenIn, responses((status = 200, body = UserOut)))]
pub async fn confirm_email(
    tenant: TenantCtx,
    ApiJson(body): ApiJson<TokenIn>,
) -> ApiResult<axum::Json<UserOut>> {
    let user = onboarding::confirm_email_change(&tenant.store, &body.token)
        .await
        .map_err(ApiError::from)?;
    Ok(axum::Json(user.into()))
}
