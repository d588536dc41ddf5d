//! Bounded password hashing: argon2id costs 19 MiB and tens of milliseconds, so a flood of
//! logins must queue rather than exhaust memory or starve the async workers.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

#[derive(Debug, Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified against when the account does not exist so
    /// that unknown and known emails cost the same time.
    dummy: Arc<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing is unavailable")]
pub struct HashUnavailable;

impl PasswordHasher {
    /// `concurrency` hashes run at once at most.
    pub fn new(concurrency: usize) -> Result<Self, HashUnavailable> {
        let random = hex_of(&rampart_crypto::random_bytes::<16>());
        let dummy = rampart_crypto::hash_password(&random).map_err(|_| HashUnavailable)?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::new(dummy),
        })
    }

    pub async fn hash(&self, password: &SecretString) -> Result<String, HashUnavailable> {
        let _permit = self.permits.acquire().await.map_err(|_| HashUnavailable)?;
        let password = password.clone();
        tokio::task::spawn_blocking(move || rampart_crypto::hash_password(password.expose_secret()))
            .await
            .map_err(|_| HashUnavailable)?
            .map_err(|_| HashUnavailable)
    }

    /// Verifies against `phc`, or against the dummy hash when `phc` is `None`
    /// (then the answer is always false, after the same work).
    pub async fn verify(
        &self,
        password: &SecretString,
        phc: Option<&str>,
    ) -> Result<bool, HashUnavailable> {
        let _permit = self.permits.acquire().await.map_err(|_| HashUnavailable)?;
        let password = password.clone();
        let (phc, real) = match phc {
            Some(p) => (p.to_owned(), true),
            None => ((*self.dummy).clone(), false),
        };
        let ok = tokio::task::spawn_blocking(move || {
            rampart_crypto::verify_password(password.expose_secret(), &phc)
        })
        .await
        .map_err(|_| HashUnavailable)?;
        Ok(ok && real)
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
