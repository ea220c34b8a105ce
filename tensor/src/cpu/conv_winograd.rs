//! Winograd's minimal filtering for 3x3 stride-1 convolutions, F(4x4, 3x3), after Lavin &
//! Gray, "Fast Algorithms for Convolutional Neural Networks" (2015). A 4x4 block of output
//! is computed from the 6x6 tile of padded input under it with 36 multiplications per
//! (output, input) channel pair instead of 144, in three steps:
//!
//! - input tile `d` -> `V = B^T d B`, with `B^T` the 6x6 matrix in [`b_t`]: integer
//!   combinations of the tile's rows, then of its columns;
//! - kernel `g` -> `U = G g G^T`, with `G` the 6x3 matrix in [`kernel_transform`]: once per
//!   call, for every channel pair;
//! - `M = sum over input channels of U * V` (elementwise), back to the 4x4 output block as
//!   `Y = A^T M A`, with `A^T` the 4x6 matrix in [`a_t`].
//!
//! The interpolation points are 0, 1, -1, 2, -2 and infinity, the choice with the smallest
//! coefficients (at most 5 in `B`, 8 in `A`). At each of the 36 positions `xi` of the
//! transformed tile, the sum over input channels is a matrix product,
//! `M[xi] (co x tiles) = U[xi] (co x ci) * V[xi] (ci x tiles)`: 36 GEMMs through the packed
//! GEMM, which do a quarter of the direct convolution's multiply-adds. Tiles start every 4
//! pixels of the padded image; those at the right and bottom edges may reach past it (read
//! as zeros) and their outputs past the output's edge are dropped.
use crate::conv_geometry::Geometry;
use crate::gemm::{self, MatMut, MatRef};
use crate::lanes::{lanes, Lanes, L};
use crate::Result;
use rayon::prelude::*;
use std::cell::RefCell;
use std::ops::Range;

/// Outputs along each side of a tile.
const M: usize = 4;
/// Inputs along each side of a tile: `M + 3 - 1`.
const ALPHA: usize = 6;
/// Positions in a transformed tile.
const XI: usize = ALPHA * ALPHA;

/// About this many tiles go through the 36 GEMMs at a time (whole rows of tiles). Blocks of
/// 32 to 256 tiles timed within the noise of each other on ResNet-34's layers (16 was slower:
/// the kernels are packed again for every block); at 64 the transformed tiles and products
/// of a 256-channel layer take 5.3 MB per thread (a ResNet-34 step's cold peak 9 MB lower
/// than at 128).
const TILES: usize = 64;

