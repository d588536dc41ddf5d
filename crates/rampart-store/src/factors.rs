//! Second factors: TOTP seeds (with the last step used, for replay protection), hashed
//! recovery codes, and the short-lived challenges of a login waiting for its second factor.

use chrono::{DateTime, Utc};
use rampart_core::UserId;
use rampart_sql::Param;

use crate::db::Tx;
use crate::error::StoreError;

/// A user's TOTP enrolment.
#[derive(Debug, Clone)]
pub struct Totp {
    /// The sealed seed (see `rampart-auth::totp::seal`).
    pub sealed_seed: Vec<u8>,
    pub enabled: bool,
    /// The last 30-second step a code was accepted for; older and equal steps are refused.
    pub last_step: i64,
}

pub async fn totp(tx: &mut Tx, user: UserId) -> Result<Option<Totp>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT seed, enabled, last_step FROM user_totp WHERE user_id = ")
        .param(Param::Uuid(user.0));
    let Some(row) = tx.fetch_optional(q).await? else {
        return Ok(None);
    };
    Ok(Some(Totp {
        sealed_seed: row.bytes(0)?,
        enabled: row.bool(1)?,
        last_step: row.i64(2)?,
    }))
}

/// Every stored seed, by user (for sealing old seeds and re-sealing after a key rotation).
pub async fn all_seeds(tx: &mut Tx) -> Result<Vec<(UserId, Vec<u8>)>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT user_id, seed FROM user_totp ORDER BY user_id");
    tx.fetch_all(q)
        .await?
        .iter()
        .map(|r| Ok((UserId(r.uuid(0)?), r.bytes(1)?)))
        .collect()
}

/// Replaces a seed's stored form, only if it is still `old` (a concurrent re-enrolment wins).
pub async fn replace_seed(
    tx: &mut Tx,
    user: UserId,
    old: Vec<u8>,
    new: Vec<u8>,
) -> Result<bool, StoreError> {
    let mut q = tx.sql();
    q.push("UPDATE user_totp SET seed = ")
        .param(Param::Bytes(new))
        .push(" WHERE user_id = ")
        .param(Param::Uuid(user.0))
        .push(" AND seed = ")
        .param(Param::Bytes(old));
    Ok(tx.execute(q).await? == 1)
}

/// Starts (or restarts) an enrolment with a new seed, not enabled until confirmed.
pub async fn begin_totp(tx: &mut Tx, user: UserId, sealed_seed: Vec<u8>) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::FactorTotpBegin,
        Some(user.0),
        None,
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("DELETE FROM user_totp WHERE user_id = ")
        .param(Param::Uuid(user.0));
    tx.execute(q).await?;
    let mut q = tx.sql();
    q.push("INSERT INTO user_totp (user_id, seed, enabled, last_step, created_at) VALUES (")
        .param_list([
            Param::Uuid(user.0),
            Param::Bytes(sealed_seed),
            Param::Bool(false),
            Param::I64(0),
            Param::Timestamp(crate::now()),
        ])
        .push(")");
    tx.execute(q).await?;
    Ok(())
}

/// Records that a code of `step` was accepted: succeeds only if `step` is newer than the
/// last accepted one, so a code can be used once (the check and the write are one statement).
pub async fn use_totp_step(
    tx: &mut Tx,
    user: UserId,
    step: i64,
    enable: bool,
) -> Result<bool, StoreError> {
    let mut q = tx.sql();
    q.push("UPDATE user_totp SET last_step = ")
        .param(Param::I64(step));
    if enable {
        q.push(", enabled = ").param(Param::Bool(true));
    }
    q.push(" WHERE user_id = ")
        .param(Param::Uuid(user.0))
        .push(" AND last_step < ")
        .param(Param::I64(step));
    let changed = tx.execute(q).await? == 1;
    if changed && enable {
        crate::epoch::bump(tx).await?;
    }
    let action = if enable {
        crate::audit::Action::FactorTotpEnable
    } else {
        crate::audit::Action::AuthTotpCode
    };
    crate::audit::note(
        tx,
        action,
        Some(user.0),
        Some(serde_json::json!({"accepted": changed})),
    )
    .await?;
    Ok(changed)
}

pub async fn remove_totp(tx: &mut Tx, user: UserId) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::FactorTotpRemove,
        Some(user.0),
        None,
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("DELETE FROM user_totp WHERE user_id = ")
        .param(Param::Uuid(user.0));
    tx.execute(q).await?;
    drop_orphan_recovery_codes(tx, user).await
}

