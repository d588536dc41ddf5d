//! Signing in: a password, then a second factor when the user has one; re-authentication for
//! sensitive actions.
//!
//! Brute-force defence: failures are counted per client address and per account (by email,
//! whether or not the account exists, so the answers never differ) in the database, with an
//! exponential back-off (see `rampart_store::throttle`). A blocked *address* is refused before
//! any work. A blocked *account* still accepts its right password when a second factor
//! follows: a flood of guesses from many addresses cannot lock out an owner who has 2FA.
//! Second-factor codes have their own counter per user.

use chrono::{DateTime, Duration, Utc};
use rampart_core::UserId;
use rampart_crypto::secret_token::{self, SecretKind};
use rampart_store::identity;
use rampart_store::{StoreError, TenantStore, Tx, factors, passkeys, throttle};
use secrecy::{ExposeSecret, SecretString};

use super::passkeys::PasskeyProof;
use super::second_factor::{recovery_code_hash, verify_totp};
use super::{
    AuthError, ClientInfo, MAX_PASSWORD_CHARS, NewSession, Principal, SessionPolicy, Via,
    open_session, security_event,
};
use crate::hasher::PasswordHasher;

/// How long a password-accepted login waits for its second factor.
pub const CHALLENGE_VALID: Duration = Duration::minutes(5);
/// Codes tried against one challenge before it is dropped.
pub const CHALLENGE_ATTEMPTS: i64 = 5;

pub(crate) fn ip_key(client: &ClientInfo) -> Option<String> {
    client.ip.as_ref().map(|ip| format!("ip:{ip}"))
}

pub(crate) fn account_key(email: &str) -> String {
    format!("account:{}", rampart_core::names::normalize_email(email))
}

pub(crate) fn second_factor_key(user: UserId) -> String {
    format!("second_factor:{user}")
}

pub(crate) fn reauth_key(user: UserId) -> String {
    format!("reauth:{user}")
}

pub(crate) fn throttled(until: DateTime<Utc>) -> AuthError {
    let secs = (until - Utc::now()).num_seconds().max(1);
    AuthError::Throttled {
        retry_after_secs: u64::try_from(secs).unwrap_or(1),
    }
}

async fn blocked(tx: &mut Tx, key: Option<&str>) -> Result<Option<DateTime<Utc>>, StoreError> {
    match key {
        Some(k) => throttle::blocked_until(tx, k).await,
        None => Ok(None),
    }
}

/// A password was accepted; the login completes with a second factor.
#[derive(Debug)]
pub struct Challenge {
    /// `rpc_…`, shown once.
    pub token: SecretString,
    pub expires_at: DateTime<Utc>,
    /// What the user can answer with.
    pub methods: Vec<&'static str>,
}

#[derive(Debug)]
pub enum LoginOutcome {
    SignedIn(NewSession),
    SecondFactorRequired(Challenge),
}

enum PasswordAccepted {
    Session(NewSession),
    Challenge(Challenge),
    AccountBlocked(DateTime<Utc>),
}

