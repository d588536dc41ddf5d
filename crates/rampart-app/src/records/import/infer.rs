//! A field type for each column of a file, from the values it holds: the narrowest type every
//! non-empty value fits (integer, decimal with its scale, boolean, date, datetime, email, url),
//! a single select when a column repeats a few short values, else text, or long text for
//! long or multi-line values. JSON arrays and objects make a JSON field.

use rampart_core::field::{DecimalOptions, IntegerOptions, SelectOptions, TextOptions};
use rampart_core::{FieldType, Value};
use serde_json::Value as Json;

use super::source::Raw;
use crate::records::cells::unguard;

/// Most choices a column may have to be taken for a single select.
const MAX_CHOICES: usize = 12;
/// Longest text a single select's choice may be, and a text (not long text) field's value.
const MAX_CHOICE_CHARS: usize = 40;
const MAX_TEXT_CHARS: usize = 255;
/// Largest decimal scale inferred; values with more digits are text.
const MAX_SCALE: u8 = 10;

/// What one column's values have shown so far.
#[derive(Debug, Clone)]
struct Column {
    values: u64,
    integer: bool,
    /// The largest number of fraction digits, while every value is a decimal.
    decimal: Option<u8>,
    boolean: bool,
    date: bool,
    datetime: bool,
    email: bool,
    url: bool,
    json: bool,
    long: bool,
    /// Distinct values in order of appearance, while there are few and short ones.
    choices: Option<Vec<String>>,
}

impl Default for Column {
    fn default() -> Self {
        Self {
            values: 0,
            integer: true,
            decimal: Some(0),
            boolean: true,
            date: true,
            datetime: true,
            email: true,
            url: true,
            json: false,
            long: false,
            choices: Some(Vec::new()),
        }
    }
}

/// Whether a text is an integer as people write one: no leading zeros (`007` is a code, not a
/// number), an optional minus, within 64 bits.
fn integer_text(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let plain = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    plain.then(|| s.parse().ok()).flatten()
}

/// The scale of a decimal written as digits, a point and digits.
fn decimal_scale(s: &str) -> Option<u8> {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let (whole, fraction) = unsigned.split_once('.')?;
    let ok = !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit());
    let scale = u8::try_from(fraction.len()).ok()?;
    (ok && scale <= MAX_SCALE).then_some(scale)
}

/// The boolean a text means, as spreadsheets write them.
pub fn boolean_text(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "x" | "checked" => Some(true),
        "false" | "no" | "n" | "unchecked" => Some(false),
        _ => None,
    }
}

/// A date-time as RFC 3339, also when written with a space and without an offset (taken as
/// UTC, which is how spreadsheets without time zones write them).
pub fn datetime_text(s: &str) -> Option<String> {
    if rampart_core::value::parse_datetime(s).is_some() {
        return Some(s.to_owned());
    }
    let formats = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
    ];
    formats.iter().find_map(|f| {
        chrono::NaiveDateTime::parse_from_str(s, f)
            .ok()
            .map(|t| rampart_core::record::format_timestamp(&t.and_utc()))
    })
}

fn fits(ty: &FieldType, s: &str) -> bool {
    Value::from_json(ty, &Json::String(s.to_owned()), "").is_ok()
}

impl Column {
    fn add(&mut self, raw: &Raw) {
        if raw.is_empty() {
            return;
        }
        self.values += 1;
        let text: String = match raw {
            Raw::Empty => return,
            Raw::Text(s) => unguard(s).to_owned(),
            Raw::Integer(n) => {
                self.not_text_only();
                self.boolean = false;
                self.note_choice(&n.to_string());
                return;
            }
            Raw::Float(f) => {
                self.not_text_only();
                self.boolean = false;
                self.integer &= f.fract() == 0.0 && f.abs() < 9.0e15;
                let repr = f.to_string();
                let scale = repr
                    .split_once('.')
                    .map_or(Some(0), |(_, frac)| u8::try_from(frac.len()).ok());
                self.decimal = match (self.decimal, scale) {
                    (Some(a), Some(b)) if b <= MAX_SCALE => Some(a.max(b)),
                    _ => None,
                };
                self.choices = None;
                return;
            }
            Raw::Bool(_) => {
                self.not_text_only();
                self.integer = false;
                self.decimal = None;
                self.choices = None;
                return;
            }
            Raw::Date(_) => {
                // A date is also a date-time (at midnight): a column of both is date-times.
                self.email = false;
                self.url = false;
                self.integer = false;
                self.decimal = None;
                self.boolean = false;
                self.choices = None;
                return;
            }
            Raw::Datetime(_) => {
                self.email = false;
                self.url = false;
                self.integer = false;
                self.decimal = None;
                self.boolean = false;
                self.date = false;
                self.choices = None;
                return;
            }
            Raw::Json(_) => {
                self.json = true;
                self.choices = None;
                return;
            }
        };
        let s = text.as_str();
        if self.integer && integer_text(s).is_none() {
            self.integer = false;
        }
        if let Some(scale) = self.decimal {
            self.decimal = match (integer_text(s), decimal_scale(s)) {
                (Some(_), _) => Some(scale),
                (None, Some(b)) => Some(scale.max(b)),
                (None, None) => None,
            };
        }
        self.boolean &= boolean_text(s).is_some();
        self.date &= fits(&FieldType::Date, s);
        self.datetime &= datetime_text(s).is_some();
        self.email &= fits(&FieldType::Email, s);
        self.url &= fits(&FieldType::Url, s);
        if s.contains('\n') || s.chars().count() > MAX_TEXT_CHARS {
            self.long = true;
        }
        self.note_choice(s);
    }

