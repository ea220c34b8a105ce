//! fastai's `data.show_batch()` for tabular data, as text: rows after the procs, one column
//! per categorical variable (its class name, `#na#` for a missing or unseen value) and then
//! per continuous one (the normalised value, to 4 decimals as fastai shows it).
use super::procs::Procs;
use super::table::Table;
use crate::Result;

impl Procs {
    /// The first `n` rows of `table` after the procs, as a table of text: a header of the
    /// column names (the categorical ones, then the continuous ones) and a line per row,
    /// each column left-aligned to its widest cell and separated by two spaces.
    pub fn show_batch(&self, table: &Table, n: usize) -> Result<String> {
        let rows: Vec<usize> = (0..n.min(table.rows())).collect();
        let (codes, conts) = self.apply(&table.take(&rows))?;
        let (codes, conts) = (codes.to_vec::<i64>()?, conts.to_vec::<f32>()?);
        let (n_cat, n_cont) = (self.cat_names.len(), self.cont_names.len());
        let mut cells: Vec<Vec<String>> = vec![self
            .cat_names
            .iter()
            .chain(&self.cont_names)
            .cloned()
            .collect()];
        for r in 0..rows.len() {
            let cats = (self.classes.iter().enumerate())
                .map(|(j, (_, classes))| classes[codes[r * n_cat + j] as usize].clone());
            let values = (0..n_cont).map(|j| format!("{:.4}", conts[r * n_cont + j]));
            cells.push(cats.chain(values).collect());
        }
        let widths: Vec<usize> = (0..n_cat + n_cont)
            .map(|j| {
                cells
                    .iter()
                    .map(|row| row[j].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &cells {
            let line: Vec<String> = (row.iter().zip(&widths))
                .map(|(cell, &w)| format!("{cell:<w$}"))
                .collect();
            out += line.join("  ").trim_end();
            out.push('\n');
        }
        Ok(out)
    }
}
