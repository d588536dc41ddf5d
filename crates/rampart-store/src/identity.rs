//! Users, sessions and one-time setup tokens of a tenant (API tokens: [`crate::tokens`]).
//! Secrets arrive here already hashed; this module never sees a plaintext secret.

use chrono::{DateTime, Utc};
use rampart_core::{GlobalRole, UserId};
use rampart_sql::{Param, ParamType};
use uuid::Uuid;

use crate::db::{DbRow, Tx};
use crate::error::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub role: GlobalRole,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A user with the stored password hash, for login only.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub role: GlobalRole,
    pub password_hash: Option<String>,
}

const USER_COLUMNS: &str = "SELECT id, email, display_name, role, disabled, created_at, updated_at, password_hash FROM users";

fn user_from_row(row: &DbRow) -> Result<UserCredentials, StoreError> {
    Ok(UserCredentials {
        user: User {
            id: UserId(row.uuid(0)?),
            email: row.text(1)?,
            display_name: row.text(2)?,
            role: GlobalRole::parse(&row.text(3)?)
                .ok_or_else(|| StoreError::internal("unknown role"))?,
            disabled: row.bool(4)?,
            created_at: row.timestamp(5)?,
            updated_at: row.timestamp(6)?,
        },
        password_hash: row.opt_text(7)?,
    })
}

fn email_key(email: &str) -> String {
    rampart_core::names::normalize_email(email)
}

pub async fn insert_user(tx: &mut Tx, new: NewUser) -> Result<User, StoreError> {
    let now = crate::now();
    let user = User {
        id: UserId::generate(),
        email: new.email.trim().to_owned(),
        display_name: new.display_name,
        role: new.role,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    let mut q = tx.sql();
    q.push(
        "INSERT INTO users (id, email, email_key, display_name, password_hash, role, disabled, \
         created_at, updated_at) VALUES (",
    )
    .param_list([
        Param::Uuid(user.id.0),
        Param::Text(user.email.clone()),
        Param::Text(email_key(&user.email)),
        Param::Text(user.display_name.clone()),
        new.password_hash
            .map_or(Param::Null(ParamType::Text), Param::Text),
        Param::Text(user.role.as_str().to_owned()),
        Param::Bool(false),
        Param::Timestamp(now),
        Param::Timestamp(now),
    ])
    .push(")");
    match tx.execute(q).await {
        Ok(_) => {
            crate::audit::note(
                tx,
                crate::audit::Action::UserCreate,
                Some(user.id.0),
                Some(serde_json::json!({"email": user.email, "role": user.role.as_str()})),
            )
            .await?;
            Ok(user)
        }
        Err(e) if crate::db::unique_violation(&e).is_some() => {
            Err(StoreError::NameTaken { what: "email" })
        }
        Err(e) => Err(e),
    }
}

/// Moves a user to a new email address (already proved by the caller).
pub async fn set_email(tx: &mut Tx, id: UserId, email: &str) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::UserEmailChange,
        Some(id.0),
        Some(serde_json::json!({"email": email})),
    )
    .await?;
    let mut q = tx.sql();
    q.push("UPDATE users SET email = ")
        .param(Param::Text(email.trim().to_owned()))
        .push(", email_key = ")
        .param(Param::Text(email_key(email)))
        .push(", updated_at = ")
        .param(Param::Timestamp(crate::now()))
        .push(" WHERE id = ")
        .param(Param::Uuid(id.0));
    match tx.execute(q).await {
        Ok(0) => Err(StoreError::NotFound),
        Ok(_) => Ok(()),
        Err(e) if crate::db::unique_violation(&e).is_some() => {
            Err(StoreError::NameTaken { what: "email" })
        }
        Err(e) => Err(e),
    }
}

pub async fn user_by_email(
    tx: &mut Tx,
    email: &str,
) -> Result<Option<UserCredentials>, StoreError> {
    let mut q = tx.sql();
    q.push(USER_COLUMNS)
        .push(" WHERE email_key = ")
        .param(Param::Text(email_key(email)));
    tx.fetch_optional(q)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()
}

/// A user with the stored password hash, by id.
pub async fn credentials_by_id(
    tx: &mut Tx,
    id: UserId,
) -> Result<Option<UserCredentials>, StoreError> {
    let mut q = tx.sql();
    q.push(USER_COLUMNS)
        .push(" WHERE id = ")
        .param(Param::Uuid(id.0));
    tx.fetch_optional(q)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()
}

