//! API tokens: only their hashes are stored. A token may be scoped to some projects, to
//! reading, and to one permission set; rotation shortens the old token to a grace period.

use chrono::{DateTime, Utc};
use rampart_core::{ProjectId, TokenId, UserId};
use rampart_sql::{Param, ParamType};

use crate::db::{DbRow, Tx};
use crate::error::StoreError;
use crate::permission_sets::SetId;

/// What a token may reach, beyond what its user may.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenScope {
    /// Only these projects; `None` for every project the user reaches.
    pub projects: Option<Vec<ProjectId>>,
    /// Reads only.
    pub read_only: bool,
    /// Acts with this permission set's grants only.
    pub permission_set: Option<SetId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: String,
    pub scope: TokenScope,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    /// When a successor was issued; the token then lives only until its (shortened) expiry.
    pub rotated_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "SELECT id, user_id, name, created_at, expires_at, last_used_at, \
     scope_projects, read_only, permission_set_id, last_used_ip, rotated_at FROM api_tokens";

fn from_row(row: &DbRow) -> Result<ApiToken, StoreError> {
    let projects = row
        .opt_text(6)?
        .map(|text| serde_json::from_str::<Vec<ProjectId>>(&text))
        .transpose()
        .map_err(|e| StoreError::internal(format!("stored token scope: {e}")))?;
    Ok(ApiToken {
        id: TokenId(row.uuid(0)?),
        user_id: UserId(row.uuid(1)?),
        name: row.text(2)?,
        created_at: row.timestamp(3)?,
        expires_at: row.timestamp(4)?,
        last_used_at: row.opt_timestamp(5)?,
        scope: TokenScope {
            projects,
            read_only: row.bool(7)?,
            permission_set: row.opt_uuid(8)?,
        },
        last_used_ip: row.opt_text(9)?,
        rotated_at: row.opt_timestamp(10)?,
    })
}

pub async fn insert(
    tx: &mut Tx,
    user: UserId,
    name: String,
    scope: TokenScope,
    token_hash: [u8; 32],
    expires_at: DateTime<Utc>,
) -> Result<ApiToken, StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::TokenCreate,
        Some(user.0),
        Some(serde_json::json!({"name": name, "expires_at": expires_at})),
    )
    .await?;
    let token = ApiToken {
        id: TokenId::generate(),
        user_id: user,
        name,
        scope,
        created_at: crate::now(),
        expires_at,
        last_used_at: None,
        last_used_ip: None,
        rotated_at: None,
    };
    let projects = token
        .scope
        .projects
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::internal(e.to_string()))?;
    let mut q = tx.sql();
    q.push(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, expires_at, \
         scope_projects, read_only, permission_set_id) VALUES (",
    )
    .param_list([
        Param::Uuid(token.id.0),
        Param::Uuid(user.0),
        Param::Text(token.name.clone()),
        Param::Bytes(token_hash.to_vec()),
        Param::Timestamp(token.created_at),
        Param::Timestamp(expires_at),
        projects.map_or(Param::Null(ParamType::Text), Param::Text),
        Param::Bool(token.scope.read_only),
        token
            .scope
            .permission_set
            .map_or(Param::Null(ParamType::Uuid), Param::Uuid),
    ])
    .push(")");
    tx.execute(q).await?;
    Ok(token)
}

pub async fn by_hash(tx: &mut Tx, token_hash: [u8; 32]) -> Result<Option<ApiToken>, StoreError> {
    let mut q = tx.sql();
    q.push(COLUMNS)
        .push(" WHERE token_hash = ")
        .param(Param::Bytes(token_hash.to_vec()));
    tx.fetch_optional(q)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// One of a user's tokens.
pub async fn get(tx: &mut Tx, user: UserId, id: TokenId) -> Result<Option<ApiToken>, StoreError> {
    let mut q = tx.sql();
    q.push(COLUMNS)
        .push(" WHERE id = ")
        .param(Param::Uuid(id.0))
        .push(" AND user_id = ")
        .param(Param::Uuid(user.0));
    tx.fetch_optional(q)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn list(tx: &mut Tx, user: UserId) -> Result<Vec<ApiToken>, StoreError> {
    let mut q = tx.sql();
    q.push(COLUMNS)
        .push(" WHERE user_id = ")
        .param(Param::Uuid(user.0))
        .push(" ORDER BY created_at, id");
    tx.fetch_all(q).await?.iter().map(from_row).collect()
}

/// Records a use: when and from where.
pub async fn touch(tx: &mut Tx, id: TokenId, ip: Option<String>) -> Result<(), StoreError> {
    let mut q = tx.sql();
    q.push("UPDATE api_tokens SET last_used_at = ")
        .param(Param::Timestamp(crate::now()))
        .push(", last_used_ip = ")
        .param(ip.map_or(Param::Null(ParamType::Text), Param::Text))
        .push(" WHERE id = ")
        .param(Param::Uuid(id.0));
    tx.execute(q).await?;
    Ok(())
}

/// Marks a token as rotated and shortens its life to `until` (if that is sooner). Only a
/// token not rotated before: `false` otherwise.
pub async fn mark_rotated(
    tx: &mut Tx,
    id: TokenId,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut q = tx.sql();
    q.push("UPDATE api_tokens SET rotated_at = ")
        .param(Param::Timestamp(crate::now()))
        .push(", expires_at = CASE WHEN expires_at < ")
        .param(Param::Timestamp(until))
        .push(" THEN expires_at ELSE ")
        .param(Param::Timestamp(until))
        .push(" END WHERE id = ")
        .param(Param::Uuid(id.0))
        .push(" AND rotated_at IS NULL");
    let rotated = tx.execute(q).await? == 1;
    if rotated {
        crate::audit::note(
            tx,
            crate::audit::Action::TokenRotate,
            None,
            Some(serde_json::json!({"token": id, "old_expires_at": until})),
        )
        .await?;
    }
    Ok(rotated)
}

/// Deletes one of a user's tokens; `NotFound` if it is not theirs.
pub async fn delete(tx: &mut Tx, user: UserId, id: TokenId) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::TokenRevoke,
        Some(user.0),
        Some(serde_json::json!({"token": id})),
    )
    .await?;
    let mut q = tx.sql();
    q.push("DELETE FROM api_tokens WHERE id = ")
        .param(Param::Uuid(id.0))
        .push(" AND user_id = ")
        .param(Param::Uuid(user.0));
    match tx.execute(q).await? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

/// Deletes every token of a user (disabling or deleting them).
pub async fn delete_all_of(tx: &mut Tx, user: UserId) -> Result<u64, StoreError> {
    crate::audit::note(tx, crate::audit::Action::TokenRevokeAll, Some(user.0), None).await?;
    let mut q = tx.sql();
    q.push("DELETE FROM api_tokens WHERE user_id = ")
        .param(Param::Uuid(user.0));
    tx.execute(q).await
}
