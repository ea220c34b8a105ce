//! Lesson 6's Rossmann data, from Kaggle's files to the model's table (docs/lesson6.md,
//! Rossmann data).
//!
//! [`Rossmann::load`] reads a folder of the competition's files (`train.csv`, `store.csv`)
//! and, where present, the lesson's extra ones (`store_states.csv`, `state_names.csv`,
//! `googletrend.csv`, `weather.csv`) and `test.csv`, then cleans them as the lesson's
//! notebook does: `StateHoliday` as a flag, the joins ([`joins`]), the competition and Promo2
//! features ([`since`]), the calendar columns (`add_datepart`), the days before and after
//! holidays and promotions ([`elapsed`]), and the removal of closed days (Sales == 0). A
//! variable whose source file is absent is left out, with a one-line notice.
//!
//! The validation set is the lesson's: the most recent rows, as many as the test set has
//! (its 48 days), or the last 48 days when there is no test set.
mod elapsed;
mod files;
mod joins;
mod since;
mod synth;

pub use synth::{Synth, Truth, NOISE_SD};

use chrono::{Days, NaiveDate};
use elapsed::{elapsed, Day, FLAGS};
use files::{line, Files, WEATHER};
use joins::Joins;
use nn::tabular::{add_datepart, Column, Table};
use nn::{Error, Result};
use std::path::Path;
use tensor::Tensor;

/// The lesson's categorical variables (docs/lesson6.md, Rossmann variables), in the model's
/// order.
pub const CAT_VARS: [&str; 22] = [
    "Store",
    "DayOfWeek",
    "Year",
    "Month",
    "Day",
    "StateHoliday",
    "CompetitionMonthsOpen",
    "Promo2Weeks",
    "StoreType",
    "Assortment",
    "PromoInterval",
    "CompetitionOpenSinceYear",
    "Promo2SinceYear",
    "State",
    "Week",
    "Events",
    "Promo_fw",
    "Promo_bw",
    "StateHoliday_fw",
    "StateHoliday_bw",
    "SchoolHoliday_fw",
    "SchoolHoliday_bw",
];

/// The lesson's continuous variables.
pub const CONT_VARS: [&str; 16] = [
    "CompetitionDistance",
    "Max_TemperatureC",
    "Mean_TemperatureC",
    "Min_TemperatureC",
    "Max_Humidity",
    "Mean_Humidity",
    "Min_Humidity",
    "Max_Wind_SpeedKm_h",
    "Mean_Wind_SpeedKm_h",
    "CloudCover",
    "trend",
    "trend_DE",
    "AfterStateHoliday",
    "BeforeStateHoliday",
    "Promo",
    "SchoolHoliday",
];

/// Days in Kaggle's test period (2015-08-01 to 2015-09-17): the validation window when
/// there is no test.csv.
pub const TEST_DAYS: u64 = 48;

/// The seven files of the Kaggle competition's folder, as the lesson reads them.
pub const FILES: [&str; 7] = [
    "train.csv",
    "store.csv",
    "store_states.csv",
    "state_names.csv",
    "googletrend.csv",
    "weather.csv",
    "test.csv",
];

/// The optional files and the variables each one brings; the weather's (those of
/// [`WEATHER`] and `Events`) need the state of each store and the state names too.
fn brings(file: &str) -> Vec<&'static str> {
    let weather = WEATHER.iter().copied().chain(["Events"]);
    match file {
        "store_states.csv" => ["State", "trend"].into_iter().chain(weather).collect(),
        "state_names.csv" | "weather.csv" => weather.collect(),
        "googletrend.csv" => vec!["trend", "trend_DE"],
        _ => Vec::new(),
    }
}

