//! Convolution on the host. f32 takes the fast path here: an implicit im2col through the
//! packed GEMM (the column matrix is never written out, see [`Columns`]), images spread over
//! the rayon pool, and for a stride-1 input gradient a convolution with the flipped kernel;
//! 3x3 stride-1 convolutions with many channels go through Winograd's F(4x4, 3x3) instead
//! (`conv_winograd.rs`).
//! f64 (gradient checks) takes the explicit path of `conv_explicit.rs`: im2col, a plain
//! product and col2im, the definition written out. The explicit `im2col` and `col2im` ops
//! write the column matrix of every image of a batch.
use super::conv_explicit::{self, col2im_image, col2im_rows, im2col_image};
use super::conv_winograd;
use super::{layout_data, CpuStorage, Element, View};
use crate::conv_geometry::{Conv2dParams, Geometry};
use crate::gemm::{self, MatMut, MatRef, PackB};
use crate::{DType, Float, Layout, Result};
use rayon::prelude::*;

/// The column matrix of one image, never written out: `cols[r, q] = xp[row_off[r] +
/// col_off[q]]`, where `xp` is the zero-padded image, row `r = (c, i, j)` is a kernel tap and
/// column `q = (y, x)` an output pixel. The offsets separate because the input position of
/// (tap, pixel) is `(y*s + i, x*s + j)` in the padded image. The GEMM packs its B slivers
/// straight from the image through these offsets (an "implicit im2col"), which saves writing
/// and re-reading a column matrix that is `kh*kw` times larger than the image.
struct Columns<'a> {
    /// One or more prepared images, back to back: their column matrices side by side.
    xp: &'a [f32],
    offsets: &'a Offsets,
    /// Serve `cols^T` (`[pixels, taps]`) instead, for the weight gradient.
    transposed: bool,
}

impl Columns<'_> {
    /// Total output pixels (columns of `cols`) over all the images in `xp`.
    fn pixels(&self) -> usize {
        self.xp.len() / self.offsets.image_len * self.offsets.col.len()
    }
    /// Where in `xp` global pixel `q` starts: its image's start plus its own offset.
    fn pixel_offset(&self, q: usize) -> usize {
        let px = self.offsets.col.len();
        q / px * self.offsets.image_len + self.offsets.col[q % px]
    }
}

/// The separable offsets of a geometry into its prepared image (shared by every image of a
/// batch). Tap `(c, i, j)` and pixel `(y, x)` meet at padded column `x*s + j`, which lives in
/// phase `j % s` at position `x + j / s`: so along an output row, pixels are contiguous.
struct Offsets {
    row: Vec<usize>,
    col: Vec<usize>,
    /// Output pixels per output row: the pixels of one output row are one contiguous run.
    wo: usize,
    /// Length of one prepared image.
    image_len: usize,
}

impl Offsets {
    fn new(g: &Geometry) -> Self {
        let hp = g.padded().0;
        let (pl, rw) = g.phases();
        let s = g.p.stride[1];
        let row = (0..g.k())
            .map(|r| {
                let (c, i, j) = (r / (g.kh * g.kw), r / g.kw % g.kh, r % g.kw);
                c * hp * rw + i * rw + (j % s) * pl + j / s
            })
            .collect();
        let col = (0..g.pixels())
            .map(|q| (q / g.wo) * g.p.stride[0] * rw + q % g.wo)
            .collect();
        let unprepared = g.p.padding == [0, 0] && s == 1;
        let image_len = if unprepared {
            g.c * g.h * g.w
        } else {
            g.c * hp * rw
        };
        Offsets {
            row,
            col,
            wo: g.wo,
            image_len,
        }
    }
}

/// Kernel taps of `cols^T` packed side by side (see `pack_panel`).
const TAPS: usize = 8;

