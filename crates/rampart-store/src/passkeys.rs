//! WebAuthn passkeys (the credential as the verifier serialises it: public key, counter,
//! flags; never a secret) and the short-lived state of a ceremony between its two steps.

use chrono::{DateTime, Utc};
use rampart_core::UserId;
use rampart_sql::{Param, ParamType};
use uuid::Uuid;

use crate::db::{DbRow, Tx};
use crate::error::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    pub id: Uuid,
    pub user_id: UserId,
    pub credential_id: Vec<u8>,
    pub name: String,
    /// The verifier's serialised credential.
    pub credential: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "SELECT id, user_id, credential_id, name, credential, created_at, last_used_at FROM passkeys";

fn from_row(row: &DbRow) -> Result<StoredPasskey, StoreError> {
    Ok(StoredPasskey {
        id: row.uuid(0)?,
        user_id: UserId(row.uuid(1)?),
        credential_id: row.bytes(2)?,
        name: row.text(3)?,
        credential: row.text(4)?,
        created_at: row.timestamp(5)?,
        last_used_at: row.opt_timestamp(6)?,
    })
}

/// Whether a credential id is registered to anyone in the tenant.
pub async fn credential_registered(tx: &mut Tx, credential_id: &[u8]) -> Result<bool, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT COUNT(*) FROM passkeys WHERE credential_id = ")
        .param(Param::Bytes(credential_id.to_vec()));
    Ok(tx.fetch_one(q).await?.i64(0)? > 0)
}

/// Stores a new passkey (see [`credential_registered`] first: the id is unique).
pub async fn insert(
    tx: &mut Tx,
    user: UserId,
    credential_id: Vec<u8>,
    name: String,
    credential: String,
) -> Result<StoredPasskey, StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::FactorPasskeyAdd,
        Some(user.0),
        Some(serde_json::json!({"name": name})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let passkey = StoredPasskey {
        id: Uuid::new_v4(),
        user_id: user,
        credential_id,
        name,
        credential,
        created_at: crate::now(),
        last_used_at: None,
    };
    let mut q = tx.sql();
    q.push(
        "INSERT INTO passkeys (id, user_id, credential_id, name, credential, created_at) VALUES (",
    )
    .param_list([
        Param::Uuid(passkey.id),
        Param::Uuid(user.0),
        Param::Bytes(passkey.credential_id.clone()),
        Param::Text(passkey.name.clone()),
        Param::Text(passkey.credential.clone()),
        Param::Timestamp(passkey.created_at),
    ])
    .push(")");
    tx.execute(q).await?;
    Ok(passkey)
}

pub async fn list(tx: &mut Tx, user: UserId) -> Result<Vec<StoredPasskey>, StoreError> {
    let mut q = tx.sql();
    q.push(COLUMNS)
        .push(" WHERE user_id = ")
        .param(Param::Uuid(user.0))
        .push(" ORDER BY created_at, id");
    tx.fetch_all(q).await?.iter().map(from_row).collect()
}

pub async fn count(tx: &mut Tx, user: UserId) -> Result<i64, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT COUNT(*) FROM passkeys WHERE user_id = ")
        .param(Param::Uuid(user.0));
    tx.fetch_one(q).await?.i64(0)
}

