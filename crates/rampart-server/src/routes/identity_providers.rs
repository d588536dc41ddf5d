//! The tenant's identity providers for single sign-on over HTTP (tenant admins;
//! `rampart_app::identity_providers`). A provider's client
//! secret is written and never read back: answers carry its keyed fingerprint; only the
//! server's own sign-in code opens it. Changes need a recently re-authenticated session, as
//! whoever controls a provider's issuer controls who can sign in through it.

use axum::extract::State;
use axum::http::StatusCode;
use rampart_app::identity_providers::{self as providers, ProviderRequest};
use rampart_core::record::format_timestamp;
use rampart_store::identity_providers::{Changes, Provider, ProviderId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::caller::TenantAdmin;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct ProviderOut {
    id: String,
    name: String,
    /// `oidc` (OpenID Connect).
    protocol: String,
    /// The issuer identifier: its discovery document is `<issuer>/.well-known/openid-configuration`.
    issuer: String,
    client_id: String,
    scopes: Vec<String>,
    /// A keyed fingerprint of the client secret: equal secrets have equal fingerprints; it
    /// reveals nothing else. The secret itself is never returned.
    client_secret_fingerprint: String,
    created_at: String,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_by: Option<String>,
}

impl From<Provider> for ProviderOut {
    fn from(p: Provider) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name,
            protocol: p.protocol,
            issuer: p.issuer,
            client_id: p.client_id,
            scopes: p.scopes,
            client_secret_fingerprint: p.secret_fingerprint,
            created_at: format_timestamp(&p.created_at),
            updated_at: format_timestamp(&p.updated_at),
            updated_by: p.updated_by.map(|u| u.to_string()),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderIn {
    #[schema(schema_with = crate::input_schemas::display_name)]
    name: String,
    /// `https://…` (or `http://` on a loopback host, for development); no query or fragment.
    #[schema(schema_with = crate::input_schemas::issuer)]
    issuer: String,
    #[schema(schema_with = crate::input_schemas::client_id)]
    client_id: String,
    #[schema(schema_with = crate::input_schemas::client_secret)]
    client_secret: String,
    /// Must include `openid`. Default `["openid", "email", "profile"]`.
    #[serde(default)]
    #[schema(schema_with = crate::input_schemas::scopes_or_null)]
    scopes: Option<Vec<String>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderUpdateIn {
    #[serde(default)]
    #[schema(schema_with = crate::input_schemas::display_name_or_null)]
    name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::input_schemas::issuer_or_null)]
    issuer: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::input_schemas::client_id_or_null)]
    client_id: Option<String>,
    /// A new client secret; the stored one is kept when absent.
    #[serde(default)]
    #[schema(schema_with = crate::input_schemas::client_secret_or_null)]
    client_secret: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::input_schemas::scopes_or_null)]
    scopes: Option<Vec<String>>,
}

/// Lists the tenant's identity providers (client secrets as fingerprints only).
#[utoipa::path(get, path = "/api/v1/identity-providers", tag = "users",
    responses((status = 200, body = [ProviderOut])), security(("session" = []), ("token" = [])))]
pub async fn list(TenantAdmin(caller): TenantAdmin) -> ApiResult<axum::Json<Vec<ProviderOut>>> {
    let all = caller
        .read(|tx, me, _| Box::pin(providers::list(tx, me)))
        .await?;
    Ok(axum::Json(all.into_iter().map(Into::into).collect()))
}

/// One identity provider.
#[utoipa::path(get, path = "/api/v1/identity-providers/{provider_id}", tag = "users",
    params(("provider_id" = String, Path)),
    responses((status = 200, body = ProviderOut)), security(("session" = []), ("token" = [])))]
pub async fn get(
    TenantAdmin(caller): TenantAdmin,
    ApiPath(id): ApiPath<ProviderId>,
) -> ApiResult<axum::Json<ProviderOut>> {
    let provider = caller
        .read(move |tx, me, _| Box::pin(providers::get(tx, me, id)))
        .await?;
    Ok(axum::Json(provider.into()))
}

