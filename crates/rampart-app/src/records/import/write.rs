//! Writing an import: each row's cells become a record body (links resolved by the target
//! table's primary value among the records the importer may read, or by id; users by email),
//! checked like a record created over the API (the importer's grants, every written field,
//! the create rule, unique values), and written on the bulk path in batches, each audited as
//! one `record.import` entry. A row that fails is refused with why, per column, in the API's
//! validation codes; the others go on.
//!
//! An upsert names a unique field as the key: a row whose key matches a record the importer may
//! read updates that record (through the single-record update and its checks and audit entry),
//! the others are created. Rows are taken in file order: a key the file repeats updates the
//! record its earlier row wrote.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rampart_auth::Principal;
use rampart_auth::authz::cache::AccessCache;
use rampart_auth::authz::definition::Op;
use rampart_core::{FieldDef, FieldType, RecordId, TableId, Value};
use rampart_store::imports::Reject;
use rampart_store::{StoreError, Tx, identity, records};
use serde_json::{Value as Json, json};

use super::infer::{boolean_text, datetime_text};
use super::source::Raw;
use crate::AppError;
use crate::records::cells::{split_list, unguard};
use crate::records::list::Plan;
use crate::records::write::ParsedRow;
use crate::records::{FieldValues, Scoped, scoped};
use rampart_core::record::InputMode;

/// Rows written per statement batch (and per transaction in "valid rows" mode).
pub const BATCH_ROWS: usize = 1000;

/// Refused rows kept with a job (more are counted, not kept).
pub const KEPT_REJECTS: usize = 10_000;

/// All or nothing (the default), or write the valid rows and refuse the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    AllOrNothing,
    ValidRows,
}

