//! fastai's data augmentation for images (docs/lesson6.md, Augmentation), as one resample per
//! image.
//!
//! `get_transforms(max_rotate=20, max_zoom=1.3, max_lighting=0.4, max_warp=0.4, p_affine=1,
//! p_lighting=1)` draws, per image and per epoch: a symmetric perspective warp, a rotation, a
//! zoom about a random centre, a horizontal flip (p = 0.5; with `flip_vert`, one of the 8
//! symmetries of the square instead, fastai's `dihedral`), brightness and contrast in logit
//! space, and a random crop. The geometric ones are composed into one map from each output
//! pixel to a point of the source image, which is sampled once, bilinearly (`grid_sample`
//! with align-corners semantics); coordinates outside the source are filled by the padding
//! mode (zeros, border or reflection). Validation images only get the centre crop.
//!
//! The output is `size` x `size`: the image is first mapped onto a grid whose shorter side is
//! `size` (fastai's resize by cropping), and the crop picks the window. Before a downscale by
//! more than 2x the image is first shrunk by area averaging, as fastai's `_grid_sample` does,
//! so that bilinear sampling of a large photo does not alias.
use tensor::random::Philox;
use tensor::Tensor;

/// The largest side an augmented image may have: 2048 pixels, a `[3, 2048, 2048]` f32 image
/// of 48 MiB (the lesson trains at 224 and 352). A command line checks `--size` against it with
/// [`check_size`] when it parses its arguments.
pub const MAX_SIZE: usize = 2048;
/// The sizes up to [`MAX_SIZE`], as an error names them (a test checks that they agree).
const SIZES: &str = "from 1 to 2048 pixels";

/// `size` if an augmentation can make images of `size` x `size`: from 1 to [`MAX_SIZE`].
pub fn check_size(size: usize) -> crate::Result<usize> {
    if (1..=MAX_SIZE).contains(&size) {
        Ok(size)
    } else {
        Err(crate::Error::Invalid(format!(
            "an image size is from 1 to {MAX_SIZE} pixels, not {size}"
        )))
    }
}

/// What a coordinate outside the source image samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// 0 (black before normalisation).
    Zeros,
    /// The nearest edge pixel.
    Border,
    /// The image mirrored about its edge pixels (the edge is not repeated).
    Reflection,
}

/// The ranges transforms are drawn from (fastai's `get_transforms` arguments).
#[derive(Clone, Debug, PartialEq)]
pub struct Transforms {
    pub do_flip: bool,
    /// With `do_flip`, any of the 8 symmetries of the square instead of the horizontal flip
    /// (fastai's `flip_vert`: for images with no up, such as satellite pictures).
    pub flip_vert: bool,
    /// Degrees either way.
    pub max_rotate: f64,
    pub max_zoom: f64,
    pub max_lighting: f64,
    pub max_warp: f64,
    /// Probability of each geometric transform (warp, rotation, zoom).
    pub p_affine: f64,
    /// Probability of each lighting transform.
    pub p_lighting: f64,
}

impl Transforms {
    /// The lesson's: `get_transforms(max_rotate=20, max_zoom=1.3, max_lighting=0.4,
    /// max_warp=0.4, p_affine=1., p_lighting=1.)`.
    pub fn lesson6() -> Self {
        Transforms {
            do_flip: true,
            flip_vert: false,
            max_rotate: 20.0,
            max_zoom: 1.3,
            max_lighting: 0.4,
            max_warp: 0.4,
            p_affine: 1.0,
            p_lighting: 1.0,
        }
    }

    /// No augmentation: a random crop only (to compare against, as the lesson's question
    /// "what does augmentation buy?").
    pub fn none() -> Self {
        Transforms {
            do_flip: false,
            flip_vert: false,
            max_rotate: 0.0,
            max_zoom: 1.0,
            max_lighting: 0.0,
            max_warp: 0.0,
            p_affine: 0.0,
            p_lighting: 0.0,
        }
    }

