//! Record operations under the caller's access: the one path by which handlers read and
//! write records. Reads push the caller's read predicate into SQL and project only the fields
//! their grants show for each record; writes check the operation, the record's rule, every
//! written field and the owner, inside the transaction that writes.

use std::collections::{BTreeMap, BTreeSet};

use rampart_auth::Principal;
use rampart_auth::authz::access::{TableAccess, UserFacts, WriteDenied, table_access, user_facts};
use rampart_auth::authz::cache::AccessCache;
use rampart_auth::authz::definition::Op;
use rampart_core::record::{InputMode, hidden_required, parse_input_as};
use rampart_core::{FieldError, FieldId, Record, RecordId, TableId, UserId, Value};
use rampart_sql::Sql;
use rampart_store::Tx;
use rampart_store::records;
use serde_json::{Map, Value as Json};

use crate::error::ApiError;

/// A record's API form (`Record::api_form`), serialized once where it is projected.
pub type RecordJson = Box<serde_json::value::RawValue>;

fn serialize(
    record: &Record,
    table: &rampart_core::TableDef,
    visible: impl Fn(FieldId) -> bool,
) -> Result<RecordJson, ApiError> {
    serde_json::value::to_raw_value(&record.api_form(table, visible))
        .map_err(|e| ApiError::internal(&e))
}

/// A table as one caller may use it.
#[derive(Debug)]
pub struct Scoped {
    pub access: std::sync::Arc<TableAccess>,
    pub facts: std::sync::Arc<UserFacts>,
}

/// Loads the caller's access to a table; a table they may not know about is "not found".
pub async fn scoped(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    table: TableId,
) -> Result<Scoped, ApiError> {
    let (facts, access) = cache.get(tx, principal, table).await?;
    let access = access.ok_or_else(ApiError::not_found)?;
    if !access.visible() {
        if rampart_auth::authz::blocked_by_second_factor(tx, principal, access.table.project_id)
            .await?
        {
            return Err(ApiError::second_factor_required_by_project());
        }
        return Err(ApiError::not_found());
    }
    Ok(Scoped { access, facts })
}

pub fn forbidden(denied: WriteDenied) -> ApiError {
    match denied {
        WriteDenied::Operation(op) => ApiError::forbidden(
            "forbidden",
            format!(
                "your permissions do not allow {} on this record",
                op.as_str()
            ),
        ),
        WriteDenied::Field(name) => ApiError::forbidden(
            "field_not_writable",
            format!("your permissions do not allow writing the field {name:?}"),
        )
        .with_errors(vec![FieldError::new(
            if name == "owner" {
                "owner".to_owned()
            } else {
                format!("fields.{name}")
            },
            "field_not_writable",
            "you may not write this field",
        )]),
    }
}

fn true_sql(tx: &Tx) -> Sql {
    let mut s = tx.sql();
    s.push("TRUE");
    s
}

impl Scoped {
    fn dialect_sql(&self, tx: &Tx, op: Op) -> Result<Option<Sql>, ApiError> {
        Ok(self.access.predicate_sql(op, &self.facts, tx.dialect())?)
    }

    /// The caller's read predicate, or `TRUE`.
    pub fn visible_sql(&self, tx: &Tx) -> Result<Option<Sql>, ApiError> {
        self.dialect_sql(tx, Op::Read)
    }

    pub fn read_flags(&self, tx: &Tx) -> Result<Vec<Sql>, ApiError> {
        Ok(self.access.read_flags(&self.facts, tx.dialect())?)
    }

    /// A record as this caller sees it.
    pub fn project(&self, record: &Record, flags: &[bool]) -> Result<RecordJson, ApiError> {
        let visible = self.access.visible_fields(flags);
        serialize(record, &self.access.table, |f| visible.contains(&f))
    }

    /// Records as this caller sees them, each with its flag answers. Records with the same
    /// answers show the same fields, so those are worked out once per distinct answer.
    pub fn project_all(
        &self,
        records: &[Record],
        flags: &[Vec<bool>],
    ) -> Result<Vec<RecordJson>, ApiError> {
        let mut seen: Vec<(&[bool], BTreeSet<FieldId>)> = Vec::new();
        let mut out = Vec::with_capacity(records.len());
        for (record, answers) in records.iter().zip(flags) {
            let at = match seen.iter().position(|(a, _)| *a == answers.as_slice()) {
                Some(i) => i,
                None => {
                    seen.push((answers, self.access.visible_fields(answers)));
                    seen.len() - 1
                }
            };
            let visible = &seen[at].1;
            out.push(serialize(record, &self.access.table, |f| {
                visible.contains(&f)
            })?);
        }
        Ok(out)
    }

