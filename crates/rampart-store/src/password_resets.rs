//! Password-reset tokens: only their hashes, single use, short-lived; a newer request
//! replaces an older one.

use chrono::{DateTime, Utc};
use rampart_core::UserId;
use rampart_sql::Param;

use crate::db::Tx;
use crate::error::StoreError;

/// Stores a reset token for `user`, dropping any earlier one.
pub async fn insert(
    tx: &mut Tx,
    hash: [u8; 32],
    user: UserId,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    delete_of(tx, user).await?;
    let mut q = tx.sql();
    q.push("DELETE FROM password_resets WHERE expires_at < ")
        .param(Param::Timestamp(crate::now()));
    tx.execute(q).await?;
    let mut q = tx.sql();
    q.push("INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES (")
        .param_list([
            Param::Bytes(hash.to_vec()),
            Param::Uuid(user.0),
            Param::Timestamp(expires_at),
        ])
        .push(")");
    tx.execute(q).await?;
    Ok(())
}

/// The user of a live token, without spending it.
pub async fn user_of(tx: &mut Tx, hash: [u8; 32]) -> Result<Option<UserId>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT user_id FROM password_resets WHERE token_hash = ")
        .param(Param::Bytes(hash.to_vec()))
        .push(" AND expires_at > ")
        .param(Param::Timestamp(crate::now()));
    match tx.fetch_optional(q).await? {
        Some(row) => Ok(Some(UserId(row.uuid(0)?))),
        None => Ok(None),
    }
}

/// Spends a live token: its user, once.
pub async fn take(tx: &mut Tx, hash: [u8; 32]) -> Result<Option<UserId>, StoreError> {
    let mut q = tx.sql();
    q.push("DELETE FROM password_resets WHERE token_hash = ")
        .param(Param::Bytes(hash.to_vec()))
        .push(" AND expires_at > ")
        .param(Param::Timestamp(crate::now()))
        .push(" RETURNING user_id");
    match tx.fetch_optional(q).await? {
        Some(row) => Ok(Some(UserId(row.uuid(0)?))),
        None => Ok(None),
    }
}

pub async fn delete_of(tx: &mut Tx, user: UserId) -> Result<(), StoreError> {
    let mut q = tx.sql();
    q.push("DELETE FROM password_resets WHERE user_id = ")
        .param(Param::Uuid(user.0));
    tx.execute(q).await?;
    Ok(())
}