    /// Draws one image's transform from `rng`'s stream (a pure function of the stream: the
    /// loader gives each image of each epoch its own).
    pub fn draw(&self, rng: Philox) -> Augment {
        let mut i = 0;
        let mut u = || {
            i += 1;
            rng.uniform_at(i) as f64
        };
        let maybe = |p: f64, u: &mut dyn FnMut() -> f64| u() < p;
        let warp = maybe(self.p_affine, &mut u)
            .then(|| std::array::from_fn(|_| self.max_warp * (2.0 * u() - 1.0)));
        // fastai draws the dihedral's k with `uniform_int(0, 8)`, which includes 8 (a second
        // identity); this takes the 8 symmetries with equal chances.
        let dihedral = match (self.do_flip, self.flip_vert) {
            (false, _) => 0,
            (true, true) => ((u() * 8.0) as u8).min(7),
            (true, false) if u() < 0.5 => FLIP_LR,
            (true, false) => 0,
        };
        let rotate = maybe(self.p_affine, &mut u).then(|| self.max_rotate * (2.0 * u() - 1.0));
        let zoom =
            maybe(self.p_affine, &mut u).then(|| (1.0 + (self.max_zoom - 1.0) * u(), u(), u()));
        let brightness = maybe(self.p_lighting, &mut u)
            .then(|| 0.5 * (1.0 - self.max_lighting) + self.max_lighting * u());
        let contrast = maybe(self.p_lighting, &mut u).then(|| {
            let lo = (1.0 - self.max_lighting).ln();
            (lo + (-2.0 * lo) * u()).exp()
        });
        Augment {
            warp,
            dihedral,
            rotate,
            zoom,
            brightness,
            contrast,
            crop: (u(), u()),
        }
    }
}

/// One image's drawn transform.
#[derive(Clone, Debug, PartialEq)]
pub struct Augment {
    /// The four corner displacements of the symmetric warp.
    pub warp: Option<[f64; 4]>,
    /// Which symmetry of the square (fastai's `dihedral` k, 0 to 7): bit 1 flips the rows,
    /// bit 2 the columns ([`FLIP_LR`]), bit 4 then transposes; 0 is the identity.
    pub dihedral: u8,
    /// Degrees.
    pub rotate: Option<f64>,
    /// (scale, row, column) of the zoom's centre.
    pub zoom: Option<(f64, f64, f64)>,
    /// Brightness in (0, 1): 0.5 leaves the image as it is.
    pub brightness: Option<f64>,
    /// Contrast factor in logit space.
    pub contrast: Option<f64>,
    /// (row, column) of the crop window, as fractions of the free room.
    pub crop: (f64, f64),
}

/// The horizontal flip as an [`Augment::dihedral`]: the columns reversed.
pub const FLIP_LR: u8 = 2;

/// `x = linspace(-1, 1, n)[i]`.
fn grid_coord(i: usize, n: usize) -> f64 {
    if n > 1 {
        -1.0 + 2.0 * i as f64 / (n - 1) as f64
    } else {
        0.0
    }
}

/// The 8 coefficients of the homography taking each `from` point to its `to` point (fastai's
/// `_find_coeffs`), by Gaussian elimination with partial pivoting on the 8 x 8 system.
fn homography(from: [(f64, f64); 4], to: [(f64, f64); 4]) -> [f64; 8] {
    let mut a = [[0f64; 9]; 8];
    for (k, (&(x, y), &(tx, ty))) in from.iter().zip(&to).enumerate() {
        a[2 * k] = [x, y, 1.0, 0.0, 0.0, 0.0, -tx * x, -tx * y, tx];
        a[2 * k + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -ty * x, -ty * y, ty];
    }
    for col in 0..8 {
        let pivot = (col..8)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .expect("rows left");
        a.swap(col, pivot);
        let pivot_row = a[col];
        for (row, r) in a.iter_mut().enumerate() {
            if row != col {
                let f = r[col] / pivot_row[col];
                for (x, &p) in r.iter_mut().zip(&pivot_row).skip(col) {
                    *x -= f * p;
                }
            }
        }
    }
    std::array::from_fn(|i| a[i][8] / a[i][i])
}

impl Augment {
    /// Validation's transform: the centre crop.
    pub fn centre() -> Self {
        Augment {
            warp: None,
            dihedral: 0,
            rotate: None,
            zoom: None,
            brightness: None,
            contrast: None,
            crop: (0.5, 0.5),
        }
    }

