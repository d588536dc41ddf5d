//! JSON Schemas for request values whose rules a plain type does not say: names, emails,
//! roles. The document promises exactly what the handlers accept, so a client (or a fuzzer)
//! that keeps to the schema is never refused for the shape of a value; the patterns are
//! written with explicit character classes so every regex dialect (ECMA, Python, Rust)
//! reads them the same way, and a test holds them equal to `rampart_core::names`.

use serde_json::Value;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

/// Unicode `White_Space` (what `str::trim` removes), listed so no dialect's `\s` decides.
const SPACE: &str = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Unicode `Cc` (what `char::is_control` matches).
const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";

/// Names of projects, tables, groups, passkeys, people: 1 to 64 characters, no control
/// characters, no white space at either end.
pub fn display_name_pattern() -> String {
    format!("^[^{SPACE}{CONTROL}](?:[^{CONTROL}]{{0,62}}[^{SPACE}{CONTROL}])?$")
}

/// An email as `validate_email` takes it (the pattern is `rampart_core`'s; the local part's
/// 64 characters are not in it, and the 254 in all are the schema's `maxLength`).
pub fn email_pattern() -> String {
    rampart_core::names::email_pattern()
}

/// Field names: a letter or `_` first, then letters, digits, `_`, `-` and spaces, not ending
/// in a space. (The names of system fields are refused too, which a pattern does not say.)
pub const FIELD_NAME_PATTERN: &str = r"^[^\W\d](?:[\w \-]{0,62}[\w\-])?$";

/// User attribute names: 1 to 40 of `a-z`, `0-9` and `_`, not starting with a digit.
pub const ATTRIBUTE_NAME_PATTERN: &str = "^[a-z_][a-z0-9_]{0,39}$";

fn string(pattern: String, min: usize, max: usize, nullable: bool) -> Object {
    let ty = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(ty)
        .pattern(Some(pattern))
        .min_length(Some(min))
        .max_length(Some(max))
        .build()
}

fn one_of(values: &[&str], nullable: bool) -> Object {
    let mut choices: Vec<Value> = values.iter().map(|v| Value::from(*v)).collect();
    let ty = if nullable {
        choices.push(Value::Null);
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(ty)
        .enum_values(Some(choices))
        .build()
}

pub fn display_name() -> Object {
    string(display_name_pattern(), 1, 64, false)
}

pub fn display_name_or_null() -> Object {
    string(display_name_pattern(), 1, 64, true)
}

pub fn email() -> Object {
    string(email_pattern(), 3, 254, false)
}

/// A list of domain names (`rampart_core::names::validate_domain`), or null.
pub fn domains_or_null() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(string(rampart_core::names::domain_pattern(), 4, 253, false))
        .build()
}

pub fn field_name() -> Object {
    string(FIELD_NAME_PATTERN.to_owned(), 1, 64, false)
}

pub fn field_name_or_null() -> Object {
    string(FIELD_NAME_PATTERN.to_owned(), 1, 64, true)
}

pub fn attribute_name() -> Object {
    string(ATTRIBUTE_NAME_PATTERN.to_owned(), 1, 40, false)
}

const GLOBAL_ROLES: &[&str] = &["member", "admin", "owner"];
const PROJECT_ROLES: &[&str] = &["viewer", "editor", "admin", "owner"];

pub fn global_role() -> Object {
    one_of(GLOBAL_ROLES, false)
}

pub fn global_role_or_null() -> Object {
    one_of(GLOBAL_ROLES, true)
}

pub fn project_role() -> Object {
    one_of(PROJECT_ROLES, false)
}

const FIELD_KINDS: &[&str] = &[
    "text",
    "long_text",
    "integer",
    "decimal",
    "boolean",
    "date",
    "datetime",
    "single_select",
    "multi_select",
    "email",
    "url",
    "json",
    "link",
    "user",
];

pub fn field_kind() -> Object {
    one_of(FIELD_KINDS, false)
}

pub fn field_kind_or_null() -> Object {
    one_of(FIELD_KINDS, true)
}

/// An object, or null for its default (a field type's options, a set's table grants).
pub fn object_or_null() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .build()
}

/// OpenID Connect client ids: 1 to 255 visible ASCII characters.
pub const CLIENT_ID_PATTERN: &str = r"^[\x21-\x7e]{1,255}$";

/// OAuth scope tokens (RFC 6749 section 3.3): 1 to 64 visible ASCII characters but `"` and `\`.
pub const SCOPE_PATTERN: &str = r"^[\x21\x23-\x5b\x5d-\x7e]{1,64}$";

/// An issuer's URL: `https://`, or `http://` on a loopback host (a URL parser decides the
/// rest, which a pattern does not say).
pub const ISSUER_PATTERN: &str = r"^https?://[\x21-\x7e]+$";

/// Most client secrets are far shorter; some providers issue signed ones of a few hundred bytes.
pub use rampart_app::identity_providers::{MAX_CLIENT_SECRET_CHARS, MAX_ISSUER_CHARS, MAX_SCOPES};

/// A client secret: 1 to 1,024 characters, no control characters.
pub fn client_secret_pattern() -> String {
    format!("^[^{CONTROL}]{{1,{MAX_CLIENT_SECRET_CHARS}}}$")
}

pub fn client_id() -> Object {
    string(CLIENT_ID_PATTERN.to_owned(), 1, 255, false)
}

pub fn client_id_or_null() -> Object {
    string(CLIENT_ID_PATTERN.to_owned(), 1, 255, true)
}

pub fn client_secret() -> Object {
    string(client_secret_pattern(), 1, MAX_CLIENT_SECRET_CHARS, false)
}

