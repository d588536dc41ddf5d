//! Values as bound SQL parameters, the same way for filters and for storage.

use rampart_core::Value;
use rampart_core::field::FieldType;
use rampart_sql::{Param, ParamType};

/// The parameter type used for NULLs of a field type.
pub fn param_type(ty: &FieldType) -> ParamType {
    match ty {
        FieldType::Integer(_) | FieldType::Decimal(_) => ParamType::I64,
        FieldType::Boolean => ParamType::Bool,
        FieldType::Date => ParamType::Date,
        FieldType::Datetime => ParamType::Timestamp,
        FieldType::MultiSelect(_) | FieldType::Json => ParamType::Json,
        FieldType::User => ParamType::Uuid,
        _ => ParamType::Text,
    }
}

/// A value of a field of type `ty` as a bound parameter for its column.
pub fn to_param(ty: &FieldType, value: &Value) -> Param {
    match value {
        Value::Null => Param::Null(param_type(ty)),
        other => value_param(other),
    }
}

/// A non-null value as a parameter. Decimals bind their integer units (every column of a
/// decimal field stores units at the field's scale), uuids bind as uuids.
pub fn value_param(value: &Value) -> Param {
    match value {
        Value::Null | Value::Links(_) => Param::Null(ParamType::Text),
        Value::Text(s) => Param::Text(s.clone()),
        Value::Integer(n) => Param::I64(*n),
        Value::Decimal(d) => Param::I64(d.units),
        Value::Boolean(b) => Param::Bool(*b),
        Value::Date(d) => Param::Date(*d),
        Value::Datetime(t) => Param::Timestamp(*t),
        Value::Choices(c) => Param::Json(serde_json::Value::from(c.clone())),
        Value::Json(j) => Param::Json(j.clone()),
        Value::User(u) => Param::Uuid(u.0),
    }
}
