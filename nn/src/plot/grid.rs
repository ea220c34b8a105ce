//! Images in a grid, each with caption lines above it: fastai's `show_batch` (the label)
//! and `plot_top_losses` (prediction, actual, loss, probability).
use super::{white, write_png, Canvas, DrawResult, FAMILY};
use crate::{Error, Result};
use image::imageops::{overlay, resize, FilterType};
use image::RgbImage;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// An image smaller than this (its longer side, in pixels) is scaled up by a whole factor to
/// at least this, so that a 28 x 28 digit or a 20 x 20 mask can be seen.
pub const MIN_SIDE: u32 = 160;
/// The gap around each cell's content, in pixels.
const PAD: u32 = 8;
/// The height of a caption line, and the room one of its characters takes, in pixels.
const LINE: u32 = 18;
const PX_PER_CHAR: u32 = 8;
const FONT: u32 = 14;

/// The whole factor an image of `w` x `h` is scaled up by.
fn factor(w: u32, h: u32) -> u32 {
    MIN_SIDE.div_ceil(w.max(h).max(1))
}

/// One cell's width and height: the widest scaled image or caption line and the tallest
/// scaled image under the most caption lines, with [`PAD`] around.
fn cell_size(images: &[(RgbImage, Vec<String>)]) -> (u32, u32) {
    let (mut w, mut h, mut lines) = (0, 0, 0);
    for (img, caption) in images {
        let f = factor(img.width(), img.height());
        let text = caption.iter().map(|l| l.chars().count() as u32).max();
        w = w.max(f * img.width()).max(PX_PER_CHAR * text.unwrap_or(0));
        h = h.max(f * img.height());
        lines = lines.max(caption.len() as u32);
    }
    (w + 2 * PAD, h + lines * LINE + 2 * PAD)
}

/// The size of the picture [`image_grid`] draws: `cols` cells across (fewer if there are
/// fewer images), as many rows as needed, each cell as wide as the widest scaled image or
/// caption line (8 pixels a character) and as tall as the tallest scaled image under the
/// most caption lines (18 pixels each), with 8 pixels around both.
pub fn grid_size(images: &[(RgbImage, Vec<String>)], cols: usize) -> (u32, u32) {
    let cols = cols.clamp(1, images.len().max(1));
    let rows = images.len().div_ceil(cols);
    let (w, h) = cell_size(images);
    (cols as u32 * w, rows as u32 * h)
}

/// Writes `images` to `path` as one PNG of [`grid_size`], left to right and top to bottom,
/// `cols` to a row: each scaled up (nearest neighbour, keeping its aspect) to a longer side of
/// at least [`MIN_SIDE`], framed in grey just outside its pixels and centred in its cell under
/// its caption lines. No images, or no columns, is refused.
pub fn image_grid(
    path: impl AsRef<Path>,
    images: &[(RgbImage, Vec<String>)],
    cols: usize,
) -> Result<()> {
    if images.is_empty() || cols == 0 {
        return Err(Error::Invalid(format!(
            "an image grid needs images and columns, got {} images in {cols} columns",
            images.len()
        )));
    }
    let (w, h) = grid_size(images, cols);
    let (cw, ch) = cell_size(images);
    let cols = cols.min(images.len());
    let corner = |k: usize| ((k % cols) as u32 * cw, (k / cols) as u32 * ch);
    let lines = images
        .iter()
        .map(|(_, c)| c.len() as u32)
        .max()
        .unwrap_or(0);
    let mut canvas = white(w, h);
    let mut frames = Vec::with_capacity(images.len());
    for (k, (img, _)) in images.iter().enumerate() {
        let f = factor(img.width(), img.height());
        let big = resize(img, f * img.width(), f * img.height(), FilterType::Nearest);
        let (x, y) = corner(k);
        let (left, top) = (
            (x + (cw - big.width()) / 2) as i32,
            (y + PAD + lines * LINE) as i32,
        );
        overlay(&mut canvas, &big, left as i64, top as i64);
        let (right, bottom) = (left + big.width() as i32, top + big.height() as i32);
        frames.push([(left - 1, top - 1), (right, bottom)]);
    }
    write_png(path.as_ref(), canvas, |area: &Canvas| -> DrawResult {
        let style = (FAMILY, FONT)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top));
        for frame in frames {
            area.draw(&Rectangle::new(frame, RGBColor(160, 160, 160)))?;
        }
        for (k, (_, caption)) in images.iter().enumerate() {
            let (x, y) = corner(k);
            for (i, line) in caption.iter().enumerate() {
                let top = y + PAD + i as u32 * LINE;
                area.draw(&Text::new(
                    line.as_str(),
                    ((x + cw / 2) as i32, top as i32),
                    style.clone(),
                ))?;
            }
        }
        Ok(())
    })
}
