//! Reading an import's file row by row, never whole: CSV and TSV (RFC 4180; delimiter, encoding
//! and byte-order mark detected unless given), one sheet of an XLSX workbook (every entry's
//! inflated size checked, by inflating it into nothing, before the workbook is opened), a JSON
//! array of objects, or NDJSON. Every limit is checked as the file is read and refuses the
//! import with a problem naming the limit and where it was passed.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::sync::mpsc;

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::Value as Json;

use crate::AppError;

/// A file format an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    Csv,
    Tsv,
    Xlsx,
    Json,
    Ndjson,
}

impl SourceFormat {
    pub const ALL: [Self; 5] = [Self::Csv, Self::Tsv, Self::Xlsx, Self::Json, Self::Ndjson];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Tsv => "tsv",
            Self::Xlsx => "xlsx",
            Self::Json => "json",
            Self::Ndjson => "ndjson",
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
                    "one of csv, tsv, xlsx, json, ndjson",
                )
            })
    }

    /// Whether text cells may carry the formula guard export writes (see
    /// [`crate::records::cells`]): sheets do, JSON does not.
    pub fn is_sheet(self) -> bool {
        matches!(self, Self::Csv | Self::Tsv | Self::Xlsx)
    }
}

/// How to read a file; what is not given is detected.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub format: Option<SourceFormat>,
    /// One ASCII character (CSV and TSV).
    pub delimiter: Option<u8>,
    /// `utf-8`, `utf-16le`, `utf-16be`, `windows-1252`, or any WHATWG label (CSV and TSV).
    pub encoding: Option<String>,
    /// The sheet to read (XLSX; default: the first).
    pub sheet: Option<String>,
}

/// Bounds on what an import reads.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_rows: u64,
    pub max_columns: usize,
    /// Characters in one cell.
    pub max_cell_chars: usize,
    /// Bytes an XLSX workbook inflates to, all entries together.
    pub max_inflated_bytes: u64,
    /// Nesting of arrays and objects in a JSON value.
    pub max_json_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_rows: 1_000_000,
            max_columns: 500,
            max_cell_chars: 100_000,
            max_inflated_bytes: 1024 * 1024 * 1024,
            max_json_depth: 32,
        }
    }
}

/// One value as the file holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    Empty,
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    Date(NaiveDate),
    Datetime(NaiveDateTime),
    /// A JSON array or object (JSON and NDJSON).
    Json(Json),
}

impl Raw {
    pub fn is_empty(&self) -> bool {
        match self {
            Raw::Empty => true,
            Raw::Text(s) => s.is_empty(),
            _ => false,
        }
    }
}

/// What was detected (or given) about a file.
#[derive(Debug, Clone)]
pub struct Detected {
    pub format: SourceFormat,
    pub delimiter: Option<u8>,
    pub encoding: Option<&'static str>,
    pub sheet: Option<String>,
    /// Every sheet of a workbook, in order.
    pub sheets: Vec<String>,
    /// The file's size.
    pub bytes: u64,
}

/// A refusal to read on: a limit passed or a file that cannot be read, with where.
fn limit(field: &str, code: &'static str, message: String) -> AppError {
    AppError::invalid(field, code, message)
}

fn unreadable(message: String) -> AppError {
    AppError::invalid("file", "unreadable_file", message)
}

/// Rows of a file after its header.
pub struct Rows {
    header: Vec<String>,
    inner: Inner,
    limits: Limits,
    /// Data rows read so far.
    read: u64,
}

enum Inner {
    Csv(Box<csv::Reader<Box<dyn Read + Send>>>, csv::StringRecord),
    /// Filled by the thread that owns the workbook.
    Sheet(mpsc::Receiver<Result<Vec<Raw>, AppError>>),
    Objects(JsonObjects),
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows")
            .field("header", &self.header)
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

impl Rows {
    /// The column names, as the file has them (empty ones named `Column N`).
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// Data rows read so far (the header is row 0; the first data row is 1).
    pub fn read(&self) -> u64 {
        self.read
    }

    /// How far into the file reading has come, in bytes of its text, where that is known
    /// (delimited text); with the file's size, it estimates the time left.
    pub fn position(&self) -> Option<u64> {
        match &self.inner {
            Inner::Csv(reader, _) => Some(reader.position().byte()),
            _ => None,
        }
    }

