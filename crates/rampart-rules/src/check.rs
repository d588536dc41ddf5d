//! Type-checking: resolves names against a table (and, one level deep, the tables its links
//! point at), coerces literals to the field's type and produces a [`Pred`] that names fields
//! by id. Every error carries the character position of the offending part.

use rampart_core::field::{FieldType, SystemField};
use rampart_core::schema::FieldRef;
use rampart_core::value::parse_datetime;
use rampart_core::{
    Decimal, FieldDef, FieldError, FieldId, Invalid, RecordId, TableDef, TableId, UserId, Value,
};

use crate::ast::{CmpOp, Expr, Lit, Operand};

/// Most comparisons in one expression.
pub const MAX_TERMS: usize = 64;

/// A column of a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Col {
    System(SystemField),
    Field(FieldDef),
}

/// What a comparison is made with.
#[derive(Debug, Clone, PartialEq)]
pub enum Rhs {
    Value(Value),
    /// Another column of the same record.
    Col(Col),
    /// A property of the caller, bound when evaluated or compiled.
    Context(ContextAttr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextAttr {
    UserId,
    UserEmail,
    /// The caller's tenant role (`owner`, `admin`, `member`).
    UserRole,
    /// The names of the caller's groups (a list).
    UserGroups,
    /// A custom user attribute, single or multiple.
    Attribute {
        name: String,
        multiple: bool,
    },
}

impl ContextAttr {
    fn is_list(&self) -> bool {
        matches!(
            self,
            Self::UserGroups | Self::Attribute { multiple: true, .. }
        )
    }
}

/// A custom attribute of a tenant's users (`@user.team`, `@user.teams`); values are strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDef {
    pub name: String,
    pub multiple: bool,
}

/// The value of a user attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    One(String),
    Many(Vec<String>),
}

/// How values of a column compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Decimal(u8),
    Bool,
    Date,
    Datetime,
    /// Record ids and users; values are `Value::User`.
    Uuid,
    Choices,
    Json,
    Link,
}

/// A type-checked predicate over a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Pred {
    Const(bool),
    And(Vec<Pred>),
    Or(Vec<Pred>),
    Not(Box<Pred>),
    /// `col op rhs`; `op` is never `Contains`/`NotContains` unless `kind` is `Text`.
    Cmp {
        col: Col,
        op: CmpOp,
        rhs: Rhs,
        kind: Kind,
    },
    /// `col = null` (`null: true`) or `col != null`.
    IsNull {
        col: Col,
        null: bool,
    },
    /// `col in [values]`, values non-null and of the column's kind.
    InList {
        col: Col,
        values: Vec<Value>,
    },
    /// `"choice" in multi_select_col`
    HasChoice {
        col: Col,
        choice: String,
    },
    /// Some record linked through `field` satisfies `inner`.
    Link {
        field: FieldDef,
        target: TableDef,
        inner: Box<Pred>,
    },
    /// The link field holds the record `id`.
    LinksTo {
        field: FieldDef,
        id: RecordId,
    },
    /// `col in @user.<list>`
    InContext {
        col: Col,
        attr: ContextAttr,
    },
    /// `"value" in @user.<list>`: a constant for a given caller.
    ContextHas {
        attr: ContextAttr,
        value: String,
    },
    /// `access via field`: the linked record is accessible for the same operation. Replaced
    /// by the caller's own predicate on the target table (see [`Pred::resolve_access`])
    /// before it is evaluated or compiled; unresolved, it denies.
    AccessVia {
        field: FieldDef,
        target: TableId,
    },
}

impl Pred {
    /// Replaces every `access via` by `Link { inner }`, with `inner` the caller's own
    /// predicate on the target table as `resolve` gives it (`None`: nothing is accessible).
    /// `depth` bounds the chain; a deeper `access via` denies.
    pub fn resolve_access(
        &self,
        depth: usize,
        resolve: &mut dyn FnMut(TableId, usize) -> Option<(TableDef, Pred)>,
    ) -> Pred {
        match self {
            Pred::And(ps) => Pred::And(
                ps.iter()
                    .map(|p| p.resolve_access(depth, resolve))
                    .collect(),
            ),
            Pred::Or(ps) => Pred::Or(
                ps.iter()
                    .map(|p| p.resolve_access(depth, resolve))
                    .collect(),
            ),
            Pred::Not(p) => Pred::Not(Box::new(p.resolve_access(depth, resolve))),
            Pred::Link {
                field,
                target,
                inner,
            } => Pred::Link {
                field: field.clone(),
                target: target.clone(),
                inner: Box::new(inner.resolve_access(depth, resolve)),
            },
            Pred::AccessVia { field, target } => {
                if depth == 0 {
                    return Pred::Const(false);
                }
                match resolve(*target, depth - 1) {
                    Some((table, inner)) => Pred::Link {
                        field: field.clone(),
                        target: table,
                        inner: Box::new(inner),
                    },
                    None => Pred::Const(false),
                }
            }
            other => other.clone(),
        }
    }

