//! How each field type's values are read from SQL (their column types, which differ between
//! the engines, are `db::dialect::column_type`).

use rampart_core::field::FieldType;
use rampart_core::{Decimal, RecordId, UserId, Value};

use crate::db::DbRow;
use crate::error::StoreError;

/// Reads a column of a field of type `ty` at position `i`.
pub fn from_row(ty: &FieldType, row: &DbRow, i: usize) -> Result<Value, StoreError> {
    Ok(match ty {
        FieldType::Text(_)
        | FieldType::LongText
        | FieldType::Email
        | FieldType::Url
        | FieldType::SingleSelect(_) => row.opt_text(i)?.map_or(Value::Null, Value::Text),
        FieldType::Integer(_) => row.opt_i64(i)?.map_or(Value::Null, Value::Integer),
        FieldType::Decimal(o) => row.opt_i64(i)?.map_or(Value::Null, |units| {
            Value::Decimal(Decimal {
                units,
                scale: o.scale,
            })
        }),
        FieldType::Boolean => row.opt_bool(i)?.map_or(Value::Null, Value::Boolean),
        FieldType::Date => row.opt_date(i)?.map_or(Value::Null, Value::Date),
        FieldType::Datetime => row.opt_timestamp(i)?.map_or(Value::Null, Value::Datetime),
        FieldType::MultiSelect(_) => match row.opt_json(i)? {
            None => Value::Null,
            Some(serde_json::Value::Array(items)) => {
                let c: Vec<String> = items
                    .into_iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect();
                if c.is_empty() {
                    Value::Null
                } else {
                    Value::Choices(c)
                }
            }
            Some(_) => return Err(StoreError::internal("stored multi select is not an array")),
        },
        FieldType::Json => row.opt_json(i)?.map_or(Value::Null, Value::Json),
        FieldType::User => row
            .opt_uuid(i)?
            .map_or(Value::Null, |u| Value::User(UserId(u))),
        FieldType::Link(_) => {
            let ids = match row.opt_json(i)? {
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .filter_map(|v| v.as_str().and_then(|s| s.parse::<RecordId>().ok()))
                    .collect(),
                _ => Vec::new(),
            };
            Value::Links(ids)
        }
    })
}
