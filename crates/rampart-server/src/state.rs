//! Application state shared by every handler.

use std::sync::Arc;

use rampart_auth::PasswordHasher;
use rampart_auth::authn::SessionPolicy;
use rampart_store::Store;

use crate::config::Config;

#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub hasher: PasswordHasher,
    /// Key for signing list cursors.
    pub cursor_key: Arc<Vec<u8>>,
}

impl AppState {
    pub fn session_policy(&self) -> SessionPolicy {
        SessionPolicy {
            idle: chrono::Duration::minutes(i64::from(self.config.auth.session_idle_minutes)),
            absolute: chrono::Duration::hours(i64::from(self.config.auth.session_absolute_hours)),
        }
    }
}
