//! Names people choose (tenants, projects, tables, fields) and emails.
//!
//! These names are shown and matched, but never reach SQL: storage uses internal physical
//! names (see `rampart-sql::Ident`).

use crate::error::FieldError;

/// Longest display name for projects, tables and fields, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Words a tenant slug may not be, because they name infrastructure.
const RESERVED_SLUGS: &[&str] = &[
    "www", "api", "admin", "internal", "static", "assets", "mail",
];

/// A tenant slug is a DNS label: lowercase letters, digits and inner hyphens, 1 to 63 chars.
pub fn validate_slug(field: &str, slug: &str) -> Result<(), FieldError> {
    let ok_chars = slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if slug.is_empty()
        || slug.len() > 63
        || !ok_chars
        || slug.starts_with('-')
        || slug.ends_with('-')
    {
        return Err(FieldError::new(
            field,
            "invalid_slug",
            "must be 1 to 63 lowercase letters, digits or inner hyphens",
        ));
    }
    if RESERVED_SLUGS.contains(&slug) {
        return Err(FieldError::new(
            field,
            "reserved_slug",
            "this name is reserved",
        ));
    }
    Ok(())
}

/// Display names of projects and tables: 1 to 64 characters, no control characters, no
/// leading or trailing white space.
pub fn validate_display_name(field: &str, name: &str) -> Result<(), FieldError> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(FieldError::new(
            field,
            "invalid_length",
            format!("must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "invalid_characters",
            "must not contain control characters",
        ));
    }
    if name.trim() != name {
        return Err(FieldError::new(
            field,
            "invalid_characters",
            "must not start or end with white space",
        ));
    }
    Ok(())
}

/// Field names also appear in filters, so they are limited to letters, digits, `_`, `-` and
/// spaces, start with a letter or `_`, and do not shadow a system field. Names with spaces or
/// hyphens are written between backticks in expressions.
pub fn validate_field_name(field: &str, name: &str) -> Result<(), FieldError> {
    validate_display_name(field, name)?;
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == ' ');
    if !first_ok || !rest_ok {
        return Err(FieldError::new(
            field,
            "invalid_characters",
            "must start with a letter or '_' and contain only letters, digits, '_', '-' and spaces",
        ));
    }
    if crate::field::SystemField::from_name(name).is_some() {
        return Err(FieldError::new(
            field,
            "reserved_name",
            "this name is taken by a system field",
        ));
    }
    Ok(())
}

/// A pragmatic email check: one `@`, a local part of 1 to 64 characters, a domain with a dot,
/// no white space or control characters, at most 254 characters. (Lengths count characters,
/// as the API's JSON Schema does.)
pub fn validate_email(field: &str, email: &str) -> Result<(), FieldError> {
    let bad = || FieldError::new(field, "invalid_email", "must be an email address");
    if email.chars().count() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(bad());
    };
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@');
    if local.is_empty() || local.chars().count() > 64 || !domain_ok {
        return Err(bad());
    }
    Ok(())
}

/// The form of an email used for uniqueness and login: trimmed and lowercased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_dns_labels() {
        for ok in ["acme", "a", "acme-2", "0day"] {
            assert!(validate_slug("slug", ok).is_ok(), "{ok}");
        }
        for bad in ["", "Acme", "-a", "a-", "a_b", "a.b", "www", &"a".repeat(64)] {
            assert!(validate_slug("slug", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_names_are_expression_friendly_and_not_system_names() {
        assert!(validate_field_name("name", "Due date").is_ok());
        assert!(validate_field_name("name", "título").is_ok());
        assert!(validate_field_name("name", "1st").is_err());
        assert!(validate_field_name("name", "a\"b").is_err());
        assert!(validate_field_name("name", "owner").is_err());
        assert!(validate_field_name("name", " padded").is_err());
    }

    #[test]
    fn emails() {
        assert!(validate_email("email", "a@b.co").is_ok());
        for bad in ["a", "@b.co", "a@b", "a@.b", "a b@c.de", "a@b..c"] {
            assert!(validate_email("email", bad).is_err(), "{bad}");
        }
    }
}
