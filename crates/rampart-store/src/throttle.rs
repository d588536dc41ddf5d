//! Failed-login counters, kept in the tenant's database so every node sees the same ones.

use chrono::{DateTime, Duration, Utc};
use rampart_sql::Param;

use crate::db::Tx;
use crate::error::StoreError;

/// Failures allowed before back-off starts.
pub const FREE_FAILURES: i64 = 5;
/// Longest back-off.
pub const MAX_BACKOFF_SECS: i64 = 15 * 60;

/// Until when `key` is blocked, if it is.
pub async fn blocked_until(tx: &mut Tx, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT blocked_until FROM login_throttle WHERE key = ")
        .param(Param::Text(key.to_owned()));
    let until = tx
        .fetch_optional(q)
        .await?
        .map(|r| r.timestamp(0))
        .transpose()?;
    Ok(until.filter(|u| *u > crate::now()))
}

/// Counts a failure; after [`FREE_FAILURES`] each one doubles the back-off, up to
/// [`MAX_BACKOFF_SECS`]. Returns the new failure count.
pub async fn record_failure(tx: &mut Tx, key: &str) -> Result<i64, StoreError> {
    let now = crate::now();
    let mut q = tx.sql();
    q.push("INSERT INTO login_throttle (key, failures, blocked_until, updated_at) VALUES (")
        .param_list([
            Param::Text(key.to_owned()),
            Param::I64(1),
            Param::Timestamp(now),
            Param::Timestamp(now),
        ])
        .push(") ON CONFLICT (key) DO UPDATE SET failures = login_throttle.failures + 1, updated_at = excluded.updated_at RETURNING failures");
    let failures = tx.fetch_one(q).await?.i64(0)?;
    if failures >= FREE_FAILURES {
        let exponent = u32::try_from((failures - FREE_FAILURES).min(20)).unwrap_or(20);
        let secs = 2i64.saturating_pow(exponent).min(MAX_BACKOFF_SECS);
        let mut q = tx.sql();
        q.push("UPDATE login_throttle SET blocked_until = ")
            .param(Param::Timestamp(now + Duration::seconds(secs)))
            .push(" WHERE key = ")
            .param(Param::Text(key.to_owned()));
        tx.execute(q).await?;
    }
    Ok(failures)
}

/// Forgets a key's failures (after a successful login).
pub async fn clear(tx: &mut Tx, key: &str) -> Result<(), StoreError> {
    let mut q = tx.sql();
    q.push("DELETE FROM login_throttle WHERE key = ")
        .param(Param::Text(key.to_owned()));
    tx.execute(q).await?;
    Ok(())
}
