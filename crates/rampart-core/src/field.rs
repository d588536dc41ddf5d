//! Field types and their options.

use serde::{Deserialize, Serialize};

use crate::decimal::MAX_SCALE;
use crate::error::FieldError;
use crate::ids::TableId;

/// Default and largest lengths of text values, in characters.
pub const TEXT_DEFAULT_MAX: u32 = 1_000;
pub const TEXT_LIMIT: u32 = 10_000;
pub const LONG_TEXT_LIMIT: u32 = 100_000;
/// Largest number of choices of a select field, and of characters in one choice.
pub const MAX_CHOICES: usize = 1_000;
pub const MAX_CHOICE_CHARS: usize = 255;

/// The kinds of field, as named in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    LongText,
    Integer,
    Decimal,
    Boolean,
    Date,
    Datetime,
    SingleSelect,
    MultiSelect,
    Email,
    Url,
    Json,
    Link,
    User,
}

impl FieldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::LongText => "long_text",
            Self::Integer => "integer",
            Self::Decimal => "decimal",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::Datetime => "datetime",
            Self::SingleSelect => "single_select",
            Self::MultiSelect => "multi_select",
            Self::Email => "email",
            Self::Url => "url",
            Self::Json => "json",
            Self::Link => "link",
            Self::User => "user",
        }
    }
}

/// What happens to links pointing at a record when it is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnDelete {
    /// The delete is refused while links point at the record.
    #[default]
    Restrict,
    /// The links are removed.
    Clear,
}

