//! The choices behind an axis, as pure functions: which part of a curve to show, whether the
//! scale is logarithmic, where the ticks fall and how they are labelled.
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;

/// fastai's `skip_start` for a curve of `n` points: the first 10 (`plot_losses(skip_start=10)`)
/// are left out, their loss dominated by the random start; a short run loses at most half its
/// points, so that a curve is left.
pub fn skip_start(n: usize) -> usize {
    10.min(n / 2)
}

/// Whether `values` want a logarithmic axis: they are all positive and span more than a
/// decade (largest / smallest > 10). Non-finite values are ignored.
pub fn spans_decade(values: &[f64]) -> bool {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    lo > 0.0 && hi / lo > 10.0
}

/// `m * 10^e` as the double nearest the decimal, so that ticks print as round numbers
/// (`3 * 1e-5` computed in floating point is 3.0000000000000004e-5).
fn decimal(m: i64, e: i32) -> f64 {
    format!("{m}e{e}").parse().unwrap_or(f64::NAN)
}

/// Round ticks in `[lo, hi]` for a linear axis: multiples of a step of 1, 2 or 5 times a
/// power of ten, the smallest such step giving at most `max_ticks` ticks.
pub fn linear_ticks(lo: f64, hi: f64, max_ticks: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite() && hi > lo) || max_ticks == 0 {
        return if lo.is_finite() { vec![lo] } else { vec![] };
    }
    let mut e = ((hi - lo) / max_ticks as f64).log10().floor() as i32;
    loop {
        for m in [1i64, 2, 5] {
            let step = decimal(m, e);
            let (first, last) = ((lo / step).ceil() as i64, (hi / step).floor() as i64);
            if last - first < max_ticks as i64 {
                return (first..=last).map(|k| decimal(k * m, e) + 0.0).collect();
            }
        }
        e += 1;
    }
}

/// Ticks in `[lo, hi]` (both positive) for a logarithmic axis: the powers of ten, and where
/// fewer than three of those fall inside, 1, 2 and 5 times them.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi >= lo && hi.is_finite()) {
        return vec![];
    }
    let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let inside = |mantissas: &[i64]| -> Vec<f64> {
        (first..=last)
            .flat_map(|e| mantissas.iter().map(move |&m| decimal(m, e)))
            .filter(|&v| v >= lo * (1.0 - 1e-12) && v <= hi * (1.0 + 1e-12))
            .collect()
    };
    let powers = inside(&[1]);
    if powers.len() >= 3 {
        powers
    } else {
        inside(&[1, 2, 5])
    }
}

/// Labels for `ticks` made by [`linear_ticks`] or [`log_ticks`]: each the shortest decimal
/// that reads back as the tick (`0.5`, `2`, `150`), or in scientific form (`1e-5`, `2.5e6`)
/// for all of them when one is below 1e-3 or from 1e5 up, as learning rates are.
pub fn tick_labels(ticks: &[f64]) -> Vec<String> {
    let scientific = ticks
        .iter()
        .any(|&t| t != 0.0 && (t.abs() < 1e-3 || t.abs() >= 1e5));
    ticks
        .iter()
        .map(|&t| {
            let t = t + 0.0; // -0 prints as 0
            if scientific {
                format!("{t:e}")
            } else {
                format!("{t}")
            }
        })
        .collect()
}

/// A plotters axis over `[lo, hi]` (on the drawn scale: log10 of the values for a log axis)
/// whose ticks are the given ones, with their labels.
#[derive(Clone)]
pub(super) struct Ticked {
    pub lo: f64,
    pub hi: f64,
    pub ticks: Vec<f64>,
    pub labels: Vec<String>,
}

impl Ticked {
    /// The label of the tick nearest `v`.
    pub fn label(&self, v: f64) -> String {
        self.ticks
            .iter()
            .zip(&self.labels)
            .min_by(|a, b| (a.0 - v).abs().total_cmp(&(b.0 - v).abs()))
            .map_or_else(String::new, |(_, l)| l.clone())
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.lo..self.hi).map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}