    /// The next row, one value per column (missing trailing cells empty).
    pub fn next_row(&mut self) -> Result<Option<Vec<Raw>>, AppError> {
        let row = match &mut self.inner {
            Inner::Csv(reader, record) => {
                match reader.read_record(record) {
                    Ok(false) => return Ok(None),
                    Ok(true) => {}
                    Err(e) => {
                        return Err(unreadable(format!(
                            "row {}: {}",
                            self.read + 1,
                            csv_reason(&e)
                        )));
                    }
                }
                record
                    .iter()
                    .map(|c| {
                        if c.is_empty() {
                            Raw::Empty
                        } else {
                            Raw::Text(c.to_owned())
                        }
                    })
                    .collect::<Vec<_>>()
            }
            Inner::Sheet(rows) => match rows.recv() {
                Ok(row) => row?,
                Err(_) => return Ok(None),
            },
            Inner::Objects(objects) => match objects.next(&self.limits)? {
                None => return Ok(None),
                Some(object) => {
                    let mut row = vec![Raw::Empty; self.header.len()];
                    for (key, value) in object {
                        match self.header.iter().position(|h| *h == key) {
                            Some(i) => row[i] = json_raw(value),
                            None => {
                                return Err(limit(
                                    "file",
                                    "unknown_column",
                                    format!(
                                        "row {}: {key:?} is not among the columns the first rows named; put every key in the first 1000 objects",
                                        self.read + 1
                                    ),
                                ));
                            }
                        }
                    }
                    row
                }
            },
        };
        self.read += 1;
        if self.read > self.limits.max_rows {
            return Err(limit(
                "file",
                "too_many_rows",
                format!("more than {} rows", self.limits.max_rows),
            ));
        }
        if row.len() > self.header.len() {
            return Err(limit(
                "file",
                "too_many_cells",
                format!(
                    "row {} has {} cells; the header names {} columns",
                    self.read,
                    row.len(),
                    self.header.len()
                ),
            ));
        }
        let mut row = row;
        row.resize(self.header.len(), Raw::Empty);
        for (i, cell) in row.iter().enumerate() {
            if let Raw::Text(s) = cell
                && s.chars().count() > self.limits.max_cell_chars
            {
                return Err(limit(
                    "file",
                    "cell_too_long",
                    format!(
                        "row {}, column {:?}: more than {} characters",
                        self.read, self.header[i], self.limits.max_cell_chars
                    ),
                ));
            }
        }
        Ok(Some(row))
    }
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => {
            "the text is not valid in the detected encoding; name it with encoding".to_owned()
        }
        _ => e.to_string(),
    }
}

