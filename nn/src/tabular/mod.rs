//! Tabular data as lesson 6's Rossmann model uses it: a column [`Table`] read from CSV,
//! `add_datepart`, the procs (FillMissing, Categorify, Normalize) with a text `show_batch`
//! of their output, and fastai's `TabularModel` with its embedding-size rule. The Rossmann
//! data itself is the `datasets` crate's.
mod datepart;
mod model;
mod procs;
mod read_csv;
mod show;
mod table;

pub use datepart::{add_datepart, parse_date};
pub use model::{emb_sz_rule, TabularConfig, TabularModel};
pub use procs::Procs;
pub use read_csv::{parse_csv, read_csv, Schema};
pub use table::{Column, Table};