    /// A typed value: the column is not one of the types only text is.
    fn not_text_only(&mut self) {
        self.email = false;
        self.url = false;
        self.date = false;
        self.datetime = false;
    }

    fn note_choice(&mut self, s: &str) {
        if let Some(choices) = &mut self.choices {
            if s.chars().count() > MAX_CHOICE_CHARS || s.contains(['\n', ',']) {
                self.choices = None;
            } else if !choices.iter().any(|c| c == s) {
                if choices.len() == MAX_CHOICES {
                    self.choices = None;
                } else {
                    choices.push(s.to_owned());
                }
            }
        }
    }

    fn field_type(&self) -> FieldType {
        if self.json {
            return FieldType::Json;
        }
        if self.values == 0 {
            return FieldType::Text(TextOptions::default());
        }
        if self.boolean {
            return FieldType::Boolean;
        }
        if self.integer {
            return FieldType::Integer(IntegerOptions::default());
        }
        if let Some(scale) = self.decimal {
            return FieldType::Decimal(DecimalOptions { scale });
        }
        if self.date {
            return FieldType::Date;
        }
        if self.datetime {
            return FieldType::Datetime;
        }
        if self.email {
            return FieldType::Email;
        }
        if self.url {
            return FieldType::Url;
        }
        if self.long {
            return FieldType::LongText;
        }
        // A few values, each repeated: a select (at least two values on average per choice,
        // and at least four values, so that a short column of names stays text).
        if let Some(choices) = &self.choices
            && self.values >= 4
            && self.values >= 2 * choices.len() as u64
        {
            return FieldType::SingleSelect(SelectOptions {
                choices: choices.clone(),
            });
        }
        FieldType::Text(TextOptions::default())
    }
}

/// Guesses a field type per column from the rows it is shown.
#[derive(Debug, Clone)]
pub struct Guesser {
    columns: Vec<Column>,
}

impl Guesser {
    pub fn new(columns: usize) -> Self {
        Self {
            columns: vec![Column::default(); columns],
        }
    }

    pub fn add(&mut self, row: &[Raw]) {
        for (column, raw) in self.columns.iter_mut().zip(row) {
            column.add(raw);
        }
    }

    /// The type of each column, in order.
    pub fn types(&self) -> Vec<FieldType> {
        self.columns.iter().map(Column::field_type).collect()
    }
}

/// A field name for a column's header: characters a field name may not hold become `_`, and
/// one that does not start with a letter or `_` gets a `_` in front.
pub fn field_name(header: &str) -> String {
    let mut name: String = header
        .trim()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
    {
        name.insert(0, '_');
    }
    let name: String = name
        .chars()
        .take(rampart_core::names::MAX_NAME_CHARS)
        .collect();
    let name = name.trim_end().to_owned();
    if rampart_core::field::SystemField::from_name(&name).is_some() {
        format!("{name}_")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guess(values: &[&str]) -> FieldType {
        let mut g = Guesser::new(1);
        for v in values {
            g.add(&[Raw::Text((*v).to_owned())]);
        }
        g.types().remove(0)
    }

    #[test]
    fn each_column_gets_the_narrowest_type_its_values_fit() {
        let int = FieldType::Integer(IntegerOptions::default());
        assert_eq!(guess(&["1", "-20", "", "300"]), int);
        assert_eq!(
            guess(&["007", "12"]),
            FieldType::Text(TextOptions::default()),
            "leading zeros are codes"
        );
        assert_eq!(
            guess(&["1.5", "2", "-0.25"]),
            FieldType::Decimal(DecimalOptions { scale: 2 })
        );
        assert_eq!(guess(&["yes", "No", "TRUE"]), FieldType::Boolean);
        assert_eq!(guess(&["2026-01-02", "1999-12-31"]), FieldType::Date);
        assert_eq!(
            guess(&["2026-01-02T03:04:05Z", "2026-01-02 03:04"]),
            FieldType::Datetime
        );
        assert_eq!(guess(&["a@b.test", "c@d.test"]), FieldType::Email);
        assert_eq!(guess(&["https://a.test/x"]), FieldType::Url);
        assert_eq!(
            guess(&["open", "done", "open", "open", "done"]),
            FieldType::SingleSelect(SelectOptions {
                choices: vec!["open".into(), "done".into()]
            })
        );
        assert_eq!(
            guess(&["Ada", "Bob", "Cy"]),
            FieldType::Text(TextOptions::default()),
            "names that do not repeat are text"
        );
        assert_eq!(guess(&["line\nbreak"]), FieldType::LongText);
        assert_eq!(guess(&[]), FieldType::Text(TextOptions::default()));
        assert_eq!(guess(&["'=1+1"]), FieldType::Text(TextOptions::default()));
    }

    #[test]
    fn typed_cells_from_sheets_and_json_count_as_their_type() {
        let mut g = Guesser::new(4);
        g.add(&[
            Raw::Float(2.0),
            Raw::Float(1.25),
            Raw::Bool(true),
            Raw::Json(serde_json::json!({"a": 1})),
        ]);
        g.add(&[
            Raw::Integer(3),
            Raw::Float(7.0),
            Raw::Bool(false),
            Raw::Empty,
        ]);
        assert_eq!(
            g.types(),
            [
                FieldType::Integer(IntegerOptions::default()),
                FieldType::Decimal(DecimalOptions { scale: 2 }),
                FieldType::Boolean,
                FieldType::Json,
            ]
        );
    }

    #[test]
    fn headers_become_valid_field_names() {
        assert_eq!(field_name("Unit price (€)"), "Unit price ___");
        assert_eq!(field_name("2nd"), "_2nd");
        assert_eq!(field_name("id"), "id_");
        assert!(rampart_core::names::validate_field_name("f", &field_name("#")).is_ok());
    }
}