/// Names every column: empty names become `Column N`, a repeated name gets ` (2)`.
fn name_columns(raw: Vec<String>, limits: &Limits) -> Result<Vec<String>, AppError> {
    if raw.len() > limits.max_columns {
        return Err(limit(
            "file",
            "too_many_columns",
            format!(
                "{} columns; at most {} are read",
                raw.len(),
                limits.max_columns
            ),
        ));
    }
    if raw.iter().all(|c| c.trim().is_empty()) {
        return Err(unreadable(
            "the first row names no column: it must be the header".to_owned(),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, name) in raw.into_iter().enumerate() {
        let name = name.trim().to_owned();
        let base = if name.is_empty() {
            format!("Column {}", i + 1)
        } else {
            name
        };
        let mut candidate = base.clone();
        let mut n = 2;
        while out.iter().any(|o| o.eq_ignore_ascii_case(&candidate)) {
            candidate = format!("{base} ({n})");
            n += 1;
        }
        out.push(candidate);
    }
    Ok(out)
}

/// Opens a file for reading its rows.
pub fn open(
    mut file: std::fs::File,
    options: &ReadOptions,
    limits: &Limits,
) -> Result<(Detected, Rows), AppError> {
    let io = |e: std::io::Error| unreadable(format!("cannot read the file: {e}"));
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut head = vec![0u8; 64 * 1024];
    let n = read_up_to(&mut file, &mut head).map_err(io)?;
    head.truncate(n);
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let format = match options.format {
        Some(f) => f,
        None => sniff_format(&head),
    };
    let (mut detected, rows) = match format {
        SourceFormat::Csv | SourceFormat::Tsv => {
            open_delimited(file, &head, format, options, limits)
        }
        SourceFormat::Xlsx => open_sheet(file, options, limits),
        SourceFormat::Json | SourceFormat::Ndjson => open_objects(file, format, limits),
    }?;
    detected.bytes = bytes;
    Ok((detected, rows))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// A zip archive is a workbook; text starting with `[` a JSON array, with `{` NDJSON; the rest
/// is delimited text.
fn sniff_format(head: &[u8]) -> SourceFormat {
    if head.starts_with(b"PK\x03\x04") {
        return SourceFormat::Xlsx;
    }
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    match text.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => SourceFormat::Json,
        Some(b'{') => SourceFormat::Ndjson,
        _ => SourceFormat::Csv,
    }
}

/// The encoding of delimited text: a byte-order mark says; otherwise UTF-8 when the first
/// bytes are valid UTF-8, else Windows-1252 (what spreadsheets on Windows write).
fn sniff_encoding(head: &[u8]) -> &'static encoding_rs::Encoding {
    if let Some((enc, _)) = encoding_rs::Encoding::for_bom(head) {
        return enc;
    }
    match std::str::from_utf8(head) {
        Ok(_) => encoding_rs::UTF_8,
        // A character cut by the end of the sample is still UTF-8.
        Err(e) if e.error_len().is_none() => encoding_rs::UTF_8,
        Err(_) => encoding_rs::WINDOWS_1252,
    }
}

/// The delimiter whose count is the same, and not zero, on the most of the first lines
/// (counted outside quotes); ties go to the comma.
fn sniff_delimiter(text: &str) -> u8 {
    let lines: Vec<&str> = text.lines().take(20).collect();
    let lines = if lines.len() > 1 && !text.ends_with('\n') {
        &lines[..lines.len() - 1]
    } else {
        &lines[..]
    };
    let mut best = (b',', 0usize);
    for d in [b',', b';', b'\t', b'|'] {
        let counts: Vec<usize> = lines
            .iter()
            .map(|l| {
                let mut quoted = false;
                l.bytes()
                    .filter(|b| {
                        if *b == b'"' {
                            quoted = !quoted;
                        }
                        !quoted && *b == d
                    })
                    .count()
            })
            .collect();
        let Some(&first) = counts.first() else {
            continue;
        };
        if first == 0 {
            continue;
        }
        let agreeing = counts.iter().filter(|c| **c == first).count();
        if agreeing > best.1 {
            best = (d, agreeing);
        }
    }
    best.0
}

fn open_delimited(
    file: std::fs::File,
    head: &[u8],
    format: SourceFormat,
    options: &ReadOptions,
    limits: &Limits,
) -> Result<(Detected, Rows), AppError> {
    let encoding = match &options.encoding {
        Some(label) => encoding_rs::Encoding::for_label(label.as_bytes()).ok_or_else(|| {
            AppError::invalid(
                "encoding",
                "invalid_value",
                "an encoding label such as utf-8, utf-16le or windows-1252",
            )
        })?,
        None => sniff_encoding(head),
    };
    let delimiter = match (options.delimiter, format) {
        (Some(d), _) => d,
        (None, SourceFormat::Tsv) => b'\t',
        (None, _) => {
            let (text, _, _) = encoding.decode(head);
            sniff_delimiter(&text)
        }
    };
    let decoded: Box<dyn Read + Send> = Box::new(
        encoding_rs_io::DecodeReaderBytesBuilder::new()
            .encoding(Some(encoding))
            .bom_override(true)
            .strip_bom(true)
            .build(file),
    );
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(decoded);
    let mut record = csv::StringRecord::new();
    let header = match reader.read_record(&mut record) {
        Ok(true) => record.iter().map(str::to_owned).collect(),
        Ok(false) => return Err(unreadable("the file is empty".to_owned())),
        Err(e) => return Err(unreadable(format!("the header: {}", csv_reason(&e)))),
    };
    let header = name_columns(header, limits)?;
    let detected = Detected {
        format: if delimiter == b'\t' {
            SourceFormat::Tsv
        } else {
            SourceFormat::Csv
        },
        delimiter: Some(delimiter),
        encoding: Some(encoding.name()),
        sheet: None,
        sheets: Vec::new(),
        bytes: 0,
    };
    Ok((
        detected,
        Rows {
            header,
            inner: Inner::Csv(Box::new(reader), record),
            limits: limits.clone(),
            read: 0,
        },
    ))
}

/// Inflates every entry of the archive into nothing, counting: a zip bomb (or an entry whose
/// stated size lies) is refused before calamine inflates anything into memory.
fn check_inflated_size(file: &mut std::fs::File, max: u64) -> Result<(), AppError> {
    let mut archive = zip::ZipArchive::new(&mut *file)
        .map_err(|e| unreadable(format!("not an XLSX workbook: {e}")))?;
    let too_big = || {
        limit(
            "file",
            "inflates_too_large",
            format!("the workbook inflates to more than {max} bytes"),
        )
    };
    let mut declared = 0u64;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| unreadable(format!("not an XLSX workbook: {e}")))?;
        declared = declared.saturating_add(entry.size());
    }
    if declared > max {
        return Err(too_big());
    }
    let mut total = 0u64;
    for i in 0..archive.len() {
        let entry = archive
            .by_index(i)
            .map_err(|e| unreadable(format!("not an XLSX workbook: {e}")))?;
        let left = max - total;
        let n = std::io::copy(&mut entry.take(left + 1), &mut std::io::sink())
            .map_err(|e| unreadable(format!("not an XLSX workbook: {e}")))?;
        total += n;
        if total > max {
            return Err(too_big());
        }
    }
    drop(archive);
    file.seek(SeekFrom::Start(0))
        .map_err(|e| unreadable(format!("cannot read the file: {e}")))?;
    Ok(())
}

