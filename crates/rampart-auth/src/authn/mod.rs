//! Authentication: credentials in, a [`Principal`] out.
//!
//! * [`login`]: password, then (if the user has one) a second factor; throttled per account
//!   and per client address with counters in the database; re-authentication.
//! * [`second_factor`]: TOTP enrolment and recovery codes.
//! * [`passkeys`]: WebAuthn passkeys, as a second factor and for passwordless sign-in.
//! * [`password`]: changing a password; [`reset`]: resetting a forgotten one by mail.
//! * [`setup`]: the one-time token that creates a tenant's first owner.
//! * [`tokens`]: API tokens.
//! * [`inactive`]: disabling accounts left unused.
//! * [`onboarding`]: invitations, self-registration and email changes proved by mail.
//! * [`break_glass`]: the operator's password and second-factor resets.
//!
//! Failures are deliberately uninformative: an unknown email, a wrong password and a disabled
//! account all give [`AuthError::Unauthenticated`] after the same argon2 work.

pub mod break_glass;
pub mod inactive;
pub mod login;
pub mod onboarding;
pub mod passkeys;
pub mod password;
pub mod reset;
pub mod second_factor;
pub mod setup;
pub mod tokens;

use chrono::{DateTime, Duration, Utc};
use rampart_core::{GlobalRole, TokenId};
use rampart_crypto::secret_token::{self, SecretKind};
use rampart_store::identity::{self, User};
use rampart_store::tokens::{self as api_tokens, TokenScope};
use rampart_store::{StoreError, TenantStore, Tx, factors, settings};
use secrecy::SecretString;

pub use login::{LoginOutcome, SecondFactorProof, complete_second_factor, login, reauthenticate};
pub use password::change_password;
pub use setup::{SetupError, complete_setup, issue_setup_token, needs_setup};
pub use tokens::{create_api_token, rotate_api_token};

/// Longest password accepted when signing in (hashing cost stays bounded).
pub const MAX_PASSWORD_CHARS: usize = crate::policy::MAX_CHARS;

/// How a principal proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Session {
        id_hash: [u8; 32],
        /// When the user last gave their password (or passkey) in this session.
        authenticated_at: DateTime<Utc>,
    },
    Token {
        id: TokenId,
    },
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub via: Via,
    /// Whether the user has a confirmed second factor.
    pub has_second_factor: bool,
    /// Whether the tenant requires one.
    pub second_factor_required: bool,
    /// What an API token is limited to (sessions: nothing).
    pub scope: TokenScope,
}

impl Principal {
    /// Another user as seen by the authorization path (permission simulation and explain):
    /// never usable for anything but reads done on their behalf in the same request.
    pub fn for_simulation(user: User, has_second_factor: bool) -> Self {
        Self {
            user,
            via: Via::Session {
                id_hash: [0; 32],
                authenticated_at: DateTime::<Utc>::UNIX_EPOCH,
            },
            has_second_factor,
            second_factor_required: false,
            scope: TokenScope::default(),
        }
    }

    /// Whether this is an API token limited beyond its user's own rights.
    pub fn is_scoped(&self) -> bool {
        self.scope != TokenScope::default()
    }

    /// The token a caller came with, if any: decisions cached for a scoped token must not
    /// serve the same user's session, and the other way round.
    pub fn token_id(&self) -> Option<TokenId> {
        match self.via {
            Via::Token { id } => Some(id),
            Via::Session { .. } => None,
        }
    }

    pub fn role(&self) -> GlobalRole {
        self.user.role
    }

    pub fn is_cookie_session(&self) -> bool {
        matches!(self.via, Via::Session { .. })
    }

    /// The tenant requires a second factor and this user has none yet: they may only enrol.
    pub fn must_enrol_second_factor(&self) -> bool {
        self.second_factor_required && !self.has_second_factor
    }

