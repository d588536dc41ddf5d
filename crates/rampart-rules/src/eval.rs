//! Evaluates a [`Pred`] over an in-memory record. The SQL compiled by [`crate::compile`] must
//! select exactly the records for which this returns true.

use std::cmp::Ordering;

use rampart_core::{FieldDef, Value};

use crate::ast::CmpOp;
use crate::check::{Col, Context, Pred, Rhs};

/// A record as the evaluator sees it.
pub trait RecordView {
    /// The value of a column; system ids and users as `Value::User`, links as `Value::Links`.
    fn get(&self, col: &Col) -> Value;
    /// The records linked through a link field.
    fn linked(&self, field: &FieldDef) -> Vec<&dyn RecordView>;
}

fn rhs_value(rhs: &Rhs, record: &dyn RecordView, ctx: &Context) -> Value {
    match rhs {
        Rhs::Value(v) => v.clone(),
        Rhs::Col(c) => record.get(c),
        Rhs::Context(a) => ctx.value(a),
    }
}

fn compare(op: CmpOp, left: &Value, right: &Value) -> bool {
    if left.is_null() || right.is_null() {
        return false;
    }
    match op {
        CmpOp::Contains | CmpOp::NotContains => {
            let (Value::Text(hay), Value::Text(needle)) = (left, right) else {
                return false;
            };
            let found = crate::fold(hay).contains(crate::fold(needle).as_ref());
            found == (op == CmpOp::Contains)
        }
        _ => {
            let Some(ord) = left.compare(right) else {
                return false;
            };
            match op {
                CmpOp::Eq => ord == Ordering::Equal,
                CmpOp::Ne => ord != Ordering::Equal,
                CmpOp::Lt => ord == Ordering::Less,
                CmpOp::Le => ord != Ordering::Greater,
                CmpOp::Gt => ord == Ordering::Greater,
                CmpOp::Ge => ord != Ordering::Less,
                CmpOp::Contains | CmpOp::NotContains => false,
            }
        }
    }
}

/// Whether `record` satisfies `pred` for the caller in `ctx`.
pub fn eval(pred: &Pred, record: &dyn RecordView, ctx: &Context) -> bool {
    match pred {
        Pred::Const(b) => *b,
        Pred::And(ps) => ps.iter().all(|p| eval(p, record, ctx)),
        Pred::Or(ps) => ps.iter().any(|p| eval(p, record, ctx)),
        Pred::Not(p) => !eval(p, record, ctx),
        Pred::Cmp { col, op, rhs, .. } => {
            compare(*op, &record.get(col), &rhs_value(rhs, record, ctx))
        }
        Pred::IsNull { col, null } => record.get(col).is_null() == *null,
        Pred::InList { col, values } => {
            let v = record.get(col);
            !v.is_null() && values.iter().any(|x| compare(CmpOp::Eq, &v, x))
        }
        Pred::HasChoice { col, choice } => {
            matches!(record.get(col), Value::Choices(c) if c.contains(choice))
        }
        Pred::Link { field, inner, .. } => record
            .linked(field)
            .into_iter()
            .any(|r| eval(inner, r, ctx)),
        Pred::InContext { col, attr } => match record.get(col) {
            Value::Text(v) => ctx.list(attr).contains(&v),
            _ => false,
        },
        Pred::ContextHas { attr, value } => ctx.list(attr).contains(value),
        // Unresolved delegation denies.
        Pred::AccessVia { .. } => false,
        Pred::LinksTo { field, id } => {
            matches!(record.get(&Col::Field(field.clone())), Value::Links(ids) if ids.contains(id))
        }
    }
}
