//! Winograd's minimal filtering for 3x3 stride-1 convolutions, F(2x2, 3x3), after Lavin &
//! Gray, "Fast Algorithms for Convolutional Neural Networks" (2015). A 2x2 block of output
//! is computed from the 4x4 tile of padded input under it with 16 multiplications per
//! (output, input) channel pair instead of 36, in three steps:
//!
//! - input tile `d` -> `V = B^T d B`, with `B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]`:
//!   sums and differences of the tile's rows, then of its columns, no multiplications;
//! - kernel `g` -> `U = G g G^T`, with `G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]`:
//!   once per call, for every channel pair;
//! - `M = sum over input channels of U * V` (elementwise), back to the 2x2 output block as
//!   `Y = A^T M A`, with `A^T = [1 1 1 0; 0 1 -1 -1]`.
//!
//! At each of the 16 positions `xi` of the transformed tile, the sum over input channels is a
//! matrix product, `M[xi] (co x tiles) = U[xi] (co x ci) * V[xi] (ci x tiles)`: 16 GEMMs
//! through the packed GEMM, which do 16/36 of the direct convolution's multiply-adds. Tiles
//! start every 2 pixels of the padded image; those at the right and bottom edges may reach
//! past it (read as zeros) and their outputs past the output's edge are dropped.
use crate::conv_geometry::Geometry;
use crate::gemm::{self, MatMut, MatRef};
use crate::Result;
use rayon::prelude::*;
use std::cell::RefCell;
use std::ops::Range;

/// Positions in a transformed 4x4 tile.
const XI: usize = 16;

/// About this many tiles go through the 16 GEMMs at a time (whole rows of tiles). On 64 -> 64
/// at 56 x 56 and 256 -> 256 at 14 x 14, blocks of 64 to 512 tiles timed within the noise of
/// each other (10-20% from run to run); at 128 the transformed tiles and products of a
/// 256-channel layer take 4.4 MB per thread, at 512 four times that.
const TILES: usize = 128;

