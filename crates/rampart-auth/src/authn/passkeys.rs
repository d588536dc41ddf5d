//! WebAuthn passkeys (webauthn-rs): registered by a signed-in user, then used as a second
//! factor after a password or alone for a passwordless sign-in. Passkeys require user
//! verification, so a passkey sign-in is already two factors.
//!
//! Each ceremony has two steps; the verifier's state between them is kept in the database
//! (so any node can finish it), expires after [`CEREMONY_VALID`] and is removed by the step
//! that finishes it, so a challenge is answered once.
//!
//! A passwordless sign-in starts from an email. For an unknown email, a disabled account or
//! one without passkeys the answer is a decoy of the same shape, whose credential id is a
//! keyed hash of the email (stable across requests), so the answer never tells whether the
//! account exists. A passkey sign-in ignores the per-account back-off: a flood of password
//! guesses against an account must not lock out its owner's passkey.

use std::sync::Arc;

use chrono::{Duration, Utc};
use rampart_core::UserId;
use rampart_store::identity::{self, User};
use rampart_store::passkeys::{self, Purpose, StoredPasskey};
use rampart_store::{StoreError, TenantStore, Tx, factors, throttle};
use serde_json::{Value, json};
use uuid::Uuid;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, Url, Webauthn, WebauthnBuilder,
};
pub use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::login::{account_key, ip_key, throttled};
use super::second_factor::new_recovery_codes;
use super::{AuthError, ClientInfo, NewSession, SessionPolicy, open_session, security_event};

/// How long a ceremony waits for its second step (the authenticator's own timeout).
pub const CEREMONY_VALID: Duration = Duration::minutes(5);

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The ceremony is unknown, expired, already finished or someone else's.
    #[error("the ceremony is unknown or expired")]
    UnknownCeremony,
    /// The authenticator's answer did not verify.
    #[error("the authenticator's answer was refused")]
    Refused,
    #[error("this passkey is already registered")]
    AlreadyRegistered,
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<StoreError> for PasskeyError {
    fn from(e: StoreError) -> Self {
        Self::Auth(e.into())
    }
}

/// The relying party a tenant's host name makes: passkeys are bound to that host.
#[derive(Clone)]
pub struct RelyingParty {
    webauthn: Arc<Webauthn>,
    rp_id: String,
    decoy_key: Arc<Vec<u8>>,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty")
            .field("rp_id", &self.rp_id)
            .finish_non_exhaustive()
    }
}

impl RelyingParty {
    /// `origin` is `scheme://host[:port]` as the browser addressed the tenant; the relying
    /// party id is its host. `decoy_key` keys the decoy credential ids.
    pub fn new(origin: &str, name: &str, decoy_key: Arc<Vec<u8>>) -> Option<Self> {
        let origin = Url::parse(origin).ok()?;
        let rp_id = origin.host_str()?.to_owned();
        let webauthn = WebauthnBuilder::new(&rp_id, &origin)
            .ok()?
            .rp_name(name)
            .build()
            .ok()?;
        Some(Self {
            webauthn: Arc::new(webauthn),
            rp_id,
            decoy_key,
        })
    }