    /// The affine part, `R Z` with the aspect fix for an `h` x `w` grid, as a 2 x 3 matrix.
    fn affine(&self, h: usize, w: usize) -> [[f64; 3]; 2] {
        let mut m = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let mul = |a: [[f64; 3]; 3], b: [[f64; 3]; 3]| -> [[f64; 3]; 3] {
            std::array::from_fn(|i| {
                std::array::from_fn(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum())
            })
        };
        if let Some(deg) = self.rotate {
            let (s, c) = deg.to_radians().sin_cos();
            m = mul(m, [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]);
        }
        if let Some((scale, row, col)) = self.zoom {
            let (z, off) = (1.0 / scale, 1.0 - 1.0 / scale);
            m = mul(
                m,
                [
                    [z, 0.0, off * (2.0 * col - 1.0)],
                    [0.0, z, off * (2.0 * row - 1.0)],
                    [0.0, 0.0, 1.0],
                ],
            );
        }
        m[0][1] *= h as f64 / w as f64;
        m[1][0] *= w as f64 / h as f64;
        [m[0], m[1]]
    }

    /// The source point (in [-1, 1] coordinates) that output point `(x, y)` of the full
    /// resized grid samples: the warp, then the affine map.
    fn source_point(
        &self,
        x: f64,
        y: f64,
        warp: Option<&[f64; 8]>,
        m: &[[f64; 3]; 2],
    ) -> (f64, f64) {
        let (x, y) = match warp {
            Some(c) => {
                let d = c[6] * x + c[7] * y + 1.0;
                (
                    (c[0] * x + c[1] * y + c[2]) / d,
                    (c[3] * x + c[4] * y + c[5]) / d,
                )
            }
            None => (x, y),
        };
        (
            m[0][0] * x + m[0][1] * y + m[0][2],
            m[1][0] * x + m[1][1] * y + m[1][2],
        )
    }

    /// Applies the transform to `img` (`[C, H, W]` f32 in [0, 1]): a `[C, size, size]` image.
    /// A size outside 1 to [`MAX_SIZE`] is an error.
    pub fn apply(&self, img: &Tensor, size: usize, padding: Padding) -> tensor::Result<Tensor> {
        let s = img.shape();
        if check_size(size).is_err() {
            return Err(tensor::Error::Argument {
                op: "augment",
                name: "an image size",
                value: size as f64,
                expected: SIZES,
            });
        }
        if s.len() != 3 || s[1] == 0 || s[2] == 0 {
            return Err(tensor::Error::Shape {
                op: "augment",
                shapes: vec![s.to_vec()],
                expected: "an image [C, H, W] with H, W > 0",
            });
        }
        let (c, h, w) = (s[0], s[1], s[2]);
        // The resize target: the shorter side becomes `size`.
        let ratio = (h as f64 / size as f64).min(w as f64 / size as f64);
        let (th, tw) = (
            ((h as f64 / ratio).round() as usize).max(size),
            ((w as f64 / ratio).round() as usize).max(size),
        );
        let pick =
            |room: usize, pct: f64| ((room - size + 1) as f64 * pct.min(1.0 - 1e-7)) as usize;
        // A transpose turns the th x tw grid into a tw x th one, which the crop cuts.
        let (row, col) = if self.dihedral & 4 != 0 {
            (pick(tw, self.crop.0), pick(th, self.crop.1))
        } else {
            (pick(th, self.crop.0), pick(tw, self.crop.1))
        };
        let warp = self.warp.map(|m| {
            let corners = [(-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0)];
            let moved = [
                (-1.0 - m[3], -1.0 - m[1]),
                (-1.0 - m[2], 1.0 + m[1]),
                (1.0 + m[3], -1.0 - m[0]),
                (1.0 + m[2], 1.0 + m[0]),
            ];
            homography(moved, corners)
        });
        let m = self.affine(th, tw);
        // The map is projective, so the extremes of its source coordinates are at the corners.
        let (lo, hi) = [(-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0)]
            .iter()
            .map(|&(x, y)| self.source_point(x, y, warp.as_ref(), &m))
            .fold((f64::MAX, f64::MIN), |(lo, hi), (x, y)| {
                (lo.min(x).min(y), hi.max(x).max(y))
            });
        let (src, (h, w)) = pre_shrink(img.to_vec::<f32>()?, (c, h, w), (th, tw), hi - lo);
        let mut out = vec![0f32; c * size * size];
        let mut px = vec![0f32; c];
        for y in 0..size {
            for x in 0..size {
                let (gy, gx) = self.grid_pixel(row + y, col + x, (th, tw));
                let (sx, sy) =
                    self.source_point(grid_coord(gx, tw), grid_coord(gy, th), warp.as_ref(), &m);
                sample(&src, (h, w), sx, sy, padding, &mut px);
                for (k, &v) in px.iter().enumerate() {
                    out[(k * size + y) * size + x] = self.lighting(v);
                }
            }
        }
        Tensor::from_vec(out, &[c, size, size])
    }