/// A field's type with its options. Serialized as `{"type": "...", "options": {...}}` in the
/// API; see [`FieldType::from_parts`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "options", rename_all = "snake_case")]
pub enum FieldType {
    Text(TextOptions),
    LongText,
    Integer(IntegerOptions),
    Decimal(DecimalOptions),
    Boolean,
    Date,
    Datetime,
    SingleSelect(SelectOptions),
    MultiSelect(SelectOptions),
    Email,
    Url,
    Json,
    Link(LinkOptions),
    User,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TextOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct IntegerOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecimalOptions {
    #[serde(default = "default_scale")]
    pub scale: u8,
}

fn default_scale() -> u8 {
    2
}

impl Default for DecimalOptions {
    fn default() -> Self {
        Self {
            scale: default_scale(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SelectOptions {
    pub choices: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkOptions {
    /// The table whose records this field points at.
    pub table_id: TableId,
    /// Whether the field holds several links.
    #[serde(default)]
    pub multiple: bool,
    #[serde(default)]
    pub on_delete: OnDelete,
}

impl FieldType {
    /// Text a person reads as a name: the default primary field is the first of these.
    pub fn is_text_like(&self) -> bool {
        matches!(
            self,
            Self::Text(_) | Self::LongText | Self::Email | Self::Url
        )
    }

    /// Whether a value of this type can name a record: one scalar value. Links, lists and JSON
    /// cannot.
    pub fn can_be_primary(&self) -> bool {
        !matches!(self, Self::Link(_) | Self::MultiSelect(_) | Self::Json)
    }

    pub fn kind(&self) -> FieldKind {
        match self {
            Self::Text(_) => FieldKind::Text,
            Self::LongText => FieldKind::LongText,
            Self::Integer(_) => FieldKind::Integer,
            Self::Decimal(_) => FieldKind::Decimal,
            Self::Boolean => FieldKind::Boolean,
            Self::Date => FieldKind::Date,
            Self::Datetime => FieldKind::Datetime,
            Self::SingleSelect(_) => FieldKind::SingleSelect,
            Self::MultiSelect(_) => FieldKind::MultiSelect,
            Self::Email => FieldKind::Email,
            Self::Url => FieldKind::Url,
            Self::Json => FieldKind::Json,
            Self::Link(_) => FieldKind::Link,
            Self::User => FieldKind::User,
        }
    }

    /// Builds a type from the API's `type` and `options`, refusing unknown or invalid options.
    pub fn from_parts(
        kind: FieldKind,
        options: Option<serde_json::Value>,
    ) -> Result<Self, FieldError> {
        fn opts<T: serde::de::DeserializeOwned + Default>(
            options: Option<serde_json::Value>,
        ) -> Result<T, FieldError> {
            match options {
                None | Some(serde_json::Value::Null) => Ok(T::default()),
                Some(v) => serde_json::from_value(v)
                    .map_err(|e| FieldError::new("options", "invalid_options", e.to_string())),
            }
        }
        fn no_opts(options: Option<serde_json::Value>) -> Result<(), FieldError> {
            match options {
                None | Some(serde_json::Value::Null) => Ok(()),
                Some(serde_json::Value::Object(m)) if m.is_empty() => Ok(()),
                Some(_) => Err(FieldError::new(
                    "options",
                    "invalid_options",
                    "this field type takes no options",
                )),
            }
        }
        let ty =
            match kind {
                FieldKind::Text => Self::Text(opts(options)?),
                FieldKind::LongText => no_opts(options).map(|()| Self::LongText)?,
                FieldKind::Integer => Self::Integer(opts(options)?),
                FieldKind::Decimal => Self::Decimal(opts(options)?),
                FieldKind::Boolean => no_opts(options).map(|()| Self::Boolean)?,
                FieldKind::Date => no_opts(options).map(|()| Self::Date)?,
                FieldKind::Datetime => no_opts(options).map(|()| Self::Datetime)?,
                FieldKind::SingleSelect => Self::SingleSelect(opts(options)?),
                FieldKind::MultiSelect => Self::MultiSelect(opts(options)?),
                FieldKind::Email => no_opts(options).map(|()| Self::Email)?,
                FieldKind::Url => no_opts(options).map(|()| Self::Url)?,
                FieldKind::Json => no_opts(options).map(|()| Self::Json)?,
                FieldKind::Link => {
                    let Some(v) = options else {
                        return Err(FieldError::new(
                            "options.table_id",
                            "required",
                            "a link field needs options.table_id",
                        ));
                    };
                    Self::Link(serde_json::from_value(v).map_err(|e| {
                        FieldError::new("options", "invalid_options", e.to_string())
                    })?)
                }
                FieldKind::User => no_opts(options).map(|()| Self::User)?,
            };
        ty.validate_options()?;
        Ok(ty)
    }

    /// The options as the API shows them (`null` for types without options).
    pub fn options_json(&self) -> serde_json::Value {
        let full = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        full.get("options")
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    }

    fn validate_options(&self) -> Result<(), FieldError> {
        match self {
            Self::Text(o) if o.max_length.is_some_and(|max| max == 0 || max > TEXT_LIMIT) => {
                return Err(FieldError::new(
                    "options.max_length",
                    "out_of_range",
                    format!("must be between 1 and {TEXT_LIMIT}"),
                ));
            }
            Self::Integer(IntegerOptions {
                min: Some(min),
                max: Some(max),
            }) if min > max => {
                return Err(FieldError::new(
                    "options.min",
                    "out_of_range",
                    "min must not exceed max",
                ));
            }
            Self::Decimal(o) if o.scale > MAX_SCALE => {
                return Err(FieldError::new(
                    "options.scale",
                    "out_of_range",
                    format!("must be between 0 and {MAX_SCALE}"),
                ));
            }
            Self::SingleSelect(o) | Self::MultiSelect(o) => {
                if o.choices.is_empty() || o.choices.len() > MAX_CHOICES {
                    return Err(FieldError::new(
                        "options.choices",
                        "invalid_length",
                        format!("must list 1 to {MAX_CHOICES} choices"),
                    ));
                }
                let mut seen = std::collections::HashSet::new();
                for (i, c) in o.choices.iter().enumerate() {
                    let n = c.chars().count();
                    if n == 0 || n > MAX_CHOICE_CHARS || c.chars().any(char::is_control) {
                        return Err(FieldError::new(
                            format!("options.choices[{i}]"),
                            "invalid_choice",
                            format!(
                                "must be 1 to {MAX_CHOICE_CHARS} characters without control characters"
                            ),
                        ));
                    }
                    if !seen.insert(c.as_str()) {
                        return Err(FieldError::new(
                            format!("options.choices[{i}]"),
                            "duplicate_choice",
                            "choices must be distinct",
                        ));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether values of this type can be compared with `<` and sorted meaningfully.
    pub fn is_ordered(&self) -> bool {
        !matches!(
            self,
            Self::MultiSelect(_) | Self::Json | Self::Link(_) | Self::Boolean
        )
    }

    /// Whether a field of this type can be unique or indexed (it is one scalar column).
    pub fn is_scalar_column(&self) -> bool {
        !matches!(self, Self::MultiSelect(_) | Self::Json | Self::Link(_))
    }
}

/// The system fields every record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SystemField {
    Id,
    CreatedAt,
    UpdatedAt,
    CreatedBy,
    Owner,
    Version,
}

impl SystemField {
    pub const ALL: [SystemField; 6] = [
        Self::Id,
        Self::CreatedAt,
        Self::UpdatedAt,
        Self::CreatedBy,
        Self::Owner,
        Self::Version,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::CreatedBy => "created_by",
            Self::Owner => "owner",
            Self::Version => "version",
        }
    }

    /// Matches case-insensitively, so no user field can be named `ID` or `Owner` either.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_are_checked() {
        assert!(FieldType::from_parts(FieldKind::Text, Some(json!({"max_length": 5}))).is_ok());
        let e = FieldType::from_parts(FieldKind::Text, Some(json!({"max_len": 5}))).unwrap_err();
        assert_eq!(e.code, "invalid_options");
        let e = FieldType::from_parts(FieldKind::Decimal, Some(json!({"scale": 12}))).unwrap_err();
        assert_eq!(e.field, "options.scale");
        let e = FieldType::from_parts(
            FieldKind::SingleSelect,
            Some(json!({"choices": ["a", "a"]})),
        )
        .unwrap_err();
        assert_eq!(e.code, "duplicate_choice");
        let e = FieldType::from_parts(FieldKind::Boolean, Some(json!({"x": 1}))).unwrap_err();
        assert_eq!(e.code, "invalid_options");
        assert!(FieldType::from_parts(FieldKind::Link, None).is_err());
    }

    #[test]
    fn options_json_round_trips() {
        let t = FieldType::from_parts(FieldKind::Decimal, Some(json!({"scale": 3}))).unwrap();
        assert_eq!(t.options_json(), json!({"scale": 3}));
        assert_eq!(FieldType::Boolean.options_json(), serde_json::Value::Null);
    }
}
