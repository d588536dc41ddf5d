//! The writes of one record (and the bulk create of a batch): operation, record rule, every
//! written field and the owner are checked inside the transaction that writes.

use std::collections::BTreeMap;

use rampart_auth::authz::access::{Grant, WriteDenied};
use rampart_auth::authz::definition::Op;
use rampart_core::record::{InputMode, hidden_required, parse_input_as};
use rampart_core::{FieldId, Record, RecordId, UserId, Value};
use rampart_sql::Sql;
use rampart_store::{Tx, records};

use super::{FieldValues, RecordJson, Scoped, forbidden, serialize, true_sql};
use crate::AppError;

/// A row validated for the bulk path: its name in errors (`row[17]`), the fields it writes
/// and its values.
#[derive(Debug, Clone)]
pub(crate) struct ParsedRow {
    pub op: String,
    pub fields: Vec<FieldId>,
    pub values: BTreeMap<FieldId, Value>,
}

impl records::NewRow for ParsedRow {
    fn op(&self) -> &str {
        &self.op
    }
    fn values(&self) -> &BTreeMap<FieldId, Value> {
        &self.values
    }
}

impl Scoped {
    /// Validates a body as this caller may write it, with the ids of the fields it writes: a
    /// field the caller may not know is answered exactly like one the table does not have.
    pub(crate) fn input(
        &self,
        body: &FieldValues,
        mode: InputMode,
        path: &str,
    ) -> Result<(Vec<FieldId>, BTreeMap<FieldId, Value>), AppError> {
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

    /// How a record the caller just wrote shows to them (it may not be readable at all).
    async fn shown(&self, tx: &mut Tx, record: &Record) -> Result<RecordJson, AppError> {
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
    fn candidates(&self, op: Op, fields: &[FieldId], owner: bool) -> Result<Vec<&Grant>, AppError> {
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
    fn create_rule(&self, tx: &Tx, grants: &[&Grant]) -> Result<Option<Sql>, AppError> {
        let mut parts = Vec::new();
        for g in grants {
            match g.rules.get(&Op::Create) {
                None => return Ok(None),
                Some(p) => parts.push(p.clone()),
            }
        }
        let pred = rampart_rules::Pred::Or(parts);
        Ok(Some(rampart_rules::compile(
            &pred,
            &self.facts.ctx,
            tx.dialect(),
        )?))
    }

    /// Creates one record; `path` prefixes field names in errors (`fields`, `create[2].fields`).
    pub async fn create(
        &self,
        tx: &mut Tx,
        body: &FieldValues,
        owner: Option<UserId>,
        path: &str,
    ) -> Result<RecordJson, AppError> {
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
        rows: Vec<(String, FieldValues)>,
    ) -> Result<Vec<RecordJson>, AppError> {
        let parsed = self.parse_rows(&rows)?;
        let ids = self
            .create_parsed(tx, &parsed, records::BulkAudit::PerRecord)
            .await?;
        let created = records::get_many(tx, &self.access.table, &ids).await?;
        let mut out = Vec::with_capacity(created.len());
        for r in &created {
            out.push(self.shown(tx, r).await?);
        }
        Ok(out)
    }

    /// Validates named rows for the bulk path (`create[3]`: errors name the row).
    pub(crate) fn parse_rows(
        &self,
        rows: &[(String, FieldValues)],
    ) -> Result<Vec<ParsedRow>, AppError> {
        rows.iter()
            .map(|(op, body)| {
                let (fields, values) = self
                    .input(body, InputMode::Create, &format!("{op}.fields"))
                    .map_err(|e| e.in_operation(op))?;
                Ok(ParsedRow {
                    op: op.clone(),
                    fields,
                    values,
                })
            })
            .collect()
    }

    /// The bulk path's checks and writes over rows already validated by [`Scoped::input`]
    /// in create mode: the grants admitting every row's fields, then the create rule over
    /// all of them. Returns the records' ids in the order of `rows`.
    pub(crate) async fn create_parsed(
        &self,
        tx: &mut Tx,
        rows: &[ParsedRow],
        audit: records::BulkAudit,
    ) -> Result<Vec<RecordId>, AppError> {
        let me = self.facts.principal.user.id;
        let mut rule_grants: Option<Vec<&Grant>> = None;
        // Rows of one batch usually write the same fields: their grants are worked out once.
        let mut last: Option<(&[FieldId], Vec<&Grant>)> = None;
        for row in rows {
            let grants = match &last {
                Some((fields, grants)) if *fields == row.fields.as_slice() => grants.clone(),
                _ => {
                    let grants = self
                        .candidates(Op::Create, &row.fields, false)
                        .map_err(|e| e.in_operation(&row.op))?;
                    last = Some((&row.fields, grants.clone()));
                    grants
                }
            };
            // Rows share the create rule of the grants that admit all of them.
            rule_grants = Some(match rule_grants {
                None => grants,
                Some(prev) => prev
                    .into_iter()
                    .filter(|g| grants.iter().any(|h| std::ptr::eq(*g, *h)))
                    .collect(),
            });
        }
        let ids = records::create_many(tx, &self.access.table, rows, me, audit).await?;
        if let Some(grants) = rule_grants {
            if grants.is_empty() {
                return Err(forbidden(WriteDenied::Operation(Op::Create)));
            }
            if let Some(rule) = self.create_rule(tx, &grants)? {
                let refused = records::not_admitted(tx, &self.access.table, &ids, rule).await?;
                if let Some(first) = refused.first() {
                    let i = ids.iter().position(|id| id == first).unwrap_or_default();
                    return Err(
                        forbidden(WriteDenied::Operation(Op::Create)).in_operation(&rows[i].op)
                    );
                }
            }
        }
        Ok(ids)
    }

    /// The grants allowing `op` on a record the caller can read; `None` when they cannot
    /// read it (it is "not found").
    async fn admitting(&self, tx: &mut Tx, id: RecordId, op: Op) -> Result<Vec<&Grant>, AppError> {
        if !self.access.allows(Op::Read) {
            return Err(AppError::NotFound);
        }
        let mut preds = vec![self.visible_sql(tx)?.unwrap_or_else(|| true_sql(tx))];
        preds.extend(self.access.op_rules_sql(op, &self.facts, tx.dialect())?);
        let answers = records::check_flags(tx, &self.access.table, id, preds)
            .await?
            .ok_or(AppError::NotFound)?;
        if !answers[0] {
            return Err(AppError::NotFound);
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
        body: &FieldValues,
        owner: Option<UserId>,
        path: &str,
    ) -> Result<RecordJson, AppError> {
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

    pub async fn delete(&self, tx: &mut Tx, id: RecordId, version: i64) -> Result<(), AppError> {
        self.admitting(tx, id, Op::Delete).await?;
        records::delete(tx, &self.access.table, id, version).await?;
        Ok(())
    }
}