    fn decoy_options(&self, email: &str) -> Value {
        let normal = rampart_core::names::normalize_email(email);
        let id = rampart_crypto::hmac_sha256(&self.decoy_key, normal.as_bytes());
        let challenge = rampart_crypto::random_bytes::<32>();
        json!({
            "publicKey": {
                "challenge": base64url(&challenge),
                "timeout": u64::try_from(CEREMONY_VALID.num_milliseconds()).unwrap_or(300_000),
                "rpId": self.rp_id,
                "allowCredentials": [{"type": "public-key", "id": base64url(&id)}],
                "userVerification": "required",
            }
        })
    }
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A started ceremony: its id (sent back with the answer) and the options for
/// `navigator.credentials.create()` / `.get()`.
#[derive(Debug)]
pub struct Ceremony {
    pub id: Uuid,
    pub options: Value,
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::internal(format!("webauthn state: {e}")))
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<Value, StoreError> {
    serde_json::to_value(value).map_err(|e| StoreError::internal(format!("webauthn options: {e}")))
}

fn parse_passkey(stored: &StoredPasskey) -> Result<Passkey, StoreError> {
    serde_json::from_str(&stored.credential)
        .map_err(|e| StoreError::internal(format!("stored passkey {}: {e}", stored.id)))
}

/// Starts registering a passkey for a signed-in user.
pub async fn begin_registration(
    ts: &TenantStore,
    rp: &RelyingParty,
    user: &User,
) -> Result<Ceremony, PasskeyError> {
    let user_id = user.id;
    let existing = ts
        .read(move |tx: &mut Tx| Box::pin(passkeys::list(tx, user_id)))
        .await?;
    let exclude = existing
        .iter()
        .map(|p| parse_passkey(p).map(|k| k.cred_id().clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let (options, state): (_, PasskeyRegistration) = rp
        .webauthn
        .start_passkey_registration(user.id.0, &user.email, &user.display_name, Some(exclude))
        .map_err(|e| StoreError::internal(format!("webauthn registration: {e}")))?;
    let (state, options) = (to_json(&state)?, to_value(&options)?);
    let id = ts
        .write(move |tx: &mut Tx| {
            Box::pin(passkeys::insert_ceremony(
                tx,
                Some(user_id),
                Purpose::Register,
                state,
                Utc::now() + CEREMONY_VALID,
            ))
        })
        .await?;
    Ok(Ceremony { id, options })
}

/// A registered passkey, and the recovery codes when it is the user's first second factor.
#[derive(Debug)]
pub struct Registered {
    pub passkey: StoredPasskey,
    pub recovery_codes: Option<Vec<String>>,
}

enum Registration {
    Done(Registered),
    Unknown,
    Refused,
    Duplicate,
}

/// Verifies the authenticator's answer to a registration and stores the passkey.
pub async fn finish_registration(
    ts: &TenantStore,
    rp: &RelyingParty,
    user: UserId,
    ceremony: Uuid,
    name: String,
    credential: RegisterPublicKeyCredential,
) -> Result<Registered, PasskeyError> {
    let webauthn = rp.webauthn.clone();
    let (codes, hashes) = new_recovery_codes();
    // Refusals return `Ok` so that the spent ceremony stays deleted.
    let outcome = ts
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let Some((Some(owner), state)) =
                    passkeys::take_ceremony(tx, ceremony, Purpose::Register).await?
                else {
                    return Ok(Registration::Unknown);
                };
                if owner != user {
                    return Ok(Registration::Unknown);
                }
                let state: PasskeyRegistration = serde_json::from_str(&state)
                    .map_err(|e| StoreError::internal(format!("webauthn state: {e}")))?;
                let Ok(passkey) = webauthn.finish_passkey_registration(&credential, &state) else {
                    return Ok(Registration::Refused);
                };
                let cred_id = passkey.cred_id().to_vec();
                if passkeys::credential_registered(tx, &cred_id).await? {
                    return Ok(Registration::Duplicate);
                }
                let first_factor = !factors::has_second_factor(tx, user).await?
                    && factors::unused_recovery_codes(tx, user).await? == 0;
                let stored = passkeys::insert(tx, user, cred_id, name, to_json(&passkey)?).await?;
                let recovery_codes = if first_factor {
                    factors::replace_recovery_codes(tx, user, hashes).await?;
                    Some(codes)
                } else {
                    None
                };
                Ok(Registration::Done(Registered {
                    passkey: stored,
                    recovery_codes,
                }))
            })
        })
        .await?;
    match outcome {
        Registration::Done(registered) => {
            tracing::warn!(target: "rampart::security", event = "passkey_registered", user = %user);
            Ok(registered)
        }
        Registration::Unknown => Err(PasskeyError::UnknownCeremony),
        Registration::Refused => {
            security_event(
                "passkey_registration_refused",
                "an authenticator's registration did not verify",
            );
            Err(PasskeyError::Refused)
        }
        Registration::Duplicate => Err(PasskeyError::AlreadyRegistered),
    }
}

