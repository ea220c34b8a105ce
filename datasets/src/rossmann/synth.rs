//! The embedded default: a deterministic generator of Rossmann-shaped data, written as the
//! seven CSV files of Kaggle's schema so that it goes through the same loader as real data.
//!
//! The generating process, per store `s` and day `d` (all draws from Philox with the seed):
//!
//! - Stores: type a/b/c/d and assortment a/b/c with Kaggle's frequencies, one of 12 states,
//!   a level `ln(sales) ~ N(8.7, 0.3)` (about 6,000 a day), a promotion lift
//!   `N(0.22, 0.05)` and a yearly trend `N(0.03, 0.02)`. A competitor at a log-uniform
//!   distance of 20 m to 75 km (none, so distance missing, for 1% of stores), opened at a
//!   known month (68%) or long ago (unknown, 32%); it takes `0.25 exp(-distance / 2.5 km)`
//!   off the log sales, phased in over its first 12 months. Half the stores run Promo2 from
//!   a given week, worth +0.03 in the months of their `PromoInterval`. One store in ten has
//!   no rows from July to December 2014 (as 180 of Kaggle's 1,115).
//! - Days: 2013-01-01 to 2015-07-31 for training, 2015-08-01 to 2015-09-17 for the test
//!   set. Stores close on Sundays (type b opens) and on public holidays (German dates, some
//!   per state: `a` public, `b` Easter, `c` Christmas). The chain-wide `Promo` runs Monday to
//!   Friday of alternate weeks (10% of weeks flipped). School holidays follow each state's
//!   Easter, summer, autumn and Christmas breaks.
//! - Log mean sales = level + weekday effect by store type + promotion lift + 0.04 in school
//!   holidays + 0.18 the day before and 0.10 the day after a public holiday + 0.04 around
//!   pay day (days 1-3 and 28-31) + the December build-up to Christmas (to +0.25) - 0.05 in
//!   early January + the store's trend + competition + Promo2 + weather (rain -0.03,
//!   thunderstorm -0.05, snow -0.08, above 27 degrees -0.04) + 0.004 (Google trend - 50).
//! - Sales = round(exp(log mean + e)), e ~ N(0, [`NOISE_SD`]^2); customers = sales / basket.
//!
//! The noise floor is therefore known: [`Truth`] holds every open day's log mean, and a
//! predictor that knew it (the oracle) scores RMSPE of about `NOISE_SD`.
use super::files::{STORE_COLUMNS, WEATHER};
use super::Rossmann;
use chrono::{Datelike, Days, NaiveDate, Weekday};
use nn::metrics::{exp_rmspe, Average};
use nn::{Error, Result};
use std::collections::HashMap;
use std::path::Path;
use tensor::random::Philox;
use tensor::Tensor;

/// The standard deviation of the log-normal day-to-day noise.
pub const NOISE_SD: f64 = 0.1;

/// State code (as in `store_states.csv`), name (as `weather.csv`'s `file`), share of stores.
const STATES: [(&str, &str, f64); 12] = [
    ("NW", "NordrheinWestfalen", 0.25),
    ("BY", "Bayern", 0.16),
    ("SH", "SchleswigHolstein", 0.10),
    ("HE", "Hessen", 0.10),
    ("BE", "Berlin", 0.08),
    ("SN", "Sachsen", 0.07),
    ("BW", "BadenWuerttemberg", 0.08),
    ("HB,NI", "Niedersachsen", 0.05),
    ("TH", "Thueringen", 0.03),
    ("ST", "SachsenAnhalt", 0.03),
    ("RP", "RheinlandPfalz", 0.03),
    ("HH", "Hamburg", 0.02),
];

/// Weekday effects (Monday first) by store type a, b, c, d.
const WEEKDAY: [[f64; 7]; 4] = [
    [0.12, 0.02, 0.0, 0.0, 0.04, -0.06, 0.0],
    [0.02, 0.0, 0.0, 0.0, 0.03, 0.05, 0.10],
    [0.15, 0.03, 0.0, -0.02, 0.05, -0.12, 0.0],
    [0.10, 0.02, 0.0, 0.0, 0.04, -0.08, 0.0],
];