/// Recovery codes stand in for a second factor; with none left, they go too.
pub async fn drop_orphan_recovery_codes(tx: &mut Tx, user: UserId) -> Result<(), StoreError> {
    if has_second_factor(tx, user).await? {
        return Ok(());
    }
    let mut q = tx.sql();
    q.push("DELETE FROM recovery_codes WHERE user_id = ")
        .param(Param::Uuid(user.0));
    tx.execute(q).await?;
    Ok(())
}

/// Replaces a user's recovery codes with new hashes.
pub async fn replace_recovery_codes(
    tx: &mut Tx,
    user: UserId,
    hashes: Vec<[u8; 32]>,
) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::FactorRecoveryCodesIssued,
        Some(user.0),
        None,
    )
    .await?;
    let mut q = tx.sql();
    q.push("DELETE FROM recovery_codes WHERE user_id = ")
        .param(Param::Uuid(user.0));
    tx.execute(q).await?;
    for h in hashes {
        let mut q = tx.sql();
        q.push("INSERT INTO recovery_codes (user_id, code_hash) VALUES (")
            .param_list([Param::Uuid(user.0), Param::Bytes(h.to_vec())])
            .push(")");
        tx.execute(q).await?;
    }
    Ok(())
}

/// Spends a recovery code: true if it existed and was unused.
pub async fn use_recovery_code(
    tx: &mut Tx,
    user: UserId,
    hash: [u8; 32],
) -> Result<bool, StoreError> {
    let mut q = tx.sql();
    q.push("UPDATE recovery_codes SET used_at = ")
        .param(Param::Timestamp(crate::now()))
        .push(" WHERE user_id = ")
        .param(Param::Uuid(user.0))
        .push(" AND code_hash = ")
        .param(Param::Bytes(hash.to_vec()))
        .push(" AND used_at IS NULL");
    let used = tx.execute(q).await? == 1;
    crate::audit::note(
        tx,
        crate::audit::Action::AuthRecoveryCode,
        Some(user.0),
        Some(serde_json::json!({"accepted": used})),
    )
    .await?;
    Ok(used)
}

pub async fn unused_recovery_codes(tx: &mut Tx, user: UserId) -> Result<i64, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT COUNT(*) FROM recovery_codes WHERE used_at IS NULL AND user_id = ")
        .param(Param::Uuid(user.0));
    tx.fetch_one(q).await?.i64(0)
}

/// A login waiting for its second factor.
pub async fn insert_challenge(
    tx: &mut Tx,
    hash: [u8; 32],
    user: UserId,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut q = tx.sql();
    q.push("INSERT INTO login_challenges (token_hash, user_id, expires_at, attempts) VALUES (")
        .param_list([
            Param::Bytes(hash.to_vec()),
            Param::Uuid(user.0),
            Param::Timestamp(expires_at),
            Param::I64(0),
        ])
        .push(")");
    tx.execute(q).await?;
    Ok(())
}

/// The user of a live challenge, counting this attempt; `None` when unknown, expired or
/// tried too often (then it is removed).
pub async fn challenge_user(
    tx: &mut Tx,
    hash: [u8; 32],
    max_attempts: i64,
) -> Result<Option<UserId>, StoreError> {
    let mut q = tx.sql();
    q.push("UPDATE login_challenges SET attempts = attempts + 1 WHERE token_hash = ")
        .param(Param::Bytes(hash.to_vec()))
        .push(" AND expires_at > ")
        .param(Param::Timestamp(crate::now()))
        .push(" AND attempts < ")
        .param(Param::I64(max_attempts))
        .push(" RETURNING user_id");
    match tx.fetch_optional(q).await? {
        Some(row) => Ok(Some(UserId(row.uuid(0)?))),
        None => {
            delete_challenge(tx, hash).await?;
            Ok(None)
        }
    }
}

pub async fn delete_challenge(tx: &mut Tx, hash: [u8; 32]) -> Result<(), StoreError> {
    let mut q = tx.sql();
    q.push("DELETE FROM login_challenges WHERE token_hash = ")
        .param(Param::Bytes(hash.to_vec()));
    tx.execute(q).await?;
    Ok(())
}

/// Whether a user has a confirmed second factor: TOTP or a passkey.
pub async fn has_second_factor(tx: &mut Tx, user: UserId) -> Result<bool, StoreError> {
    Ok(totp(tx, user).await?.is_some_and(|t| t.enabled)
        || crate::passkeys::count(tx, user).await? > 0)
}

/// Drops a user's pending login challenges (their password changed).
pub async fn delete_challenges_of(tx: &mut Tx, user: UserId) -> Result<(), StoreError> {
    let mut q = tx.sql();
    q.push("DELETE FROM login_challenges WHERE user_id = ")
        .param(Param::Uuid(user.0));
    tx.execute(q).await?;
    Ok(())
}