/// Checks an email and password; opens a session, or a challenge for the second factor.
pub async fn login(
    ts: &TenantStore,
    hasher: &PasswordHasher,
    email: &str,
    password: &SecretString,
    policy: SessionPolicy,
    client: ClientInfo,
) -> Result<LoginOutcome, AuthError> {
    let ip_key = ip_key(&client);
    let account_key = account_key(email);
    let (ip_blocked, account_blocked, creds) = {
        let (ip_key, account_key, email) = (ip_key.clone(), account_key.clone(), email.to_owned());
        ts.read(move |tx: &mut Tx| {
            Box::pin(async move {
                Ok((
                    blocked(tx, ip_key.as_deref()).await?,
                    throttle::blocked_until(tx, &account_key).await?,
                    identity::user_by_email(tx, &email).await?,
                ))
            })
        })
        .await?
    };
    if let Some(until) = ip_blocked {
        security_event("login_throttled", "the client address is backing off");
        return Err(throttled(until));
    }
    let too_long = password.expose_secret().chars().count() > MAX_PASSWORD_CHARS;
    let stored = creds.as_ref().and_then(|c| c.password_hash.as_deref());
    // Always hash, so that the time taken does not tell whether the account exists.
    let password_ok = !too_long && hasher.verify(password, stored).await?;
    let Some(user) = creds.map(|c| c.user).filter(|u| password_ok && !u.disabled) else {
        ts.write(move |tx: &mut Tx| {
            Box::pin(async move {
                if let Some(k) = &ip_key {
                    throttle::record_failure(tx, k).await?;
                }
                throttle::record_failure(tx, &account_key).await?;
                Ok(())
            })
        })
        .await?;
        security_event("login_failed", "wrong email, password or disabled account");
        metrics::counter!("rampart_logins_total", "outcome" => "failure").increment(1);
        return Err(account_blocked.map_or(AuthError::Unauthenticated, throttled));
    };
    let user_id = user.id;
    let accepted = ts
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let methods = challenge_methods(tx, user_id).await?;
                if !methods.is_empty() {
                    let (token, hash) = secret_token::generate(SecretKind::LoginChallenge);
                    let expires_at = Utc::now() + CHALLENGE_VALID;
                    factors::insert_challenge(tx, hash, user_id, expires_at).await?;
                    return Ok(PasswordAccepted::Challenge(Challenge {
                        token,
                        expires_at,
                        methods,
                    }));
                }
                if let Some(until) = account_blocked {
                    return Ok(PasswordAccepted::AccountBlocked(until));
                }
                throttle::clear(tx, &account_key).await?;
                Ok(PasswordAccepted::Session(
                    open_session(tx, user, policy, client).await?,
                ))
            })
        })
        .await?;
    match accepted {
        PasswordAccepted::Session(session) => {
            metrics::counter!("rampart_logins_total", "outcome" => "success").increment(1);
            tracing::info!(target: "rampart::security", event = "login", user = %user_id);
            Ok(LoginOutcome::SignedIn(session))
        }
        PasswordAccepted::Challenge(challenge) => {
            metrics::counter!("rampart_logins_total", "outcome" => "second_factor").increment(1);
            Ok(LoginOutcome::SecondFactorRequired(challenge))
        }
        PasswordAccepted::AccountBlocked(until) => {
            security_event(
                "login_throttled",
                "right password for an account that is backing off, and no second factor",
            );
            metrics::counter!("rampart_logins_total", "outcome" => "failure").increment(1);
            Err(throttled(until))
        }
    }
}

/// The second factors a user can answer a challenge with (none: no challenge).
async fn challenge_methods(tx: &mut Tx, user: UserId) -> Result<Vec<&'static str>, StoreError> {
    let mut methods = Vec::new();
    if factors::totp(tx, user).await?.is_some_and(|t| t.enabled) {
        methods.push("totp");
    }
    if passkeys::count(tx, user).await? > 0 {
        methods.push("passkey");
    }
    if !methods.is_empty() && factors::unused_recovery_codes(tx, user).await? > 0 {
        methods.push("recovery_code");
    }
    Ok(methods)
}

/// The stored hash of a login challenge as presented.
pub(crate) fn challenge_hash(challenge: &str) -> Result<[u8; 32], AuthError> {
    secret_token::parse(SecretKind::LoginChallenge, challenge)
        .map_err(|_| AuthError::Unauthenticated)
}

/// The answer to a second-factor challenge.
#[derive(Debug, Clone)]
pub enum SecondFactorProof {
    Totp(String),
    RecoveryCode(String),
    Passkey(PasskeyProof),
}

enum ChallengeAnswer {
    Session(NewSession),
    Refused,
    Blocked(DateTime<Utc>),
}

/// Counts a refused answer against `keys`.
async fn refuse(tx: &mut Tx, keys: Vec<String>) -> Result<ChallengeAnswer, StoreError> {
    for k in keys {
        throttle::record_failure(tx, &k).await?;
    }
    Ok(ChallengeAnswer::Refused)
}