    /// Validates a body as this caller may write it, with the ids of the fields it writes: a
    /// field the caller may not know is answered exactly like one the table does not have.
    fn input(
        &self,
        body: &Map<String, Json>,
        mode: InputMode,
        path: &str,
    ) -> Result<(Vec<FieldId>, BTreeMap<FieldId, Value>), ApiError> {
        let known = |f: &rampart_core::FieldDef| self.access.knows_field(f.id);
        let values = parse_input_as(&self.access.table, body, mode, path, &known)?;
        if mode == InputMode::Create
            && hidden_required(&self.access.table, &values, &known).is_some()
        {
            // A required field the caller cannot know: they cannot create records here, and
            // must not learn the field's name from being refused.
            return Err(forbidden(WriteDenied::Operation(Op::Create)));
        }
        let ids = body
            .keys()
            .filter_map(|name| self.access.table.field_by_name(name).map(|f| f.id))
            .collect();
        Ok((ids, values))
    }

    /// Reads one record the caller may read.
    pub async fn get(&self, tx: &mut Tx, id: RecordId) -> Result<RecordJson, ApiError> {
        if !self.access.allows(Op::Read) {
            return Err(ApiError::not_found());
        }
        let visible = self.visible_sql(tx)?;
        let flags = self.read_flags(tx)?;
        let (record, answers) = records::get_visible(tx, &self.access.table, id, visible, &flags)
            .await?
            .ok_or_else(ApiError::not_found)?;
        self.project(&record, &answers)
    }

    /// How a record the caller just wrote shows to them (it may not be readable at all).
    async fn shown(&self, tx: &mut Tx, record: &Record) -> Result<RecordJson, ApiError> {
        let mut preds = vec![self.visible_sql(tx)?.unwrap_or_else(|| true_sql(tx))];
        preds.extend(self.read_flags(tx)?);
        let answers = records::check_flags(tx, &self.access.table, record.id, preds)
            .await?
            .unwrap_or_default();
        let readable = answers.first().copied().unwrap_or(false) && self.access.allows(Op::Read);
        if readable {
            self.project(record, &answers[1..])
        } else {
            serialize(record, &self.access.table, |_| false)
        }
    }

    /// The grants allowing `op` that admit all of `fields` (and the owner change).
    fn candidates(
        &self,
        op: Op,
        fields: &[FieldId],
        owner: bool,
    ) -> Result<Vec<&rampart_auth::authz::access::Grant>, ApiError> {
        let all: Vec<_> = self.access.grants_for(op).collect();
        if all.is_empty() {
            return Err(forbidden(WriteDenied::Operation(op)));
        }
        let fit: Vec<_> = all
            .iter()
            .copied()
            .filter(|g| self.access.check_writes(op, &[*g], fields, owner).is_ok())
            .collect();
        if fit.is_empty() {
            // Name the first field no grant lets the caller write.
            return Err(forbidden(
                self.access
                    .check_writes(op, &all, fields, owner)
                    .err()
                    .unwrap_or(WriteDenied::Operation(op)),
            ));
        }
        Ok(fit)
    }

    /// The create rule of the grants that may create this record, as one predicate.
    fn create_rule(
        &self,
        tx: &Tx,
        grants: &[&rampart_auth::authz::access::Grant],
    ) -> Result<Option<Sql>, ApiError> {
        let mut parts = Vec::new();
        for g in grants {
            match g.rules.get(&Op::Create) {
                None => return Ok(None),
                Some(p) => parts.push(p.clone()),
            }
        }
        let pred = rampart_rules::Pred::Or(parts);
        Ok(Some(
            rampart_rules::compile(&pred, &self.facts.ctx, tx.dialect())
                .map_err(|e| ApiError::internal(&e))?,
        ))
    }

    /// Creates one record; `path` prefixes field names in errors (`fields`, `create[2].fields`).
    pub async fn create(
        &self,
        tx: &mut Tx,
        body: &Map<String, Json>,
        owner: Option<UserId>,
        path: &str,
    ) -> Result<RecordJson, ApiError> {
        let me = self.facts.principal.user.id;
        let (fields, values) = self.input(body, InputMode::Create, path)?;
        let owner_changes = owner.is_some_and(|o| o != me);
        let grants = self.candidates(Op::Create, &fields, owner_changes)?;
        let rule = self.create_rule(tx, &grants)?;
        let record = records::create_owned(
            tx,
            &self.access.table,
            values,
            me,
            owner.unwrap_or(me),
            path,
        )
        .await?;
        if let Some(rule) = rule {
            let ok = records::check_flags(tx, &self.access.table, record.id, vec![rule]).await?;
            if ok.as_deref() != Some(&[true]) {
                return Err(forbidden(WriteDenied::Operation(Op::Create)));
            }
        }
        self.shown(tx, &record).await
    }