pub async fn user_by_id(tx: &mut Tx, id: UserId) -> Result<Option<User>, StoreError> {
    let mut q = tx.sql();
    q.push(USER_COLUMNS)
        .push(" WHERE id = ")
        .param(Param::Uuid(id.0));
    Ok(tx
        .fetch_optional(q)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()?
        .map(|c| c.user))
}

pub async fn list_users(tx: &mut Tx) -> Result<Vec<User>, StoreError> {
    let mut q = tx.sql();
    q.push(USER_COLUMNS).push(" ORDER BY email_key");
    tx.fetch_all(q)
        .await?
        .iter()
        .map(|r| user_from_row(r).map(|c| c.user))
        .collect()
}

pub async fn count_users(tx: &mut Tx) -> Result<i64, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT COUNT(*) FROM users");
    tx.fetch_one(q).await?.i64(0)
}

/// Counts enabled owners: the last one may not be demoted, disabled or deleted.
pub async fn count_active_owners(tx: &mut Tx) -> Result<i64, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT COUNT(*) FROM users WHERE role = 'owner' AND disabled = ")
        .param(Param::Bool(false));
    tx.fetch_one(q).await?.i64(0)
}

/// Changes a user's role and/or disabled flag.
pub async fn update_user(
    tx: &mut Tx,
    id: UserId,
    role: Option<GlobalRole>,
    disabled: Option<bool>,
    display_name: Option<String>,
) -> Result<User, StoreError> {
    crate::audit::note(tx, crate::audit::Action::UserUpdate, Some(id.0), Some(serde_json::json!({"role": role.map(|r| r.as_str()), "disabled": disabled, "display_name": display_name}))).await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("UPDATE users SET updated_at = ")
        .param(Param::Timestamp(crate::now()));
    if let Some(role) = role {
        q.push(", role = ")
            .param(Param::Text(role.as_str().to_owned()));
    }
    if let Some(disabled) = disabled {
        q.push(", disabled = ").param(Param::Bool(disabled));
    }
    if let Some(name) = display_name {
        q.push(", display_name = ").param(Param::Text(name));
    }
    q.push(" WHERE id = ").param(Param::Uuid(id.0));
    if tx.execute(q).await? == 0 {
        return Err(StoreError::NotFound);
    }
    if disabled == Some(true) {
        // A disabled user's sessions and tokens die at once, and stay dead if re-enabled.
        delete_sessions_of(tx, id).await?;
        crate::tokens::delete_all_of(tx, id).await?;
    }
    user_by_id(tx, id).await?.ok_or(StoreError::NotFound)
}

// ---- sessions -------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When the user last proved who they are in this session (login or re-authentication).
    pub authenticated_at: DateTime<Utc>,
}

pub async fn insert_session(
    tx: &mut Tx,
    id_hash: [u8; 32],
    user: UserId,
    expires_at: DateTime<Utc>,
    ip: Option<String>,
    user_agent: Option<String>,
) -> Result<Uuid, StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::AuthSessionStart,
        Some(user.0),
        Some(serde_json::json!({"user_agent": user_agent})),
    )
    .await?;
    let now = crate::now();
    let public_id = Uuid::now_v7();
    let mut q = tx.sql();
    q.push(
        "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, ip, user_agent, public_id, authenticated_at) VALUES (",
    )
    .param_list([
        Param::Bytes(id_hash.to_vec()),
        Param::Uuid(user.0),
        Param::Timestamp(now),
        Param::Timestamp(now),
        Param::Timestamp(expires_at),
        ip.map_or(Param::Null(ParamType::Text), Param::Text),
        user_agent.map_or(Param::Null(ParamType::Text), Param::Text),
        Param::Uuid(public_id),
        Param::Timestamp(now),
    ])
    .push(")");
    tx.execute(q).await?;
    let mut q = tx.sql();
    q.push("UPDATE users SET last_login_at = ")
        .param(Param::Timestamp(now))
        .push(" WHERE id = ")
        .param(Param::Uuid(user.0));
    tx.execute(q).await?;
    Ok(public_id)
}

/// A session as its owner sees it in their list.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub public_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub id_hash: Vec<u8>,
}

