//! fastai's tabular preprocessing, `[FillMissing, Categorify, Normalize]` in this order
//! (docs/lesson6.md, Tabular preprocessing), fitted on the training split and applied unchanged
//! to validation and test data. The fitted state is what inference needs besides the weights
//! (fastai's `data.export`), saved as JSON.
//!
//! - FillMissing: each continuous column with a missing value in training is filled with its
//!   training median, and a categorical column `<name>_na` (True/False) is appended to the
//!   categorical columns. A missing value in a column that had none in training is an error.
//! - Categorify: categories are the sorted distinct training values (numerically when they
//!   are all numbers; a numeric column such as `Store` is categorised by its values); code = position + 1, with 0 for a missing or unseen value; `#na#`
//!   heads each column's classes, so the cardinality is #categories + 1.
//! - Normalize: `(x - mean) / (1e-7 + std)` with the training mean and sample std (ddof 1),
//!   so it needs at least two training rows.
use super::model::emb_sz_rule;
use super::table::Table;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::path::Path;
use tensor::Tensor;

/// The fitted preprocessing of a tabular dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Procs {
    /// Categorical columns, the `_na` ones FillMissing added included, in model order.
    pub cat_names: Vec<String>,
    pub cont_names: Vec<String>,
    /// FillMissing: (column, training median) for each column that had missing values.
    pub fill: Vec<(String, f64)>,
    /// Categorify: (column, classes with `#na#` first).
    pub classes: Vec<(String, Vec<String>)>,
    /// Normalize: (column, mean, std).
    pub norm: Vec<(String, f64, f64)>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn flag(missing: bool) -> Option<String> {
    Some(if missing { "True" } else { "False" }.to_string())
}

impl Procs {
    /// Fits the three procs on the training table.
    pub fn fit(train: &Table, cat_names: &[&str], cont_names: &[&str]) -> Result<Procs> {
        // One row has no sample std (0 / 0): every normalised value would be NaN.
        if !cont_names.is_empty() && train.rows() < 2 {
            return Err(Error::Data(format!(
                "Normalize needs at least 2 training rows for a standard deviation, the training set has {}",
                train.rows()
            )));
        }
        let mut cats: Vec<String> = cat_names.iter().map(|s| s.to_string()).collect();
        let mut fill = Vec::new();
        let mut norm = Vec::new();
        for &name in cont_names {
            let v = train.num(name)?;
            let present: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
            let med = if present.len() < v.len() {
                let m = median(present);
                fill.push((name.to_string(), m));
                cats.push(format!("{name}_na"));
                m
            } else {
                f64::NAN
            };
            let filled: Vec<f64> = v
                .iter()
                .map(|&x| if x.is_nan() { med } else { x })
                .collect();
            let n = filled.len() as f64;
            let mean = filled.iter().sum::<f64>() / n;
            let std = (filled.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
            norm.push((name.to_string(), mean, std));
        }
        let mut classes = Vec::new();
        for name in &cats {
            let values: Vec<String> = match name
                .strip_suffix("_na")
                .filter(|b| fill.iter().any(|(f, _)| f == b))
            {
                Some(base) => train
                    .num(base)?
                    .iter()
                    .map(|x| flag(x.is_nan()).unwrap_or_default())
                    .collect(),
                None => train
                    .column(name)?
                    .as_text()
                    .iter()
                    .flatten()
                    .cloned()
                    .collect(),
            };
            let mut distinct: Vec<String> = values;
            distinct.sort();
            distinct.dedup();
            if distinct.iter().all(|s| s.parse::<f64>().is_ok()) {
                distinct.sort_by(|a, b| {
                    a.parse::<f64>()
                        .unwrap_or(0.0)
                        .total_cmp(&b.parse::<f64>().unwrap_or(0.0))
                });
            }
            let mut c = vec!["#na#".to_string()];
            c.extend(distinct);
            classes.push((name.clone(), c));
        }
        Ok(Procs {
            cat_names: cats,
            cont_names: cont_names.iter().map(|s| s.to_string()).collect(),
            fill,
            classes,
            norm,
        })
    }

    /// Cardinality of each categorical column (for the embeddings).
    pub fn cardinalities(&self) -> Vec<usize> {
        self.classes.iter().map(|(_, c)| c.len()).collect()
    }

    /// (cardinality, embedding width) of each categorical column: [`emb_sz_rule`], or the
    /// width given for the column in `overrides` (fastai's `emb_szs={'Store': 50}`). A name
    /// that is not a categorical column is an error.
    pub fn emb_szs(&self, overrides: &[(String, usize)]) -> Result<Vec<(usize, usize)>> {
        if let Some((name, _)) = overrides.iter().find(|(n, _)| !self.cat_names.contains(n)) {
            return Err(Error::Invalid(format!(
                "no categorical column `{name}` to size an embedding for (the columns are {})",
                self.cat_names.join(", ")
            )));
        }
        Ok(self
            .classes
            .iter()
            .map(|(name, c)| {
                let width = overrides.iter().find(|(n, _)| n == name).map(|&(_, w)| w);
                (c.len(), width.unwrap_or_else(|| emb_sz_rule(c.len())))
            })
            .collect())
    }

    /// Applies the fitted procs: i64 codes `[N, n_cat]` and normalised f32 values
    /// `[N, n_cont]`.
    pub fn apply(&self, table: &Table) -> Result<(Tensor, Tensor)> {
        let n = table.rows();
        let mut conts = vec![0f32; n * self.cont_names.len()];
        let mut na: Vec<(String, Vec<Option<String>>)> = Vec::new();
        for (j, (name, mean, std)) in self.norm.iter().enumerate() {
            let v = table.num(name)?;
            let fill = self.fill.iter().find(|(f, _)| f == name).map(|&(_, m)| m);
            if let Some(row) = v.iter().position(|x| x.is_nan()).filter(|_| fill.is_none()) {
                return Err(Error::Data(format!(
                    "column `{name}` has a missing value (row {row}) but had none in training: FillMissing cannot fill it"
                )));
            }
            for (i, &x) in v.iter().enumerate() {
                let x = if x.is_nan() { fill.unwrap_or(x) } else { x };
                conts[i * self.cont_names.len() + j] = ((x - mean) / (1e-7 + std)) as f32;
            }
            if fill.is_some() {
                na.push((
                    format!("{name}_na"),
                    v.iter().map(|x| flag(x.is_nan())).collect(),
                ));
            }
        }
        let mut codes = vec![0i64; n * self.cat_names.len()];
        for (j, (name, classes)) in self.classes.iter().enumerate() {
            let column: Cow<[Option<String>]> = match na.iter().find(|(m, _)| m == name) {
                Some((_, v)) => Cow::Borrowed(v),
                None => table.column(name)?.as_text(),
            };
            let index: std::collections::HashMap<&str, i64> = classes
                .iter()
                .enumerate()
                .skip(1)
                .map(|(k, c)| (c.as_str(), k as i64))
                .collect();
            for (i, v) in column.iter().enumerate() {
                codes[i * self.cat_names.len() + j] = v
                    .as_deref()
                    .and_then(|s| index.get(s).copied())
                    .unwrap_or(0);
            }
        }
        let codes = Tensor::from_vec(codes, &[n, self.cat_names.len()])?;
        let conts = Tensor::from_vec(conts, &[n, self.cont_names.len()])?;
        Ok((codes, conts))
    }

    /// Writes the state as JSON (a temporary file, then renamed).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::atomic::write_json(path, self)
    }

    /// Reads a state written by [`Procs::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Procs> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            expected: Some("procs file"),
            source,
        })
    }
}