    /// The pixel of the th x tw resized grid that pixel `(i, j)` of the grid under the
    /// symmetry shows (fastai's pixel `dihedral`, applied before the crop): the transpose
    /// undone, then the flips. fastai's `get_transforms` composes the same symmetries as
    /// affine maps after the warp, rotation and zoom instead; on a square grid the two give
    /// the same distribution, as those draws are symmetric, and on a wider one a transpose
    /// here keeps the whole picture where the affine form pads.
    fn grid_pixel(&self, i: usize, j: usize, (th, tw): (usize, usize)) -> (usize, usize) {
        let (i, j) = if self.dihedral & 4 != 0 {
            (j, i)
        } else {
            (i, j)
        };
        (
            if self.dihedral & 1 != 0 {
                th - 1 - i
            } else {
                i
            },
            if self.dihedral & 2 != 0 {
                tw - 1 - j
            } else {
                j
            },
        )
    }

    /// Brightness and contrast in logit space: `sigmoid((logit(p) + logit(b)) * c)`.
    fn lighting(&self, v: f32) -> f32 {
        if self.brightness.is_none() && self.contrast.is_none() {
            return v;
        }
        let logit = |p: f64| (p / (1.0 - p)).ln();
        let mut l = logit((v as f64).clamp(1e-7, 1.0 - 1e-7));
        if let Some(b) = self.brightness {
            l += logit(b);
        }
        if let Some(k) = self.contrast {
            l *= k;
        }
        (1.0 / (1.0 + (-l).exp())) as f32
    }
}

/// fastai's pre-shrink before a large downscale (`_grid_sample`'s "smoother downwards
/// resampling"): with `d = min(H / th, W / tw) / 2` for the th x tw resize grid and the map's
/// zoom `z = 2 / span` (`span`: the range of all its source coordinates), an image downscaled by
/// more than 2x (`d > 1`) and zoomed in by less than that (`d > z`) is first resized by `1 / d`
/// with PyTorch's area interpolation. Returns the image and its height and width.
fn pre_shrink(
    src: Vec<f32>,
    (c, h, w): (usize, usize, usize),
    (th, tw): (usize, usize),
    span: f64,
) -> (Vec<f32>, (usize, usize)) {
    let d = (h as f64 / th as f64).min(w as f64 / tw as f64) / 2.0;
    if d <= 1.0 || d <= 2.0 / span {
        return (src, (h, w));
    }
    // `F.interpolate(scale_factor=1/d)`'s output size, then `mode='area'`: an adaptive
    // average pool, output i of n averaging inputs floor(i m / n) to ceil((i + 1) m / n).
    let (oh, ow) = (
        (h as f64 * (1.0 / d)).floor() as usize,
        (w as f64 * (1.0 / d)).floor() as usize,
    );
    let window = |i: usize, n: usize, m: usize| i * m / n..((i + 1) * m).div_ceil(n);
    let mut out = Vec::with_capacity(c * oh * ow);
    for k in 0..c {
        for i in 0..oh {
            for j in 0..ow {
                let (rows, cols) = (window(i, oh, h), window(j, ow, w));
                let n = rows.len() * cols.len();
                let sum: f64 = rows
                    .flat_map(|r| cols.clone().map(move |q| (r, q)))
                    .map(|(r, q)| src[(k * h + r) * w + q] as f64)
                    .sum();
                out.push((sum / n as f64) as f32);
            }
        }
    }
    (out, (oh, ow))
}

/// A source coordinate in pixels under the padding mode: border clamps; reflection mirrors
/// about 0 and `n - 1` (period 2 (n - 1)) and then clamps, as PyTorch's grid sampler.
fn pad_coord(u: f64, n: usize, padding: Padding) -> f64 {
    let last = (n - 1) as f64;
    match padding {
        Padding::Zeros => u,
        Padding::Border => u.clamp(0.0, last),
        Padding::Reflection => {
            if n == 1 {
                return 0.0;
            }
            let period = 2.0 * last;
            let r = u.abs() % period;
            (if r > last { period - r } else { r }).clamp(0.0, last)
        }
    }
}

