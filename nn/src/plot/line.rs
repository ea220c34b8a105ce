//! Line charts: curves drawn as lines and values drawn as points, on linear or logarithmic
//! axes with round ticks and a legend.
use super::axis::{linear_ticks, log_ticks, tick_labels, Ticked};
use super::{white, write_png, Canvas, DrawResult, FAMILY};
use crate::Result;
use plotters::prelude::*;
use std::path::Path;

/// The size of a chart, in pixels.
pub const CHART_SIZE: (u32, u32) = (800, 500);

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A line through the points, in order.
    Line,
    /// A filled circle at each point.
    Points,
}

/// One named set of points of a chart, in data coordinates, and how it is drawn.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub mark: Mark,
    /// Red, green, blue.
    pub colour: [u8; 3],
}

/// A chart: its texts, its series (drawn in order, named in the legend) and which axes are
/// logarithmic (ticks at powers of ten, or at 1, 2 and 5 times them on a short range).
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub log_x: bool,
    pub log_y: bool,
}

/// The range of `values` (already on the axis' scale, log10 for a log axis), widened by
/// `pad` of its width on each side; a single value gets a unit-wide band, none `[0, 1]`.
fn extent(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        (0.0, 1.0)
    } else if hi > lo {
        (lo - pad * (hi - lo), hi + pad * (hi - lo))
    } else {
        (lo - 0.5, lo + 0.5)
    }
}

/// An axis for `values` (on the drawn scale, log10 for a log axis) widened by `pad`, with
/// ticks from [`log_ticks`] or [`linear_ticks`] labelled by [`tick_labels`].
fn axis(values: impl Iterator<Item = f64>, log: bool, pad: f64) -> Ticked {
    let (lo, hi) = extent(values, pad);
    let ticks = if log {
        log_ticks(10f64.powf(lo), 10f64.powf(hi))
    } else {
        linear_ticks(lo, hi, 8)
    };
    let labels = tick_labels(&ticks);
    let ticks = ticks
        .into_iter()
        .map(|t| if log { t.log10() } else { t })
        .collect();
    Ticked {
        lo,
        hi,
        ticks,
        labels,
    }
}

/// Where the legend covers the fewest points: the corner (upper right first, then upper
/// left, lower right, lower left) whose box, a third of the width by a quarter of the height,
/// holds the fewest of `points` (on the drawn scale).
fn legend_corner(
    points: impl Iterator<Item = (f64, f64)>,
    x: &Ticked,
    y: &Ticked,
) -> SeriesLabelPosition {
    let corners = [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::LowerLeft, false, false),
    ];
    let mut inside = [0usize; 4];
    for (px, py) in points {
        let (fx, fy) = ((px - x.lo) / (x.hi - x.lo), (py - y.lo) / (y.hi - y.lo));
        for (k, &(_, right, upper)) in corners.iter().enumerate() {
            let in_x = if right {
                fx > 2.0 / 3.0
            } else {
                fx < 1.0 / 3.0
            };
            let in_y = if upper { fy > 0.75 } else { fy < 0.25 };
            inside[k] += usize::from(in_x && in_y);
        }
    }
    let best = (0..4).min_by_key(|&k| inside[k]).unwrap_or(0);
    corners[best].0.clone()
}

/// Draws `chart` and writes it to `path` as a PNG of [`CHART_SIZE`], the legend in the
/// corner with the fewest points. Points that are not finite on their axis' scale (a
/// non-positive value on a log axis) are left out.
pub fn line_chart(path: impl AsRef<Path>, chart: &Chart) -> Result<()> {
    let scale = |v: f64, log: bool| if log { v.log10() } else { v };
    let series: Vec<Vec<(f64, f64)>> = chart
        .series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .map(|&(x, y)| (scale(x, chart.log_x), scale(y, chart.log_y)))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect()
        })
        .collect();
    let all = || series.iter().flatten();
    let x = axis(all().map(|p| p.0), chart.log_x, 0.02);
    let y = axis(all().map(|p| p.1), chart.log_y, 0.05);
    let corner = legend_corner(all().copied(), &x, &y);
    write_png(
        path.as_ref(),
        white(CHART_SIZE.0, CHART_SIZE.1),
        |area: &Canvas| -> DrawResult {
            let mut plot = ChartBuilder::on(area)
                .caption(&chart.title, (FAMILY, 22))
                .margin(15)
                .x_label_area_size(50)
                .y_label_area_size(70)
                .build_cartesian_2d(x.clone(), y.clone())?;
            plot.configure_mesh()
                .x_desc(&chart.x_label)
                .y_desc(&chart.y_label)
                .x_label_formatter(&|v| x.label(*v))
                .y_label_formatter(&|v| y.label(*v))
                .label_style((FAMILY, 14))
                .axis_desc_style((FAMILY, 16))
                .bold_line_style(RGBColor(225, 225, 225))
                .draw()?;
            for (s, points) in chart.series.iter().zip(&series) {
                let [r, g, b] = s.colour;
                let colour = RGBColor(r, g, b);
                match s.mark {
                    Mark::Line => plot
                        .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
                        .legend(move |(x, y)| {
                            PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2))
                        }),
                    Mark::Points => plot
                        .draw_series(points.iter().map(|&p| Circle::new(p, 5, colour.filled())))?
                        .legend(move |(x, y)| Circle::new((x + 10, y), 5, colour.filled())),
                }
                .label(&s.label);
            }
            plot.configure_series_labels()
                .position(corner)
                .label_font((FAMILY, 14))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .draw()?;
            Ok(())
        },
    )
}
