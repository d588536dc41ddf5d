//! Values of fields: validation from JSON, the JSON form, and conversion between types.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde_json::Value as Json;

use crate::decimal::{Decimal, DecimalError};
use crate::error::FieldError;
use crate::field::{FieldType, LONG_TEXT_LIMIT, TEXT_DEFAULT_MAX};
use crate::ids::{RecordId, UserId};
use crate::names::validate_email;

/// Largest JSON value a `json` field holds, in bytes of its compact text.
pub const JSON_LIMIT_BYTES: usize = 100_000;
/// Largest number of links in one multiple link field of one record.
pub const MAX_LINKS: usize = 1_000;
/// Longest URL, in bytes.
pub const URL_LIMIT: usize = 2_048;

/// A field's value. Text-like types (text, long text, single select, email, url) share `Text`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    Integer(i64),
    Decimal(Decimal),
    Boolean(bool),
    Date(NaiveDate),
    Datetime(DateTime<Utc>),
    /// The chosen options of a multi select, in the order given, without duplicates.
    Choices(Vec<String>),
    Json(Json),
    /// Linked record ids: at most one for a single link field.
    Links(Vec<RecordId>),
    User(UserId),
}

fn err(field: &str, code: &'static str, message: impl Into<String>) -> FieldError {
    FieldError::new(field, code, message)
}

fn type_error(field: &str, expected: &str) -> FieldError {
    err(field, "invalid_type", format!("expected {expected}"))
}

/// Parses an RFC 3339 date-time with an offset, keeping microsecond precision exactly.
/// Only the strict form is taken: `T` between date and time, `Z` or a numeric offset, at
/// most six fraction digits (chrono alone would also take a space, lower case and nanoseconds).
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    let fraction_digits = match bytes.get(19) {
        Some(b'.') => bytes[20..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count(),
        _ => 0,
    };
    if bytes.get(10) != Some(&b'T') || text.ends_with('z') || fraction_digits > 6 {
        return None;
    }
    let t = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
    Some(t)
}

/// The integer a float stands for, when it has no fraction and lies in the `i64` range
/// (every such float is an integer exactly).
pub fn integral(f: f64) -> Option<i64> {
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    (f.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&f)).then_some(f as i64)
}

/// Exactly `YYYY-MM-DD` (chrono alone would take `2024-1-1` or `+2024-01-01`).
fn is_iso_date_shape(s: &str) -> bool {
    s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
}

fn check_text(field: &str, s: &str, max_chars: u32, single_line: bool) -> Result<(), FieldError> {
    if s.contains('\0') {
        return Err(err(field, "invalid_characters", "must not contain NUL"));
    }
    if single_line && (s.contains('\n') || s.contains('\r')) {
        return Err(err(field, "invalid_characters", "must be a single line"));
    }
    if s.chars().count() > max_chars as usize {
        return Err(err(
            field,
            "too_long",
            format!("must be at most {max_chars} characters"),
        ));
    }
    Ok(())
}

fn parse_url(field: &str, s: &str) -> Result<(), FieldError> {
    let bad = || {
        err(
            field,
            "invalid_url",
            "must be an absolute http or https URL",
        )
    };
    if s.len() > URL_LIMIT {
        return Err(err(
            field,
            "too_long",
            format!("must be at most {URL_LIMIT} bytes"),
        ));
    }
    let u = url::Url::parse(s).map_err(|_| bad())?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return Err(bad());
    }
    Ok(())
}

