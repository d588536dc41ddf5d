//! Export formats: rows of cells written as CSV or TSV (RFC 4180), a JSON array, NDJSON, or an
//! XLSX workbook. Text and JSON formats hand out their bytes in chunks as they fill; an XLSX
//! sheet is written to a temporary file in constant memory and its workbook assembled at the
//! end (the zip format's directory comes last).

use std::io::{Read, Write};

use chrono::{DateTime, NaiveDate, Utc};
use rampart_core::Decimal;
use serde_json::Value as Json;

use super::cells::{guard, join_list};
use crate::AppError;

/// A chunk is handed out once it holds this many bytes.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// XLSX holds at most 1,048,576 rows a sheet; one is the header.
pub const XLSX_MAX_RECORDS: u64 = 1_048_575;

/// A file format records are exported as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Tsv,
    Json,
    Ndjson,
    Xlsx,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Csv,
        Format::Tsv,
        Format::Json,
        Format::Ndjson,
        Format::Xlsx,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Tsv => "tsv",
            Self::Json => "json",
            Self::Ndjson => "ndjson",
            Self::Xlsx => "xlsx",
        }
    }

    pub fn parse(text: &str) -> Result<Self, AppError> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| {
                AppError::invalid(
                    "format",
                    "invalid_value",
                    "one of csv, tsv, json, ndjson, xlsx",
                )
            })
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Tsv => "text/tab-separated-values; charset=utf-8",
            Self::Json => "application/json",
            Self::Ndjson => "application/x-ndjson",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    /// Whether cells are text a spreadsheet may run as formulas.
    fn is_sheet(self) -> bool {
        matches!(self, Self::Csv | Self::Tsv | Self::Xlsx)
    }
}

/// One exported value, typed so that each format writes it its own way.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Integer(i64),
    Decimal(Decimal),
    Boolean(bool),
    Date(NaiveDate),
    Datetime(DateTime<Utc>),
    /// A multiple select, or several links: in a sheet one cell (see [`join_list`]), in JSON
    /// an array.
    List(Vec<String>),
    /// A single link: in JSON a string or null.
    One(Option<String>),
    Json(Json),
}

impl Cell {
    /// The cell as text in a CSV or TSV file (formulas guarded).
    fn text(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            Cell::Empty | Cell::One(None) => Cow::Borrowed(""),
            Cell::Text(s) | Cell::One(Some(s)) => guard(s),
            Cell::Integer(n) => Cow::Owned(n.to_string()),
            Cell::Decimal(d) => Cow::Owned(d.to_string()),
            Cell::Boolean(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Cell::Date(d) => Cow::Owned(d.format("%Y-%m-%d").to_string()),
            Cell::Datetime(t) => Cow::Owned(rampart_core::record::format_timestamp(t)),
            Cell::List(items) => Cow::Owned(guard(&join_list(items)).into_owned()),
            Cell::Json(j) => Cow::Owned(guard(&j.to_string()).into_owned()),
        }
    }

    fn json(&self) -> Json {
        match self {
            Cell::Empty | Cell::One(None) => Json::Null,
            Cell::Text(s) | Cell::One(Some(s)) => Json::String(s.clone()),
            Cell::Integer(n) => Json::from(*n),
            Cell::Decimal(d) => Json::String(d.to_string()),
            Cell::Boolean(b) => Json::Bool(*b),
            Cell::Date(d) => Json::String(d.format("%Y-%m-%d").to_string()),
            Cell::Datetime(t) => Json::String(rampart_core::record::format_timestamp(t)),
            Cell::List(items) => Json::from(items.clone()),
            Cell::Json(j) => j.clone(),
        }
    }
}

fn io_error(e: impl std::fmt::Display) -> AppError {
    AppError::internal(&format!("writing the export: {e}"))
}

