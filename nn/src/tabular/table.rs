//! A minimal column table, what the tabular preprocessing works on (pandas' DataFrame in
//! fastai): numeric columns as f64 with NaN for missing values, categorical columns as
//! optional strings.
use crate::{Error, Result};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// One column.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Numbers; NaN marks a missing value.
    Num(Vec<f64>),
    /// Categories as text; `None` marks a missing value.
    Cat(Vec<Option<String>>),
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::Num(v) => v.len(),
            Column::Cat(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as category labels: text as it is, numbers written shortest (`2013`,
    /// `0.5`), NaN as missing. This is how a numeric column such as `Store` or `Year` becomes
    /// categorical (pandas' `astype('category')` on numbers).
    pub fn as_text(&self) -> Cow<'_, [Option<String>]> {
        match self {
            Column::Cat(v) => Cow::Borrowed(v),
            Column::Num(v) => Cow::Owned(
                v.iter()
                    .map(|x| (!x.is_nan()).then(|| x.to_string()))
                    .collect(),
            ),
        }
    }

    /// The rows `rows`, in that order.
    pub fn take(&self, rows: &[usize]) -> Column {
        match self {
            Column::Num(v) => Column::Num(rows.iter().map(|&i| v[i]).collect()),
            Column::Cat(v) => Column::Cat(rows.iter().map(|&i| v[i].clone()).collect()),
        }
    }
}

/// Named columns of equal length, in insertion order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    names: Vec<String>,
    columns: BTreeMap<String, Column>,
}

impl Table {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of rows (0 for a table without columns).
    pub fn rows(&self) -> usize {
        self.names.first().map_or(0, |n| self.columns[n].len())
    }

    /// Column names in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn get(&self, name: &str) -> Option<&Column> {
        self.columns.get(name)
    }

    /// Adds or replaces a column. Its length must match the table's.
    pub fn set(&mut self, name: &str, column: Column) -> Result<()> {
        if let Some(other) = self.names.iter().find(|n| *n != name) {
            let table_rows = self.columns[other].len();
            if column.len() != table_rows {
                return Err(Error::ColumnLength {
                    name: name.to_string(),
                    rows: column.len(),
                    table_rows,
                });
            }
        }
        if !self.columns.contains_key(name) {
            self.names.push(name.to_string());
        }
        self.columns.insert(name.to_string(), column);
        Ok(())
    }

    /// The column `name`, or an error naming it.
    pub fn column(&self, name: &str) -> Result<&Column> {
        self.columns.get(name).ok_or_else(|| Error::MissingColumn {
            name: name.to_string(),
        })
    }

    /// The rows `rows` (indices below [`Table::rows`]) of every column, in that order.
    pub fn take(&self, rows: &[usize]) -> Table {
        Table {
            names: self.names.clone(),
            columns: self
                .columns
                .iter()
                .map(|(n, c)| (n.clone(), c.take(rows)))
                .collect(),
        }
    }

    /// The columns `names`, in that order, or an error naming the first one missing.
    pub fn select(&self, names: &[&str]) -> Result<Table> {
        let mut t = Table::new();
        for &n in names {
            t.set(n, self.column(n)?.clone())?;
        }
        Ok(t)
    }

    /// The numeric column `name`, or an error naming it.
    pub fn num(&self, name: &str) -> Result<&[f64]> {
        match self.column(name)? {
            Column::Num(v) => Ok(v),
            Column::Cat(_) => Err(wrong_kind(name, CATEGORICAL, NUMERIC)),
        }
    }

    /// The categorical column `name`, or an error naming it.
    pub fn cat(&self, name: &str) -> Result<&[Option<String>]> {
        match self.column(name)? {
            Column::Cat(v) => Ok(v),
            Column::Num(_) => Err(wrong_kind(name, NUMERIC, CATEGORICAL)),
        }
    }
}

/// The kinds of column, as errors name them.
const NUMERIC: &str = "numeric";
const CATEGORICAL: &str = "categorical";

/// The error for the column `name`, of kind `is` where `expected` was asked for.
fn wrong_kind(name: &str, is: &'static str, expected: &'static str) -> Error {
    Error::ColumnKind {
        name: name.to_string(),
        is,
        expected,
    }
}
