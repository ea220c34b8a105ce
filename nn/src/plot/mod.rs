//! Pictures written as PNG, drawn with `plotters`: line charts (the loss curves, the lr_find
//! curve), the confusion matrix as a heat map, a grid of images with captions (show_batch,
//! top losses) and histograms. Text goes through `ab_glyph` with the DejaVu Sans font shipped
//! in `nn/assets` (its licence beside it), so a build needs no system font library.
//!
//! Every picture is drawn into an RGB buffer, encoded as PNG by `image` and written
//! atomically; a failure is an [`Error`] naming the file.
mod axis;
mod grid;
mod heat;
mod histogram;
mod line;

pub use axis::{linear_ticks, log_ticks, skip_start, spans_decade, tick_labels};
pub use grid::{grid_size, image_grid, MIN_SIDE};
pub use heat::{confusion_png, HeatLayout};
pub use histogram::{histograms, Histogram, PANEL_SIZE};
pub use line::{line_chart, Chart, Mark, Series, CHART_SIZE};

use crate::{Error, Result};
use image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::{BitMapBackend, DrawingArea, IntoDrawingArea};
use plotters::style::{register_font, FontStyle};
use std::path::Path;
use std::sync::OnceLock;

/// The font every picture's text is set in.
const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// The family name the font is registered under, as the text styles ask for it.
const FAMILY: &str = "sans-serif";

/// Where a picture is drawn.
type Canvas<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// What a drawing step may fail with (a plotters error, a font that would not load).
type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// Registers [`FONT`] with plotters, once per process; whether it loaded.
fn font_registered() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    *LOADED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT).is_ok())
}

/// Draws onto `canvas` with `draw` and writes the result to `path` as PNG, atomically.
fn write_png(
    path: &Path,
    mut canvas: RgbImage,
    draw: impl FnOnce(&Canvas) -> DrawResult,
) -> Result<()> {
    let failed = |msg: String| Error::Image {
        name: path.display().to_string(),
        format: None,
        msg,
    };
    if !font_registered() {
        return Err(failed(
            "the embedded font DejaVuSans.ttf did not load".into(),
        ));
    }
    let size = canvas.dimensions();
    {
        let area = BitMapBackend::with_buffer(&mut canvas, size).into_drawing_area();
        draw(&area)
            .and_then(|()| Ok(area.present()?))
            .map_err(|e| failed(format!("drawing failed: {e}")))?;
    }
    let mut png = std::io::Cursor::new(Vec::new());
    canvas
        .write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| failed(format!("PNG encoding failed: {e}")))?;
    crate::atomic::write_atomic(path, png.get_ref()).map_err(|e| Error::io(path, e))
}

/// A white canvas of `width` x `height`.
fn white(width: u32, height: u32) -> RgbImage {
    RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]))
}