/// Writes rows in one format; [`Encoder::take_chunk`] hands out what is ready.
pub struct Encoder {
    format: Format,
    columns: Vec<String>,
    buffer: Vec<u8>,
    rows: u64,
    sheet: Option<Sheet>,
}

struct Sheet {
    workbook: rust_xlsxwriter::Workbook,
    date: rust_xlsxwriter::Format,
    datetime: rust_xlsxwriter::Format,
    /// A number format per decimal scale, made once.
    decimals: std::collections::BTreeMap<u8, rust_xlsxwriter::Format>,
}

fn xlsx_error(e: rust_xlsxwriter::XlsxError) -> AppError {
    io_error(e)
}

impl Encoder {
    /// An encoder whose first row (CSV, TSV, XLSX) names the columns.
    pub fn new(format: Format, columns: Vec<String>) -> Result<Self, AppError> {
        let mut enc = Self {
            format,
            columns,
            buffer: Vec::with_capacity(CHUNK_BYTES + 4096),
            rows: 0,
            sheet: None,
        };
        match format {
            Format::Csv | Format::Tsv => {
                let header: Vec<String> =
                    enc.columns.iter().map(|c| guard(c).into_owned()).collect();
                enc.write_record(header.iter().map(String::as_str))?;
            }
            Format::Json => enc.buffer.push(b'['),
            Format::Ndjson => {}
            Format::Xlsx => {
                let mut workbook = rust_xlsxwriter::Workbook::new();
                let bold = rust_xlsxwriter::Format::new().set_bold();
                {
                    let ws = workbook
                        .add_worksheet_with_constant_memory()
                        .map_err(xlsx_error)?;
                    for (i, name) in enc.columns.iter().enumerate() {
                        let col = u16::try_from(i).map_err(|_| io_error("too many columns"))?;
                        ws.write_string_with_format(0, col, guard(name), &bold)
                            .map_err(xlsx_error)?;
                    }
                    ws.set_freeze_panes(1, 0).map_err(xlsx_error)?;
                }
                enc.sheet = Some(Sheet {
                    workbook,
                    date: rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd"),
                    datetime: rust_xlsxwriter::Format::new()
                        .set_num_format("yyyy-mm-dd hh:mm:ss.000"),
                    decimals: std::collections::BTreeMap::new(),
                });
            }
        }
        Ok(enc)
    }