impl PackB for Columns<'_> {
    fn dims(&self) -> (usize, usize) {
        let (r, c) = (self.offsets.row.len(), self.pixels());
        if self.transposed {
            (c, r)
        } else {
            (r, c)
        }
    }

    fn pack_panel(
        &self,
        dst: &mut [f32],
        k0: usize,
        kc: usize,
        j0: usize,
        ncols: usize,
        nr: usize,
    ) {
        let o = self.offsets;
        // For cols^T, the panel's rows are the pixels k0 .. k0 + kc, the same for every
        // sliver: their contiguous runs (one per output row), as (first row, length, offset).
        let mut pixel_runs = Vec::new();
        if self.transposed {
            let mut p = 0;
            while p < kc {
                let q = k0 + p;
                // Images hold whole output rows, so a run never crosses into the next image.
                let len = (kc - p).min(o.wo - q % o.wo);
                pixel_runs.push((p, len, self.pixel_offset(q)));
                p += len;
            }
        }
        // One sliver at a time, written front to back: the reads come from the prepared image
        // (a few hundred KiB, in L2), and writing all slivers of a panel row by row instead
        // keeps dozens of store streams open at once, which ran at a third of the speed.
        for (s, sliver) in dst
            .chunks_exact_mut(kc * nr)
            .take(ncols.div_ceil(nr))
            .enumerate()
        {
            let q0 = j0 + s * nr;
            let w = nr.min(j0 + ncols - q0);
            if self.transposed {
                // cols^T: row p is output pixel k0 + p, columns are kernel taps. Eight taps
                // at a time: along a run of pixels each tap reads a contiguous stretch of
                // the image, so the eight are read side by side and each pixel's eight
                // values written as one run (gathering each pixel's taps one by one from
                // all over the image was a tenth of a ResNet-34 training step).
                let taps = &o.row[q0..q0 + w];
                let mut col = 0;
                while col + TAPS <= w {
                    let t: [usize; TAPS] = std::array::from_fn(|c| taps[col + c]);
                    for &(p0, len, at) in &pixel_runs {
                        let src: [&[f32]; TAPS] =
                            std::array::from_fn(|c| &self.xp[at + t[c]..][..len]);
                        let rows = sliver[p0 * nr..(p0 + len) * nr].chunks_exact_mut(nr);
                        for (i, out) in rows.enumerate() {
                            let out = &mut out[col..col + TAPS];
                            for c in 0..TAPS {
                                out[c] = src[c][i];
                            }
                        }
                    }
                    col += TAPS;
                }
                for (p, out) in sliver.chunks_exact_mut(nr).enumerate() {
                    let base = self.pixel_offset(k0 + p);
                    for (d, &t) in out[col..w].iter_mut().zip(&taps[col..]) {
                        *d = self.xp[base + t];
                    }
                    out[w..].fill(0.0);
                }
                continue;
            }
            // Row p is kernel tap k0 + p; the sliver's columns are output pixels, which come
            // in contiguous runs of the prepared image, one per output row. The runs are the
            // same for every tap: find them once, then copy them for each p.
            let mut runs = [(0usize, 0usize, 0usize); 8];
            let mut n_runs = 0;
            let mut j = 0;
            while j < w {
                let q = q0 + j;
                // Images hold whole output rows, so a run never crosses into the next image.
                let len = (w - j).min(o.wo - q % o.wo);
                if n_runs == runs.len() {
                    break;
                }
                runs[n_runs] = (j, len, self.pixel_offset(q));
                n_runs += 1;
                j += len;
            }
            for (p, out) in sliver.chunks_exact_mut(nr).enumerate() {
                let base = o.row[k0 + p];
                if j < w {
                    // More runs than fit the table (output rows narrower than NR / 8).
                    for (jj, d) in out[..w].iter_mut().enumerate() {
                        *d = self.xp[base + self.pixel_offset(q0 + jj)];
                    }
                } else {
                    for &(start, len, col) in &runs[..n_runs] {
                        let src = &self.xp[base + col..][..len];
                        for (d, &v) in out[start..start + len].iter_mut().zip(src) {
                            *d = v;
                        }
                    }
                }
                out[w..].fill(0.0);
            }
        }
    }
}

