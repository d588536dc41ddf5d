//! Authentication: credentials in, a [`Principal`] out.
//!
//! Failures are deliberately uninformative: an unknown email, a wrong password and a disabled
//! account all give [`AuthError::Unauthenticated`] after the same argon2 work.

use chrono::{DateTime, Duration, Utc};
use rampart_core::{GlobalRole, TokenId};
use rampart_crypto::secret_token::{self, SecretKind};
use rampart_store::identity::{self, ApiToken, NewUser, User};
use rampart_store::{StoreError, TenantStore, Tx};
use secrecy::{ExposeSecret, SecretString};

use crate::hasher::PasswordHasher;

/// Shortest and longest password accepted. The full policy belongs to the identity issue.
pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// How a principal proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Session { id_hash: [u8; 32] },
    Token { id: TokenId },
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub via: Via,
}

impl Principal {
    pub fn role(&self) -> GlobalRole {
        self.user.role
    }

    pub fn is_cookie_session(&self) -> bool {
        matches!(self.via, Via::Session { .. })
    }
}

/// A credential presented with a request.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    Bearer(&'a str),
    SessionCookie(&'a str),
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("not authenticated")]
    Unauthenticated,
    #[error("authentication is temporarily unavailable")]
    Unavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::hasher::HashUnavailable> for AuthError {
    fn from(_: crate::hasher::HashUnavailable) -> Self {
        Self::Unavailable
    }
}

/// Session lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub absolute: Duration,
}

/// Records of last use are written at most this often, to keep reads cheap.
const TOUCH_EVERY: Duration = Duration::seconds(60);

fn security_event(event: &'static str, detail: &str) {
    tracing::warn!(target: "rampart::security", event, detail);
    metrics::counter!("rampart_security_events_total", "event" => event).increment(1);
}

/// Resolves a bearer token or session cookie to a principal.
pub async fn authenticate(
    ts: &TenantStore,
    credential: Credential<'_>,
    policy: SessionPolicy,
) -> Result<Principal, AuthError> {
    match credential {
        Credential::Bearer(text) => {
            let hash = secret_token::parse(SecretKind::ApiToken, text).map_err(|_| {
                security_event("token_malformed", "a bearer token failed the format check");
                AuthError::Unauthenticated
            })?;
            let found = ts
                .read(move |tx: &mut Tx| {
                    Box::pin(async move {
                        let Some(token) = identity::token_by_hash(tx, hash).await? else {
                            return Ok(None);
                        };
                        let user = identity::user_by_id(tx, token.user_id).await?;
                        Ok(user.map(|u| (token, u)))
                    })
                })
                .await?;
            let Some((token, user)) = found else {
                security_event("token_unknown", "a well-formed bearer token is not known");
                return Err(AuthError::Unauthenticated);
            };
            let now = Utc::now();
            if token.expires_at <= now || user.disabled {
                security_event("token_refused", "expired token or disabled user");
                return Err(AuthError::Unauthenticated);
            }
            if token.last_used_at.is_none_or(|t| now - t > TOUCH_EVERY) {
                let id = token.id;
                ts.write(move |tx: &mut Tx| Box::pin(identity::touch_token(tx, id)))
                    .await?;
            }
            Ok(Principal {
                user,
                via: Via::Token { id: token.id },
            })
        }
        Credential::SessionCookie(text) => {
            let hash = secret_token::parse(SecretKind::Session, text)
                .map_err(|_| AuthError::Unauthenticated)?;
            let found = ts
                .read(move |tx: &mut Tx| {
                    Box::pin(async move {
                        let Some(session) = identity::session_by_hash(tx, hash).await? else {
                            return Ok(None);
                        };
                        let user = identity::user_by_id(tx, session.user_id).await?;
                        Ok(user.map(|u| (session, u)))
                    })
                })
                .await?;
            let Some((session, user)) = found else {
                return Err(AuthError::Unauthenticated);
            };
            let now = Utc::now();
            let idle_expired = now - session.last_seen_at > policy.idle;
            if session.expires_at <= now || idle_expired || user.disabled {
                ts.write(move |tx: &mut Tx| Box::pin(identity::delete_session(tx, hash)))
                    .await?;
                return Err(AuthError::Unauthenticated);
            }
            if now - session.last_seen_at > TOUCH_EVERY {
                ts.write(move |tx: &mut Tx| Box::pin(identity::touch_session(tx, hash)))
                    .await?;
            }
            Ok(Principal {
                user,
                via: Via::Session { id_hash: hash },
            })
        }
    }
}

/// A new session: the cookie value (shown once, never stored) and the user.
#[derive(Debug)]
pub struct NewSession {
    pub cookie_value: SecretString,
    pub user: User,
    pub expires_at: DateTime<Utc>,
}

/// Checks an email and password and opens a session.
pub async fn login(
    ts: &TenantStore,
    hasher: &PasswordHasher,
    email: &str,
    password: &SecretString,
    policy: SessionPolicy,
    client: ClientInfo,
) -> Result<NewSession, AuthError> {
    let email_owned = email.to_owned();
    let creds = ts
        .read(move |tx: &mut Tx| {
            Box::pin(async move { identity::user_by_email(tx, &email_owned).await })
        })
        .await?;
    let too_long = password.expose_secret().chars().count() > MAX_PASSWORD_CHARS;
    let stored = creds.as_ref().and_then(|c| c.password_hash.as_deref());
    // Always hash, so that the time taken does not tell whether the account exists.
    let password_ok = !too_long && hasher.verify(password, stored).await?;
    let Some(creds) = creds.filter(|c| password_ok && !c.user.disabled) else {
        security_event("login_failed", "wrong email, password or disabled account");
        metrics::counter!("rampart_logins_total", "outcome" => "failure").increment(1);
        return Err(AuthError::Unauthenticated);
    };
    let (cookie_value, id_hash) = secret_token::generate(SecretKind::Session);
    let expires_at = Utc::now() + policy.absolute;
    let user_id = creds.user.id;
    ts.write(move |tx: &mut Tx| {
        Box::pin(identity::insert_session(
            tx,
            id_hash,
            user_id,
            expires_at,
            client.ip,
            client.user_agent,
        ))
    })
    .await?;
    metrics::counter!("rampart_logins_total", "outcome" => "success").increment(1);
    tracing::info!(target: "rampart::security", event = "login", user = %user_id);
    Ok(NewSession {
        cookie_value,
        user: creds.user,
        expires_at,
    })
}

/// What we record about the client that opened a session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

pub async fn logout(ts: &TenantStore, principal: &Principal) -> Result<(), AuthError> {
    if let Via::Session { id_hash } = principal.via {
        ts.write(move |tx: &mut Tx| Box::pin(identity::delete_session(tx, id_hash)))
            .await?;
    }
    Ok(())
}

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
/// transaction that creates the user, and only while the tenant has no user at all.
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

/// Creates an API token for a user; the plaintext is returned once and never stored.
pub async fn create_api_token(
    ts: &TenantStore,
    user: &User,
    name: String,
    expires_at: DateTime<Utc>,
) -> Result<(ApiToken, SecretString), AuthError> {
    let (text, hash) = secret_token::generate(SecretKind::ApiToken);
    let user_id = user.id;
    let token = ts
        .write(move |tx: &mut Tx| {
            Box::pin(identity::insert_token(tx, user_id, name, hash, expires_at))
        })
        .await?;
    tracing::info!(target: "rampart::security", event = "token_created", user = %user_id, token = %token.id);
    Ok((token, text))
}