    /// Adds, inside every `Link`, the condition `readable` gives for its target table (`None`:
    /// every record of it): a filter through a link then only sees linked records the caller
    /// could read. Rules are not restricted this way (their builder chose what they consult).
    pub fn restrict_links(self, readable: &dyn Fn(TableId) -> Option<Pred>) -> Pred {
        match self {
            Pred::And(ps) => {
                Pred::And(ps.into_iter().map(|p| p.restrict_links(readable)).collect())
            }
            Pred::Or(ps) => Pred::Or(ps.into_iter().map(|p| p.restrict_links(readable)).collect()),
            Pred::Not(p) => Pred::Not(Box::new(p.restrict_links(readable))),
            Pred::Link {
                field,
                target,
                inner,
            } => {
                let inner = match readable(target.id) {
                    None => *inner,
                    Some(only) => Pred::And(vec![*inner, only]),
                };
                Pred::Link {
                    field,
                    target,
                    inner: Box::new(inner),
                }
            }
            other => other,
        }
    }

    /// The tables this predicate delegates to with `access via`.
    pub fn access_targets(&self, out: &mut Vec<TableId>) {
        match self {
            Pred::And(ps) | Pred::Or(ps) => ps.iter().for_each(|p| p.access_targets(out)),
            Pred::Not(p) => p.access_targets(out),
            Pred::Link { inner, .. } => inner.access_targets(out),
            Pred::AccessVia { target, .. } => out.push(*target),
            _ => {}
        }
    }
}

/// The caller, for `@user...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserContext {
    pub id: UserId,
    pub email: String,
    pub role: String,
    pub groups: Vec<String>,
    pub attributes: std::collections::BTreeMap<String, AttrValue>,
}

/// What `@user` means while evaluating or compiling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub user: UserContext,
}

impl Context {
    /// The value of a single attribute (`Null` when the caller has none).
    pub fn value(&self, attr: &ContextAttr) -> Value {
        match attr {
            ContextAttr::UserId => Value::User(self.user.id),
            ContextAttr::UserEmail => Value::Text(self.user.email.clone()),
            ContextAttr::UserRole => Value::Text(self.user.role.clone()),
            ContextAttr::UserGroups | ContextAttr::Attribute { .. } => {
                match self.list(attr).as_slice() {
                    [one] if !attr.is_list() => Value::Text(one.clone()),
                    _ => Value::Null,
                }
            }
        }
    }

    /// The values of a list attribute (or of a single one, as a list of at most one).
    pub fn list(&self, attr: &ContextAttr) -> Vec<String> {
        match attr {
            ContextAttr::UserGroups => self.user.groups.clone(),
            ContextAttr::Attribute { name, .. } => match self.user.attributes.get(name) {
                Some(AttrValue::One(v)) => vec![v.clone()],
                Some(AttrValue::Many(vs)) => vs.clone(),
                None => Vec::new(),
            },
            single => match self.value(single) {
                Value::Text(t) => vec![t],
                _ => Vec::new(),
            },
        }
    }
}

pub fn kind_of_type(ty: &FieldType) -> Kind {
    match ty {
        FieldType::Text(_)
        | FieldType::LongText
        | FieldType::Email
        | FieldType::Url
        | FieldType::SingleSelect(_) => Kind::Text,
        FieldType::Integer(_) => Kind::Int,
        FieldType::Decimal(o) => Kind::Decimal(o.scale),
        FieldType::Boolean => Kind::Bool,
        FieldType::Date => Kind::Date,
        FieldType::Datetime => Kind::Datetime,
        FieldType::MultiSelect(_) => Kind::Choices,
        FieldType::Json => Kind::Json,
        FieldType::Link(_) => Kind::Link,
        FieldType::User => Kind::Uuid,
    }
}

