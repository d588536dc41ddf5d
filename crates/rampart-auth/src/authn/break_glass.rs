//! The instance operator's last resort for a user locked out of their own account (the sole
//! owner who lost their authenticator): reset the password or remove the second factors from
//! the command line. Both end every session of the user and are logged as security events.

use rampart_store::identity::{self, User};
use rampart_store::{StoreError, TenantStore, Tx, factors, throttle};
use secrecy::SecretString;

use super::login::account_key;
use super::{AuthError, security_event};
use crate::hasher::PasswordHasher;

#[derive(Debug, thiserror::Error)]
pub enum BreakGlassError {
    #[error("no user with this email in this tenant")]
    NoSuchUser,
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<StoreError> for BreakGlassError {
    fn from(e: StoreError) -> Self {
        Self::Auth(e.into())
    }
}

async fn find(ts: &TenantStore, email: &str) -> Result<User, BreakGlassError> {
    let email = email.to_owned();
    ts.read(move |tx: &mut Tx| Box::pin(async move { identity::user_by_email(tx, &email).await }))
        .await?
        .map(|c| c.user)
        .ok_or(BreakGlassError::NoSuchUser)
}

/// Gives the user a new random password (returned once, for the operator to hand over) and
/// ends their sessions and pending sign-ins.
pub async fn reset_password(
    ts: &TenantStore,
    hasher: &PasswordHasher,
    email: &str,
) -> Result<(User, SecretString), BreakGlassError> {
    let user = find(ts, email).await?;
    let password = SecretString::from(
        crate::totp::base32(&rampart_crypto::random_bytes::<20>()).to_lowercase(),
    );
    let hash = hasher.hash(&password).await.map_err(AuthError::from)?;
    let (id, key) = (user.id, account_key(&user.email));
    ts.write(move |tx: &mut Tx| {
        Box::pin(async move {
            identity::set_password_hash(tx, id, hash).await?;
            identity::delete_sessions_of(tx, id).await?;
            factors::delete_challenges_of(tx, id).await?;
            throttle::clear(tx, &key).await
        })
    })
    .await?;
    security_event("break_glass_password_reset", &format!("user {id}"));
    Ok((user, password))
}

/// Removes every second factor of the user (TOTP, recovery codes, passkeys) and ends their
/// sessions.
pub async fn reset_second_factors(ts: &TenantStore, email: &str) -> Result<User, BreakGlassError> {
    let user = find(ts, email).await?;
    let id = user.id;
    ts.write(move |tx: &mut Tx| {
        Box::pin(async move {
            factors::remove_totp(tx, id).await?;
            rampart_store::passkeys::delete_all_of(tx, id).await?;
            identity::delete_sessions_of(tx, id).await?;
            factors::delete_challenges_of(tx, id).await?;
            throttle::clear(tx, &super::login::second_factor_key(id)).await
        })
    })
    .await?;
    security_event("break_glass_second_factors_reset", &format!("user {id}"));
    Ok(user)
}