    fn write_record<'a>(&mut self, cells: impl Iterator<Item = &'a str>) -> Result<(), AppError> {
        let delimiter = if self.format == Format::Tsv {
            b'\t'
        } else {
            b','
        };
        let mut w = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut self.buffer);
        w.write_record(cells).map_err(io_error)?;
        w.flush().map_err(io_error)?;
        Ok(())
    }

    /// Writes one record's cells, in the order of the columns.
    pub fn row(&mut self, cells: &[Cell]) -> Result<(), AppError> {
        debug_assert!(!self.format.is_sheet() || cells.len() == self.columns.len());
        match self.format {
            Format::Csv | Format::Tsv => {
                let texts: Vec<std::borrow::Cow<'_, str>> = cells.iter().map(Cell::text).collect();
                self.write_record(texts.iter().map(AsRef::as_ref))?;
            }
            Format::Json | Format::Ndjson => {
                if self.format == Format::Json {
                    if self.rows > 0 {
                        self.buffer.push(b',');
                    }
                    self.buffer.push(b'\n');
                }
                let object: serde_json::Map<String, Json> = self
                    .columns
                    .iter()
                    .cloned()
                    .zip(cells.iter().map(Cell::json))
                    .collect();
                serde_json::to_writer(&mut self.buffer, &object).map_err(io_error)?;
                if self.format == Format::Ndjson {
                    self.buffer.push(b'\n');
                }
            }
            Format::Xlsx => self.sheet_row(cells)?,
        }
        self.rows += 1;
        Ok(())
    }

    fn sheet_row(&mut self, cells: &[Cell]) -> Result<(), AppError> {
        let row = u32::try_from(self.rows + 1).map_err(|_| io_error("too many rows"))?;
        let Some(sheet) = self.sheet.as_mut() else {
            return Err(io_error("the workbook is gone"));
        };
        let ws = sheet.workbook.worksheet_from_index(0).map_err(xlsx_error)?;
        for (i, cell) in cells.iter().enumerate() {
            let col = u16::try_from(i).map_err(|_| io_error("too many columns"))?;
            match cell {
                Cell::Empty | Cell::One(None) => {}
                // Numbers a spreadsheet holds exactly are numbers; larger ones stay text.
                Cell::Integer(n) if n.unsigned_abs() < (1 << 53) => {
                    #[allow(clippy::cast_precision_loss)]
                    ws.write_number(row, col, *n as f64).map_err(xlsx_error)?;
                }
                Cell::Decimal(d) if d.units.unsigned_abs() < (1 << 53) => {
                    let n: f64 = d.to_string().parse().map_err(io_error)?;
                    let fmt = sheet.decimals.entry(d.scale).or_insert_with(|| {
                        rust_xlsxwriter::Format::new().set_num_format(decimal_format(d.scale))
                    });
                    ws.write_number_with_format(row, col, n, fmt)
                        .map_err(xlsx_error)?;
                }
                Cell::Boolean(b) => {
                    ws.write_boolean(row, col, *b).map_err(xlsx_error)?;
                }
                Cell::Date(d) => {
                    ws.write_datetime_with_format(row, col, d, &sheet.date)
                        .map_err(xlsx_error)?;
                }
                // A spreadsheet's time holds milliseconds: finer ones stay text, exactly.
                Cell::Datetime(t) if t.timestamp_subsec_micros() % 1000 == 0 => {
                    ws.write_datetime_with_format(row, col, t.naive_utc(), &sheet.datetime)
                        .map_err(xlsx_error)?;
                }
                other => {
                    ws.write_string(row, col, other.text())
                        .map_err(xlsx_error)?;
                }
            }
        }
        Ok(())
    }

    /// The bytes written so far, once they fill a chunk.
    pub fn take_chunk(&mut self) -> Option<Vec<u8>> {
        (self.buffer.len() >= CHUNK_BYTES)
            .then(|| std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_BYTES + 4096)))
    }

    /// Ends the file: the last chunks, in order.
    pub fn finish(mut self) -> Result<Finished, AppError> {
        match self.format {
            Format::Json => self.buffer.extend_from_slice(b"\n]\n"),
            Format::Xlsx => {
                let mut sheet = self.sheet.take().ok_or_else(|| io_error("no workbook"))?;
                let mut file = tempfile::tempfile().map_err(io_error)?;
                sheet
                    .workbook
                    .save_to_writer(&mut file)
                    .map_err(xlsx_error)?;
                file.flush().map_err(io_error)?;
                use std::io::Seek;
                file.rewind().map_err(io_error)?;
                return Ok(Finished::File(file));
            }
            _ => {}
        }
        Ok(Finished::Bytes(self.buffer))
    }
}

fn decimal_format(scale: u8) -> String {
    if scale == 0 {
        "0".to_owned()
    } else {
        format!("0.{}", "0".repeat(usize::from(scale)))
    }
}

/// The end of an export: the rest of the bytes, or a file to be read out in chunks.
pub enum Finished {
    Bytes(Vec<u8>),
    File(std::fs::File),
}

impl Finished {
    /// The next chunk of the rest, or `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, AppError> {
        match self {
            Finished::Bytes(b) if b.is_empty() => Ok(None),
            Finished::Bytes(b) => Ok(Some(std::mem::take(b))),
            Finished::File(f) => {
                let mut chunk = vec![0; CHUNK_BYTES];
                let n = f.read(&mut chunk).map_err(io_error)?;
                if n == 0 {
                    return Ok(None);
                }
                chunk.truncate(n);
                Ok(Some(chunk))
            }
        }
    }
}
