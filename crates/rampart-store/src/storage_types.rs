//! How each field type is stored: column types per dialect, and values to and from SQL.

use rampart_core::field::FieldType;
use rampart_core::{Decimal, RecordId, UserId, Value};
use rampart_sql::{Dialect, Sql};

use crate::db::DbRow;
use crate::error::StoreError;

/// Appends the column type of a field of type `ty` (not for links, which have a table).
pub fn push_column_type(sql: &mut Sql, ty: &FieldType) {
    let pg = sql.dialect() == Dialect::Postgres;
    let text: &'static str = if pg { "text COLLATE \"C\"" } else { "TEXT" };
    let piece: &'static str = match ty {
        FieldType::Text(_)
        | FieldType::LongText
        | FieldType::Email
        | FieldType::Url
        | FieldType::SingleSelect(_) => text,
        FieldType::Integer(_) | FieldType::Decimal(_) => {
            if pg {
                "bigint"
            } else {
                "INTEGER"
            }
        }
        FieldType::Boolean => {
            if pg {
                "boolean"
            } else {
                "INTEGER"
            }
        }
        FieldType::Date => {
            if pg {
                "date"
            } else {
                "TEXT"
            }
        }
        FieldType::Datetime => {
            if pg {
                "timestamptz"
            } else {
                "INTEGER"
            }
        }
        FieldType::MultiSelect(_) | FieldType::Json => {
            if pg {
                "jsonb"
            } else {
                "TEXT"
            }
        }
        FieldType::User => {
            if pg {
                "uuid"
            } else {
                "TEXT"
            }
        }
        FieldType::Link(_) => "",
    };
    sql.push(piece);
}

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
