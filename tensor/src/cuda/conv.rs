//! Convolution on the GPU: im2col into column matrices, a batch at a time, then one strided
//! batched cuBLAS product with the weight (repeated with batch stride 0); the input gradient
//! is the transposed product followed by col2im (gather form, no atomics); the weight
//! gradient is one product per chunk of images, their columns side by side (accumulated
//! over chunks with beta = 1). A 1x1 convolution of stride 1 without padding builds no
//! columns: its columns are its input, so its products read the input and write the input
//! gradient in place, with no im2col or col2im.
use super::{alloc, kernel_error, kernel_layout, zeros, CudaStorage, View};
use crate::conv_geometry::Geometry;
use crate::{Error, Layout, Result};
use kernels::{ConvGeometry, CudaSlice, Gemm, Gpu, Operand};
use std::sync::Arc;

fn geometry(g: &Geometry) -> Result<ConvGeometry> {
    let v = |n: usize| {
        u32::try_from(n).map_err(|_| Error::argument("conv2d", "a size", n as f64, "below 2^32"))
    };
    Ok(ConvGeometry {
        c: v(g.c)?,
        h: v(g.h)?,
        w: v(g.w)?,
        kh: v(g.kh)?,
        kw: v(g.kw)?,
        sh: v(g.p.stride[0])?,
        sw: v(g.p.stride[1])?,
        ph: v(g.p.padding[0])?,
        pw: v(g.p.padding[1])?,
        oh: v(g.ho)?,
        ow: v(g.wo)?,
    })
}

/// Images per chunk, so that a chunk's columns fit in the GPU's [`Gpu::conv_columns`] bytes
/// (one image at least).
fn chunk(gpu: &Gpu, g: &ConvGeometry) -> usize {
    let image = g.k() * g.pixels() * std::mem::size_of::<f32>();
    (gpu.conv_columns() / image.max(1)).max(1)
}

/// Images per chunk and a buffer for a chunk's column matrices; or the whole batch and no
/// buffer when the columns are the images themselves (a 1x1 convolution of stride 1 without
/// padding): the products then read the input, or write the input gradient, where it is.
fn chunks(
    op: &'static str,
    gpu: &Arc<Gpu>,
    g: &ConvGeometry,
    n: usize,
) -> Result<(usize, Option<CudaSlice<f32>>)> {
    if g.columns_are_input() {
        return Ok((n.max(1), None));
    }
    let step = chunk(gpu, g);
    Ok((
        step,
        Some(alloc(op, gpu, step.min(n) * g.k() * g.pixels())?),
    ))
}

/// Convolution of images `[n, C, H, W]` with `weight` `[co, C, kh, kw]`, plus an optional
/// `bias` `[co]`: `[n, co, H_out, W_out]`.
pub(crate) fn conv2d(
    (input, li): View,
    (weight, lw): View,
    bias: Option<View>,
    g: &Geometry,
) -> Result<CudaStorage> {
    const OP: &str = "conv2d";
    let (gpu, n, co) = (input.gpu(), li.shape()[0], lw.shape()[0]);
    let cg = geometry(g)?;
    let (k, px) = (cg.k(), cg.pixels());
    let xs = input.f32_rows(OP, li)?;
    let w = weight.f32_rows(OP, lw)?;
    let mut out = alloc(OP, gpu, n * co * px)?;
    let (step, mut cols) = chunks(OP, gpu, &cg, n)?;
    for n0 in (0..n).step_by(step) {
        let imgs = step.min(n - n0);
        let xv = xs.view();
        let xv = xv.slice(n0 * cg.image_len()..);
        let cv = match &mut cols {
            Some(cols) => {
                gpu.im2col(imgs, &cg, &xv, cols, false)
                    .map_err(kernel_error(OP))?;
                cols.as_view()
            }
            None => xv,
        };
        let wv = w.view();
        let mut ov = out.slice_mut(n0 * co * px..(n0 + imgs) * co * px);
        gpu.gemm(
            Gemm {
                batch: imgs,
                m: co,
                n: px,
                k,
            },
            Operand {
                data: &wv,
                transposed: false,
                batch_stride: 0,
            },
            Operand {
                data: &cv,
                transposed: false,
                batch_stride: k * px,
            },
            &mut ov,
            0.0,
        )
        .map_err(kernel_error(OP))?;
    }
    if let Some((b, lb)) = bias {
        gpu.add_channel_bias([co, px], &b.f32_rows(OP, lb)?.view(), &mut out)
            .map_err(kernel_error(OP))?;
    }
    Ok(CudaStorage::f32(gpu, out))
}

