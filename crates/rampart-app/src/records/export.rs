//! Export: the records and fields of a table a caller may read, filtered and sorted as a list
//! is, written as one file (see [`super::encode`]) in constant memory.
//!
//! The whole export reads one snapshot (it runs in one read transaction): it first counts the
//! matching records, hands that summary to a gate (the adapters record the `record.export`
//! audit entry there, so no record leaves before the entry is durable), then reads page by
//! page and hands out chunks as they fill. Links show the linked records' primary values
//! where the caller may read them (their ids otherwise, or on request), user fields the users'
//! emails.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;

use rampart_auth::Principal;
use rampart_auth::authz::cache::AccessCache;
use rampart_auth::authz::definition::Op;
use rampart_core::{FieldDef, FieldId, FieldType, Record, RecordId, TableId, UserId, Value};
use rampart_sql::Param;
use rampart_store::audit::{self, Action, Event};
use rampart_store::records::{self, After, ListQuery, sort_value};
use rampart_store::{Tx, identity};
use tokio::sync::mpsc;

use super::encode::{Cell, Encoder, Format, XLSX_MAX_RECORDS};
use super::list::{Plan, parse_filter};
use super::scoped;
use crate::AppError;

/// How a link is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkForm {
    /// The linked record's primary value (its id where the caller may not read that).
    #[default]
    Names,
    Ids,
}

/// What a caller asks to export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub format: Format,
    /// A list filter, e.g. `status = "open"`.
    pub filter: Option<String>,
    /// A list sort, e.g. `-created_at,title`.
    pub sort: Option<String>,
    /// The columns, by field name, in this order; every field the caller may read when absent.
    pub fields: Option<Vec<String>>,
    pub links: LinkForm,
}

/// What an export is about to write: what the gate is told, and what the audit records.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Whose view of the table is exported.
    pub reader: UserId,
    pub table: TableId,
    pub table_name: String,
    pub format: Format,
    /// The filter as the server read it back (empty: none).
    pub filter: String,
    pub sort: Option<String>,
    pub columns: Vec<String>,
    pub records: u64,
}

/// Records the export in the audit chain: who (the entry's actor, and whose view it is: the
/// CLI exports as a user), which table, filter, sort, columns and how many records.
pub async fn record(tx: &mut Tx, summary: &Summary) -> Result<(), AppError> {
    audit::record(
        tx,
        Event::new(Action::RecordExport)
            .table(summary.table.0)
            .detail(serde_json::json!({
                "as": summary.reader,
                "format": summary.format.as_str(),
                "filter": summary.filter,
                "sort": summary.sort,
                "fields": summary.columns,
                "records": summary.records,
            })),
    )
    .await?;
    Ok(())
}

