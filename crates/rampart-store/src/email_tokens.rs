//! Tokens sent by mail to prove an address: password resets, invitations, self-registration
//! and email-change confirmations. Only hashes are stored; each is single use and expires; a newer token for
//! the same purpose and address replaces the older one.

use chrono::{DateTime, Utc};
use rampart_core::{GlobalRole, UserId};
use rampart_sql::{Param, ParamType};

use crate::db::{DbRow, Tx};
use crate::error::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A user forgot their password.
    PasswordReset,
    /// An admin invited the address, with a role.
    Invitation,
    /// Someone signed up with the address (self-registration).
    SignUp,
    /// A user asked to move their account to the address.
    EmailChange,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::Invitation => "invitation",
            Self::SignUp => "sign_up",
            Self::EmailChange => "email_change",
        }
    }
}

#[derive(Debug, Clone)]
pub struct EmailToken {
    pub email: String,
    pub user_id: Option<UserId>,
    pub role: Option<GlobalRole>,
}

fn from_row(row: &DbRow) -> Result<EmailToken, StoreError> {
    Ok(EmailToken {
        email: row.text(0)?,
        user_id: row.opt_uuid(1)?.map(UserId),
        role: row.opt_text(2)?.as_deref().and_then(GlobalRole::parse),
    })
}

pub async fn insert(
    tx: &mut Tx,
    hash: [u8; 32],
    purpose: Purpose,
    token: EmailToken,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let key = rampart_core::names::normalize_email(&token.email);
    let mut q = tx.sql();
    q.push("DELETE FROM email_tokens WHERE expires_at < ")
        .param(Param::Timestamp(crate::now()))
        .push(" OR (purpose = ")
        .param(Param::Text(purpose.as_str().to_owned()))
        .push(" AND email_key = ")
        .param(Param::Text(key.clone()))
        .push(")");
    tx.execute(q).await?;
    let mut q = tx.sql();
    q.push(
        "INSERT INTO email_tokens (token_hash, purpose, email_key, email, user_id, role, \
         expires_at) VALUES (",
    )
    .param_list([
        Param::Bytes(hash.to_vec()),
        Param::Text(purpose.as_str().to_owned()),
        Param::Text(key),
        Param::Text(token.email),
        token
            .user_id
            .map_or(Param::Null(ParamType::Uuid), |u| Param::Uuid(u.0)),
        token.role.map_or(Param::Null(ParamType::Text), |r| {
            Param::Text(r.as_str().to_owned())
        }),
        Param::Timestamp(expires_at),
    ])
    .push(")");
    tx.execute(q).await?;
    Ok(())
}

/// A live token of `purpose`, spent as it is read.
pub async fn take(
    tx: &mut Tx,
    hash: [u8; 32],
    purpose: Purpose,
) -> Result<Option<EmailToken>, StoreError> {
    let mut q = tx.sql();
    q.push("DELETE FROM email_tokens WHERE token_hash = ")
        .param(Param::Bytes(hash.to_vec()))
        .push(" AND purpose = ")
        .param(Param::Text(purpose.as_str().to_owned()))
        .push(" AND expires_at > ")
        .param(Param::Timestamp(crate::now()))
        .push(" RETURNING email, user_id, role");
    tx.fetch_optional(q)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// A live token of `purpose`, not spent.
pub async fn peek(
    tx: &mut Tx,
    hash: [u8; 32],
    purpose: Purpose,
) -> Result<Option<EmailToken>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT email, user_id, role FROM email_tokens WHERE token_hash = ")
        .param(Param::Bytes(hash.to_vec()))
        .push(" AND purpose = ")
        .param(Param::Text(purpose.as_str().to_owned()))
        .push(" AND expires_at > ")
        .param(Param::Timestamp(crate::now()));
    tx.fetch_optional(q)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}