    /// Creates many records on the bulk path (rows without an owner change).
    pub async fn create_many(
        &self,
        tx: &mut Tx,
        rows: Vec<(String, Map<String, Json>)>,
    ) -> Result<Vec<RecordJson>, ApiError> {
        let me = self.facts.principal.user.id;
        let mut parsed = Vec::with_capacity(rows.len());
        let mut rule_grants: Option<Vec<&rampart_auth::authz::access::Grant>> = None;
        for (op, body) in &rows {
            let path = format!("{op}.fields");
            let (fields, values) = self
                .input(body, InputMode::Create, &path)
                .map_err(|e| in_op(op, e))?;
            let grants = self
                .candidates(Op::Create, &fields, false)
                .map_err(|e| in_op(op, e))?;
            // Rows share the create rule of the grants that admit all of them.
            rule_grants = Some(match rule_grants {
                None => grants,
                Some(prev) => prev
                    .into_iter()
                    .filter(|g| grants.iter().any(|h| std::ptr::eq(*g, *h)))
                    .collect(),
            });
            parsed.push((op.clone(), values));
        }
        let created = records::create_many(tx, &self.access.table, parsed, me).await?;
        if let Some(grants) = rule_grants {
            if grants.is_empty() {
                return Err(forbidden(WriteDenied::Operation(Op::Create)));
            }
            if let Some(rule) = self.create_rule(tx, &grants)? {
                let ids: Vec<RecordId> = created.iter().map(|r| r.id).collect();
                let refused = records::not_admitted(tx, &self.access.table, &ids, rule).await?;
                if let Some(first) = refused.first() {
                    let i = ids.iter().position(|id| id == first).unwrap_or_default();
                    return Err(in_op(
                        &rows[i].0,
                        forbidden(WriteDenied::Operation(Op::Create)),
                    ));
                }
            }
        }
        let mut out = Vec::with_capacity(created.len());
        for r in &created {
            out.push(self.shown(tx, r).await?);
        }
        Ok(out)
    }

    /// The grants allowing `op` on a record the caller can read; `None` when they cannot
    /// read it (it is "not found").
    async fn admitting(
        &self,
        tx: &mut Tx,
        id: RecordId,
        op: Op,
    ) -> Result<Vec<&rampart_auth::authz::access::Grant>, ApiError> {
        if !self.access.allows(Op::Read) {
            return Err(ApiError::not_found());
        }
        let mut preds = vec![self.visible_sql(tx)?.unwrap_or_else(|| true_sql(tx))];
        preds.extend(self.access.op_rules_sql(op, &self.facts, tx.dialect())?);
        let answers = records::check_flags(tx, &self.access.table, id, preds)
            .await?
            .ok_or_else(ApiError::not_found)?;
        if !answers[0] {
            return Err(ApiError::not_found());
        }
        let admitting = self.access.admitting(op, &answers[1..]);
        if admitting.is_empty() {
            return Err(forbidden(WriteDenied::Operation(op)));
        }
        Ok(admitting)
    }

    pub async fn update(
        &self,
        tx: &mut Tx,
        id: RecordId,
        version: i64,
        body: &Map<String, Json>,
        owner: Option<UserId>,
        path: &str,
    ) -> Result<RecordJson, ApiError> {
        let admitting = self.admitting(tx, id, Op::Update).await?;
        let (fields, values) = self.input(body, InputMode::Update, path)?;
        if let Err(denied) =
            self.access
                .check_writes(Op::Update, &admitting, &fields, owner.is_some())
        {
            return Err(forbidden(denied));
        }
        let record =
            records::update_owned(tx, &self.access.table, id, version, values, owner, path).await?;
        self.shown(tx, &record).await
    }

    pub async fn delete(&self, tx: &mut Tx, id: RecordId, version: i64) -> Result<(), ApiError> {
        self.admitting(tx, id, Op::Delete).await?;
        records::delete(tx, &self.access.table, id, version).await?;
        Ok(())
    }
}

/// Names the batch operation an error is about, and says nothing was written.
pub fn in_op(op: &str, mut e: ApiError) -> ApiError {
    e.detail = Some(format!(
        "{op}: {}; nothing was written",
        e.detail.as_deref().unwrap_or(e.title)
    ));
    for fe in &mut e.errors {
        if !fe.field.starts_with(op) {
            fe.field = format!("{op}.{}", fe.field);
        }
    }
    e
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
pub async fn explain(
    tx: &mut Tx,
    principal: &Principal,
    table_id: TableId,
    id: RecordId,
    op: Op,
) -> Result<Explained, ApiError> {
    use std::collections::HashMap;
    let facts = user_facts(tx, principal).await?;
    let access = table_access(tx, &facts, table_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
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
        rampart_rules::compile(p, &facts.ctx, dialect).map_err(|e| ApiError::internal(&e))
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