/// The file a continuous variable comes from, and the files its join goes through.
fn source(var: &str) -> &'static str {
    match var {
        "CompetitionDistance" => "store.csv",
        "trend_DE" => "googletrend.csv",
        "trend" => "googletrend.csv (joined through store_states.csv)",
        v if WEATHER.contains(&v) => {
            "weather.csv (joined through store_states.csv and state_names.csv)"
        }
        _ => "train.csv",
    }
}

/// The smallest and largest sales a day may have besides 0 (a closed day): the model learns
/// ln(Sales) in f32 within `[0, ln(1.2 max)]` and the metric takes the exp of both, which
/// must stay finite and non-zero in f32.
const SALES_RANGE: (f64, f64) = (f32::MIN_POSITIVE as f64, f32::MAX as f64 / 1.2);

/// An error naming the first day of `sales` (read from `path`) that is negative or out of
/// [`SALES_RANGE`].
fn check_sales(sales: &[f64], path: &Path) -> Result<()> {
    let (lo, hi) = SALES_RANGE;
    let bad = |s: f64| s < 0.0 || (s != 0.0 && !(lo..=hi).contains(&s));
    match sales.iter().position(|&s| bad(s)) {
        None => Ok(()),
        Some(i) => {
            // As written in the file, near enough: 1e300 rather than its 301 digits.
            let value = if (1e-4..1e15).contains(&sales[i].abs()) {
                sales[i].to_string()
            } else {
                format!("{:e}", sales[i])
            };
            let msg = if sales[i] < 0.0 {
                "is negative: sales are 0 (closed) or more".to_string()
            } else {
                format!("is out of range: sales are 0 (closed) or from {lo:.1e} to {hi:.1e}, so that their log and its exp stay finite in f32")
            };
            let line = files::line(i);
            Err(Error::csv_at(path, line, Some("Sales"), Some(&value), msg))
        }
    }
}

/// The cleaned Rossmann data.
pub struct Rossmann {
    /// Open days (Sales > 0), most recent first, with `Date`, the variables and `Sales`.
    pub rows: Table,
    /// Rows `..n_valid` of `rows` are the validation set, the rest the training set.
    pub n_valid: usize,
    /// test.csv's days in its order, with `Id`, `Open`, `Date` and the variables.
    pub test: Option<Table>,
    /// The variables this data has (the lesson's, less those of absent files).
    pub cat_vars: Vec<String>,
    pub cont_vars: Vec<String>,
    /// One line per optional file that was absent, saying what was left out.
    pub notices: Vec<String>,
}