const INTERVALS: [&str; 3] = ["Jan,Apr,Jul,Oct", "Feb,May,Aug,Nov", "Mar,Jun,Sept,Dec"];

/// A sequential stream of Philox draws.
struct Rng {
    philox: Philox,
    next: u64,
}

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        Rng {
            philox: Philox::new(seed, stream << 40),
            next: 0,
        }
    }
    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        self.next += 1;
        (self.philox.word(self.next) as f64 + 0.5) / 4_294_967_296.0
    }
    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
    /// An index drawn with probability proportional to `weights`.
    fn pick(&mut self, weights: &[f64]) -> usize {
        let mut u = self.uniform() * weights.iter().sum::<f64>();
        for (i, w) in weights.iter().enumerate() {
            if u < *w {
                return i;
            }
            u -= w;
        }
        weights.len() - 1
    }
}

struct Store {
    kind: usize,
    assortment: usize,
    state: usize,
    level: f64,
    promo_lift: f64,
    trend: f64,
    /// Competitor's distance in metres (`None`: no competitor) and opening (year, month),
    /// `None` when unknown (long ago).
    distance: Option<f64>,
    opened: Option<(i32, u32)>,
    /// Promo2 from (year, ISO week), in the months of `INTERVALS[i]`.
    promo2: Option<(i32, u32, usize)>,
    /// No rows from July to December 2014.
    gap: bool,
}

impl Store {
    fn draw(rng: &mut Rng) -> Store {
        let kind = rng.pick(&[0.54, 0.02, 0.13, 0.31]);
        let assortment = if kind == 1 {
            1
        } else {
            rng.pick(&[0.53, 0.0, 0.47])
        };
        let state = rng.pick(&STATES.map(|s| s.2));
        let level = 8.7 + 0.3 * rng.normal() + if kind == 1 { 0.4 } else { 0.0 };
        let promo_lift = 0.22 + 0.05 * rng.normal();
        let trend = 0.03 + 0.02 * rng.normal();
        let distance =
            (rng.uniform() > 0.01).then(|| 20.0 * (75_000.0f64 / 20.0).powf(rng.uniform()));
        let opened = (rng.uniform() < 0.68).then(|| {
            (
                2000 + (rng.uniform() * 16.0) as i32,
                1 + (rng.uniform() * 12.0) as u32,
            )
        });
        let promo2 = (rng.uniform() < 0.5).then(|| {
            (
                2009 + (rng.uniform() * 7.0) as i32,
                1 + (rng.uniform() * 50.0) as u32,
                rng.pick(&[0.55, 0.25, 0.2]),
            )
        });
        let gap = rng.uniform() < 0.1;
        Store {
            kind,
            assortment,
            state,
            level,
            promo_lift,
            trend,
            distance,
            opened,
            promo2,
            gap,
        }
    }

    /// The competition's effect on log sales on `d`.
    fn competition(&self, d: NaiveDate) -> f64 {
        let Some(distance) = self.distance else {
            return 0.0;
        };
        let phase = match self.opened {
            None => 1.0,
            Some((y, m)) => {
                let since = NaiveDate::from_ymd_opt(y, m, 15).expect("month in 1..=12");
                ((d - since).num_days() as f64 / 365.0).clamp(0.0, 1.0)
            }
        };
        -0.25 * (-distance / 2500.0).exp() * phase
    }

    /// Promo2's effect on `d`.
    fn promo2(&self, d: NaiveDate) -> f64 {
        let Some((y, w, interval)) = self.promo2 else {
            return 0.0;
        };
        let since = NaiveDate::from_isoywd_opt(y, w, Weekday::Mon).expect("week in 1..=50");
        let month = d.format("%b").to_string();
        let month = if month == "Sep" { "Sept".into() } else { month };
        let in_interval = INTERVALS[interval].split(',').any(|m| m == month);
        if d >= since && in_interval {
            0.03
        } else {
            0.0
        }
    }
}

