//! The tenant's identity providers for single sign-on (tenant admins). A provider's client
//! secret is written and never read back: answers carry its keyed fingerprint; only the
//! server's own sign-in code opens it. Changes need a recently re-authenticated session, as
//! whoever controls a provider's issuer controls who can sign in through it.

use std::net::IpAddr;

use axum::extract::State;
use axum::http::StatusCode;
use rampart_core::FieldError;
use rampart_core::names::validate_display_name;
use rampart_core::record::format_timestamp;
use rampart_store::Tx;
use rampart_store::identity_providers::{self, Changes, NewProvider, Provider, ProviderId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::caller::TenantAdmin;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::input_schemas::{MAX_CLIENT_SECRET_CHARS, MAX_ISSUER_CHARS, MAX_SCOPES};
use crate::routes::Checks;
use crate::state::AppState;

/// Scopes asked for when none are given.
const DEFAULT_SCOPES: &[&str] = &["openid", "email", "profile"];

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

fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        url::Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

/// An issuer identifier as OpenID Connect Discovery defines it: an `https` URL with a host,
/// no query, fragment or credentials. Kept as written: it must equal the `iss` the provider
/// puts in its tokens character for character.
fn validate_issuer(issuer: &str) -> Result<(), FieldError> {
    let invalid = |msg: &str| Err(FieldError::new("issuer", "invalid_issuer", msg));
    if issuer.chars().count() > MAX_ISSUER_CHARS {
        return invalid("at most 2,048 characters");
    }
    if issuer.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("an issuer URL has no spaces or control characters");
    }
    let Ok(url) = url::Url::parse(issuer) else {
        return invalid("not a URL; expected https://issuer.example");
    };
    let Some(host) = url.host() else {
        return invalid("the URL has no host");
    };
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&host) => {}
        "http" => return invalid("must use https (http only on a loopback host)"),
        _ => return invalid("must be an https URL"),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return invalid("must not hold credentials");
    }
    if issuer.contains('?') || issuer.contains('#') {
        return invalid("must not have a query or fragment");
    }
    Ok(())
}

fn validate_client_id(id: &str) -> Result<(), FieldError> {
    if (1..=255).contains(&id.len()) && id.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        Ok(())
    } else {
        Err(FieldError::new(
            "client_id",
            "invalid_client_id",
            "1 to 255 visible ASCII characters, no spaces",
        ))
    }
}

fn validate_client_secret(secret: &str) -> Result<(), FieldError> {
    let chars = secret.chars().count();
    if chars == 0 || chars > MAX_CLIENT_SECRET_CHARS {
        return Err(FieldError::new(
            "client_secret",
            "invalid_length",
            format!("1 to {MAX_CLIENT_SECRET_CHARS} characters"),
        ));
    }
    if secret.chars().any(char::is_control) {
        return Err(FieldError::new(
            "client_secret",
            "invalid_client_secret",
            "no control characters",
        ));
    }
    Ok(())
}

