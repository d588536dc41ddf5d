//! API tokens: generated here, only their hash stored, always expiring, optionally scoped.
//! A scope only ever narrows what the token's user may do (see `authz`); it is checked here
//! when the token is made, and applied again on every use.

use chrono::{DateTime, Duration, Utc};
use rampart_core::{ProjectRole, TableAction, TokenId};
use rampart_crypto::secret_token::{self, SecretKind};
use rampart_store::tokens::{self, ApiToken, TokenScope};
use rampart_store::{StoreError, TenantStore, Tx, permission_sets};
use secrecy::SecretString;

use super::{AuthError, Principal};

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// `projects[index]` is not a project the user can see.
    #[error("unknown project")]
    UnknownProject { index: usize },
    #[error("unknown permission set")]
    UnknownPermissionSet,
    #[error("the permission set belongs to a project outside the token's projects")]
    PermissionSetOutsideProjects,
    #[error("the token was already rotated")]
    AlreadyRotated,
    #[error("no such token")]
    NotFound,
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<StoreError> for TokenError {
    fn from(e: StoreError) -> Self {
        Self::Auth(e.into())
    }
}

/// Checks a requested scope against what the user may do now, and completes it: a token for
/// one permission set is limited to that set's project.
async fn validate_scope(
    tx: &mut Tx,
    principal: &Principal,
    mut scope: TokenScope,
) -> Result<Result<TokenScope, TokenError>, StoreError> {
    // What the user may do, whatever token they called with.
    let user = Principal {
        scope: TokenScope::default(),
        ..principal.clone()
    };
    let principal = &user;
    if let Some(projects) = &scope.projects {
        for (index, project) in projects.iter().enumerate() {
            if crate::authz::authorize(tx, principal, *project, TableAction::ReadRecords)
                .await?
                .is_err()
            {
                return Ok(Err(TokenError::UnknownProject { index }));
            }
        }
    }
    if let Some(set_id) = scope.permission_set {
        let Some(set) = permission_sets::get(tx, set_id).await? else {
            return Ok(Err(TokenError::UnknownPermissionSet));
        };
        let administers = crate::authz::effective_role(tx, principal, set.project_id)
            .await?
            .is_some_and(|r| r >= ProjectRole::Admin);
        let holds = permission_sets::held_by(tx, principal.user.id, set.project_id)
            .await?
            .iter()
            .any(|s| s.id == set_id);
        if !administers && !holds {
            return Ok(Err(TokenError::UnknownPermissionSet));
        }
        match &scope.projects {
            None => scope.projects = Some(vec![set.project_id]),
            Some(p) if p.as_slice() == [set.project_id] => {}
            Some(_) => return Ok(Err(TokenError::PermissionSetOutsideProjects)),
        }
    }
    Ok(Ok(scope))
}

/// Creates an API token for the caller; the plaintext is returned once and never stored.
pub async fn create_api_token(
    ts: &TenantStore,
    principal: &Principal,
    name: String,
    scope: TokenScope,
    expires_at: DateTime<Utc>,
) -> Result<(ApiToken, SecretString), TokenError> {
    let (text, hash) = secret_token::generate(SecretKind::ApiToken);
    let principal_owned = principal.clone();
    let user_id = principal.user.id;
    let token = ts
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                match validate_scope(tx, &principal_owned, scope).await? {
                    Ok(scope) => Ok(Ok(tokens::insert(
                        tx, user_id, name, scope, hash, expires_at,
                    )
                    .await?)),
                    Err(e) => Ok(Err(e)),
                }
            })
        })
        .await??;
    tracing::info!(target: "rampart::security", event = "token_created", user = %user_id, token = %token.id);
    Ok((token, text))
}

/// Issues a successor to one of the caller's tokens, with the same name, scope and lifetime;
/// the old token keeps working for `grace`, then expires. A token is rotated once.
pub async fn rotate_api_token(
    ts: &TenantStore,
    principal: &Principal,
    id: TokenId,
    grace: Duration,
    max_lifetime: Duration,
) -> Result<(ApiToken, SecretString), TokenError> {
    let (text, hash) = secret_token::generate(SecretKind::ApiToken);
    let user_id = principal.user.id;
    let principal_owned = principal.clone();
    let token = ts
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let now = Utc::now();
                let Some(old) = tokens::get(tx, user_id, id).await? else {
                    return Ok(Err(TokenError::NotFound));
                };
                if old.expires_at <= now {
                    return Ok(Err(TokenError::NotFound));
                }
                if old.rotated_at.is_some() {
                    return Ok(Err(TokenError::AlreadyRotated));
                }
                // The scope is checked again: the user may have lost access since.
                let scope = match validate_scope(tx, &principal_owned, old.scope.clone()).await? {
                    Ok(s) => s,
                    Err(e) => return Ok(Err(e)),
                };
                let lifetime =
                    (old.expires_at - old.created_at).clamp(Duration::days(1), max_lifetime);
                if !tokens::mark_rotated(tx, id, now + grace).await? {
                    return Ok(Err(TokenError::AlreadyRotated));
                }
                let new =
                    tokens::insert(tx, user_id, old.name, scope, hash, now + lifetime).await?;
                Ok(Ok(new))
            })
        })
        .await??;
    tracing::info!(target: "rampart::security", event = "token_rotated", user = %user_id, old = %id, new = %token.id);
    Ok((token, text))
}
