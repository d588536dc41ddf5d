//! Compiles a [`Pred`] into a SQL predicate over the record table aliased `t`, for either
//! dialect. Values (literals and `@user` attributes) are bound parameters; columns are the
//! fields' internal names.
//!
//! Two-valued logic in SQL: in a positive position, SQL's NULL already behaves as false
//! (`NULL OR x = x`, `NULL AND x` is never true), so comparisons stay plain and indexable.
//! Under `!`, a sub-predicate is compiled in its two-valued form (`COALESCE(c, FALSE)`,
//! `EXISTS`), so that `!(status = "open")` is true where status is null, as the evaluator says.

use rampart_core::field::SystemField;
use rampart_sql::{Dialect, Ident, InvalidIdent, Param, Sql};

use crate::ast::CmpOp;
use crate::check::{Col, Context, Pred, Rhs};
use crate::params::value_param;

/// Compiles `pred` for the caller in `ctx`, over the table aliased `t`.
pub fn compile(pred: &Pred, ctx: &Context, dialect: Dialect) -> Result<Sql, InvalidIdent> {
    let mut sql = Sql::new(dialect);
    let c = Compiler {
        ctx,
        alias: Ident::new("t")?,
        depth: 0,
    };
    c.positive(pred, &mut sql)?;
    Ok(sql)
}

struct Compiler<'a> {
    ctx: &'a Context,
    alias: Ident,
    /// How many links deep this record is (aliases of nested links must differ).
    depth: usize,
}

fn system_column(f: SystemField) -> &'static str {
    match f {
        SystemField::Id => "id",
        SystemField::CreatedAt => "created_at",
        SystemField::UpdatedAt => "updated_at",
        SystemField::CreatedBy => "created_by",
        SystemField::Owner => "owner",
        SystemField::Version => "version",
    }
}