/// A user's passkey by its WebAuthn credential id.
pub async fn by_credential_id(
    tx: &mut Tx,
    user: UserId,
    credential_id: &[u8],
) -> Result<Option<StoredPasskey>, StoreError> {
    let mut q = tx.sql();
    q.push(COLUMNS)
        .push(" WHERE user_id = ")
        .param(Param::Uuid(user.0))
        .push(" AND credential_id = ")
        .param(Param::Bytes(credential_id.to_vec()));
    tx.fetch_optional(q)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Records a use, with the credential as updated by the verifier (its signature counter).
pub async fn record_use(tx: &mut Tx, id: Uuid, credential: String) -> Result<(), StoreError> {
    let mut q = tx.sql();
    q.push("UPDATE passkeys SET credential = ")
        .param(Param::Text(credential))
        .push(", last_used_at = ")
        .param(Param::Timestamp(crate::now()))
        .push(" WHERE id = ")
        .param(Param::Uuid(id));
    tx.execute(q).await?;
    Ok(())
}

/// Renames one of a user's passkeys; `NotFound` if it is not theirs.
pub async fn rename(tx: &mut Tx, user: UserId, id: Uuid, name: String) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::FactorPasskeyRename,
        Some(user.0),
        Some(serde_json::json!({"passkey": id, "name": name})),
    )
    .await?;
    let mut q = tx.sql();
    q.push("UPDATE passkeys SET name = ")
        .param(Param::Text(name))
        .push(" WHERE id = ")
        .param(Param::Uuid(id))
        .push(" AND user_id = ")
        .param(Param::Uuid(user.0));
    match tx.execute(q).await? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

/// Removes one of a user's passkeys; `NotFound` if it is not theirs.
pub async fn delete(tx: &mut Tx, user: UserId, id: Uuid) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::FactorPasskeyRemove,
        Some(user.0),
        Some(serde_json::json!({"passkey": id})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("DELETE FROM passkeys WHERE id = ")
        .param(Param::Uuid(id))
        .push(" AND user_id = ")
        .param(Param::Uuid(user.0));
    match tx.execute(q).await? {
        0 => Err(StoreError::NotFound),
        _ => crate::factors::drop_orphan_recovery_codes(tx, user).await,
    }
}

/// Removes every passkey of a user (break-glass reset of second factors).
pub async fn delete_all_of(tx: &mut Tx, user: UserId) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::FactorPasskeysRemoveAll,
        Some(user.0),
        None,
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("DELETE FROM passkeys WHERE user_id = ")
        .param(Param::Uuid(user.0));
    tx.execute(q).await?;
    crate::factors::drop_orphan_recovery_codes(tx, user).await
}

/// What a ceremony was started for; a state is only ever finished for the same purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Register,
    SignIn,
    SecondFactor,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::SignIn => "sign_in",
            Self::SecondFactor => "second_factor",
        }
    }
}

/// Stores a ceremony's state until its second step (or `expires_at`). `user` is `None` for
/// a decoy sign-in ceremony that can never finish.
pub async fn insert_ceremony(
    tx: &mut Tx,
    user: Option<UserId>,
    purpose: Purpose,
    state: String,
    expires_at: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    let mut q = tx.sql();
    q.push("DELETE FROM webauthn_ceremonies WHERE expires_at < ")
        .param(Param::Timestamp(crate::now()));
    tx.execute(q).await?;
    let id = Uuid::new_v4();
    let mut q = tx.sql();
    q.push("INSERT INTO webauthn_ceremonies (id, user_id, purpose, state, expires_at) VALUES (")
        .param_list([
            Param::Uuid(id),
            user.map_or(Param::Null(ParamType::Uuid), |u| Param::Uuid(u.0)),
            Param::Text(purpose.as_str().to_owned()),
            Param::Text(state),
            Param::Timestamp(expires_at),
        ])
        .push(")");
    tx.execute(q).await?;
    Ok(id)
}

/// A ceremony started for `purpose` and not expired, removed as it is read so that its
/// challenge is answered once: `(user, state)`.
pub async fn take_ceremony(
    tx: &mut Tx,
    id: Uuid,
    purpose: Purpose,
) -> Result<Option<(Option<UserId>, String)>, StoreError> {
    let mut q = tx.sql();
    q.push("DELETE FROM webauthn_ceremonies WHERE id = ")
        .param(Param::Uuid(id))
        .push(" AND purpose = ")
        .param(Param::Text(purpose.as_str().to_owned()))
        .push(" AND expires_at > ")
        .param(Param::Timestamp(crate::now()))
        .push(" RETURNING user_id, state");
    match tx.fetch_optional(q).await? {
        Some(row) => Ok(Some((row.opt_uuid(0)?.map(UserId), row.text(1)?))),
        None => Ok(None),
    }
}