pub async fn list_sessions(tx: &mut Tx, user: UserId) -> Result<Vec<SessionInfo>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT public_id, created_at, last_seen_at, expires_at, ip, user_agent, id_hash FROM sessions WHERE public_id IS NOT NULL AND user_id = ")
        .param(Param::Uuid(user.0))
        .push(" ORDER BY created_at DESC");
    tx.fetch_all(q)
        .await?
        .iter()
        .map(|r| {
            Ok(SessionInfo {
                public_id: r.uuid(0)?,
                created_at: r.timestamp(1)?,
                last_seen_at: r.timestamp(2)?,
                expires_at: r.timestamp(3)?,
                ip: r.opt_text(4)?,
                user_agent: r.opt_text(5)?,
                id_hash: r.bytes(6)?,
            })
        })
        .collect()
}

/// Deletes one of a user's sessions by its public id.
pub async fn delete_session_by_public_id(
    tx: &mut Tx,
    user: UserId,
    id: Uuid,
) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::AuthSessionRevoke,
        Some(user.0),
        Some(serde_json::json!({"session": id})),
    )
    .await?;
    let mut q = tx.sql();
    q.push("DELETE FROM sessions WHERE public_id = ")
        .param(Param::Uuid(id))
        .push(" AND user_id = ")
        .param(Param::Uuid(user.0));
    match tx.execute(q).await? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

/// Deletes every session of a user except `keep`.
pub async fn delete_other_sessions(
    tx: &mut Tx,
    user: UserId,
    keep: [u8; 32],
) -> Result<u64, StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::AuthSessionsRevokeOthers,
        Some(user.0),
        None,
    )
    .await?;
    let mut q = tx.sql();
    q.push("DELETE FROM sessions WHERE user_id = ")
        .param(Param::Uuid(user.0))
        .push(" AND id_hash <> ")
        .param(Param::Bytes(keep.to_vec()));
    tx.execute(q).await
}

/// Marks a session as freshly authenticated (for sensitive actions).
pub async fn reauthenticate_session(tx: &mut Tx, id_hash: [u8; 32]) -> Result<(), StoreError> {
    crate::audit::note(tx, crate::audit::Action::AuthReauthenticate, None, None).await?;
    let mut q = tx.sql();
    q.push("UPDATE sessions SET authenticated_at = ")
        .param(Param::Timestamp(crate::now()))
        .push(" WHERE id_hash = ")
        .param(Param::Bytes(id_hash.to_vec()));
    tx.execute(q).await?;
    Ok(())
}

/// Replaces a user's password hash.
pub async fn set_password_hash(tx: &mut Tx, user: UserId, hash: String) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::AuthPasswordSet,
        Some(user.0),
        None,
    )
    .await?;
    let mut q = tx.sql();
    q.push("UPDATE users SET password_hash = ")
        .param(Param::Text(hash))
        .push(", updated_at = ")
        .param(Param::Timestamp(crate::now()))
        .push(" WHERE id = ")
        .param(Param::Uuid(user.0));
    match tx.execute(q).await? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

pub async fn session_by_hash(
    tx: &mut Tx,
    id_hash: [u8; 32],
) -> Result<Option<Session>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT user_id, created_at, last_seen_at, expires_at, authenticated_at FROM sessions WHERE id_hash = ")
        .param(Param::Bytes(id_hash.to_vec()));
    let Some(row) = tx.fetch_optional(q).await? else {
        return Ok(None);
    };
    Ok(Some(Session {
        user_id: UserId(row.uuid(0)?),
        created_at: row.timestamp(1)?,
        last_seen_at: row.timestamp(2)?,
        expires_at: row.timestamp(3)?,
        authenticated_at: row.opt_timestamp(4)?.unwrap_or(row.timestamp(1)?),
    }))
}

pub async fn touch_session(tx: &mut Tx, id_hash: [u8; 32]) -> Result<(), StoreError> {
    let mut q = tx.sql();
    q.push("UPDATE sessions SET last_seen_at = ")
        .param(Param::Timestamp(crate::now()))
        .push(" WHERE id_hash = ")
        .param(Param::Bytes(id_hash.to_vec()));
    tx.execute(q).await?;
    Ok(())
}