impl Mode {
    /// The mode a client names (`all_or_nothing` when none).
    pub fn parse(text: Option<&str>) -> Result<Self, AppError> {
        match text {
            None | Some("all_or_nothing") => Ok(Mode::AllOrNothing),
            Some("valid_rows") => Ok(Mode::ValidRows),
            Some(_) => Err(AppError::invalid(
                "mode",
                "invalid_value",
                "one of all_or_nothing, valid_rows",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::AllOrNothing => "all_or_nothing",
            Mode::ValidRows => "valid_rows",
        }
    }
}

/// A running import's counts, read by whoever asks while it runs, and its cancellation.
#[derive(Debug, Default)]
pub struct Progress {
    pub read: AtomicU64,
    /// Rows written: created, or updated by an upsert.
    pub written: AtomicU64,
    /// Of the rows written, those that updated a record.
    pub updated: AtomicU64,
    pub rejected: AtomicU64,
    pub cancel: AtomicBool,
    /// Bytes of the file read so far, and its size (0: not known).
    pub position: AtomicU64,
    pub size: AtomicU64,
}

impl Progress {
    /// Seconds left at the rate so far, when the file's reading position is known.
    pub fn seconds_left(&self, elapsed: std::time::Duration) -> Option<u64> {
        let (at, size) = (
            self.position.load(Ordering::Relaxed),
            self.size.load(Ordering::Relaxed),
        );
        if at == 0 || size == 0 {
            return None;
        }
        let left = size.saturating_sub(at) as f64 / at as f64;
        Some((elapsed.as_secs_f64() * left).ceil() as u64)
    }

    /// The share of the file read so far (0 to 1), when its size is known.
    pub fn share_read(&self) -> Option<f64> {
        let (at, size) = (
            self.position.load(Ordering::Relaxed),
            self.size.load(Ordering::Relaxed),
        );
        (size > 0).then(|| (at as f64 / size as f64).min(1.0))
    }

    pub fn counts(&self) -> rampart_store::imports::Counts {
        rampart_store::imports::Counts {
            read: self.read.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            updated: self.updated.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }
}

/// Where each column of the file goes: a field, or nowhere.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub header: Vec<String>,
    pub targets: Vec<Option<FieldDef>>,
    /// Whether text cells may carry the formula guard export writes (CSV, TSV, XLSX).
    pub sheet: bool,
    /// The column whose field is the upsert key.
    pub key: Option<usize>,
    /// The column naming each record's owner by email (the importer owns the records
    /// otherwise, and when the cell is empty).
    pub owner: Option<usize>,
}

impl Mapping {
    /// The mapping as the job records it: column → field name (or null).
    pub fn describe(&self) -> Json {
        Json::Array(
            self.header
                .iter()
                .zip(&self.targets)
                .enumerate()
                .map(|(i, (c, t))| {
                    let field = match t {
                        Some(f) => Json::String(f.name.clone()),
                        None if self.owner == Some(i) => Json::String(OWNER.into()),
                        None => Json::Null,
                    };
                    let mut one = json!({"column": c, "field": field});
                    if self.key == Some(i) {
                        one["key"] = Json::Bool(true);
                    }
                    one
                })
                .collect(),
        )
    }
}

/// The name a column maps to for the records' owner.
const OWNER: &str = "owner";

/// Maps columns to the fields of `table` the importer may write when creating: as `asked`
/// says (column → field name, or `None` to skip it), else by name without regard to case.
/// A column may name the owner (`owner`, by email) when the importer may set it.
/// With `upsert`, that field (unique, mapped, and one the importer may filter on) is the key,
/// and the importer must also be allowed to update records.
#[allow(clippy::too_many_arguments)]
pub async fn mapping(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    table: TableId,
    header: Vec<String>,
    asked: Option<&BTreeMap<String, Option<String>>>,
    sheet: bool,
    upsert: Option<&str>,
) -> Result<Mapping, AppError> {
    let scoped = scoped(tx, cache, principal, table).await?;
    if !scoped.access.allows(Op::Create) {
        return Err(AppError::forbidden(
            "forbidden",
            "your permissions do not allow creating records in this table",
        ));
    }
    let writable = |f: &&FieldDef| {
        scoped
            .access
            .grants_for(Op::Create)
            .any(|g| g.writes_field(f.id))
    };
    let fields: Vec<&FieldDef> = scoped.access.table.fields.iter().filter(writable).collect();
    let create_grants: Vec<_> = scoped.access.grants_for(Op::Create).collect();
    let sets_owner = scoped
        .access
        .check_writes(Op::Create, &create_grants, &[], true)
        .is_ok();
    let mut errors = Vec::new();
    if let Some(asked) = asked {
        for (column, field) in asked {
            if !header.iter().any(|h| h == column) {
                errors.push(rampart_core::FieldError::new(
                    format!("map.{column}"),
                    "unknown_column",
                    "the file has no such column",
                ));
            }
            if field.as_deref() == Some(OWNER) && !sets_owner {
                errors.push(rampart_core::FieldError::new(
                    format!("map.{column}"),
                    "field_not_writable",
                    "your permissions do not allow setting the owner",
                ));
            } else if let Some(name) = field
                && name != OWNER
                && !fields.iter().any(|f| f.name == *name)
            {
                errors.push(rampart_core::FieldError::new(
                    format!("map.{column}"),
                    "unknown_field",
                    format!("the table has no field {name:?} you may write"),
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(rampart_core::Invalid { errors }.into());
    }
    let targets: Vec<Option<FieldDef>> = header
        .iter()
        .map(|column| {
            let chosen = match asked.and_then(|a| a.get(column)) {
                Some(None) => return None,
                Some(Some(name)) => fields.iter().find(|f| f.name == *name),
                None => fields.iter().find(|f| {
                    f.name.eq_ignore_ascii_case(column.trim())
                        || f.name
                            .eq_ignore_ascii_case(&super::infer::field_name(column))
                }),
            };
            chosen.map(|f| (*f).clone())
        })
        .collect();
    let mut seen = Vec::new();
    for (column, target) in header.iter().zip(&targets) {
        if let Some(f) = target {
            if seen.contains(&f.id) {
                errors.push(rampart_core::FieldError::new(
                    format!("map.{column}"),
                    "duplicate_field",
                    format!("another column already goes to {:?}", f.name),
                ));
            }
            seen.push(f.id);
        }
    }
    if !errors.is_empty() {
        return Err(rampart_core::Invalid { errors }.into());
    }
    if targets.iter().all(Option::is_none) {
        return Err(AppError::invalid(
            "map",
            "nothing_to_import",
            "no column maps to a field you may write; name the fields with map",
        ));
    }
    let owner = header
        .iter()
        .position(|column| match asked.and_then(|a| a.get(column)) {
            Some(Some(name)) => name == OWNER,
            Some(None) => false,
            None => sets_owner && column.trim().eq_ignore_ascii_case(OWNER),
        });
    let key = match upsert {
        None => None,
        Some(name) => Some(upsert_key(tx, cache, principal, &scoped, &targets, name).await?),
    };
    Ok(Mapping {
        header,
        targets,
        sheet,
        key,
        owner,
    })
}

/// The column of the upsert key `name`, after checking the field can be one.
async fn upsert_key(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    scoped: &Scoped,
    targets: &[Option<FieldDef>],
    name: &str,
) -> Result<usize, AppError> {
    if !scoped.access.allows(Op::Update) {
        return Err(AppError::forbidden(
            "forbidden",
            "your permissions do not allow updating records in this table, which an upsert does",
        ));
    }
    let refuse = |code: &'static str, message: &str| AppError::invalid("upsert", code, message);
    let Some(field) = scoped
        .access
        .table
        .field_by_name(name)
        .filter(|f| scoped.access.knows_field(f.id))
    else {
        return Err(refuse("unknown_field", "the table has no such field"));
    };
    if !field.unique {
        return Err(refuse(
            "not_unique",
            "the key of an upsert must be a unique field",
        ));
    }
    if !key_type(&field.field_type) {
        return Err(refuse(
            "invalid_key_type",
            "the key of an upsert must be a text, email, url or integer field",
        ));
    }
    let Some(column) = targets
        .iter()
        .position(|t| t.as_ref().is_some_and(|f| f.id == field.id))
    else {
        return Err(refuse(
            "key_not_mapped",
            "no column of the file maps to the key",
        ));
    };
    // The key is looked up with a filter on it, which the importer must be allowed to use.
    let probe = rampart_rules::parse(&format!("`{}` = {}", field.name, key_literal(field, "0")))
        .map_err(|_| refuse("invalid_value", "the key cannot be filtered on"))?;
    match Plan::new(
        tx,
        cache,
        principal,
        scoped.access.table.id,
        Some(&probe),
        None,
    )
    .await
    {
        Ok(_) => Ok(column),
        Err(AppError::Invalid(_) | AppError::Forbidden { .. }) => Err(refuse(
            "key_not_readable",
            "you may not read or filter on the key, so records cannot be matched by it",
        )),
        Err(e) => Err(e),
    }
}

/// Whether records can be matched by a field of this type (a text or integer equality).
fn key_type(ty: &FieldType) -> bool {
    ty.is_text_like() || matches!(ty, FieldType::Integer(_) | FieldType::SingleSelect(_))
}

/// A value of `field` as a literal of the rule language (an integer field's non-number: none).
fn key_literal(field: &FieldDef, value: &str) -> String {
    match field.field_type {
        FieldType::Integer(_) => value
            .trim()
            .parse::<i64>()
            .map_or_else(|_| String::new(), |v| v.to_string()),
        _ => rule_string(value),
    }
}

/// One row's value for one field before links and users are looked up.
enum Pending {
    Ready(Json),
    /// Linked records by primary value or id.
    Links(Vec<String>),
    /// A user by email.
    User(String),
}

fn raw_text(raw: &Raw, sheet: bool) -> String {
    match raw {
        Raw::Empty => String::new(),
        Raw::Text(s) if sheet => unguard(s).to_owned(),
        Raw::Text(s) => s.clone(),
        Raw::Integer(n) => n.to_string(),
        Raw::Float(f) => f.to_string(),
        Raw::Bool(b) => b.to_string(),
        Raw::Date(d) => d.format("%Y-%m-%d").to_string(),
        Raw::Datetime(t) => rampart_core::record::format_timestamp(&t.and_utc()),
        Raw::Json(j) => j.to_string(),
    }
}

/// A cell as the JSON a client would send for the field; what does not fit is passed on as
/// text, for the field's own validation to refuse with its usual code.
fn convert(raw: &Raw, field: &FieldDef, sheet: bool) -> Result<Pending, rampart_core::FieldError> {
    if raw.is_empty() {
        return Ok(Pending::Ready(match &field.field_type {
            FieldType::MultiSelect(_) => Json::Array(Vec::new()),
            _ => Json::Null,
        }));
    }
    let text = || raw_text(raw, sheet);
    Ok(Pending::Ready(match (&field.field_type, raw) {
        (FieldType::Integer(_), Raw::Integer(n)) => Json::from(*n),
        (FieldType::Integer(_) | FieldType::Decimal(_), Raw::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or_else(|| Json::String(text()), Json::Number)
        }
        (FieldType::Integer(_), Raw::Text(_)) => {
            let t = text();
            t.trim().parse::<i64>().map_or(Json::String(t), Json::from)
        }
        (FieldType::Decimal(_), Raw::Integer(n)) => Json::from(*n),
        (FieldType::Decimal(_), _) => Json::String(text().trim().to_owned()),
        (FieldType::Boolean, Raw::Bool(b)) => Json::Bool(*b),
        (FieldType::Boolean, Raw::Integer(n)) if *n == 0 || *n == 1 => Json::Bool(*n == 1),
        (FieldType::Boolean, _) => {
            let t = text();
            boolean_text(&t).map_or(Json::String(t), Json::Bool)
        }
        (FieldType::Date, Raw::Datetime(t)) if t.time() == chrono::NaiveTime::MIN => {
            Json::String(t.date().format("%Y-%m-%d").to_string())
        }
        (FieldType::Date, _) => Json::String(text().trim().to_owned()),
        (FieldType::Datetime, Raw::Date(d)) => Json::String(
            rampart_core::record::format_timestamp(&d.and_time(chrono::NaiveTime::MIN).and_utc()),
        ),
        (FieldType::Datetime, _) => {
            let t = text();
            Json::String(datetime_text(t.trim()).unwrap_or(t))
        }
        (FieldType::MultiSelect(_), Raw::Json(j @ Json::Array(_))) => j.clone(),
        (FieldType::MultiSelect(_), _) => Json::from(split_list(&text())),
        (FieldType::Json, Raw::Json(j)) => j.clone(),
        // A JSON file's string is a JSON string; a sheet holds JSON as its text.
        (FieldType::Json, Raw::Text(s)) if !sheet => Json::String(s.clone()),
        (FieldType::Json, Raw::Integer(n)) => Json::from(*n),
        (FieldType::Json, Raw::Bool(b)) => Json::Bool(*b),
        (FieldType::Json, _) => serde_json::from_str(&text()).map_err(|_| {
            rampart_core::FieldError::new(&field.name, "invalid_json", "is not valid JSON")
        })?,
        (FieldType::Link(_), Raw::Json(Json::Array(items))) => {
            return Ok(Pending::Links(
                items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect(),
            ));
        }
        (FieldType::Link(_), _) => return Ok(Pending::Links(split_list(&text()))),
        (FieldType::User, _) => return Ok(Pending::User(text().trim().to_owned())),
        (_, Raw::Json(j)) => Json::String(j.to_string()),
        _ => Json::String(text()),
    }))
}

/// A row on its way: its number, its cells, and its values by column.
type PendingRow = (u64, Vec<Raw>, Vec<(usize, Pending)>);

/// A checked row: its number, its cells (for the rejects file), its body and its owner when
/// it is not the importer.
#[derive(Debug)]
struct Checked {
    row: u64,
    cells: Vec<Raw>,
    body: FieldValues,
    owner: Option<rampart_core::UserId>,
    /// The body validated in create mode, when it was (not for an upsert's rows).
    parsed: Option<Parsed>,
}

/// A body as [`Scoped::input`] validated it: the fields it writes and its values.
type Parsed = (
    Vec<rampart_core::FieldId>,
    BTreeMap<rampart_core::FieldId, Value>,
);

/// A string literal of the rule language.
fn rule_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Records of `table` the importer may read whose primary value is one of `names`: each
/// name with the records that bear it (more than one: ambiguous).
async fn by_primary(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    table: TableId,
    names: &[String],
) -> Result<HashMap<String, Vec<Found>>, AppError> {
    let primary = match scoped(tx, cache, principal, table).await {
        Ok(s) => s.access.table.primary().cloned(),
        Err(AppError::NotFound | AppError::SecondFactorRequired) => None,
        Err(e) => return Err(e),
    };
    let Some(primary) = primary else {
        return Ok(HashMap::new());
    };
    match by_value(tx, cache, principal, table, &primary, names).await {
        // The importer may not filter on the primary field: nothing resolves by name.
        Err(AppError::Invalid(_) | AppError::Forbidden { .. }) => Ok(HashMap::new()),
        other => other,
    }
}

/// A record found by a value: its id and version.
#[derive(Debug, Clone, Copy)]
struct Found {
    id: RecordId,
    version: i64,
}

/// Records of `table` the importer may read whose `field` holds one of `values`, by value.
async fn by_value(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    table: TableId,
    field: &FieldDef,
    values: &[String],
) -> Result<HashMap<String, Vec<Found>>, AppError> {
    let mut out: HashMap<String, Vec<Found>> = HashMap::new();
    if !key_type(&field.field_type) {
        return Ok(out);
    }
    for chunk in values.chunks(100) {
        let literals: Vec<String> = chunk
            .iter()
            .map(|v| key_literal(field, v))
            .filter(|l| !l.is_empty())
            .collect();
        if literals.is_empty() {
            continue;
        }
        let text = literals
            .iter()
            .map(|l| format!("`{}` = {l}", field.name))
            .collect::<Vec<_>>()
            .join(" || ");
        let Ok(expr) = rampart_rules::parse(&text) else {
            continue;
        };
        let plan = Plan::new(tx, cache, principal, table, Some(&expr), None).await?;
        let page = plan
            .fetch(
                tx,
                None,
                u32::try_from(chunk.len() * 2 + 1).unwrap_or(u32::MAX),
            )
            .await?;
        for record in &page.records {
            let value = match record.value(field.id) {
                Value::Text(s) => s.clone(),
                Value::Integer(n) => n.to_string(),
                _ => continue,
            };
            out.entry(value).or_default().push(Found {
                id: record.id,
                version: record.version,
            });
        }
    }
    Ok(out)
}

/// Why a row was refused, per column: the API's validation codes.
fn why(e: &AppError, mapping: &Mapping) -> Option<Vec<Json>> {
    let column_of = |field: &str| {
        // `fields.tags[0]` is about the field `tags`.
        let name = field.split('[').next().unwrap_or(field);
        let name = name.rsplit('.').next().unwrap_or(name);
        mapping
            .header
            .iter()
            .zip(&mapping.targets)
            .find(|(_, t)| t.as_ref().is_some_and(|f| f.name == name))
            .map_or_else(|| name.to_owned(), |(c, _)| c.clone())
    };
    let one = |field: Option<String>, code: &str, message: &str| json!({"column": field, "code": code, "message": message});
    Some(match e {
        AppError::Invalid(i) => i
            .errors
            .iter()
            .map(|fe| one(Some(column_of(&fe.field)), fe.code, &fe.message))
            .collect(),
        AppError::InOperation { source, .. } => return why(source, mapping),
        AppError::Forbidden {
            code,
            detail,
            errors,
        } if errors.is_empty() => {
            vec![one(None, code, detail)]
        }
        AppError::Forbidden { errors, .. } => errors
            .iter()
            .map(|fe| one(Some(column_of(&fe.field)), fe.code, &fe.message))
            .collect(),
        AppError::Store(s) => return store_why(s, &column_of),
        // The record changed while the upsert ran.
        AppError::Conflict { code, detail } => vec![one(None, code, detail)],
        _ => return None,
    })
}

fn store_why(e: &StoreError, column_of: &dyn Fn(&str) -> String) -> Option<Vec<Json>> {
    Some(match e {
        StoreError::InBatch { source, .. } => return store_why(source, column_of),
        StoreError::Duplicate { field } => vec![json!({
            "column": column_of(field), "code": "duplicate_value", "message": "must be unique"
        })],
        StoreError::Invalid(i) => i
            .errors
            .iter()
            .map(|fe| json!({"column": column_of(&fe.field), "code": fe.code, "message": fe.message}))
            .collect(),
        _ => return None,
    })
}

/// The row an error is about, by its operation name (`row[17]`).
fn failing_row(e: &AppError) -> Option<u64> {
    let op = match e {
        AppError::InOperation { op, .. } => op.as_str(),
        AppError::Store(StoreError::InBatch { op, .. }) => op.as_str(),
        _ => return None,
    };
    op.strip_prefix("row[")?.strip_suffix(']')?.parse().ok()
}

/// What one batch did.
#[derive(Debug, Default)]
pub struct BatchDone {
    /// Rows created or updated.
    pub written: u64,
    /// Of those, the rows that updated a record (an upsert's matches).
    pub updated: u64,
    pub rejects: Vec<Reject>,
}

/// A row as the rejects file shows it.
fn reject(row: u64, cells: &[Raw], errors: Vec<Json>, sheet: bool) -> Reject {
    Reject {
        row,
        errors: Json::Array(errors),
        cells: cells.iter().map(|c| raw_text(c, sheet)).collect(),
    }
}

/// Converts, checks and writes one batch of rows (each with its row number in the file); the
/// rows that fail are refused, the rest written.
pub async fn write_batch(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    table: TableId,
    mapping: &Mapping,
    rows: Vec<(u64, Vec<Raw>)>,
    job: uuid::Uuid,
) -> Result<BatchDone, AppError> {
    let scoped = scoped(tx, cache, principal, table).await?;
    let mut done = BatchDone::default();
    // Cells to values, links and users still to be looked up.
    let mut pending: Vec<PendingRow> = Vec::with_capacity(rows.len());
    for (row, cells) in rows {
        let mut values = Vec::new();
        let mut errors = Vec::new();
        for (i, (cell, target)) in cells.iter().zip(&mapping.targets).enumerate() {
            let Some(field) = target else { continue };
            match convert(cell, field, mapping.sheet) {
                Ok(p) => values.push((i, p)),
                Err(e) => errors.push(json!({
                    "column": mapping.header[i], "code": e.code, "message": e.message
                })),
            }
        }
        if errors.is_empty() {
            pending.push((row, cells, values));
        } else {
            done.rejects
                .push(reject(row, &cells, errors, mapping.sheet));
        }
    }
    let names = resolve_links(tx, cache, principal, mapping, &pending).await?;
    let owner_of = |cells: &[Raw]| {
        mapping
            .owner
            .and_then(|i| cells.get(i))
            .map(|c| raw_text(c, mapping.sheet).trim().to_owned())
            .filter(|e| !e.is_empty())
    };
    let mut emails: HashMap<String, Option<rampart_core::UserId>> = HashMap::new();
    for (_, cells, values) in &pending {
        let users = values.iter().filter_map(|(_, p)| match p {
            Pending::User(email) => Some(email.clone()),
            _ => None,
        });
        for email in users.chain(owner_of(cells)) {
            if !email.is_empty() && !emails.contains_key(&email) {
                let user = identity::user_by_email(tx, &email)
                    .await?
                    .map(|u| u.user.id);
                emails.insert(email, user);
            }
        }
    }
    let me = principal.user.id;
    let mut bodies: Vec<Checked> = Vec::with_capacity(pending.len());
    for (row, cells, values) in pending {
        let mut body = FieldValues::new();
        let mut errors = Vec::new();
        let mut owner = None;
        if let (Some(i), Some(email)) = (mapping.owner, owner_of(&cells)) {
            match emails.get(&email).copied().flatten() {
                Some(id) => owner = Some(id).filter(|o| *o != me),
                None => errors.push(json!({"column": mapping.header[i], "code": "unknown_user",
                    "message": format!("no user of this tenant has the email {email:?}")})),
            }
        }
        for (i, p) in values {
            let Some(field) = &mapping.targets[i] else {
                continue;
            };
            let value = match p {
                Pending::Ready(j) => j,
                Pending::User(email) if email.is_empty() => Json::Null,
                Pending::User(email) => match emails.get(&email).copied().flatten() {
                    Some(id) => Json::String(id.to_string()),
                    None => {
                        errors.push(json!({"column": mapping.header[i], "code": "unknown_user",
                            "message": format!("no user of this tenant has the email {email:?}")}));
                        continue;
                    }
                },
                Pending::Links(items) => {
                    match link_ids(field, &items, names.get(&field.id)) {
                        Ok(j) => j,
                        Err((code, message)) => {
                            errors.push(json!({"column": mapping.header[i], "code": code, "message": message}));
                            continue;
                        }
                    }
                }
            };
            body.insert(field.name.clone(), value);
        }
        // Every other problem of the row too, as the API would name it.
        // (An upsert's row may update a record, so fields a new record needs are checked
        // when it is created.)
        let mode = match mapping.key {
            None => rampart_core::record::InputMode::Create,
            Some(_) => rampart_core::record::InputMode::Update,
        };
        let parsed = match scoped.input(&body, mode, "") {
            Ok(p) => (mode == rampart_core::record::InputMode::Create).then_some(p),
            Err(e) => {
                errors.extend(why(&e, mapping).unwrap_or_default());
                None
            }
        };
        if errors.is_empty() {
            bodies.push(Checked {
                row,
                cells,
                body,
                owner,
                parsed,
            });
        } else {
            done.rejects
                .push(reject(row, &cells, errors, mapping.sheet));
        }
    }
    match mapping.key {
        None => create_rows(tx, &scoped, mapping, bodies, job, &mut done).await?,
        Some(key) => {
            upsert_rows(
                tx, cache, principal, &scoped, mapping, key, bodies, job, &mut done,
            )
            .await?
        }
    }
    done.rejects.sort_by_key(|r| r.row);
    Ok(done)
}

/// Creates checked rows: those the importer owns together on the bulk path (a row the store or
/// the rules refuse is taken out and the rest tried again, each attempt inside a savepoint so
/// a refused attempt leaves nothing), those owned by someone else one by one, through the
/// single-record create and its checks of the owner.
async fn create_rows(
    tx: &mut Tx,
    scoped: &Scoped,
    mapping: &Mapping,
    rows: Vec<Checked>,
    job: uuid::Uuid,
    done: &mut BatchDone,
) -> Result<(), AppError> {
    let (mine, others): (Vec<Checked>, Vec<Checked>) =
        rows.into_iter().partition(|r| r.owner.is_none());
    for r in others {
        savepoint(tx, "SAVEPOINT import_row").await?;
        let path = format!("row[{}].fields", r.row);
        let created = scoped.create(tx, &r.body, r.owner, &path).await;
        settle(tx, created, &r, mapping, done).await?;
    }
    // The rows to create together, each with its validated values (`parsed[i]` is `kept[i]`).
    let mut parsed: Vec<ParsedRow> = Vec::with_capacity(mine.len());
    let mut kept: Vec<Checked> = Vec::with_capacity(mine.len());
    for mut r in mine {
        let op = format!("row[{}]", r.row);
        let valid = match r.parsed.take() {
            Some(p) => Ok(p),
            None => scoped
                .input(&r.body, InputMode::Create, &format!("{op}.fields"))
                .map_err(|e| e.in_operation(&op)),
        };
        match valid {
            Ok((fields, values)) => {
                parsed.push(ParsedRow { op, fields, values });
                kept.push(r);
            }
            Err(e) => {
                let Some(errors) = why(&e, mapping) else {
                    return Err(e);
                };
                done.rejects
                    .push(reject(r.row, &r.cells, errors, mapping.sheet));
            }
        }
    }
    let audit = records::BulkAudit::Batch { job };
    while !parsed.is_empty() {
        savepoint(tx, "SAVEPOINT import_rows").await?;
        match scoped.create_parsed(tx, &parsed, audit).await {
            Ok(ids) => {
                savepoint(tx, "RELEASE SAVEPOINT import_rows").await?;
                done.written += ids.len() as u64;
                break;
            }
            Err(e) => {
                savepoint(tx, "ROLLBACK TO SAVEPOINT import_rows").await?;
                savepoint(tx, "RELEASE SAVEPOINT import_rows").await?;
                let (Some(row), Some(errors)) = (failing_row(&e), why(&e, mapping)) else {
                    return Err(e);
                };
                let Some(at) = kept.iter().position(|r| r.row == row) else {
                    return Err(e);
                };
                parsed.remove(at);
                let r = kept.remove(at);
                done.rejects
                    .push(reject(r.row, &r.cells, errors, mapping.sheet));
            }
        }
    }
    Ok(())
}

/// A row's upsert key as the lookup reads it (none: the row is created).
fn key_text(body: &FieldValues, field: &FieldDef) -> Option<String> {
    match body.get(&field.name)? {
        Json::String(s) if !s.is_empty() => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Upserts checked rows in file order: in rounds of rows with distinct keys, each round's
/// keys looked up once, matches updated one by one and the rest created together; a row
/// whose key an earlier row of the round holds waits for the next round, to update the
/// record that row wrote.
#[allow(clippy::too_many_arguments)]
async fn upsert_rows(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    scoped: &Scoped,
    mapping: &Mapping,
    key: usize,
    mut bodies: Vec<Checked>,
    job: uuid::Uuid,
    done: &mut BatchDone,
) -> Result<(), AppError> {
    let Some(field) = mapping.targets.get(key).and_then(Option::as_ref) else {
        return create_rows(tx, scoped, mapping, bodies, job, done).await;
    };
    while !bodies.is_empty() {
        let mut round = Vec::new();
        let mut later = Vec::new();
        let mut keys = std::collections::HashSet::new();
        for b in bodies {
            let repeated = key_text(&b.body, field).is_some_and(|k| !keys.insert(k));
            if repeated {
                later.push(b);
            } else {
                round.push(b);
            }
        }
        bodies = later;
        let wanted: Vec<String> = keys.into_iter().collect();
        let found = by_value(tx, cache, principal, scoped.access.table.id, field, &wanted).await?;
        let mut creates = Vec::new();
        for r in round {
            let matched = key_text(&r.body, field).and_then(|k| found.get(&k));
            let record = match matched.map(Vec::as_slice) {
                None | Some([]) => {
                    creates.push(r);
                    continue;
                }
                Some([one]) => *one,
                Some(_) => {
                    let errors = vec![
                        json!({"column": mapping.header[key], "code": "ambiguous_key",
                        "message": "several records hold this key"}),
                    ];
                    done.rejects
                        .push(reject(r.row, &r.cells, errors, mapping.sheet));
                    continue;
                }
            };
            savepoint(tx, "SAVEPOINT import_row").await?;
            let path = format!("row[{}].fields", r.row);
            let updated = scoped
                .update(tx, record.id, record.version, &r.body, r.owner, &path)
                .await;
            if settle(tx, updated, &r, mapping, done).await? {
                done.updated += 1;
            }
        }
        create_rows(tx, scoped, mapping, creates, job, done).await?;
    }
    Ok(())
}

/// Ends the savepoint of one row's write: kept when it succeeded (`Ok(true)`, counted as
/// written), rolled back with the row refused when the checks or the store refused it.
async fn settle<T>(
    tx: &mut Tx,
    result: Result<T, AppError>,
    r: &Checked,
    mapping: &Mapping,
    done: &mut BatchDone,
) -> Result<bool, AppError> {
    match result {
        Ok(_) => {
            savepoint(tx, "RELEASE SAVEPOINT import_row").await?;
            done.written += 1;
            Ok(true)
        }
        Err(e) => {
            savepoint(tx, "ROLLBACK TO SAVEPOINT import_row").await?;
            savepoint(tx, "RELEASE SAVEPOINT import_row").await?;
            let Some(errors) = why(&e, mapping) else {
                return Err(e);
            };
            done.rejects
                .push(reject(r.row, &r.cells, errors, mapping.sheet));
            Ok(false)
        }
    }
}

async fn savepoint(tx: &mut Tx, statement: &'static str) -> Result<(), AppError> {
    let mut q = tx.sql();
    q.push(statement);
    tx.execute(q).await?;
    Ok(())
}

/// For each link field of the mapping, the names its cells use, looked up once per batch.
async fn resolve_links(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    mapping: &Mapping,
    pending: &[PendingRow],
) -> Result<HashMap<rampart_core::FieldId, HashMap<String, Vec<Found>>>, AppError> {
    let mut out = HashMap::new();
    for (i, target) in mapping.targets.iter().enumerate() {
        let Some(field) = target else { continue };
        let FieldType::Link(options) = &field.field_type else {
            continue;
        };
        let mut names: Vec<String> = Vec::new();
        for (_, _, values) in pending {
            for (j, p) in values {
                if let (true, Pending::Links(items)) = (*j == i, p) {
                    for item in items {
                        if item.parse::<RecordId>().is_err() && !names.contains(item) {
                            names.push(item.clone());
                        }
                    }
                }
            }
        }
        let found = by_primary(tx, cache, principal, options.table_id, &names).await?;
        out.insert(field.id, found);
    }
    Ok(out)
}

/// A link cell's items as the ids a client would send: record ids as they are, names by the
/// target's primary value.
fn link_ids(
    field: &FieldDef,
    items: &[String],
    names: Option<&HashMap<String, Vec<Found>>>,
) -> Result<Json, (&'static str, String)> {
    let mut ids = Vec::with_capacity(items.len());
    for item in items.iter().filter(|i| !i.is_empty()) {
        if let Ok(id) = item.parse::<RecordId>() {
            ids.push(id.to_string());
            continue;
        }
        match names.and_then(|n| n.get(item)).map(Vec::as_slice) {
            Some([one]) => ids.push(one.id.to_string()),
            Some([]) | None => {
                return Err((
                    "unresolved_link",
                    format!("no record you may read is named {item:?}"),
                ));
            }
            Some(_) => {
                return Err((
                    "ambiguous_link",
                    format!("several records are named {item:?}; use its id"),
                ));
            }
        }
    }
    let multiple = matches!(&field.field_type, FieldType::Link(o) if o.multiple);
    Ok(match (multiple, ids.as_slice()) {
        (true, _) => Json::from(ids),
        (false, []) => Json::Null,
        (false, [one]) => Json::String(one.clone()),
        (false, _) => {
            return Err(("too_many_links", "this field links one record".to_owned()));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_left_follows_the_rate_so_far() {
        let p = Progress::default();
        let ten = std::time::Duration::from_secs(10);
        assert_eq!(p.seconds_left(ten), None, "nothing read yet");
        p.size.store(1000, Ordering::Relaxed);
        p.position.store(250, Ordering::Relaxed);
        assert_eq!(p.seconds_left(ten), Some(30));
        p.position.store(1000, Ordering::Relaxed);
        assert_eq!(p.seconds_left(ten), Some(0));
    }

    #[test]
    fn rule_strings_escape_what_the_lexer_reads() {
        let s = "a \"b\" \\ c\nd\u{1}";
        let expr = rampart_rules::parse(&format!("x = {}", rule_string(s))).unwrap();
        assert!(expr.to_string().contains("\\\"b\\\""), "{expr}");
    }
}
