//! The pets example's embedded default: a deterministic, procedurally drawn image set in the
//! Oxford-IIIT Pet layout (`Name_123.jpg`, capitalised and lowercase class names), so that
//! the whole path (decoding, labels from file names, augmentation, ResNet-34, the one-cycle
//! stages) runs without a download.
//!
//! Each class is a shape with its own texture: `Disc` (solid), `Ring` (solid), `Triangle`
//! (dots), `Crescent` (stripes), `cross` (checks) and `corner` (an L, solid). Every image
//! draws, from Philox with the seed, its size (64 to 96 pixels a side), a two-colour gradient
//! background with noise, the shape's position, scale, rotation (within 25 degrees) and
//! colour, whether it is mirrored (the crescent opens left or right, the corner points
//! either way), the texture's phase, and an overall lighting factor. What must be learnt is
//! the shape; what varies is what fastai's augmentation varies (position, scale, rotation,
//! lighting, reflection), so that with few images per class the augmented network sees the
//! variations the others only meet in validation. No two classes turn into each other under
//! those transforms (an earlier set had a square and a diamond, which a rotation confuses).
use nn::vision::save_jpeg;
use tensor::random::Philox;
use tensor::Tensor;

/// The class names, in the order their images are drawn.
pub const SHAPES: [&str; 6] = ["Disc", "Ring", "Triangle", "Crescent", "cross", "corner"];

/// Whether the point `(x, y)` (in the shape's own frame, radius 1, y pointing down) is
/// inside shape `k`.
fn inside(k: usize, x: f64, y: f64) -> bool {
    let r = (x * x + y * y).sqrt();
    match k {
        0 => r < 1.0,
        1 => (0.55..1.0).contains(&r),
        // A triangle pointing down.
        2 => y < 0.7 && y > -0.8 && x.abs() < (0.7 - y) * 0.6,
        // A disc less a disc shifted right: opening to the right.
        3 => r < 1.0 && (x - 0.5).powi(2) + y * y > 0.7f64.powi(2),
        4 => (x.abs() < 0.3 || y.abs() < 0.3) && x.abs().max(y.abs()) < 0.95,
        // An L: a bar down the left side and one along the bottom.
        _ => x.abs().max(y.abs()) < 0.9 && (x < -0.35 || y > 0.35),
    }
}

/// The texture of shape `k` at `(x, y)`: a brightness factor.
fn texture(k: usize, x: f64, y: f64, phase: f64) -> f64 {
    let wave = |t: f64| {
        if (t * 6.0 + phase).sin() > 0.0 {
            1.0
        } else {
            0.55
        }
    };
    match k {
        2 => {
            let (u, v) = ((x * 3.0 + phase).rem_euclid(1.0), (y * 3.0).rem_euclid(1.0));
            if (u - 0.5).powi(2) + (v - 0.5).powi(2) < 0.08 {
                0.5
            } else {
                1.0
            }
        }
        3 => wave(x + y),
        4 => {
            if ((x * 3.0 + phase).floor() + (y * 3.0).floor()) as i64 % 2 == 0 {
                1.0
            } else {
                0.6
            }
        }
        _ => 1.0,
    }
}

/// Image `index` of class `k`: `[3, H, W]` in [0, 1].
pub fn draw_shape(k: usize, index: usize, seed: u64) -> Tensor {
    let rng = Philox::new(seed, (k * 100_000 + index) as u64);
    let u = |i: u64| rng.uniform_at(i) as f64;
    let (h, w) = (64 + (u(0) * 33.0) as usize, 64 + (u(1) * 33.0) as usize);
    let bg = [[u(2), u(3), u(4)], [u(5), u(6), u(7)]];
    let colour = [u(8), u(9), u(10)];
    let (cx, cy) = (0.3 + 0.4 * u(11), 0.3 + 0.4 * u(12));
    let radius = (0.22 + 0.14 * u(13)) * h.min(w) as f64;
    let (sin, cos) = (25f64.to_radians() * (2.0 * u(14) - 1.0)).sin_cos();
    let (phase, light, slope) = (u(15) * 6.0, 0.6 + 0.5 * u(16), u(17) * 2.0 - 1.0);
    let mirror = if u(18) < 0.5 { -1.0 } else { 1.0 };
    let mut data = vec![0f32; 3 * h * w];
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f64 / w as f64, y as f64 / h as f64);
            // Into the shape's frame: centred, rotated, radius 1.
            let (dx, dy) = (
                (x as f64 - cx * w as f64) / radius,
                (y as f64 - cy * h as f64) / radius,
            );
            let (sx, sy) = (mirror * (cos * dx + sin * dy), -sin * dx + cos * dy);
            let noise = 0.08 * (u(100 + (y * w + x) as u64) - 0.5);
            let t = (fx + slope * fy).clamp(0.0, 1.0);
            for c in 0..3 {
                let v = if inside(k, sx, sy) {
                    colour[c] * texture(k, sx, sy, phase)
                } else {
                    bg[0][c] * (1.0 - t) + bg[1][c] * t
                };
                data[(c * h + y) * w + x] = ((v * light + noise).clamp(0.0, 1.0)) as f32;
            }
        }
    }
    Tensor::from_vec(data, &[3, h, w]).expect("3 x h x w values")
}

/// Writes `per_class` images of each shape as `{Class}_{n}.jpg` into `dir` (created if
/// needed); returns how many it wrote.
pub fn write_shapes(
    dir: impl AsRef<std::path::Path>,
    per_class: usize,
    seed: u64,
) -> nn::Result<usize> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|e| nn::Error::io(dir, e))?;
    for (k, name) in SHAPES.iter().enumerate() {
        for i in 0..per_class {
            save_jpeg(
                &draw_shape(k, i, seed),
                dir.join(format!("{name}_{}.jpg", i + 1)),
            )?;
        }
    }
    Ok(SHAPES.len() * per_class)
}
