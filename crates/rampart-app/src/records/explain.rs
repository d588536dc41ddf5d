//! "Why may user X (not) read, update or delete record Y?", for the builders of a project:
//! every grant the user holds, its rule with current names, which clause matched, and the
//! fields the user would see, all evaluated by the same SQL the operation itself runs.

use rampart_auth::Principal;
use rampart_auth::authz::access::{table_access, user_facts};
use rampart_auth::authz::definition::Op;
use rampart_core::{RecordId, TableAction, TableId, UserId};
use rampart_store::audit::{self, Action, Event};
use rampart_store::{Tx, records};

use super::true_sql;
use crate::AppError;

/// Loads a user of the tenant as a principal (for simulate and explain), after checking the
/// caller administers the table's project.
pub async fn as_user(
    tx: &mut Tx,
    caller: &Principal,
    table_id: TableId,
    user: UserId,
) -> Result<Principal, AppError> {
    let table = rampart_store::schema::load_table(tx, table_id)
        .await?
        .ok_or(AppError::NotFound)?;
    rampart_auth::authz::authorize(tx, caller, table.project_id, TableAction::ManageMembers)
        .await??;
    let user = crate::people::named_user(tx, user).await?;
    let has_second_factor = rampart_store::factors::has_second_factor(tx, user.id).await?;
    Ok(Principal::for_simulation(user, has_second_factor))
}

/// The operation an explanation is about: `read` (the default), `update` or `delete`.
pub fn operation(text: Option<&str>) -> Result<Op, AppError> {
    match text.unwrap_or("read") {
        "read" => Ok(Op::Read),
        "update" => Ok(Op::Update),
        "delete" => Ok(Op::Delete),
        _ => Err(AppError::invalid(
            "operation",
            "invalid_value",
            "one of read, update, delete",
        )),
    }
}

/// Explains `op` on a record for `user`, as `admin` (who must administer the project);
/// recorded in the audit chain (a write transaction, as for simulate).
pub async fn explain(
    tx: &mut Tx,
    admin: &Principal,
    table: TableId,
    record: RecordId,
    user: UserId,
    op: Op,
) -> Result<Explained, AppError> {
    let principal = as_user(tx, admin, table, user).await?;
    let out = explain_for(tx, &principal, table, record, op).await?;
    audit::record(
        tx,
        Event::new(Action::AccessExplain)
            .table(table.0)
            .record(record.0)
            .subject(user.0)
            .detail(serde_json::json!({"operation": op.as_str()})),
    )
    .await?;
    Ok(out)
}

/// What `explain` found for one grant.
#[derive(Debug)]
pub struct ExplainedGrant {
    pub source: String,
    pub allows_operation: bool,
    pub rule: Option<String>,
    pub clauses: Vec<(String, bool)>,
    pub allows_record: bool,
}

#[derive(Debug)]
pub struct Explained {
    pub exists: bool,
    pub allowed: bool,
    pub reason: String,
    pub grants: Vec<ExplainedGrant>,
    pub visible_fields: Vec<String>,
}

fn split_or_expr(e: &rampart_rules::Expr, out: &mut Vec<rampart_rules::Expr>) {
    match e {
        rampart_rules::Expr::Or(a, b) => {
            split_or_expr(a, out);
            split_or_expr(b, out);
        }
        other => out.push(other.clone()),
    }
}

fn split_or_pred(p: &rampart_rules::Pred, out: &mut Vec<rampart_rules::Pred>) {
    match p {
        rampart_rules::Pred::Or(parts) => parts.iter().for_each(|q| split_or_pred(q, out)),
        other => out.push(other.clone()),
    }
}

