//! Deleting a user without orphaning anything: every record they own, and every user field
//! that names them, passes to a chosen successor in the same transaction as the deletion.
//! Sessions, tokens, factors, memberships and assignments go with the user (cascades);
//! `created_by` keeps naming them, as history.

use rampart_core::UserId;
use rampart_core::field::FieldType;
use rampart_sql::Param;

use crate::db::Tx;
use crate::error::StoreError;
use crate::schema::{self, ident};

/// What moved to the successor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reassigned {
    /// Records whose owner changed.
    pub records: u64,
    /// User-field values that named the deleted user.
    pub user_fields: u64,
}

/// Moves everything `user` owns to `successor` and deletes `user`.
pub async fn delete_user(
    tx: &mut Tx,
    user: UserId,
    successor: UserId,
) -> Result<Reassigned, StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::UserDelete,
        Some(user.0),
        Some(serde_json::json!({"successor": successor})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut moved = Reassigned::default();
    let mut q = tx.sql();
    q.push("SELECT id FROM projects");
    let projects: Vec<_> = tx
        .fetch_all(q)
        .await?
        .iter()
        .map(|r| r.uuid(0).map(rampart_core::ProjectId))
        .collect::<Result<_, _>>()?;
    for project in projects {
        for table in schema::list_tables(tx, project).await? {
            let t = ident(&table.storage)?;
            let mut q = tx.sql();
            q.push("UPDATE ")
                .ident(&t)
                .push(" SET owner = ")
                .param(Param::Uuid(successor.0))
                .push(", version = version + 1, updated_at = ")
                .param(Param::Timestamp(crate::now()))
                .push(" WHERE owner = ")
                .param(Param::Uuid(user.0));
            moved.records += tx.execute(q).await?;
            for field in table
                .fields
                .iter()
                .filter(|f| matches!(f.field_type, FieldType::User))
            {
                let c = ident(&field.column)?;
                let mut q = tx.sql();
                q.push("UPDATE ")
                    .ident(&t)
                    .push(" SET ")
                    .ident(&c)
                    .push(" = ")
                    .param(Param::Uuid(successor.0))
                    .push(", version = version + 1, updated_at = ")
                    .param(Param::Timestamp(crate::now()))
                    .push(" WHERE ")
                    .ident(&c)
                    .push(" = ")
                    .param(Param::Uuid(user.0));
                moved.user_fields += match tx.execute(q).await {
                    Ok(n) => n,
                    // A unique user field already holding the successor cannot take them twice.
                    Err(e) if crate::db::unique_violation(&e).is_some() => {
                        return Err(StoreError::Duplicate {
                            field: format!("{}.{}", table.name, field.name),
                        });
                    }
                    Err(e) => return Err(e),
                };
            }
        }
    }
    let mut q = tx.sql();
    q.push("DELETE FROM users WHERE id = ")
        .param(Param::Uuid(user.0));
    if tx.execute(q).await? == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(moved)
}