/// Completes a login with a TOTP or recovery code.
pub async fn complete_second_factor(
    ts: &TenantStore,
    challenge: &str,
    proof: SecondFactorProof,
    policy: SessionPolicy,
    client: ClientInfo,
) -> Result<NewSession, AuthError> {
    let hash = challenge_hash(challenge)?;
    let ip_key = ip_key(&client);
    let ip_blocked = {
        let ip_key = ip_key.clone();
        ts.read(move |tx: &mut Tx| Box::pin(async move { blocked(tx, ip_key.as_deref()).await }))
            .await?
    };
    if let Some(until) = ip_blocked {
        security_event("login_throttled", "the client address is backing off");
        return Err(throttled(until));
    }
    let keys = ts.data_keys().await?;
    // Failures are recorded by returning `Ok`: an `Err` would roll the counters back.
    let answer = ts
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let Some(user_id) =
                    factors::challenge_user(tx, hash, CHALLENGE_ATTEMPTS).await?
                else {
                    return refuse(tx, ip_key.into_iter().collect()).await;
                };
                let factor_key = second_factor_key(user_id);
                if let Some(until) = throttle::blocked_until(tx, &factor_key).await? {
                    return Ok(ChallengeAnswer::Blocked(until));
                }
                let ok = match &proof {
                    SecondFactorProof::Totp(code) => {
                        verify_totp(tx, &keys, user_id, code, false).await?
                    }
                    SecondFactorProof::RecoveryCode(code) => match recovery_code_hash(code) {
                        Some(h) => factors::use_recovery_code(tx, user_id, h).await?,
                        None => false,
                    },
                    SecondFactorProof::Passkey(passkey) => passkey.verify(tx, user_id).await?,
                };
                let user = identity::user_by_id(tx, user_id).await?;
                let Some(user) = user.filter(|u| ok && !u.disabled) else {
                    let mut keys = vec![factor_key];
                    keys.extend(ip_key);
                    return refuse(tx, keys).await;
                };
                factors::delete_challenge(tx, hash).await?;
                throttle::clear(tx, &factor_key).await?;
                throttle::clear(tx, &account_key(&user.email)).await?;
                if matches!(proof, SecondFactorProof::RecoveryCode(_)) {
                    tracing::warn!(target: "rampart::security", event = "recovery_code_used", user = %user_id);
                }
                Ok(ChallengeAnswer::Session(
                    open_session(tx, user, policy, client).await?,
                ))
            })
        })
        .await?;
    match answer {
        ChallengeAnswer::Session(session) => {
            metrics::counter!("rampart_logins_total", "outcome" => "success").increment(1);
            tracing::info!(target: "rampart::security", event = "login", user = %session.user.id, second_factor = true);
            Ok(session)
        }
        ChallengeAnswer::Refused => {
            security_event(
                "second_factor_failed",
                "unknown or expired challenge, or a wrong or reused code",
            );
            metrics::counter!("rampart_logins_total", "outcome" => "failure").increment(1);
            Err(AuthError::Unauthenticated)
        }
        ChallengeAnswer::Blocked(until) => {
            security_event("second_factor_throttled", "too many wrong codes");
            Err(throttled(until))
        }
    }
}

/// Checks the signed-in user's own password (re-authentication, password change), with its
/// own failure counter so a stolen session cannot guess the password at leisure.
pub(crate) async fn check_own_password(
    ts: &TenantStore,
    hasher: &PasswordHasher,
    user: UserId,
    password: &SecretString,
) -> Result<(), AuthError> {
    let key = reauth_key(user);
    let (blocked_until, creds) = {
        let key = key.clone();
        ts.read(move |tx: &mut Tx| {
            Box::pin(async move {
                Ok((
                    throttle::blocked_until(tx, &key).await?,
                    identity::credentials_by_id(tx, user).await?,
                ))
            })
        })
        .await?
    };
    if let Some(until) = blocked_until {
        security_event("reauth_throttled", "too many wrong passwords");
        return Err(throttled(until));
    }
    let too_long = password.expose_secret().chars().count() > MAX_PASSWORD_CHARS;
    let stored = creds.as_ref().and_then(|c| c.password_hash.as_deref());
    if !too_long && hasher.verify(password, stored).await? {
        ts.write(move |tx: &mut Tx| Box::pin(async move { throttle::clear(tx, &key).await }))
            .await?;
        return Ok(());
    }
    ts.write(move |tx: &mut Tx| {
        Box::pin(async move { throttle::record_failure(tx, &key).await.map(|_| ()) })
    })
    .await?;
    security_event("reauth_failed", "wrong password for the signed-in user");
    Err(AuthError::WrongPassword)
}

/// Confirms the password of a signed-in session, so that sensitive actions may follow.
pub async fn reauthenticate(
    ts: &TenantStore,
    hasher: &PasswordHasher,
    principal: &Principal,
    password: &SecretString,
) -> Result<(), AuthError> {
    let Via::Session { id_hash, .. } = principal.via else {
        return Err(AuthError::SessionRequired);
    };
    check_own_password(ts, hasher, principal.user.id, password).await?;
    ts.write(move |tx: &mut Tx| Box::pin(identity::reauthenticate_session(tx, id_hash)))
        .await?;
    tracing::info!(target: "rampart::security", event = "reauthenticated", user = %principal.user.id);
    Ok(())
}
