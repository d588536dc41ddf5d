//! A record with its system fields and values.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::ser::{Serialize, SerializeMap, Serializer};
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

    /// The API form, written straight to a serializer: system fields at the top, then
    /// `fields` with the user fields for which `visible` answers true, by their current name
    /// in the table's order.
    pub fn api_form<'a, V: Fn(FieldId) -> bool>(
        &'a self,
        table: &'a TableDef,
        visible: V,
    ) -> ApiForm<'a, V> {
        ApiForm {
            record: self,
            table,
            visible,
        }
    }
}

/// A record as the API shows it to one reader (see [`Record::api_form`]). Serializing it
/// builds no intermediate JSON tree: a list page of records is written in one pass.
pub struct ApiForm<'a, V> {
    record: &'a Record,
    table: &'a TableDef,
    visible: V,
}

impl<V: Fn(FieldId) -> bool> Serialize for ApiForm<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.record;
        let mut map = serializer.serialize_map(Some(7))?;
        map.serialize_entry("id", &r.id)?;
        map.serialize_entry("created_at", &format_timestamp(&r.created_at))?;
        map.serialize_entry("updated_at", &format_timestamp(&r.updated_at))?;
        map.serialize_entry("created_by", &r.created_by)?;
        map.serialize_entry("owner", &r.owner)?;
        map.serialize_entry("version", &r.version)?;
        map.serialize_entry("fields", &FieldsForm(self))?;
        map.end()
    }
}

struct FieldsForm<'r, 'a, V>(&'r ApiForm<'a, V>);

impl<V: Fn(FieldId) -> bool> Serialize for FieldsForm<'_, '_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let form = self.0;
        let mut map = serializer.serialize_map(None)?;
        for f in form.table.fields.iter().filter(|f| (form.visible)(f.id)) {
            map.serialize_entry(&f.name, &form.record.value(f.id).json_form(&f.field_type))?;
        }
        map.end()
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
    parse_input_as(table, body, mode, path, &|_| true)
}

/// [`parse_input`] for a caller who knows only the fields `known` admits: any other field is
/// treated exactly as a name the table does not have (same error, same place in the list),
/// and is never reported as required. Whether such a field may stay empty is the caller's
/// decision (see [`hidden_required`]).
pub fn parse_input_as(
    table: &TableDef,
    body: &Map<String, Json>,
    mode: InputMode,
    path: &str,
    known: &dyn Fn(&crate::FieldDef) -> bool,
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
        let Some(field) = table.field_by_name(name).filter(|f| known(f)) else {
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
            if !known(field) {
                if let Some(d) = &field.default {
                    values.insert(field.id, d.clone());
                }
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

/// The first required field without a default that a create by a caller who knows only the
/// fields `known` admits would leave empty: such a caller cannot create records here.
pub fn hidden_required<'t>(
    table: &'t TableDef,
    values: &BTreeMap<FieldId, Value>,
    known: &dyn Fn(&crate::FieldDef) -> bool,
) -> Option<&'t crate::FieldDef> {
    table
        .fields
        .iter()
        .find(|f| f.required && !known(f) && !values.contains_key(&f.id))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;
    use crate::decimal::Decimal;
    use crate::field::{DecimalOptions, FieldType, LinkOptions, SelectOptions, TextOptions};
    use crate::ids::{ProjectId, TableId};
    use crate::schema::FieldDef;

    fn field(n: u128, name: &str, field_type: FieldType) -> FieldDef {
        FieldDef {
            id: FieldId(Uuid::from_u128(n)),
            name: name.to_owned(),
            field_type,
            required: false,
            unique: false,
            indexed: false,
            default: None,
            column: format!("c{n}"),
            encrypted: false,
            blind_index: None,
        }
    }

    fn link(multiple: bool) -> FieldType {
        FieldType::Link(LinkOptions {
            table_id: TableId(Uuid::from_u128(9)),
            multiple,
            on_delete: crate::field::OnDelete::Restrict,
        })
    }

    #[test]
    fn the_api_form_is_written_in_one_pass_with_every_type_and_only_visible_fields() {
        let table = TableDef {
            id: TableId(Uuid::from_u128(1)),
            project_id: ProjectId(Uuid::from_u128(2)),
            name: "t".to_owned(),
            storage: "t".to_owned(),
            schema_version: 1,
            primary_field: None,
            fields: vec![
                field(10, "title", FieldType::Text(TextOptions::default())),
                field(11, "price", FieldType::Decimal(DecimalOptions { scale: 2 })),
                field(
                    12,
                    "tags",
                    FieldType::MultiSelect(SelectOptions { choices: vec![] }),
                ),
                field(13, "parent", link(false)),
                field(14, "children", link(true)),
                field(15, "secret", FieldType::Text(TextOptions::default())),
                field(16, "due", FieldType::Date),
            ],
        };
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let linked = RecordId(Uuid::from_u128(20));
        let values = [
            (10, Value::Text("a \"quoted\" title".to_owned())),
            (
                11,
                Value::Decimal(Decimal {
                    units: 1234,
                    scale: 2,
                }),
            ),
            (13, Value::Links(vec![linked])),
            (15, Value::Text("hidden".to_owned())),
            (16, Value::Date(at.date_naive())),
        ];
        let record = Record {
            id: RecordId(Uuid::from_u128(3)),
            created_at: at,
            updated_at: at,
            created_by: Some(UserId(Uuid::from_u128(4))),
            owner: None,
            version: 7,
            values: values
                .into_iter()
                .map(|(n, v)| (FieldId(Uuid::from_u128(n)), v))
                .collect(),
        };
        let secret = FieldId(Uuid::from_u128(15));
        let text = serde_json::to_string(&record.api_form(&table, |f| f != secret)).unwrap();
        let parsed: Json = serde_json::from_str(&text).unwrap();
        assert!(parsed["fields"].get("secret").is_none());
        assert_eq!(
            text,
            concat!(
                r#"{"id":"00000000-0000-0000-0000-000000000003","#,
                r#""created_at":"2026-01-02T03:04:05.000000Z","#,
                r#""updated_at":"2026-01-02T03:04:05.000000Z","#,
                r#""created_by":"00000000-0000-0000-0000-000000000004","owner":null,"version":7,"#,
                r#""fields":{"title":"a \"quoted\" title","price":"12.34","tags":[],"#,
                r#""parent":"00000000-0000-0000-0000-000000000014","children":[],"#,
                r#""due":"2026-01-02"}}"#
            )
        );
    }
}
