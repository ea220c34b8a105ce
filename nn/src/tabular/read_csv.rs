//! Reading a CSV file into a [`Table`] with the `csv` crate, the way Kaggle's Rossmann files
//! come: a header line, quoted fields where needed (`"Jan,Apr,Jul,Oct"`), empty fields for
//! missing values. The caller's [`Schema`] says which columns are numbers and which of those
//! whole numbers; every other column is read as text. A malformed file is an error naming the
//! file, the line, the column and the value; only a regular file is read, and no further than
//! the size it had when opened.
use super::table::{Column, Table};
use crate::{Error, Result};
use std::io::Read;
use std::path::Path;

/// What a file's columns must hold. Every number read must be finite and within f32's range
/// (±3.4e38): the model computes in f32, where a larger value would become infinite.
#[derive(Debug, Default, Clone, Copy)]
pub struct Schema<'a> {
    /// Columns of numbers, read as f64 (an empty field is missing: NaN).
    pub numbers: &'a [&'a str],
    /// Columns of whole numbers (ids, counts, flags, years): numbers without a fractional
    /// part, below 2^53 in size so that f64 holds them (and all their neighbours) exactly.
    pub whole: &'a [&'a str],
    /// Columns the header must have.
    pub required: &'a [&'a str],
}

/// 2^53: below it in size, f64 holds every whole number exactly (so ids convert to i64
/// without two becoming one).
const WHOLE_LIMIT: f64 = (1u64 << 53) as f64;

/// The value of a non-empty numeric field, or why it is refused (the message's tail).
fn parse_number(field: &str, whole: bool) -> std::result::Result<f64, String> {
    let v: f64 = field.parse().map_err(|_| "is not a number".to_string())?;
    if !v.is_finite() {
        // `NaN`, `inf`, or digits too many for f64 (`1e400`).
        return Err("is not a finite number".into());
    }
    if (v as f32).is_infinite() {
        return Err(format!(
            "is beyond f32's range (±{:.1e}), which the model computes in",
            f32::MAX
        ));
    }
    if whole && v.fract() != 0.0 {
        return Err("is not a whole number".into());
    }
    if whole && v.abs() >= WHOLE_LIMIT {
        return Err(
            "is too large: whole numbers must be below 2^53 in size, where f64 holds each exactly"
                .into(),
        );
    }
    Ok(v)
}

/// Opens `path` if it is a regular file ([`crate::user_file::open`]: a FIFO or a device
/// such as /dev/zero could be read forever), as a reader that stops at the size the file had.
fn open_regular(path: &Path) -> Result<impl Read> {
    let (file, len) = crate::user_file::open(path, u64::MAX).map_err(|source| Error::File {
        path: path.to_path_buf(),
        source,
        read_as: Some("CSV"),
    })?;
    Ok(file.take(len))
}

/// Reads `path` as `schema` says. Every column of the file is kept; a column named twice in
/// the header is an error.
pub fn read_csv(path: impl AsRef<Path>, schema: &Schema) -> Result<Table> {
    let path = path.as_ref();
    read_csv_from(open_regular(path)?, path, schema)
}

/// Reads CSV `text` (a header line, then rows) as `schema` says; errors name it `name`
/// (one row typed in, as a learner's `predict_row` takes it).
pub fn parse_csv(text: &str, name: impl AsRef<Path>, schema: &Schema) -> Result<Table> {
    read_csv_from(text.as_bytes(), name.as_ref(), schema)
}

/// [`read_csv`] of what `input` holds, named `path` in errors.
fn read_csv_from(input: impl Read, path: &Path, schema: &Schema) -> Result<Table> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        // Ragged lines are reported below, with their line number, in our words.
        .flexible(true)
        .from_reader(input);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Error::csv(path, e.to_string()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if headers.iter().all(|h| h.is_empty()) {
        return Err(Error::csv(path, "the file is empty (no header line)"));
    }
    for (j, h) in headers.iter().enumerate() {
        if let Some(k) = headers[j + 1..].iter().position(|o| o == h) {
            let msg = format!(
                "column `{h}` appears twice in the header (columns {} and {}): which one is meant is unclear",
                j + 1,
                j + k + 2
            );
            return Err(Error::csv(path, msg));
        }
    }
    for &r in schema.required {
        if !headers.iter().any(|h| h == r) {
            let msg = format!(
                "missing required column `{r}` (the header has {})",
                headers.join(", ")
            );
            return Err(Error::csv(path, msg));
        }
    }
    // Per column: None for text, Some(whole?) for numbers.
    let kind: Vec<Option<bool>> = headers
        .iter()
        .map(|h| {
            let h = h.as_str();
            let whole = schema.whole.contains(&h);
            (whole || schema.numbers.contains(&h)).then_some(whole)
        })
        .collect();
    let mut nums: Vec<Vec<f64>> = vec![Vec::new(); headers.len()];
    let mut texts: Vec<Vec<Option<String>>> = vec![Vec::new(); headers.len()];
    for record in reader.records() {
        let record = record.map_err(|e| Error::csv(path, e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != headers.len() {
            let msg = format!(
                "{} fields where the header has {}",
                record.len(),
                headers.len()
            );
            return Err(Error::csv_at(path, line, None, None, msg));
        }
        for (j, field) in record.iter().enumerate() {
            let field = field.trim();
            match kind[j] {
                Some(_) if field.is_empty() => nums[j].push(f64::NAN),
                Some(whole) => nums[j].push(parse_number(field, whole).map_err(|why| {
                    Error::csv_at(path, line, Some(&headers[j]), Some(field), why)
                })?),
                None => texts[j].push((!field.is_empty()).then(|| field.to_string())),
            }
        }
    }
    let mut table = Table::new();
    for (j, name) in headers.iter().enumerate() {
        let column = match kind[j] {
            Some(_) => Column::Num(std::mem::take(&mut nums[j])),
            None => Column::Cat(std::mem::take(&mut texts[j])),
        };
        table.set(name, column)?;
    }
    Ok(table)
}