/// Where an export's bytes go, and how many records it has written so far (for progress).
#[derive(Debug)]
pub struct Sink {
    chunks: mpsc::Sender<Vec<u8>>,
    written: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Sink {
    pub fn new(chunks: mpsc::Sender<Vec<u8>>) -> Self {
        Self {
            chunks,
            written: std::sync::Arc::default(),
        }
    }

    /// The count of records written, readable while the export runs.
    pub fn written(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        self.written.clone()
    }

    async fn send(&self, chunk: Vec<u8>) -> Result<(), AppError> {
        self.chunks
            .send(chunk)
            .await
            .map_err(|_| AppError::Cancelled)
    }
}

/// Records read per query.
const PAGE: u32 = 1000;

/// Linked records' names and users' emails known so far; forgotten past this many.
const NAME_CACHE: usize = 100_000;

/// Exports a table as `principal` may read it, sending the file's bytes to `out`. `gate` is
/// told what will be written before the first byte is and may refuse; returns the number of
/// records written.
#[allow(clippy::too_many_arguments)]
pub async fn export<G, F>(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    table_id: TableId,
    req: ExportRequest,
    gate: G,
    out: &Sink,
) -> Result<u64, AppError>
where
    G: FnOnce(Summary) -> F + Send,
    F: Future<Output = Result<(), AppError>> + Send,
{
    let parsed = req.filter.as_deref().map(parse_filter).transpose()?;
    let plan = Plan::new(
        tx,
        cache,
        principal,
        table_id,
        parsed.as_ref(),
        req.sort.as_deref(),
    )
    .await?;
    let columns = columns(&plan, req.fields.as_deref())?;
    let count = plan.count(tx, u64::MAX - 1).await?;
    if req.format == Format::Xlsx && count > XLSX_MAX_RECORDS {
        return Err(AppError::invalid(
            "format",
            "too_many_records",
            format!(
                "{count} records match; an XLSX sheet holds at most {XLSX_MAX_RECORDS}: export as CSV or narrow the filter"
            ),
        ));
    }
    let names: Vec<String> = columns.iter().map(|f| f.name.clone()).collect();
    gate(Summary {
        reader: principal.user.id,
        table: table_id,
        table_name: plan.table.name.clone(),
        format: req.format,
        filter: plan.filter_text.clone(),
        sort: req.sort.clone(),
        columns: names.clone(),
        records: count,
    })
    .await?;

    let mut encoder = Encoder::new(req.format, names)?;
    let mut resolver = Resolver::default();
    let mut after: Option<After> = None;
    let mut written = 0u64;
    loop {
        let page = plan.fetch(tx, after.take(), PAGE).await?;
        resolver
            .prepare(tx, cache, principal, &columns, &page.records, req.links)
            .await?;
        let mut shown: Vec<(&[bool], BTreeSet<FieldId>)> = Vec::new();
        for (record, answers) in page.records.iter().zip(&page.flags) {
            let at = match shown.iter().position(|(a, _)| *a == answers.as_slice()) {
                Some(i) => i,
                None => {
                    shown.push((answers, plan.scoped.access.visible_fields(answers)));
                    shown.len() - 1
                }
            };
            let visible = &shown[at].1;
            let cells: Vec<Cell> = columns
                .iter()
                .map(|f| {
                    if visible.contains(&f.id) {
                        resolver.cell(f, record.value(f.id), req.links)
                    } else {
                        Cell::Empty
                    }
                })
                .collect();
            encoder.row(&cells)?;
            written += 1;
            if let Some(chunk) = encoder.take_chunk() {
                out.written
                    .store(written, std::sync::atomic::Ordering::Relaxed);
                out.send(chunk).await?;
            }
        }
        match (page.has_more, page.records.last()) {
            (true, Some(last)) => after = Some(position(&plan, last)),
            _ => break,
        }
    }
    let mut rest = encoder.finish()?;
    out.written
        .store(written, std::sync::atomic::Ordering::Relaxed);
    while let Some(chunk) = rest.next_chunk()? {
        out.send(chunk).await?;
    }
    Ok(written)
}

/// Where the page after `last` starts.
fn position(plan: &Plan, last: &Record) -> After {
    After {
        values: plan.sort.keys.iter().map(|k| sort_value(last, k)).collect(),
        id: last.id,
    }
}

/// The exported fields: those asked for, by name, or every field some read grant shows.
fn columns(plan: &Plan, asked: Option<&[String]>) -> Result<Vec<FieldDef>, AppError> {
    let access = &plan.scoped.access;
    let readable = |f: &FieldDef| access.grants_for(Op::Read).any(|g| g.reads_field(f.id));
    match asked {
        None => Ok(plan
            .table
            .fields
            .iter()
            .filter(|f| readable(f))
            .cloned()
            .collect()),
        Some(names) => {
            let mut out: Vec<FieldDef> = Vec::with_capacity(names.len());
            let mut errors = Vec::new();
            for (i, name) in names.iter().enumerate() {
                match plan.table.field_by_name(name).filter(|f| readable(f)) {
                    Some(f) if out.iter().any(|o| o.id == f.id) => {
                        errors.push(rampart_core::FieldError::new(
                            format!("fields[{i}]"),
                            "duplicate_field",
                            format!("{name:?} is asked for twice"),
                        ))
                    }
                    Some(f) => out.push(f.clone()),
                    None => errors.push(rampart_core::FieldError::new(
                        format!("fields[{i}]"),
                        "unknown_field",
                        format!("the table has no field {name:?} you may read"),
                    )),
                }
            }
            if errors.is_empty() {
                Ok(out)
            } else {
                Err(rampart_core::Invalid { errors }.into())
            }
        }
    }
}

/// Turns link ids into the linked records' primary values and user ids into emails, as the
/// exporting caller may see them.
#[derive(Default)]
struct Resolver {
    names: HashMap<RecordId, Option<String>>,
    emails: HashMap<UserId, Option<String>>,
}

impl Resolver {
    /// Looks up the names and emails a page needs that are not known yet.
    async fn prepare(
        &mut self,
        tx: &mut Tx,
        cache: &AccessCache,
        principal: &Principal,
        columns: &[FieldDef],
        page: &[Record],
        links: LinkForm,
    ) -> Result<(), AppError> {
        if self.names.len() > NAME_CACHE {
            self.names.clear();
        }
        if self.emails.len() > NAME_CACHE {
            self.emails.clear();
        }
        let mut wanted: HashMap<TableId, BTreeSet<RecordId>> = HashMap::new();
        let mut users: BTreeSet<UserId> = BTreeSet::new();
        for f in columns {
            for r in page {
                match (&f.field_type, r.value(f.id)) {
                    (FieldType::Link(o), Value::Links(ids)) if links == LinkForm::Names => {
                        let set = wanted.entry(o.table_id).or_default();
                        set.extend(ids.iter().filter(|id| !self.names.contains_key(id)));
                    }
                    (FieldType::User, Value::User(u)) if !self.emails.contains_key(u) => {
                        users.insert(*u);
                    }
                    _ => {}
                }
            }
        }
        for (table, ids) in wanted {
            let ids: Vec<RecordId> = ids.into_iter().collect();
            let found = primary_values(tx, cache, principal, table, &ids).await?;
            for id in ids {
                let name = found.get(&id).cloned();
                self.names.insert(id, name);
            }
        }
        for u in users {
            let email = identity::user_by_id(tx, u).await?.map(|user| user.email);
            self.emails.insert(u, email);
        }
        Ok(())
    }

