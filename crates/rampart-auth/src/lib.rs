//! Who is calling, and what may they do.
//!
//! * [`hasher::PasswordHasher`] runs argon2id on blocking threads behind a semaphore.
//! * [`authn`] turns credentials (password, session cookie, API token, setup token) into a
//!   [`Principal`]: the only way a request becomes authenticated.
//! * [`authz`] is the single authorization path: every project, table and record operation
//!   asks it for a [`authz::Grant`] first. Later issues add permission sets and record rules
//!   here, and nowhere else.

pub mod authn;
pub mod authz;
pub mod hasher;
pub mod policy;
pub mod totp;

pub use authn::{AuthError, Credential, Principal};
pub use authz::{Denied, Grant};
pub use hasher::PasswordHasher;