/// Gradient of a convolution with respect to its input `[n, C, H, W]`, from `grad`
/// `[n, co, H_out, W_out]`.
pub(crate) fn conv2d_backward_input(
    (grad, lg): View,
    (weight, lw): View,
    g: &Geometry,
) -> Result<CudaStorage> {
    const OP: &str = "conv2d_backward_input";
    let (gpu, n, co) = (grad.gpu(), lg.shape()[0], lw.shape()[0]);
    let cg = geometry(g)?;
    let (k, px) = (cg.k(), cg.pixels());
    let dys = grad.f32_rows(OP, lg)?;
    let w = weight.f32_rows(OP, lw)?;
    let mut dx = alloc(OP, gpu, n * cg.image_len())?;
    let (step, mut cols) = chunks(OP, gpu, &cg, n)?;
    for n0 in (0..n).step_by(step) {
        let imgs = step.min(n - n0);
        let (wv, dv) = (w.view(), dys.view());
        let dv = dv.slice(n0 * co * px..);
        let chunk_dx = n0 * cg.image_len()..(n0 + imgs) * cg.image_len();
        // The product's columns, then folded onto the images; or the images' gradient itself.
        let mut cv = match &mut cols {
            Some(cols) => cols.as_view_mut(),
            None => dx.slice_mut(chunk_dx.clone()),
        };
        gpu.gemm(
            Gemm {
                batch: imgs,
                m: k,
                n: px,
                k: co,
            },
            Operand {
                data: &wv,
                transposed: true,
                batch_stride: 0,
            },
            Operand {
                data: &dv,
                transposed: false,
                batch_stride: co * px,
            },
            &mut cv,
            0.0,
        )
        .map_err(kernel_error(OP))?;
        if let Some(cols) = &cols {
            gpu.col2im(imgs, &cg, &cols.as_view(), &mut dx.slice_mut(chunk_dx))
                .map_err(kernel_error(OP))?;
        }
    }
    Ok(CudaStorage::f32(gpu, dx))
}

/// Gradient of a convolution with respect to its weight `[co, C, kh, kw]`, from `grad`
/// `[n, co, H_out, W_out]` and the forward's `input`.
pub(crate) fn conv2d_backward_weight(
    (grad, lg): View,
    (input, li): View,
    g: &Geometry,
) -> Result<CudaStorage> {
    const OP: &str = "conv2d_backward_weight";
    let (gpu, n, co) = (grad.gpu(), lg.shape()[0], lg.shape()[1]);
    let cg = geometry(g)?;
    let (k, px) = (cg.k(), cg.pixels());
    if n == 0 {
        // No images: an empty sum.
        return Ok(CudaStorage::f32(gpu, zeros(OP, gpu, co * k)?));
    }
    let xs = input.f32_rows(OP, li)?;
    // The gradient in row-major order, seen as [n, co, px].
    let dys = grad.f32_rows(OP, lg)?;
    let dy = Layout::contiguous(&[n, co, px]);
    let mut dw = alloc(OP, gpu, co * k)?;
    let step = chunk(gpu, &cg);
    // A chunk's columns side by side, [k, imgs*px], and its dy as [co, imgs*px]: the weight
    // gradient is one product per chunk, dW += dY cols^T, not one small product per image.
    let mut cols = alloc(OP, gpu, step.min(n) * k * px)?;
    let mut dy_wide = alloc(OP, gpu, step.min(n) * co * px)?;
    for n0 in (0..n).step_by(step) {
        let imgs = step.min(n - n0);
        let xv = xs.view();
        gpu.im2col(imgs, &cg, &xv.slice(n0 * cg.image_len()..), &mut cols, true)
            .map_err(kernel_error(OP))?;
        let chunk_dy = dy.narrow(0, n0, imgs)?.permute(&[1, 0, 2])?;
        let dense = kernel_layout(OP, &Layout::contiguous(chunk_dy.shape()))?;
        gpu.copy_strided(
            (&kernel_layout(OP, &chunk_dy)?, &dys.view()),
            (&dense, &mut dy_wide),
        )
        .map_err(kernel_error(OP))?;
        let (dv, cv) = (dy_wide.as_view(), cols.as_view());
        gpu.gemm(
            Gemm {
                batch: 1,
                m: co,
                n: k,
                k: imgs * px,
            },
            Operand {
                data: &dv,
                transposed: false,
                batch_stride: 0,
            },
            // cols^T (imgs*px x k), stored as cols [k, imgs*px].
            Operand {
                data: &cv,
                transposed: true,
                batch_stride: 0,
            },
            &mut dw.as_view_mut(),
            if n0 == 0 { 0.0 } else { 1.0 },
        )
        .map_err(kernel_error(OP))?;
    }
    Ok(CudaStorage::f32(gpu, dw))
}

/// The column matrices `[n, C*kh*kw, oh*ow]` of a batch (the explicit `im2col` op).
pub(crate) fn im2col((input, li): View, g: &Geometry) -> Result<CudaStorage> {
    const OP: &str = "im2col";
    let (gpu, n) = (input.gpu(), li.shape()[0]);
    let cg = geometry(g)?;
    let mut cols = alloc(OP, gpu, n * cg.k() * cg.pixels())?;
    gpu.im2col(n, &cg, &input.f32_rows(OP, li)?.view(), &mut cols, false)
        .map_err(kernel_error(OP))?;
    Ok(CudaStorage::f32(gpu, cols))
}

/// Columns `[n, C*kh*kw, oh*ow]` folded back onto images `[n, C, H, W]` (the explicit
/// `col2im` op).
pub(crate) fn col2im((cols, lc): View, g: &Geometry) -> Result<CudaStorage> {
    const OP: &str = "col2im";
    let (gpu, n) = (cols.gpu(), lc.shape()[0]);
    let cg = geometry(g)?;
    let mut x = alloc(OP, gpu, n * cg.image_len())?;
    gpu.col2im(n, &cg, &cols.f32_rows(OP, lc)?.view(), &mut x.as_view_mut())
        .map_err(kernel_error(OP))?;
    Ok(CudaStorage::f32(gpu, x))
}
