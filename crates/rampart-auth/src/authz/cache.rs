//! Decisions cached per (user, token, table) for one tenant, valid while the tenant's authorization
//! epoch (`rampart_store::epoch`) is unchanged: rules are parsed, type-checked and resolved
//! once per change, not once per request. Reading the epoch is one indexed query, in the
//! transaction that uses the decision, so every node sees a change at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rampart_core::{TableId, TokenId, UserId};
use rampart_store::{StoreError, Tx, epoch};

use super::access::{TableAccess, UserFacts, table_access, user_facts};
use crate::authn::Principal;

/// Entries kept before the cache starts over.
const CAPACITY: usize = 10_000;

#[derive(Debug, Clone)]
struct Entry {
    epoch: i64,
    facts: Arc<UserFacts>,
    access: Option<Arc<TableAccess>>,
}

/// A token's scope never changes after it is issued, so the token id stands for it.
type CacheKey = (UserId, Option<TokenId>, TableId);

/// One tenant's cache.
#[derive(Debug, Default)]
pub struct AccessCache {
    entries: Mutex<HashMap<CacheKey, Entry>>,
}

impl AccessCache {
    /// The caller's facts and access to a table (`None`: no such table), from the cache when
    /// nothing that could change them has changed.
    pub async fn get(
        &self,
        tx: &mut Tx,
        principal: &Principal,
        table: TableId,
    ) -> Result<(Arc<UserFacts>, Option<Arc<TableAccess>>), StoreError> {
        let now = epoch::authz_epoch(tx).await?;
        let key = (principal.user.id, principal.token_id(), table);
        if let Ok(entries) = self.entries.lock()
            && let Some(e) = entries.get(&key)
            && e.epoch == now
            && e.facts.principal.user == principal.user
        {
            return Ok((e.facts.clone(), e.access.clone()));
        }
        let facts = Arc::new(user_facts(tx, principal).await?);
        let access = table_access(tx, &facts, table).await?.map(Arc::new);
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(
                key,
                Entry {
                    epoch: now,
                    facts: facts.clone(),
                    access: access.clone(),
                },
            );
        }
        Ok((facts, access))
    }
}