pub fn kind_of(col: &Col) -> Kind {
    match col {
        Col::System(SystemField::Id | SystemField::CreatedBy | SystemField::Owner) => Kind::Uuid,
        Col::System(SystemField::CreatedAt | SystemField::UpdatedAt) => Kind::Datetime,
        Col::System(SystemField::Version) => Kind::Int,
        Col::Field(f) => kind_of_type(&f.field_type),
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Text => "text",
        Kind::Int => "integer",
        Kind::Decimal(_) => "decimal",
        Kind::Bool => "boolean",
        Kind::Date => "date",
        Kind::Datetime => "date-time",
        Kind::Uuid => "id",
        Kind::Choices => "multi select",
        Kind::Json => "json",
        Kind::Link => "link",
    }
}

/// Whether a caller may use a column of a table (see [`Scope::readable`]).
pub type Readable<'a> = &'a dyn Fn(TableId, &Col) -> bool;

/// What an expression may refer to.
pub struct Scope<'a> {
    /// Loads the tables that link fields point at.
    pub tables: &'a dyn Fn(TableId) -> Option<TableDef>,
    /// Whether the caller may use a column of a table: the table the expression is about, or
    /// one a link leads to (a table they may not read has no usable column at all, system
    /// columns included). A column they may not use is reported exactly as one that does not
    /// exist, before anything else about it is looked at. `None` allows every column.
    pub readable: Option<Readable<'a>>,
    /// The tenant's custom user attributes.
    pub attributes: &'a [AttributeDef],
    /// Record rules may use `access via`; filters may not.
    pub rule: bool,
}

impl std::fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("rule", &self.rule)
            .finish_non_exhaustive()
    }
}

struct Checker<'a> {
    field: &'a str,
    table: &'a TableDef,
    scope: &'a Scope<'a>,
    terms: usize,
}

/// Where a path leads: a column of this record, or of a record linked through `via`.
struct Resolved {
    via: Option<(FieldDef, TableDef)>,
    col: Col,
}

/// Type-checks `expr` against `table` in `scope`. `field` names the input in errors (for
/// example `filter`).
pub fn check(
    expr: &Expr,
    table: &TableDef,
    scope: &Scope<'_>,
    field: &str,
) -> Result<Pred, Invalid> {
    let mut c = Checker {
        field,
        table,
        scope,
        terms: 0,
    };
    c.expr(expr).map_err(Invalid::from)
}

