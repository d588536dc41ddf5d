//! Passkeys (WebAuthn): the caller registers, lists, renames and removes their own; anyone
//! signs in with one, after a password as the second factor or without a password at all.
//!
//! Every ceremony has two calls: the first answers with `options` for the browser's
//! `navigator.credentials.create()` / `.get()` and a `ceremony_id`; the second sends the
//! browser's credential back with that id.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rampart_auth::authn::passkeys::{
    self, Ceremony, PublicKeyCredential, RegisterPublicKeyCredential, RelyingParty,
};
use rampart_core::names::validate_display_name;
use rampart_core::record::format_timestamp;
use rampart_store::passkeys::StoredPasskey;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Checks;
use super::identity::{LoginOut, client_info, invalid_credentials, signed_in};
use crate::caller::Caller;
use crate::client_addr::ClientAddr;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use crate::tenant::TenantCtx;

/// The first step of a ceremony.
#[derive(Serialize, ToSchema)]
pub struct CeremonyOut {
    /// Send back with the credential; valid five minutes, once.
    ceremony_id: String,
    /// `publicKey` options for `navigator.credentials.create()` or `.get()`.
    #[schema(value_type = Object)]
    options: serde_json::Value,
}

impl From<Ceremony> for CeremonyOut {
    fn from(c: Ceremony) -> Self {
        Self {
            ceremony_id: c.id.to_string(),
            options: c.options,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyOut {
    id: String,
    name: String,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used_at: Option<String>,
}

impl From<StoredPasskey> for PasskeyOut {
    fn from(p: StoredPasskey) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name,
            created_at: format_timestamp(&p.created_at),
            last_used_at: p.last_used_at.as_ref().map(format_timestamp),
        }
    }
}

fn relying_party(state: &AppState, tenant: &TenantCtx) -> ApiResult<RelyingParty> {
    state.relying_party(tenant).ok_or_else(|| {
        ApiError::bad_request(
            "passkeys_unavailable",
            "passkeys need the site to be addressed by a host name",
        )
    })
}

fn ceremony_id(text: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(text).map_err(|_| {
        ApiError::field(
            "ceremony_id",
            "invalid_ceremony",
            "not a ceremony id from the first step",
        )
    })
}

fn credential<T: DeserializeOwned>(value: serde_json::Value) -> ApiResult<T> {
    serde_json::from_value(value).map_err(|e| {
        ApiError::field(
            "credential",
            "invalid_credential",
            format!("not a WebAuthn credential as the browser returns it: {e}"),
        )
    })
}

/// Starts registering a passkey. Needs a recently re-authenticated session.
#[utoipa::path(post, path = "/api/v1/me/passkeys/registrations", tag = "account",
    responses((status = 200, body = CeremonyOut)), security(("session" = [])))]
pub async fn begin_registration(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<CeremonyOut>> {
    caller.require_recent_auth(&state)?;
    let rp = relying_party(&state, &caller.tenant)?;
    let ceremony =
        passkeys::begin_registration(&caller.tenant.store, &rp, &caller.principal.user).await?;
    Ok(axum::Json(ceremony.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterIn {
    ceremony_id: String,
    /// What the user calls it ("laptop", "phone").
    name: String,
    /// The `PublicKeyCredential` from `navigator.credentials.create()`, as JSON.
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct RegisteredOut {
    passkey: PasskeyOut,
    /// Ten single-use codes, when this passkey is the user's first second factor. Shown
    /// this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_codes: Option<Vec<String>>,
}

/// Finishes registering a passkey; it works as a second factor and for passwordless
/// sign-in from then on.
#[utoipa::path(post, path = "/api/v1/me/passkeys", tag = "account", request_body = RegisterIn,
    responses((status = 201, body = RegisteredOut)), security(("session" = [])))]
pub async fn finish_registration(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<RegisterIn>,
) -> ApiResult<(StatusCode, axum::Json<RegisteredOut>)> {
    caller.require_recent_auth(&state)?;
    let name = body.name.trim().to_owned();
    let mut checks = Checks::default();
    checks.check(validate_display_name("name", &name));
    checks.finish()?;
    let ceremony = ceremony_id(&body.ceremony_id)?;
    let credential: RegisterPublicKeyCredential = credential(body.credential)?;
    let rp = relying_party(&state, &caller.tenant)?;
    let registered = passkeys::finish_registration(
        &caller.tenant.store,
        &rp,
        caller.principal.user.id,
        ceremony,
        name,
        credential,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(RegisteredOut {
            passkey: registered.passkey.into(),
            recovery_codes: registered.recovery_codes,
        }),
    ))
}

/// The caller's passkeys.
#[utoipa::path(get, path = "/api/v1/me/passkeys", tag = "account",
    responses((status = 200, body = Vec<PasskeyOut>)), security(("session" = []), ("token" = [])))]
