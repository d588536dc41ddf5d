//! The caller's own sign-in sessions: the live ones, and ending one or all but the current.

use rampart_auth::Principal;
use rampart_auth::authn::Via;
use rampart_store::Tx;
use rampart_store::identity::{self, SessionInfo};
use uuid::Uuid;

use crate::AppError;

/// The hash of the session making the request; `None` for an API token.
pub fn current(principal: &Principal) -> Option<[u8; 32]> {
    match principal.via {
        Via::Session { id_hash, .. } => Some(id_hash),
        Via::Token { .. } => None,
    }
}

/// The caller's live sessions, newest first.
pub async fn list(tx: &mut Tx, principal: &Principal) -> Result<Vec<SessionInfo>, AppError> {
    let now = chrono::Utc::now();
    Ok(identity::list_sessions(tx, principal.user.id)
        .await?
        .into_iter()
        .filter(|s| s.expires_at > now)
        .collect())
}

/// Ends one of the caller's sessions (another user's session id is not found).
pub async fn revoke(tx: &mut Tx, principal: &Principal, session: Uuid) -> Result<(), AppError> {
    Ok(identity::delete_session_by_public_id(tx, principal.user.id, session).await?)
}

/// Ends every session of the caller but the current one; returns how many ended.
pub async fn revoke_others(tx: &mut Tx, principal: &Principal) -> Result<u64, AppError> {
    // A token caller has no session of its own to keep: the all-zero hash matches none.
    let keep = current(principal).unwrap_or([0; 32]);
    Ok(identity::delete_other_sessions(tx, principal.user.id, keep).await?)
}
