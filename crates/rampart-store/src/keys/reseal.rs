//! The loop every re-seal after a key rotation shares: values are read once, and each one not
//! sealed with the current key is written back in a transaction of its own, only if unchanged
//! since it was read. A crash loses at most the value in flight; running again finishes what
//! is left, and a value changed meanwhile (already sealed with the current key) is left alone.

use rampart_crypto::keyring::sealed_version;

use crate::db::TxFn;
use crate::error::StoreError;
use crate::tenants::TenantStore;

/// Runs `replace(place, sealed)` for each value of `all` not sealed with version `current`;
/// `replace` makes the write that swaps the value if it still is `sealed`, answering whether it
/// did. Returns how many were replaced.
pub(crate) async fn stale<P, F, W>(
    ts: &TenantStore,
    current: u32,
    all: Vec<(P, Vec<u8>)>,
    replace: F,
) -> Result<usize, StoreError>
where
    F: Fn(P, Vec<u8>) -> W,
    W: TxFn<bool>,
{
    let mut done = 0;
    for (place, sealed) in all {
        if sealed_version(&sealed) == Some(current) {
            continue;
        }
        done += usize::from(ts.write_unaudited(replace(place, sealed)).await?);
    }
    Ok(done)
}
