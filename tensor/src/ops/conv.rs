//! 2-D convolution as im2col + GEMM, and the two GEMMs + col2im of its backward pass.
//!
//! im2col turns each output pixel's receptive field into a column: for an image `[C, H, W]`
//! and a `kh x kw` kernel, `cols` is `[C*kh*kw, H_out*W_out]`, row `(c, i, j)` holding input
//! pixel `(c, y*s + i - p, x*s + j - p)` (or 0 in the padding) for every output pixel `(y, x)`.
//! Then the convolution of one image is one matrix product (the lesson's "a convolution is
//! just a matrix multiply"): `out [C_out, H_out*W_out] = W [C_out, C*kh*kw] * cols`.
//! Backward: `d_cols = W^T * d_out`, folded back onto the image by col2im (overlapping
//! windows add up), and `d_W = sum over images of d_out * cols^T`.
//!
//! Like PyTorch's `conv2d`, this is a cross-correlation (the kernel is not flipped).
//!
//! f32 takes the fast path below (implicit im2col through the packed GEMM). f64 (gradient
//! checks) takes the explicit path of [`super::conv_explicit`]: im2col, a plain product and
//! col2im, which is the definition above written out.
use super::conv_explicit;
use crate::gemm::{self, MatMut, MatRef, PackB};
use crate::{DType, Error, Float, Result, Tensor};
use rayon::prelude::*;

/// Stride and zero padding of a convolution or pooling window, as (height, width).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Conv2dParams {
    /// The same stride and padding along height and width.
    pub fn new(stride: usize, padding: usize) -> Self {
        Conv2dParams {
            stride: [stride; 2],
            padding: [padding; 2],
        }
    }

    /// Output size along one axis for input size `n` and kernel size `k`, or an error when
    /// the (padded) input is smaller than the kernel or the stride is 0.
    pub(crate) fn out_size(
        &self,
        op: &'static str,
        axis: usize,
        n: usize,
        k: usize,
    ) -> Result<usize> {
        let (s, p) = (self.stride[axis], self.padding[axis]);
        if s == 0 || k == 0 {
            return Err(Error::invalid(
                op,
                format!("stride {s} and kernel size {k} must be positive"),
            ));
        }
        if n + 2 * p < k {
            return Err(Error::shape(
                op,
                format!("input size {n} with padding {p} is smaller than the kernel size {k}"),
            ));
        }
        Ok((n + 2 * p - k) / s + 1)
    }
}

/// Geometry of one convolution: input `[c, h, w]`, kernel `kh x kw`, output `ho x wo`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub ho: usize,
    pub wo: usize,
    pub p: Conv2dParams,
}

impl Geometry {
    pub(crate) fn new(
        op: &'static str,
        c: usize,
        h: usize,
        w: usize,
        kh: usize,
        kw: usize,
        p: Conv2dParams,
    ) -> Result<Self> {
        if c == 0 || h == 0 || w == 0 {
            return Err(Error::shape(
                op,
                format!("an image of {c} channels of {h} x {w} pixels is empty"),
            ));
        }
        Ok(Geometry {
            c,
            h,
            w,
            kh,
            kw,
            ho: p.out_size(op, 0, h, kh)?,
            wo: p.out_size(op, 1, w, kw)?,
            p,
        })
    }
    /// Rows of the column matrix: `c * kh * kw`.
    pub fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }
    /// Columns of the column matrix: output pixels.
    pub fn pixels(&self) -> usize {
        self.ho * self.wo
    }
    /// Height and width of the zero-padded image.
    fn padded(&self) -> (usize, usize) {
        (
            self.h + 2 * self.p.padding[0],
            self.w + 2 * self.p.padding[1],
        )
    }
    /// Phase length and row length of the prepared image (see [`prepare`]): each padded row
    /// of `wp` pixels is stored as `stride` phases of `ceil(wp / stride)` pixels.
    fn phases(&self) -> (usize, usize) {
        let s = self.p.stride[1];
        let pl = self.padded().1.div_ceil(s);
        (pl, s * pl)
    }
    /// The input coordinate that output coordinate `o` reads at kernel offset `i` along
    /// `axis`, if it lies inside the image.
    pub(crate) fn source(&self, axis: usize, o: usize, i: usize) -> Option<usize> {
        let (s, p, n) = (
            self.p.stride[axis],
            self.p.padding[axis],
            [self.h, self.w][axis],
        );
        (o * s + i).checked_sub(p).filter(|&v| v < n)
    }
}

