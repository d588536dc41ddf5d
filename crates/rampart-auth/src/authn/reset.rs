//! Resetting a forgotten password by mail: a single-use `rpr_` token (only its hash stored)
//! that expires within minutes. Asking never tells whether the account exists; using it sets
//! the password, ends every session and pending login of the user, and lifts the account's
//! back-off. It does not bypass a second factor: the next sign-in still asks for it.

use chrono::{Duration, Utc};
use rampart_crypto::secret_token::{self, SecretKind};
use rampart_store::email_tokens::{self, EmailToken, Purpose};
use rampart_store::identity::{self, User};
use rampart_store::{TenantStore, Tx, factors, throttle};
use secrecy::SecretString;

use super::login::account_key;
use super::{AuthError, security_event};
use crate::hasher::PasswordHasher;

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("the reset token is invalid, used or expired")]
    InvalidToken,
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<rampart_store::StoreError> for ResetError {
    fn from(e: rampart_store::StoreError) -> Self {
        Self::Auth(e.into())
    }
}

/// Issues a reset token for the enabled account with this email; `None` when there is no
/// such account (the caller answers the same either way).
pub async fn request_reset(
    ts: &TenantStore,
    email: &str,
    valid: Duration,
) -> Result<Option<(User, SecretString)>, AuthError> {
    let email = email.to_owned();
    let (token, hash) = secret_token::generate(SecretKind::PasswordReset);
    let user = ts
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let Some(user) = identity::user_by_email(tx, &email)
                    .await?
                    .map(|c| c.user)
                    .filter(|u| !u.disabled)
                else {
                    return Ok(None);
                };
                let token = EmailToken {
                    email: user.email.clone(),
                    user_id: Some(user.id),
                    role: None,
                };
                email_tokens::insert(tx, hash, Purpose::PasswordReset, token, Utc::now() + valid)
                    .await?;
                Ok(Some(user))
            })
        })
        .await?;
    match user {
        Some(user) => {
            tracing::info!(target: "rampart::security", event = "password_reset_requested", user = %user.id);
            Ok(Some((user, token)))
        }
        None => Ok(None),
    }
}

/// The user a live reset token is for (to check the new password against their name).
pub async fn reset_user(ts: &TenantStore, token: &str) -> Result<User, ResetError> {
    let hash = secret_token::parse(SecretKind::PasswordReset, token)
        .map_err(|_| ResetError::InvalidToken)?;
    let user = ts
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                match email_tokens::peek(tx, hash, Purpose::PasswordReset)
                    .await?
                    .and_then(|t| t.user_id)
                {
                    Some(id) => identity::user_by_id(tx, id).await,
                    None => Ok(None),
                }
            })
        })
        .await?;
    user.filter(|u| !u.disabled).ok_or_else(|| {
        security_event(
            "password_reset_refused",
            "unknown, used or expired reset token",
        );
        ResetError::InvalidToken
    })
}

/// Spends the token and sets the new password (which must already satisfy the policy).
pub async fn complete_reset(
    ts: &TenantStore,
    hasher: &PasswordHasher,
    token: &str,
    new_password: &SecretString,
) -> Result<User, ResetError> {
    let hash = secret_token::parse(SecretKind::PasswordReset, token)
        .map_err(|_| ResetError::InvalidToken)?;
    let password_hash = hasher.hash(new_password).await.map_err(AuthError::from)?;
    let user = ts
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let Some(id) = email_tokens::take(tx, hash, Purpose::PasswordReset)
                    .await?
                    .and_then(|t| t.user_id)
                else {
                    return Ok(None);
                };
                let Some(user) = identity::user_by_id(tx, id).await?.filter(|u| !u.disabled) else {
                    return Ok(None);
                };
                identity::set_password_hash(tx, id, password_hash).await?;
                identity::delete_sessions_of(tx, id).await?;
                factors::delete_challenges_of(tx, id).await?;
                throttle::clear(tx, &account_key(&user.email)).await?;
                Ok(Some(user))
            })
        })
        .await?;
    let Some(user) = user else {
        security_event(
            "password_reset_refused",
            "unknown, used or expired reset token",
        );
        return Err(ResetError::InvalidToken);
    };
    tracing::warn!(target: "rampart::security", event = "password_reset", user = %user.id);
    Ok(user)
}
