//! A recursive-descent parser with precedence climbing: `||` < `&&` < `!` < comparisons.

use std::fmt;

use crate::ast::{CmpOp, Expr, Lit, Operand};
use crate::lexer::{Tok, Token, lex};
use crate::{MAX_DEPTH, MAX_EXPRESSION_BYTES};

/// A syntax error at a character position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub position: usize,
    pub message: String,
}

impl ParseError {
    pub fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

impl std::error::Error for ParseError {}

/// Parses an expression.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    if src.len() > MAX_EXPRESSION_BYTES {
        return Err(ParseError::new(
            0,
            format!("longer than {MAX_EXPRESSION_BYTES} bytes"),
        ));
    }
    let tokens = lex(src)?;
    let mut p = Parser {
        tokens,
        i: 0,
        depth: 0,
    };
    if p.peek() == &Tok::Eof {
        return Err(ParseError::new(0, "empty expression"));
    }
    let e = p.or()?;
    if p.peek() != &Tok::Eof {
        return Err(p.unexpected("an operator or the end"));
    }
    Ok(e)
}

struct Parser {
    tokens: Vec<Token>,
    i: usize,
    depth: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("name {s:?}"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Num(n) => format!("number {n}"),
        Tok::Eof => "the end".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.tokens[self.i.min(self.tokens.len() - 1)].tok
    }

    fn pos(&self) -> usize {
        self.tokens[self.i.min(self.tokens.len() - 1)].pos
    }