thread_local! {
    /// The transformed tiles and their products, reused across calls on this thread: fresh
    /// buffers would page-fault on every call, and buffers from the buffer cache stay there
    /// after it (ResNet-34's training step rose 80 MB with 512-tile blocks).
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Whether F(2x2, 3x3) computes this convolution: a 3x3 kernel at stride 1 (any padding).
pub(super) fn fits(g: &Geometry) -> bool {
    g.kh == 3 && g.kw == 3 && g.p.stride == [1, 1]
}

/// Rows and columns of 2x2 output blocks (tiles) per image.
fn tiles(g: &Geometry) -> (usize, usize) {
    (g.ho.div_ceil(2), g.wo.div_ceil(2))
}

/// Convolution of images `x` `[n, C, H, W]` with `w` `[co, C, 3, 3]`, plus an optional
/// `bias` `[co]`, for a geometry that [`fits`]: `[n, co, H_out, W_out]`.
pub(super) fn conv2d(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    co: usize,
    g: &Geometry,
) -> Result<Vec<f32>> {
    let (image, px) = (g.c * g.h * g.w, g.pixels());
    let n = x.len() / image;
    let u = kernel_transform(w, co, g.c);
    let mut out = crate::buffer_cache::take(n * co * px);
    let run = |x: &[f32], y: &mut [f32], parallel: bool| -> Result<()> {
        let (th, tw) = tiles(g);
        let rows = x.len() / image * th;
        let per_block = TILES.div_ceil(tw);
        let most = per_block.min(rows) * tw;
        gemm::with_buffer(&SCRATCH, XI * (g.c + co) * most, |scratch| {
            let (v, m) = scratch.split_at_mut(XI * g.c * most);
            for r0 in (0..rows).step_by(per_block) {
                let block = r0..(r0 + per_block).min(rows);
                let nt = block.len() * tw;
                let (v, m) = (&mut v[..XI * g.c * nt], &mut m[..XI * co * nt]);
                input_transform(x, g, block.clone(), v);
                for (xi, (vx, mx)) in v
                    .chunks_exact(g.c * nt)
                    .zip(m.chunks_exact_mut(co * nt))
                    .enumerate()
                {
                    gemm::gemm_with(
                        1.0,
                        MatRef::new(&u[xi * g.c..], co, g.c, XI * g.c, 1)?,
                        &MatRef::new(vx, g.c, nt, nt, 1)?,
                        0.0,
                        MatMut::new(mx, co, nt, nt)?,
                        parallel,
                    )?;
                }
                output_transform(m, co, g, block, bias, y);
            }
            Ok(())
        })
    };
    match super::conv::images_per_task(n) {
        Some(per) => x
            .par_chunks(per * image)
            .zip(out.par_chunks_mut(per * co * px))
            .try_for_each(|(x, y)| run(x, y, false))?,
        None => run(x, &mut out, true)?,
    }
    crate::buffer_cache::recycle(u);
    Ok(out)
}

/// `U = G g G^T` for each 3x3 kernel `g` of `w` `[co, ci, 3, 3]`, laid out `[co, 16, ci]`:
/// the A operand of GEMM `xi` is `U[.., xi, ..]`, rows `16 ci` apart. Each output channel's
/// kernels are transformed by one task (a 512 -> 512 layer has 262,144 kernels).
fn kernel_transform(w: &[f32], co: usize, ci: usize) -> Vec<f32> {
    // G times a column (g0, g1, g2) of three values.
    let g_col = |a: f32, b: f32, c: f32| [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
    // Every element is written below.
    let mut u = crate::buffer_cache::take(co * XI * ci);
    u.par_chunks_mut(XI * ci)
        .zip(w.par_chunks(9 * ci))
        .for_each(|(u, w)| {
            for (i, g) in w.chunks_exact(9).enumerate() {
                // G g: 4 x 3, one column of g at a time.
                let gg: [[f32; 4]; 3] = std::array::from_fn(|j| g_col(g[j], g[3 + j], g[6 + j]));
                for r in 0..4 {
                    // (G g) G^T: row r of G g times G^T is G times that row.
                    for (s, v) in g_col(gg[0][r], gg[1][r], gg[2][r]).into_iter().enumerate() {
                        u[(r * 4 + s) * ci + i] = v;
                    }
                }
            }
        });
    u
}

/// Transformed input tiles `V = B^T d B` of the global tile rows `rows` (tile row `r` is row
/// `r % th` of image `r / th` of `x`), laid out `[16, ci, tiles]`: the B operands of the 16
/// GEMMs, each row contiguous.
fn input_transform(x: &[f32], g: &Geometry, rows: Range<usize>, v: &mut [f32]) {
    let (th, tw) = tiles(g);
    let nt = rows.len() * tw;
    let [ph, pw] = g.p.padding;
    // The four padded input rows under a row of tiles (tile tx reads columns 2tx .. 2tx + 4),
    // then the same rows after B^T, both computed a whole row of tiles at once.
    let wp = 2 * tw + 2;
    let mut padded = vec![0f32; 4 * wp];
    let mut bd = vec![0f32; 4 * wp];
    for c in 0..g.c {
        for (k, r) in rows.clone().enumerate() {
            let (img, ty) = (r / th, r % th);
            let plane = &x[(img * g.c + c) * g.h * g.w..][..g.h * g.w];
            for (q, out) in padded.chunks_exact_mut(wp).enumerate() {
                match (2 * ty + q).checked_sub(ph).filter(|&iy| iy < g.h) {
                    Some(iy) => {
                        out[..pw].fill(0.0);
                        out[pw..pw + g.w].copy_from_slice(&plane[iy * g.w..][..g.w]);
                        out[pw + g.w..].fill(0.0);
                    }
                    None => out.fill(0.0),
                }
            }
            // B^T d: combinations of the four rows.
            let [d0, d1, d2, d3] = rows_of(&padded, wp);
            let [t0, t1, t2, t3] = rows_mut(&mut bd, [0, wp, 2 * wp, 3 * wp], wp);
            for (i, t0) in t0.iter_mut().enumerate() {
                (*t0, t1[i], t2[i], t3[i]) = b_t([d0[i], d1[i], d2[i], d3[i]]);
            }
            // (B^T d) B: the same combinations of each tile's four columns, row by row.
            for (a, row) in bd.chunks_exact(wp).enumerate() {
                let starts = [0, 1, 2, 3].map(|b| ((4 * a + b) * g.c + c) * nt + k * tw);
                let [v0, v1, v2, v3] = rows_mut(v, starts, tw);
                let row = &row[..2 * tw + 2];
                for (tx, v0) in v0.iter_mut().enumerate() {
                    let d: [f32; 4] = std::array::from_fn(|s| row[2 * tx + s]);
                    (*v0, v1[tx], v2[tx], v3[tx]) = b_t(d);
                }
            }
        }
    }
}

/// `B^T d` for one column `d` of four values: `(d0 - d2, d1 + d2, d2 - d1, d1 - d3)`.
fn b_t([d0, d1, d2, d3]: [f32; 4]) -> (f32, f32, f32, f32) {
    (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
}

/// `A^T m` for one column `m` of four values: `(m0 + m1 + m2, m1 - m2 - m3)`.
fn a_t([m0, m1, m2, m3]: [f32; 4]) -> (f32, f32) {
    (m0 + m1 + m2, m1 - m2 - m3)
}

/// The output blocks `Y = A^T M A` (plus bias) of the global tile rows `rows`, from their
/// products `m` `[16, co, tiles]`, written into `y` (the images' outputs `[n, co, ho, wo]`),
/// cropped at the output's right and bottom edges.
fn output_transform(
    m: &[f32],
    co: usize,
    g: &Geometry,
    rows: Range<usize>,
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    let (th, tw) = tiles(g);
    let nt = rows.len() * tw;
    // A^T M along a row of tiles, then the four outputs of each tile (y00, y01, y10, y11).
    let mut am = vec![0f32; 8 * tw];
    let mut blocks = vec![0f32; 4 * tw];
    for o in 0..co {
        let b = bias.map_or(0.0, |b| b[o]);
        for (k, r) in rows.clone().enumerate() {
            let (img, ty) = (r / th, r % th);
            let mx: [&[f32]; XI] =
                std::array::from_fn(|xi| &m[(xi * co + o) * nt + k * tw..][..tw]);
            for (j, out) in am.chunks_exact_mut(2 * tw).enumerate() {
                let (s0, s1) = out.split_at_mut(tw);
                let [m0, m1, m2, m3] = [0, 4, 8, 12].map(|a| mx[a + j]);
                for (t, s0) in s0.iter_mut().enumerate() {
                    (*s0, s1[t]) = a_t([m0[t], m1[t], m2[t], m3[t]]);
                }
            }
            let [y00, y01, y10, y11] = rows_mut(&mut blocks, [0, tw, 2 * tw, 3 * tw], tw);
            // am holds (s0, s1) of column 0, then of column 1, ...
            let [c0, c1, c2, c3] = [0, 2, 4, 6].map(|j| &am[j * tw..][..tw]);
            for (t, y00) in y00.iter_mut().enumerate() {
                let (a, b0) = a_t([c0[t], c1[t], c2[t], c3[t]]);
                *y00 = a + b;
                y01[t] = b0 + b;
            }
            let [e0, e1, e2, e3] = [1, 3, 5, 7].map(|j| &am[j * tw..][..tw]);
            for (t, y10) in y10.iter_mut().enumerate() {
                let (a, b1) = a_t([e0[t], e1[t], e2[t], e3[t]]);
                *y10 = a + b;
                y11[t] = b1 + b;
            }
            let plane = &mut y[(img * co + o) * g.pixels()..][..g.pixels()];
            for (dy, (left, right)) in [(&*y00, &*y01), (&*y10, &*y11)].into_iter().enumerate() {
                let oy = 2 * ty + dy;
                if oy >= g.ho {
                    break;
                }
                let out = &mut plane[oy * g.wo..][..g.wo];
                let (whole, last) = out.split_at_mut(g.wo / 2 * 2);
                for (pair, (&l, &r)) in whole.chunks_exact_mut(2).zip(left.iter().zip(right)) {
                    pair[0] = l;
                    pair[1] = r;
                }
                // An odd output width crops the last tile's right column.
                if let Some(d) = last.first_mut() {
                    *d = left[tw - 1];
                }
            }
        }
    }
}

/// The first four rows of `len` floats of `data`.
fn rows_of(data: &[f32], len: usize) -> [&[f32]; 4] {
    std::array::from_fn(|q| &data[q * len..][..len])
}

/// `N` disjoint rows of `len` floats of `data`, starting at the increasing offsets `starts`.
fn rows_mut<const N: usize>(data: &mut [f32], starts: [usize; N], len: usize) -> [&mut [f32]; N] {
    let (mut rest, mut at) = (data, 0);
    starts.map(|s| {
        let (row, tail) = std::mem::take(&mut rest)[s - at..].split_at_mut(len);
        rest = tail;
        at = s + len;
        row
    })
}

#[cfg(test)]
mod tests {
    //! F(2x2, 3x3) against the direct definition in f64, on random shapes: odd sizes, images
    //! smaller than one tile, padding 0, 1 or 2 on each axis, with and without bias.
    //!
    //! Tolerance, from the rounding of each step (u = 2^-24): with `S = sum over input
    //! channels of (sum |g|) * (sum of |d| over the output's 4x4 tile)`, every `|U| <= sum |g|`
    //! and `|V| <= sum |d|` (their coefficients are at most 1 in size), an output adds 9 of
    //! the 16 products `U * V`, and the rounding errors of the transforms (at most 4 u for
    //! U, 2 u for V, 8 u for the output's sums) and of the GEMM's sum over `ci` channels
    //! (`ci` u) add up to at most `9 (ci + 14) u S`, plus u |y| for the bias.
    use super::*;
    use crate::conv_geometry::Conv2dParams;
    use proptest::prelude::*;

    /// Sizes of one case: (n, c, co, h, w, padding, with bias).
    type Case = (usize, usize, usize, usize, usize, [usize; 2], bool);

    fn case() -> impl Strategy<Value = Case> {
        (
            1usize..4,
            1usize..10,
            1usize..20,
            0usize..3,
            0usize..3,
            any::<bool>(),
        )
            .prop_flat_map(|(n, c, co, ph, pw, bias)| {
                // The padded image must hold the kernel.
                let (hmin, wmin) = (
                    3usize.saturating_sub(2 * ph).max(1),
                    3usize.saturating_sub(2 * pw).max(1),
                );
                (hmin..hmin + 12, wmin..wmin + 12)
                    .prop_map(move |(h, w)| (n, c, co, h, w, [ph, pw], bias))
            })
    }

    fn values(len: usize, seed: u64) -> Vec<f32> {
        crate::random::Philox::new(seed, 5)
            .uniform(&[len], -1.0, 1.0)
            .unwrap()
            .to_vec()
            .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn equals_the_direct_convolution((n, c, co, h, w, p, with_bias) in case(), seed in 0u64..10_000) {
            let params = Conv2dParams { stride: [1, 1], padding: p };
            let g = Geometry::new("test", c, h, w, 3, 3, params).unwrap();
            let (x, wt, b) = (values(n * c * h * w, seed), values(co * c * 9, seed + 1), values(co, seed + 2));
            let bias = with_bias.then_some(&b[..]);
            let y = conv2d(&x, &wt, bias, co, &g).unwrap();
            prop_assert_eq!(y.len(), n * co * g.pixels());
            let (ho, wo) = (g.ho, g.wo);
            let pixel = |img: usize, ch: usize, iy: isize, ix: isize| -> f64 {
                let inside = (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix);
                if inside { x[((img * c + ch) * h + iy as usize) * w + ix as usize] as f64 } else { 0.0 }
            };
            let u = f32::EPSILON as f64 / 2.0;
            for img in 0..n {
                for o in 0..co {
                    for oy in 0..ho {
                        for ox in 0..wo {
                            let (mut want, mut scale) = (bias.map_or(0.0, |b| b[o] as f64), 0.0);
                            // The 4x4 tile this output belongs to, in image coordinates.
                            let (ty, tx) = ((oy - oy % 2) as isize - p[0] as isize, (ox - ox % 2) as isize - p[1] as isize);
                            for ch in 0..c {
                                let k = &wt[(o * c + ch) * 9..][..9];
                                for i in 0..3 {
                                    for j in 0..3 {
                                        let d = pixel(img, ch, (oy + i) as isize - p[0] as isize, (ox + j) as isize - p[1] as isize);
                                        want += d * k[i * 3 + j] as f64;
                                    }
                                }
                                let g1: f64 = k.iter().map(|v| v.abs() as f64).sum();
                                let d1: f64 = (0..16).map(|t| pixel(img, ch, ty + t / 4, tx + t % 4).abs()).sum();
                                scale += g1 * d1;
                            }
                            let got = y[((img * co + o) * ho + oy) * wo + ox] as f64;
                            let tol = 9.0 * (c + 14) as f64 * u * scale + u * want.abs();
                            prop_assert!(
                                (got - want).abs() <= tol,
                                "y[{}, {}, {}, {}] = {}, expected {} (tolerance {})", img, o, oy, ox, got, want, tol
                            );
                        }
                    }
                }
            }
        }
    }
}
