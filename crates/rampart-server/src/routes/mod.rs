//! Route handlers, one module per resource. Handlers are thin: parse, authorize, call the
//! store or the auth crate, map the result.

pub mod access_review;
pub mod account;
pub mod audit;
pub mod edge_settings;
pub mod groups;
pub mod identity;
pub mod identity_providers;
pub mod onboarding;
pub mod passkeys;
pub mod password_reset;
pub mod permission_sets;
pub mod projects;
pub mod records;
pub mod secrets;
pub mod settings;
pub mod tables;
pub mod tokens;
pub mod transfer;
pub mod users;

use rampart_core::FieldError;
use rampart_core::Invalid;

/// Collects validation results so a request reports every bad field at once.
#[derive(Debug, Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    pub fn check(&mut self, result: Result<(), FieldError>) -> &mut Self {
        if let Err(e) = result {
            self.0.push(e);
        }
        self
    }

    pub fn push(&mut self, e: FieldError) -> &mut Self {
        self.0.push(e);
        self
    }

    pub fn finish(self) -> Result<(), Invalid> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Invalid { errors: self.0 })
        }
    }
}