    fn bump(&mut self) -> Token {
        let t = self.tokens[self.i.min(self.tokens.len() - 1)].clone();
        if self.i < self.tokens.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn unexpected(&self, wanted: &str) -> ParseError {
        ParseError::new(
            self.pos(),
            format!("expected {wanted}, found {}", describe(self.peek())),
        )
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::new(
                self.pos(),
                format!("nested deeper than {MAX_DEPTH}"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        while self.peek() == &Tok::Or {
            self.bump();
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.unary()?;
        while self.peek() == &Tok::And {
            self.bump();
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.peek() == &Tok::Bang {
            let pos = self.bump().pos;
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner), pos));
        }
        if self.peek() == &Tok::LParen {
            self.bump();
            self.enter()?;
            let e = self.or()?;
            self.depth -= 1;
            if self.peek() != &Tok::RParen {
                return Err(self.unexpected("')'"));
            }
            self.bump();
            return Ok(e);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, ParseError> {
        let pos = self.pos();
        // `access via <link field>`: `access` is a keyword only when `via` and a name follow.
        if let (Tok::Ident(a), Some(Tok::Ident(v)), Some(Tok::Ident(_))) = (
            self.peek(),
            self.tokens.get(self.i + 1).map(|t| &t.tok),
            self.tokens.get(self.i + 2).map(|t| &t.tok),
        ) && a == "access"
            && v == "via"
        {
            self.bump();
            self.bump();
            let field = self.name()?;
            return Ok(Expr::AccessVia { field, pos });
        }
        let left = self.operand()?;
        let op = match self.peek() {
            Tok::Eq => CmpOp::Eq,
            Tok::Ne => CmpOp::Ne,
            Tok::Lt => CmpOp::Lt,
            Tok::Le => CmpOp::Le,
            Tok::Gt => CmpOp::Gt,
            Tok::Ge => CmpOp::Ge,
            Tok::Tilde => CmpOp::Contains,
            Tok::NotTilde => CmpOp::NotContains,
            Tok::In => {
                self.bump();
                let haystack = self.operand()?;
                return Ok(Expr::In {
                    needle: left,
                    haystack,
                    pos,
                });
            }
            _ => return Ok(Expr::Bare(left)),
        };
        self.bump();
        let right = self.operand()?;
        Ok(Expr::Cmp {
            left,
            op,
            right,
            pos,
        })
    }

    fn name(&mut self) -> Result<String, ParseError> {
        match self.peek().clone() {
            Tok::Ident(s) => {
                self.bump();
                Ok(s)
            }
            _ => Err(self.unexpected("a name")),
        }
    }

    fn literal(&mut self) -> Result<Option<Lit>, ParseError> {
        let lit = match self.peek().clone() {
            Tok::Str(s) => Lit::Str(s),
            Tok::Num(n) => Lit::Num(n),
            Tok::True => Lit::Bool(true),
            Tok::False => Lit::Bool(false),
            Tok::Null => Lit::Null,
            _ => return Ok(None),
        };
        self.bump();
        Ok(Some(lit))
    }

    fn operand(&mut self) -> Result<Operand, ParseError> {
        let pos = self.pos();
        if let Some(lit) = self.literal()? {
            return Ok(Operand::Lit { lit, pos });
        }
        match self.peek().clone() {
            Tok::At => {
                self.bump();
                let name = self.name()?;
                let attr = if self.peek() == &Tok::Dot {
                    self.bump();
                    Some(self.name()?)
                } else {
                    None
                };
                Ok(Operand::Context { name, attr, pos })
            }
            Tok::LBracket => {
                self.bump();
                let mut items = Vec::new();
                if self.peek() != &Tok::RBracket {
                    loop {
                        let item_pos = self.pos();
                        match self.literal()? {
                            Some(l) => items.push((l, item_pos)),
                            None => return Err(self.unexpected("a literal in the list")),
                        }
                        match self.peek() {
                            Tok::Comma => {
                                self.bump();
                            }
                            Tok::RBracket => break,
                            _ => return Err(self.unexpected("',' or ']'")),
                        }
                    }
                }
                self.bump();
                Ok(Operand::List { items, pos })
            }
            Tok::Ident(_) => {
                let mut segments = vec![self.name()?];
                while self.peek() == &Tok::Dot {
                    self.bump();
                    segments.push(self.name()?);
                }
                Ok(Operand::Path { segments, pos })
            }
            _ => Err(self.unexpected("a field, a value or @user")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_grouping() {
        let e = parse(r#"status = "open" && (priority >= 3 || assignee = @user.id)"#).unwrap();
        assert_eq!(
            e.to_string(),
            r#"status = "open" && (priority >= 3 || assignee = @user.id)"#
        );
        let e = parse("a = 1 || b = 2 && c = 3").unwrap();
        assert_eq!(e.to_string(), "a = 1 || b = 2 && c = 3");
        let e = parse("!a = 1 && `Due date` != null").unwrap();
        assert_eq!(e.to_string(), "!a = 1 && `Due date` != null");
        let e = parse(r#"thread.status in ["a", "b"] && "x" in tags"#).unwrap();
        assert_eq!(
            e.to_string(),
            r#"thread.status in ["a", "b"] && "x" in tags"#
        );
    }

    #[test]
    fn printing_never_nests_deeper_than_the_input() {
        // Found by the fuzzer: 32 negations printed with parentheses nested 33 deep.
        let deep = format!("{}am", "!".repeat(32));
        let e = parse(&deep).unwrap();
        assert_eq!(
            parse(&e.to_string()).unwrap().without_positions(),
            e.without_positions()
        );
        // A long chain of && prints without any parentheses.
        let chain = (0..60)
            .map(|i| format!("a{i} = 1"))
            .collect::<Vec<_>>()
            .join(" && ");
        let e = parse(&chain).unwrap();
        assert_eq!(e.to_string(), chain);
        // Found by the fuzzer: a quoted context name must stay quoted.
        let e = parse("@`#b s` = 1").unwrap();
        assert_eq!(
            parse(&e.to_string()).unwrap().without_positions(),
            e.without_positions()
        );
        let mixed = "a = 1 || (b = 2 || c = 3) && !(d = 4 && e = 5)";
        assert_eq!(parse(mixed).unwrap().to_string(), mixed);
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = parse("a = ").unwrap_err();
        assert_eq!(e.position, 4);
        let e = parse("a = 1 b").unwrap_err();
        assert_eq!(e.position, 6);
        let e = parse("(a = 1").unwrap_err();
        assert!(e.message.contains("')'"), "{e}");
        let e = parse("a = \"x").unwrap_err();
        assert_eq!(e.position, 4);
        assert!(parse("").is_err());
        assert!(parse("a = 1.2.3").is_err());
        assert!(parse(&"(".repeat(100)).is_err());
        assert!(parse(&"!".repeat(100)).is_err());
        assert!(parse("a = 1 ; drop table x").is_err());
    }
}
