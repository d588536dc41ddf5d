//! Second factors a user enrols: TOTP (proved with a code before it is enabled) and the ten
//! single-use recovery codes that come with a first second factor (TOTP or a passkey).

use rampart_core::UserId;
use rampart_crypto::keyring::TenantKeys;
use rampart_store::identity::User;
use rampart_store::{StoreError, TenantStore, Tx, factors, throttle};

use super::login::{second_factor_key, throttled};
use super::{AuthError, security_event};
use crate::totp;

/// How many recovery codes a user holds.
pub const RECOVERY_CODES: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum FactorError {
    #[error("a second factor of this kind is already enabled")]
    AlreadyEnrolled,
    #[error("no second factor of this kind is enrolled")]
    NotEnrolled,
    #[error("the code is wrong, expired or already used")]
    InvalidCode,
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<StoreError> for FactorError {
    fn from(e: StoreError) -> Self {
        Self::Auth(e.into())
    }
}

/// What a user has enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactorStatus {
    pub totp: bool,
    pub passkeys: i64,
    pub recovery_codes_left: i64,
}

pub async fn status(ts: &TenantStore, user: UserId) -> Result<FactorStatus, AuthError> {
    Ok(ts
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                Ok(FactorStatus {
                    totp: factors::totp(tx, user).await?.is_some_and(|t| t.enabled),
                    passkeys: rampart_store::passkeys::count(tx, user).await?,
                    recovery_codes_left: factors::unused_recovery_codes(tx, user).await?,
                })
            })
        })
        .await?)
}

/// A TOTP enrolment waiting for its first code.
#[derive(Debug)]
pub struct TotpEnrolment {
    /// Base32, for typing into an authenticator app.
    pub secret: String,
    /// `otpauth://` URI, for a QR code.
    pub uri: String,
}

/// Starts a TOTP enrolment: a new seed, stored sealed, not enabled until a code proves it.
pub async fn begin_totp(
    ts: &TenantStore,
    user: &User,
    issuer: &str,
) -> Result<TotpEnrolment, FactorError> {
    let seed = totp::new_seed();
    let keys = ts.data_keys().await?;
    let sealed = totp::seal(&keys, user.id, &seed).map_err(|e| StoreError::Keys(e.to_string()))?;
    let user_id = user.id;
    let started = ts
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                if factors::totp(tx, user_id).await?.is_some_and(|t| t.enabled) {
                    return Ok(false);
                }
                factors::begin_totp(tx, user_id, sealed).await?;
                Ok(true)
            })
        })
        .await?;
    if !started {
        return Err(FactorError::AlreadyEnrolled);
    }
    Ok(TotpEnrolment {
        secret: totp::base32(&seed),
        uri: totp::otpauth_uri(&seed, issuer, &user.email),
    })
}

/// Seals (again) every TOTP seed that is not sealed with the tenant's current data key:
/// seeds stored before encryption existed, and seeds sealed with a key since rotated.
/// Idempotent and resumable; returns how many seeds were rewritten.
pub async fn seal_unsealed_seeds(ts: &TenantStore) -> Result<usize, StoreError> {
    let keys = ts.data_keys().await?;
    let Some(current) = keys.current_version() else {
        return Ok(0);
    };
    let seeds = ts
        .read(|tx: &mut Tx| Box::pin(factors::all_seeds(tx)))
        .await?;
    let mut rewritten = 0;
    for (user, stored) in seeds {
        let seed = if totp::is_unsealed(&stored) {
            zeroize::Zeroizing::new(stored.clone())
        } else if rampart_crypto::keyring::sealed_version(&stored) == Some(current) {
            continue;
        } else {
            totp::open(&keys, user, &stored).map_err(|e| StoreError::Keys(e.to_string()))?
        };
        let sealed = totp::seal(&keys, user, &seed).map_err(|e| StoreError::Keys(e.to_string()))?;
        let replaced = ts
            .write(move |tx: &mut Tx| Box::pin(factors::replace_seed(tx, user, stored, sealed)))
            .await?;
        rewritten += usize::from(replaced);
    }
    Ok(rewritten)
}

/// Checks a TOTP code and spends its time step, so the same code never works twice.
/// `confirming`: the enrolment is not enabled yet and this code enables it.
pub(crate) async fn verify_totp(
    tx: &mut Tx,
    keys: &TenantKeys,
    user: UserId,
    code: &str,
    confirming: bool,
) -> Result<bool, StoreError> {
    let Some(stored) = factors::totp(tx, user).await? else {
        return Ok(false);
    };
    if stored.enabled == confirming {
        return Ok(false);
    }
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    let seed =
        totp::open(keys, user, &stored.sealed_seed).map_err(|e| StoreError::Keys(e.to_string()))?;
    let Some(step) = totp::matching_step(&seed, code, now) else {
        return Ok(false);
    };
    factors::use_totp_step(tx, user, step, confirming).await
}

