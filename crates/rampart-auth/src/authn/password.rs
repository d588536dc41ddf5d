//! Changing one's own password: the current password is required, and every session of the
//! user ends (the caller's own is replaced by a fresh one).

use rampart_store::identity;
use rampart_store::{TenantStore, Tx, factors};
use secrecy::SecretString;

use super::login::check_own_password;
use super::{AuthError, ClientInfo, NewSession, Principal, SessionPolicy, open_session};
use crate::hasher::PasswordHasher;

/// Sets a new password (which must already satisfy the policy). Returns the caller's new
/// session when they called with one.
pub async fn change_password(
    ts: &TenantStore,
    hasher: &PasswordHasher,
    principal: &Principal,
    current: &SecretString,
    new_password: &SecretString,
    policy: SessionPolicy,
    client: ClientInfo,
) -> Result<Option<NewSession>, AuthError> {
    let user = principal.user.clone();
    check_own_password(ts, hasher, user.id, current).await?;
    let hash = hasher.hash(new_password).await?;
    let reopen = principal.is_cookie_session();
    let user_id = user.id;
    let session = ts
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                identity::set_password_hash(tx, user_id, hash).await?;
                identity::delete_sessions_of(tx, user_id).await?;
                factors::delete_challenges_of(tx, user_id).await?;
                if reopen {
                    Ok(Some(open_session(tx, user, policy, client).await?))
                } else {
                    Ok(None)
                }
            })
        })
        .await?;
    tracing::warn!(target: "rampart::security", event = "password_changed", user = %user_id);
    Ok(session)
}
