//! The joins of lesson 6's cleaning notebook (docs/lesson6.md, Rossmann joins, and Competition
//! and Promo2 durations) for one table of days (train or test): each row gets its store's
//! columns (`store.csv`), its state (`store_states.csv`), the Google trend of its state and of
//! Germany for its week (`googletrend.csv`) and its state's weather that day (`weather.csv`
//! through `state_names.csv`), then the competition and Promo2 features. pandas' left joins
//! keep a row without a match, with missing values; so do these.
use super::files::{line, present, unique_index, Dated, Files, WEATHER};
use super::since::{competition_months_open, fill, promo2_weeks, year_week};
use chrono::NaiveDate;
use nn::tabular::{Column, Table};
use nn::{Error, Result};
use std::collections::HashMap;
use std::path::Path;

/// (state, year, ISO week) -> trend.
type TrendByState = HashMap<(String, i32, u32), f64>;
/// (year, ISO week) -> Germany's trend.
type TrendDe = HashMap<(i32, u32), f64>;

/// The right-hand sides of the joins, indexed by their keys.
pub(super) struct Joins<'a> {
    files: &'a Files,
    /// Store -> row of store.csv.
    store: HashMap<i64, usize>,
    /// Store -> state (store_states.csv).
    state: Option<HashMap<i64, String>>,
    trend: Option<TrendByState>,
    /// Germany's trend (`trend_DE`).
    trend_de: Option<TrendDe>,
    /// (state, date) -> row of weather.csv.
    weather: Option<HashMap<(String, NaiveDate), usize>>,
}

fn store_key(x: f64) -> Option<i64> {
    (!x.is_nan()).then_some(x as i64)
}

impl<'a> Joins<'a> {
    pub fn new(files: &'a Files) -> Result<Self> {
        let store_path = files.train.path.with_file_name("store.csv");
        let store = unique_index(
            present(&files.store, "Store", &store_path)?
                .iter()
                .map(|&s| store_key(s)),
            &store_path,
            "Store",
        )?;
        let state = match &files.store_states {
            Some(t) => {
                let path = store_path.with_file_name("store_states.csv");
                let stores = present(t, "Store", &path)?;
                let states = t.cat("State")?;
                let index = unique_index(stores.iter().map(|&s| store_key(s)), &path, "Store")?;
                Some(
                    index
                        .into_iter()
                        .filter_map(|(s, i)| Some((s, states[i].clone()?)))
                        .collect(),
                )
            }
            None => None,
        };
        let (trend, trend_de) = match &files.googletrend {
            Some(t) => {
                let (by_state, de) =
                    Self::googletrend(t, &store_path.with_file_name("googletrend.csv"))?;
                (Some(by_state), Some(de))
            }
            None => (None, None),
        };
        let weather = match (&files.weather, &files.state_names) {
            (Some(w), Some(names)) => Some(Self::weather(w, names)?),
            _ => None,
        };
        Ok(Joins {
            files,
            store,
            state,
            trend,
            trend_de,
            weather,
        })
    }

    /// googletrend.csv: `Date` is the first day of `week` ("2012-12-02 - 2012-12-08"), the
    /// state is the third part of `file` ("Rossmann_DE_SN"), `NI` is the store table's
    /// `HB,NI`, and the rows of `file == "Rossmann_DE"` are Germany's trend.
    fn googletrend(t: &Table, path: &Path) -> Result<(TrendByState, TrendDe)> {
        let files = t.cat("file")?;
        let weeks = t.cat("week")?;
        let trend = t.num("trend")?;
        let mut keys = Vec::with_capacity(t.rows());
        for (i, week) in weeks.iter().enumerate() {
            let w = week.as_deref().unwrap_or("");
            let first = w.split(" - ").next().unwrap_or("");
            let date = nn::tabular::parse_date(first).ok_or_else(|| {
                let msg = "does not start with a date (YYYY-MM-DD - YYYY-MM-DD)";
                Error::csv_at(path, line(i), Some("week"), Some(w), msg)
            })?;
            let file = files[i].as_deref().unwrap_or("");
            let state = file
                .split('_')
                .nth(2)
                .map(|s| if s == "NI" { "HB,NI" } else { s });
            keys.push((
                file == "Rossmann_DE",
                state.map(str::to_string),
                year_week(date),
            ));
        }
        let by_state = unique_index(
            keys.iter()
                .map(|(_, s, (y, w))| s.as_ref().map(|s| (s.clone(), *y, *w))),
            path,
            "(state, year, week)",
        )?;
        let de = unique_index(
            keys.iter().map(|&(de, _, yw)| de.then_some(yw)),
            path,
            "Rossmann_DE (year, week)",
        )?;
        Ok((
            by_state.into_iter().map(|(k, i)| (k, trend[i])).collect(),
            de.into_iter().map(|(k, i)| (k, trend[i])).collect(),
        ))
    }

