//! Addresses proved by mail: invitations (an admin names the address and the role),
//! self-registration (off unless the tenant turns it on) and moving an account to a new
//! address. The mailed `rpe_` token is single use and expires; the account is created, or
//! the address changed, only when it comes back.

use chrono::{Duration, Utc};
use rampart_core::GlobalRole;
use rampart_crypto::secret_token::{self, SecretKind};
use rampart_store::email_tokens::{self, EmailToken, Purpose};
use rampart_store::identity::{self, NewUser, User};
use rampart_store::{StoreError, TenantStore, Tx, settings};
use secrecy::SecretString;

use super::{AuthError, security_event};
use crate::hasher::PasswordHasher;

#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    #[error("the token is invalid, used or expired")]
    InvalidToken,
    #[error("an account already uses this email")]
    EmailTaken,
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<StoreError> for OnboardingError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NameTaken { .. } => Self::EmailTaken,
            other => Self::Auth(other.into()),
        }
    }
}

/// The tenant's self-registration setting: `None` when closed, else the allowed email
/// domains (empty: any).
pub async fn registration_domains(ts: &TenantStore) -> Result<Option<Vec<String>>, AuthError> {
    Ok(ts
        .read(|tx: &mut Tx| {
            Box::pin(async move {
                if !settings::flag(tx, settings::SELF_REGISTRATION).await? {
                    return Ok(None);
                }
                let domains = settings::get(tx, settings::REGISTRATION_DOMAINS)
                    .await?
                    .and_then(|v| serde_json::from_value::<Vec<String>>(v).ok())
                    .unwrap_or_default();
                Ok(Some(domains))
            })
        })
        .await?)
}

/// Whether an email's domain is one of `domains` (empty: any).
pub fn domain_allowed(email: &str, domains: &[String]) -> bool {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return false;
    };
    domains.is_empty() || domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
}

/// Issues a token for `purpose`; `None` when there is nothing to send: an account already
/// has the address (the caller answers the same either way where that matters).
pub async fn issue(
    ts: &TenantStore,
    purpose: Purpose,
    token: EmailToken,
    valid: Duration,
) -> Result<Option<SecretString>, AuthError> {
    let (secret, hash) = secret_token::generate(SecretKind::EmailToken);
    let issued = ts
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                if identity::user_by_email(tx, &token.email).await?.is_some() {
                    return Ok(false);
                }
                email_tokens::insert(tx, hash, purpose, token, Utc::now() + valid).await?;
                Ok(true)
            })
        })
        .await?;
    Ok(issued.then_some(secret))
}

fn token_hash(token: &str) -> Result<[u8; 32], OnboardingError> {
    secret_token::parse(SecretKind::EmailToken, token).map_err(|_| OnboardingError::InvalidToken)
}

/// What a live token is for, without spending it.
pub async fn peek(
    ts: &TenantStore,
    token: &str,
    purpose: Purpose,
) -> Result<EmailToken, OnboardingError> {
    let hash = token_hash(token)?;
    ts.read(move |tx: &mut Tx| Box::pin(email_tokens::peek(tx, hash, purpose)))
        .await?
        .ok_or(OnboardingError::InvalidToken)
}

/// Creates the account an invitation or a sign-up token is for, with the password the person
/// chose (which must already satisfy the policy).
pub async fn create_account(
    ts: &TenantStore,
    hasher: &PasswordHasher,
    token: &str,
    purpose: Purpose,
    display_name: String,
    password: &SecretString,
) -> Result<User, OnboardingError> {
    let hash = token_hash(token)?;
    let password_hash = hasher.hash(password).await.map_err(AuthError::from)?;
    let user = ts
        .write_with(move |tx: &mut Tx| {
            Box::pin(async move {
                let Some(found) = email_tokens::take(tx, hash, purpose).await? else {
                    return Err(OnboardingError::InvalidToken);
                };
                let role = match purpose {
                    Purpose::Invitation => found.role.unwrap_or(GlobalRole::Member),
                    _ => GlobalRole::Member,
                };
                Ok(identity::insert_user(
                    tx,
                    NewUser {
                        email: found.email,
                        display_name,
                        role,
                        password_hash: Some(password_hash),
                    },
                )
                .await?)
            })
        })
        .await;
    match &user {
        Ok(u) => {
            tracing::warn!(target: "rampart::security", event = "account_created_by_mail", user = %u.id, role = u.role.as_str())
        }
        Err(OnboardingError::InvalidToken) => {
            security_event("email_token_refused", "unknown, used or expired token");
        }
        Err(_) => {}
    }
    user
}

/// Moves the token's user to the proved address and ends their sessions.
pub async fn confirm_email_change(ts: &TenantStore, token: &str) -> Result<User, OnboardingError> {
    let hash = token_hash(token)?;
    let user = ts
        .write_with(move |tx: &mut Tx| {
            Box::pin(async move {
                let Some(found) = email_tokens::take(tx, hash, Purpose::EmailChange).await? else {
                    return Err(OnboardingError::InvalidToken);
                };
                let Some(id) = found.user_id else {
                    return Err(OnboardingError::InvalidToken);
                };
                identity::set_email(tx, id, &found.email).await?;
                identity::delete_sessions_of(tx, id).await?;
                identity::user_by_id(tx, id)
                    .await?
                    .ok_or(OnboardingError::InvalidToken)
            })
        })
        .await;
    match &user {
        Ok(u) => tracing::warn!(target: "rampart::security", event = "email_changed", user = %u.id),
        Err(OnboardingError::InvalidToken) => {
            security_event("email_token_refused", "unknown, used or expired token");
        }
        Err(_) => {}
    }
    user
}
