//! Opaque list cursors: the position after the last record of a page, authenticated with an
//! HMAC and bound to tenant, table, caller, sort, filter and schema version, so a cursor from
//! another context (or an edited one) is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rampart_core::field::{FieldType, SystemField};
use rampart_core::{Record, RecordId, TableDef, TenantId, UserId, Value};
use rampart_rules::sort::{Sort, SortTarget};
use rampart_store::records::{After, sort_value};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::AppError;

#[derive(Serialize, Deserialize)]
struct Payload {
    /// tenant, table, user, schema version, sort, filter
    b: (String, String, String, i64, String, String),
    /// the last record's sort values
    k: Vec<Json>,
    /// the last record's id
    i: String,
}

/// What a cursor is bound to.
#[derive(Debug)]
pub struct Binding<'a> {
    pub tenant: TenantId,
    pub table: &'a TableDef,
    pub user: UserId,
    pub sort: &'a Sort,
    /// The canonical filter text ("" without a filter).
    pub filter: &'a str,
}

impl Binding<'_> {
    fn tuple(&self) -> (String, String, String, i64, String, String) {
        (
            self.tenant.to_string(),
            self.table.id.to_string(),
            self.user.to_string(),
            self.table.schema_version,
            self.sort.canonical(),
            self.filter.to_owned(),
        )
    }
}

fn system_type(f: SystemField) -> FieldType {
    match f {
        SystemField::CreatedAt | SystemField::UpdatedAt => FieldType::Datetime,
        SystemField::Version => FieldType::Integer(Default::default()),
        SystemField::Id | SystemField::CreatedBy | SystemField::Owner => FieldType::User,
    }
}

fn key_type(target: &SortTarget) -> FieldType {
    match target {
        SortTarget::System(s) => system_type(*s),
        SortTarget::Field(f) => f.field_type.clone(),
    }
}

/// The cursor for the page after `last`.
pub fn encode(key: &[u8], binding: &Binding<'_>, last: &Record) -> String {
    let payload = Payload {
        b: binding.tuple(),
        k: binding
            .sort
            .keys
            .iter()
            .map(|k| sort_value(last, k).to_json(&key_type(&k.target)))
            .collect(),
        i: last.id.to_string(),
    };
    let body = serde_json::to_vec(&payload).unwrap_or_default();
    let tag = rampart_crypto::hmac_sha256(key, &body);
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&body),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

fn invalid() -> AppError {
    AppError::invalid(
        "cursor",
        "invalid_cursor",
        "the cursor is malformed, altered, or belongs to another list",
    )
}

/// Checks a cursor and returns where the next page starts.
pub fn decode(key: &[u8], binding: &Binding<'_>, cursor: &str) -> Result<After, AppError> {
    let (body, tag) = cursor.split_once('.').ok_or_else(invalid)?;
    let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| invalid())?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
    if !rampart_crypto::hmac_sha256_verify(key, &body, &tag) {
        return Err(invalid());
    }
    let payload: Payload = serde_json::from_slice(&body).map_err(|_| invalid())?;
    if payload.b != binding.tuple() || payload.k.len() != binding.sort.keys.len() {
        return Err(invalid());
    }
    let values = binding
        .sort
        .keys
        .iter()
        .zip(&payload.k)
        .map(|(k, j)| Value::from_json(&key_type(&k.target), j, "cursor").map_err(|_| invalid()))
        .collect::<Result<Vec<_>, _>>()?;
    let id = payload.i.parse::<RecordId>().map_err(|_| invalid())?;
    Ok(After { values, id })
}