fn open_sheet(
    mut file: std::fs::File,
    options: &ReadOptions,
    limits: &Limits,
) -> Result<(Detected, Rows), AppError> {
    use calamine::Reader;
    check_inflated_size(&mut file, limits.max_inflated_bytes)?;
    let mut book: calamine::Xlsx<BufReader<std::fs::File>> =
        calamine::open_workbook_from_rs(BufReader::new(file))
            .map_err(|e| unreadable(format!("not an XLSX workbook: {e}")))?;
    let sheets = book.sheet_names();
    let sheet = match &options.sheet {
        Some(s) if sheets.contains(s) => s.clone(),
        Some(s) => {
            return Err(AppError::invalid(
                "sheet",
                "unknown_sheet",
                format!("the workbook has no sheet {s:?}; it has {sheets:?}"),
            ));
        }
        None => sheets
            .first()
            .cloned()
            .ok_or_else(|| unreadable("the workbook has no sheet".to_owned()))?,
    };
    let (rows_tx, rows_rx) = mpsc::sync_channel::<Result<Vec<Raw>, AppError>>(256);
    let name = sheet.clone();
    let max_columns = limits.max_columns;
    std::thread::Builder::new()
        .name("rampart-import-xlsx".into())
        .spawn(move || read_sheet(&mut book, &name, max_columns, &rows_tx))
        .map_err(|e| AppError::internal(&e))?;
    // The first row is the header.
    let header = match rows_rx.recv() {
        Ok(row) => row?.into_iter().map(|c| raw_text(&c)).collect::<Vec<_>>(),
        Err(_) => return Err(unreadable(format!("the sheet {sheet:?} is empty"))),
    };
    let header = name_columns(header, limits)?;
    Ok((
        Detected {
            format: SourceFormat::Xlsx,
            delimiter: None,
            encoding: None,
            sheet: Some(sheet),
            sheets,
            bytes: 0,
        },
        Rows {
            header,
            inner: Inner::Sheet(rows_rx),
            limits: limits.clone(),
            read: 0,
        },
    ))
}

/// The text of a header cell.
fn raw_text(raw: &Raw) -> String {
    match raw {
        Raw::Empty => String::new(),
        Raw::Text(s) => s.clone(),
        Raw::Integer(n) => n.to_string(),
        Raw::Float(f) => f.to_string(),
        Raw::Bool(b) => b.to_string(),
        Raw::Date(d) => d.to_string(),
        Raw::Datetime(t) => t.to_string(),
        Raw::Json(j) => j.to_string(),
    }
}

