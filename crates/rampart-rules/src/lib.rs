//! The expression language of filters (and, later, record rules).
//!
//! ```text
//! status = "open" && (priority >= 3 || assignee = @user.id)
//! ```
//!
//! Pipeline: [`parse`] text into an [`ast::Expr`] (positions kept for errors) → [`check`] it
//! against a table's schema into a typed [`check::Pred`] that names fields by id → either
//! [`eval`] it over an in-memory record, or [`compile`] it into a parameterized SQL predicate
//! for either dialect. The evaluator and the SQL agree on every input; a property test holds
//! them equal.
//!
//! Semantics (DESIGN.md section 7): two-valued logic — a comparison involving null is false,
//! `!` negates that result, `= null` / `!= null` test for null; `~` is contains with no
//! wildcards, after folding both sides with [`fold`] (Unicode case, any script); text compares
//! by code point; decimals are fixed-scale; date-times are UTC microseconds.

pub mod ast;
pub mod check;
pub mod compile;
pub mod eval;
mod lexer;
pub mod params;
pub mod parser;
pub mod sort;

pub use ast::Expr;
pub use check::{Context, Pred, UserContext, check};
pub use compile::compile;
pub use eval::{RecordView, eval};
pub use parser::{ParseError, parse};

/// How `~` compares text: Unicode's default lowercase mapping (any script: `Ä` → `ä`,
/// `Ё` → `ё`, `ẞ` → `ß`, `İ` → `i̇`), then final sigma as the plain one (`ς` → `σ`, so a
/// word's last letter matches like the others). SQLite runs this very function
/// (`rampart_fold`); PostgreSQL applies the same mapping with ICU's root locale
/// (`lower(… COLLATE "und-x-icu")`, then `translate(…, 'ς', 'σ')`). The two agree on every
/// character both Unicode versions know (the tests hold them equal on many scripts).
pub fn fold(text: &str) -> std::borrow::Cow<'_, str> {
    if text.is_ascii() {
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            return std::borrow::Cow::Owned(text.to_ascii_lowercase());
        }
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(text.to_lowercase().replace('ς', "σ"))
}

/// Longest filter text accepted, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 4096;
/// Deepest nesting of parentheses and operators accepted.
pub const MAX_DEPTH: usize = 32;

#[cfg(test)]
mod fold_tests {
    use super::fold;

    #[test]
    fn case_folds_in_every_script_and_final_sigma_is_plain() {
        assert_eq!(fold("Äbc"), "äbc");
        assert!(fold("Äbc").contains(fold("äB").as_ref()));
        assert_eq!(fold("ЁЛКА"), "ёлка");
        assert_eq!(fold("ΟΔΟΣ"), "οδοσ");
        assert_eq!(fold("οδός"), "οδόσ");
        assert_eq!(fold("ẞ"), "ß");
        assert_eq!(fold("İ"), "i\u{307}");
        assert!(matches!(fold("plain ascii"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(fold("MiXeD"), "mixed");
    }
}
