//! Validation errors that name the offending field.

use serde::Serialize;

/// One problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field (or JSON path) the problem is about, as the client named it.
    pub field: String,
    /// A stable, snake_case code.
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
    /// A character offset into the field's text, for expression errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
            position: None,
        }
    }

    pub fn at(mut self, position: usize) -> Self {
        self.position = Some(position);
        self
    }
}

/// Input that was refused, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid input: {} problem(s)", errors.len())]
pub struct Invalid {
    pub errors: Vec<FieldError>,
}

impl Invalid {
    pub fn one(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            errors: vec![FieldError::new(field, code, message)],
        }
    }
}

impl From<FieldError> for Invalid {
    fn from(e: FieldError) -> Self {
        Self { errors: vec![e] }
    }
}

impl From<Vec<FieldError>> for Invalid {
    fn from(errors: Vec<FieldError>) -> Self {
        Self { errors }
    }
}