/// Sends the sheet's rows in order (empty rows skipped), until the receiver goes away.
fn read_sheet(
    book: &mut calamine::Xlsx<BufReader<std::fs::File>>,
    sheet: &str,
    max_columns: usize,
    out: &mpsc::SyncSender<Result<Vec<Raw>, AppError>>,
) {
    let mut cells = match book.worksheet_cells_reader(sheet) {
        Ok(c) => c,
        Err(e) => {
            let _ = out.send(Err(unreadable(format!("the sheet {sheet:?}: {e}"))));
            return;
        }
    };
    let mut row: Vec<Raw> = Vec::new();
    let mut at: Option<u32> = None;
    loop {
        let cell = match cells.next_cell() {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                let _ = out.send(Err(unreadable(format!("the sheet {sheet:?}: {e}"))));
                return;
            }
        };
        let (r, c) = cell.get_position();
        if at.is_some_and(|a| a != r) && out.send(Ok(std::mem::take(&mut row))).is_err() {
            return;
        }
        at = Some(r);
        let c = c as usize;
        if c >= max_columns {
            let _ = out.send(Err(limit(
                "file",
                "too_many_columns",
                format!("row {} has a cell past column {max_columns}", r + 1),
            )));
            return;
        }
        if row.len() <= c {
            row.resize(c + 1, Raw::Empty);
        }
        row[c] = sheet_raw(cell.get_value());
    }
    if at.is_some() {
        let _ = out.send(Ok(row));
    }
}

fn sheet_raw(value: &calamine::DataRef<'_>) -> Raw {
    use calamine::DataRef;
    match value {
        DataRef::Empty => Raw::Empty,
        DataRef::Int(n) => Raw::Integer(*n),
        DataRef::Float(f) => Raw::Float(*f),
        DataRef::String(s) => Raw::Text(s.clone()),
        DataRef::SharedString(s) => Raw::Text((*s).to_owned()),
        DataRef::Bool(b) => Raw::Bool(*b),
        DataRef::DateTime(t) => match t.as_datetime() {
            Some(dt) if dt.time() == chrono::NaiveTime::MIN && t.as_f64().fract() == 0.0 => {
                Raw::Date(dt.date())
            }
            Some(dt) => Raw::Datetime(dt),
            None => Raw::Text(t.to_string()),
        },
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Raw::Text(s.clone()),
        DataRef::Error(e) => Raw::Text(format!("#{e:?}")),
    }
}

fn json_raw(value: Json) -> Raw {
    match value {
        Json::Null => Raw::Empty,
        Json::Bool(b) => Raw::Bool(b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Raw::Integer(i),
            None => Raw::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Raw::Text(s),
        other => Raw::Json(other),
    }
}

/// Objects read one at a time from a JSON array or NDJSON; the first 1000 are read ahead to
/// name the columns.
struct JsonObjects {
    input: BufReader<std::fs::File>,
    array: bool,
    /// Objects read ahead, in order.
    ahead: std::collections::VecDeque<serde_json::Map<String, Json>>,
    done: bool,
    /// Objects read so far (for messages).
    seen: u64,
}

impl JsonObjects {
    fn next(&mut self, limits: &Limits) -> Result<Option<serde_json::Map<String, Json>>, AppError> {
        if let Some(o) = self.ahead.pop_front() {
            return Ok(Some(o));
        }
        self.read_one(limits)
    }

    fn read_one(
        &mut self,
        limits: &Limits,
    ) -> Result<Option<serde_json::Map<String, Json>>, AppError> {
        if self.done {
            return Ok(None);
        }
        let text = if self.array {
            let (element, ended) =
                next_array_element(&mut self.input, limits.max_json_depth, self.seen + 1)?;
            self.done = ended;
            element
        } else {
            next_line(&mut self.input, self.seen + 1)?
        };
        let Some(text) = text else {
            self.done = true;
            return Ok(None);
        };
        self.seen += 1;
        let row = self.seen;
        check_depth(&text, limits.max_json_depth, row)?;
        match serde_json::from_slice::<Json>(&text) {
            Ok(Json::Object(o)) => Ok(Some(o)),
            Ok(_) => Err(unreadable(format!("row {row}: not a JSON object"))),
            Err(e) => Err(unreadable(format!("row {row}: {e}"))),
        }
    }
}

/// Refuses a value nested deeper than `max` (the row's own object is one level more), with
/// the scan every JSON input of the API goes through.
fn check_depth(text: &[u8], max: usize, row: u64) -> Result<(), AppError> {
    if crate::input::nests_deeper_than(text, max + 1) {
        return Err(limit(
            "file",
            "nested_too_deep",
            format!("row {row}: nested more than {max} levels"),
        ));
    }
    Ok(())
}

/// The next non-empty line of NDJSON.
fn next_line(input: &mut BufReader<std::fs::File>, row: u64) -> Result<Option<Vec<u8>>, AppError> {
    loop {
        let mut line = Vec::new();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| unreadable(format!("row {row}: {e}")))?;
        if n == 0 {
            return Ok(None);
        }
        let trimmed = line.trim_ascii();
        if !trimmed.is_empty() {
            let trimmed = trimmed.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(trimmed);
            return Ok(Some(trimmed.to_vec()));
        }
    }
}