/// The image as the column packing reads it: zero-padded, and with each row split into
/// `stride` phases (columns 0, s, 2s, ... then 1, s+1, ... ), so that the pixels a strided
/// convolution reads along an output row are contiguous and copied as one run instead of
/// gathered one by one. The image itself when there is neither padding nor stride. `images`
/// may hold several images back to back; they are prepared back to back.
fn prepare<'a>(images: &'a [f32], g: &Geometry, buf: &'a mut Vec<f32>) -> &'a [f32] {
    let (ph, pw) = (g.p.padding[0], g.p.padding[1]);
    let s = g.p.stride[1];
    if ph == 0 && pw == 0 && s == 1 {
        return images;
    }
    let hp = g.padded().0;
    let (pl, rw) = g.phases();
    // Only the image's own pixels are written below; the padding must be zero. A buffer of
    // the right size already has zero padding (a task reuses its buffer for images of one
    // geometry), so it is zeroed only when it is (re)sized.
    let len = images.len() / (g.h * g.w) * hp * rw;
    if buf.len() != len {
        buf.clear();
        buf.resize(len, 0.0);
    }
    for (src, dst) in images
        .chunks_exact(g.h * g.w)
        .zip(buf.chunks_exact_mut(hp * rw))
    {
        for (row, out) in src
            .chunks_exact(g.w)
            .zip(dst[ph * rw..].chunks_exact_mut(rw))
        {
            if s == 1 {
                out[pw..pw + g.w].copy_from_slice(row);
                continue;
            }
            // Phase f holds padded columns f, f + s, f + 2s, ...: image columns
            // f - pw, f - pw + s, ... from the first that is not negative.
            for (f, phase) in out.chunks_exact_mut(pl).enumerate() {
                let first = pw.saturating_sub(f).div_ceil(s);
                let x0 = first * s + f - pw;
                for (d, &v) in phase[first..]
                    .iter_mut()
                    .zip(row.iter().skip(x0).step_by(s))
                {
                    *d = v;
                }
            }
        }
    }
    buf
}

/// Below this many output pixels per image, images are convolved a group at a time: about
/// this many pixels per group.
const GROUP_COLUMNS: usize = 1024;

/// For a stride-1 convolution, the input gradient is itself a convolution: of the output
/// gradient, padded by `k - 1 - p`, with the kernel flipped in space and its two channel
/// axes swapped (`[C_in, C_out, kh, kw]`). That runs through the implicit-im2col forward
/// instead of writing a column matrix and folding it back (col2im).
/// Each task writes one input channel's kernels, front to back (writing in the source's
/// order instead scattered the writes `ci` kernels apart: 512 -> 512 took milliseconds).
fn transposed_kernel(w: &[f32], [co, ci, kh, kw]: [usize; 4]) -> Vec<f32> {
    let taps = kh * kw;
    // Every element is written below.
    let mut out = crate::buffer_cache::take(w.len());
    out.par_chunks_mut(co * taps)
        .enumerate()
        .for_each(|(i, out)| {
            for (o, k) in out.chunks_exact_mut(taps).enumerate() {
                let src = &w[(o * ci + i) * taps..][..taps];
                // Flipped in both axes: tap (y, x) goes to (kh - 1 - y, kw - 1 - x).
                for (d, s) in k.iter_mut().zip(src.iter().rev()) {
                    *d = *s;
                }
            }
        });
    out
}

/// Images' `[co, px]` gradients (back to back in `dys`) side by side as one `[co, images *
/// px]` matrix: `dys` itself for one image, else a copy into `wide`.
fn side_by_side<'a>(dys: &'a [f32], co: usize, px: usize, wide: &'a mut Vec<f32>) -> &'a [f32] {
    let images = dys.len() / (co * px);
    if images == 1 {
        return dys;
    }
    wide.resize(co * images * px, 0.0);
    for (i, image) in dys.chunks_exact(co * px).enumerate() {
        for (o, row) in image.chunks_exact(px).enumerate() {
            wide[(o * images + i) * px..][..px].copy_from_slice(row);
        }
    }
    wide
}

/// How to spread a batch of `n` images over the rayon pool: `Some(per_task)` images per
/// task, each task running serial GEMMs (no synchronisation at all), when there are at least
/// as many images as threads; `None` to run images one after another with a parallel GEMM.
pub(super) fn images_per_task(n: usize) -> Option<usize> {
    let threads = rayon::current_num_threads();
    (threads > 1 && n >= threads).then(|| n.div_ceil(threads))
}

/// Whether a convolution of `n` images to `co` channels goes through Winograd's F(4x4, 3x3)
/// (`conv_winograd.rs`), forward and backward: where it measured faster, on 2 Zen 4 cores at
/// batch 16 against this file's path. ResNet-34's 3x3 stride-1 layers (64 -> 64 at 56 x 56,
/// 128 at 28, 256 at 14, 512 at 7, the last with a quarter of its tiles' outputs cropped)
/// took 25-45% less time forward. Fewer channels were no faster (32 -> 32 at 56 and 3 -> 64
/// were slower with F(2x2, 3x3) before it). Batches smaller than the pool would run its
/// transforms on one thread.
fn winograd(g: &Geometry, n: usize, co: usize) -> bool {
    conv_winograd::fits(g)
        && g.c.min(co) >= 64
        && g.ho.min(g.wo) >= 7
        && n >= rayon::current_num_threads()
}