fn is_scope_token(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

fn validate_scopes(scopes: &[String]) -> Result<(), FieldError> {
    let invalid = |code: &'static str, msg: String| Err(FieldError::new("scopes", code, msg));
    if scopes.is_empty() || scopes.len() > MAX_SCOPES {
        return invalid("invalid_length", format!("1 to {MAX_SCOPES} scopes"));
    }
    if let Some(bad) = scopes.iter().find(|s| !is_scope_token(s)) {
        return invalid(
            "invalid_scope",
            format!("{bad:?} is not a scope: 1 to 64 visible ASCII characters but \" and \\"),
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = scopes.iter().find(|s| !seen.insert(s.as_str())) {
        return invalid("duplicate_scope", format!("{dup:?} is listed twice"));
    }
    if !scopes.iter().any(|s| s == "openid") {
        return invalid(
            "openid_scope_required",
            "OpenID Connect needs the openid scope".to_owned(),
        );
    }
    Ok(())
}

fn check_optional<T>(
    checks: &mut Checks,
    value: Option<&T>,
    validate: impl FnOnce(&T) -> Result<(), FieldError>,
) where
    T: ?Sized,
{
    if let Some(v) = value {
        checks.check(validate(v));
    }
}

/// Lists the tenant's identity providers (client secrets as fingerprints only).
#[utoipa::path(get, path = "/api/v1/identity-providers", tag = "users",
    responses((status = 200, body = [ProviderOut])), security(("session" = []), ("token" = [])))]
pub async fn list(TenantAdmin(caller): TenantAdmin) -> ApiResult<axum::Json<Vec<ProviderOut>>> {
    let providers = caller
        .tenant
        .store
        .read(|tx: &mut Tx| Box::pin(identity_providers::list(tx)))
        .await?;
    Ok(axum::Json(providers.into_iter().map(Into::into).collect()))
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
        .tenant
        .store
        .read(move |tx: &mut Tx| Box::pin(identity_providers::get(tx, id)))
        .await?
        .ok_or_else(ApiError::not_found)?;
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
    let client_secret = Zeroizing::new(body.client_secret);
    let scopes = body
        .scopes
        .unwrap_or_else(|| DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect());
    let mut checks = Checks::default();
    checks
        .check(validate_display_name("name", &body.name))
        .check(validate_issuer(&body.issuer))
        .check(validate_client_id(&body.client_id))
        .check(validate_client_secret(&client_secret))
        .check(validate_scopes(&scopes));
    checks.finish().map_err(ApiError::invalid)?;
    let new = NewProvider {
        name: body.name,
        issuer: body.issuer,
        client_id: body.client_id,
        client_secret,
        scopes,
    };
    let by = caller.principal.user.id;
    let provider = caller
        .tenant
        .store
        .write(move |tx: &mut Tx| Box::pin(identity_providers::create(tx, new, by)))
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
    let mut checks = Checks::default();
    check_optional(&mut checks, changes.name.as_deref(), |n| {
        validate_display_name("name", n)
    });
    check_optional(&mut checks, changes.issuer.as_deref(), validate_issuer);
    check_optional(
        &mut checks,
        changes.client_id.as_deref(),
        validate_client_id,
    );
    check_optional(
        &mut checks,
        changes.client_secret.as_deref().map(String::as_str),
        validate_client_secret,
    );
    check_optional(&mut checks, changes.scopes.as_deref(), validate_scopes);
    checks.finish().map_err(ApiError::invalid)?;
    let by = caller.principal.user.id;
    let provider = caller
        .tenant
        .store
        .write(move |tx: &mut Tx| Box::pin(identity_providers::update(tx, id, changes, by)))
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
        .tenant
        .store
        .write(move |tx: &mut Tx| Box::pin(identity_providers::delete(tx, id)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers() {
        for ok in [
            "https://accounts.example.com",
            "https://login.example.com/tenant-1/v2.0",
            "https://idp.example.com/",
            "http://localhost:8080/realms/test",
            "http://127.0.0.1:5556/dex",
            "http://[::1]:9000",
        ] {
            assert!(validate_issuer(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "accounts.example.com",
            "http://idp.example.com",
            "http://localhost.evil.example",
            "ftp://idp.example.com",
            "https://user:pw@idp.example.com",
            "https://idp.example.com/?x=1",
            "https://idp.example.com/#frag",
            " https://idp.example.com",
            "https://idp.example.com/a b",
            "https://",
            "file:///etc/passwd",
        ] {
            assert!(validate_issuer(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes() {
        let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(validate_scopes(&s(&["openid"])).is_ok());
        assert!(validate_scopes(&s(&["openid", "email", "groups", "offline_access"])).is_ok());
        for bad in [
            s(&[]),
            s(&["email"]),
            s(&["openid", "openid"]),
            s(&["openid", "a b"]),
            s(&["openid", "quo\"te"]),
            s(&["openid", ""]),
        ] {
            assert!(validate_scopes(&bad).is_err(), "{bad:?}");
        }
    }

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