/// The bytes of the next element of a JSON array whose `[` was read (`None` for an empty
/// array), and whether the array's `]` followed it. Reads byte by byte through the buffer,
/// tracking strings and nesting, so that one element is in memory at a time.
fn next_array_element(
    input: &mut BufReader<std::fs::File>,
    max_depth: usize,
    row: u64,
) -> Result<(Option<Vec<u8>>, bool), AppError> {
    let err = |m: String| unreadable(format!("row {row}: {m}"));
    let mut out = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut byte = [0u8; 1];
    loop {
        let n = input.read(&mut byte).map_err(|e| err(e.to_string()))?;
        if n == 0 {
            return Err(err("the JSON array does not end".to_owned()));
        }
        let b = byte[0];
        if in_string {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                out.push(b);
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth + 1 {
                    return Err(limit(
                        "file",
                        "nested_too_deep",
                        format!("row {row}: nested more than {max_depth} levels"),
                    ));
                }
                out.push(b);
            }
            b']' if depth == 0 => {
                return if out.iter().all(u8::is_ascii_whitespace) {
                    Ok((None, true))
                } else {
                    Ok((Some(out), true))
                };
            }
            b']' | b'}' => {
                depth -= 1;
                out.push(b);
            }
            b',' if depth == 0 => {
                if out.iter().all(u8::is_ascii_whitespace) {
                    return Err(err("an empty element".to_owned()));
                }
                return Ok((Some(out), false));
            }
            _ => out.push(b),
        }
    }
}

