//! Failed-attempt counters (logins, second factors, re-authentication), kept in the tenant's
//! database so every node sees the same ones.

use chrono::{DateTime, Duration, Utc};
use rampart_sql::Param;

use crate::db::Tx;
use crate::error::StoreError;

/// Failures allowed before back-off starts.
pub const FREE_FAILURES: i64 = 5;
/// First back-off; each further failure doubles it.
pub const FIRST_BACKOFF_SECS: i64 = 2;
/// Longest back-off.
pub const MAX_BACKOFF_SECS: i64 = 15 * 60;
/// A key left alone this long starts again from zero, and is eventually deleted.
pub const FORGET_AFTER: Duration = Duration::hours(1);

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

/// The back-off after `failures` failures, if any.
pub fn backoff(failures: i64) -> Option<Duration> {
    if failures < FREE_FAILURES {
        return None;
    }
    let exponent = u32::try_from((failures - FREE_FAILURES).min(20)).unwrap_or(20);
    Some(Duration::seconds(
        FIRST_BACKOFF_SECS
            .saturating_mul(2i64.saturating_pow(exponent))
            .min(MAX_BACKOFF_SECS),
    ))
}

/// Counts a failure; from the [`FREE_FAILURES`]th on, the key is blocked for a back-off that
/// doubles with each failure up to [`MAX_BACKOFF_SECS`]. Returns the new failure count.
pub async fn record_failure(tx: &mut Tx, key: &str) -> Result<i64, StoreError> {
    let now = crate::now();
    let stale = now - FORGET_AFTER;
    let mut q = tx.sql();
    q.push("INSERT INTO login_throttle (key, failures, blocked_until, updated_at) VALUES (")
        .param_list([
            Param::Text(key.to_owned()),
            Param::I64(1),
            Param::Timestamp(now),
            Param::Timestamp(now),
        ])
        .push(") ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN login_throttle.updated_at < ")
        .param(Param::Timestamp(stale))
        .push(" THEN 1 ELSE login_throttle.failures + 1 END, updated_at = excluded.updated_at RETURNING failures");
    let failures = tx.fetch_one(q).await?.i64(0)?;
    let (counter, who) = key.split_once(':').unwrap_or((key, ""));
    crate::audit::note(
        tx,
        crate::audit::Action::AuthFailure,
        who.parse::<uuid::Uuid>().ok(),
        Some(serde_json::json!({"counter": counter, "failures": failures})),
    )
    .await?;
    if let Some(wait) = backoff(failures) {
        let mut q = tx.sql();
        q.push("UPDATE login_throttle SET blocked_until = ")
            .param(Param::Timestamp(now + wait))
            .push(" WHERE key = ")
            .param(Param::Text(key.to_owned()));
        tx.execute(q).await?;
    }
    if failures == 1 {
        // A new key: a good moment to drop forgotten ones, so a flood of invented emails
        // cannot grow the table without bound.
        let mut q = tx.sql();
        q.push("DELETE FROM login_throttle WHERE updated_at < ")
            .param(Param::Timestamp(stale))
            .push(" AND blocked_until < ")
            .param(Param::Timestamp(now));
        tx.execute(q).await?;
    }
    Ok(failures)
}

/// Forgets a key's failures (after a success).
pub async fn clear(tx: &mut Tx, key: &str) -> Result<(), StoreError> {
    let mut q = tx.sql();
    q.push("DELETE FROM login_throttle WHERE key = ")
        .param(Param::Text(key.to_owned()));
    tx.execute(q).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_after_the_free_failures_and_doubles_up_to_the_cap() {
        assert_eq!(backoff(FREE_FAILURES - 1), None);
        assert_eq!(backoff(FREE_FAILURES), Some(Duration::seconds(2)));
        assert_eq!(backoff(FREE_FAILURES + 1), Some(Duration::seconds(4)));
        assert_eq!(backoff(FREE_FAILURES + 3), Some(Duration::seconds(16)));
        assert_eq!(backoff(1000), Some(Duration::seconds(MAX_BACKOFF_SECS)));
    }
}