/// Easter Sunday (the anonymous Gregorian algorithm).
fn easter(year: i32) -> NaiveDate {
    let a = year % 19;
    let (b, c) = (year / 100, year % 100);
    let (d, e) = (b / 4, b % 4);
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let (i, k) = (c / 4, c % 4);
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("Easter is a date")
}

/// The public holiday of state `state` on `d`: `a` (public), `b` (Easter), `c` (Christmas).
fn state_holiday(state: &str, d: NaiveDate) -> Option<char> {
    let e = easter(d.year());
    let in_states = |list: &[&str]| list.contains(&state);
    match (d.month(), d.day()) {
        (1, 1) | (5, 1) | (10, 3) => return Some('a'),
        (12, 25) | (12, 26) => return Some('c'),
        (1, 6) if in_states(&["BW", "BY", "ST"]) => return Some('a'),
        (10, 31) if in_states(&["SN", "ST", "TH"]) => return Some('a'),
        (11, 1) if in_states(&["BW", "BY", "NW", "RP"]) => return Some('a'),
        _ => {}
    }
    match (d - e).num_days() {
        -2 | 1 => Some('b'),
        39 | 50 => Some('a'),
        60 if in_states(&["BW", "BY", "HE", "NW", "RP"]) => Some('a'),
        _ => None,
    }
}

/// Whether state number `s` has school holidays on `d`.
fn school_holiday(s: usize, d: NaiveDate) -> bool {
    let (year, doy) = (d.year(), d.ordinal() as i64);
    let e = (easter(year) - NaiveDate::from_ymd_opt(year, 1, 1).expect("Jan 1")).num_days() + 1;
    let easter_start = e - 9 + 3 * (s as i64 % 3);
    let summer_start = 170 + ((s as i64 * 7 + year as i64 * 3) % 40);
    let autumn_start = 278 + 7 * (s as i64 % 4);
    (easter_start..easter_start + 14).contains(&doy)
        || (summer_start..summer_start + 42).contains(&doy)
        || (autumn_start..autumn_start + 12).contains(&doy)
        || doy <= 6
        || (d.month() == 12 && d.day() >= 23)
}

/// One day of weather in one state.
struct Weather {
    mean_temp: f64,
    max_temp: f64,
    min_temp: f64,
    humidity: f64,
    wind: f64,
    cloud: Option<f64>,
    events: &'static str,
}

impl Weather {
    /// The weather's effect on log sales.
    fn effect(&self) -> f64 {
        let events = match self.events {
            "Rain" | "Fog-Rain" => -0.03,
            "Rain-Thunderstorm" => -0.05,
            "Snow" | "Rain-Snow" => -0.08,
            _ => 0.0,
        };
        events + if self.max_temp > 27.0 { -0.04 } else { 0.0 }
    }

    /// A row of weather.csv's 24 columns.
    fn record(&self, state: usize, d: NaiveDate) -> Vec<String> {
        let n = |x: f64| format!("{}", x.round());
        let dew = self.mean_temp - (100.0 - self.humidity) / 5.0;
        let mut r = vec![STATES[state].1.to_string(), d.to_string()];
        r.extend(
            [
                self.max_temp,
                self.mean_temp,
                self.min_temp,
                dew + 2.0,
                dew,
                dew - 2.0,
            ]
            .map(n),
        );
        r.extend(
            [
                (self.humidity + 12.0).min(100.0),
                self.humidity,
                self.humidity - 20.0,
            ]
            .map(n),
        );
        r.extend([1025.0, 1018.0, 1011.0, 31.0, 12.0, 4.0].map(n));
        r.extend([self.wind + 10.0, self.wind, self.wind + 20.0].map(n));
        r.push(
            if self.events.contains("Rain") {
                "2.03"
            } else {
                "0"
            }
            .into(),
        );
        r.push(self.cloud.map_or(String::new(), n));
        r.push(self.events.into());
        r.push(format!("{}", (d.ordinal() * 37) % 360));
        r
    }
}