/// Fills `cols` (`[c*kh*kw, ho*wo]`) from one image `x` (`[c, h, w]`, contiguous).
pub(crate) fn im2col_image<T: Float>(x: &[T], g: &Geometry, cols: &mut [T]) {
    let fill_row = |(r, row): (usize, &mut [T])| {
        let (c, i, j) = (r / (g.kh * g.kw), r / g.kw % g.kh, r % g.kw);
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for (oy, out) in row.chunks_exact_mut(g.wo).enumerate() {
            match g.source(0, oy, i) {
                None => out.fill(T::ZERO),
                Some(iy) => {
                    let src = &plane[iy * g.w..(iy + 1) * g.w];
                    for (ox, o) in out.iter_mut().enumerate() {
                        *o = g.source(1, ox, j).map_or(T::ZERO, |ix| src[ix]);
                    }
                }
            }
        }
    };
    if cols.len() >= crate::strided::PAR_THRESHOLD {
        cols.par_chunks_mut(g.pixels())
            .enumerate()
            .for_each(fill_row);
    } else {
        cols.chunks_mut(g.pixels()).enumerate().for_each(fill_row);
    }
}

/// Adds the columns `cols` (`[c*kh*kw, ho*wo]`) back onto one image `x` (`[c, h, w]`): the
/// adjoint of im2col. Each channel plane is summed by one task, so no two tasks write the
/// same pixel (no atomics, deterministic).
pub(crate) fn col2im_image<T: Float>(cols: &[T], g: &Geometry, x: &mut [T]) {
    col2im_rows(cols, g.pixels(), g, x)
}

/// [`col2im_image`] from columns whose rows are `ld` apart (one image's block of a group's
/// wider column matrix, `cols` starting at the block).
fn col2im_rows<T: Float>(cols: &[T], ld: usize, g: &Geometry, x: &mut [T]) {
    let taps = g.kh * g.kw;
    let per_plane = |(c, plane): (usize, &mut [T])| {
        plane.fill(T::ZERO);
        for t in 0..taps {
            let (i, j) = (t / g.kw, t % g.kw);
            let row = &cols[(c * taps + t) * ld..][..g.pixels()];
            for (oy, src) in row.chunks_exact(g.wo).enumerate() {
                let Some(iy) = g.source(0, oy, i) else {
                    continue;
                };
                let dst = &mut plane[iy * g.w..(iy + 1) * g.w];
                for (ox, &v) in src.iter().enumerate() {
                    if let Some(ix) = g.source(1, ox, j) {
                        dst[ix] += v;
                    }
                }
            }
        }
    };
    if x.len() >= crate::strided::PAR_THRESHOLD {
        x.par_chunks_mut(g.h * g.w).enumerate().for_each(per_plane);
    } else {
        x.chunks_mut(g.h * g.w).enumerate().for_each(per_plane);
    }
}

