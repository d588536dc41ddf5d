//! The rules every JSON input is held to, whichever adapter it arrives through: at most
//! [`MAX_JSON_DEPTH`] levels of nesting, no key twice in one object, an object where a record
//! of fields is expected, and every value that does not fit named by its path.

use rampart_core::FieldError;
use serde::de::DeserializeOwned;

use crate::AppError;

/// Deepest nesting of arrays and objects a request body may have. Real bodies (records with
/// JSON fields, permission-set definitions) stay far below; a deeper one is refused by a
/// linear scan before any parsing.
pub const MAX_JSON_DEPTH: usize = 32;

/// Whether `bytes` nests arrays/objects deeper than `limit` (brackets inside strings do not
/// count). Malformed input is left to the parser.
pub(crate) fn nests_deeper_than(bytes: &[u8], limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Walks a JSON document and stops at the first object that names a key twice: its path
/// (`fields.title`, `create[2].fields.x`) is left in `found`. JSON leaves duplicates to the
/// reader, and serde keeps the last value, so without this `{"a":"valid","a":"bad"}` would
/// be validated on one value and stored with another.
struct Unique<'f> {
    path: String,
    found: &'f std::cell::RefCell<Option<String>>,
}

impl Unique<'_> {
    fn child(&self, step: &str) -> Self {
        Self {
            path: if self.path.is_empty() || step.starts_with('[') {
                format!("{}{step}", self.path)
            } else {
                format!("{}.{step}", self.path)
            },
            found: self.found,
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Unique<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Unique<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        while seq
            .next_element_seed(self.child(&format!("[{i}]")))?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let child = self.child(&key);
            if !seen.insert(key) {
                *self.found.borrow_mut() = Some(child.path);
                return Err(serde::de::Error::custom("duplicate key"));
            }
            map.next_value_seed(child)?;
        }
        Ok(())
    }
}

/// The path of the first key an object of `bytes` repeats (`None`: none, or not JSON, which
/// the parser reports).
fn first_duplicate_key(bytes: &[u8]) -> Option<String> {
    use serde::de::DeserializeSeed;
    let found = std::cell::RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let _ = Unique {
        path: String::new(),
        found: &found,
    }
    .deserialize(&mut de);
    found.into_inner()
}

/// Parses JSON, naming the path of the first value that does not fit.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    if nests_deeper_than(bytes, MAX_JSON_DEPTH) {
        return Err(AppError::BadRequest {
            code: "json_too_deep",
            detail: format!(
                "the body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels"
            ),
        });
    }
    if let Some(path) = first_duplicate_key(bytes) {
        return Err(AppError::from(FieldError::new(
            path,
            "duplicate_key",
            "this key appears more than once in its object",
        )));
    }
    // serde reads a struct from an array of its fields in order; a body is a JSON object
    // (only list bodies are arrays), so an array stands for nothing a client meant.
    let array = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'[');
    if array && !std::any::type_name::<T>().starts_with("alloc::vec::Vec<") {
        return Err(AppError::invalid(
            "",
            "invalid_value",
            "the body must be a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => {
            de.end().map_err(|e| AppError::BadRequest {
                code: "malformed_json",
                detail: e.to_string(),
            })?;
            Ok(v)
        }
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(AppError::BadRequest {
                    code: "malformed_json",
                    detail: inner.to_string(),
                });
            }
            let message = inner.to_string();
            let code = if message.starts_with("unknown field") {
                "unknown_field"
            } else if message.starts_with("missing field") {
                "required"
            } else {
                "invalid_value"
            };
            let parent = if path == "." { String::new() } else { path };
            // serde names the missing or unknown key in its message, relative to `parent`.
            let named = message
                .split('`')
                .nth(1)
                .filter(|_| code != "invalid_value")
                .map(str::to_owned);
            let field = match (parent.is_empty(), named) {
                (true, Some(k)) => k,
                (false, Some(k)) => format!("{parent}.{k}"),
                (_, None) => parent,
            };
            Err(AppError::from(FieldError::new(field, code, message)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_is_found_at_any_depth_with_its_path() {
        assert_eq!(first_duplicate_key(br#"{"a":1,"b":2}"#), None);
        assert_eq!(
            first_duplicate_key(br#"{"fields":{"title":"a","title":"b"}}"#).as_deref(),
            Some("fields.title")
        );
        assert_eq!(
            first_duplicate_key(br#"{"create":[{"fields":{}},{"fields":{"x":{"y":1,"y":2}}}]}"#)
                .as_deref(),
            Some("create[1].fields.x.y")
        );
        // Escapes are decoded before comparing: "a" and "\u0061" are the same key.
        assert_eq!(
            first_duplicate_key(br#"{"a":1,"\u0061":2}"#).as_deref(),
            Some("a")
        );
        assert_eq!(first_duplicate_key(br#"[{"a":1},{"a":2}]"#), None);
        assert_eq!(first_duplicate_key(b"{not json"), None);
    }

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        let deep = format!("{}{}", "[".repeat(33), "]".repeat(33));
        assert!(nests_deeper_than(deep.as_bytes(), 32));
        let ok = format!("{}{}", "[".repeat(32), "]".repeat(32));
        assert!(!nests_deeper_than(ok.as_bytes(), 32));
        let in_string = format!(r#"{{"a": "{}\" {}"}}"#, "[".repeat(100), "{".repeat(100));
        assert!(!nests_deeper_than(in_string.as_bytes(), 32));
        assert!(!nests_deeper_than(br#"{"a":[{"b":[1,2]}],"c":"]]]]"}"#, 4));
        assert!(nests_deeper_than(br#"{"a":[{"b":[1]}]}"#, 3));
    }
}
