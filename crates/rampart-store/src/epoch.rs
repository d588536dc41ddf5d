//! The authorization epoch of a tenant: a counter bumped, in the same transaction, by every
//! change that can alter an authorization decision. Caches of decisions key on it.

use crate::db::Tx;
use crate::error::StoreError;

pub async fn authz_epoch(tx: &mut Tx) -> Result<i64, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT value FROM counters WHERE name = 'authz'");
    tx.fetch_one(q).await?.i64(0)
}

pub(crate) async fn bump(tx: &mut Tx) -> Result<(), StoreError> {
    let mut q = tx.sql();
    q.push("UPDATE counters SET value = value + 1 WHERE name = 'authz'");
    tx.execute(q).await?;
    Ok(())
}
