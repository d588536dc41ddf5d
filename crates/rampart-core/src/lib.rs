//! Rampart's domain model. This crate does no I/O and knows nothing of HTTP or SQL.

pub mod decimal;
pub mod error;
pub mod field;
pub mod ids;
pub mod names;
pub mod record;
pub mod roles;
pub mod schema;
pub mod value;

pub use decimal::Decimal;
pub use error::{FieldError, Invalid};
pub use field::{FieldKind, FieldType, OnDelete, SystemField};
pub use ids::{FieldId, ProjectId, RecordId, TableId, TenantId, TokenId, UserId};
pub use record::Record;
pub use roles::{GlobalRole, ProjectRole, TableAction};
pub use schema::{FieldDef, TableDef};
pub use value::Value;
