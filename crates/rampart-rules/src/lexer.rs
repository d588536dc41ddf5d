//! Tokens with their byte positions.

use crate::parser::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Str(String),
    /// A number as written (`12`, `-3.50`).
    Num(String),
    At,
    Dot,
    Comma,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Tilde,
    NotTilde,
    And,
    Or,
    Bang,
    In,
    True,
    False,
    Null,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    /// Character offset of the token's first character.
    pub pos: usize,
}

/// Splits `src` into tokens. Identifiers are letters, digits and `_` starting with a letter or
/// `_`, or any text between backticks (for names with spaces).
pub fn lex(src: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two = chars.get(i + 1).copied();
        let simple = |tok: Tok, len: usize| (tok, len);
        let (tok, len) = match (c, two) {
            ('&', Some('&')) => simple(Tok::And, 2),
            ('|', Some('|')) => simple(Tok::Or, 2),
            ('!', Some('=')) => simple(Tok::Ne, 2),
            ('!', Some('~')) => simple(Tok::NotTilde, 2),
            ('<', Some('=')) => simple(Tok::Le, 2),
            ('>', Some('=')) => simple(Tok::Ge, 2),
            ('=', Some('=')) => simple(Tok::Eq, 2),
            ('=', _) => simple(Tok::Eq, 1),
            ('<', _) => simple(Tok::Lt, 1),
            ('>', _) => simple(Tok::Gt, 1),
            ('~', _) => simple(Tok::Tilde, 1),
            ('!', _) => simple(Tok::Bang, 1),
            ('@', _) => simple(Tok::At, 1),
            ('.', _) => simple(Tok::Dot, 1),
            (',', _) => simple(Tok::Comma, 1),
            ('(', _) => simple(Tok::LParen, 1),
            (')', _) => simple(Tok::RParen, 1),
            ('[', _) => simple(Tok::LBracket, 1),
            (']', _) => simple(Tok::RBracket, 1),
            ('"', _) => {
                let (s, end) = string(&chars, i)?;
                out.push(Token {
                    tok: Tok::Str(s),
                    pos: start,
                });
                i = end;
                continue;
            }
            ('`', _) => {
                let mut j = i + 1;
                let mut name = String::new();
                while j < chars.len() && chars[j] != '`' {
                    name.push(chars[j]);
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(ParseError::new(start, "unterminated `quoted name`"));
                }
                if name.is_empty() {
                    return Err(ParseError::new(start, "empty `quoted name`"));
                }
                out.push(Token {
                    tok: Tok::Ident(name),
                    pos: start,
                });
                i = j + 1;
                continue;
            }
            (c, next)
                if c.is_ascii_digit() || (c == '-' && next.is_some_and(|n| n.is_ascii_digit())) =>
            {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                    j += 1;
                }
                let text: String = chars[i..j].iter().collect();
                if text.matches('.').count() > 1 || text.ends_with('.') {
                    return Err(ParseError::new(start, format!("malformed number {text:?}")));
                }
                out.push(Token {
                    tok: Tok::Num(text),
                    pos: start,
                });
                i = j;
                continue;
            }
            (c, _) if c.is_alphabetic() || c == '_' => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let word: String = chars[i..j].iter().collect();
                let tok = match word.as_str() {
                    "in" => Tok::In,
                    "true" => Tok::True,
                    "false" => Tok::False,
                    "null" => Tok::Null,
                    _ => Tok::Ident(word),
                };
                out.push(Token { tok, pos: start });
                i = j;
                continue;
            }
            (c, _) => {
                return Err(ParseError::new(
                    start,
                    format!("unexpected character {c:?}"),
                ));
            }
        };
        out.push(Token { tok, pos: start });
        i += len;
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: chars.len(),
    });
    Ok(out)
}

fn string(chars: &[char], start: usize) -> Result<(String, usize), ParseError> {
    let mut s = String::new();
    let mut i = start + 1;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(ParseError::new(start, "unterminated string"));
        };
        match c {
            '"' => return Ok((s, i + 1)),
            '\\' => {
                let esc = chars.get(i + 1).copied();
                match esc {
                    Some('"') => s.push('"'),
                    Some('\\') => s.push('\\'),
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some('u') if chars.get(i + 2) == Some(&'{') => {
                        let close = chars[i + 3..]
                            .iter()
                            .position(|&c| c == '}')
                            .map(|p| i + 3 + p)
                            .ok_or_else(|| ParseError::new(i, "unterminated \\u{...} escape"))?;
                        let hex: String = chars[i + 3..close].iter().collect();
                        let c = u32::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|_| (1..=6).contains(&hex.len()))
                            .and_then(char::from_u32)
                            .filter(|c| *c != '\0')
                            .ok_or_else(|| ParseError::new(i, "invalid \\u{...} escape"))?;
                        s.push(c);
                        i = close + 1;
                        continue;
                    }
                    _ => {
                        return Err(ParseError::new(
                            i,
                            "unknown escape; use \\\" \\\\ \\n \\t \\r or \\u{hex}",
                        ));
                    }
                }
                i += 2;
            }
            c if c.is_control() && c != '\t' => {
                return Err(ParseError::new(i, "control character in string; escape it"));
            }
            c => {
                s.push(c);
                i += 1;
            }
        }
    }
}