impl Checker<'_> {
    fn err(&self, pos: usize, code: &'static str, message: impl Into<String>) -> FieldError {
        FieldError::new(self.field, code, message).at(pos)
    }

    fn term(&mut self, pos: usize) -> Result<(), FieldError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(self.err(
                pos,
                "too_complex",
                format!("more than {MAX_TERMS} comparisons"),
            ));
        }
        Ok(())
    }

    fn expr(&mut self, e: &Expr) -> Result<Pred, FieldError> {
        Ok(match e {
            Expr::And(a, b) => {
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                let mut parts = Vec::new();
                for p in [a, b] {
                    match p {
                        Pred::And(inner) => parts.extend(inner),
                        other => parts.push(other),
                    }
                }
                Pred::And(parts)
            }
            Expr::Or(a, b) => {
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                let mut parts = Vec::new();
                for p in [a, b] {
                    match p {
                        Pred::Or(inner) => parts.extend(inner),
                        other => parts.push(other),
                    }
                }
                Pred::Or(parts)
            }
            Expr::Not(inner, _) => Pred::Not(Box::new(self.expr(inner)?)),
            Expr::AccessVia { field, pos } => {
                self.term(*pos)?;
                if !self.scope.rule {
                    return Err(self.err(
                        *pos,
                        "unsupported_operator",
                        "access via is for record rules",
                    ));
                }
                match self.resolve_in(self.table, field, *pos)? {
                    Col::Field(f) => match &f.field_type {
                        FieldType::Link(o) => Pred::AccessVia {
                            target: o.table_id,
                            field: f.clone(),
                        },
                        _ => {
                            return Err(self.err(
                                *pos,
                                "type_mismatch",
                                format!("{field:?} is not a link field"),
                            ));
                        }
                    },
                    Col::System(_) => {
                        return Err(self.err(
                            *pos,
                            "type_mismatch",
                            format!("{field:?} is not a link field"),
                        ));
                    }
                }
            }
            Expr::Bare(op) => {
                self.term(op.pos())?;
                let Operand::Path { segments, pos } = op else {
                    return Err(self.err(op.pos(), "type_mismatch", "expected a comparison"));
                };
                let r = self.path(segments, *pos)?;
                if kind_of(&r.col) != Kind::Bool {
                    return Err(self.err(
                        *pos,
                        "type_mismatch",
                        "only a boolean field stands alone; compare the others",
                    ));
                }
                self.wrap(
                    r.via,
                    Pred::Cmp {
                        col: r.col,
                        op: CmpOp::Eq,
                        rhs: Rhs::Value(Value::Boolean(true)),
                        kind: Kind::Bool,
                    },
                )
            }
            Expr::Cmp {
                left,
                op,
                right,
                pos,
            } => {
                self.term(*pos)?;
                self.comparison(left, *op, right, *pos)?
            }
            Expr::In {
                needle,
                haystack,
                pos,
            } => {
                self.term(*pos)?;
                self.membership(needle, haystack, *pos)?
            }
        })
    }

    fn wrap(&self, via: Option<(FieldDef, TableDef)>, p: Pred) -> Pred {
        match via {
            Some((field, target)) => Pred::Link {
                field,
                target,
                inner: Box::new(p),
            },
            None => p,
        }
    }

    /// A name, or `#<field id>` as stored rules write it. A field the caller may not read is
    /// unknown, with the very error a missing field gets.
    fn resolve_in(&self, table: &TableDef, name: &str, pos: usize) -> Result<Col, FieldError> {
        let unknown = || self.err(pos, "unknown_field", format!("no field named {name:?}"));
        let found = match name.strip_prefix('#') {
            Some(id) => id
                .parse::<FieldId>()
                .ok()
                .and_then(|id| table.field(id))
                .map(|f| Col::Field(f.clone())),
            None => match table.resolve(name) {
                Some(FieldRef::System(s)) => Some(Col::System(s)),
                Some(FieldRef::User(f)) => Some(Col::Field(f.clone())),
                None => None,
            },
        };
        match found {
            Some(col) if self.scope.readable.is_some_and(|ok| !ok(table.id, &col)) => {
                Err(unknown())
            }
            Some(col) => Ok(col),
            None => Err(unknown()),
        }
    }

    fn path(&self, segments: &[String], pos: usize) -> Result<Resolved, FieldError> {
        match segments {
            [name] => Ok(Resolved {
                via: None,
                col: self.resolve_in(self.table, name, pos)?,
            }),
            [link, name] => {
                let Col::Field(f) = self.resolve_in(self.table, link, pos)? else {
                    return Err(self.err(
                        pos,
                        "type_mismatch",
                        format!("{link:?} is not a link field"),
                    ));
                };
                let FieldType::Link(o) = &f.field_type else {
                    return Err(self.err(
                        pos,
                        "type_mismatch",
                        format!("{link:?} is not a link field"),
                    ));
                };
                let target = (self.scope.tables)(o.table_id).ok_or_else(|| {
                    self.err(pos, "unknown_field", "the linked table no longer exists")
                })?;
                let col = self.resolve_in(&target, name, pos)?;
                if kind_of(&col) == Kind::Link {
                    return Err(self.err(pos, "too_deep", "links are followed one level deep"));
                }
                Ok(Resolved {
                    via: Some((f, target)),
                    col,
                })
            }
            _ => Err(self.err(pos, "too_deep", "links are followed one level deep")),
        }
    }

    fn context(
        &self,
        name: &str,
        attr: Option<&str>,
        pos: usize,
    ) -> Result<(ContextAttr, Kind), FieldError> {
        let unknown = |what: String| self.err(pos, "unknown_attribute", what);
        if name != "user" {
            return Err(unknown(format!("unknown @{name}")));
        }
        match attr {
            Some("id") => Ok((ContextAttr::UserId, Kind::Uuid)),
            Some("email") => Ok((ContextAttr::UserEmail, Kind::Text)),
            Some("role") => Ok((ContextAttr::UserRole, Kind::Text)),
            Some("groups") => Ok((ContextAttr::UserGroups, Kind::Text)),
            Some(other) => match self.scope.attributes.iter().find(|a| a.name == other) {
                Some(a) => Ok((
                    ContextAttr::Attribute {
                        name: a.name.clone(),
                        multiple: a.multiple,
                    },
                    Kind::Text,
                )),
                None => Err(unknown(format!(
                    "@user has id, email, role, groups and the tenant's attributes; not {other:?}"
                ))),
            },
            None => Err(unknown(
                "use @user.id, @user.email, @user.role, @user.groups or an attribute".into(),
            )),
        }
    }

    /// Coerces a literal to a column's kind.
    fn literal(&self, col: &Col, lit: &Lit, pos: usize) -> Result<Value, FieldError> {
        let kind = kind_of(col);
        let mismatch = |what: &str| {
            self.err(
                pos,
                "type_mismatch",
                format!("expected {what} for a {} field", kind_name(kind)),
            )
        };
        match (kind, lit) {
            (Kind::Text, Lit::Str(s)) => {
                if let Col::Field(FieldDef {
                    field_type: FieldType::SingleSelect(o),
                    ..
                }) = col
                    && !o.choices.iter().any(|c| c == s)
                {
                    return Err(self.err(
                        pos,
                        "invalid_value",
                        format!("{s:?} is not one of the field's choices"),
                    ));
                }
                Ok(Value::Text(s.clone()))
            }
            (Kind::Text, _) => Err(mismatch("a string")),
            (Kind::Int, Lit::Num(n)) => n.parse::<i64>().map(Value::Integer).map_err(|_| {
                self.err(
                    pos,
                    "invalid_value",
                    format!("{n} is not an integer in range"),
                )
            }),
            (Kind::Int, _) => Err(mismatch("an integer")),
            (Kind::Decimal(scale), Lit::Num(n)) => {
                Decimal::parse(n, scale).map(Value::Decimal).map_err(|_| {
                    self.err(
                        pos,
                        "invalid_value",
                        format!("{n} is not a decimal with at most {scale} fraction digits"),
                    )
                })
            }
            (Kind::Decimal(_), _) => Err(mismatch("a number")),
            (Kind::Bool, Lit::Bool(b)) => Ok(Value::Boolean(*b)),
            (Kind::Bool, _) => Err(mismatch("true or false")),
            (Kind::Date, Lit::Str(s)) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Value::Date)
                .map_err(|_| self.err(pos, "invalid_value", "expected a date as \"YYYY-MM-DD\"")),
            (Kind::Date, _) => Err(mismatch("a date string")),
            (Kind::Datetime, Lit::Str(s)) => {
                parse_datetime(s).map(Value::Datetime).ok_or_else(|| {
                    self.err(
                        pos,
                        "invalid_value",
                        "expected an RFC 3339 date-time with offset",
                    )
                })
            }
            (Kind::Datetime, _) => Err(mismatch("a date-time string")),
            (Kind::Uuid, Lit::Str(s)) => uuid::Uuid::try_parse(s)
                .map(|u| Value::User(UserId(u)))
                .map_err(|_| self.err(pos, "invalid_value", "expected an id")),
            (Kind::Uuid, _) => Err(mismatch("an id string")),
            (Kind::Choices | Kind::Json | Kind::Link, _) => Err(self.err(
                pos,
                "unsupported_operator",
                format!("a {} field can only be compared with null", kind_name(kind)),
            )),
        }
    }

    fn comparison(
        &mut self,
        left: &Operand,
        op: CmpOp,
        right: &Operand,
        pos: usize,
    ) -> Result<Pred, FieldError> {
        // Put the field on the left: `3 < n` is `n > 3`.
        let (left, op, right) = match (left, right) {
            (Operand::Path { .. }, _) => (left, op, right),
            (_, Operand::Path { .. }) => {
                let mirrored = match op {
                    CmpOp::Lt => CmpOp::Gt,
                    CmpOp::Le => CmpOp::Ge,
                    CmpOp::Gt => CmpOp::Lt,
                    CmpOp::Ge => CmpOp::Le,
                    CmpOp::Eq | CmpOp::Ne => op,
                    CmpOp::Contains | CmpOp::NotContains => {
                        return Err(self.err(
                            pos,
                            "unsupported_operator",
                            "write the field on the left of ~",
                        ));
                    }
                };
                (right, mirrored, left)
            }
            _ => return Err(self.err(pos, "type_mismatch", "a comparison needs a field")),
        };
        let Operand::Path {
            segments,
            pos: lpos,
        } = left
        else {
            return Err(self.err(pos, "type_mismatch", "a comparison needs a field"));
        };
        let r = self.path(segments, *lpos)?;
        let kind = kind_of(&r.col);
        let rpos = right.pos();

        if let Operand::Lit { lit: Lit::Null, .. } = right {
            return match op {
                CmpOp::Eq | CmpOp::Ne => Ok(self.null_check(r, op == CmpOp::Eq)),
                _ => Err(self.err(
                    rpos,
                    "unsupported_operator",
                    "null is compared with = or != only",
                )),
            };
        }
        self.encrypted_equality(&r.col, op, right, pos)?;
        if kind == Kind::Link {
            let Col::Field(f) = &r.col else {
                return Err(self.err(pos, "type_mismatch", "a link is a user field"));
            };
            return match (op, right) {
                (
                    CmpOp::Eq,
                    Operand::Lit {
                        lit: Lit::Str(s), ..
                    },
                ) => {
                    let id = s
                        .parse::<RecordId>()
                        .map_err(|_| self.err(rpos, "invalid_value", "expected a record id"))?;
                    Ok(Pred::LinksTo {
                        field: f.clone(),
                        id,
                    })
                }
                _ => Err(self.err(
                    pos,
                    "unsupported_operator",
                    "a link is compared with null, or with = \"<record id>\"",
                )),
            };
        }
        let allowed = match op {
            CmpOp::Eq | CmpOp::Ne => !matches!(kind, Kind::Choices | Kind::Json),
            CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
                matches!(
                    kind,
                    Kind::Text | Kind::Int | Kind::Decimal(_) | Kind::Date | Kind::Datetime
                )
            }
            CmpOp::Contains | CmpOp::NotContains => kind == Kind::Text,
        };
        if !allowed {
            return Err(self.err(
                pos,
                "unsupported_operator",
                format!(
                    "{} is not defined for a {} field",
                    op.symbol(),
                    kind_name(kind)
                ),
            ));
        }
        let rhs = match right {
            Operand::Lit { lit, pos } => Rhs::Value(self.literal(&r.col, lit, *pos)?),
            Operand::Context { name, attr, pos } => {
                let (attr, k) = self.context(name, attr.as_deref(), *pos)?;
                if attr.is_list() {
                    return Err(self.err(
                        *pos,
                        "type_mismatch",
                        format!("@{name} holds several values; use `in`"),
                    ));
                }
                if k != kind {
                    return Err(self.err(
                        *pos,
                        "type_mismatch",
                        format!("@{name} is not comparable with a {} field", kind_name(kind)),
                    ));
                }
                Rhs::Context(attr)
            }
            Operand::Path { segments, pos } => {
                let other = self.path(segments, *pos)?;
                let same_level = match (&r.via, &other.via) {
                    (None, None) => true,
                    (Some((a, _)), Some((b, _))) => a.id == b.id,
                    _ => false,
                };
                if !same_level || other.via.is_some() {
                    return Err(self.err(
                        *pos,
                        "unsupported_operator",
                        "fields are compared within one record only",
                    ));
                }
                let ok = kind_of(&other.col) == kind
                    || matches!((kind, kind_of(&other.col)), (Kind::Decimal(a), Kind::Decimal(b)) if a == b);
                if !ok {
                    return Err(self.err(
                        *pos,
                        "type_mismatch",
                        "the two fields have different types",
                    ));
                }
                Rhs::Col(other.col)
            }
            Operand::List { pos, .. } => {
                return Err(self.err(*pos, "type_mismatch", "use `in` with a list"));
            }
        };
        let rhs = match (op, rhs) {
            // Folded once here; folding is idempotent, so the evaluator and SQL fold it again
            // harmlessly.
            (CmpOp::Contains | CmpOp::NotContains, Rhs::Value(Value::Text(s))) => {
                Rhs::Value(Value::Text(crate::fold(&s).into_owned()))
            }
            (CmpOp::Contains | CmpOp::NotContains, _) => {
                return Err(self.err(rpos, "type_mismatch", "~ takes a string"));
            }
            (_, rhs) => rhs,
        };
        Ok(self.wrap(
            r.via,
            Pred::Cmp {
                col: r.col,
                op,
                rhs,
                kind,
            },
        ))
    }

    /// An encrypted field can be compared only for equality with a value (through its blind
    /// index), or with null; nothing else about its values reaches SQL.
    fn encrypted_equality(
        &self,
        col: &Col,
        op: CmpOp,
        right: &Operand,
        pos: usize,
    ) -> Result<(), FieldError> {
        let Col::Field(f) = col else {
            return Ok(());
        };
        if !f.encrypted {
            return Ok(());
        }
        if f.blind_index.is_none() {
            return Err(self.err(
                pos,
                "encrypted_field",
                format!(
                    "{} is encrypted without a blind index: it can only be compared with null",
                    f.name
                ),
            ));
        }
        let equality = matches!(op, CmpOp::Eq | CmpOp::Ne);
        let with_value = matches!(
            right,
            Operand::Lit { .. } | Operand::Context { .. } | Operand::List { .. }
        );
        if equality && with_value {
            Ok(())
        } else {
            Err(self.err(
                pos,
                "encrypted_field",
                format!(
                    "{} is encrypted: it is compared only with =, != or `in` against values",
                    f.name
                ),
            ))
        }
    }

    fn null_check(&self, r: Resolved, null: bool) -> Pred {
        match r.via {
            // `link.f = null`: some linked record has no f.
            Some((field, target)) => Pred::Link {
                field,
                target,
                inner: Box::new(Pred::IsNull { col: r.col, null }),
            },
            None => Pred::IsNull { col: r.col, null },
        }
    }

    fn membership(
        &mut self,
        needle: &Operand,
        haystack: &Operand,
        pos: usize,
    ) -> Result<Pred, FieldError> {
        match (needle, haystack) {
            (Operand::Path { segments, pos: p }, Operand::List { items, .. }) => {
                let r = self.path(segments, *p)?;
                self.encrypted_equality(&r.col, CmpOp::Eq, haystack, pos)?;
                let kind = kind_of(&r.col);
                if matches!(kind, Kind::Choices | Kind::Json | Kind::Link | Kind::Bool)
                    && !items.is_empty()
                {
                    return Err(self.err(
                        pos,
                        "unsupported_operator",
                        format!("`in` is not defined for a {} field", kind_name(kind)),
                    ));
                }
                let mut values = Vec::with_capacity(items.len());
                for (lit, ipos) in items {
                    if *lit == Lit::Null {
                        return Err(self.err(*ipos, "invalid_value", "null is tested with = null"));
                    }
                    values.push(self.literal(&r.col, lit, *ipos)?);
                }
                if values.is_empty() {
                    return Ok(Pred::Const(false));
                }
                Ok(self.wrap(r.via, Pred::InList { col: r.col, values }))
            }
            (
                Operand::Lit {
                    lit: Lit::Str(s),
                    pos: lpos,
                },
                Operand::Path { segments, pos: p },
            ) => {
                let r = self.path(segments, *p)?;
                let Col::Field(FieldDef {
                    field_type: FieldType::MultiSelect(o),
                    ..
                }) = &r.col
                else {
                    return Err(self.err(
                        *p,
                        "type_mismatch",
                        "\"value\" in field needs a multi select field",
                    ));
                };
                if !o.choices.iter().any(|c| c == s) {
                    return Err(self.err(
                        *lpos,
                        "invalid_value",
                        format!("{s:?} is not one of the field's choices"),
                    ));
                }
                let choice = s.clone();
                Ok(self.wrap(r.via, Pred::HasChoice { col: r.col, choice }))
            }
            (Operand::Path { segments, pos: p }, Operand::Context { name, attr, pos: cpos }) => {
                let r = self.path(segments, *p)?;
                self.encrypted_equality(&r.col, CmpOp::Eq, haystack, pos)?;
                let (attr, _) = self.context(name, attr.as_deref(), *cpos)?;
                if kind_of(&r.col) != Kind::Text {
                    return Err(self.err(*p, "type_mismatch", "only text fields are compared with @user lists"));
                }
                Ok(self.wrap(r.via, Pred::InContext { col: r.col, attr }))
            }
            (Operand::Lit { lit: Lit::Str(s), .. }, Operand::Context { name, attr, pos: cpos }) => {
                let (attr, _) = self.context(name, attr.as_deref(), *cpos)?;
                Ok(Pred::ContextHas { attr, value: s.clone() })
            }
            _ => Err(self.err(
                pos,
                "type_mismatch",
                "use `field in [values]`, `field in @user.list`, `\"value\" in @user.list` or `\"choice\" in multi_select_field`",
            )),
        }
    }
}
