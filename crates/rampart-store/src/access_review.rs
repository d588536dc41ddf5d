//! What an access review needs in one read: every user with their role, last sign-in,
//! second factors, live tokens and project roles; and finding accounts left unused.

use chrono::{DateTime, Utc};
use rampart_core::{GlobalRole, ProjectId, UserId};
use rampart_sql::Param;

use crate::db::Tx;
use crate::error::StoreError;

#[derive(Debug, Clone)]
pub struct ProjectMembership {
    pub project_id: ProjectId,
    pub project_name: String,
    pub role: String,
}

#[derive(Debug, Clone)]
pub struct ReviewRow {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub role: GlobalRole,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub totp: bool,
    pub passkeys: i64,
    pub live_tokens: i64,
    pub token_last_used_at: Option<DateTime<Utc>>,
    pub projects: Vec<ProjectMembership>,
}

pub async fn review(tx: &mut Tx) -> Result<Vec<ReviewRow>, StoreError> {
    let now = crate::now();
    let mut q = tx.sql();
    q.push(
        "SELECT u.id, u.email, u.display_name, u.role, u.disabled, u.created_at, u.last_login_at, \
         (SELECT COUNT(*) FROM user_totp t WHERE t.user_id = u.id AND t.enabled = ",
    )
    .param(Param::Bool(true))
    .push(
        "), (SELECT COUNT(*) FROM passkeys p WHERE p.user_id = u.id), \
         (SELECT COUNT(*) FROM api_tokens k WHERE k.user_id = u.id AND k.expires_at > ",
    )
    .param(Param::Timestamp(now))
    .push(
        "), (SELECT MAX(k.last_used_at) FROM api_tokens k WHERE k.user_id = u.id) \
         FROM users u ORDER BY u.email_key",
    );
    let mut rows = Vec::new();
    for r in tx.fetch_all(q).await? {
        rows.push(ReviewRow {
            id: UserId(r.uuid(0)?),
            email: r.text(1)?,
            display_name: r.text(2)?,
            role: GlobalRole::parse(&r.text(3)?)
                .ok_or_else(|| StoreError::internal("unknown role"))?,
            disabled: r.bool(4)?,
            created_at: r.timestamp(5)?,
            last_login_at: r.opt_timestamp(6)?,
            totp: r.i64(7)? > 0,
            passkeys: r.i64(8)?,
            live_tokens: r.i64(9)?,
            token_last_used_at: r.opt_timestamp(10)?,
            projects: Vec::new(),
        });
    }
    let mut q = tx.sql();
    q.push(
        "SELECT m.user_id, m.project_id, p.name, m.role FROM project_members m \
         JOIN projects p ON p.id = m.project_id ORDER BY p.name_key",
    );
    let mut by_user = std::collections::HashMap::<UserId, Vec<ProjectMembership>>::new();
    for r in tx.fetch_all(q).await? {
        by_user
            .entry(UserId(r.uuid(0)?))
            .or_default()
            .push(ProjectMembership {
                project_id: ProjectId(r.uuid(1)?),
                project_name: r.text(2)?,
                role: r.text(3)?,
            });
    }
    for row in &mut rows {
        row.projects = by_user.remove(&row.id).unwrap_or_default();
    }
    Ok(rows)
}

/// Enabled users other than owners with no sign-in, session activity or token use since
/// `cutoff` (a user never signed in counts from their creation).
pub async fn inactive_since(tx: &mut Tx, cutoff: DateTime<Utc>) -> Result<Vec<UserId>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT u.id FROM users u WHERE u.disabled = ")
        .param(Param::Bool(false))
        .push(" AND u.role <> 'owner' AND COALESCE(u.last_login_at, u.created_at) < ")
        .param(Param::Timestamp(cutoff))
        .push(" AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id AND s.last_seen_at >= ")
        .param(Param::Timestamp(cutoff))
        .push(") AND NOT EXISTS (SELECT 1 FROM api_tokens k WHERE k.user_id = u.id AND k.last_used_at >= ")
        .param(Param::Timestamp(cutoff))
        .push(")");
    tx.fetch_all(q)
        .await?
        .iter()
        .map(|r| Ok(UserId(r.uuid(0)?)))
        .collect()
}