/// Why `principal` may or may not perform `op` on a record: every grant, its rule and which
/// clause of the rule matched, evaluated by the same SQL the operation itself would run.
async fn explain_for(
    tx: &mut Tx,
    principal: &Principal,
    table_id: TableId,
    id: RecordId,
    op: Op,
) -> Result<Explained, AppError> {
    use std::collections::HashMap;
    let facts = user_facts(tx, principal).await?;
    let access = table_access(tx, &facts, table_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let table = access.table.clone();
    let mut tables: HashMap<TableId, rampart_core::TableDef> =
        HashMap::from([(table.id, table.clone())]);
    for f in &table.fields {
        if let rampart_core::FieldType::Link(o) = &f.field_type
            && let Some(t) = rampart_store::schema::load_table(tx, o.table_id).await?
        {
            tables.insert(t.id, t);
        }
    }
    let dialect = tx.dialect();
    let compile = |p: &rampart_rules::Pred| {
        rampart_rules::compile(p, &facts.ctx, dialect).map_err(AppError::from)
    };
    let exists = records::check_flags(tx, &table, id, vec![true_sql(tx)])
        .await?
        .is_some();
    let mut grants = Vec::new();
    let mut read_answers = Vec::new();
    let mut readable = false;
    for g in &access.grants {
        let allows_operation = g.def.allows(op);
        let rule = g
            .rule_text
            .get(&op)
            .and_then(|text| rampart_rules::parse(text).ok())
            .map(|e| rampart_auth::authz::definition::translate_rule(&e, &table, &tables, false));
        let mut clauses = Vec::new();
        let mut allows_record = allows_operation && exists;
        if let (Some(expr), Some(pred)) = (&rule, g.rules.get(&op)) {
            let (mut texts, mut preds) = (Vec::new(), Vec::new());
            split_or_expr(expr, &mut texts);
            split_or_pred(pred, &mut preds);
            let sql = preds.iter().map(&compile).collect::<Result<Vec<_>, _>>()?;
            let answers = if exists {
                records::check_flags(tx, &table, id, sql)
                    .await?
                    .unwrap_or_default()
            } else {
                vec![false; preds.len()]
            };
            let aligned = texts.len() == preds.len();
            for (i, matched) in answers.iter().enumerate() {
                let text = if aligned {
                    texts[i].to_string()
                } else {
                    format!("clause {}", i + 1)
                };
                clauses.push((text, *matched));
            }
            allows_record = allows_operation && answers.iter().any(|a| *a);
        }
        // Read access of this grant to this record, for field visibility.
        if g.def.read {
            let read_ok = match g.rules.get(&Op::Read) {
                None => exists,
                Some(p) => {
                    let sql = compile(p)?;
                    records::check_flags(tx, &table, id, vec![sql])
                        .await?
                        .is_some_and(|a| a[0])
                }
            };
            read_answers.push(read_ok);
            readable |= read_ok;
        }
        grants.push(ExplainedGrant {
            source: g.source.describe(),
            allows_operation,
            rule: rule.map(|e| e.to_string()),
            clauses,
            allows_record,
        });
    }
    let admitted: Vec<&ExplainedGrant> = grants.iter().filter(|g| g.allows_record).collect();
    let (allowed, reason) = if !exists {
        (false, "the record does not exist".to_owned())
    } else if op != Op::Read && !readable {
        (
            false,
            "the user may not read the record, so it does not exist for them".to_owned(),
        )
    } else if let Some(first) = admitted.first() {
        let clause = first
            .clauses
            .iter()
            .find(|(_, m)| *m)
            .map(|(c, _)| format!(" by the clause {c}"))
            .unwrap_or_default();
        (true, format!("allowed by {}{clause}", first.source))
    } else if grants.iter().any(|g| g.allows_operation) {
        (
            false,
            format!(
                "no rule of the grants allowing {} matches this record",
                op.as_str()
            ),
        )
    } else {
        (
            false,
            format!("no grant of the user allows {}", op.as_str()),
        )
    };
    let visible_fields = if readable {
        let visible = access.visible_fields(&read_answers);
        table
            .fields
            .iter()
            .filter(|f| visible.contains(&f.id))
            .map(|f| f.name.clone())
            .collect()
    } else {
        Vec::new()
    };
    Ok(Explained {
        exists,
        allowed,
        reason,
        grants,
        visible_fields,
    })
}
