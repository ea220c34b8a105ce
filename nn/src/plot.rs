//! Line charts written as PNG: the training loss curve and the lr_find curve. Drawn by hand
//! on an `image` canvas with the 8x8 bitmap font of `font8x8`, so a default build needs no
//! system font library (a plotting crate's text rendering would want fontconfig headers).
use font8x8::legacy::BASIC_LEGACY;
use image::{Rgb, RgbImage};
use std::path::Path;

/// One named line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

const W: u32 = 800;
const H: u32 = 500;
const LEFT: u32 = 80;
const RIGHT: u32 = 40;
const TOP: u32 = 40;
const BOTTOM: u32 = 50;
const COLOURS: [Rgb<u8>; 4] = [
    Rgb([31, 119, 180]),
    Rgb([255, 127, 14]),
    Rgb([44, 160, 44]),
    Rgb([214, 39, 40]),
];
const INK: Rgb<u8> = Rgb([40, 40, 40]);
const GRID: Rgb<u8> = Rgb([225, 225, 225]);

fn text(img: &mut RgbImage, x: i64, y: i64, s: &str, colour: Rgb<u8>) {
    for (i, ch) in s.chars().enumerate() {
        let glyph = BASIC_LEGACY[(ch as usize).min(127)];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits >> col & 1 == 1 {
                    put(img, x + 8 * i as i64 + col, y + row as i64, colour);
                }
            }
        }
    }
}

fn put(img: &mut RgbImage, x: i64, y: i64, colour: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < W && (y as u32) < H {
        img.put_pixel(x as u32, y as u32, colour);
    }
}

/// Bresenham's line.
fn line(img: &mut RgbImage, (x0, y0): (i64, i64), (x1, y1): (i64, i64), colour: Rgb<u8>) {
    let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
    let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
    let (mut x, mut y, mut err) = (x0, y0, dx + dy);
    loop {
        put(img, x, y, colour);
        if x == x1 && y == y1 {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

fn label(v: f64, log: bool) -> String {
    if log {
        format!("1e{}", v.round() as i64)
    } else if v != 0.0 && (v.abs() < 1e-2 || v.abs() >= 1e5) {
        format!("{v:.1e}")
    } else if v.abs() >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// Draws `series` and writes a PNG to `path` (a temporary file, then renamed). With `log_x`
/// the x axis is logarithmic (learning rates). Non-finite points are skipped.
pub fn line_chart(
    path: impl AsRef<Path>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_x: bool,
) -> std::io::Result<()> {
    let fx = |x: f64| if log_x { x.log10() } else { x };
    let pts: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .map(|&(x, y)| (fx(x), y))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect()
        })
        .collect();
    let all: Vec<(f64, f64)> = pts.iter().flatten().copied().collect();
    let range = |f: fn(&(f64, f64)) -> f64| {
        let (lo, hi) = all
            .iter()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        // A flat line gets a unit-wide band around it; no data at all, [0, 1].
        if lo.is_finite() && hi > lo {
            (lo, hi)
        } else if lo.is_finite() {
            (lo - 0.5, lo + 0.5)
        } else {
            (0.0, 1.0)
        }
    };
    let (x0, x1) = range(|p| p.0);
    let (y0, y1) = range(|p| p.1);
    let (y0, y1) = (y0 - 0.05 * (y1 - y0), y1 + 0.05 * (y1 - y0));
    let (pw, ph) = ((W - LEFT - RIGHT) as f64, (H - TOP - BOTTOM) as f64);
    let to_px = |(x, y): (f64, f64)| {
        (
            (LEFT as f64 + (x - x0) / (x1 - x0) * pw).round() as i64,
            (TOP as f64 + (y1 - y) / (y1 - y0) * ph).round() as i64,
        )
    };
    let mut img = RgbImage::from_pixel(W, H, Rgb([255, 255, 255]));
    for i in 0..=5 {
        let q = i as f64 / 5.0;
        let (gx, gy) = (
            to_px((x0 + q * (x1 - x0), y0)).0,
            to_px((x0, y0 + q * (y1 - y0))).1,
        );
        line(&mut img, (gx, TOP as i64), (gx, (H - BOTTOM) as i64), GRID);
        line(&mut img, (LEFT as i64, gy), ((W - RIGHT) as i64, gy), GRID);
        let xl = label(x0 + q * (x1 - x0), log_x);
        text(
            &mut img,
            gx - 4 * xl.len() as i64,
            (H - BOTTOM) as i64 + 8,
            &xl,
            INK,
        );
        let yl = label(y0 + q * (y1 - y0), false);
        text(
            &mut img,
            LEFT as i64 - 6 - 8 * yl.len() as i64,
            gy - 4,
            &yl,
            INK,
        );
    }
    line(
        &mut img,
        (LEFT as i64, TOP as i64),
        (LEFT as i64, (H - BOTTOM) as i64),
        INK,
    );
    line(
        &mut img,
        (LEFT as i64, (H - BOTTOM) as i64),
        ((W - RIGHT) as i64, (H - BOTTOM) as i64),
        INK,
    );
    text(
        &mut img,
        (W as i64 - 8 * title.len() as i64) / 2,
        14,
        title,
        INK,
    );
    text(
        &mut img,
        (W as i64 - 8 * x_label.len() as i64) / 2,
        H as i64 - 20,
        x_label,
        INK,
    );
    text(&mut img, 4, 14, y_label, INK);
    for (k, (s, p)) in series.iter().zip(&pts).enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        for w in p.windows(2) {
            line(&mut img, to_px(w[0]), to_px(w[1]), colour);
        }
        if let [single] = p.as_slice() {
            let (x, y) = to_px(*single);
            for d in -2..=2 {
                put(&mut img, x + d, y, colour);
                put(&mut img, x, y + d, colour);
            }
        }
        let ly = TOP as i64 + 8 + 14 * k as i64;
        line(
            &mut img,
            (W as i64 - 200, ly + 4),
            (W as i64 - 180, ly + 4),
            colour,
        );
        text(&mut img, W as i64 - 172, ly, &s.label, INK);
    }
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .map_err(std::io::Error::other)?;
    crate::atomic::write_atomic(path, png.get_ref())
}