fn decimal_error(field: &str, e: DecimalError, scale: u8) -> FieldError {
    match e {
        DecimalError::Syntax => type_error(field, "a decimal number"),
        DecimalError::TooManyFractionDigits => err(
            field,
            "too_precise",
            format!("must have at most {scale} digits after the point"),
        ),
        DecimalError::OutOfRange => err(field, "out_of_range", "is too large"),
    }
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null) || matches!(self, Self::Links(l) if l.is_empty())
    }

    /// Validates a JSON value from a client for a field of type `ty`; `field` names it in errors.
    pub fn from_json(ty: &FieldType, json: &Json, field: &str) -> Result<Value, FieldError> {
        if json.is_null() {
            return Ok(match ty {
                FieldType::Link(_) => Value::Links(Vec::new()),
                _ => Value::Null,
            });
        }
        match ty {
            FieldType::Text(o) => {
                let s = json.as_str().ok_or_else(|| type_error(field, "a string"))?;
                check_text(field, s, o.max_length.unwrap_or(TEXT_DEFAULT_MAX), true)?;
                Ok(Value::Text(s.to_owned()))
            }
            FieldType::LongText => {
                let s = json.as_str().ok_or_else(|| type_error(field, "a string"))?;
                check_text(field, s, LONG_TEXT_LIMIT, false)?;
                Ok(Value::Text(s.to_owned()))
            }
            FieldType::Integer(o) => {
                let n = match json {
                    Json::Number(n) if n.is_i64() => n.as_i64(),
                    Json::Number(n) if n.is_u64() => {
                        return Err(err(field, "out_of_range", "is too large"));
                    }
                    // JSON has one number type: `5.0` is the integer 5 (as JSON Schema says).
                    Json::Number(n) => n.as_f64().and_then(integral),
                    _ => None,
                }
                .ok_or_else(|| type_error(field, "an integer"))?;
                if o.min.is_some_and(|min| n < min) || o.max.is_some_and(|max| n > max) {
                    return Err(err(
                        field,
                        "out_of_range",
                        format!(
                            "must be between {} and {}",
                            o.min.map_or("-∞".into(), |v| v.to_string()),
                            o.max.map_or("∞".into(), |v| v.to_string())
                        ),
                    ));
                }
                Ok(Value::Integer(n))
            }
            FieldType::Decimal(o) => {
                let text = match json {
                    Json::String(s) => s.clone(),
                    // serde_json writes large or small floats with an exponent (`1e16`);
                    // Rust's float formatting never does, and is the shortest exact form.
                    Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                        (Some(i), _, _) => i.to_string(),
                        (None, Some(u), _) => u.to_string(),
                        (None, None, Some(f)) => f.to_string(),
                        _ => n.to_string(),
                    },
                    _ => return Err(type_error(field, "a decimal number or a string")),
                };
                Decimal::parse(&text, o.scale)
                    .map(Value::Decimal)
                    .map_err(|e| decimal_error(field, e, o.scale))
            }
            FieldType::Boolean => json
                .as_bool()
                .map(Value::Boolean)
                .ok_or_else(|| type_error(field, "true or false")),
            FieldType::Date => json
                .as_str()
                .filter(|s| is_iso_date_shape(s))
                .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .map(Value::Date)
                .ok_or_else(|| type_error(field, "a date as YYYY-MM-DD")),
            FieldType::Datetime => json
                .as_str()
                .and_then(parse_datetime)
                .map(Value::Datetime)
                .ok_or_else(|| {
                    type_error(
                        field,
                        "an RFC 3339 date-time with offset, at most microseconds",
                    )
                }),
            FieldType::SingleSelect(o) => {
                let s = json.as_str().ok_or_else(|| type_error(field, "a string"))?;
                if !o.choices.iter().any(|c| c == s) {
                    return Err(err(
                        field,
                        "invalid_choice",
                        "is not one of the field's choices",
                    ));
                }
                Ok(Value::Text(s.to_owned()))
            }
            FieldType::MultiSelect(o) => {
                let items = json
                    .as_array()
                    .ok_or_else(|| type_error(field, "an array of strings"))?;
                let mut out: Vec<String> = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let path = format!("{field}[{i}]");
                    let s = item.as_str().ok_or_else(|| type_error(&path, "a string"))?;
                    if !o.choices.iter().any(|c| c == s) {
                        return Err(err(
                            &path,
                            "invalid_choice",
                            "is not one of the field's choices",
                        ));
                    }
                    if out.iter().any(|x| x == s) {
                        return Err(err(&path, "duplicate_choice", "is chosen twice"));
                    }
                    out.push(s.to_owned());
                }
                Ok(if out.is_empty() {
                    Value::Null
                } else {
                    Value::Choices(out)
                })
            }
            FieldType::Email => {
                let s = json.as_str().ok_or_else(|| type_error(field, "a string"))?;
                validate_email(field, s)?;
                Ok(Value::Text(s.to_owned()))
            }
            FieldType::Url => {
                let s = json.as_str().ok_or_else(|| type_error(field, "a string"))?;
                parse_url(field, s)?;
                Ok(Value::Text(s.to_owned()))
            }
            FieldType::Json => {
                let size = serde_json::to_vec(json)
                    .map(|v| v.len())
                    .unwrap_or(usize::MAX);
                if size > JSON_LIMIT_BYTES {
                    return Err(err(
                        field,
                        "too_long",
                        format!("must be at most {JSON_LIMIT_BYTES} bytes"),
                    ));
                }
                if json_contains_nul(json) {
                    return Err(err(field, "invalid_characters", "must not contain NUL"));
                }
                Ok(Value::Json(json.clone()))
            }
            FieldType::Link(o) => {
                let parse_id = |j: &Json, path: &str| {
                    j.as_str()
                        .and_then(|s| s.parse::<RecordId>().ok())
                        .ok_or_else(|| type_error(path, "a record id"))
                };
                if o.multiple {
                    let items = json
                        .as_array()
                        .ok_or_else(|| type_error(field, "an array of record ids"))?;
                    if items.len() > MAX_LINKS {
                        return Err(err(field, "too_long", format!("at most {MAX_LINKS} links")));
                    }
                    let mut ids: Vec<RecordId> = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        let path = format!("{field}[{i}]");
                        let id = parse_id(item, &path)?;
                        if ids.contains(&id) {
                            return Err(err(&path, "duplicate_link", "is linked twice"));
                        }
                        ids.push(id);
                    }
                    Ok(Value::Links(ids))
                } else {
                    Ok(Value::Links(vec![parse_id(json, field)?]))
                }
            }
            FieldType::User => json
                .as_str()
                .and_then(|s| s.parse::<UserId>().ok())
                .map(Value::User)
                .ok_or_else(|| type_error(field, "a user id")),
        }
    }

    /// The JSON form for a field of type `ty`, written straight to a serializer.
    pub fn json_form<'a>(&'a self, ty: &'a FieldType) -> JsonForm<'a> {
        JsonForm { value: self, ty }
    }

    /// The JSON form as a value (see [`Value::json_form`]).
    pub fn to_json(&self, ty: &FieldType) -> Json {
        // Cannot fail: every value has a JSON form with string keys only.
        serde_json::to_value(self.json_form(ty)).unwrap_or(Json::Null)
    }

    /// Orders two values of the same type, as filters and sorts do: text by code point,
    /// numbers numerically, dates in time. `None` when they are not comparable.
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Text(a), Value::Text(b)) => Some(a.cmp(b)),
            (Value::Integer(a), Value::Integer(b)) => Some(a.cmp(b)),
            (Value::Decimal(a), Value::Decimal(b)) if a.scale == b.scale => {
                Some(a.units.cmp(&b.units))
            }
            (Value::Boolean(a), Value::Boolean(b)) => Some(a.cmp(b)),
            (Value::Date(a), Value::Date(b)) => Some(a.cmp(b)),
            (Value::Datetime(a), Value::Datetime(b)) => Some(a.cmp(b)),
            (Value::User(a), Value::User(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// Converts a stored value of type `from` for a field changing to type `to`.
    /// `None` means this value does not convert; the caller reports the record.
    pub fn convert(&self, from: &FieldType, to: &FieldType) -> Option<Value> {
        if self.is_null() {
            return Some(match to {
                FieldType::Link(_) => Value::Links(Vec::new()),
                _ => Value::Null,
            });
        }
        // Through the JSON form first: it covers every conversion where the target accepts
        // the value as a client would have sent it (integer to decimal, text to select, ...).
        let json = self.to_json(from);
        if let Ok(v) = Value::from_json(to, &json, "") {
            return Some(v);
        }
        let as_text = match self {
            Value::Text(s) => Some(s.clone()),
            Value::Integer(n) => Some(n.to_string()),
            Value::Decimal(d) => Some(d.to_string()),
            Value::Boolean(b) => Some(b.to_string()),
            Value::Date(d) => Some(d.format("%Y-%m-%d").to_string()),
            Value::Datetime(t) => Some(crate::record::format_timestamp(t)),
            Value::Choices(c) => Some(c.join(", ")),
            Value::Json(j) => Some(j.to_string()),
            Value::Links(_) | Value::User(_) | Value::Null => None,
        };
        match (self, to) {
            (_, FieldType::Text(_) | FieldType::LongText) => {
                let text = as_text?;
                Value::from_json(to, &Json::String(text), "").ok()
            }
            (Value::Text(s), FieldType::Integer(_)) => {
                let n: i64 = s.trim().parse().ok()?;
                Value::from_json(to, &Json::from(n), "").ok()
            }
            (Value::Text(s), FieldType::Boolean) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Some(Value::Boolean(true)),
                "false" | "no" | "0" => Some(Value::Boolean(false)),
                _ => None,
            },
            (Value::Boolean(b), FieldType::Integer(_)) => {
                Value::from_json(to, &Json::from(i64::from(*b)), "").ok()
            }
            (Value::Decimal(d), FieldType::Integer(_)) => {
                let whole = d.rescale(0)?;
                Value::from_json(to, &Json::from(whole.units), "").ok()
            }
            (Value::Date(d), FieldType::Datetime) => {
                Some(Value::Datetime(d.and_time(NaiveTime::MIN).and_utc()))
            }
            (Value::Datetime(t), FieldType::Date) => {
                (t.time() == NaiveTime::MIN).then(|| Value::Date(t.date_naive()))
            }
            (Value::Text(s), FieldType::MultiSelect(_)) => {
                Value::from_json(to, &Json::from(vec![s.clone()]), "").ok()
            }
            (Value::Choices(c), FieldType::SingleSelect(_)) if c.len() == 1 => {
                Value::from_json(to, &Json::String(c[0].clone()), "").ok()
            }
            (Value::Text(s), FieldType::Json) => serde_json::from_str(s).ok().map(Value::Json),
            _ => None,
        }
    }
}