/// Convolution of images `[n, C, H, W]` with `weight` `[co, C, kh, kw]`, plus an optional
/// `bias` `[co]`: `[n, co, H_out, W_out]`.
pub(crate) fn conv2d(
    (input, li): View,
    (weight, lw): View,
    bias: Option<View>,
    g: &Geometry,
) -> Result<CpuStorage> {
    const OP: &str = "conv2d";
    if input.dtype() == DType::F64 {
        return conv_explicit::conv2d::<f64>((input, li), (weight, lw), bias, g);
    }
    let (n, co) = (li.shape()[0], lw.shape()[0]);
    let (c, h, w) = (g.c, g.h, g.w);
    if n * co == 0 {
        return Ok(CpuStorage::F32(vec![0.0; n * co * g.pixels()]));
    }
    let x = layout_data(input.slice::<f32>(OP)?, li);
    let wt = layout_data(weight.slice::<f32>(OP)?, lw);
    let bias = bias
        .map(|(b, lb)| b.slice::<f32>(OP).map(|b| layout_data(b, lb)))
        .transpose()?;
    if winograd(g, n, co) {
        return conv_winograd::conv2d(&x, &wt, bias.as_deref(), co, g).map(CpuStorage::F32);
    }
    let (k, px) = (g.k(), g.pixels());
    let offsets = Offsets::new(g);
    let mut out = crate::buffer_cache::take(n * co * px);
    // Images with few pixels go through the GEMM a group at a time (their column
    // matrices side by side), so that its panels are wide enough to fill whole NR-wide
    // slivers and the weights are packed once per group, not once per image.
    let group = GROUP_COLUMNS.div_ceil(px).max(1);
    let beta = if bias.is_some() { 1.0 } else { 0.0 };
    let run = |x: &[f32], y: &mut [f32], parallel: bool| -> Result<()> {
        let (mut buf, mut wide) = (Vec::new(), Vec::new());
        for (xs, ys) in x
            .chunks(group * c * h * w)
            .zip(y.chunks_mut(group * co * px))
        {
            let images = xs.len() / (c * h * w);
            let cols = Columns {
                xp: prepare(xs, g, &mut buf),
                offsets: &offsets,
                transposed: false,
            };
            // One image writes straight into its output [co, px]; a group's product is
            // [co, images * px] and is then dealt out image by image.
            let c_out: &mut [f32] = if images == 1 {
                ys
            } else {
                wide.resize(co * images * px, 0.0);
                &mut wide
            };
            if let Some(b) = &bias {
                for (row, &bv) in c_out.chunks_exact_mut(images * px).zip(b.iter()) {
                    row.fill(bv);
                }
            }
            let cm = MatMut::new(c_out, co, images * px, images * px)?;
            gemm::gemm_with(
                1.0,
                MatRef::new(&wt, co, k, k, 1)?,
                &cols,
                beta,
                cm,
                parallel,
            )?;
            if images > 1 {
                for (o, row) in wide.chunks_exact(images * px).enumerate() {
                    for (i, part) in row.chunks_exact(px).enumerate() {
                        ys[(i * co + o) * px..][..px].copy_from_slice(part);
                    }
                }
            }
        }
        Ok(())
    };
    match images_per_task(n) {
        Some(per) => x
            .par_chunks(per * c * h * w)
            .zip(out.par_chunks_mut(per * co * px))
            .try_for_each(|(x, y)| run(x, y, false))?,
        None => run(&x, &mut out, true)?,
    }
    Ok(CpuStorage::F32(out))
}

