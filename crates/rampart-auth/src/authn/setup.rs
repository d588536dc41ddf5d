//! The one-time setup token that creates a tenant's first owner.

use chrono::{Duration, Utc};
use rampart_core::GlobalRole;
use rampart_crypto::secret_token::{self, SecretKind};
use rampart_store::identity::{self, NewUser, User};
use rampart_store::{TenantStore, Tx};
use secrecy::SecretString;

use super::{AuthError, security_event};
use crate::hasher::PasswordHasher;

/// Issues a fresh one-time setup token for a tenant's first owner, replacing any earlier one.
pub async fn issue_setup_token(
    ts: &TenantStore,
    valid_for: Duration,
) -> Result<SecretString, AuthError> {
    let (token, hash) = secret_token::generate(SecretKind::SetupToken);
    let expires_at = Utc::now() + valid_for;
    ts.write(move |tx: &mut Tx| Box::pin(identity::replace_setup_token(tx, hash, expires_at)))
        .await?;
    Ok(token)
}

/// Whether the tenant still waits for its first owner.
pub async fn needs_setup(ts: &TenantStore) -> Result<bool, AuthError> {
    Ok(ts
        .read(|tx: &mut Tx| Box::pin(identity::count_users(tx)))
        .await?
        == 0)
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the setup token is invalid, used or expired")]
    InvalidToken,
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// Creates the first owner with a one-time setup token. The token is consumed in the same
/// transaction that creates the user, and only while the tenant has no user at all. The
/// password must already have passed the policy.
pub async fn complete_setup(
    ts: &TenantStore,
    hasher: &PasswordHasher,
    token: &str,
    new_owner: NewUser,
    password: &SecretString,
) -> Result<User, SetupError> {
    let hash =
        secret_token::parse(SecretKind::SetupToken, token).map_err(|_| SetupError::InvalidToken)?;
    let password_hash = hasher.hash(password).await.map_err(AuthError::from)?;
    let result = ts
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                if identity::count_users(tx).await? > 0
                    || !identity::consume_setup_token(tx, hash).await?
                {
                    return Ok(None);
                }
                let user = identity::insert_user(
                    tx,
                    NewUser {
                        role: GlobalRole::Owner,
                        password_hash: Some(password_hash),
                        ..new_owner
                    },
                )
                .await?;
                Ok(Some(user))
            })
        })
        .await
        .map_err(AuthError::from)?;
    match result {
        Some(user) => {
            tracing::info!(target: "rampart::security", event = "first_owner_created", user = %user.id);
            Ok(user)
        }
        None => {
            security_event(
                "setup_token_refused",
                "invalid, used or expired setup token",
            );
            Err(SetupError::InvalidToken)
        }
    }
}