    fn cell(&self, field: &FieldDef, value: &Value, links: LinkForm) -> Cell {
        let link_name = |id: &RecordId| match links {
            LinkForm::Names => self
                .names
                .get(id)
                .cloned()
                .flatten()
                .unwrap_or_else(|| id.to_string()),
            LinkForm::Ids => id.to_string(),
        };
        match (value, &field.field_type) {
            (Value::Null, FieldType::MultiSelect(_)) => Cell::List(Vec::new()),
            (Value::Null, FieldType::Link(o)) if o.multiple => Cell::List(Vec::new()),
            (Value::Null, FieldType::Link(_)) => Cell::One(None),
            (Value::Null, _) => Cell::Empty,
            (Value::Links(ids), FieldType::Link(o)) if o.multiple => {
                Cell::List(ids.iter().map(link_name).collect())
            }
            (Value::Links(ids), _) => Cell::One(ids.first().map(link_name)),
            (Value::User(u), _) => Cell::Text(
                self.emails
                    .get(u)
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| u.to_string()),
            ),
            (Value::Text(s), _) => Cell::Text(s.clone()),
            (Value::Integer(n), _) => Cell::Integer(*n),
            (Value::Decimal(d), _) => Cell::Decimal(*d),
            (Value::Boolean(b), _) => Cell::Boolean(*b),
            (Value::Date(d), _) => Cell::Date(*d),
            (Value::Datetime(t), _) => Cell::Datetime(*t),
            (Value::Choices(c), _) => Cell::List(c.clone()),
            (Value::Json(j), _) => Cell::Json(j.clone()),
        }
    }
}

/// The primary values of those of `ids` whose record and primary field the caller may read.
/// A table they may not read gives none (not an error: the link's id is shown instead).
pub async fn primary_values(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    table: TableId,
    ids: &[RecordId],
) -> Result<HashMap<RecordId, String>, AppError> {
    let mut out = HashMap::new();
    let scoped = match scoped(tx, cache, principal, table).await {
        Ok(s) => s,
        Err(AppError::NotFound | AppError::SecondFactorRequired) => return Ok(out),
        Err(e) => return Err(e),
    };
    if !scoped.access.allows(Op::Read) {
        return Ok(out);
    }
    let def = &scoped.access.table;
    let Some(primary) = def.primary().cloned() else {
        return Ok(out);
    };
    let flags = scoped.read_flags(tx)?;
    for chunk in ids.chunks(PAGE as usize) {
        let mut filter = tx.sql();
        filter
            .push("t.id IN (")
            .param_list(chunk.iter().map(|id| Param::Uuid(id.0)))
            .push(")");
        if let Some(visible) = scoped.visible_sql(tx)? {
            filter.push(" AND (").append(visible).push(")");
        }
        let page = records::list(
            tx,
            def,
            ListQuery {
                filter: Some(filter),
                flags: flags.clone(),
                branches: Vec::new(),
                sort: Vec::new(),
                id_descending: false,
                after: None,
                limit: u32::try_from(chunk.len()).unwrap_or(PAGE),
            },
        )
        .await?;
        for (record, answers) in page.records.iter().zip(&page.flags) {
            if !scoped.access.visible_fields(answers).contains(&primary.id) {
                continue;
            }
            let name = match record.value(primary.id) {
                Value::Text(s) if !s.is_empty() => s.clone(),
                Value::Null | Value::Text(_) => continue,
                other => match other.to_json(&primary.field_type) {
                    serde_json::Value::String(s) => s,
                    j => j.to_string(),
                },
            };
            out.insert(record.id, name);
        }
    }
    Ok(out)
}