/// Every state's weather from `start` for `days` days: a seasonal temperature with an AR(1)
/// anomaly, humidity falling with warmth, cloud cover (missing 8% of days) and the events.
fn weather(rng: &mut Rng, start: NaiveDate, days: usize) -> Vec<Vec<Weather>> {
    (0..STATES.len())
        .map(|s| {
            let mut anomaly = 0.0;
            (0..days)
                .map(|k| {
                    let d = start + Days::new(k as u64);
                    anomaly = 0.8 * anomaly + 1.8 * rng.normal();
                    let season =
                        (std::f64::consts::TAU * (d.ordinal() as f64 - 105.0) / 365.25).sin();
                    let mean_temp = (9.5 + 9.5 * season + (s % 4) as f64 * 0.5 + anomaly).round();
                    let cloud = (rng.uniform() * 9.0).floor().min(8.0);
                    let rain = rng.uniform() < 0.08 + 0.05 * cloud;
                    let events = match (rain, mean_temp) {
                        (true, t) if t < 1.0 => "Snow",
                        (true, t) if t > 18.0 && rng.uniform() < 0.3 => "Rain-Thunderstorm",
                        (true, _) => "Rain",
                        (false, _) if rng.uniform() < 0.03 => "Fog",
                        _ => "",
                    };
                    Weather {
                        mean_temp,
                        max_temp: mean_temp + (4.0 + 2.0 * rng.uniform()).round(),
                        min_temp: mean_temp - (4.0 + 2.0 * rng.uniform()).round(),
                        humidity: (80.0 - 0.8 * (mean_temp - 10.0) + 6.0 * rng.normal())
                            .clamp(30.0, 88.0)
                            .round(),
                        wind: (12.0 + 5.0 * rng.normal().abs()).round(),
                        cloud: (rng.uniform() > 0.08).then_some(cloud),
                        events,
                    }
                })
                .collect()
        })
        .collect()
}

/// The chain-wide promotion calendar: Monday to Friday of alternate ISO weeks, with one
/// week in ten flipped.
fn promo_weeks(rng: &mut Rng, start: NaiveDate, days: usize) -> HashMap<(i32, u32), bool> {
    let mut weeks = HashMap::new();
    for k in (0..days).step_by(7) {
        let w = (start + Days::new(k as u64)).iso_week();
        let alternate = (k / 7) % 2 == 0;
        weeks.insert((w.year(), w.week()), alternate ^ (rng.uniform() < 0.1));
    }
    weeks
}

/// How to generate the data.
#[derive(Debug, Clone, Copy)]
pub struct Synth {
    pub stores: usize,
    pub seed: u64,
}

/// What the generator knows and the data does not say: the log mean sales of every open
/// training day, to score the oracle.
pub struct Truth {
    log_mean: HashMap<(i64, NaiveDate), f64>,
}

/// The bytes of a CSV file of `header` and `rows`.
fn csv_text(header: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    // Writes into memory take every byte: the only failures a CSV writer has are its sink's.
    const IN_MEMORY: &str = "writing CSV into memory cannot fail";
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).expect(IN_MEMORY);
    for r in rows {
        w.write_record(r).expect(IN_MEMORY);
    }
    w.into_inner().expect(IN_MEMORY)
}

impl Synth {
    /// Generates the data and writes `train.csv`, `store.csv`, `store_states.csv`,
    /// `state_names.csv`, `googletrend.csv`, `weather.csv` and `test.csv` into `dir`
    /// (created if needed; each file written atomically).
    pub fn write(&self, dir: impl AsRef<Path>) -> Result<Truth> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let start = NaiveDate::from_ymd_opt(2013, 1, 1).expect("date");
        let last_train = NaiveDate::from_ymd_opt(2015, 7, 31).expect("date");
        let end = NaiveDate::from_ymd_opt(2015, 9, 17).expect("date");
        let days = (end - start).num_days() as usize + 1;
        let mut rng = Rng::new(self.seed, 1);
        let stores: Vec<Store> = (0..self.stores).map(|_| Store::draw(&mut rng)).collect();
        let weather = weather(&mut Rng::new(self.seed, 2), start, days);
        let promo = promo_weeks(&mut Rng::new(self.seed, 3), start, days);