fn open_objects(
    file: std::fs::File,
    format: SourceFormat,
    limits: &Limits,
) -> Result<(Detected, Rows), AppError> {
    let mut input = BufReader::with_capacity(64 * 1024, file);
    let array = format == SourceFormat::Json;
    if array {
        // Up to and past the opening bracket.
        let mut byte = [0u8; 1];
        let mut skipped = 0usize;
        loop {
            let n = input
                .read(&mut byte)
                .map_err(|e| unreadable(e.to_string()))?;
            skipped += 1;
            match (n, byte[0]) {
                (0, _) => return Err(unreadable("the file is empty".to_owned())),
                (_, b'[') => break,
                (_, b) if b.is_ascii_whitespace() => {}
                (_, 0xEF | 0xBB | 0xBF) if skipped <= 3 => {}
                _ => {
                    return Err(unreadable(
                        "a JSON file must hold one array of objects".to_owned(),
                    ));
                }
            }
        }
    }
    let mut objects = JsonObjects {
        input,
        array,
        ahead: std::collections::VecDeque::new(),
        done: false,
        seen: 0,
    };
    let mut header: Vec<String> = Vec::new();
    while objects.ahead.len() < 1000 {
        let Some(o) = objects.read_one(limits)? else {
            break;
        };
        for key in o.keys() {
            if !header.contains(key) {
                header.push(key.clone());
            }
        }
        objects.ahead.push_back(o);
    }
    if header.is_empty() {
        return Err(unreadable("no object names a column".to_owned()));
    }
    if header.len() > limits.max_columns {
        return Err(limit(
            "file",
            "too_many_columns",
            format!(
                "{} columns; at most {} are read",
                header.len(),
                limits.max_columns
            ),
        ));
    }
    Ok((
        Detected {
            format,
            delimiter: None,
            encoding: Some("UTF-8"),
            sheet: None,
            sheets: Vec::new(),
            bytes: 0,
        },
        Rows {
            header,
            inner: Inner::Objects(objects),
            limits: limits.clone(),
            read: 0,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(bytes: &[u8]) -> std::fs::File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        f
    }

    fn all(bytes: &[u8], options: &ReadOptions) -> (Detected, Vec<String>, Vec<Vec<Raw>>) {
        let (d, mut rows) = open(file(bytes), options, &Limits::default()).unwrap();
        let header = rows.header().to_vec();
        let mut out = Vec::new();
        while let Some(r) = rows.next_row().unwrap() {
            out.push(r);
        }
        (d, header, out)
    }

    fn text(s: &str) -> Raw {
        Raw::Text(s.to_owned())
    }

    #[test]
    fn delimiters_encodings_and_marks_are_detected() {
        let (d, h, rows) = all(
            b"\xEF\xBB\xBFa;b\n1;\"x;y\"\n2;z\n",
            &ReadOptions::default(),
        );
        assert_eq!(
            (d.format, d.delimiter, d.encoding),
            (SourceFormat::Csv, Some(b';'), Some("UTF-8"))
        );
        assert_eq!(h, ["a", "b"]);
        assert_eq!(
            rows,
            [vec![text("1"), text("x;y")], vec![text("2"), text("z")]]
        );

        let (d, h, rows) = all(b"name\tn\nAd\xe8le\t1\n", &ReadOptions::default());
        assert_eq!(
            (d.delimiter, d.encoding),
            (Some(b'\t'), Some("windows-1252"))
        );
        assert_eq!(h, ["name", "n"]);
        assert_eq!(rows[0][0], text("Adèle"));

        let utf16: Vec<u8> = "\u{feff}a,b\r\n\u{e9},2\r\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let (d, _, rows) = all(&utf16, &ReadOptions::default());
        assert_eq!(d.encoding, Some("UTF-16LE"));
        assert_eq!(rows, [vec![text("é"), text("2")]]);

        // Given options win over detection.
        let (d, h, _) = all(
            b"a;b,c\n1;2,3\n",
            &ReadOptions {
                delimiter: Some(b','),
                ..ReadOptions::default()
            },
        );
        assert_eq!(
            (d.delimiter, h),
            (Some(b','), vec!["a;b".to_owned(), "c".to_owned()])
        );
    }

    #[test]
    fn headers_are_named_and_short_rows_filled() {
        let (_, h, rows) = all(b"a,,A,a\n1\n", &ReadOptions::default());
        assert_eq!(h, ["a", "Column 2", "A (2)", "a (3)"]);
        assert_eq!(rows[0], [text("1"), Raw::Empty, Raw::Empty, Raw::Empty]);
    }

    #[test]
    fn limits_refuse_with_where() {
        let limits = Limits {
            max_rows: 2,
            max_columns: 2,
            max_cell_chars: 3,
            ..Limits::default()
        };
        let code = |bytes: &[u8]| {
            let (_, mut rows) = match open(file(bytes), &ReadOptions::default(), &limits) {
                Ok(r) => r,
                Err(AppError::Invalid(i)) => return i.errors[0].code,
                Err(e) => panic!("{e}"),
            };
            loop {
                match rows.next_row() {
                    Ok(Some(_)) => {}
                    Ok(None) => return "none",
                    Err(AppError::Invalid(i)) => return i.errors[0].code,
                    Err(e) => panic!("{e}"),
                }
            }
        };
        assert_eq!(code(b"a,b,c\n"), "too_many_columns");
        assert_eq!(code(b"a\n1\n2\n3\n"), "too_many_rows");
        assert_eq!(code(b"a\nabcd\n"), "cell_too_long");
        assert_eq!(code(b"a\n1,2\n"), "too_many_cells");
        assert_eq!(code(b"a\n1\n2\n"), "none");
        assert_eq!(
            code(
                b"[{\"a\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}]"
            ),
            "nested_too_deep"
        );
    }

    #[test]
    fn json_arrays_and_ndjson_stream_objects() {
        let (d, h, rows) = all(
            br#" [ {"a": 1, "b": "x, \"]"}, {"b": null, "c": [1, {"d": true}]} ] "#,
            &ReadOptions::default(),
        );
        assert_eq!(d.format, SourceFormat::Json);
        assert_eq!(h, ["a", "b", "c"]);
        assert_eq!(rows[0], [Raw::Integer(1), text("x, \"]"), Raw::Empty]);
        assert_eq!(
            rows[1],
            [
                Raw::Empty,
                Raw::Empty,
                Raw::Json(serde_json::json!([1, {"d": true}]))
            ]
        );
        let (d, h, rows) = all(b"{\"a\": 1.5}\n\n{\"a\": false}\n", &ReadOptions::default());
        assert_eq!(d.format, SourceFormat::Ndjson);
        assert_eq!(h, ["a"]);
        assert_eq!(rows, [vec![Raw::Float(1.5)], vec![Raw::Bool(false)]]);
        let bad = open(
            file(b"[{\"a\": 1}, 2]"),
            &ReadOptions::default(),
            &Limits::default(),
        );
        assert!(bad.is_err());
    }
}