impl Rossmann {
    /// Reads and cleans the files in `dir`.
    pub fn load(dir: impl AsRef<Path>) -> Result<Rossmann> {
        let files = Files::read(dir.as_ref())?;
        let joins = Joins::new(&files)?;
        let mut train = joins.join(&files.train)?;
        let mut test = files.test.as_ref().map(|t| joins.join(t)).transpose()?;
        add_datepart(&mut train, "Date")?;
        if let Some(t) = &mut test {
            add_datepart(t, "Date")?;
        }
        Self::add_elapsed(&files, &mut train, test.as_mut())?;

        let available = |v: &&&str| train.get(v).is_some();
        let cat_vars: Vec<&str> = CAT_VARS.iter().filter(available).copied().collect();
        let cont_vars: Vec<&str> = CONT_VARS.iter().filter(available).copied().collect();
        let mut notices = Vec::new();
        for file in [
            "store_states.csv",
            "state_names.csv",
            "googletrend.csv",
            "weather.csv",
        ] {
            if !dir.as_ref().join(file).exists() {
                notices.push(format!(
                    "{file} not found: leaving out {}",
                    brings(file).join(", ")
                ));
            }
        }
        if files.test.is_none() {
            let why = if dir.as_ref().join("test.csv").exists() {
                "test.csv has no rows"
            } else {
                "test.csv not found"
            };
            notices.push(format!(
                "{why}: no submission, and the validation set is the last {TEST_DAYS} days"
            ));
        }

        // Closed days (Sales == 0) go; the rest, most recent first (train.csv's order).
        let sales = files::present(&files.train.table, "Sales", &files.train.path)?;
        check_sales(sales, &files.train.path)?;
        train.set("Sales", Column::Num(sales.to_vec()))?;
        let mut keep: Vec<usize> = (0..sales.len()).filter(|&i| sales[i] != 0.0).collect();
        if keep.is_empty() {
            let msg = "no day with sales (Sales != 0) to learn from";
            return Err(Error::csv(&files.train.path, msg));
        }
        let dates = &files.train.dates;
        keep.sort_by(|&a, &b| dates[b].cmp(&dates[a]));
        let mut names = vec!["Date"];
        names.extend(&cat_vars);
        names.extend(&cont_vars);
        names.push("Sales");
        let rows = train.select(&names)?.take(&keep);
        let kept_dates: Vec<NaiveDate> = keep.iter().map(|&i| dates[i]).collect();
        let n_valid = Self::valid_rows(&kept_dates, files.test.as_ref().map(|t| t.dates.len()))?;
        for var in &cont_vars {
            if rows.num(var)?[n_valid..].iter().all(|x| x.is_nan()) {
                return Err(Error::Data(format!(
                    "`{var}` has no value in any training row: its column in {} is empty, or none of its rows joins a training day",
                    source(var)
                )));
            }
        }

        let test = match (test, &files.test) {
            (Some(mut t), Some(src)) => {
                t.set(
                    "Id",
                    Column::Num(files::present(&src.table, "Id", &src.path)?.to_vec()),
                )?;
                t.set("Open", src.table.column("Open")?.clone())?;
                let mut names = vec!["Id", "Open", "Date"];
                names.extend(&cat_vars);
                names.extend(&cont_vars);
                Some(t.select(&names)?)
            }
            _ => None,
        };
        Ok(Rossmann {
            rows,
            n_valid,
            test,
            cat_vars: cat_vars.iter().map(|s| s.to_string()).collect(),
            cont_vars: cont_vars.iter().map(|s| s.to_string()).collect(),
            notices,
        })
    }

    /// The validation rows at the head of `dates` (most recent first): as the lesson, the
    /// rows before the last one of the date found `test_rows` rows down (so that date's
    /// last row goes to training, the lesson's quirk); without a test set, the rows of the
    /// last [`TEST_DAYS`] days.
    fn valid_rows(dates: &[NaiveDate], test_rows: Option<usize>) -> Result<usize> {
        let boundary = match test_rows {
            Some(n) => *dates.get(n).ok_or_else(|| {
                Error::Data(format!(
                    "test.csv has {n} rows, the cleaned training data only {}: too few to hold out as many",
                    dates.len()
                ))
            })?,
            // At the calendar's start, every day is within the window.
            None => dates[0]
                .checked_sub_days(Days::new(TEST_DAYS - 1))
                .unwrap_or(NaiveDate::MIN),
        };
        let through = dates.partition_point(|d| *d >= boundary);
        let n_valid = match test_rows {
            Some(_) => through - 1,
            None => through,
        };
        if n_valid >= dates.len() {
            return Err(Error::Data(format!(
                "the data's {} days with sales are all within the last {TEST_DAYS} days: holding those out for validation leaves nothing to train on",
                dates.len()
            )));
        }
        Ok(n_valid)
    }