/// Adds an OpenID Connect identity provider. Needs a recently re-authenticated session.
#[utoipa::path(post, path = "/api/v1/identity-providers", tag = "users", request_body = ProviderIn,
    responses((status = 201, body = ProviderOut)), security(("session" = [])))]
pub async fn create(
    State(state): State<AppState>,
    TenantAdmin(caller): TenantAdmin,
    ApiJson(body): ApiJson<ProviderIn>,
) -> ApiResult<(StatusCode, axum::Json<ProviderOut>)> {
    caller.require_recent_auth(&state)?;
    let request = ProviderRequest {
        name: body.name,
        issuer: body.issuer,
        client_id: body.client_id,
        client_secret: Zeroizing::new(body.client_secret),
        scopes: body.scopes,
    };
    let provider = caller
        .write(move |tx, me, _| Box::pin(providers::create(tx, me, request)))
        .await?;
    Ok((StatusCode::CREATED, axum::Json(provider.into())))
}

/// Changes an identity provider; what is not named is kept (the client secret too). Needs a
/// recently re-authenticated session.
#[utoipa::path(patch, path = "/api/v1/identity-providers/{provider_id}", tag = "users",
    params(("provider_id" = String, Path)), request_body = ProviderUpdateIn,
    responses((status = 200, body = ProviderOut)), security(("session" = [])))]
pub async fn update(
    State(state): State<AppState>,
    TenantAdmin(caller): TenantAdmin,
    ApiPath(id): ApiPath<ProviderId>,
    ApiJson(body): ApiJson<ProviderUpdateIn>,
) -> ApiResult<axum::Json<ProviderOut>> {
    caller.require_recent_auth(&state)?;
    let changes = Changes {
        name: body.name,
        issuer: body.issuer,
        client_id: body.client_id,
        client_secret: body.client_secret.map(Zeroizing::new),
        scopes: body.scopes,
    };
    let provider = caller
        .write(move |tx, me, _| Box::pin(providers::update(tx, me, id, changes)))
        .await?;
    Ok(axum::Json(provider.into()))
}

/// Deletes an identity provider and its sealed client secret. Needs a recently
/// re-authenticated session.
#[utoipa::path(delete, path = "/api/v1/identity-providers/{provider_id}", tag = "users",
    params(("provider_id" = String, Path)),
    responses((status = 204, description = "deleted")), security(("session" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    TenantAdmin(caller): TenantAdmin,
    ApiPath(id): ApiPath<ProviderId>,
) -> ApiResult<StatusCode> {
    caller.require_recent_auth(&state)?;
    caller
        .write(move |tx, me, _| Box::pin(providers::delete(tx, me, id)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use rampart_app::identity_providers::{
        MAX_CLIENT_SECRET_CHARS, is_scope_token, validate_client_id, validate_client_secret,
    };

    #[test]
    fn patterns_agree_with_the_validators() {
        let re = |p: &str| regex::Regex::new(p).expect("pattern compiles");
        let client_id = re(crate::input_schemas::CLIENT_ID_PATTERN);
        let scope = re(crate::input_schemas::SCOPE_PATTERN);
        let secret = re(&crate::input_schemas::client_secret_pattern());
        for case in [
            "",
            "a",
            "a b",
            "ünï",
            "x\u{7f}",
            "tab\t",
            "quo\"te",
            "back\\slash",
            "openid",
        ] {
            assert_eq!(
                client_id.is_match(case),
                validate_client_id(case).is_ok(),
                "{case:?}"
            );
            assert_eq!(scope.is_match(case), is_scope_token(case), "{case:?}");
            assert_eq!(
                secret.is_match(case),
                validate_client_secret(case).is_ok(),
                "{case:?}"
            );
        }
        let long = "x".repeat(MAX_CLIENT_SECRET_CHARS + 1);
        assert!(!secret.is_match(&long) && validate_client_secret(&long).is_err());
    }
}