/// Gradient of a convolution with respect to its input `[n, C, H, W]`:
/// `col2im(W^T * d_out)` per image, from `grad` `[n, co, H_out, W_out]`.
pub(crate) fn conv2d_backward_input(
    (grad, lg): View,
    (weight, lw): View,
    g: &Geometry,
) -> Result<CpuStorage> {
    const OP: &str = "conv2d_backward_input";
    if grad.dtype() == DType::F64 {
        return conv_explicit::conv2d_backward_input::<f64>((grad, lg), (weight, lw), g);
    }
    let (n, co) = (lg.shape()[0], lw.shape()[0]);
    let (c, h, w, kh, kw, p) = (g.c, g.h, g.w, g.kh, g.kw, g.p);
    if n * co == 0 {
        return Ok(CpuStorage::F32(vec![0.0; n * c * h * w]));
    }
    let wt = layout_data(weight.slice::<f32>(OP)?, lw);
    if p.stride == [1, 1] && p.padding[0] < kh && p.padding[1] < kw {
        let flipped = CpuStorage::F32(transposed_kernel(&wt, [co, c, kh, kw]));
        let p = Conv2dParams {
            stride: [1, 1],
            padding: [kh - 1 - p.padding[0], kw - 1 - p.padding[1]],
        };
        let flipped_g = Geometry::new(OP, co, g.ho, g.wo, kh, kw, p)?;
        let lf = Layout::contiguous(&[c, co, kh, kw]);
        return conv2d((grad, lg), (&flipped, &lf), None, &flipped_g);
    }
    let dy = layout_data(grad.slice::<f32>(OP)?, lg);
    let (k, px) = (g.k(), g.pixels());
    // col2im clears each plane before adding into it: a reused buffer will do.
    let mut dx = crate::buffer_cache::take(n * c * h * w);
    // Images with few pixels go a group at a time, as in the forward: one GEMM of
    // W^T [k, co] by the group's gradients side by side [co, images * px].
    let group = GROUP_COLUMNS.div_ceil(px).max(1);
    let run = |dy: &[f32], dx: &mut [f32], parallel: bool| -> Result<()> {
        let (mut dcols, mut wide) = (Vec::new(), Vec::new());
        for (dys, dxs) in dy
            .chunks(group * co * px)
            .zip(dx.chunks_mut(group * c * h * w))
        {
            let images = dys.len() / (co * px);
            dcols.resize(k * images * px, 0.0);
            // W^T is W with its strides swapped: no copy.
            let wt_t = MatRef::new(&wt, k, co, 1, k)?;
            let dyg = MatRef::new(
                side_by_side(dys, co, px, &mut wide),
                co,
                images * px,
                images * px,
                1,
            )?;
            let cm = MatMut::new(&mut dcols, k, images * px, images * px)?;
            gemm::gemm_with(1.0, wt_t, &dyg, 0.0, cm, parallel)?;
            for (i, dxi) in dxs.chunks_exact_mut(c * h * w).enumerate() {
                col2im_rows(&dcols[i * px..], images * px, g, dxi);
            }
        }
        Ok(())
    };
    match images_per_task(n) {
        Some(per) => dy
            .par_chunks(per * co * px)
            .zip(dx.par_chunks_mut(per * c * h * w))
            .try_for_each(|(dy, dx)| run(dy, dx, false))?,
        None => run(&dy, &mut dx, true)?,
    }
    Ok(CpuStorage::F32(dx))
}