        // Google trend per state and for Germany, weekly from the Sunday before `start`.
        let mut trend_rng = Rng::new(self.seed, 4);
        let first_sunday = start - Days::new(start.weekday().num_days_from_sunday() as u64);
        let mut trend_rows = Vec::new();
        let mut trend_of: HashMap<(usize, i32, u32), f64> = HashMap::new();
        for s in 0..=STATES.len() {
            let (file, bias) = match STATES.get(s) {
                Some((code, _, _)) => (
                    format!("Rossmann_DE_{}", code.trim_start_matches("HB,")),
                    (s % 5) as f64 * 3.0,
                ),
                None => ("Rossmann_DE".to_string(), 0.0),
            };
            let mut sunday = first_sunday;
            while sunday <= end + Days::new(7) {
                let season = (std::f64::consts::TAU * sunday.ordinal() as f64 / 365.25).cos();
                let value = (55.0 + bias + 12.0 * season + 6.0 * trend_rng.normal())
                    .clamp(0.0, 100.0)
                    .round();
                trend_rows.push(vec![
                    file.clone(),
                    format!("{} - {}", sunday, sunday + Days::new(6)),
                    value.to_string(),
                ]);
                // The loader joins on (calendar year, ISO week) of the week's first day.
                trend_of.insert((s, sunday.year(), sunday.iso_week().week()), value);
                sunday = sunday + Days::new(7);
            }
        }

