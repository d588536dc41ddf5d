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

/// The one rule for email addresses, everywhere one is taken (accounts, invitations,
/// sign-ups, email fields), as a regular expression in the common subset of the ECMA,
/// Python and Rust dialects (so the API's JSON Schema states it too):
/// - the local part is a dot-atom of ASCII `atext` (letters, digits and
///   ``!#$%&'*+/=?^_`{|}~-``): no leading, trailing or doubled dot, no quoted strings;
/// - the domain is at least two dot-separated labels of ASCII letters, digits and inner
///   hyphens, 1 to 63 characters each, the last one letters only or an `xn--` label (an
///   internationalized domain is written in that form): no IP literal, no `;`, `<` or
///   other punctuation.
///
/// On top of the pattern: the local part at most 64 characters, the whole at most 254 (what
/// mail servers take). Every address it admits is one the mailer can send to (a test in
/// `rampart-server::mail` holds that).
pub fn email_pattern() -> String {
    let atext = r"[A-Za-z0-9!#$%&'*+/=?^_\x60{|}~\-]";
    format!(r"^{atext}(?:\.?{atext}){{0,63}}@{}$", domain_body())
}

/// A domain name as email addresses have them (see [`email_pattern`]), without anchors.
fn domain_body() -> String {
    let label = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?";
    format!(
        r"(?:{label}\.)+(?:[A-Za-z]{{2,63}}|[xX][nN]--[A-Za-z0-9](?:[A-Za-z0-9\-]{{0,57}}[A-Za-z0-9])?)"
    )
}

/// A domain name such as `example.com` (sign-ups limited to some domains): the domain part
/// of [`email_pattern`], at most 253 characters.
pub fn domain_pattern() -> String {
    format!("^{}$", domain_body())
}

pub fn validate_domain(field: &str, domain: &str) -> Result<(), FieldError> {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new(&domain_pattern()).ok());
    if domain.len() > 253 || !re.as_ref().is_some_and(|re| re.is_match(domain)) {
        return Err(FieldError::new(
            field,
            "invalid_domain",
            format!("{domain:?} is not a domain name such as example.com"),
        ));
    }
    Ok(())
}

fn email_regex() -> Option<&'static regex::Regex> {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    // A constant pattern, held valid by the unit tests; were it not, nothing would pass.
    RE.get_or_init(|| regex::Regex::new(&email_pattern()).ok())
        .as_ref()
}

/// Checks an address against [`email_pattern`] and its lengths.
pub fn validate_email(field: &str, email: &str) -> Result<(), FieldError> {
    let bad = || FieldError::new(field, "invalid_email", "must be an email address");
    let local = email.split('@').next().unwrap_or_default();
    if email.chars().count() > 254
        || local.chars().count() > 64
        || !email_regex().is_some_and(|re| re.is_match(email))
    {
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
        assert!(email_regex().is_some(), "the pattern compiles");
        for ok in [
            "a@b.co",
            "first.last+tag@mail.example.org",
            "o'brien@x-y.example",
            "a@xn--bcher-kva.de",
            "x@example.xn--p1ai",
            "a!#$%&'*+/=?^_`{|}~-z@d.co",
        ] {
            assert!(validate_email("email", ok).is_ok(), "{ok}");
        }
        for bad in [
            "a",
            "@b.co",
            "a@b",
            "a@.b",
            "a b@c.de",
            "a@b..c",
            "x@ex;<a>.com",
            "x@[1.2.3.4]",
            "x@1.2.3.4",
            ".a@b.co",
            "a.@b.co",
            "a..b@c.co",
            "\"q\"@b.co",
            "ü@bücher.de",
            "a@bücher.de",
            "a@-b.co",
            "a@b-.co",
            "a@b.c",
            "a@b.co.",
            "a@b_c.co",
        ] {
            assert!(validate_email("email", bad).is_err(), "{bad}");
        }
        let long_local = format!("{}@b.co", "a".repeat(65));
        assert!(validate_email("email", &long_local).is_err());
        let long_label = format!("a@{}.co", "b".repeat(64));
        assert!(validate_email("email", &long_label).is_err());
    }
}