fn json_contains_nul(j: &Json) -> bool {
    match j {
        Json::String(s) => s.contains('\0'),
        Json::Array(a) => a.iter().any(json_contains_nul),
        Json::Object(o) => o
            .iter()
            .any(|(k, v)| k.contains('\0') || json_contains_nul(v)),
        _ => false,
    }
}

/// A value in its JSON form (see [`Value::json_form`]): null multi-valued fields show as
/// empty arrays, a single link as its id or null, decimals as exact strings.
pub struct JsonForm<'a> {
    value: &'a Value,
    ty: &'a FieldType,
}

impl Serialize for JsonForm<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::Null => match self.ty {
                FieldType::Link(o) if o.multiple => serializer.serialize_seq(Some(0))?.end(),
                FieldType::MultiSelect(_) => serializer.serialize_seq(Some(0))?.end(),
                _ => serializer.serialize_unit(),
            },
            Value::Text(s) => serializer.serialize_str(s),
            Value::Integer(n) => serializer.serialize_i64(*n),
            Value::Decimal(d) => serializer.collect_str(d),
            Value::Boolean(b) => serializer.serialize_bool(*b),
            Value::Date(d) => serializer.collect_str(&d.format("%Y-%m-%d")),
            Value::Datetime(t) => serializer.serialize_str(&crate::record::format_timestamp(t)),
            Value::Choices(c) => c.serialize(serializer),
            Value::Json(j) => j.serialize(serializer),
            Value::Links(ids) => match self.ty {
                FieldType::Link(o) if !o.multiple => ids.first().serialize(serializer),
                _ => ids.serialize(serializer),
            },
            Value::User(u) => u.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::{DecimalOptions, IntegerOptions, SelectOptions, TextOptions};
    use proptest::prelude::*;
    use serde_json::json;

    fn text() -> FieldType {
        FieldType::Text(TextOptions {
            max_length: Some(5),
        })
    }

    #[test]
    fn text_is_checked() {
        assert_eq!(
            Value::from_json(&text(), &json!("abc"), "f"),
            Ok(Value::Text("abc".into()))
        );
        assert_eq!(
            Value::from_json(&text(), &json!("abcdef"), "f")
                .unwrap_err()
                .code,
            "too_long"
        );
        assert_eq!(
            Value::from_json(&text(), &json!("a\nb"), "f")
                .unwrap_err()
                .code,
            "invalid_characters"
        );
        assert_eq!(
            Value::from_json(&text(), &json!("a\0"), "f")
                .unwrap_err()
                .code,
            "invalid_characters"
        );
        assert_eq!(
            Value::from_json(&text(), &json!(3), "f").unwrap_err().code,
            "invalid_type"
        );
    }

    #[test]
    fn integers_respect_range_and_type() {
        let ty = FieldType::Integer(IntegerOptions {
            min: Some(0),
            max: Some(10),
        });
        assert_eq!(
            Value::from_json(&ty, &json!(10), "n"),
            Ok(Value::Integer(10))
        );
        assert_eq!(
            Value::from_json(&ty, &json!(11), "n").unwrap_err().code,
            "out_of_range"
        );
        assert_eq!(
            Value::from_json(&ty, &json!(1.5), "n").unwrap_err().code,
            "invalid_type"
        );
        assert_eq!(
            Value::from_json(&ty, &json!("1"), "n").unwrap_err().code,
            "invalid_type"
        );
        let any = FieldType::Integer(IntegerOptions::default());
        assert_eq!(
            Value::from_json(&any, &json!(u64::MAX), "n")
                .unwrap_err()
                .code,
            "out_of_range"
        );
    }

    #[test]
    fn decimals_keep_exact_scale() {
        let ty = FieldType::Decimal(DecimalOptions { scale: 2 });
        assert_eq!(
            Value::from_json(&ty, &json!(1e15), "d")
                .map(|v| v.to_json(&ty))
                .ok(),
            Some(json!("1000000000000000.00")),
            "large JSON numbers are not read in exponent form"
        );
        let v = Value::from_json(&ty, &json!(12.34), "d").unwrap();
        assert_eq!(v.to_json(&ty), json!("12.34"));
        assert_eq!(
            Value::from_json(&ty, &json!("0.001"), "d")
                .unwrap_err()
                .code,
            "too_precise"
        );
    }

    #[test]
    fn datetimes_are_utc_microseconds() {
        let v = Value::from_json(
            &FieldType::Datetime,
            &json!("2024-05-01T12:00:00.5+02:00"),
            "t",
        )
        .unwrap();
        assert_eq!(
            v.to_json(&FieldType::Datetime),
            json!("2024-05-01T10:00:00.500000Z")
        );
        assert!(
            Value::from_json(
                &FieldType::Datetime,
                &json!("2024-05-01T12:00:00.0000001Z"),
                "t"
            )
            .is_err()
        );
        assert!(Value::from_json(&FieldType::Datetime, &json!("2024-05-01"), "t").is_err());
    }

    #[test]
    fn selects_only_accept_their_choices() {
        let o = SelectOptions {
            choices: vec!["a".into(), "b".into()],
        };
        assert!(Value::from_json(&FieldType::SingleSelect(o.clone()), &json!("a"), "s").is_ok());
        assert_eq!(
            Value::from_json(&FieldType::SingleSelect(o.clone()), &json!("c"), "s")
                .unwrap_err()
                .code,
            "invalid_choice"
        );
        let e = Value::from_json(&FieldType::MultiSelect(o), &json!(["a", "a"]), "s").unwrap_err();
        assert_eq!((e.code, e.field.as_str()), ("duplicate_choice", "s[1]"));
    }

    #[test]
    fn urls_must_be_http() {
        assert!(Value::from_json(&FieldType::Url, &json!("https://example.com/x"), "u").is_ok());
        assert!(Value::from_json(&FieldType::Url, &json!("javascript:alert(1)"), "u").is_err());
        assert!(Value::from_json(&FieldType::Url, &json!("/relative"), "u").is_err());
    }

    #[test]
    fn conversions_convert_what_converts() {
        let int = FieldType::Integer(IntegerOptions::default());
        let dec = FieldType::Decimal(DecimalOptions { scale: 2 });
        let t = FieldType::Text(TextOptions::default());
        assert_eq!(
            Value::Text("42".into()).convert(&t, &int),
            Some(Value::Integer(42))
        );
        assert_eq!(Value::Text("x".into()).convert(&t, &int), None);
        assert_eq!(
            Value::Integer(3).convert(&int, &dec),
            Some(Value::Decimal(Decimal {
                units: 300,
                scale: 2
            }))
        );
        assert_eq!(
            Value::Decimal(Decimal {
                units: 350,
                scale: 2
            })
            .convert(&dec, &int),
            None
        );
        assert_eq!(
            Value::Integer(7).convert(&int, &t),
            Some(Value::Text("7".into()))
        );
        assert_eq!(Value::Null.convert(&t, &int), Some(Value::Null));
    }

    proptest! {
        #[test]
        fn text_values_round_trip_through_json(s in "[^\\x00\\n\\r]{0,40}") {
            let ty = FieldType::Text(TextOptions::default());
            let v = Value::from_json(&ty, &Json::String(s.clone()), "f").unwrap();
            prop_assert_eq!(Value::from_json(&ty, &v.to_json(&ty), "f").unwrap(), v);
        }

        #[test]
        fn integer_range_is_enforced(n in any::<i64>(), min in -1000i64..0, max in 0i64..1000) {
            let ty = FieldType::Integer(IntegerOptions { min: Some(min), max: Some(max) });
            let r = Value::from_json(&ty, &json!(n), "n");
            prop_assert_eq!(r.is_ok(), (min..=max).contains(&n));
        }

        #[test]
        fn decimals_round_trip(units in -1_000_000_000i64..1_000_000_000, scale in 0u8..=6) {
            let ty = FieldType::Decimal(DecimalOptions { scale });
            let v = Value::Decimal(Decimal { units, scale });
            prop_assert_eq!(Value::from_json(&ty, &v.to_json(&ty), "d").unwrap(), v);
        }
    }
}