    /// Adds the [`elapsed`] columns to the joined train and test tables, computed on their
    /// days together.
    fn add_elapsed(files: &Files, train: &mut Table, mut test: Option<&mut Table>) -> Result<()> {
        let mut days = Vec::new();
        let mut sources = vec![(&files.train, &*train)];
        if let (Some(src), Some(t)) = (&files.test, test.as_deref()) {
            sources.push((src, t));
        }
        for (src, t) in &sources {
            let stores = t.num("Store")?;
            let school = t.num("SchoolHoliday")?;
            let holiday = t.cat("StateHoliday")?;
            let promo = t.num("Promo")?;
            for (i, &date) in src.dates.iter().enumerate() {
                days.push(Day {
                    store: stores[i] as i64,
                    date,
                    flags: [
                        school[i] != 0.0,
                        holiday[i].as_deref() == Some("True"),
                        promo[i] != 0.0,
                    ],
                });
            }
        }
        debug_assert_eq!(FLAGS, ["SchoolHoliday", "StateHoliday", "Promo"]);
        let n_train = files.train.dates.len();
        let where_ = |i: usize| match i.checked_sub(n_train) {
            None => format!("{} line {}", files.train.path.display(), line(i)),
            Some(j) => format!(
                "{} line {}",
                files
                    .test
                    .as_ref()
                    .map_or(Path::new("test.csv"), |t| &t.path)
                    .display(),
                line(j)
            ),
        };
        let columns = elapsed(&days).map_err(|(a, b)| {
            Error::Data(format!(
                "store {} has two rows for {}: {} and {}",
                days[a].store,
                days[a].date,
                where_(a),
                where_(b)
            ))
        })?;
        for (name, v) in columns {
            if let Some(t) = test.as_deref_mut() {
                t.set(&name, Column::Num(v[n_train..].to_vec()))?;
            }
            train.set(&name, Column::Num(v[..n_train].to_vec()))?;
        }
        Ok(())
    }

    /// The training rows (everything after the validation rows).
    pub fn train(&self) -> Table {
        self.rows
            .take(&(self.n_valid..self.rows.rows()).collect::<Vec<_>>())
    }

    /// The validation rows (the most recent).
    pub fn valid(&self) -> Table {
        self.rows.take(&(0..self.n_valid).collect::<Vec<_>>())
    }

    /// The model's output range, `[0, ln(1.2 max Sales)]` over the cleaned rows, so that the
    /// sigmoid can reach the largest sales with room to spare (the lesson's `y_range`).
    pub fn y_range(&self) -> Result<(f32, f32)> {
        let max = self
            .rows
            .num("Sales")?
            .iter()
            .copied()
            .fold(f64::NAN, f64::max);
        Ok((0.0, (max * 1.2).ln() as f32))
    }

    /// The target of `table`: ln(Sales) as f32 `[N, 1]` (the lesson's `log=True` labels).
    pub fn log_sales(table: &Table) -> Result<Tensor> {
        let y: Vec<f32> = table.num("Sales")?.iter().map(|&s| s.ln() as f32).collect();
        let n = y.len();
        Ok(Tensor::from_vec(y, &[n, 1])?)
    }

    /// Writes Kaggle's submission: `Id,Sales` per test row, with the predicted `sales` (the
    /// exp of the model's ln(Sales), as `TabularRecipe::predict` gives them), 0 for a store
    /// marked closed. Written to a temporary file and renamed, so a failure leaves no
    /// half-written file.
    pub fn write_submission(&self, path: impl AsRef<Path>, sales: &[f64]) -> Result<()> {
        let path = path.as_ref();
        let test = self
            .test
            .as_ref()
            .ok_or_else(|| Error::Data("no test.csv: nothing to submit".into()))?;
        if sales.len() != test.rows() {
            return Err(Error::Data(format!(
                "{} predictions for {} test rows",
                sales.len(),
                test.rows()
            )));
        }
        let ids = test.num("Id")?;
        let open = test.num("Open")?;
        let mut text = String::from("Id,Sales\n");
        for (i, &predicted) in sales.iter().enumerate() {
            // An unknown `Open` (11 rows of Kaggle's test.csv) counts as open.
            let sales = if open[i] == 0.0 { 0.0 } else { predicted };
            text.push_str(&format!("{},{sales:.2}\n", ids[i]));
        }
        nn::atomic::write_atomic(path, text.as_bytes()).map_err(|e| Error::io(path, e))
    }
}
