//! Import: files into tables. [`source`] reads a file row by row within [`Limits`], [`infer`]
//! guesses a field type per column, and [`preview`] shows a file before anything is written:
//! what was detected, the columns with their inferred types (for a new table) or the fields
//! they map to (for an existing one), and the first rows.

pub mod infer;
pub mod job;
pub mod source;
pub mod write;

use rampart_auth::Principal;
use rampart_auth::authz::cache::AccessCache;
use rampart_auth::authz::definition::Op;
use rampart_core::{FieldType, TableId};
use rampart_store::Tx;
use serde::Serialize;
use serde_json::Value as Json;

pub use source::{Limits, Raw, ReadOptions, SourceFormat};

use super::scoped;
use crate::AppError;

/// Rows read to infer types; the preview shows the first [`SHOWN_ROWS`] of them.
pub const SAMPLE_ROWS: u64 = 1000;
pub const SHOWN_ROWS: usize = 20;

/// One column of a file as the preview shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewColumn {
    /// The header, as the file names it (empty and repeated names made unique).
    pub name: String,
    /// A valid field name for it, for a new table.
    pub field_name: String,
    /// The type inferred from the sampled rows, for a new table.
    #[serde(flatten)]
    pub field_type: FieldType,
    /// The existing table's field this column goes to (its name, matched without regard to
    /// case among the fields the caller may write); `None`: not imported unless mapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maps_to: Option<String>,
    /// Sampled rows where this column is empty.
    pub empty: u64,
}

/// A file before anything is written.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sheets: Vec<String>,
    pub columns: Vec<PreviewColumn>,
    /// The first rows, one value per column (text as the file has it, typed cells typed).
    pub rows: Vec<Vec<Json>>,
    /// Rows the types were inferred from.
    pub rows_sampled: u64,
    /// Whether the file has more rows than were sampled.
    pub more_rows: bool,
}

fn shown(raw: &Raw) -> Json {
    match raw {
        Raw::Empty => Json::Null,
        Raw::Text(s) => Json::String(s.clone()),
        Raw::Integer(n) => Json::from(*n),
        Raw::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Raw::Bool(b) => Json::Bool(*b),
        Raw::Date(d) => Json::String(d.format("%Y-%m-%d").to_string()),
        Raw::Datetime(t) => Json::String(rampart_core::record::format_timestamp(&t.and_utc())),
        Raw::Json(j) => j.clone(),
    }
}

/// Reads the head of a file: detection, inferred types and the first rows (blocking I/O: run
/// it off the async workers).
pub fn preview_file(
    file: std::fs::File,
    options: &ReadOptions,
    limits: &Limits,
) -> Result<Preview, AppError> {
    let (detected, mut rows) = source::open(file, options, limits)?;
    let header = rows.header().to_vec();
    let mut guesser = infer::Guesser::new(header.len());
    let mut empty = vec![0u64; header.len()];
    let mut first = Vec::new();
    let mut more_rows = false;
    while let Some(row) = rows.next_row()? {
        if rows.read() > SAMPLE_ROWS {
            more_rows = true;
            break;
        }
        guesser.add(&row);
        for (n, cell) in empty.iter_mut().zip(&row) {
            *n += u64::from(cell.is_empty());
        }
        if first.len() < SHOWN_ROWS {
            first.push(row.iter().map(shown).collect());
        }
    }
    let columns = header
        .iter()
        .zip(guesser.types())
        .zip(empty)
        .map(|((name, field_type), empty)| PreviewColumn {
            name: name.clone(),
            field_name: infer::field_name(name),
            field_type,
            maps_to: None,
            empty,
        })
        .collect();
    Ok(Preview {
        format: detected.format.as_str(),
        delimiter: detected.delimiter.map(|d| char::from(d).to_string()),
        encoding: detected.encoding,
        sheet: detected.sheet,
        sheets: detected.sheets,
        columns,
        rows: first,
        rows_sampled: rows.read().min(SAMPLE_ROWS),
        more_rows,
    })
}