pub async fn list(ts: &TenantStore, user: UserId) -> Result<Vec<StoredPasskey>, AuthError> {
    Ok(ts
        .read(move |tx: &mut Tx| Box::pin(passkeys::list(tx, user)))
        .await?)
}

pub async fn rename(
    ts: &TenantStore,
    user: UserId,
    id: Uuid,
    name: String,
) -> Result<(), AuthError> {
    ts.write(move |tx: &mut Tx| Box::pin(passkeys::rename(tx, user, id, name)))
        .await?;
    Ok(())
}

pub async fn remove(ts: &TenantStore, user: UserId, id: Uuid) -> Result<(), AuthError> {
    ts.write(move |tx: &mut Tx| Box::pin(passkeys::delete(tx, user, id)))
        .await?;
    tracing::warn!(target: "rampart::security", event = "passkey_removed", user = %user, passkey = %id);
    Ok(())
}

/// Starts an assertion over a user's passkeys; `None` when they have none.
async fn start_assertion(
    tx: &mut Tx,
    webauthn: &Webauthn,
    user: UserId,
    purpose: Purpose,
) -> Result<Option<Ceremony>, StoreError> {
    let keys = passkeys::list(tx, user)
        .await?
        .iter()
        .map(parse_passkey)
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Ok(None);
    }
    let (options, state): (_, PasskeyAuthentication) = webauthn
        .start_passkey_authentication(&keys)
        .map_err(|e| StoreError::internal(format!("webauthn authentication: {e}")))?;
    let id = passkeys::insert_ceremony(
        tx,
        Some(user),
        purpose,
        to_json(&state)?,
        Utc::now() + CEREMONY_VALID,
    )
    .await?;
    Ok(Some(Ceremony {
        id,
        options: to_value(&options)?,
    }))
}

/// Checks an assertion against a ceremony started for `purpose`, spending the ceremony; on
/// success records the use (the new signature counter) and returns the user.
pub(crate) async fn verify_assertion(
    tx: &mut Tx,
    webauthn: &Webauthn,
    ceremony: Uuid,
    purpose: Purpose,
    credential: &PublicKeyCredential,
) -> Result<Option<UserId>, StoreError> {
    let Some((Some(user), state)) = passkeys::take_ceremony(tx, ceremony, purpose).await? else {
        return Ok(None);
    };
    let state: PasskeyAuthentication = serde_json::from_str(&state)
        .map_err(|e| StoreError::internal(format!("webauthn state: {e}")))?;
    let Ok(result) = webauthn.finish_passkey_authentication(credential, &state) else {
        return Ok(None);
    };
    let Some(stored) = passkeys::by_credential_id(tx, user, result.cred_id()).await? else {
        return Ok(None);
    };
    let mut passkey = parse_passkey(&stored)?;
    passkey.update_credential(&result);
    passkeys::record_use(tx, stored.id, to_json(&passkey)?).await?;
    Ok(Some(user))
}

/// Starts a passwordless sign-in for `email` (a decoy when there is nothing to sign in to).
pub async fn begin_sign_in(
    ts: &TenantStore,
    rp: &RelyingParty,
    email: &str,
) -> Result<Ceremony, AuthError> {
    let webauthn = rp.webauthn.clone();
    let decoy = rp.decoy_options(email);
    let email = email.to_owned();
    Ok(ts
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let user = identity::user_by_email(tx, &email)
                    .await?
                    .map(|c| c.user)
                    .filter(|u| !u.disabled);
                if let Some(user) = user
                    && let Some(ceremony) =
                        start_assertion(tx, &webauthn, user.id, Purpose::SignIn).await?
                {
                    return Ok(ceremony);
                }
                let id = passkeys::insert_ceremony(
                    tx,
                    None,
                    Purpose::SignIn,
                    "{}".into(),
                    Utc::now() + CEREMONY_VALID,
                )
                .await?;
                Ok(Ceremony { id, options: decoy })
            })
        })
        .await?)
}

