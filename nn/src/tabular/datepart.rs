//! `add_datepart`: the calendar features fastai derives from a date column (docs/lesson6.md,
//! add_datepart), so that a model can learn day-of-week, month-end or holiday-season effects.
use super::table::{Column, Table};
use crate::{Error, Result};
use chrono::{Datelike, NaiveDate};

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// Adds to `table`, from the date column `field` (text `YYYY-MM-DD`), the columns `Year`,
/// `Month`, `Week` (ISO week), `Day`, `Dayofweek` (Monday = 0), `Dayofyear`, the flags
/// `Is_month_end`, `Is_month_start`, `Is_quarter_end`, `Is_quarter_start`, `Is_year_end`,
/// `Is_year_start` (0 or 1), and `Elapsed` (seconds since 1970-01-01), each prefixed by the
/// field's name without a trailing `Date`/`date` (so `Date` gives no prefix, as in the
/// lesson). An unparsable date is an error naming the row and the value.
pub fn add_datepart(table: &mut Table, field: &str) -> Result<()> {
    let prefix = field
        .strip_suffix("Date")
        .or_else(|| field.strip_suffix("date"))
        .unwrap_or(field);
    let dates: Vec<NaiveDate> = table
        .cat(field)?
        .iter()
        .enumerate()
        .map(|(row, v)| {
            let s = v.as_deref().unwrap_or("");
            parse_date(s).ok_or_else(|| Error::NotADate {
                column: field.to_string(),
                row,
                value: s.to_string(),
            })
        })
        .collect::<Result<_>>()?;
    for (name, f) in FEATURES {
        table.set(
            &format!("{prefix}{name}"),
            Column::Num(dates.iter().map(f).collect()),
        )?;
    }
    Ok(())
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

fn last_of_month(d: &NaiveDate) -> bool {
    d.succ_opt().is_none_or(|n| n.month() != d.month())
}

/// Each added column and how it is computed from the date.
type Feature = (&'static str, fn(&NaiveDate) -> f64);

const FEATURES: [Feature; 13] = [
    ("Year", |d| d.year() as f64),
    ("Month", |d| d.month() as f64),
    ("Week", |d| d.iso_week().week() as f64),
    ("Day", |d| d.day() as f64),
    ("Dayofweek", |d| d.weekday().num_days_from_monday() as f64),
    ("Dayofyear", |d| d.ordinal() as f64),
    ("Is_month_end", |d| flag(last_of_month(d))),
    ("Is_month_start", |d| flag(d.day() == 1)),
    ("Is_quarter_end", |d| {
        flag(last_of_month(d) && d.month() % 3 == 0)
    }),
    ("Is_quarter_start", |d| {
        flag(d.day() == 1 && d.month() % 3 == 1)
    }),
    ("Is_year_end", |d| flag(d.month() == 12 && d.day() == 31)),
    ("Is_year_start", |d| flag(d.ordinal() == 1)),
    // Seconds since 1970-01-01 (pandas' int64 nanoseconds // 1e9).
    ("Elapsed", |d| {
        (d.num_days_from_ce() - 719_163) as f64 * 86_400.0
    }),
];