pub async fn list(caller: Caller) -> ApiResult<axum::Json<Vec<PasskeyOut>>> {
    let keys = passkeys::list(&caller.tenant.store, caller.principal.user.id).await?;
    Ok(axum::Json(keys.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameIn {
    name: String,
}

/// Renames one of the caller's passkeys.
#[utoipa::path(patch, path = "/api/v1/me/passkeys/{passkey_id}", tag = "account",
    params(("passkey_id" = String, Path)), request_body = RenameIn,
    responses((status = 204)), security(("session" = [])))]
pub async fn rename(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RenameIn>,
) -> ApiResult<StatusCode> {
    if !caller.principal.is_cookie_session() {
        return Err(ApiError::session_required());
    }
    let name = body.name.trim().to_owned();
    let mut checks = Checks::default();
    checks.check(validate_display_name("name", &name));
    checks.finish()?;
    passkeys::rename(&caller.tenant.store, caller.principal.user.id, id, name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes one of the caller's passkeys. Needs a recently re-authenticated session.
#[utoipa::path(delete, path = "/api/v1/me/passkeys/{passkey_id}", tag = "account",
    params(("passkey_id" = String, Path)),
    responses((status = 204)), security(("session" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    caller.require_recent_auth(&state)?;
    passkeys::remove(&caller.tenant.store, caller.principal.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInOptionsIn {
    email: String,
}

/// Starts a passwordless sign-in. The answer has the same shape whether or not the account
/// exists or has passkeys.
#[utoipa::path(post, path = "/api/v1/auth/passkey/options", tag = "identity",
    request_body = SignInOptionsIn, responses((status = 200, body = CeremonyOut)))]
pub async fn sign_in_options(
    State(state): State<AppState>,
    tenant: TenantCtx,
    ApiJson(body): ApiJson<SignInOptionsIn>,
) -> ApiResult<axum::Json<CeremonyOut>> {
    let rp = relying_party(&state, &tenant)?;
    let ceremony = passkeys::begin_sign_in(&tenant.store, &rp, body.email.trim()).await?;
    Ok(axum::Json(ceremony.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssertionIn {
    ceremony_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.get()`, as JSON.
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

/// Signs in with a passkey (no password); sets the session cookie.
#[utoipa::path(post, path = "/api/v1/auth/passkey", tag = "identity",
    request_body = AssertionIn, responses((status = 200, body = LoginOut)))]
pub async fn sign_in(
    State(state): State<AppState>,
    tenant: TenantCtx,
    client: ClientAddr,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AssertionIn>,
) -> ApiResult<Response> {
    let ceremony = ceremony_id(&body.ceremony_id)?;
    let credential: PublicKeyCredential = credential(body.credential)?;
    let rp = relying_party(&state, &tenant)?;
    let session = passkeys::finish_sign_in(
        &tenant.store,
        &rp,
        ceremony,
        credential,
        state.session_policy(),
        client_info(client, &headers),
    )
    .await
    .map_err(|e| match e {
        rampart_auth::authn::AuthError::Unauthenticated => {
            invalid_credentials("the passkey was not accepted; start again")
        }
        other => other.into(),
    })?;
    signed_in(session)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeIn {
    /// The `challenge` of the login answer.
    challenge: String,
}

/// Starts a passkey assertion as the second factor of a login (after the password).
#[utoipa::path(post, path = "/api/v1/auth/login/second-factor/passkey-options", tag = "identity",
    request_body = ChallengeIn, responses((status = 200, body = CeremonyOut)))]
pub async fn second_factor_options(
    State(state): State<AppState>,
    tenant: TenantCtx,
    ApiJson(body): ApiJson<ChallengeIn>,
) -> ApiResult<axum::Json<CeremonyOut>> {
    let rp = relying_party(&state, &tenant)?;
    let ceremony = passkeys::begin_second_factor(&tenant.store, &rp, &body.challenge)
        .await
        .map_err(|e| match e {
            rampart_auth::authn::AuthError::Unauthenticated => invalid_credentials(
                "the challenge expired or was used up, or the account has no passkey; sign in again",
            ),
            other => other.into(),
        })?;
    Ok(axum::Json(ceremony.into()))
}

/// A passkey's answer inside the second-factor call.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyAnswerIn {
    ceremony_id: String,
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

impl PasskeyAnswerIn {
    /// The proof for `complete_second_factor`.
    pub fn into_proof(
        self,
        state: &AppState,
        tenant: &TenantCtx,
    ) -> ApiResult<passkeys::PasskeyProof> {
        Ok(passkeys::PasskeyProof {
            relying_party: relying_party(state, tenant)?,
            ceremony: ceremony_id(&self.ceremony_id)?,
            credential: Box::new(credential(self.credential)?),
        })
    }
}
