//! How long a store has had a competitor and been in Promo2 (docs/lesson6.md, Competition and
//! Promo2 durations), as the lesson's notebook computes them: missing start dates are filled
//! with 1900 (year) and 1 (month, week), which the "before 1990" rule then maps to 0.
use chrono::{Datelike, Days, NaiveDate, Weekday};

/// `CompetitionMonthsOpen`: whole 30-day months since the 15th of the month the competitor
/// opened, 0 when it opened later or before 1990 (or the year is unknown), capped at 24.
/// `None` when year and month name no date.
pub(super) fn competition_months_open(date: NaiveDate, year: f64, month: f64) -> Option<f64> {
    let (year, month) = (fill(year, 1900.0), fill(month, 1.0));
    let since = NaiveDate::from_ymd_opt(year as i32, month as u32, 15)?;
    let days = (date - since).num_days();
    let days = if days < 0 || year < 1990.0 { 0 } else { days };
    Some((days / 30).min(24) as f64)
}

/// `Promo2Weeks`: whole weeks since the Monday of ISO week `week` of `year` (Python's
/// `isoweek.Week(year, week).monday()`, which lets week 53 of a 52-week year run into the
/// next), 0 when it starts later or before 1990, clipped to [0, 25]. `None` when the year is
/// out of the calendar's range.
pub(super) fn promo2_weeks(date: NaiveDate, year: f64, week: f64) -> Option<f64> {
    let (year, week) = (fill(year, 1900.0), fill(week, 1.0));
    let week1 = NaiveDate::from_isoywd_opt(year as i32, 1, Weekday::Mon)?;
    let offset = 7 * (week as i64 - 1);
    let since = if offset >= 0 {
        week1.checked_add_days(Days::new(offset as u64))?
    } else {
        week1.checked_sub_days(Days::new(offset.unsigned_abs()))?
    };
    let days = (date - since).num_days();
    let days = if days < 0 || year < 1990.0 { 0 } else { days };
    Some((days / 7).clamp(0, 25) as f64)
}

/// The notebook's `fillna`: a missing value becomes `default`.
pub(super) fn fill(x: f64, default: f64) -> f64 {
    if x.is_nan() {
        default
    } else {
        x
    }
}

/// Year and ISO week of a date, the keys of the Google-trend joins.
pub(super) fn year_week(d: NaiveDate) -> (i32, u32) {
    (d.year(), d.iso_week().week())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn competition() {
        // Opened 2008-09-15: long ago, capped at 24 months.
        assert_eq!(
            competition_months_open(d("2015-07-31"), 2008.0, 9.0),
            Some(24.0)
        );
        // Opened 2015-05-15: 77 days later is 2 whole 30-day months.
        assert_eq!(
            competition_months_open(d("2015-07-31"), 2015.0, 5.0),
            Some(2.0)
        );
        // Opens after the date: 0; unknown year (1900): 0; before 1990: 0.
        assert_eq!(
            competition_months_open(d("2015-07-31"), 2015.0, 9.0),
            Some(0.0)
        );
        assert_eq!(
            competition_months_open(d("2015-07-31"), f64::NAN, f64::NAN),
            Some(0.0)
        );
        assert_eq!(
            competition_months_open(d("2015-07-31"), 1961.0, 3.0),
            Some(0.0)
        );
        assert_eq!(competition_months_open(d("2015-07-31"), 2010.0, 13.0), None);
    }

    #[test]
    fn promo2() {
        // ISO week 13 of 2010 starts on Monday 2010-03-29.
        assert_eq!(promo2_weeks(d("2010-04-12"), 2010.0, 13.0), Some(2.0));
        assert_eq!(promo2_weeks(d("2015-07-31"), 2010.0, 13.0), Some(25.0));
        assert_eq!(promo2_weeks(d("2010-03-28"), 2010.0, 13.0), Some(0.0));
        assert_eq!(promo2_weeks(d("2015-07-31"), f64::NAN, f64::NAN), Some(0.0));
        // Week 53 of 2014 (a 52-week year) is week 1 of 2015: Monday 2014-12-29.
        assert_eq!(promo2_weeks(d("2015-01-12"), 2014.0, 53.0), Some(2.0));
    }
}