/// Gradient of a convolution with respect to its weight `[co, C, kh, kw]`:
/// `sum_n d_out[n] * cols[n]^T`, from `grad` `[n, co, H_out, W_out]` and the forward's
/// `input`.
pub(crate) fn conv2d_backward_weight(
    (grad, lg): View,
    (input, li): View,
    g: &Geometry,
) -> Result<CpuStorage> {
    const OP: &str = "conv2d_backward_weight";
    if grad.dtype() == DType::F64 {
        return conv_explicit::conv2d_backward_weight::<f64>((grad, lg), (input, li), g);
    }
    let (n, co) = (lg.shape()[0], lg.shape()[1]);
    let (c, h, w) = (g.c, g.h, g.w);
    if n * co == 0 {
        return Ok(CpuStorage::F32(vec![0.0; co * g.k()]));
    }
    let dy = layout_data(grad.slice::<f32>(OP)?, lg);
    let x = layout_data(input.slice::<f32>(OP)?, li);
    // Each task's dU takes 36 floats per channel pair: 9.4 MB at 256 -> 256; 512 -> 512 at
    // 7 x 7 (38 MB per task) took 75% longer than the path below.
    if winograd(g, n, co) && g.c * co <= 256 * 256 {
        return conv_winograd::conv2d_backward_weight(&dy, &x, co, g).map(CpuStorage::F32);
    }
    let (k, px) = (g.k(), g.pixels());
    let offsets = Offsets::new(g);
    // The weight gradient of images `x` (with their `dy`), summed into `dw`.
    // Images with few pixels go a group at a time: one GEMM of the group's gradients side
    // by side [co, images * px] by their columns stacked [images * px, k], instead of a
    // product with an inner dimension of a few pixels per image, each rewriting all of dw.
    let group = GROUP_COLUMNS.div_ceil(px).max(1);
    let run = |dy: &[f32], x: &[f32], dw: &mut [f32], parallel: bool| -> Result<()> {
        let (mut buf, mut wide) = (Vec::new(), Vec::new());
        for (i, (dys, xs)) in dy
            .chunks(group * co * px)
            .zip(x.chunks(group * c * h * w))
            .enumerate()
        {
            let images = dys.len() / (co * px);
            let cols_t = Columns {
                xp: prepare(xs, g, &mut buf),
                offsets: &offsets,
                transposed: true,
            };
            let beta = if i == 0 { 0.0 } else { 1.0 };
            gemm::gemm_with(
                1.0,
                MatRef::new(
                    side_by_side(dys, co, px, &mut wide),
                    co,
                    images * px,
                    images * px,
                    1,
                )?,
                &cols_t,
                beta,
                MatMut::new(dw, co, k, k)?,
                parallel,
            )?;
        }
        Ok(())
    };
    let dw = match images_per_task(n) {
        // One partial gradient per task, added up at the end.
        Some(per) => sum_partials(
            dy.par_chunks(per * co * px)
                .zip(x.par_chunks(per * c * h * w))
                .map(|(dy, x)| {
                    // The first GEMM (beta 0) writes every element.
                    let mut dw = crate::buffer_cache::take(co * k);
                    run(dy, x, &mut dw, false).map(|_| dw)
                })
                .collect::<Result<_>>()?,
        ),
        None => {
            let mut dw = vec![0f32; co * k];
            if n > 0 {
                run(&dy, &x, &mut dw, true)?;
            }
            dw
        }
    };
    Ok(CpuStorage::F32(dw))
}

/// The sum of the tasks' partial gradients (at least one), a stretch of it per rayon task,
/// instead of on one thread while the other cores wait (about 1% of a ResNet-34 training
/// step by an earlier profile; no faster or slower measured within this machine's noise).
pub(super) fn sum_partials(mut partials: Vec<Vec<f32>>) -> Vec<f32> {
    const CHUNK: usize = 1 << 14;
    let mut sum = partials.remove(0);
    sum.par_chunks_mut(CHUNK).enumerate().for_each(|(i, out)| {
        for p in &partials {
            for (o, v) in out.iter_mut().zip(&p[i * CHUNK..]) {
                *o += v;
            }
        }
    });
    partials.into_iter().for_each(crate::buffer_cache::recycle);
    sum
}

/// im2col of a batch `[n, C, H, W]`: `[n, C*kh*kw, H_out*W_out]`.
pub(crate) fn im2col((input, li): View, g: &Geometry) -> Result<CpuStorage> {
    const OP: &str = "im2col";
    let n = li.shape()[0];
    with_float!(OP, input.dtype(), T => {
        let x = layout_data(input.slice::<T>(OP)?, li);
        let mut cols = vec![T::ZERO; n * g.k() * g.pixels()];
        for (image, c) in x
            .chunks_exact(g.c * g.h * g.w)
            .zip(cols.chunks_exact_mut(g.k() * g.pixels()))
        {
            im2col_image(image, g, c);
        }
        Ok(T::into_storage(cols))
    })
}

/// col2im: folds columns `[n, C*kh*kw, H_out*W_out]` back onto images `[n, C, H, W]`,
/// adding overlapping windows (the adjoint of [`im2col`]).
pub(crate) fn col2im((cols, lc): View, g: &Geometry) -> Result<CpuStorage> {
    const OP: &str = "col2im";
    let n = lc.shape()[0];
    with_float!(OP, cols.dtype(), T => {
        let cols = layout_data(cols.slice::<T>(OP)?, lc);
        let mut x = vec![T::ZERO; n * g.c * g.h * g.w];
        for (col, image) in cols
            .chunks_exact(g.k() * g.pixels())
            .zip(x.chunks_exact_mut(g.c * g.h * g.w))
        {
            col2im_image(col, g, image);
        }
        Ok(T::into_storage(x))
    })
}
