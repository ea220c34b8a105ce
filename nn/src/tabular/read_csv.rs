//! Reading a CSV file into a [`Table`] with the `csv` crate, the way Kaggle's Rossmann files
//! come: a header line, quoted fields where needed (`"Jan,Apr,Jul,Oct"`), empty fields for
//! missing values. The caller says which columns are numbers; every other column is read as
//! text. A malformed file is an error naming the file, the line, the column and the value.
use super::table::{Column, Table};
use std::path::Path;

/// Reads `path`. Columns in `numeric` become f64 (an empty field is NaN; `required` columns
/// must exist). Every column of the file is kept.
pub fn read_csv(
    path: impl AsRef<Path>,
    numeric: &[&str],
    required: &[&str],
) -> Result<Table, String> {
    let path = path.as_ref();
    let shown = path.display();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        // Ragged lines are reported below, with their line number, in our words.
        .flexible(true)
        .from_path(path)
        .map_err(|e| format!("{shown}: {e}"))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("{shown}: {e}"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if headers.iter().all(|h| h.is_empty()) {
        return Err(format!("{shown}: the file is empty (no header line)"));
    }
    for &r in required {
        if !headers.iter().any(|h| h == r) {
            return Err(format!(
                "{shown}: missing required column `{r}` (the header has {})",
                headers.join(", ")
            ));
        }
    }
    let is_num: Vec<bool> = headers
        .iter()
        .map(|h| numeric.contains(&h.as_str()))
        .collect();
    let mut nums: Vec<Vec<f64>> = vec![Vec::new(); headers.len()];
    let mut texts: Vec<Vec<Option<String>>> = vec![Vec::new(); headers.len()];
    for record in reader.records() {
        let record = record.map_err(|e| format!("{shown}: {e}"))?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != headers.len() {
            return Err(format!(
                "{shown}, line {line}: {} fields where the header has {}",
                record.len(),
                headers.len()
            ));
        }
        for (j, field) in record.iter().enumerate() {
            let field = field.trim();
            if is_num[j] {
                let v = if field.is_empty() {
                    f64::NAN
                } else {
                    field.parse::<f64>().map_err(|_| {
                        format!(
                            "{shown}, line {line}, column `{}`: `{field}` is not a number",
                            headers[j]
                        )
                    })?
                };
                nums[j].push(v);
            } else {
                texts[j].push((!field.is_empty()).then(|| field.to_string()));
            }
        }
    }
    let mut table = Table::new();
    for (j, name) in headers.iter().enumerate() {
        let column = if is_num[j] {
            Column::Num(std::mem::take(&mut nums[j]))
        } else {
            Column::Cat(std::mem::take(&mut texts[j]))
        };
        table.set(name, column)?;
    }
    Ok(table)
}