/// Bilinear sample of every channel of `src` (`[C, H, W]`, C = `out.len()`) at `(x, y)` in [-1, 1]
/// coordinates with align-corners semantics (-1 and 1 are the centres of the edge pixels),
/// into `out`. Taps outside the image contribute 0.
fn sample(src: &[f32], (h, w): (usize, usize), x: f64, y: f64, padding: Padding, out: &mut [f32]) {
    let u = pad_coord((x + 1.0) / 2.0 * (w - 1) as f64, w, padding);
    let v = pad_coord((y + 1.0) / 2.0 * (h - 1) as f64, h, padding);
    let (x0, y0) = (u.floor(), v.floor());
    let (fx, fy) = (u - x0, v - y0);
    let taps = [
        (x0, y0, (1.0 - fx) * (1.0 - fy)),
        (x0 + 1.0, y0, fx * (1.0 - fy)),
        (x0, y0 + 1.0, (1.0 - fx) * fy),
        (x0 + 1.0, y0 + 1.0, fx * fy),
    ];
    out.fill(0.0);
    for (tx, ty, wt) in taps {
        if wt == 0.0 || tx < 0.0 || ty < 0.0 || tx >= w as f64 || ty >= h as f64 {
            continue;
        }
        let at = ty as usize * w + tx as usize;
        for (k, o) in out.iter_mut().enumerate() {
            *o += (wt * src[k * h * w + at] as f64) as f32;
        }
    }
}

/// PyTorch's `F.grid_sample(img[None], grid[None], 'bilinear', padding, align_corners=True)`
/// for one image `[C, H, W]` and a grid `[Ho, Wo, 2]` of (x, y) points in [-1, 1]: `[C, Ho,
/// Wo]`. (The augmentation samples point by point through the same function.)
pub fn grid_sample(img: &Tensor, grid: &Tensor, padding: Padding) -> tensor::Result<Tensor> {
    let (s, g) = (img.shape(), grid.shape());
    if s.len() != 3 || g.len() != 3 || g[2] != 2 || s[1] == 0 || s[2] == 0 {
        return Err(tensor::Error::Shape {
            op: "grid_sample",
            shapes: vec![s.to_vec(), g.to_vec()],
            expected: "an image [C, H, W] with H, W > 0 and a grid [Ho, Wo, 2]",
        });
    }
    let (c, ho, wo) = (s[0], g[0], g[1]);
    let src = img.to_vec::<f32>()?;
    let pts = grid.to_vec::<f32>()?;
    let mut out = vec![0f32; c * ho * wo];
    let mut px = vec![0f32; c];
    for i in 0..ho * wo {
        sample(
            &src,
            (s[1], s[2]),
            pts[2 * i] as f64,
            pts[2 * i + 1] as f64,
            padding,
            &mut px,
        );
        for (k, &v) in px.iter().enumerate() {
            out[k * ho * wo + i] = v;
        }
    }
    Tensor::from_vec(out, &[c, ho, wo])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warp_takes_its_corners_to_the_original_ones() {
        let m = [0.1, -0.2, 0.3, 0.05];
        let moved = [
            (-1.0 - m[3], -1.0 - m[1]),
            (-1.0 - m[2], 1.0 + m[1]),
            (1.0 + m[3], -1.0 - m[0]),
            (1.0 + m[2], 1.0 + m[0]),
        ];
        let corners = [(-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0)];
        let h = homography(moved, corners);
        let a = Augment {
            warp: Some(m),
            ..Augment::centre()
        };
        let id = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        for (p, q) in moved.iter().zip(&corners) {
            let (x, y) = a.source_point(p.0, p.1, Some(&h), &id);
            assert!(
                (x - q.0).abs() < 1e-12 && (y - q.1).abs() < 1e-12,
                "{p:?} -> ({x}, {y}), not {q:?}"
            );
        }
    }

    #[test]
    fn reflection_mirrors_about_the_edge_pixels() {
        // Size 4: pixels 0..3, period 6.
        assert_eq!(pad_coord(-1.0, 4, Padding::Reflection), 1.0);
        assert_eq!(pad_coord(4.0, 4, Padding::Reflection), 2.0);
        assert_eq!(pad_coord(7.5, 4, Padding::Reflection), 1.5);
        assert_eq!(pad_coord(-2.5, 4, Padding::Border), 0.0);
    }
}
