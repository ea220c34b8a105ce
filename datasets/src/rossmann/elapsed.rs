//! Days before and after events (docs/lesson6.md, Before and after events), computed on train
//! and test together, store by store in date order, closed days included:
//!
//! - `After<f>`: days since the last day on which the flag `f` was set (0 on that day and
//!   before the store's first event), `Before<f>`: days until the next one, counted
//!   negative (the notebook's `d - next_date`, so `-1` is the day before a holiday);
//! - `<f>_bw` and `<f>_fw`: how many of the current row and the 6 rows before (after) it,
//!   for the same store, have the flag: a 7-row rolling sum, rows rather than calendar days
//!   (pandas' `rolling(7, min_periods=1)`), so a gap in a store's days is bridged.
use chrono::NaiveDate;

/// The three flags, in the notebook's order.
pub(super) const FLAGS: [&str; 3] = ["SchoolHoliday", "StateHoliday", "Promo"];

/// One day of one store: its flags in [`FLAGS`] order.
pub(super) struct Day {
    pub store: i64,
    pub date: NaiveDate,
    pub flags: [bool; 3],
}

/// Named columns of values.
pub(super) type Columns = Vec<(String, Vec<f64>)>;

/// The 12 columns (`After<f>`, `Before<f>`, `<f>_bw`, `<f>_fw` for each flag), one value
/// per day in the input's order. A store with two rows for one date is an error: `Err`
/// holds the two rows' positions.
pub(super) fn elapsed(days: &[Day]) -> Result<Columns, (usize, usize)> {
    let mut order: Vec<usize> = (0..days.len()).collect();
    order.sort_by_key(|&i| (days[i].store, days[i].date));
    if let Some(w) = order
        .windows(2)
        .find(|w| (days[w[0]].store, days[w[0]].date) == (days[w[1]].store, days[w[1]].date))
    {
        return Err((w[0].min(w[1]), w[0].max(w[1])));
    }
    let n = days.len();
    let mut columns = Vec::new();
    for (f, name) in FLAGS.iter().enumerate() {
        let mut after = vec![0.0; n];
        let mut before = vec![0.0; n];
        let mut bw = vec![0.0; n];
        let mut fw = vec![0.0; n];
        for group in order.chunk_by(|&a, &b| days[a].store == days[b].store) {
            let set: Vec<bool> = group.iter().map(|&i| days[i].flags[f]).collect();
            let mut last: Option<NaiveDate> = None;
            for &i in group {
                if days[i].flags[f] {
                    last = Some(days[i].date);
                }
                after[i] = last.map_or(0.0, |l| (days[i].date - l).num_days() as f64);
            }
            let mut next: Option<NaiveDate> = None;
            for &i in group.iter().rev() {
                if days[i].flags[f] {
                    next = Some(days[i].date);
                }
                before[i] = next.map_or(0.0, |d| (days[i].date - d).num_days() as f64);
            }
            // Prefix counts make every 7-row window one subtraction.
            let mut count = vec![0usize; set.len() + 1];
            for (k, &s) in set.iter().enumerate() {
                count[k + 1] = count[k] + s as usize;
            }
            for (k, &i) in group.iter().enumerate() {
                bw[i] = (count[k + 1] - count[k.saturating_sub(6)]) as f64;
                fw[i] = (count[(k + 7).min(set.len())] - count[k]) as f64;
            }
        }
        columns.push((format!("After{name}"), after));
        columns.push((format!("Before{name}"), before));
        columns.push((format!("{name}_bw"), bw));
        columns.push((format!("{name}_fw"), fw));
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_before_and_rolling_counts() {
        let d0 = NaiveDate::from_ymd_opt(2015, 7, 1).unwrap();
        // Store 1 has a school holiday on days 2 and 3 (of 0..10), listed newest first as in
        // train.csv; store 2 has none.
        let mut days = Vec::new();
        for k in (0..10u64).rev() {
            for store in [1, 2] {
                let school = store == 1 && (k == 2 || k == 3);
                days.push(Day {
                    store,
                    date: d0 + chrono::Days::new(k),
                    flags: [school, false, false],
                });
            }
        }
        let cols = elapsed(&days).unwrap();
        let col = |name: &str| -> Vec<f64> {
            let v = &cols.iter().find(|(n, _)| n == name).unwrap().1;
            // Store 1's values in date order (day k is at position 2 (9 - k)).
            (0..10).map(|k| v[2 * (9 - k)]).collect()
        };
        assert_eq!(
            col("AfterSchoolHoliday"),
            [0., 0., 0., 0., 1., 2., 3., 4., 5., 6.]
        );
        assert_eq!(
            col("BeforeSchoolHoliday"),
            [-2., -1., 0., 0., 0., 0., 0., 0., 0., 0.]
        );
        assert_eq!(
            col("SchoolHoliday_bw"),
            [0., 0., 1., 2., 2., 2., 2., 2., 2., 1.]
        );
        assert_eq!(
            col("SchoolHoliday_fw"),
            [2., 2., 2., 1., 0., 0., 0., 0., 0., 0.]
        );
        let store2: Vec<f64> = cols[0].1.iter().skip(1).step_by(2).copied().collect();
        assert!(store2.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn a_repeated_day_is_reported() {
        let d = NaiveDate::from_ymd_opt(2015, 7, 1).unwrap();
        let day = |store| Day {
            store,
            date: d,
            flags: [false; 3],
        };
        assert_eq!(elapsed(&[day(1), day(2), day(1)]).unwrap_err(), (0, 2));
    }
}