impl Compiler<'_> {
    /// Aliases for a link table and its target one level below this record.
    fn link_aliases(&self) -> Result<(Ident, Ident), InvalidIdent> {
        Ok((
            Ident::new(format!("lk{}", self.depth + 1))?,
            Ident::new(format!("rk{}", self.depth + 1))?,
        ))
    }

    fn col(&self, col: &Col, sql: &mut Sql) -> Result<(), InvalidIdent> {
        let name = match col {
            Col::System(s) => Ident::new(system_column(*s))?,
            Col::Field(f) => Ident::new(f.column.clone())?,
        };
        sql.column(&self.alias, &name);
        Ok(())
    }

    fn rhs(&self, rhs: &Rhs, sql: &mut Sql) -> Result<(), InvalidIdent> {
        match rhs {
            Rhs::Value(v) => {
                sql.param(value_param(v));
            }
            Rhs::Col(c) => self.col(c, sql)?,
            Rhs::Context(a) => {
                sql.param(value_param(&self.ctx.value(a)));
            }
        }
        Ok(())
    }

    fn join(
        &self,
        parts: &[Pred],
        sep: &'static str,
        empty: &'static str,
        two_valued: bool,
        sql: &mut Sql,
    ) -> Result<(), InvalidIdent> {
        if parts.is_empty() {
            sql.push(empty);
            return Ok(());
        }
        sql.push("(");
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                sql.push(sep);
            }
            if two_valued {
                self.two_valued(p, sql)?;
            } else {
                self.positive(p, sql)?;
            }
        }
        sql.push(")");
        Ok(())
    }

    /// A predicate where NULL may stand for false.
    fn positive(&self, pred: &Pred, sql: &mut Sql) -> Result<(), InvalidIdent> {
        match pred {
            Pred::And(ps) => self.join(ps, " AND ", "TRUE", false, sql),
            Pred::Or(ps) => self.join(ps, " OR ", "FALSE", false, sql),
            Pred::Not(p) => {
                sql.push("NOT ");
                self.two_valued(p, sql)
            }
            Pred::Cmp { .. } | Pred::InList { .. } => self.raw(pred, sql),
            _ => self.two_valued(pred, sql),
        }
    }

    /// A predicate that is never NULL.
    fn two_valued(&self, pred: &Pred, sql: &mut Sql) -> Result<(), InvalidIdent> {
        match pred {
            Pred::Const(true) => {
                sql.push("TRUE");
            }
            Pred::Const(false) => {
                sql.push("FALSE");
            }
            Pred::And(ps) => self.join(ps, " AND ", "TRUE", true, sql)?,
            Pred::Or(ps) => self.join(ps, " OR ", "FALSE", true, sql)?,
            Pred::Not(p) => {
                sql.push("(NOT ");
                self.two_valued(p, sql)?;
                sql.push(")");
            }
            Pred::Cmp { .. } | Pred::InList { .. } => {
                sql.push("COALESCE(");
                self.raw(pred, sql)?;
                sql.push(", FALSE)");
            }
            Pred::IsNull {
                col: Col::Field(f),
                null,
            } if matches!(f.field_type, rampart_core::FieldType::Link(_)) => {
                sql.push(if *null {
                    "(NOT EXISTS (SELECT 1 FROM "
                } else {
                    "(EXISTS (SELECT 1 FROM "
                })
                .ident(&Ident::new(f.column.clone())?)
                .push(" ")
                .ident(&self.link_aliases()?.0)
                .push(" WHERE ")
                .column(&self.link_aliases()?.0, &Ident::new("src")?)
                .push(" = ")
                .column(&self.alias, &Ident::new("id")?)
                .push("))");
            }
            Pred::IsNull { col, null } => {
                sql.push("(");
                self.col(col, sql)?;
                sql.push(if *null { " IS NULL)" } else { " IS NOT NULL)" });
            }
            Pred::HasChoice { col, choice } => match sql.dialect() {
                Dialect::Sqlite => {
                    sql.push("EXISTS (SELECT 1 FROM json_each(");
                    self.col(col, sql)?;
                    sql.push(") je WHERE je.value = ")
                        .param(Param::Text(choice.clone()))
                        .push(")");
                }
                Dialect::Postgres => {
                    sql.push("COALESCE(");
                    self.col(col, sql)?;
                    sql.push(" @> jsonb_build_array(CAST(")
                        .param(Param::Text(choice.clone()))
                        .push(" AS text)), FALSE)");
                }
            },
            Pred::Link {
                field,
                target,
                inner,
            } => {
                let (lk, rk) = self.link_aliases()?;
                let inner_compiler = Compiler {
                    ctx: self.ctx,
                    alias: rk.clone(),
                    depth: self.depth + 1,
                };
                sql.push("EXISTS (SELECT 1 FROM ")
                    .ident(&Ident::new(field.column.clone())?)
                    .push(" ")
                    .ident(&lk)
                    .push(" JOIN ")
                    .ident(&Ident::new(target.storage.clone())?)
                    .push(" ")
                    .ident(&rk)
                    .push(" ON ")
                    .column(&rk, &Ident::new("id")?)
                    .push(" = ")
                    .column(&lk, &Ident::new("dst")?)
                    .push(" WHERE ")
                    .column(&lk, &Ident::new("src")?)
                    .push(" = ")
                    .column(&self.alias, &Ident::new("id")?)
                    .push(" AND ");
                inner_compiler.positive(inner, sql)?;
                sql.push(")");
            }
            Pred::LinksTo { field, id } => {
                let (lk, _) = self.link_aliases()?;
                sql.push("EXISTS (SELECT 1 FROM ")
                    .ident(&Ident::new(field.column.clone())?)
                    .push(" ")
                    .ident(&lk)
                    .push(" WHERE ")
                    .column(&lk, &Ident::new("src")?)
                    .push(" = ")
                    .column(&self.alias, &Ident::new("id")?)
                    .push(" AND ")
                    .column(&lk, &Ident::new("dst")?)
                    .push(" = ")
                    .param(Param::Uuid(id.0))
                    .push(")");
            }
            Pred::InContext { .. } if self.encrypted(pred, sql)? => {}
            Pred::InContext { col, attr } => {
                let values = self.ctx.list(attr);
                if values.is_empty() {
                    sql.push("FALSE");
                } else {
                    sql.push("COALESCE(");
                    self.col(col, sql)?;
                    sql.push(" IN (")
                        .param_list(values.into_iter().map(Param::Text))
                        .push("), FALSE)");
                }
            }
            Pred::ContextHas { attr, value } => {
                sql.push(if self.ctx.list(attr).contains(value) {
                    "TRUE"
                } else {
                    "FALSE"
                });
            }
            // Unresolved delegation denies (see `Pred::resolve_access`).
            Pred::AccessVia { .. } => {
                sql.push("FALSE");
            }
        }
        Ok(())
    }

    /// The blind index tag of `value` for an encrypted field, computed at bind time.
    fn blind(f: &rampart_core::FieldDef, version: u32, value: &rampart_core::Value) -> Param {
        Param::Blind {
            key_version: version,
            field: f.id.0,
            canonical: f.canonical(value),
        }
    }

    /// An encrypted field compared for equality: through its blind index column.
    fn encrypted(&self, pred: &Pred, sql: &mut Sql) -> Result<bool, InvalidIdent> {
        let (f, version) = match pred {
            Pred::Cmp {
                col: Col::Field(f), ..
            }
            | Pred::InList {
                col: Col::Field(f), ..
            }
            | Pred::InContext {
                col: Col::Field(f), ..
            } if f.encrypted => match f.blind_index {
                Some(v) => (f, v),
                // The checker admits no comparison of a field without an index.
                None => {
                    sql.push("FALSE");
                    return Ok(true);
                }
            },
            _ => return Ok(false),
        };
        let column = Ident::new(f.index_column())?;
        match pred {
            Pred::Cmp { op, rhs, .. } => {
                let value = match rhs {
                    Rhs::Value(v) => v.clone(),
                    Rhs::Context(a) => self.ctx.value(a),
                    Rhs::Col(_) => {
                        sql.push("FALSE");
                        return Ok(true);
                    }
                };
                if value.is_null() {
                    // A comparison with null is false (the two-valued rule).
                    sql.push("NULL");
                    return Ok(true);
                }
                sql.push("(")
                    .column(&self.alias, &column)
                    .push(if *op == CmpOp::Ne { " <> " } else { " = " })
                    .param(Self::blind(f, version, &value))
                    .push(")");
            }
            Pred::InList { values, .. } => {
                sql.push("(")
                    .column(&self.alias, &column)
                    .push(" IN (")
                    .param_list(values.iter().map(|v| Self::blind(f, version, v)))
                    .push("))");
            }
            Pred::InContext { attr, .. } => {
                let values = self.ctx.list(attr);
                if values.is_empty() {
                    sql.push("FALSE");
                } else {
                    sql.push("COALESCE(")
                        .column(&self.alias, &column)
                        .push(" IN (")
                        .param_list(
                            values
                                .into_iter()
                                .map(|v| Self::blind(f, version, &rampart_core::Value::Text(v))),
                        )
                        .push("), FALSE)");
                }
            }
            _ => {}
        }
        Ok(true)
    }

    /// Comparisons as SQL writes them (NULL when an operand is NULL).
    fn raw(&self, pred: &Pred, sql: &mut Sql) -> Result<(), InvalidIdent> {
        if self.encrypted(pred, sql)? {
            return Ok(());
        }
        match pred {
            Pred::Cmp { col, op, rhs, .. } => match op {
                CmpOp::Contains | CmpOp::NotContains => {
                    if *op == CmpOp::NotContains {
                        sql.push("NOT ");
                    }
                    // Both sides folded as `crate::fold` does, in SQL.
                    let (open, close) = match sql.dialect() {
                        Dialect::Sqlite => ("rampart_fold(", ")"),
                        Dialect::Postgres => (
                            "translate(lower(CAST(",
                            " AS text) COLLATE \"und-x-icu\"), 'ς', 'σ')",
                        ),
                    };
                    sql.push(match sql.dialect() {
                        Dialect::Sqlite => "(instr(",
                        Dialect::Postgres => "(strpos(",
                    });
                    sql.push(open);
                    self.col(col, sql)?;
                    sql.push(close).push(", ").push(open);
                    self.rhs(rhs, sql)?;
                    sql.push(close).push(") > 0)");
                }
                _ => {
                    sql.push("(");
                    self.col(col, sql)?;
                    sql.push(match op {
                        CmpOp::Eq => " = ",
                        CmpOp::Ne => " <> ",
                        CmpOp::Lt => " < ",
                        CmpOp::Le => " <= ",
                        CmpOp::Gt => " > ",
                        _ => " >= ",
                    });
                    self.rhs(rhs, sql)?;
                    sql.push(")");
                }
            },
            Pred::InList { col, values } => {
                sql.push("(");
                self.col(col, sql)?;
                sql.push(" IN (")
                    .param_list(values.iter().map(value_param))
                    .push("))");
            }
            other => self.two_valued(other, sql)?,
        }
        Ok(())
    }
}
