//! Tables and fields: metadata rows plus the physical tables and columns behind them.

use rampart_core::ProjectId;
use rampart_sql::Param;

use crate::db::Tx;
use crate::error::StoreError;

/// Drops every table of a project (used when the project is deleted).
pub async fn drop_project_tables(tx: &mut Tx, project: ProjectId) -> Result<(), StoreError> {
    let mut q = tx.sql();
    q.push("SELECT COUNT(*) FROM data_tables WHERE project_id = ")
        .param(Param::Uuid(project.0));
    let n = tx.fetch_one(q).await?.i64(0)?;
    if n > 0 {
        return Err(StoreError::internal("tables are not supported yet"));
    }
    Ok(())
}