    /// Whether this is a session whose user proved who they are within `window`. API tokens
    /// never are: a leaked token must not be enough to change credentials or roles.
    pub fn recently_authenticated(&self, window: Duration) -> bool {
        match self.via {
            Via::Session {
                authenticated_at, ..
            } => Utc::now() - authenticated_at <= window,
            Via::Token { .. } => false,
        }
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
    #[error("too many failed attempts")]
    Throttled { retry_after_secs: u64 },
    /// The signed-in user's own password was wrong (re-authentication, password change).
    #[error("the password is wrong")]
    WrongPassword,
    /// Only a signed-in browser session can do this (not an API token).
    #[error("this needs a session")]
    SessionRequired,
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

/// What we record about the client that opened a session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A new session: the cookie value (shown once, never stored) and the user.
#[derive(Debug)]
pub struct NewSession {
    pub cookie_value: SecretString,
    pub user: User,
    pub expires_at: DateTime<Utc>,
}

/// Records of last use are written at most this often, to keep reads cheap.
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// Logs a security event and counts it in metrics.
pub(crate) fn security_event(event: &'static str, detail: &str) {
    tracing::warn!(target: "rampart::security", event, detail);
    metrics::counter!("rampart_security_events_total", "event" => event).increment(1);
}

/// What a principal's tenant asks of its second factors.
async fn second_factor_state(tx: &mut Tx, user: &User) -> Result<(bool, bool), StoreError> {
    Ok((
        factors::has_second_factor(tx, user.id).await?,
        settings::flag(tx, settings::REQUIRE_SECOND_FACTOR).await?,
    ))
}

/// Resolves a bearer token or session cookie to a principal. `client_ip` is recorded as a
/// token's last-used address.
pub async fn authenticate(
    ts: &TenantStore,
    credential: Credential<'_>,
    policy: SessionPolicy,
    client_ip: Option<String>,
) -> Result<Principal, AuthError> {
    match credential {
        Credential::Bearer(text) => {
            let hash = secret_token::parse(SecretKind::ApiToken, text).map_err(|_| {
                security_event("token_malformed", "a bearer token failed the format check");
                AuthError::Unauthenticated
            })?;
            let found = ts
                .lookup(move |tx: &mut Tx| {
                    Box::pin(async move {
                        let Some(token) = api_tokens::by_hash(tx, hash).await? else {
                            return Ok(None);
                        };
                        let Some(user) = identity::user_by_id(tx, token.user_id).await? else {
                            return Ok(None);
                        };
                        let factors = second_factor_state(tx, &user).await?;
                        Ok(Some((token, user, factors)))
                    })
                })
                .await?;
            let Some((token, user, (has_second_factor, second_factor_required))) = found else {
                security_event("token_unknown", "a well-formed bearer token is not known");
                return Err(AuthError::Unauthenticated);
            };
            let now = Utc::now();
            if token.expires_at <= now || user.disabled {
                security_event("token_refused", "expired token or disabled user");
                return Err(AuthError::Unauthenticated);
            }
            if token.last_used_at.is_none_or(|t| now - t > TOUCH_EVERY)
                || token.last_used_ip != client_ip
            {
                let id = token.id;
                ts.write(move |tx: &mut Tx| Box::pin(api_tokens::touch(tx, id, client_ip)))
                    .await?;
            }
            Ok(Principal {
                user,
                via: Via::Token { id: token.id },
                has_second_factor,
                second_factor_required,
                scope: token.scope,
            })
        }
        Credential::SessionCookie(text) => {
            let hash = secret_token::parse(SecretKind::Session, text)
                .map_err(|_| AuthError::Unauthenticated)?;
            let found = ts
                .lookup(move |tx: &mut Tx| {
                    Box::pin(async move {
                        let Some(session) = identity::session_by_hash(tx, hash).await? else {
                            return Ok(None);
                        };
                        let Some(user) = identity::user_by_id(tx, session.user_id).await? else {
                            return Ok(None);
                        };
                        let factors = second_factor_state(tx, &user).await?;
                        Ok(Some((session, user, factors)))
                    })
                })
                .await?;
            let Some((session, user, (has_second_factor, second_factor_required))) = found else {
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
                via: Via::Session {
                    id_hash: hash,
                    authenticated_at: session.authenticated_at,
                },
                has_second_factor,
                second_factor_required,
                scope: TokenScope::default(),
            })
        }
    }
}

/// Opens a session for a user who has fully proved who they are.
async fn open_session(
    tx: &mut Tx,
    user: User,
    policy: SessionPolicy,
    client: ClientInfo,
) -> Result<NewSession, StoreError> {
    let (cookie_value, id_hash) = secret_token::generate(SecretKind::Session);
    let expires_at = Utc::now() + policy.absolute;
    identity::insert_session(
        tx,
        id_hash,
        user.id,
        expires_at,
        client.ip,
        client.user_agent,
    )
    .await?;
    Ok(NewSession {
        cookie_value,
        user,
        expires_at,
    })
}

pub async fn logout(ts: &TenantStore, principal: &Principal) -> Result<(), AuthError> {
    if let Via::Session { id_hash, .. } = principal.via {
        ts.write(move |tx: &mut Tx| Box::pin(identity::delete_session(tx, id_hash)))
            .await?;
    }
    Ok(())
}