enum Confirmed {
    Codes(Vec<String>),
    Wrong,
    Blocked(chrono::DateTime<chrono::Utc>),
    NotStarted,
}

/// Enables TOTP with a first code and returns the recovery codes (shown once).
pub async fn confirm_totp(
    ts: &TenantStore,
    user: UserId,
    code: String,
) -> Result<Vec<String>, FactorError> {
    let (codes, hashes) = new_recovery_codes();
    let key = second_factor_key(user);
    let keys = ts.data_keys().await?;
    let confirmed = ts
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                if let Some(until) = throttle::blocked_until(tx, &key).await? {
                    return Ok(Confirmed::Blocked(until));
                }
                match factors::totp(tx, user).await? {
                    None => return Ok(Confirmed::NotStarted),
                    Some(t) if t.enabled => return Ok(Confirmed::NotStarted),
                    Some(_) => {}
                }
                if !verify_totp(tx, &keys, user, &code, true).await? {
                    throttle::record_failure(tx, &key).await?;
                    return Ok(Confirmed::Wrong);
                }
                throttle::clear(tx, &key).await?;
                factors::replace_recovery_codes(tx, user, hashes).await?;
                Ok(Confirmed::Codes(codes))
            })
        })
        .await?;
    match confirmed {
        Confirmed::Codes(codes) => {
            tracing::warn!(target: "rampart::security", event = "totp_enabled", user = %user);
            Ok(codes)
        }
        Confirmed::Wrong => {
            security_event("totp_confirm_failed", "a wrong code while enrolling TOTP");
            Err(FactorError::InvalidCode)
        }
        Confirmed::Blocked(until) => Err(throttled(until).into()),
        Confirmed::NotStarted => Err(FactorError::NotEnrolled),
    }
}

/// Removes TOTP and the recovery codes.
pub async fn remove_totp(ts: &TenantStore, user: UserId) -> Result<(), FactorError> {
    let removed = ts
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                if factors::totp(tx, user).await?.is_none() {
                    return Ok(false);
                }
                factors::remove_totp(tx, user).await?;
                Ok(true)
            })
        })
        .await?;
    if !removed {
        return Err(FactorError::NotEnrolled);
    }
    tracing::warn!(target: "rampart::security", event = "totp_removed", user = %user);
    Ok(())
}

/// Replaces the recovery codes with ten new ones (the old ones stop working).
pub async fn regenerate_recovery_codes(
    ts: &TenantStore,
    user: UserId,
) -> Result<Vec<String>, FactorError> {
    let (codes, hashes) = new_recovery_codes();
    let done = ts
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                if !factors::has_second_factor(tx, user).await? {
                    return Ok(false);
                }
                factors::replace_recovery_codes(tx, user, hashes).await?;
                Ok(true)
            })
        })
        .await?;
    if !done {
        return Err(FactorError::NotEnrolled);
    }
    tracing::warn!(target: "rampart::security", event = "recovery_codes_regenerated", user = %user);
    Ok(codes)
}

/// Recovery codes are 80 random bits in base32, shown as `xxxx-xxxx-xxxx-xxxx`. They carry
/// enough entropy that a plain SHA-256 is a sound way to store them.
pub(crate) fn new_recovery_codes() -> (Vec<String>, Vec<[u8; 32]>) {
    (0..RECOVERY_CODES)
        .map(|_| {
            let raw = totp::base32(&rampart_crypto::random_bytes::<10>()).to_lowercase();
            let shown = raw
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("-");
            (shown, rampart_crypto::sha256(raw.as_bytes()))
        })
        .unzip()
}

/// The stored hash of a recovery code as typed (any case, with or without dashes and
/// spaces); `None` when it cannot be one.
pub(crate) fn recovery_code_hash(typed: &str) -> Option<[u8; 32]> {
    let normal: String = typed
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    let base32 = |c: char| c.is_ascii_lowercase() || ('2'..='7').contains(&c);
    (normal.len() == 16 && normal.chars().all(base32))
        .then(|| rampart_crypto::sha256(normal.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_distinct_and_match_their_hash_however_typed() {
        let (codes, hashes) = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        for (code, hash) in codes.iter().zip(&hashes) {
            assert_eq!(code.len(), 19, "{code}");
            assert_eq!(recovery_code_hash(code), Some(*hash));
            assert_eq!(
                recovery_code_hash(&code.replace('-', " ").to_uppercase()),
                Some(*hash)
            );
        }
        assert_eq!(recovery_code_hash("not-a-code"), None);
        assert_eq!(recovery_code_hash("aaaa-aaaa-aaaa-aaa1"), None);
    }
}
