//! The tenant's identity providers for single sign-on (tenant admins). A provider's client
//! secret is written and never read back: answers carry its keyed fingerprint; only the
//! sign-in code opens it. Changes need a recently re-authenticated session (the adapter checks
//! it), as whoever controls a provider's issuer controls who can sign in through it.

use std::net::IpAddr;

use rampart_auth::Principal;
use rampart_core::names::validate_display_name;
use rampart_core::{FieldError, Invalid};
use rampart_store::identity_providers::{self, Changes, NewProvider, Provider, ProviderId};
use rampart_store::{StoreError, Tx};
use zeroize::Zeroizing;

use crate::AppError;
use crate::people::require_tenant_admin;

/// Longest client secret accepted, in characters.
pub const MAX_CLIENT_SECRET_CHARS: usize = 1024;
/// Longest issuer URL accepted, in characters.
pub const MAX_ISSUER_CHARS: usize = 2048;
/// Most scopes a provider may ask for.
pub const MAX_SCOPES: usize = 20;
/// Scopes asked for when none are given.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "email", "profile"];

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
pub fn validate_issuer(issuer: &str) -> Result<(), FieldError> {
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

pub fn validate_client_id(id: &str) -> Result<(), FieldError> {
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

pub fn validate_client_secret(secret: &str) -> Result<(), FieldError> {
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

/// A scope token as RFC 6749 section 3.3 defines it, at most 64 characters.
pub fn is_scope_token(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

pub fn validate_scopes(scopes: &[String]) -> Result<(), FieldError> {
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

/// Every problem of the given checks, each naming its field; `Ok` when there is none.
fn all_of(checks: impl IntoIterator<Item = Result<(), FieldError>>) -> Result<(), Invalid> {
    let errors: Vec<FieldError> = checks.into_iter().filter_map(Result::err).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Invalid { errors })
    }
}

fn check_new(new: &NewProvider) -> Result<(), Invalid> {
    all_of([
        validate_display_name("name", &new.name),
        validate_issuer(&new.issuer),
        validate_client_id(&new.client_id),
        validate_client_secret(&new.client_secret),
        validate_scopes(&new.scopes),
    ])
}

fn check_changes(c: &Changes) -> Result<(), Invalid> {
    fn optional<T: ?Sized>(
        value: Option<&T>,
        validate: impl FnOnce(&T) -> Result<(), FieldError>,
    ) -> Result<(), FieldError> {
        value.map_or(Ok(()), validate)
    }
    all_of([
        optional(c.name.as_deref(), |n| validate_display_name("name", n)),
        optional(c.issuer.as_deref(), validate_issuer),
        optional(c.client_id.as_deref(), validate_client_id),
        optional(
            c.client_secret.as_deref().map(String::as_str),
            validate_client_secret,
        ),
        optional(c.scopes.as_deref(), validate_scopes),
    ])
}

/// The tenant's identity providers (client secrets as fingerprints only).
pub async fn list(tx: &mut Tx, principal: &Principal) -> Result<Vec<Provider>, AppError> {
    require_tenant_admin(principal)?;
    Ok(identity_providers::list(tx).await?)
}

/// One identity provider.
pub async fn get(tx: &mut Tx, principal: &Principal, id: ProviderId) -> Result<Provider, AppError> {
    require_tenant_admin(principal)?;
    Ok(identity_providers::get(tx, id)
        .await?
        .ok_or(StoreError::NotFound)?)
}

/// A provider as an admin asks for it; `scopes: None` is [`DEFAULT_SCOPES`].
#[derive(Debug)]
pub struct ProviderRequest {
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Zeroizing<String>,
    pub scopes: Option<Vec<String>>,
}

/// Adds an OpenID Connect identity provider, its client secret sealed.
pub async fn create(
    tx: &mut Tx,
    principal: &Principal,
    request: ProviderRequest,
) -> Result<Provider, AppError> {
    require_tenant_admin(principal)?;
    let new = NewProvider {
        name: request.name,
        issuer: request.issuer,
        client_id: request.client_id,
        client_secret: request.client_secret,
        scopes: request
            .scopes
            .unwrap_or_else(|| DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect()),
    };
    check_new(&new)?;
    Ok(identity_providers::create(tx, new, principal.user.id).await?)
}

/// Changes a provider; what is not named is kept (the client secret too).
pub async fn update(
    tx: &mut Tx,
    principal: &Principal,
    id: ProviderId,
    changes: Changes,
) -> Result<Provider, AppError> {
    require_tenant_admin(principal)?;
    check_changes(&changes)?;
    Ok(identity_providers::update(tx, id, changes, principal.user.id).await?)
}

/// Deletes a provider and its sealed client secret.
pub async fn delete(tx: &mut Tx, principal: &Principal, id: ProviderId) -> Result<(), AppError> {
    require_tenant_admin(principal)?;
    Ok(identity_providers::delete(tx, id).await?)
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
    fn every_problem_of_a_change_is_named_at_once() {
        let changes = Changes {
            name: Some(String::new()),
            issuer: Some("http://idp.example.com".into()),
            client_id: None,
            client_secret: Some(Zeroizing::new("x\u{7}".into())),
            scopes: Some(vec!["email".into()]),
        };
        let fields = check_changes(&changes)
            .err()
            .map(|i| i.errors.into_iter().map(|e| e.field).collect::<Vec<_>>());
        assert_eq!(
            fields,
            Some(vec![
                "name".to_owned(),
                "issuer".into(),
                "client_secret".into(),
                "scopes".into()
            ])
        );
    }
}