        let mut noise = Rng::new(self.seed, 5);
        let mut truth = HashMap::new();
        let mut train_rows = Vec::new();
        let mut test_rows = Vec::new();
        // Three stores in four are in the test set.
        let test_store = |i: usize| !i.is_multiple_of(4);
        let (gap_from, gap_to) = (
            NaiveDate::from_ymd_opt(2014, 7, 1).expect("date"),
            NaiveDate::from_ymd_opt(2014, 12, 31).expect("date"),
        );
        for k in (0..days).rev() {
            let d = start + Days::new(k as u64);
            let dow = d.weekday().num_days_from_monday() as usize;
            let w = d.iso_week();
            let promo = dow < 5 && promo[&(w.year(), w.week())];
            for (i, st) in stores.iter().enumerate() {
                if d <= last_train && st.gap && d >= gap_from && d <= gap_to {
                    continue;
                }
                let state = STATES[st.state].0;
                let holiday = state_holiday(state, d);
                let school = school_holiday(st.state, d);
                let open = holiday.is_none() && (dow < 6 || st.kind == 1);
                let store_id = i as i64 + 1;
                let flags = [store_id.to_string(), (dow + 1).to_string(), d.to_string()];
                let holiday_text = holiday.map_or("0".to_string(), |c| c.to_string());
                if d > last_train {
                    if test_store(i) {
                        // A few unknown `Open` values, as in Kaggle's test.csv.
                        let open_text = if i == 1 && dow == 2 {
                            String::new()
                        } else {
                            (open as u8).to_string()
                        };
                        test_rows.push((flags.clone(), open_text, promo, holiday_text, school));
                    }
                    continue;
                }
                let (sales, customers) = if open {
                    let yesterday = state_holiday(state, d - Days::new(1)).is_some();
                    let tomorrow = state_holiday(state, d + Days::new(1)).is_some();
                    let december = if d.month() == 12 && d.day() <= 24 {
                        0.25 * ((d.day() as f64 - 8.0) / 15.0).clamp(0.0, 1.0)
                    } else {
                        0.0
                    };
                    let january = if d.month() == 1 && d.day() <= 10 {
                        -0.05
                    } else {
                        0.0
                    };
                    let trend = trend_of
                        .get(&(st.state, d.year(), w.week()))
                        .map_or(0.0, |t| 0.004 * (t - 50.0));
                    let log_mean = st.level
                        + WEEKDAY[st.kind][dow]
                        + if promo { st.promo_lift } else { 0.0 }
                        + if school { 0.04 } else { 0.0 }
                        + if tomorrow { 0.18 } else { 0.0 }
                        + if yesterday { 0.10 } else { 0.0 }
                        + if d.day() <= 3 || d.day() >= 28 {
                            0.04
                        } else {
                            0.0
                        }
                        + december
                        + january
                        + st.trend * (d - start).num_days() as f64 / 365.25
                        + st.competition(d)
                        + st.promo2(d)
                        + weather[st.state][k].effect()
                        + trend;
                    truth.insert((store_id, d), log_mean);
                    let sales = (log_mean + NOISE_SD * noise.normal()).exp().round();
                    (sales, (sales / (9.0 + st.assortment as f64)).round())
                } else {
                    (0.0, 0.0)
                };
                let mut r = flags.to_vec();
                r.extend([
                    sales.to_string(),
                    customers.to_string(),
                    (open as u8).to_string(),
                    (promo as u8).to_string(),
                    holiday_text,
                    (school as u8).to_string(),
                ]);
                train_rows.push(r);
            }
        }
        let files: Vec<(&str, Vec<u8>)> = vec![
            (
                "train.csv",
                csv_text(
                    &[
                        "Store",
                        "DayOfWeek",
                        "Date",
                        "Sales",
                        "Customers",
                        "Open",
                        "Promo",
                        "StateHoliday",
                        "SchoolHoliday",
                    ],
                    &train_rows,
                ),
            ),
            (
                "store.csv",
                csv_text(&STORE_COLUMNS, &Self::store_rows(&stores)),
            ),
            (
                "store_states.csv",
                csv_text(
                    &["Store", "State"],
                    &stores
                        .iter()
                        .enumerate()
                        .map(|(i, s)| vec![(i + 1).to_string(), STATES[s.state].0.to_string()])
                        .collect::<Vec<_>>(),
                ),
            ),
            (
                "state_names.csv",
                csv_text(
                    &["StateName", "State"],
                    &STATES
                        .iter()
                        .map(|s| vec![s.1.to_string(), s.0.to_string()])
                        .collect::<Vec<_>>(),
                ),
            ),
            (
                "googletrend.csv",
                csv_text(&["file", "week", "trend"], &trend_rows),
            ),
            (
                "weather.csv",
                csv_text(
                    &WEATHER_HEADER,
                    &(0..STATES.len())
                        .flat_map(|s| (0..days).map(move |k| (s, k)))
                        .map(|(s, k)| weather[s][k].record(s, start + Days::new(k as u64)))
                        .collect::<Vec<_>>(),
                ),
            ),
            (
                "test.csv",
                csv_text(
                    &[
                        "Id",
                        "Store",
                        "DayOfWeek",
                        "Date",
                        "Open",
                        "Promo",
                        "StateHoliday",
                        "SchoolHoliday",
                    ],
                    &test_rows
                        .into_iter()
                        .enumerate()
                        .map(|(id, (f, open, promo, holiday, school))| {
                            let mut r = vec![(id + 1).to_string()];
                            r.extend(f);
                            r.extend([
                                open,
                                (promo as u8).to_string(),
                                holiday,
                                (school as u8).to_string(),
                            ]);
                            r
                        })
                        .collect::<Vec<_>>(),
                ),
            ),
        ];
        for (name, bytes) in files {
            let path = dir.join(name);
            nn::atomic::write_atomic(&path, &bytes).map_err(|e| Error::io(&path, e))?;
        }
        debug_assert!(WEATHER.iter().all(|c| WEATHER_HEADER.contains(c)));
        Ok(Truth { log_mean: truth })
    }

    fn store_rows(stores: &[Store]) -> Vec<Vec<String>> {
        let abcd = ["a", "b", "c", "d"];
        stores
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let opt = |v: Option<String>| v.unwrap_or_default();
                vec![
                    (i + 1).to_string(),
                    abcd[s.kind].into(),
                    abcd[s.assortment].into(),
                    opt(s.distance.map(|d| d.round().to_string())),
                    opt(s.opened.map(|o| o.1.to_string())),
                    opt(s.opened.map(|o| o.0.to_string())),
                    (s.promo2.is_some() as u8).to_string(),
                    opt(s.promo2.map(|p| p.1.to_string())),
                    opt(s.promo2.map(|p| p.0.to_string())),
                    opt(s.promo2.map(|p| INTERVALS[p.2].to_string())),
                ]
            })
            .collect()
    }
}