enum SignIn {
    Session(NewSession),
    Refused,
}

/// Finishes a passwordless sign-in: a verified passkey (with user verification) opens a
/// session. Failures count against the client address only.
pub async fn finish_sign_in(
    ts: &TenantStore,
    rp: &RelyingParty,
    ceremony: Uuid,
    credential: PublicKeyCredential,
    policy: SessionPolicy,
    client: ClientInfo,
) -> Result<NewSession, AuthError> {
    let ip_key = ip_key(&client);
    if let Some(key) = ip_key.clone()
        && let Some(until) = ts
            .read(move |tx: &mut Tx| {
                Box::pin(async move { throttle::blocked_until(tx, &key).await })
            })
            .await?
    {
        security_event("login_throttled", "the client address is backing off");
        return Err(throttled(until));
    }
    let webauthn = rp.webauthn.clone();
    let outcome = ts
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let verified =
                    verify_assertion(tx, &webauthn, ceremony, Purpose::SignIn, &credential).await?;
                let user = match verified {
                    Some(id) => identity::user_by_id(tx, id).await?,
                    None => None,
                };
                let Some(user) = user.filter(|u| !u.disabled) else {
                    if let Some(k) = &ip_key {
                        throttle::record_failure(tx, k).await?;
                    }
                    return Ok(SignIn::Refused);
                };
                throttle::clear(tx, &account_key(&user.email)).await?;
                Ok(SignIn::Session(
                    open_session(tx, user, policy, client).await?,
                ))
            })
        })
        .await?;
    match outcome {
        SignIn::Session(session) => {
            metrics::counter!("rampart_logins_total", "outcome" => "success").increment(1);
            tracing::info!(target: "rampart::security", event = "login", user = %session.user.id, passkey = true);
            Ok(session)
        }
        SignIn::Refused => {
            security_event(
                "passkey_login_failed",
                "unknown or expired ceremony, or an assertion that did not verify",
            );
            metrics::counter!("rampart_logins_total", "outcome" => "failure").increment(1);
            Err(AuthError::Unauthenticated)
        }
    }
}

/// Starts a passkey assertion as the second factor of a password-accepted login.
pub async fn begin_second_factor(
    ts: &TenantStore,
    rp: &RelyingParty,
    challenge: &str,
) -> Result<Ceremony, AuthError> {
    let hash = super::login::challenge_hash(challenge)?;
    let webauthn = rp.webauthn.clone();
    let started = ts
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let Some(user) =
                    factors::challenge_user(tx, hash, super::login::CHALLENGE_ATTEMPTS).await?
                else {
                    return Ok(None);
                };
                start_assertion(tx, &webauthn, user, Purpose::SecondFactor).await
            })
        })
        .await?;
    started.ok_or(AuthError::Unauthenticated)
}

/// A passkey's answer to a login challenge.
#[derive(Debug, Clone)]
pub struct PasskeyProof {
    pub relying_party: RelyingParty,
    pub ceremony: Uuid,
    pub credential: Box<PublicKeyCredential>,
}

impl PasskeyProof {
    /// Whether the assertion verifies for `user`.
    pub(crate) async fn verify(&self, tx: &mut Tx, user: UserId) -> Result<bool, StoreError> {
        let verified = verify_assertion(
            tx,
            &self.relying_party.webauthn,
            self.ceremony,
            Purpose::SecondFactor,
            &self.credential,
        )
        .await?;
        Ok(verified == Some(user))
    }
}