pub fn client_secret_or_null() -> Object {
    string(client_secret_pattern(), 1, MAX_CLIENT_SECRET_CHARS, true)
}

pub fn issuer() -> Object {
    string(ISSUER_PATTERN.to_owned(), 8, MAX_ISSUER_CHARS, false)
}

pub fn issuer_or_null() -> Object {
    string(ISSUER_PATTERN.to_owned(), 8, MAX_ISSUER_CHARS, true)
}

/// A list of scopes: distinct scope tokens, 1 to 20 of them (`openid` among them, which a
/// schema does not say).
pub fn scopes_or_null() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(string(SCOPE_PATTERN.to_owned(), 1, 64, false))
        .min_items(Some(1))
        .max_items(Some(MAX_SCOPES))
        .unique_items(true)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_core::field::FieldKind;
    use rampart_core::names::{validate_display_name, validate_email};
    use rampart_core::roles::{GlobalRole, ProjectRole};

    fn regex(pattern: &str) -> regex::Regex {
        regex::Regex::new(pattern).expect("pattern compiles")
    }

    const TRICKY: &[&str] = &[
        "",
        "a",
        " a",
        "a ",
        "\u{3000}a",
        "a\u{2009}",
        "a\u{85}",
        "a b",
        "tab\there",
        "nul\0",
        "\u{9f}x",
        "x\u{7f}",
        "Ünïcode näme",
        "日本語",
        "émoji 🦀",
        "a@b.c",
        "a@@b.c",
        "@b.c",
        "a@b",
        "a@.b.c",
        "a@b.c.",
        "a@b..c",
        "a b@c.d",
        "ü@bücher.de",
        "x@y\u{3000}.z",
    ];

    fn long(n: usize, c: char) -> String {
        std::iter::repeat_n(c, n).collect()
    }

    #[test]
    fn display_name_pattern_is_the_validator() {
        let re = regex(&display_name_pattern());
        let mut cases: Vec<String> = TRICKY.iter().map(|s| (*s).to_owned()).collect();
        cases.extend([long(64, 'é'), long(65, 'é'), format!("{} ", long(63, 'x'))]);
        for case in cases {
            assert_eq!(
                re.is_match(&case),
                validate_display_name("n", &case).is_ok(),
                "{case:?}"
            );
        }
    }

    #[test]
    fn email_pattern_is_the_validator() {
        let re = regex(&email_pattern());
        let mut cases: Vec<String> = TRICKY.iter().map(|s| (*s).to_owned()).collect();
        cases.extend([
            format!("{}@b.c", long(64, 'ä')),
            format!("{}@b.c", long(65, 'a')),
            format!("a@{}.c", long(250, 'b')),
            format!("a@{}.c", long(251, 'b')),
        ]);
        cases.extend(
            [
                "x@ex;<a>.com",
                "x@[1.2.3.4]",
                "a..b@c.de",
                "a.b@c.de",
                "a@b.xn--p1ai",
            ]
            .map(str::to_owned),
        );
        for case in cases {
            let local = case.split('@').next().unwrap_or_default().chars().count();
            let by_pattern = re.is_match(&case) && case.chars().count() <= 254 && local <= 64;
            assert_eq!(by_pattern, validate_email("e", &case).is_ok(), "{case:?}");
        }
    }

    /// The document's bounds on numbers are the ones the handlers check.
    #[test]
    fn numeric_bounds_are_the_handlers() {
        let doc = serde_json::to_value(crate::openapi::document()).unwrap_or_default();
        let schemas = &doc["components"]["schemas"];
        let bounds = |schema: &str, prop: &str| {
            let p = &schemas[schema]["properties"][prop];
            (p["minimum"].as_u64(), p["maximum"].as_u64())
        };
        use crate::rate_limit::RateBudget;
        assert_eq!(
            bounds("RateBudget", "per_minute"),
            (Some(1), Some(u64::from(RateBudget::MAX_PER_MINUTE)))
        );
        assert_eq!(
            bounds("RateBudget", "burst"),
            (Some(1), Some(u64::from(RateBudget::MAX_BURST)))
        );
        assert_eq!(
            bounds("SecuritySettingsIn", "disable_inactive_after_days"),
            (
                Some(0),
                Some(u64::from(rampart_app::settings::MAX_INACTIVE_DAYS))
            )
        );
        let auth = crate::config::AuthConfig::default();
        assert_eq!(
            bounds("CreateTokenIn", "expires_in_days"),
            (Some(1), Some(u64::from(auth.token_max_days)))
        );
        let domains = &schemas["SecuritySettingsIn"]["properties"]["registration_domains"];
        assert_eq!(
            domains["items"]["pattern"].as_str(),
            Some(rampart_core::names::domain_pattern().as_str()),
            "{domains}"
        );
    }

    #[test]
    fn enums_list_every_variant() {
        for v in GLOBAL_ROLES {
            assert!(
                serde_json::from_value::<GlobalRole>(Value::from(*v)).is_ok(),
                "{v}"
            );
        }
        for v in PROJECT_ROLES {
            assert!(
                serde_json::from_value::<ProjectRole>(Value::from(*v)).is_ok(),
                "{v}"
            );
        }
        for v in FIELD_KINDS {
            assert!(
                serde_json::from_value::<FieldKind>(Value::from(*v)).is_ok(),
                "{v}"
            );
        }
        assert_eq!(GLOBAL_ROLES.len(), 3);
        assert_eq!(PROJECT_ROLES.len(), 4);
        assert_eq!(FIELD_KINDS.len(), 14);
    }
}
