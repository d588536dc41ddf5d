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
//! `!` negates that result, `= null` / `!= null` test for null; `~` is case-insensitive
//! (ASCII letters) contains with no wildcards; text compares by code point; decimals are
//! fixed-scale; date-times are UTC microseconds.

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

/// Longest filter text accepted, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 4096;
/// Deepest nesting of parentheses and operators accepted.
pub const MAX_DEPTH: usize = 32;