/// Maps a preview's columns to the fields of `table` the caller may write when creating
/// records (names matched without regard to case); refused when they may not create there.
pub async fn map_columns(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    table: TableId,
    preview: &mut Preview,
) -> Result<(), AppError> {
    let scoped = scoped(tx, cache, principal, table).await?;
    if !scoped.access.allows(Op::Create) {
        return Err(AppError::forbidden(
            "forbidden",
            "your permissions do not allow creating records in this table",
        ));
    }
    let writable: Vec<&rampart_core::FieldDef> = scoped
        .access
        .table
        .fields
        .iter()
        .filter(|f| {
            scoped
                .access
                .grants_for(Op::Create)
                .any(|g| g.writes_field(f.id))
        })
        .collect();
    for column in &mut preview.columns {
        column.maps_to = writable
            .iter()
            .find(|f| {
                f.name.eq_ignore_ascii_case(column.name.trim())
                    || f.name.eq_ignore_ascii_case(&column.field_name)
            })
            .map(|f| f.name.clone());
    }
    Ok(())
}

/// An import job, to its creator or a tenant admin (to anyone else it does not exist).
pub async fn visible_job(
    tx: &mut Tx,
    principal: &Principal,
    id: uuid::Uuid,
) -> Result<rampart_store::imports::Job, AppError> {
    let job = rampart_store::imports::get(tx, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if job.created_by != principal.user.id
        && crate::people::require_tenant_admin(principal).is_err()
    {
        return Err(AppError::NotFound);
    }
    Ok(job)
}

/// The fields of a new table for a file's columns: the preview's field names (made unique)
/// and inferred types, each type replaceable by `types` (column → a type name that needs no
/// options, or `skip`). Returns the fields with the column each comes from.
pub fn new_fields(
    preview: &Preview,
    types: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<Vec<(String, rampart_store::schema::NewField)>, AppError> {
    use rampart_core::field::{DecimalOptions, IntegerOptions, TextOptions};
    let mut errors = Vec::new();
    if let Some(types) = types {
        for column in types.keys() {
            if !preview.columns.iter().any(|c| c.name == *column) {
                errors.push(rampart_core::FieldError::new(
                    format!("types.{column}"),
                    "unknown_column",
                    "the file has no such column",
                ));
            }
        }
    }
    let mut out: Vec<(String, rampart_store::schema::NewField)> = Vec::new();
    for column in &preview.columns {
        let field_type = match types.and_then(|t| t.get(&column.name)).map(String::as_str) {
            None => column.field_type.clone(),
            Some("skip") => continue,
            Some("text") => FieldType::Text(TextOptions::default()),
            Some("long_text") => FieldType::LongText,
            Some("integer") => FieldType::Integer(IntegerOptions::default()),
            Some("decimal") => match &column.field_type {
                FieldType::Decimal(o) => FieldType::Decimal(o.clone()),
                _ => FieldType::Decimal(DecimalOptions::default()),
            },
            Some("boolean") => FieldType::Boolean,
            Some("date") => FieldType::Date,
            Some("datetime") => FieldType::Datetime,
            Some("email") => FieldType::Email,
            Some("url") => FieldType::Url,
            Some("json") => FieldType::Json,
            Some(_) => {
                errors.push(rampart_core::FieldError::new(
                    format!("types.{}", column.name),
                    "invalid_value",
                    "one of text, long_text, integer, decimal, boolean, date, datetime, email, url, json, skip",
                ));
                continue;
            }
        };
        let mut name = column.field_name.clone();
        let mut n = 2;
        while out.iter().any(|(_, f)| f.name.eq_ignore_ascii_case(&name)) {
            name = format!("{} {n}", column.field_name);
            n += 1;
        }
        out.push((
            column.name.clone(),
            rampart_store::schema::NewField {
                name,
                field_type,
                required: false,
                unique: false,
                indexed: false,
                default: None,
                protection: rampart_core::schema::Protection::default(),
            },
        ));
    }
    if out.is_empty() {
        errors.push(rampart_core::FieldError::new(
            "types",
            "nothing_to_import",
            "every column is skipped",
        ));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(rampart_core::Invalid { errors }.into())
    }
}