    /// weather.csv ⋈ state_names.csv on `file = StateName`, indexed by (state, date).
    fn weather(w: &Dated, names: &Table) -> Result<HashMap<(String, NaiveDate), usize>> {
        let name_path = w.path.with_file_name("state_names.csv");
        let by_name = unique_index(
            names.cat("StateName")?.iter().cloned(),
            &name_path,
            "StateName",
        )?;
        let states = names.cat("State")?;
        let files = w.table.cat("file")?;
        unique_index(
            files.iter().zip(&w.dates).map(|(f, &d)| {
                let row = by_name.get(f.as_deref()?)?;
                Some((states[*row].clone()?, d))
            }),
            &w.path,
            "(state, Date)",
        )
    }

    /// An error naming the stores of `stores` (read from `path`) that store.csv lacks (their
    /// `rows` are `None`), the first few and how many: a day without its store would train
    /// on missing values.
    fn all_stores_known(&self, stores: &[f64], rows: &[Option<usize>], path: &Path) -> Result<()> {
        let mut lacking: Vec<i64> = stores
            .iter()
            .zip(rows)
            .filter(|(_, r)| r.is_none())
            .map(|(&s, _)| s as i64)
            .collect();
        lacking.sort_unstable();
        lacking.dedup();
        if lacking.is_empty() {
            return Ok(());
        }
        const SHOWN: usize = 5;
        let first: Vec<String> = lacking.iter().take(SHOWN).map(i64::to_string).collect();
        let more = if lacking.len() > SHOWN { ", ..." } else { "" };
        let msg = format!(
            "store.csv lacks {} of its stores (store.csv lists {}): {}{more}",
            lacking.len(),
            self.store.len(),
            first.join(", ")
        );
        Err(Error::csv(path, msg))
    }

