//! The instance's key-encryption keys (where they come from) and the tenants' data key
//! rotations (finishing the re-seal), for the server and the operator's commands alike.

pub mod kek_source;
pub mod rotation;

pub use kek_source::KeysConfig;