pub(crate) fn expect_rank(op: &'static str, name: &str, t: &Tensor, rank: usize) -> Result<()> {
    if t.rank() != rank {
        return Err(Error::shape(
            op,
            format!(
                "{name} must have {rank} dimensions, got shape {:?}",
                t.shape()
            ),
        ));
    }
    Ok(())
}

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
fn transposed_kernel(weight: &Tensor) -> Result<Tensor> {
    let s = weight.shape();
    let (co, ci, kh, kw) = (s[0], s[1], s[2], s[3]);
    let w = weight.contiguous_data::<f32>("conv2d_backward_input")?;
    let mut out = vec![0f32; w.len()];
    for o in 0..co {
        for i in 0..ci {
            for y in 0..kh {
                for x in 0..kw {
                    out[((i * co + o) * kh + kh - 1 - y) * kw + kw - 1 - x] =
                        w[((o * ci + i) * kh + y) * kw + x];
                }
            }
        }
    }
    Tensor::from_vec(out, &[ci, co, kh, kw])
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
fn images_per_task(n: usize) -> Option<usize> {
    let threads = rayon::current_num_threads();
    (threads > 1 && n >= threads).then(|| n.div_ceil(threads))
}

impl Tensor {
    /// 2-D convolution (cross-correlation) of `self` `[N, C, H, W]` with `weight`
    /// `[C_out, C, kh, kw]`, plus an optional `bias` `[C_out]`: `[N, C_out, H_out, W_out]`.
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        p: Conv2dParams,
    ) -> Result<Tensor> {
        const OP: &str = "conv2d";
        expect_rank(OP, "input", self, 4)?;
        expect_rank(OP, "weight", weight, 4)?;
        let (n, c, h, w) = (
            self.shape()[0],
            self.shape()[1],
            self.shape()[2],
            self.shape()[3],
        );
        let (co, ci, kh, kw) = (
            weight.shape()[0],
            weight.shape()[1],
            weight.shape()[2],
            weight.shape()[3],
        );
        if ci != c {
            return Err(Error::shape(
                OP,
                format!(
                    "input {:?} has {c} channels but weight {:?} expects {ci}",
                    self.shape(),
                    weight.shape()
                ),
            ));
        }
        if let Some(b) = bias {
            if b.shape() != [co] {
                return Err(Error::shape(
                    OP,
                    format!("bias {:?} must have shape [{co}]", b.shape()),
                ));
            }
        }
        let g = Geometry::new(OP, c, h, w, kh, kw, p)?;
        let mut operands = vec![self, weight];
        operands.extend(bias);
        if let Some(gpu) = crate::cuda::gpu_of(OP, &operands)? {
            return crate::cuda::conv2d(&gpu, self, weight, bias, &g, n, co);
        }
        if self.dtype() == DType::F64 {
            return conv_explicit::conv2d::<f64>(self, weight, bias, &g, n, co);
        }
        if n * co == 0 {
            return Ok(Tensor::zeros(&[n, co, g.ho, g.wo]));
        }
        let x = self.contiguous_data::<f32>(OP)?;
        let wt = weight.contiguous_data::<f32>(OP)?;
        let bias = bias.map(|b| b.contiguous_data::<f32>(OP)).transpose()?;
        let (k, px) = (g.k(), g.pixels());
        let offsets = Offsets::new(&g);
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
                    xp: prepare(xs, &g, &mut buf),
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
        Tensor::from_vec(out, &[n, co, g.ho, g.wo])
    }

    /// im2col of a batch `[N, C, H, W]`: `[N, C*kh*kw, H_out*W_out]`.
    pub fn im2col(&self, kh: usize, kw: usize, p: Conv2dParams) -> Result<Tensor> {
        const OP: &str = "im2col";
        expect_rank(OP, "input", self, 4)?;
        let s = self.shape();
        let g = Geometry::new(OP, s[1], s[2], s[3], kh, kw, p)?;
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self])? {
            return crate::cuda::im2col(&gpu, self, &g, s[0]);
        }
        with_float!(OP, self.dtype(), T => {
            let x = self.contiguous_data::<T>(OP)?;
            let mut cols = vec![T::ZERO; s[0] * g.k() * g.pixels()];
            for (image, c) in x
                .chunks_exact(g.c * g.h * g.w)
                .zip(cols.chunks_exact_mut(g.k() * g.pixels()))
            {
                im2col_image(image, &g, c);
            }
            Tensor::from_vec(cols, &[s[0], g.k(), g.pixels()])
        })
    }

    /// col2im: folds columns `[N, C*kh*kw, H_out*W_out]` back onto images of `input_shape`
    /// `[N, C, H, W]`, adding overlapping windows (the adjoint of [`Tensor::im2col`]).
    pub fn col2im(
        &self,
        input_shape: &[usize],
        kh: usize,
        kw: usize,
        p: Conv2dParams,
    ) -> Result<Tensor> {
        const OP: &str = "col2im";
        if input_shape.len() != 4 {
            return Err(Error::shape(
                OP,
                format!("input shape {input_shape:?} must have 4 dimensions"),
            ));
        }
        let [n, c, h, w] = [
            input_shape[0],
            input_shape[1],
            input_shape[2],
            input_shape[3],
        ];
        let g = Geometry::new(OP, c, h, w, kh, kw, p)?;
        if self.shape() != [n, g.k(), g.pixels()] {
            return Err(Error::shape(
                OP,
                format!(
                    "columns {:?} do not match input {input_shape:?} with a {kh}x{kw} kernel: expected [{n}, {}, {}]",
                    self.shape(),
                    g.k(),
                    g.pixels()
                ),
            ));
        }
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self])? {
            return crate::cuda::col2im(&gpu, self, &g, n);
        }
        with_float!(OP, self.dtype(), T => {
            let cols = self.contiguous_data::<T>(OP)?;
            let mut x = vec![T::ZERO; n * c * h * w];
            for (col, image) in cols
                .chunks_exact(g.k() * g.pixels())
                .zip(x.chunks_exact_mut(c * h * w))
            {
                col2im_image(col, &g, image);
            }
            Tensor::from_vec(x, input_shape)
        })
    }

    /// Gradient of a convolution with respect to its input: `col2im(W^T * d_out)` per image.
    /// `self` is `d_out` `[N, C_out, H_out, W_out]`.
    pub fn conv2d_backward_input(
        &self,
        weight: &Tensor,
        input_shape: &[usize],
        p: Conv2dParams,
    ) -> Result<Tensor> {
        const OP: &str = "conv2d_backward_input";
        expect_rank(OP, "grad_output", self, 4)?;
        expect_rank(OP, "weight", weight, 4)?;
        if input_shape.len() != 4 {
            return Err(Error::shape(
                OP,
                format!("input shape {input_shape:?} must have 4 dimensions"),
            ));
        }
        let (co, ci, kh, kw) = (
            weight.shape()[0],
            weight.shape()[1],
            weight.shape()[2],
            weight.shape()[3],
        );
        let [n, c, h, w] = [
            input_shape[0],
            input_shape[1],
            input_shape[2],
            input_shape[3],
        ];
        let g = Geometry::new(OP, c, h, w, kh, kw, p)?;
        if ci != c || self.shape() != [n, co, g.ho, g.wo] {
            return Err(Error::shape(
                OP,
                format!(
                    "grad_output {:?} and weight {:?} do not match input {input_shape:?}",
                    self.shape(),
                    weight.shape()
                ),
            ));
        }
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self, weight])? {
            return crate::cuda::conv2d_backward_input(&gpu, self, weight, &g, n, co);
        }
        if self.dtype() == DType::F64 {
            return conv_explicit::backward_input::<f64>(self, weight, &g, n, co);
        }
        if n * co == 0 {
            return Ok(Tensor::zeros(input_shape));
        }
        if p.stride == [1, 1] && p.padding[0] < kh && p.padding[1] < kw {
            return self.conv2d(
                &transposed_kernel(weight)?,
                None,
                Conv2dParams {
                    stride: [1, 1],
                    padding: [kh - 1 - p.padding[0], kw - 1 - p.padding[1]],
                },
            );
        }
        let dy = self.contiguous_data::<f32>(OP)?;
        let wt = weight.contiguous_data::<f32>(OP)?;
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
                    col2im_rows(&dcols[i * px..], images * px, &g, dxi);
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
        Tensor::from_vec(dx, input_shape)
    }

    /// Gradient of a convolution with respect to its weight: `sum_n d_out[n] * cols[n]^T`.
    /// `self` is `d_out` `[N, C_out, H_out, W_out]`; `input` is the forward input.
    pub fn conv2d_backward_weight(
        &self,
        input: &Tensor,
        kernel: [usize; 2],
        p: Conv2dParams,
    ) -> Result<Tensor> {
        const OP: &str = "conv2d_backward_weight";
        expect_rank(OP, "grad_output", self, 4)?;
        expect_rank(OP, "input", input, 4)?;
        let s = input.shape();
        let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
        let g = Geometry::new(OP, c, h, w, kernel[0], kernel[1], p)?;
        let co = self.shape()[1];
        if self.shape() != [n, co, g.ho, g.wo] {
            return Err(Error::shape(
                OP,
                format!(
                    "grad_output {:?} does not match input {s:?} with a {}x{} kernel: expected [{n}, C_out, {}, {}]",
                    self.shape(),
                    kernel[0],
                    kernel[1],
                    g.ho,
                    g.wo
                ),
            ));
        }
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self, input])? {
            return crate::cuda::conv2d_backward_weight(&gpu, self, input, &g, n, co);
        }
        if self.dtype() == DType::F64 {
            return conv_explicit::backward_weight::<f64>(self, input, &g, n, co);
        }
        if n * co == 0 {
            return Ok(Tensor::zeros(&[co, c, kernel[0], kernel[1]]));
        }
        let dy = self.contiguous_data::<f32>(OP)?;
        let x = input.contiguous_data::<f32>(OP)?;
        let (k, px) = (g.k(), g.pixels());
        let offsets = Offsets::new(&g);
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
                    xp: prepare(xs, &g, &mut buf),
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
            Some(per) => dy
                .par_chunks(per * co * px)
                .zip(x.par_chunks(per * c * h * w))
                .map(|(dy, x)| {
                    let mut dw = vec![0f32; co * k];
                    run(dy, x, &mut dw, false).map(|_| dw)
                })
                .try_reduce_with(|mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                    Ok(a)
                })
                .unwrap_or_else(|| Ok(vec![0f32; co * k]))?,
            None => {
                let mut dw = vec![0f32; co * k];
                if n > 0 {
                    run(&dy, &x, &mut dw, true)?;
                }
                dw
            }
        };
        Tensor::from_vec(dw, &[co, c, kernel[0], kernel[1]])
    }
}
