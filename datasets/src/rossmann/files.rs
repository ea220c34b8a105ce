//! Reading the seven Rossmann files as Kaggle (and fastai's `rossmann.tgz`) ship them: the
//! columns each must have, its numbers and its dates checked with file, line and column in
//! every message. `train.csv` and `store.csv` are required; the others may be absent.
use super::CONT_VARS;
use chrono::NaiveDate;
use nn::tabular::{parse_date, read_csv, Schema, Table};
use nn::{Error, Result};
use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::path::{Path, PathBuf};

/// The weather columns the lesson uses as continuous variables (`Events` is categorical):
/// the nine after `CompetitionDistance` in [`CONT_VARS`].
pub(super) const WEATHER: &[&str] = CONT_VARS.split_at(10).0.split_at(1).1;

/// Kaggle's columns of store.csv, in its order.
pub(super) const STORE_COLUMNS: [&str; 10] = [
    "Store",
    "StoreType",
    "Assortment",
    "CompetitionDistance",
    "CompetitionOpenSinceMonth",
    "CompetitionOpenSinceYear",
    "Promo2",
    "Promo2SinceWeek",
    "Promo2SinceYear",
    "PromoInterval",
];

/// The whole-number ones (ids, months, weeks, years, a flag).
const STORE_WHOLE: [&str; 6] = [
    "Store",
    "CompetitionOpenSinceMonth",
    "CompetitionOpenSinceYear",
    "Promo2",
    "Promo2SinceWeek",
    "Promo2SinceYear",
];

/// A table read from `path`, with its `Date` column parsed.
pub(super) struct Dated {
    pub path: PathBuf,
    pub table: Table,
    pub dates: Vec<NaiveDate>,
}

pub(super) struct Files {
    pub train: Dated,
    pub store: Table,
    pub store_states: Option<Table>,
    pub state_names: Option<Table>,
    pub googletrend: Option<Table>,
    pub weather: Option<Dated>,
    /// `None` when test.csv is absent or has no rows.
    pub test: Option<Dated>,
}

/// The line of data row `row` in a file with one header line and no line breaks in fields.
pub(super) fn line(row: usize) -> u64 {
    row as u64 + 2
}

/// The file `name` of `dir` read as `schema` says, or `None` when it is absent.
fn read(dir: &Path, name: &str, schema: &Schema) -> Result<Option<Table>> {
    let path = dir.join(name);
    if !path.exists() {
        return Ok(None);
    }
    read_csv(&path, schema).map(Some)
}

/// As [`read`], with the `Date` column parsed.
fn dated(dir: &Path, name: &str, schema: &Schema) -> Result<Option<Dated>> {
    let Some(table) = read(dir, name, schema)? else {
        return Ok(None);
    };
    let path = dir.join(name);
    let dates = table
        .cat("Date")?
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let s = s.as_deref().unwrap_or("");
            parse_date(s).ok_or_else(|| {
                let msg = "is not a date (YYYY-MM-DD)";
                Error::csv_at(&path, line(i), Some("Date"), Some(s), msg)
            })
        })
        .collect::<Result<_>>()?;
    Ok(Some(Dated { path, table, dates }))
}

/// The numeric column `name` of `table` (read from `path`), which must have no empty field.
pub(super) fn present<'a>(table: &'a Table, name: &str, path: &Path) -> Result<&'a [f64]> {
    let v = table.num(name)?;
    match v.iter().position(|x| x.is_nan()) {
        Some(i) => Err(Error::csv_at(
            path,
            line(i),
            Some(name),
            None,
            "empty, a value is needed",
        )),
        None => Ok(v),
    }
}

/// Row of each key (rows whose key is `None` are skipped), or an error naming a key that
/// appears twice: the joins are many-to-one, as they are in Kaggle's files.
pub(super) fn unique_index<K: Hash + Eq + Debug>(
    keys: impl Iterator<Item = Option<K>>,
    path: &Path,
    what: &str,
) -> Result<HashMap<K, usize>> {
    let mut index = HashMap::new();
    for (i, k) in keys.enumerate() {
        let Some(k) = k else { continue };
        if let Some(first) = index.get(&k) {
            let msg = format!(
                "{what} {k:?} appears twice (lines {} and {})",
                line(*first),
                line(i)
            );
            return Err(Error::csv(path, msg));
        }
        index.insert(k, i);
    }
    Ok(index)
}

impl Files {
    pub fn read(dir: &Path) -> Result<Files> {
        if !dir.is_dir() {
            return Err(Error::Folder {
                path: dir.to_path_buf(),
                msg: "not a folder".into(),
            });
        }
        let needed = |name: &str| {
            Error::Data(format!(
                "{} has no {name}: the Rossmann data needs at least Kaggle's train.csv and store.csv",
                dir.display()
            ))
        };
        // The days' flags and ids are whole numbers; `Sales` is money.
        let days_whole = ["Store", "DayOfWeek", "Open", "Promo", "SchoolHoliday"];
        let mut train_whole = days_whole.to_vec();
        train_whole.push("Customers");
        let mut train_req = train_whole.clone();
        train_req.extend(["Sales", "Date", "StateHoliday"]);
        let train = Schema {
            numbers: &["Sales"],
            whole: &train_whole,
            required: &train_req,
        };
        let mut test_whole = days_whole.to_vec();
        test_whole.push("Id");
        let mut test_req = test_whole.clone();
        test_req.extend(["Date", "StateHoliday"]);
        let test = Schema {
            whole: &test_whole,
            required: &test_req,
            ..Schema::default()
        };
        let mut weather_req = WEATHER.to_vec();
        weather_req.extend(["file", "Date", "Events"]);
        let store = Schema {
            numbers: &["CompetitionDistance"],
            whole: &STORE_WHOLE,
            required: &STORE_COLUMNS,
        };
        Ok(Files {
            train: dated(dir, "train.csv", &train)?.ok_or_else(|| needed("train.csv"))?,
            store: read(dir, "store.csv", &store)?.ok_or_else(|| needed("store.csv"))?,
            store_states: read(
                dir,
                "store_states.csv",
                &Schema {
                    whole: &["Store"],
                    required: &["Store", "State"],
                    ..Schema::default()
                },
            )?,
            state_names: read(
                dir,
                "state_names.csv",
                &Schema {
                    required: &["StateName", "State"],
                    ..Schema::default()
                },
            )?,
            googletrend: read(
                dir,
                "googletrend.csv",
                &Schema {
                    numbers: &["trend"],
                    required: &["file", "week", "trend"],
                    ..Schema::default()
                },
            )?,
            weather: dated(
                dir,
                "weather.csv",
                &Schema {
                    numbers: WEATHER,
                    required: &weather_req,
                    ..Schema::default()
                },
            )?,
            // A test.csv with only its header is as good as none: nothing to submit.
            test: dated(dir, "test.csv", &test)?.filter(|t| !t.dates.is_empty()),
        })
    }
}