pub async fn delete_session(tx: &mut Tx, id_hash: [u8; 32]) -> Result<(), StoreError> {
    crate::audit::note(tx, crate::audit::Action::AuthSessionEnd, None, None).await?;
    let mut q = tx.sql();
    q.push("DELETE FROM sessions WHERE id_hash = ")
        .param(Param::Bytes(id_hash.to_vec()));
    tx.execute(q).await?;
    Ok(())
}

pub async fn delete_sessions_of(tx: &mut Tx, user: UserId) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::AuthSessionsRevokeAll,
        Some(user.0),
        None,
    )
    .await?;
    let mut q = tx.sql();
    q.push("DELETE FROM sessions WHERE user_id = ")
        .param(Param::Uuid(user.0));
    tx.execute(q).await?;
    Ok(())
}

// ---- setup tokens ---------------------------------------------------------------------------

/// Replaces any earlier setup token with a new one.
pub async fn replace_setup_token(
    tx: &mut Tx,
    token_hash: [u8; 32],
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut q = tx.sql();
    q.push("DELETE FROM setup_tokens");
    tx.execute(q).await?;
    let mut q = tx.sql();
    q.push("INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES (")
        .param_list([
            Param::Bytes(token_hash.to_vec()),
            Param::Timestamp(crate::now()),
            Param::Timestamp(expires_at),
        ])
        .push(")");
    tx.execute(q).await?;
    Ok(())
}

/// Consumes a valid setup token: true if it existed and had not expired. Single use.
pub async fn consume_setup_token(tx: &mut Tx, token_hash: [u8; 32]) -> Result<bool, StoreError> {
    let mut q = tx.sql();
    q.push("DELETE FROM setup_tokens WHERE token_hash = ")
        .param(Param::Bytes(token_hash.to_vec()))
        .push(" AND expires_at > ")
        .param(Param::Timestamp(crate::now()));
    let used = tx.execute(q).await? == 1;
    crate::audit::note(
        tx,
        crate::audit::Action::TenantSetupTokenUsed,
        None,
        Some(serde_json::json!({"accepted": used})),
    )
    .await?;
    Ok(used)
}

// ---- user attributes ------------------------------------------------------------------------

/// A custom attribute users of this tenant may carry; values are strings (`multiple`: lists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDef {
    pub name: String,
    pub multiple: bool,
}

pub async fn attribute_defs(tx: &mut Tx) -> Result<Vec<AttributeDef>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT name, multiple FROM user_attributes ORDER BY name");
    tx.fetch_all(q)
        .await?
        .iter()
        .map(|r| {
            Ok(AttributeDef {
                name: r.text(0)?,
                multiple: r.bool(1)?,
            })
        })
        .collect()
}

/// Replaces the tenant's attribute definitions.
pub async fn set_attribute_defs(tx: &mut Tx, defs: &[AttributeDef]) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::UserAttributeDefine,
        None,
        Some(serde_json::json!({"names": defs.iter().map(|d| d.name.clone()).collect::<Vec<_>>()})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("DELETE FROM user_attributes");
    tx.execute(q).await?;
    for d in defs {
        let mut q = tx.sql();
        q.push("INSERT INTO user_attributes (name, multiple, created_at) VALUES (")
            .param_list([
                Param::Text(d.name.clone()),
                Param::Bool(d.multiple),
                Param::Timestamp(crate::now()),
            ])
            .push(")");
        tx.execute(q).await?;
    }
    Ok(())
}

/// A user's attribute values, as a JSON object (`{}` when none are set).
pub async fn user_attributes(
    tx: &mut Tx,
    user: UserId,
) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT attributes FROM users WHERE id = ")
        .param(Param::Uuid(user.0));
    let row = tx.fetch_optional(q).await?.ok_or(StoreError::NotFound)?;
    Ok(match row.opt_json(0)? {
        Some(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    })
}

pub async fn set_user_attributes(
    tx: &mut Tx,
    user: UserId,
    attributes: serde_json::Map<String, serde_json::Value>,
) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::UserAttributes,
        Some(user.0),
        Some(serde_json::Value::Object(attributes.clone())),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("UPDATE users SET attributes = ")
        .param(Param::Json(serde_json::Value::Object(attributes)))
        .push(", updated_at = ")
        .param(Param::Timestamp(crate::now()))
        .push(" WHERE id = ")
        .param(Param::Uuid(user.0));
    match tx.execute(q).await? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}