thread_local! {
    /// The transformed tiles and their products, reused across calls on this thread: fresh
    /// buffers would page-fault on every call, and buffers from the buffer cache stay there
    /// after it (ResNet-34's training step rose 80 MB with larger blocks from it).
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Whether F(4x4, 3x3) computes this convolution: a 3x3 kernel at stride 1 (any padding).
pub(super) fn fits(g: &Geometry) -> bool {
    g.kh == 3 && g.kw == 3 && g.p.stride == [1, 1]
}

/// Rows and columns of 4x4 output blocks (tiles) per image.
fn tiles(g: &Geometry) -> (usize, usize) {
    (g.ho.div_ceil(M), g.wo.div_ceil(M))
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
        // The transforms work on whole lanes of tiles: rows of the transformed tiles have
        // room for one past their tiles, and the output transform reads up to `L` floats past
        // the products.
        gemm::with_buffer(
            &SCRATCH,
            XI * g.c * (most + L) + XI * co * most + L,
            |scratch| {
                let (v, m) = scratch.split_at_mut(XI * g.c * (most + L));
                for r0 in (0..rows).step_by(per_block) {
                    let block = r0..(r0 + per_block).min(rows);
                    let nt = block.len() * tw;
                    let (v, m) = (&mut v[..XI * g.c * (nt + L)], &mut m[..XI * co * nt + L]);
                    input_transform(x, g, block.clone(), v);
                    for (xi, (vx, mx)) in v
                        .chunks_exact(g.c * (nt + L))
                        .zip(m.chunks_exact_mut(co * nt))
                        .enumerate()
                    {
                        gemm::gemm_with(
                            1.0,
                            MatRef::new(&u[xi * g.c..], co, g.c, XI * g.c, 1)?,
                            &MatRef::new(vx, g.c, nt, nt + L, 1)?,
                            0.0,
                            MatMut::new(mx, co, nt, nt)?,
                            parallel,
                        )?;
                    }
                    output_transform(m, co, g, block, bias, y);
                }
                Ok(())
            },
        )
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

/// Gradient with respect to the weight `[co, C, 3, 3]` of the convolution of `x`
/// `[n, C, H, W]`, from the output gradient `dy` `[n, co, H_out, W_out]`, for a geometry that
/// [`fits`]. The forward's `Y = A^T (U * V) A` per tile is linear in `U`, so the gradient
/// of `U` is `dU = sum over tiles of (A dY A^T) * V` (elementwise), 36 GEMMs over the
/// tiles, and `dW = G^T dU G`.
pub(super) fn conv2d_backward_weight(
    dy: &[f32],
    x: &[f32],
    co: usize,
    g: &Geometry,
) -> Result<Vec<f32>> {
    let (image, out_image) = (g.c * g.h * g.w, co * g.pixels());
    let n = x.len() / image;
    // dU of the images `x`, with their `dy`.
    let run = |dy: &[f32], x: &[f32], parallel: bool| -> Result<Vec<f32>> {
        let (th, tw) = tiles(g);
        let rows = x.len() / image * th;
        let per_block = TILES.div_ceil(tw);
        let most = per_block.min(rows) * tw;
        // Every element is written by the first block's GEMMs (beta 0).
        let mut du = crate::buffer_cache::take(XI * co * g.c);
        gemm::with_buffer(&SCRATCH, XI * (g.c + co) * (most + L), |scratch| {
            let (v, dyt) = scratch.split_at_mut(XI * g.c * (most + L));
            for (i, r0) in (0..rows).step_by(per_block).enumerate() {
                let block = r0..(r0 + per_block).min(rows);
                let nt = block.len() * tw;
                let (v, dyt) = (
                    &mut v[..XI * g.c * (nt + L)],
                    &mut dyt[..XI * co * (nt + L)],
                );
                input_transform(x, g, block.clone(), v);
                gradient_transform(dy, co, g, block, dyt);
                let beta = if i == 0 { 0.0 } else { 1.0 };
                for ((vx, dx), dux) in v
                    .chunks_exact(g.c * (nt + L))
                    .zip(dyt.chunks_exact(co * (nt + L)))
                    .zip(du.chunks_exact_mut(co * g.c))
                {
                    // dU[xi] (co x ci) += dY'[xi] (co x tiles) * V[xi]^T (tiles x ci).
                    gemm::gemm_with(
                        1.0,
                        MatRef::new(dx, co, nt, nt + L, 1)?,
                        &MatRef::new(vx, nt, g.c, 1, nt + L)?,
                        beta,
                        MatMut::new(dux, co, g.c, g.c)?,
                        parallel,
                    )?;
                }
            }
            Ok(())
        })?;
        Ok(du)
    };
    let du = match super::conv::images_per_task(n) {
        // One partial dU per task, added up at the end.
        Some(per) => super::conv::sum_partials(
            x.par_chunks(per * image)
                .zip(dy.par_chunks(per * out_image))
                .map(|(x, dy)| run(dy, x, false))
                .collect::<Result<_>>()?,
        ),
        None => run(dy, x, true)?,
    };
    // Every element is written below.
    let mut dw = crate::buffer_cache::take(co * g.c * 9);
    dw.par_chunks_mut(g.c * 9)
        .enumerate()
        .for_each(|(o, dw)| weight_from(&du, co, o, dw));
    crate::buffer_cache::recycle(du);
    Ok(dw)
}

multiversion! {
    /// `dW = G^T dU G` for the kernels of output channel `o`, from `du` `[36, co, ci]`, into
    /// `dw` `[ci, 3, 3]`, `L` input channels at a time.
    fn weight_from(du: &[f32], co: usize, o: usize, dw: &mut [f32]) {
        let ci = dw.len() / 9;
        for i in (0..ci).step_by(L) {
            let n = L.min(ci - i);
            let m = |xi: usize| Lanes::load_upto(&du[(xi * co + o) * ci..][..ci], i);
            // G^T dU: 3 x 6, one column of dU at a time.
            let mut gm = [[Lanes([0.0; L]); 3]; ALPHA];
            for (b, gm) in gm.iter_mut().enumerate() {
                *gm = g_t(lanes(|a| m(a * ALPHA + b)));
            }
            for r in 0..3 {
                // (G^T dU) G: row r of G^T dU times G is G^T times that row.
                let row = g_t(lanes(|b| gm[b][r]));
                for (s, v) in row.into_iter().enumerate() {
                    for (l, v) in v.0[..n].iter().enumerate() {
                        dw[(i + l) * 9 + r * 3 + s] = *v;
                    }
                }
            }
        }
    }
}

/// `U = G g G^T` for each 3x3 kernel `g` of `w` `[co, ci, 3, 3]`, laid out `[co, 36, ci]`:
/// the A operand of GEMM `xi` is `U[.., xi, ..]`, rows `36 ci` apart. Each output channel's
/// kernels are transformed by one task (a 512 -> 512 layer has 262,144 kernels).
fn kernel_transform(w: &[f32], co: usize, ci: usize) -> Vec<f32> {
    // Every element is written below.
    let mut u = crate::buffer_cache::take(co * XI * ci);
    u.par_chunks_mut(XI * ci)
        .zip(w.par_chunks(9 * ci))
        .for_each(|(u, w)| kernel_transform_channel(w, u));
    u
}

multiversion! {
    /// `U` of the kernels `w` `[ci, 3, 3]` of one output channel, into `u` `[36, ci]`, `L`
    /// input channels at a time.
    fn kernel_transform_channel(w: &[f32], u: &mut [f32]) {
        let ci = w.len() / 9;
        for i in (0..ci).step_by(L) {
            let n = L.min(ci - i);
            let tap = taps(&w[i * 9..], n);
            // G g: 6 x 3, one column of g at a time.
            let gg = [
                g_col(tap[0], tap[3], tap[6]),
                g_col(tap[1], tap[4], tap[7]),
                g_col(tap[2], tap[5], tap[8]),
            ];
            for r in 0..ALPHA {
                // (G g) G^T: row r of G g times G^T is G times that row.
                for (s, v) in g_col(gg[0][r], gg[1][r], gg[2][r]).into_iter().enumerate() {
                    let dst = &mut u[(r * ALPHA + s) * ci + i..];
                    if n == L {
                        v.store(dst);
                    } else {
                        dst[..n].copy_from_slice(&v.0[..n]);
                    }
                }
            }
        }
    }
}

/// The nine taps of the first `n <= L` kernels of `w` (`[.., 3, 3]`), tap `t` of kernel `l`
/// in lane `l` of `taps[t]`; lanes past `n` are zero. Eight whole kernels' first eight taps
/// are read as rows and transposed.
#[inline(always)]
fn taps(w: &[f32], n: usize) -> [Lanes; 9] {
    let mut taps = [Lanes([0.0; L]); 9];
    if n == L {
        let mut at = [0; L];
        for (l, at) in at.iter_mut().enumerate() {
            *at = 9 * l;
        }
        taps[..8].copy_from_slice(&Lanes::columns::<8>(w, &at, 0));
        for (l, v) in taps[8].0.iter_mut().enumerate() {
            *v = w[9 * l + 8];
        }
    } else {
        for (t, tap) in taps.iter_mut().enumerate() {
            for (l, v) in tap.0[..n].iter_mut().enumerate() {
                *v = w[9 * l + t];
            }
        }
    }
    taps
}

/// `G` times a column `(a, b, c)` of three values, `G = [1/4 0 0; -1/6 -1/6 -1/6;
/// -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]`.
#[inline(always)]
fn g_col(a: Lanes, b: Lanes, c: Lanes) -> [Lanes; ALPHA] {
    const SIXTH: f32 = 1.0 / 6.0;
    let (ac, p, q) = (a + c, (1.0 / 24.0) * a + SIXTH * c, (1.0 / 12.0) * b);
    [
        0.25 * a,
        -SIXTH * (ac + b),
        -SIXTH * (ac - b),
        p + q,
        p - q,
        c,
    ]
}

/// A tile transform `T d T^T`: `T` (6 x IN) applied to one column of `IN` values. (A trait,
/// not a closure: a closure was not inlined into the instruction-set variants.)
trait TileTransform<const IN: usize> {
    fn column(d: [Lanes; IN]) -> [Lanes; ALPHA];
}

/// `B^T d B` of input windows.
struct InputTiles;

impl TileTransform<ALPHA> for InputTiles {
    #[inline(always)]
    fn column(d: [Lanes; ALPHA]) -> [Lanes; ALPHA] {
        b_t(d)
    }
}

/// `A dY A^T` of output-gradient blocks.
struct GradientTiles;

impl TileTransform<M> for GradientTiles {
    #[inline(always)]
    fn column(d: [Lanes; M]) -> [Lanes; ALPHA] {
        a_col(d)
    }
}

/// The tiles of one block, transformed: `out[xi][p][t]` (rows `nt + L` apart) is position
/// `xi = (a, b)` of `T d T^T` for the `IN x IN` window `d` of plane `p` under tile `t`.
/// Tile `(ty, tx)` of a plane of `[h, w]` reads rows and columns from `4 ty - ph` and
/// `4 tx - pw` on; outside the plane it reads zeros. `x` holds `planes` planes per image.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn transform_tiles<const IN: usize, T: TileTransform<IN>>(
    x: &[f32],
    planes: usize,
    [h, w]: [usize; 2],
    [ph, pw]: [usize; 2],
    g: &Geometry,
    rows: Range<usize>,
    out: &mut [f32],
) {
    let (th, tw) = tiles(g);
    let nt = rows.len() * tw;
    // Per tile row, its IN rows of the padded plane after T, wide enough for whole lanes
    // of tiles and of the plane's columns. Columns outside the plane stay zero.
    let wp = (M * (tw - 1) + IN).max(pw + w.next_multiple_of(L));
    // (And `L` floats more: each window is read as `L` floats from its start.)
    let mut td = vec![0f32; rows.len() * ALPHA * wp + L];
    let zeros = vec![0f32; w];
    // Where each tile's window starts in `td`; lanes past the last tile repeat it.
    let window: Vec<usize> = (0..nt.next_multiple_of(L))
        .map(|t| t.min(nt - 1))
        .map(|t| t / tw * ALPHA * wp + M * (t % tw))
        .collect();
    for p in 0..planes {
        for (td, r) in td.chunks_exact_mut(ALPHA * wp).zip(rows.clone()) {
            let (img, ty) = (r / th, r % th);
            let plane = &x[(img * planes + p) * h * w..][..h * w];
            // The plane's rows under the tiles; rows outside it read as zeros.
            let mut src = [&zeros[..]; IN];
            for (q, s) in src.iter_mut().enumerate() {
                if let Some(iy) = (M * ty + q).checked_sub(ph).filter(|&iy| iy < h) {
                    *s = &plane[iy * w..][..w];
                }
            }
            // T d: combinations of the rows. Lanes past the plane's width load zeros, so
            // the columns past it stay zero.
            for i in (0..w).step_by(L) {
                let t = T::column(lanes(|q| Lanes::load_upto(src[q], i)));
                for (q, t) in t.into_iter().enumerate() {
                    t.store(&mut td[q * wp + pw + i..]);
                }
            }
        }
        // (T d) T^T: the same combinations of each tile's columns, for `L` tiles of the
        // block at a time (they may span tile rows).
        for (t, at) in window.chunks_exact(L).enumerate() {
            for a in 0..ALPHA {
                let d = Lanes::columns(&td, at, a * wp);
                for (b, v) in T::column(d).into_iter().enumerate() {
                    v.store(&mut out[((ALPHA * a + b) * planes + p) * (nt + L) + t * L..]);
                }
            }
        }
    }
}

multiversion! {
    /// Transformed input tiles `V = B^T d B` of the global tile rows `rows` (tile row `r` is
    /// row `r % th` of image `r / th` of `x`), laid out `[36, ci, tiles]`, rows `nt + L`
    /// apart (`nt` tiles and room for a whole lane past them): the B operands of the 36
    /// GEMMs.
    fn input_transform(x: &[f32], g: &Geometry, rows: Range<usize>, v: &mut [f32]) {
        transform_tiles::<ALPHA, InputTiles>(x, g.c, [g.h, g.w], g.p.padding, g, rows, v);
    }
}

multiversion! {
    /// Transformed output gradients `A dY A^T` of the global tile rows `rows` of `dy`
    /// `[n, co, ho, wo]` (each 4x4 output block, zeros past the output's edges), laid out as
    /// [`input_transform`]'s `[36, co, tiles]`.
    fn gradient_transform(
        dy: &[f32],
        co: usize,
        g: &Geometry,
        rows: Range<usize>,
        out: &mut [f32],
    ) {
        transform_tiles::<M, GradientTiles>(dy, co, [g.ho, g.wo], [0, 0], g, rows, out);
    }
}

/// `B^T d` for one column `d` of six values, `B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0;
/// 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]`.
#[inline(always)]
fn b_t([d0, d1, d2, d3, d4, d5]: [Lanes; ALPHA]) -> [Lanes; ALPHA] {
    let (p, q) = (d4 - 4.0 * d2, d3 - 4.0 * d1);
    let (r, s) = (d4 - d2, 2.0 * (d3 - d1));
    [
        4.0 * d0 - 5.0 * d2 + d4,
        p + q,
        p - q,
        r + s,
        r - s,
        4.0 * d1 - 5.0 * d3 + d5,
    ]
}

/// `A^T m` for one column `m` of six values, `A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0;
/// 0 1 1 4 4 0; 0 1 -1 8 -8 1]`.
#[inline(always)]
fn a_t([m0, m1, m2, m3, m4, m5]: [Lanes; ALPHA]) -> [Lanes; M] {
    let (sum12, dif12, sum34, dif34) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
    [
        m0 + sum12 + sum34,
        dif12 + 2.0 * dif34,
        sum12 + 4.0 * sum34,
        dif12 + 8.0 * dif34 + m5,
    ]
}

/// `A m` for one column `m` of four values, `A` the transpose of [`a_t`]'s `A^T`.
#[inline(always)]
fn a_col([m0, m1, m2, m3]: [Lanes; M]) -> [Lanes; ALPHA] {
    let (even, odd) = (m0 + 4.0 * m2, m1 + 4.0 * m3);
    let (e2, o2) = (m0 + m2, m1 + m3);
    [m0, e2 + o2, e2 - o2, even + 2.0 * odd, even - 2.0 * odd, m3]
}

/// `G^T m` for one column `m` of six values, `G` as in [`g_col`].
#[inline(always)]
fn g_t([m0, m1, m2, m3, m4, m5]: [Lanes; ALPHA]) -> [Lanes; 3] {
    const SIXTH: f32 = 1.0 / 6.0;
    let (s12, d12, s34, d34) = (m1 + m2, m2 - m1, m3 + m4, m3 - m4);
    [
        0.25 * m0 - SIXTH * s12 + (1.0 / 24.0) * s34,
        SIXTH * d12 + (1.0 / 12.0) * d34,
        SIXTH * (s34 - s12) + m5,
    ]
}

multiversion! {
    /// The output blocks `Y = A^T M A` (plus bias) of the global tile rows `rows`, from their
    /// products `m` `[36, co, tiles]` (and `L` floats more, read past its end), written into
    /// `y` (the images' outputs `[n, co, ho, wo]`), cropped at the output's right and bottom
    /// edges.
    fn output_transform(
        m: &[f32],
        co: usize,
        g: &Geometry,
        rows: Range<usize>,
        bias: Option<&[f32]>,
        y: &mut [f32],
    ) {
        let (th, tw) = tiles(g);
        let (nt, px) = (rows.len() * tw, g.pixels());
        // Each tile's output block: its first pixel in output channel 0 of its image, and
        // how many of its rows and columns lie inside the output.
        let blocks: Vec<(usize, usize, usize)> = (0..nt)
            .map(|t| {
                let (r, tx) = (rows.start + t / tw, t % tw);
                let (img, ty) = (r / th, r % th);
                let at = img * co * px + M * ty * g.wo + M * tx;
                (at, (g.ho - M * ty).min(M), (g.wo - M * tx).min(M))
            })
            .collect();
        // A^T M for all the block's tiles: row `(r, j)` holds row r of column j of each
        // tile's A^T M, with room for whole lanes past the last tile.
        let stride = nt + L;
        let mut am = vec![0f32; M * ALPHA * stride];
        for o in 0..co {
            let b = bias.map_or(0.0, |b| b[o]);
            for t in (0..nt).step_by(L) {
                for j in 0..ALPHA {
                    let col = lanes(|a| Lanes::load(m, ((a * ALPHA + j) * co + o) * nt + t));
                    for (r, s) in a_t(col).into_iter().enumerate() {
                        s.store(&mut am[(r * ALPHA + j) * stride + t..]);
                    }
                }
            }
            // (A^T M) A, row `dy` of `L` tiles' output blocks at a time.
            let y = &mut y[o * px..];
            for (t, blocks) in (0..nt).step_by(L).zip(blocks.chunks(L)) {
                for dy in 0..M {
                    let ys = a_t(lanes(|j| Lanes::load(&am, (dy * ALPHA + j) * stride + t)));
                    for (l, &(at, rows, cols)) in blocks.iter().enumerate() {
                        if dy >= rows {
                            continue;
                        }
                        let out = &mut y[at + dy * g.wo..];
                        if cols == M {
                            for (s, d) in out[..M].iter_mut().enumerate() {
                                *d = ys[s].0[l] + b;
                            }
                        } else {
                            for (s, d) in out[..cols].iter_mut().enumerate() {
                                *d = ys[s].0[l] + b;
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! F(4x4, 3x3) against the direct definition in f64, on random shapes: odd sizes, images
    //! smaller than one tile, padding 0, 1 or 2 on each axis, with and without bias.
    //!
    //! Tolerance, the usual bound for a bilinear algorithm (Higham, "Accuracy and Stability of
    //! Numerical Algorithms", 2nd ed., 3.5), u = 2^-24: an output at (i, j) of its tile is
    //! off by at most `(ci + 26) u S`, with `S = sum over input channels of
    //! sum over xi = (a, b) of
    //! |A^T|[i][a] |A^T|[j][b] (|G| |g| |G|^T)[a][b] (|B^T| |d| |B|)[a][b]`:
    //! the magnitudes every step works with. Its rounding errors: U after two passes of at
    //! most 4 operations with rounded constants (8 u), V after two passes of at most 4
    //! operations (8 u), the product (u), the GEMM's sum over `ci` channels (`ci` u), the
    //! output's two passes of at most 4 operations and the bias (9 u). Plus u |y| for the
    //! bias.
    use super::*;
    use crate::conv_geometry::Conv2dParams;
    use proptest::prelude::*;

    /// Sizes of one case: (n, c, co, h, w, padding, with bias).
    type Case = (usize, usize, usize, usize, usize, [usize; 2], bool);

    /// `|B^T|`, `|G|` and `|A^T|`, for the tolerance.
    const BT: [[f64; 6]; 6] = [
        [4., 0., 5., 0., 1., 0.],
        [0., 4., 4., 1., 1., 0.],
        [0., 4., 4., 1., 1., 0.],
        [0., 2., 1., 2., 1., 0.],
        [0., 2., 1., 2., 1., 0.],
        [0., 4., 0., 5., 0., 1.],
    ];
    const G: [[f64; 3]; 6] = [
        [1. / 4., 0., 0.],
        [1. / 6., 1. / 6., 1. / 6.],
        [1. / 6., 1. / 6., 1. / 6.],
        [1. / 24., 1. / 12., 1. / 6.],
        [1. / 24., 1. / 12., 1. / 6.],
        [0., 0., 1.],
    ];
    const AT: [[f64; 6]; 4] = [
        [1., 1., 1., 1., 1., 0.],
        [0., 1., 1., 2., 2., 0.],
        [0., 1., 1., 4., 4., 0.],
        [0., 1., 1., 8., 8., 1.],
    ];

    /// `L x R^T` for small matrices: `L` is `p x q`, `x` is `q x q`, `R` is `p x q`.
    fn sandwich<const P: usize, const Q: usize>(
        l: &[[f64; Q]; P],
        x: &[[f64; Q]; Q],
        r: &[[f64; Q]; P],
    ) -> [[f64; P]; P] {
        std::array::from_fn(|i| {
            std::array::from_fn(|j| {
                (0..Q)
                    .map(|a| (0..Q).map(|b| l[i][a] * x[a][b] * r[j][b]).sum::<f64>())
                    .sum()
            })
        })
    }

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
                (hmin..hmin + 14, wmin..wmin + 14)
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
                            // The 6x6 tile this output belongs to, in image coordinates.
                            let (ty, tx) = ((oy - oy % 4) as isize - p[0] as isize, (ox - ox % 4) as isize - p[1] as isize);
                            for ch in 0..c {
                                let k = &wt[(o * c + ch) * 9..][..9];
                                for i in 0..3 {
                                    for j in 0..3 {
                                        let d = pixel(img, ch, (oy + i) as isize - p[0] as isize, (ox + j) as isize - p[1] as isize);
                                        want += d * k[i * 3 + j] as f64;
                                    }
                                }
                                let gk: [[f64; 3]; 3] = std::array::from_fn(|i| std::array::from_fn(|j| (k[i * 3 + j] as f64).abs()));
                                let d: [[f64; 6]; 6] = std::array::from_fn(|i| std::array::from_fn(|j| pixel(img, ch, ty + i as isize, tx + j as isize).abs()));
                                let uk = sandwich(&G, &gk, &G);
                                let vd = sandwich(&BT, &d, &BT);
                                let (i, j) = (oy % 4, ox % 4);
                                for a in 0..6 {
                                    for b in 0..6 {
                                        scale += AT[i][a] * AT[j][b] * uk[a][b] * vd[a][b];
                                    }
                                }
                            }
                            let got = y[((img * co + o) * ho + oy) * wo + ox] as f64;
                            let tol = (c + 26) as f64 * u * scale + u * want.abs();
                            prop_assert!(
                                (got - want).abs() <= tol,
                                "y[{}, {}, {}, {}] = {}, expected {} (tolerance {})", img, o, oy, ox, got, want, tol
                            );
                        }
                    }
                }
            }
        }

        /// The weight gradient against `sum over images and outputs of dY * x` in f64, within
        /// `(T + 30) u S`: `T` tiles summed (the GEMMs' inner sum), and `S` the magnitudes,
        /// `sum over tiles of |G^T| ((|A| |dY| |A^T|) * (|B^T| |d| |B|)) |G|` for the tile's
        /// output gradient block `dY` and input window `d`. The transforms of dY and d round
        /// at most 8 u each, the product u, the last transform (with rounded constants) 8 u.
        #[test]
        fn weight_gradient_equals_the_direct_one((n, c, co, h, w, p, _) in case(), seed in 0u64..10_000) {
            let params = Conv2dParams { stride: [1, 1], padding: p };
            let g = Geometry::new("test", c, h, w, 3, 3, params).unwrap();
            let (ho, wo) = (g.ho, g.wo);
            let (x, dy) = (values(n * c * h * w, seed), values(n * co * ho * wo, seed + 1));
            let dw = conv2d_backward_weight(&dy, &x, co, &g).unwrap();
            prop_assert_eq!(dw.len(), co * c * 9);
            let pixel = |img: usize, ch: usize, iy: isize, ix: isize| -> f64 {
                let inside = (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix);
                if inside { x[((img * c + ch) * h + iy as usize) * w + ix as usize] as f64 } else { 0.0 }
            };
            let grad = |img: usize, o: usize, oy: usize, ox: usize| -> f64 {
                if oy < ho && ox < wo { dy[((img * co + o) * ho + oy) * wo + ox] as f64 } else { 0.0 }
            };
            let abs_a: [[f64; 4]; 6] = std::array::from_fn(|i| std::array::from_fn(|j| AT[j][i]));
            let abs_gt: [[f64; 6]; 3] = std::array::from_fn(|i| std::array::from_fn(|j| G[j][i]));
            let u = f32::EPSILON as f64 / 2.0;
            let tiles = n * ho.div_ceil(4) * wo.div_ceil(4);
            for o in 0..co {
                for ch in 0..c {
                    let (mut want, mut scale) = ([[0f64; 3]; 3], [[0f64; 3]; 3]);
                    for img in 0..n {
                        for oy in 0..ho {
                            for ox in 0..wo {
                                for (i, want) in want.iter_mut().enumerate() {
                                    for (j, want) in want.iter_mut().enumerate() {
                                        *want += grad(img, o, oy, ox) * pixel(img, ch, (oy + i) as isize - p[0] as isize, (ox + j) as isize - p[1] as isize);
                                    }
                                }
                            }
                        }
                        for ty in (0..ho).step_by(4) {
                            for tx in (0..wo).step_by(4) {
                                let dyt: [[f64; 4]; 4] = std::array::from_fn(|i| std::array::from_fn(|j| grad(img, o, ty + i, tx + j).abs()));
                                let d: [[f64; 6]; 6] = std::array::from_fn(|i| std::array::from_fn(|j| pixel(img, ch, (ty + i) as isize - p[0] as isize, (tx + j) as isize - p[1] as isize).abs()));
                                let (ay, vd) = (sandwich(&abs_a, &dyt, &abs_a), sandwich(&BT, &d, &BT));
                                let prod: [[f64; 6]; 6] = std::array::from_fn(|i| std::array::from_fn(|j| ay[i][j] * vd[i][j]));
                                let sc = sandwich(&abs_gt, &prod, &abs_gt);
                                for (s, v) in scale.iter_mut().flatten().zip(sc.iter().flatten()) {
                                    *s += v;
                                }
                            }
                        }
                    }
                    for t in 0..9 {
                        let (got, want) = (dw[(o * c + ch) * 9 + t] as f64, want[t / 3][t % 3]);
                        let tol = (tiles + 30) as f64 * u * scale[t / 3][t % 3];
                        prop_assert!(
                            (got - want).abs() <= tol,
                            "dw[{}, {}, {}] = {}, expected {} (tolerance {})", o, ch, t, got, want, tol
                        );
                    }
                }
            }
        }
    }
}
