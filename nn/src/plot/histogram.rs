//! Histograms side by side, each panel with overlapping series: how a set of activations is
//! spread, before and after a layer (the batch-norm demo).
use super::axis::{linear_ticks, tick_labels, Ticked};
use super::{white, write_png, Canvas, DrawResult, FAMILY};
use crate::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

/// The size of one panel, in pixels; panels stand side by side.
pub const PANEL_SIZE: (u32, u32) = (520, 420);

/// The colours of a panel's series, in order (matplotlib's first four).
const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

/// One panel: its title and its named series of values.
#[derive(Debug, Clone)]
pub struct Histogram {
    pub title: String,
    pub series: Vec<(String, Vec<f32>)>,
}

/// How many of `values` fall in each of `bins` equal bins over `[lo, hi]` (the last bin
/// closed); non-finite values are left out.
fn counts(values: &[f32], lo: f64, hi: f64, bins: usize) -> Vec<usize> {
    let mut counts = vec![0; bins];
    let width = (hi - lo) / bins as f64;
    for &v in values.iter().filter(|v| v.is_finite()) {
        let k = ((v as f64 - lo) / width).floor() as usize;
        counts[k.min(bins - 1)] += 1;
    }
    counts
}

/// Writes `panels` to `path` as one PNG, side by side, each of [`PANEL_SIZE`]: every series
/// of a panel counted in `bins` equal bins over the range of all that panel's values, and
/// drawn as translucent bars over the others, with a legend. No panels or no bins is refused.
pub fn histograms(path: impl AsRef<Path>, panels: &[Histogram], bins: usize) -> Result<()> {
    if panels.is_empty() || bins == 0 {
        return Err(Error::Invalid(format!(
            "histograms need panels and bins, got {} panels and {bins} bins",
            panels.len()
        )));
    }
    let (pw, ph) = PANEL_SIZE;
    let canvas = white(pw * panels.len() as u32, ph);
    write_png(path.as_ref(), canvas, |area: &Canvas| -> DrawResult {
        for (panel, area) in panels.iter().zip(area.split_evenly((1, panels.len()))) {
            let all = panel.series.iter().flat_map(|(_, v)| v.iter());
            let (lo, hi) = all
                .filter(|v| v.is_finite())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v as f64), hi.max(v as f64))
                });
            let (lo, hi) = match (lo.is_finite(), hi > lo) {
                (true, true) => (lo, hi),
                (true, false) => (lo - 0.5, lo + 0.5),
                _ => (0.0, 1.0),
            };
            let binned: Vec<Vec<usize>> = panel
                .series
                .iter()
                .map(|(_, v)| counts(v, lo, hi, bins))
                .collect();
            let top = binned.iter().flatten().copied().max().unwrap_or(0).max(1) as f64 * 1.1;
            let ticked = |lo: f64, hi: f64| {
                let ticks = linear_ticks(lo, hi, 6);
                let labels = tick_labels(&ticks);
                Ticked {
                    lo,
                    hi,
                    ticks,
                    labels,
                }
            };
            let (x, y) = (ticked(lo, hi), ticked(0.0, top));
            let mut chart = ChartBuilder::on(&area)
                .caption(&panel.title, (FAMILY, 20))
                .margin(12)
                .x_label_area_size(45)
                .y_label_area_size(55)
                .build_cartesian_2d(x.clone(), y.clone())?;
            chart
                .configure_mesh()
                .x_desc("value")
                .y_desc("count")
                .x_label_formatter(&|v| x.label(*v))
                .y_label_formatter(&|v| y.label(*v))
                .label_style((FAMILY, 13))
                .axis_desc_style((FAMILY, 15))
                .bold_line_style(RGBColor(225, 225, 225))
                .draw()?;
            let width = (hi - lo) / bins as f64;
            for (k, ((name, _), counts)) in panel.series.iter().zip(&binned).enumerate() {
                let colour = COLOURS[k % COLOURS.len()];
                chart
                    .draw_series(counts.iter().enumerate().map(|(b, &c)| {
                        let x0 = lo + b as f64 * width;
                        Rectangle::new(
                            [(x0, 0.0), (x0 + width, c as f64)],
                            colour.mix(0.45).filled(),
                        )
                    }))?
                    .label(name)
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 15, y + 5)], colour.mix(0.45).filled())
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font((FAMILY, 13))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .draw()?;
        }
        Ok(())
    })
}
