//! API tokens: generated here, only their hash stored.

use chrono::{DateTime, Utc};
use rampart_crypto::secret_token::{self, SecretKind};
use rampart_store::identity::{self, ApiToken, User};
use rampart_store::{TenantStore, Tx};
use secrecy::SecretString;

use super::AuthError;

/// Creates an API token for a user; the plaintext is returned once and never stored.
pub async fn create_api_token(
    ts: &TenantStore,
    user: &User,
    name: String,
    expires_at: DateTime<Utc>,
) -> Result<(ApiToken, SecretString), AuthError> {
    let (text, hash) = secret_token::generate(SecretKind::ApiToken);
    let user_id = user.id;
    let token = ts
        .write(move |tx: &mut Tx| {
            Box::pin(identity::insert_token(tx, user_id, name, hash, expires_at))
        })
        .await?;
    tracing::info!(target: "rampart::security", event = "token_created", user = %user_id, token = %token.id);
    Ok((token, text))
}
