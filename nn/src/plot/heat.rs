//! The confusion matrix as a heat map (fastai's `interp.plot_confusion_matrix()`): one cell
//! per (actual, predicted) pair, shaded from light to dark blue by its count, with the count
//! written in it.
use super::{white, write_png, Canvas, DrawResult, FAMILY};
use crate::{Error, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// Class names longer than this many characters are cut, ending in `…`.
const MAX_LABEL: usize = 20;
/// Room a label's character takes, in pixels, at the labels' font size.
const PX_PER_CHAR: u32 = 7;
const LABEL_FONT: u32 = 13;
/// Room for the title above the cells and each axis title beside its labels.
const TITLE: u32 = 50;
const AXIS_TITLE: u32 = 30;
const MARGIN: u32 = 20;

/// Where the cells of a heat map fall: `size` of the whole picture, `origin` the top-left
/// corner of the top-left cell, `cell` the side of a cell, all in pixels. Cells get
/// `720 / classes` pixels, from 20 (40 classes) to 100 (a few).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeatLayout {
    pub size: (u32, u32),
    pub origin: (u32, u32),
    pub cell: u32,
}

impl HeatLayout {
    /// The layout for these class names: the cells sized from their count, the margins from
    /// the longest name (cut at 20 characters).
    pub fn new(classes: &[String]) -> HeatLayout {
        let n = classes.len().max(1) as u32;
        let cell = (720 / n).clamp(20, 100);
        let longest = classes
            .iter()
            .map(|c| c.chars().count().min(MAX_LABEL) as u32)
            .max()
            .unwrap_or(0);
        let labels = 12 + PX_PER_CHAR * longest;
        let origin = (AXIS_TITLE + labels, TITLE);
        HeatLayout {
            size: (
                (origin.0 + n * cell + MARGIN).max(320),
                origin.1 + n * cell + labels + AXIS_TITLE + MARGIN,
            ),
            origin,
            cell,
        }
    }

    /// The cell of `row` (actual class) and `col` (predicted class) as `(x0, y0, x1, y1)`,
    /// pixels from `(x0, y0)` up to but not including `(x1, y1)`.
    pub fn cell_rect(&self, row: usize, col: usize) -> (u32, u32, u32, u32) {
        let (x0, y0) = (
            self.origin.0 + col as u32 * self.cell,
            self.origin.1 + row as u32 * self.cell,
        );
        (x0, y0, x0 + self.cell, y0 + self.cell)
    }
}

/// matplotlib's `Blues` colour map (the one fastai uses), light to dark at nine stops.
const BLUES: [[u8; 3]; 9] = [
    [247, 251, 255],
    [222, 235, 247],
    [198, 219, 239],
    [158, 202, 225],
    [107, 174, 214],
    [66, 146, 198],
    [33, 113, 181],
    [8, 81, 156],
    [8, 48, 107],
];

/// The colour of `frac` in [0, 1] on [`BLUES`], interpolated between stops.
fn blues(frac: f64) -> RGBColor {
    let t = frac.clamp(0.0, 1.0) * (BLUES.len() - 1) as f64;
    let i = (t.floor() as usize).min(BLUES.len() - 2);
    let f = t - i as f64;
    let mix =
        |k: usize| (BLUES[i][k] as f64 * (1.0 - f) + BLUES[i + 1][k] as f64 * f).round() as u8;
    RGBColor(mix(0), mix(1), mix(2))
}

/// `name` cut to [`MAX_LABEL`] characters.
fn short(name: &str) -> String {
    if name.chars().count() <= MAX_LABEL {
        name.to_string()
    } else {
        name.chars().take(MAX_LABEL - 1).chain(['…']).collect()
    }
}

/// Writes the confusion `matrix` (`matrix[actual][predicted]`, counts) of `classes` to
/// `path` as a PNG heat map laid out by [`HeatLayout::new`]: actual classes down the rows,
/// predicted across the columns (names written downwards), darker for larger counts, each
/// count in its cell in white on dark cells and black on light. A matrix that is not
/// `classes.len()` square, or no classes, is refused.
pub fn confusion_png(
    path: impl AsRef<Path>,
    classes: &[String],
    matrix: &[Vec<usize>],
) -> Result<()> {
    let n = classes.len();
    if n == 0 || matrix.len() != n || matrix.iter().any(|row| row.len() != n) {
        return Err(Error::Invalid(format!(
            "a confusion matrix for {n} classes must be {n} x {n} (and have a class), got {} rows \
             of lengths {:?}",
            matrix.len(),
            matrix.iter().map(Vec::len).collect::<Vec<_>>()
        )));
    }
    let layout = HeatLayout::new(classes);
    let max = matrix.iter().flatten().copied().max().unwrap_or(0).max(1);
    let cell = layout.cell as i32;
    let count_font = (cell as f64 * 0.4).clamp(9.0, 24.0);
    write_png(
        path.as_ref(),
        white(layout.size.0, layout.size.1),
        |area: &Canvas| -> DrawResult {
            let h = layout.size.1 as i32;
            let (ox, oy) = (layout.origin.0 as i32, layout.origin.1 as i32);
            let side = n as i32 * cell;
            let centred = Pos::new(HPos::Center, VPos::Center);
            area.draw(&Text::new(
                "Confusion matrix",
                (ox + side / 2, TITLE as i32 / 2),
                (FAMILY, 22).into_font().color(&BLACK).pos(centred),
            ))?;
            for (r, row) in matrix.iter().enumerate() {
                for (c, &count) in row.iter().enumerate() {
                    let (x0, y0, x1, y1) = layout.cell_rect(r, c);
                    let frac = count as f64 / max as f64;
                    area.draw(&Rectangle::new(
                        [(x0 as i32, y0 as i32), (x1 as i32 - 1, y1 as i32 - 1)],
                        blues(frac).filled(),
                    ))?;
                    let ink = if frac > 0.5 { WHITE } else { BLACK };
                    area.draw(&Text::new(
                        count.to_string(),
                        ((x0 + x1) as i32 / 2, (y0 + y1) as i32 / 2),
                        (FAMILY, count_font).into_font().color(&ink).pos(centred),
                    ))?;
                }
            }
            area.draw(&Rectangle::new(
                [(ox, oy), (ox + side, oy + side)],
                BLACK.mix(0.5),
            ))?;
            let label = (FAMILY, LABEL_FONT).into_font().color(&BLACK);
            for (k, name) in classes.iter().enumerate() {
                let middle = k as i32 * cell + cell / 2;
                area.draw(&Text::new(
                    short(name),
                    (ox - 6, oy + middle),
                    label.pos(Pos::new(HPos::Right, VPos::Center)),
                ))?;
                area.draw(&Text::new(
                    short(name),
                    (ox + middle, oy + side + 6),
                    label
                        .transform(FontTransform::Rotate90)
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                ))?;
            }
            let title = (FAMILY, 16).into_font().color(&BLACK).pos(centred);
            area.draw(&Text::new(
                "Predicted",
                (ox + side / 2, h - MARGIN as i32 - AXIS_TITLE as i32 / 2),
                title.clone(),
            ))?;
            area.draw(&Text::new(
                "Actual",
                (AXIS_TITLE as i32 / 2, oy + side / 2),
                title.transform(FontTransform::Rotate270),
            ))?;
            Ok(())
        },
    )
}
