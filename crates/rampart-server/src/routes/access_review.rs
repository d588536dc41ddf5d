//! The access review a tenant admin runs: who has which role, when they last signed in,
//! whether they have a second factor, which tokens are live, and their project roles.

use rampart_app::users;
use rampart_core::GlobalRole;
use rampart_core::record::format_timestamp;
use rampart_store::access_review::ReviewRow;
use serde::Serialize;
use utoipa::ToSchema;

use crate::caller::TenantAdmin;
use crate::error::ApiResult;

#[derive(Serialize, ToSchema)]
pub struct ProjectRoleOut {
    project_id: String,
    project_name: String,
    role: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReviewedUserOut {
    id: String,
    email: String,
    display_name: String,
    #[schema(value_type = String, example = "member")]
    role: GlobalRole,
    disabled: bool,
    created_at: String,
    /// Absent: never signed in.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_login_at: Option<String>,
    /// Has TOTP or a passkey.
    second_factor: bool,
    totp: bool,
    passkeys: i64,
    /// API tokens not yet expired.
    live_tokens: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_last_used_at: Option<String>,
    projects: Vec<ProjectRoleOut>,
}

impl From<ReviewRow> for ReviewedUserOut {
    fn from(r: ReviewRow) -> Self {
        Self {
            id: r.id.to_string(),
            email: r.email,
            display_name: r.display_name,
            role: r.role,
            disabled: r.disabled,
            created_at: format_timestamp(&r.created_at),
            last_login_at: r.last_login_at.as_ref().map(format_timestamp),
            second_factor: r.totp || r.passkeys > 0,
            totp: r.totp,
            passkeys: r.passkeys,
            live_tokens: r.live_tokens,
            token_last_used_at: r.token_last_used_at.as_ref().map(format_timestamp),
            projects: r
                .projects
                .into_iter()
                .map(|p| ProjectRoleOut {
                    project_id: p.project_id.to_string(),
                    project_name: p.project_name,
                    role: p.role,
                })
                .collect(),
        }
    }
}

/// Every user of the tenant with their access, for a periodic review (tenant admins).
#[utoipa::path(get, path = "/api/v1/users/access-review", tag = "users",
    responses((status = 200, body = [ReviewedUserOut])), security(("session" = []), ("token" = [])))]
pub async fn review(
    TenantAdmin(caller): TenantAdmin,
) -> ApiResult<axum::Json<Vec<ReviewedUserOut>>> {
    let rows = caller
        .read(|tx, me, _| Box::pin(users::access_review(tx, me)))
        .await?;
    Ok(axum::Json(rows.into_iter().map(Into::into).collect()))
}
