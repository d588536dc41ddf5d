//! The syntax tree, as written (names, not ids), with character positions for errors.
//! `Display` prints a canonical form that parses back to the same tree.

use std::fmt;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `~`: contains, ASCII case-insensitive, no wildcards.
    Contains,
    /// `!~`
    NotContains,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Contains => "~",
            Self::NotContains => "!~",
        }
    }
}

/// A literal value as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    /// A number as written: an integer or a decimal.
    Num(String),
    Bool(bool),
    Null,
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `field` or `link.field` (one level of link traversal).
    Path {
        segments: Vec<String>,
        pos: usize,
    },
    /// `@user` or `@user.attribute`.
    Context {
        name: String,
        attr: Option<String>,
        pos: usize,
    },
    Lit {
        lit: Lit,
        pos: usize,
    },
    List {
        items: Vec<(Lit, usize)>,
        pos: usize,
    },
}

impl Operand {
    pub fn pos(&self) -> usize {
        match self {
            Self::Path { pos, .. }
            | Self::Context { pos, .. }
            | Self::Lit { pos, .. }
            | Self::List { pos, .. } => *pos,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>, usize),
    Cmp {
        left: Operand,
        op: CmpOp,
        right: Operand,
        pos: usize,
    },
    /// `needle in haystack`
    In {
        needle: Operand,
        haystack: Operand,
        pos: usize,
    },
    /// A bare operand, such as a boolean field: `is_published`.
    Bare(Operand),
    /// `access via thread`: the record is accessible when the record its link field `thread`
    /// points to is (record rules only).
    AccessVia {
        field: String,
        pos: usize,
    },
}

impl Expr {
    /// Rewrites every field name in the tree (paths and `access via`), e.g. between the names
    /// people write and the `#<field id>` form rules are stored in.
    pub fn map_names(&self, f: &mut dyn FnMut(usize, &str) -> Option<String>) -> Expr {
        fn op(
            o: &Operand,
            depth: usize,
            f: &mut dyn FnMut(usize, &str) -> Option<String>,
        ) -> Operand {
            match o {
                Operand::Path { segments, pos } => Operand::Path {
                    segments: segments
                        .iter()
                        .enumerate()
                        .map(|(i, s)| f(depth + i, s).unwrap_or_else(|| s.clone()))
                        .collect(),
                    pos: *pos,
                },
                other => other.clone(),
            }
        }
        match self {
            Expr::And(a, b) => Expr::And(Box::new(a.map_names(f)), Box::new(b.map_names(f))),
            Expr::Or(a, b) => Expr::Or(Box::new(a.map_names(f)), Box::new(b.map_names(f))),
            Expr::Not(e, p) => Expr::Not(Box::new(e.map_names(f)), *p),
            Expr::Cmp {
                left,
                op: o,
                right,
                pos,
            } => Expr::Cmp {
                left: op(left, 0, f),
                op: *o,
                right: op(right, 0, f),
                pos: *pos,
            },
            Expr::In {
                needle,
                haystack,
                pos,
            } => Expr::In {
                needle: op(needle, 0, f),
                haystack: op(haystack, 0, f),
                pos: *pos,
            },
            Expr::Bare(o) => Expr::Bare(op(o, 0, f)),
            Expr::AccessVia { field, pos } => Expr::AccessVia {
                field: f(0, field).unwrap_or_else(|| field.clone()),
                pos: *pos,
            },
        }
    }

    /// The same tree with every position set to zero, for comparing trees.
    pub fn without_positions(&self) -> Expr {
        fn op(o: &Operand) -> Operand {
            match o {
                Operand::Path { segments, .. } => Operand::Path {
                    segments: segments.clone(),
                    pos: 0,
                },
                Operand::Context { name, attr, .. } => Operand::Context {
                    name: name.clone(),
                    attr: attr.clone(),
                    pos: 0,
                },
                Operand::Lit { lit, .. } => Operand::Lit {
                    lit: lit.clone(),
                    pos: 0,
                },
                Operand::List { items, .. } => Operand::List {
                    items: items.iter().map(|(l, _)| (l.clone(), 0)).collect(),
                    pos: 0,
                },
            }
        }
        match self {
            Expr::And(a, b) => Expr::And(
                Box::new(a.without_positions()),
                Box::new(b.without_positions()),
            ),
            Expr::Or(a, b) => Expr::Or(
                Box::new(a.without_positions()),
                Box::new(b.without_positions()),
            ),
            Expr::Not(e, _) => Expr::Not(Box::new(e.without_positions()), 0),
            Expr::Cmp {
                left, op: o, right, ..
            } => Expr::Cmp {
                left: op(left),
                op: *o,
                right: op(right),
                pos: 0,
            },
            Expr::In {
                needle, haystack, ..
            } => Expr::In {
                needle: op(needle),
                haystack: op(haystack),
                pos: 0,
            },
            Expr::Bare(o) => Expr::Bare(op(o)),
            Expr::AccessVia { field, .. } => Expr::AccessVia {
                field: field.clone(),
                pos: 0,
            },
        }
    }
}

fn is_plain_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
        && !matches!(s, "in" | "true" | "false" | "null")
}

fn write_name(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    if is_plain_ident(name) {
        f.write_str(name)
    } else {
        write!(f, "`{name}`")
    }
}

impl fmt::Display for Lit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lit::Str(s) => {
                f.write_str("\"")?;
                for c in s.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        '\t' => f.write_str("\\t")?,
                        '\r' => f.write_str("\\r")?,
                        c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("\"")
            }
            Lit::Num(n) => f.write_str(n),
            Lit::Bool(b) => write!(f, "{b}"),
            Lit::Null => f.write_str("null"),
        }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Path { segments, .. } => {
                for (i, s) in segments.iter().enumerate() {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    write_name(f, s)?;
                }
                Ok(())
            }
            Operand::Context { name, attr, .. } => {
                f.write_str("@")?;
                write_name(f, name)?;
                if let Some(a) = attr {
                    f.write_str(".")?;
                    write_name(f, a)?;
                }
                Ok(())
            }
            Operand::Lit { lit, .. } => write!(f, "{lit}"),
            Operand::List { items, .. } => {
                f.write_str("[")?;
                for (i, (l, _)) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{l}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// Binding strength: `||` < `&&` < `!` and comparisons.
fn precedence(e: &Expr) -> u8 {
    match e {
        Expr::Or(..) => 1,
        Expr::And(..) => 2,
        _ => 3,
    }
}

/// Writes `e`, in parentheses when it binds more loosely than `min` requires.
fn write_operand(f: &mut fmt::Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    if precedence(e) < min {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

/// The canonical form: parentheses only where precedence needs them, so printing never nests
/// deeper than the text it came from and always parses back to the same tree.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Both operators associate to the left: a right operand of the same kind needs
            // parentheses, a left one does not.
            Expr::Or(a, b) => {
                write_operand(f, a, 1)?;
                f.write_str(" || ")?;
                write_operand(f, b, 2)
            }
            Expr::And(a, b) => {
                write_operand(f, a, 2)?;
                f.write_str(" && ")?;
                write_operand(f, b, 3)
            }
            Expr::Not(e, _) => {
                f.write_str("!")?;
                write_operand(f, e, 3)
            }
            Expr::Cmp {
                left, op, right, ..
            } => write!(f, "{left} {} {right}", op.symbol()),
            Expr::In {
                needle, haystack, ..
            } => write!(f, "{needle} in {haystack}"),
            Expr::Bare(o) => write!(f, "{o}"),
            Expr::AccessVia { field, .. } => {
                f.write_str("access via ")?;
                write_name(f, field)
            }
        }
    }
}
