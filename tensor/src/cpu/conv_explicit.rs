//! Convolution and its two gradients written out as their definition: an explicit column
//! matrix per image (im2col), a plain matrix product, and col2im for the input gradient.
//! This is the f64 path (gradient checks on small images): clear rather than fast, and
//! independent of the f32 path's implicit im2col (`conv.rs`), so the two check each other.
//! The column matrix of one image and its adjoint, written here, also serve the explicit
//! `im2col` and `col2im` ops and the f32 input gradient.
//!
//! For one image, with `cols = im2col(x)` (`[C*kh*kw, H_out*W_out]`) and the weight seen as
//! `W` (`[C_out, C*kh*kw]`):
//! - forward: `y = W * cols` (+ bias on each output channel's row);
//! - input gradient: `dx = col2im(W^T * dy)`;
//! - weight gradient: `dW = sum over images of dy * cols^T`.
//!
//! The front end (`ops/conv.rs`) has checked the shapes and built the [`Geometry`]; the
//! batch size `n` and the output channels `co` are read from the operands' layouts.
use super::simple_gemm::{gemm_acc, Mat};
use super::{layout_data, CpuStorage, View};
use crate::conv_geometry::Geometry;
use crate::{Float, Result};
use rayon::prelude::*;

/// Fills `cols` (`[c*kh*kw, ho*wo]`) from one image `x` (`[c, h, w]`, contiguous).
pub(super) fn im2col_image<T: Float>(x: &[T], g: &Geometry, cols: &mut [T]) {
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
pub(super) fn col2im_image<T: Float>(cols: &[T], g: &Geometry, x: &mut [T]) {
    col2im_rows(cols, g.pixels(), g, x)
}

/// [`col2im_image`] from columns whose rows are `ld` apart (one image's block of a group's
/// wider column matrix, `cols` starting at the block).
pub(super) fn col2im_rows<T: Float>(cols: &[T], ld: usize, g: &Geometry, x: &mut [T]) {
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

/// Elements of one input image.
fn image_len(g: &Geometry) -> usize {
    g.c * g.h * g.w
}

/// `conv2d` of `x` `[n, C, H, W]` with `w` `[co, C, kh, kw]` and an optional `bias` `[co]`.
pub(super) fn conv2d<T: Float>(
    (x, lx): View,
    (w, lw): View,
    bias: Option<View>,
    g: &Geometry,
) -> Result<CpuStorage> {
    const OP: &str = "conv2d";
    let (n, co) = (lx.shape()[0], lw.shape()[0]);
    let x = layout_data(x.slice::<T>(OP)?, lx);
    let w = layout_data(w.slice::<T>(OP)?, lw);
    let bias = bias
        .map(|(b, lb)| b.slice::<T>(OP).map(|b| layout_data(b, lb)))
        .transpose()?;
    let (k, px) = (g.k(), g.pixels());
    let mut out = vec![T::ZERO; n * co * px];
    if n * co > 0 {
        let mut cols = vec![T::ZERO; k * px];
        for (xi, yi) in x
            .chunks_exact(image_len(g))
            .zip(out.chunks_exact_mut(co * px))
        {
            if let Some(b) = &bias {
                for (row, &bv) in yi.chunks_exact_mut(px).zip(b.iter()) {
                    row.fill(bv);
                }
            }
            im2col_image(xi, g, &mut cols);
            gemm_acc(Mat::row_major(&w, co, k), Mat::row_major(&cols, k, px), yi);
        }
    }
    Ok(T::into_storage(out))
}

/// Gradient with respect to the input: `dy` `[n, co, H_out, W_out]`, `w` `[co, C, kh, kw]`,
/// result `[n, C, H, W]`.
pub(super) fn conv2d_backward_input<T: Float>(
    (dy, ldy): View,
    (w, lw): View,
    g: &Geometry,
) -> Result<CpuStorage> {
    const OP: &str = "conv2d_backward_input";
    let (n, co) = (ldy.shape()[0], lw.shape()[0]);
    let dy = layout_data(dy.slice::<T>(OP)?, ldy);
    let w = layout_data(w.slice::<T>(OP)?, lw);
    let (k, px) = (g.k(), g.pixels());
    let mut dx = vec![T::ZERO; n * image_len(g)];
    if n * co > 0 {
        let mut dcols = vec![T::ZERO; k * px];
        for (dyi, dxi) in dy
            .chunks_exact(co * px)
            .zip(dx.chunks_exact_mut(image_len(g)))
        {
            dcols.fill(T::ZERO);
            gemm_acc(
                Mat::row_major(&w, co, k).t(),
                Mat::row_major(dyi, co, px),
                &mut dcols,
            );
            col2im_image(&dcols, g, dxi);
        }
    }
    Ok(T::into_storage(dx))
}

/// Gradient with respect to the weight: `dy` `[n, co, H_out, W_out]`, `x` the forward input
/// `[n, C, H, W]`, result `[co, C, kh, kw]`.
pub(super) fn conv2d_backward_weight<T: Float>(
    (dy, ldy): View,
    (x, lx): View,
    g: &Geometry,
) -> Result<CpuStorage> {
    const OP: &str = "conv2d_backward_weight";
    let (n, co) = (ldy.shape()[0], ldy.shape()[1]);
    let dy = layout_data(dy.slice::<T>(OP)?, ldy);
    let x = layout_data(x.slice::<T>(OP)?, lx);
    let (k, px) = (g.k(), g.pixels());
    let mut dw = vec![T::ZERO; co * k];
    if n * co > 0 {
        let mut cols = vec![T::ZERO; k * px];
        for (dyi, xi) in dy.chunks_exact(co * px).zip(x.chunks_exact(image_len(g))) {
            im2col_image(xi, g, &mut cols);
            gemm_acc(
                Mat::row_major(dyi, co, px),
                Mat::row_major(&cols, k, px).t(),
                &mut dw,
            );
        }
    }
    Ok(T::into_storage(dw))
}