/// weather.csv's columns, as in the lesson's data.
const WEATHER_HEADER: [&str; 24] = [
    "file",
    "Date",
    "Max_TemperatureC",
    "Mean_TemperatureC",
    "Min_TemperatureC",
    "Dew_PointC",
    "MeanDew_PointC",
    "Min_DewpointC",
    "Max_Humidity",
    "Mean_Humidity",
    "Min_Humidity",
    "Max_Sea_Level_PressurehPa",
    "Mean_Sea_Level_PressurehPa",
    "Min_Sea_Level_PressurehPa",
    "Max_VisibilityKm",
    "Mean_VisibilityKm",
    "Min_VisibilitykM",
    "Max_Wind_SpeedKm_h",
    "Mean_Wind_SpeedKm_h",
    "Max_Gust_SpeedKm_h",
    "Precipitationmm",
    "CloudCover",
    "Events",
    "WindDirDegrees",
];

impl Truth {
    /// The log mean sales of `store` on `date` (open training days only).
    pub fn log_mean(&self, store: i64, date: NaiveDate) -> Option<f64> {
        self.log_mean.get(&(store, date)).copied()
    }

    /// The validation exp_rmspe of two predictors, computed as the learner computes it
    /// (per batch of `bs` rows, batch-size-weighted): the oracle, which predicts the true log
    /// mean, and the baseline, which predicts each store's geometric-mean sales over the
    /// training rows.
    pub fn oracle_and_baseline(&self, data: &Rossmann, bs: usize) -> Result<(f64, f64)> {
        let valid = data.valid();
        let train = data.train();
        let mut per_store: HashMap<i64, (f64, usize)> = HashMap::new();
        for (s, y) in train.num("Store")?.iter().zip(train.num("Sales")?) {
            let e = per_store.entry(*s as i64).or_default();
            e.0 += y.ln();
            e.1 += 1;
        }
        let stores = valid.num("Store")?;
        let dates = valid.cat("Date")?;
        let mut oracle = Vec::with_capacity(stores.len());
        let mut baseline = Vec::with_capacity(stores.len());
        for (s, d) in stores.iter().zip(dates) {
            let store = *s as i64;
            let date = d
                .as_deref()
                .and_then(nn::tabular::parse_date)
                .ok_or_else(|| Error::Data("a validation row without a date".into()))?;
            oracle.push(
                self.log_mean(store, date).ok_or_else(|| {
                    Error::Data(format!("no true mean for store {store} on {date}"))
                })? as f32,
            );
            let (sum, n) = per_store.get(&store).copied().unwrap_or((0.0, 0));
            baseline.push(if n > 0 { (sum / n as f64) as f32 } else { 0.0 });
        }
        let target = Rossmann::log_sales(&valid)?;
        let score = |pred: Vec<f32>| -> Result<f64> {
            let mut avg = Average::default();
            for (b, chunk) in pred.chunks(bs.max(1)).enumerate() {
                let t = target.narrow(0, b * bs, chunk.len())?;
                let p = Tensor::from_vec(chunk.to_vec(), &[chunk.len(), 1])?;
                avg.add(exp_rmspe(&p, &t)?, chunk.len());
            }
            Ok(avg.value() as f64)
        };
        Ok((score(oracle)?, score(baseline)?))
    }
}