    /// The joined columns for the days of `days`: its own (`Date`, `Store`, `DayOfWeek`,
    /// `Promo`, `SchoolHoliday`, `StateHoliday` as False/True), the store's, the state's,
    /// the trends, the weather, `CompetitionMonthsOpen` and `Promo2Weeks`.
    pub fn join(&self, days: &Dated) -> Result<Table> {
        let (t, path) = (&days.table, &days.path);
        let stores = present(t, "Store", path)?;
        let n = t.rows();
        let store_rows: Vec<Option<usize>> = stores
            .iter()
            .map(|&s| store_key(s).and_then(|s| self.store.get(&s).copied()))
            .collect();
        self.all_stores_known(stores, &store_rows, path)?;
        let mut out = Table::new();
        out.set("Date", t.column("Date")?.clone())?;
        for name in ["Store", "DayOfWeek", "Promo", "SchoolHoliday"] {
            out.set(name, Column::Num(present(t, name, path)?.to_vec()))?;
        }
        let holiday = t
            .cat("StateHoliday")?
            .iter()
            .enumerate()
            .map(|(i, v)| match v.as_deref() {
                // The notebook's `StateHoliday != '0'`: 0 (or "0") is no holiday,
                // a, b and c (public, Easter, Christmas) are.
                Some(s) => Ok(Some(if s == "0" { "False" } else { "True" }.to_string())),
                None => Err(Error::csv_at(
                    path,
                    line(i),
                    Some("StateHoliday"),
                    None,
                    "empty (0, a, b or c expected)",
                )),
            })
            .collect::<Result<Vec<_>>>()?;
        out.set("StateHoliday", Column::Cat(holiday))?;

        let store = &self.files.store;
        for name in ["StoreType", "Assortment", "PromoInterval"] {
            let v = store.cat(name)?;
            out.set(
                name,
                Column::Cat(
                    store_rows
                        .iter()
                        .map(|r| r.and_then(|r| v[r].clone()))
                        .collect(),
                ),
            )?;
        }
        let store_num = |name: &str| -> Result<Vec<f64>> {
            let v = store.num(name)?;
            Ok(store_rows
                .iter()
                .map(|r| r.map_or(f64::NAN, |r| v[r]))
                .collect())
        };
        out.set(
            "CompetitionDistance",
            Column::Num(store_num("CompetitionDistance")?),
        )?;
        let (comp_year, comp_month) = (
            store_num("CompetitionOpenSinceYear")?,
            store_num("CompetitionOpenSinceMonth")?,
        );
        let (promo_year, promo_week) =
            (store_num("Promo2SinceYear")?, store_num("Promo2SinceWeek")?);
        let mut months = Vec::with_capacity(n);
        let mut weeks = Vec::with_capacity(n);
        for (i, &d) in days.dates.iter().enumerate() {
            months.push(competition_months_open(d, comp_year[i], comp_month[i]).ok_or_else(|| {
                Error::Data(format!(
                    "store.csv: store {} opened to competition in year {} month {}, which is no date",
                    stores[i], comp_year[i], comp_month[i]
                ))
            })?);
            weeks.push(
                promo2_weeks(d, promo_year[i], promo_week[i]).ok_or_else(|| {
                    Error::Data(format!(
                        "store.csv: store {} joined Promo2 in year {} week {}, which is no date",
                        stores[i], promo_year[i], promo_week[i]
                    ))
                })?,
            );
        }
        out.set("CompetitionMonthsOpen", Column::Num(months))?;
        out.set("Promo2Weeks", Column::Num(weeks))?;
        out.set(
            "CompetitionOpenSinceYear",
            Column::Num(comp_year.iter().map(|&y| fill(y, 1900.0)).collect()),
        )?;
        out.set(
            "Promo2SinceYear",
            Column::Num(promo_year.iter().map(|&y| fill(y, 1900.0)).collect()),
        )?;

        if let Some(de) = &self.trend_de {
            let v = days
                .dates
                .iter()
                .map(|&d| de.get(&year_week(d)).copied().unwrap_or(f64::NAN));
            out.set("trend_DE", Column::Num(v.collect()))?;
        }
        let Some(state_of) = &self.state else {
            return Ok(out);
        };
        let states: Vec<Option<&String>> = stores
            .iter()
            .map(|&s| store_key(s).and_then(|s| state_of.get(&s)))
            .collect();
        out.set(
            "State",
            Column::Cat(states.iter().map(|s| s.cloned()).collect()),
        )?;
        if let Some(trend) = &self.trend {
            let v = states
                .iter()
                .zip(&days.dates)
                .map(|(s, &d)| {
                    let (y, w) = year_week(d);
                    s.and_then(|s| trend.get(&(s.clone(), y, w)).copied())
                        .unwrap_or(f64::NAN)
                })
                .collect();
            out.set("trend", Column::Num(v))?;
        }
        if let (Some(index), Some(w)) = (&self.weather, &self.files.weather) {
            let rows: Vec<Option<usize>> = states
                .iter()
                .zip(&days.dates)
                .map(|(s, &d)| s.and_then(|s| index.get(&(s.clone(), d)).copied()))
                .collect();
            for name in WEATHER {
                let v = w.table.num(name)?;
                out.set(
                    name,
                    Column::Num(rows.iter().map(|r| r.map_or(f64::NAN, |r| v[r])).collect()),
                )?;
            }
            let events = w.table.cat("Events")?;
            out.set(
                "Events",
                Column::Cat(
                    rows.iter()
                        .map(|r| r.and_then(|r| events[r].clone()))
                        .collect(),
                ),
            )?;
        }
        Ok(out)
    }
}
