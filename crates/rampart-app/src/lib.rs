//! The application layer: Rampart's use cases, below every adapter.
//!
//! A use case is a function of (a store transaction or handle, the principal acting, a typed
//! request) that returns a domain result or an [`AppError`]. It decides who may do what
//! (through `rampart-auth`), turns rules into SQL (through `rampart-rules`), calls the store and
//! records its own audit entries; it knows no HTTP type. The HTTP crate (`rampart-server`) and
//! the binary's CLI are adapters over it: they parse their input, call one use case, and
//! render its answer. Every way in or out of records goes through [`records`].

pub mod audit;
pub mod cursor;
pub mod error;
pub mod groups;
pub mod housekeeping;
pub mod identity_providers;
pub mod input;
pub mod keys;
pub mod people;
pub mod permission_sets;
pub mod projects;
pub mod records;
pub mod schema;
pub mod secrets;
pub mod sessions;
pub mod settings;
pub mod tokens;
pub mod users;

pub use error::AppError;
