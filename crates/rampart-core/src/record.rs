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

/// Whether record input creates a record or changes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputMode {
    Create,
    Update,
}

/// Validates a record body (`{"field name": value, ...}`) against a table: unknown names,
/// types, ranges, choices and required fields, every problem at once. On create, missing
/// fields take their default. `path` prefixes field names in errors (e.g. `fields`).
pub fn parse_input(
    table: &TableDef,
    body: &Map<String, Json>,
    mode: InputMode,
    path: &str,
) -> Result<BTreeMap<FieldId, Value>, crate::Invalid> {
    use crate::FieldError;
    let mut values = BTreeMap::new();
    let mut errors = Vec::new();
    let at = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    for (name, json) in body {
        let Some(field) = table.field_by_name(name) else {
            let code = if crate::field::SystemField::from_name(name).is_some() {
                "read_only_field"
            } else {
                "unknown_field"
            };
            errors.push(FieldError::new(
                at(name),
                code,
                "the table has no such writable field",
            ));
            continue;
        };
        match Value::from_json(&field.field_type, json, &at(name)) {
            Ok(v) if v.is_null() && field.required => errors.push(FieldError::new(
                at(name),
                "required",
                "this field is required",
            )),
            Ok(v) => {
                values.insert(field.id, v);
            }
            Err(e) => errors.push(e),
        }
    }
    if mode == InputMode::Create {
        for field in &table.fields {
            if values.contains_key(&field.id) || body.contains_key(&field.name) {
                continue;
            }
            match &field.default {
                Some(d) => {
                    values.insert(field.id, d.clone());
                }
                None if field.required => errors.push(FieldError::new(
                    at(&field.name),
                    "required",
                    "this field is required",
                )),
                None => {}
            }
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(crate::Invalid { errors })
    }
}
