//! A record with its system fields and values.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value as Json};

use crate::ids::{FieldId, RecordId, UserId};
use crate::schema::TableDef;
use crate::value::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: RecordId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<UserId>,
    pub owner: Option<UserId>,
    pub version: i64,
    /// Values of user fields; a missing field is null.
    pub values: BTreeMap<FieldId, Value>,
}

/// Formats a timestamp as the API shows it: RFC 3339, UTC, microseconds.
pub fn format_timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl Record {
    pub fn value(&self, field: FieldId) -> &Value {
        self.values.get(&field).unwrap_or(&Value::Null)
    }

    /// The API form: system fields at the top, user fields by their current name in `fields`.
    /// Only fields for which `visible` answers true are included.
    pub fn to_json(&self, table: &TableDef, visible: impl Fn(FieldId) -> bool) -> Json {
        let mut fields = Map::new();
        for f in table.fields.iter().filter(|f| visible(f.id)) {
            fields.insert(f.name.clone(), self.value(f.id).to_json(&f.field_type));
        }
        let user = |u: &Option<UserId>| u.map_or(Json::Null, |u| Json::String(u.to_string()));
        serde_json::json!({
            "id": self.id.to_string(),
            "created_at": format_timestamp(&self.created_at),
            "updated_at": format_timestamp(&self.updated_at),
            "created_by": user(&self.created_by),
            "owner": user(&self.owner),
            "version": self.version,
            "fields": fields,
        })
    }
}
